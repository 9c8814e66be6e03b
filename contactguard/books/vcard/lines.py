"""The line reader: a vCard stream cut into cards line by line, each card read light or
repaired and parsed by vobject. It reads every card, whatever it holds: the other tiers hand it
whatever they are not sure about, and in reference mode it reads every card through vobject.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from ...errors import InputError
from ...model import Contact
from .repair import CardBuilder, RawCard, parse_card
from .syntax import BINARY, MAX_CARD_BYTES, MAX_LINE, MAX_PROPERTY, MAX_TELS

CHUNK = 1 << 16  # bytes read at a time
_BOM = b"\xef\xbb\xbf"
# stands in for a line over MAX_LINE; starts with "E" so that card_lines looks at it
_OVERLONG = b"END:VCARD (contactguard: an overlong line was dropped here)"
# CRLF, LF, the CR CR LF of iOS 6 exports, and the lone CR of old Mac files all end a line.
_EOL = re.compile(rb"\r*\n|\r(?![\r\n])")

# The physical lines of a card: bytes, or str when their whole block was valid UTF-8 (decoded
# once per 64 KiB block instead of once per card: the fast path reads text). Never mixed.
Body = list[bytes] | list[str]
# the light reader's entry: the Contact of a card's lines, or None when it is not sure
LightCard = Callable[[Body, str, int, "frozenset[str] | None"], "Contact | None"]


class LineReader:
    """Every card line by line: light when ``light`` is sure, else repaired and parsed by
    vobject (repairing every line when ``plain`` is False: the reference)."""

    def __init__(self, light: LightCard | None = None, *, plain: bool = True) -> None:
        self.light = light
        self.plain = plain

    def read(
        self, chunks: Iterable[bytes], source: str, fields: frozenset[str] | None,
        first_line: int, last: bool,
    ) -> Iterator[Contact]:
        """The contacts of ``chunks`` (bytes of a stream from ``first_line``; ``last``:
        nothing of the file follows them)."""
        light, plain = self.light, self.plain
        for line, body, error in card_lines(None, source, first_line, last, chunks=chunks):
            contact = light(body, source, line, fields) if light and error is None else None
            yield (
                contact if contact is not None
                else parse_card(build(source, line, body, error, plain))
            )


def line_ends(data: bytes) -> int:
    """How many lines ``data`` ends, as text_blocks counts them."""
    carriage_returns = data.count(b"\r")
    if carriage_returns == 0 or carriage_returns == data.count(b"\r\n"):
        return data.count(b"\n")
    return len(_EOL.findall(data))


# --------------------------------------------------------------------------- splitting


def split_cards(stream: BinaryIO, source: str) -> Iterator[RawCard]:
    """Cut a vCard stream into cards without reading the whole file into memory.

    Raises InputError (naming the file and line) when the stream holds no BEGIN:VCARD at all.
    """
    for line, body, error in card_lines(stream, source):
        yield build(source, line, body, error)


def build(
    source: str, line: int, body: Body, error: str | None, plain: bool = True
) -> RawCard:
    """The RawCard of one card's physical lines (see ``repair.CardBuilder``)."""
    card = CardBuilder(source, line, plain)
    for physical in as_bytes(body):
        card.add(physical)
    return card.finish(error=error)


def as_bytes(body: Body) -> list[bytes]:
    """The lines as the file holds them (str lines were decoded from valid UTF-8: exact)."""
    if body and isinstance(body[0], str):
        return [line.encode("utf-8") for line in body]
    return body  # type: ignore[return-value]


# a line that may be BEGIN:VCARD or END:VCARD once stripped and upper-cased starts with one of
# these (or is empty); checking the first character first keeps the per-line cost low
_KEYWORD_START = frozenset(b"BbEe \t\x0b\x0c") | frozenset("BbEe \t\x0b\x0c")


def _keyword(line: bytes | str) -> bytes:
    """A line stripped and upper-cased the way bytes are (ASCII only), to compare with
    b"END:VCARD"; str lines are encoded back (str.strip and str.upper do more than bytes')."""
    if isinstance(line, str):
        line = line.encode("utf-8")
    return line.strip().upper()


