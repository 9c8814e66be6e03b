"""The CSV text: a stream decoded in large blocks and cut into physical lines for the csv module.

- Encoding: UTF-8 (with or without BOM), UTF-16 LE/BE with BOM (Outlook's "Unicode" export), and
  cp1252 for legacy exports, chosen from the first 64 KiB; decoded incrementally.
- Lines end at CR, LF and CRLF only (as ``readline`` with ``newline=""`` cuts them); a line
  longer than ``MAX_LINE`` characters is refused before it is held in memory.
"""

from __future__ import annotations

import codecs
import contextlib
import io
from collections.abc import Iterator
from typing import BinaryIO

from ... import fastpaths
from ...errors import InputError

# Large enough that a legacy export almost always shows a non-ASCII name (or its header, like
# Outlook DE's "Telefon geschäftlich") before we must commit to an encoding.
_HEAD_SIZE = 1 << 16
# Bytes decoded and cut into lines at a time: large enough that the per-block Python work
# vanishes next to the csv module's, small enough that a block is a fraction of a large book.
_BLOCK = 1 << 18
# A physical line longer than this is refused before it is held in memory: a real row of even a
# 10,000-column export is far shorter (the csv module's own cell limit is 128 KiB).
MAX_LINE = 16 * 1024 * 1024

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),  # the utf-16 codec reads the BOM and drops it
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# str.splitlines ends a line at these too; for the csv module (and readline) they are content.
_OTHER_LINE_ENDS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")



class Text:
    """The stream decoded in large blocks and cut into physical lines (as ``readline`` with
    ``newline=""`` cuts them: at CR, LF and CRLF), which is what the csv module is fed.

    Notes whether a NUL character went past and counts the lines handed out, so that a decoding
    error or an overlong line names its exact line.
    """

    def __init__(
        self, stream: BinaryIO, source: str, encoding: str | None = None, first_line: int = 1,
        *, max_line: int = MAX_LINE,
    ) -> None:
        self.max_line = max_line  # longer lines are refused
        self._head = stream.read(_HEAD_SIZE)
        self._read = getattr(stream, "read1", stream.read)
        self._source = source
        self.encoding = encoding or encoding_of(self._head)
        self.nul = False  # a U+0000 was decoded: rows are checked for it from now on
        self._handed = first_line - 1  # lines handed out so far (and before the first)

    def blocks(self) -> Iterator[list[str]]:
        """Lists of whole lines; the last line of the input may lack its line end."""
        decoder = codecs.getincrementaldecoder(self.encoding)()
        max_line = self.max_line
        data, self._head = self._head, b""
        pending: list[str] = []  # the start of a line whose end has not been read yet
        pending_size = 0
        while True:
            final = not data
            try:
                text = decoder.decode(data, final)
            except UnicodeDecodeError as exc:
                raise self._undecodable(exc, decoder, "".join(pending)) from exc
            if "\x00" in text:
                self.nul = True
            if final:
                end = len(text)
            else:  # up to the last line end; a CR at the very end may be the first half of CRLF
                end = max(text.rfind("\n"), text.rfind("\r", 0, len(text) - 1)) + 1
            if end == 0 and not final:
                pending.append(text)
                pending_size += len(text)
                if pending_size >= max_line:
                    raise self._too_long(self._handed + 1)
                data = self._read(_BLOCK)
                continue
            if pending:
                complete = "".join(pending) + text[:end]
                pending, pending_size = [], 0
            else:
                complete = text[:end] if end < len(text) else text
            if complete:
                lines = self._split(complete)
                if len(complete) >= max_line:  # only with a very long line
                    for number, line in enumerate(lines, self._handed + 1):
                        if len(line.rstrip("\r\n")) >= max_line:
                            raise self._too_long(number)
                self._handed += len(lines)
                yield lines
            if final:
                return
            if end < len(text):
                pending.append(text[end:])
                pending_size = len(text) - end
            data = self._read(_BLOCK)

    @staticmethod
    def _split(text: str) -> list[str]:
        # str.splitlines also ends lines at VT, FF, FS, GS, RS, NEL, LS and PS, which are cell
        # content for the csv module; StringIO(newline="") cuts at CR, LF and CRLF only (and
        # is the reference: splitlines is the same where none of them occurs, and faster).
        if not fastpaths.enabled() or any(end in text for end in _OTHER_LINE_ENDS):
            return list(io.StringIO(text, newline=""))
        return text.splitlines(keepends=True)

    def _too_long(self, line: int) -> InputError:
        return InputError(
            f"line longer than {self.max_line:,} characters: not an address book row",
            file=self._source,
            line=line,
        )

    def _undecodable(
        self, exc: UnicodeDecodeError, decoder: codecs.IncrementalDecoder, before: str
    ) -> InputError:
        # The decoder keeps the bytes of an unfinished character (getstate); exc.object holds
        # them followed by the block, and everything before exc.start decodes.
        kept = len(decoder.getstate()[0])
        with contextlib.suppress(UnicodeDecodeError):  # the prefix is valid; to be safe
            before += decoder.decode(exc.object[kept : exc.start])
        ends = before.count("\n") + before.count("\r") - before.count("\r\n")
        return InputError(
            f"cannot be decoded as {self.encoding} (byte 0x{exc.object[exc.start]:02x}); "
            "save the file as UTF-8 and try again",
            file=self._source,
            line=self._handed + ends + 1,
        )


def encoding_of(head: bytes) -> str:
    """UTF-8/UTF-16 by their BOM; else UTF-8 if the head decodes as UTF-8; else cp1252."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    sample = head[:512]
    # UTF-16 without a BOM: every other byte of ASCII text is NUL.
    if len(sample) >= 4 and 0 not in sample[0::2] and sample[1::2].count(0) * 2 > len(sample) // 2:
        return "utf-16-le"
    if len(sample) >= 4 and 0 not in sample[1::2] and sample[0::2].count(0) * 2 > len(sample) // 2:
        return "utf-16-be"
    try:
        # final=False: the head may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252"  # Outlook and Excel on Western-European Windows ("ANSI")
    return "utf-8"