def card_lines(
    stream: BinaryIO | None, source: str, first_line: int = 1, last: bool = True, *,
    chunks: Iterable[bytes] | None = None,
) -> Iterator[tuple[int, Body, str | None]]:
    """(line of BEGIN:VCARD, the physical lines between it and END:VCARD, error) per card, of
    ``stream`` or of ``chunks`` (bytes already read from one, UTF-16 transcoded)."""
    body: list[Any] | None = None
    start = 0
    seen_card = False
    first_content: int | None = None
    number = first_line - 1
    keyword_start = _KEYWORD_START
    broken: str | None = None  # why the current card is refused (a limit it passed)
    card_bytes = counted = 0  # bytes of the current card's first ``counted`` lines
    if chunks is None:
        assert stream is not None
        chunks = byte_chunks(stream)
    for block in text_blocks(chunks):
        if body and block and type(body[0]) is not type(block[0]):
            # a card across a UTF-8 block and one that is not: keep its lines all bytes
            if isinstance(block[0], str):
                block = as_bytes(block)
            else:
                body = as_bytes(body)
        for line in block:
            number += 1
            if body is None:
                if line == "BEGIN:VCARD":
                    body, start, seen_card = [], number, True
                    broken, card_bytes, counted = None, 0, 0
                    continue
                # a BOM may start the file, or a later file when exports were concatenated
                raw = line.encode("utf-8") if isinstance(line, str) else line
                stripped = raw.removeprefix(_BOM).strip()
                if stripped.upper() == b"BEGIN:VCARD":
                    body, start, seen_card = [], number, True
                    broken, card_bytes, counted = None, 0, 0
                elif stripped and first_content is None:
                    first_content = number
                continue
            if not line or line[0] in keyword_start:
                if line is _OVERLONG:
                    broken = f"a line longer than {MAX_LINE:,} bytes"
                    continue
                keyword = b"END:VCARD" if line == "END:VCARD" else _keyword(line)
                if keyword == b"END:VCARD":
                    yield start, body, broken or card_limits(body)
                    body = None
                    continue
                if keyword == b"BEGIN:VCARD":
                    yield start, body, "missing END:VCARD (the next card begins first)"
                    body, start, broken, card_bytes, counted = [], number, None, 0, 0
                    continue
            body.append(line)
        if body is not None:  # a card that spans blocks: keep its memory bounded
            card_bytes += sum(map(len, as_bytes(body[counted:])))
            counted = len(body)
            if card_bytes > MAX_CARD_BYTES:
                broken = f"a card larger than {MAX_CARD_BYTES:,} bytes"
                body.clear()
                counted = 0
    if body is not None:
        yield start, body, (
            "missing END:VCARD (the file ends first)" if last
            else "missing END:VCARD (the next card begins first)"
        )
    if not seen_card and last and first_line == 1:
        if first_content is None:
            raise InputError("is empty: no contacts to read", file=source)
        raise InputError("is not a vCard: no BEGIN:VCARD line", file=source, line=first_content)


def text_blocks(chunks: Iterable[bytes]) -> Iterator[list[bytes] | list[str]]:
    """The lines of a stream's chunks, a list per chunk: str lines when the chunk's lines are
    valid UTF-8 (decoded and split once per chunk), else bytes lines."""
    tail = b""
    for chunk in chunks:
        if b"\n" not in chunk and b"\r" not in chunk and not tail.endswith(b"\r"):
            # no line ends here (a long line): nothing to split, and past MAX_LINE no need to
            # keep the bytes; this keeps a 100 MB line linear in time and flat in memory
            if len(tail) <= MAX_LINE:
                tail += chunk
            continue
        overlong = len(tail) > MAX_LINE
        data = tail + chunk
        # a CR at the end of a chunk may be the first half of a CRLF split across chunks
        body = data.rstrip(b"\r")
        carriage_returns = body.count(b"\r")
        if carriage_returns == 0:
            joined = body  # what _EOL.split gives when there is no CR, 5x faster
        elif carriage_returns == body.count(b"\r\n"):
            joined = body.replace(b"\r\n", b"\n")  # every CR is a CRLF's
        else:
            lines = [line.rstrip(b"\r") for line in _EOL.split(body)]
            tail = lines.pop() + data[len(body) :]
            if overlong and lines:
                lines[0] = _OVERLONG
            yield lines
            continue
        cut = joined.rfind(b"\n")  # the last line may go on in the next chunk
        tail = joined[cut + 1 :] + data[len(body) :]
        complete = joined[:cut]
        if cut < 0:
            yield []
        elif overlong:  # the stand-in is told apart by identity: keep the bytes
            yield [_OVERLONG, *complete.split(b"\n")[1:]]
        else:
            try:
                yield complete.decode("utf-8").split("\n")
            except UnicodeDecodeError:
                yield complete.split(b"\n")
    tail = tail.rstrip(b"\r")
    if len(tail) > MAX_LINE:
        yield [_OVERLONG]
    elif tail:
        yield [tail]


def _property_name(line: bytes) -> bytes:
    """The upper-case name of a property line, without its group: b"TEL" for item1.TEL;..."""
    head = line[:256].split(b":", 1)[0].split(b";", 1)[0]
    return head.rpartition(b".")[2].strip().upper()


def card_limits(body: Body) -> str | None:
    """Why a card is refused before parsing (too many TEL lines, an overlong text line)."""
    if len(body) <= MAX_TELS and (not body or 4 * max(map(len, body)) <= MAX_PROPERTY):
        return None  # the common case, cheap (a character is at most four UTF-8 bytes)
    body = as_bytes(body)
    if len(body) > MAX_TELS:
        tels = sum(1 for line in body if _property_name(line) == b"TEL")
        if tels > MAX_TELS:
            return f"{tels:,} TEL lines in one card (the limit is {MAX_TELS})"
    if body and max(map(len, body)) > MAX_PROPERTY:
        for line in body:
            head = line[:256].upper()
            if len(line) > MAX_PROPERTY and not (
                _property_name(line).decode("ascii", "replace") in BINARY
                or b"BASE64" in head
                or b"ENCODING=B" in head
            ):
                return f"a text line longer than {MAX_PROPERTY:,} bytes"
    return None


def byte_chunks(stream: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    """Read a stream in chunks; a UTF-16 file (BOM FF FE / FE FF) is transcoded to UTF-8."""
    chunk = stream.read(size)
    if chunk.startswith((b"\xff\xfe", b"\xfe\xff")):
        decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")
        while chunk:
            yield decoder.decode(chunk).encode("utf-8")
            chunk = stream.read(size)
        yield decoder.decode(b"", final=True).encode("utf-8")
        return
    while chunk:
        yield chunk
        chunk = stream.read(size)

