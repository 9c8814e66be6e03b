"""vCard 2.1, 3.0 and 4.0: read one card at a time through vobject, write 3.0 or 4.0.

Reading is two separable steps, so that a fast path can later skip vobject for most cards
(a large book is millions of them):

1. ``split_cards`` streams the file line by line and cuts it into ``RawCard``s. On the way it
   repairs what real exporters write and vobject 0.9.9 rejects or misreads — a byte-order mark,
   quoted-printable soft line breaks, raw bytes in a legacy CHARSET, property names such as
   ``X-MESSAGING/XMPP-ALL``, ``#`` comment lines, 2.1 base64 blocks that are not indented — so that
   every RawCard holds clean vCard text.
2. ``parse_card`` hands that text to ``vobject.readOne`` and maps the component to a Contact. A
   card that still fails becomes a Contact with ``error`` set, reported as ``unparseable``.

vobject is imported inside the functions that use it: ``contactguard --help`` must start fast.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import itertools
import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import InputError
from ..model import Contact, Field, Phone, Take, display_name, new_contact, new_phone

if TYPE_CHECKING:
    from . import ReadOptions

__all__ = ["RawCard", "derived_uid", "parse_card", "read", "split_cards", "write"]

_CHUNK = 1 << 16
_BOM = b"\xef\xbb\xbf"
# Limits on hostile input (SECURITY.md): past them a card is `unparseable` with the reason, and
# memory stays bounded whatever the file holds.
_MAX_LINE = 16 * 1024 * 1024  # one physical line (an unfolded photo); longer ones are not kept
_MAX_CARD_BYTES = 32 * 1024 * 1024  # one card, photos included
_MAX_TELS = 100  # TEL lines in one card: real cards hold a handful
_MAX_PROPERTY = 256 * 1024  # one text property: vobject slows down more than linearly past it
# stands in for a line over _MAX_LINE; starts with "E" so that _card_lines looks at it
_OVERLONG = b"END:VCARD (contactguard: an overlong line was dropped here)"
# CRLF, LF, the CR CR LF of iOS 6 exports, and the lone CR of old Mac files all end a line.
_EOL = re.compile(rb"\r*\n|\r(?![\r\n])")
# What vobject accepts as a property, group or parameter name (RFC 2425 §5.8.2, plus Lotus "_").
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_UNESCAPED_COMMA = re.compile(r"(?<!\\)((?:\\\\)*),")
_ESCAPED_COLON = re.compile(r"(?<!\\)((?:\\\\)*)\\:")
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
# group.NAME;PARAM=value,value;BARE - no quotes, so the first colon ends it
_PLAIN_HEAD = re.compile(r"(?:[A-Za-z0-9_-]+\.)?[A-Za-z0-9_-]+(?:;[A-Za-z0-9_-]+(?:=[^\";:]*)?)*")
_APPLE_LABEL = re.compile(r"_\$!<(.*)>!\$_")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")

# vobject decodes these with ";" between components (RFC 6350 §6.2.2, §6.3.1, §6.6.4).
_STRUCTURED = frozenset({"N", "ADR", "ORG"})
# Binary payloads are never needed downstream, and a broken one would fail the whole card.
_BINARY = frozenset({"PHOTO", "LOGO", "SOUND", "KEY"})
# Dropped before vobject: binary payloads, and lines that would open or close a component.
_DROPPED = _BINARY | {"BEGIN", "END", "PROFILE"}
# 2.1 allows an encoding as a bare parameter (TEL;QUOTED-PRINTABLE:...)
_ENCODINGS = frozenset({"QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT"})
# Not carried into Contact.fields: mapped to Contact attributes, or metadata, or a nested card.
_NOT_FIELDS = frozenset(
    {"FN", "N", "UID", "TEL", "VERSION", "PRODID", "REV", "PROFILE", "AGENT", "CLIENTPIDMAP"}
    | _BINARY
)
# Written by the writer itself; a Field with one of these names is not written again.
_WRITER_OWN = frozenset({"FN", "N", "UID", "TEL", "VERSION", "BEGIN", "END", "PRODID"})
_NAME_ORDER = ("family", "given", "additional", "prefix", "suffix")
_ADDRESS_ORDER = ("box", "extended", "street", "city", "region", "code", "country")
_FOLD_AT = 75  # octets per line, without the line break (RFC 6350 §3.2, RFC 2425 §5.8.1)


@dataclass(frozen=True, slots=True)
class RawCard:
    """One card cut out of a file: where it starts and its repaired text (or why it is broken)."""

    source: str
    line: int  # 1-based line of its BEGIN:VCARD
    text: str  # "BEGIN:VCARD\r\n...END:VCARD\r\n", unfolded, decoded, repaired
    error: str | None = None  # set when the card is structurally broken (no END:VCARD)


def read(
    stream: BinaryIO,
    source: str,
    options: ReadOptions | None = None,
    *,
    first_line: int = 1,
    last: bool = True,
    take: Take | None = None,
) -> Iterator[Contact]:
    """Yield the contacts of a vCard file one at a time, in file order.

    A card that cannot be parsed is yielded with ``error`` set; only a file that holds no card
    at all raises InputError.

    ``stream`` may also be a piece of a file cut at a line that begins a card (the parallel
    pipeline's chunks): ``first_line`` is the file line it starts on, and ``last`` is False when
    more of the file follows, so that a card left open at its end is reported as it would be in
    the whole file (the next card begins first) and a piece without cards is no error.

    ``take(line, display name, numbers as written)`` is offered the cards read whole (most
    cards of a large book, once its first ones are read): a card it returns True for is not
    yielded, and no Contact is built for it. The parallel pipeline's workers render the report
    entries of most cards so. Other cards are yielded as always: ``take`` must not rely on
    seeing any particular card.
    """
    fields = options.fields if options is not None else None
    chunks = _byte_chunks(stream)
    buffer = bytearray()
    searched = 0  # how much of ``buffer`` holds no line "BEGIN:VCARD" (its end may start one)
    line = first_line
    # Segments of about _SEGMENT bytes, each cut where a line "BEGIN:VCARD" starts: a card
    # starts there whatever came before (an open card ends), which is what lets a segment be
    # read on its own, as the parallel pipeline's pieces are.
    for chunk in chunks:
        buffer += chunk
        if len(buffer) < _SEGMENT:
            continue
        start = max(searched - len(_CARD_START_CRLF), 0)
        cut = max(buffer.rfind(_CARD_START, start), buffer.rfind(_CARD_START_CRLF, start)) + 1
        if cut == 0:
            if len(buffer) > _SEGMENT_CAP:  # no card starts for megabytes: a photo, or no vCard
                rest = itertools.chain((bytes(buffer),), chunks)
                yield from _read_lines(rest, source, fields, line, last)
                return
            searched = len(buffer)
            continue
        segment = bytes(memoryview(buffer)[:cut])
        del buffer[:cut]
        searched = len(buffer)  # the last start was cut at: none after it
        line += yield from _read_segment(segment, source, fields, line, False, take)
    data = bytes(buffer)
    if data or line == first_line:  # an empty file is the line-by-line reader's error
        yield from _read_segment(data, source, fields, line, last, take)


_CARD_START, _CARD_START_CRLF = b"\nBEGIN:VCARD\n", b"\nBEGIN:VCARD\r\n"


def _line_ends(data: bytes) -> int:
    """How many lines ``data`` ends, as _text_blocks counts them."""
    carriage_returns = data.count(b"\r")
    if carriage_returns == 0 or carriage_returns == data.count(b"\r\n"):
        return data.count(b"\n")
    return len(_EOL.findall(data))


def _read_lines(
    chunks: Iterable[bytes], source: str, fields: frozenset[str] | None, first_line: int,
    last: bool,
) -> Iterator[Contact]:
    """``read`` line by line: every card, whatever it holds."""
    for line, body, error in _card_lines(None, source, first_line, last, chunks=chunks):
        contact = _light_card(body, source, line, fields) if error is None else None
        yield contact if contact is not None else parse_card(_build(source, line, body, error))


# --------------------------------------------------------------------------- splitting


def split_cards(stream: BinaryIO, source: str) -> Iterator[RawCard]:
    """Cut a vCard stream into cards without reading the whole file into memory.

    Raises InputError (naming the file and line) when the stream holds no BEGIN:VCARD at all.
    """
    for line, body, error in _card_lines(stream, source):
        yield _build(source, line, body, error)


def _build(source: str, line: int, body: _Body, error: str | None) -> RawCard:
    card = _CardBuilder(source, line)
    for physical in _as_bytes(body):
        card.add(physical)
    return card.finish(error=error)


# The physical lines of a card: bytes, or str when their whole block was valid UTF-8 (decoded
# once per 64 KiB block instead of once per card: the fast path reads text). Never mixed.
_Body = list[bytes] | list[str]


def _as_bytes(body: _Body) -> list[bytes]:
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


def _card_lines(
    stream: BinaryIO | None, source: str, first_line: int = 1, last: bool = True, *,
    chunks: Iterable[bytes] | None = None,
) -> Iterator[tuple[int, _Body, str | None]]:
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
        chunks = _byte_chunks(stream)
    for block in _text_blocks(chunks):
        if body and block and type(body[0]) is not type(block[0]):
            # a card across a UTF-8 block and one that is not: keep its lines all bytes
            if isinstance(block[0], str):
                block = _as_bytes(block)
            else:
                body = _as_bytes(body)
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
                    broken = f"a line longer than {_MAX_LINE:,} bytes"
                    continue
                keyword = b"END:VCARD" if line == "END:VCARD" else _keyword(line)
                if keyword == b"END:VCARD":
                    yield start, body, broken or _card_limits(body)
                    body = None
                    continue
                if keyword == b"BEGIN:VCARD":
                    yield start, body, "missing END:VCARD (the next card begins first)"
                    body, start, broken, card_bytes, counted = [], number, None, 0, 0
                    continue
            body.append(line)
        if body is not None:  # a card that spans blocks: keep its memory bounded
            card_bytes += sum(map(len, _as_bytes(body[counted:])))
            counted = len(body)
            if card_bytes > _MAX_CARD_BYTES:
                broken = f"a card larger than {_MAX_CARD_BYTES:,} bytes"
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


def _text_blocks(chunks: Iterable[bytes]) -> Iterator[list[bytes] | list[str]]:
    """The lines of a stream's chunks, a list per chunk: str lines when the chunk's lines are
    valid UTF-8 (decoded and split once per chunk), else bytes lines."""
    tail = b""
    for chunk in chunks:
        if b"\n" not in chunk and b"\r" not in chunk and not tail.endswith(b"\r"):
            # no line ends here (a long line): nothing to split, and past _MAX_LINE no need to
            # keep the bytes; this keeps a 100 MB line linear in time and flat in memory
            if len(tail) <= _MAX_LINE:
                tail += chunk
            continue
        overlong = len(tail) > _MAX_LINE
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
    if len(tail) > _MAX_LINE:
        yield [_OVERLONG]
    elif tail:
        yield [tail]


def _property_name(line: bytes) -> bytes:
    """The upper-case name of a property line, without its group: b"TEL" for item1.TEL;..."""
    head = line[:256].split(b":", 1)[0].split(b";", 1)[0]
    return head.rpartition(b".")[2].strip().upper()


def _card_limits(body: _Body) -> str | None:
    """Why a card is refused before parsing (too many TEL lines, an overlong text line)."""
    if len(body) <= _MAX_TELS and (not body or 4 * max(map(len, body)) <= _MAX_PROPERTY):
        return None  # the common case, cheap (a character is at most four UTF-8 bytes)
    body = _as_bytes(body)
    if len(body) > _MAX_TELS:
        tels = sum(1 for line in body if _property_name(line) == b"TEL")
        if tels > _MAX_TELS:
            return f"{tels:,} TEL lines in one card (the limit is {_MAX_TELS})"
    if body and max(map(len, body)) > _MAX_PROPERTY:
        for line in body:
            head = line[:256].upper()
            if len(line) > _MAX_PROPERTY and not (
                _property_name(line).decode("ascii", "replace") in _BINARY
                or b"BASE64" in head
                or b"ENCODING=B" in head
            ):
                return f"a text line longer than {_MAX_PROPERTY:,} bytes"
    return None


def _byte_chunks(stream: BinaryIO) -> Iterator[bytes]:
    """Read a stream in chunks; a UTF-16 file (BOM FF FE / FE FF) is transcoded to UTF-8."""
    chunk = stream.read(_CHUNK)
    if chunk.startswith((b"\xff\xfe", b"\xfe\xff")):
        decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")
        while chunk:
            yield decoder.decode(chunk).encode("utf-8")
            chunk = stream.read(_CHUNK)
        yield decoder.decode(b"", final=True).encode("utf-8")
        return
    while chunk:
        yield chunk
        chunk = stream.read(_CHUNK)


class _CardBuilder:
    """Collects the physical lines of one card into logical (unfolded) property lines."""

    def __init__(self, source: str, line: int) -> None:
        self.source = source
        self.line = line
        self.properties: list[bytes] = []
        self.current: list[bytes] | None = None
        self.quoted_printable = False

    def add(self, line: bytes) -> None:
        current = self.current
        if current is not None and self.quoted_printable and current[-1].endswith(b"="):
            # a quoted-printable soft line break (RFC 2045 §6.7), which vobject 0.9.9 rejects;
            # the next line continues the value whatever it looks like, even "#..." (Android)
            current[-1] = current[-1][:-1]
            current.append(line)
        elif not line.strip():
            self._close()  # a blank line ends a 2.1 base64 block (vCard 2.1 §2.1.3)
        elif line[:1] in (b" ", b"\t"):
            if current is not None:  # folded line (RFC 2425 §5.8.1)
                current.append(line[1:])
        elif line.startswith(b"#"):
            pass  # comment lines some Android builds write between properties
        elif b":" not in line:
            # no property starts here: a continuation line the exporter did not indent (2.1
            # base64 without the blank line after it, Android's multi-line ADR ending in "\")
            if current is not None:
                if current[-1].endswith(b"\\"):
                    current[-1] = current[-1][:-1]
                current.append(b"\n" + line)
        else:
            self._close()
            self.current = [line]
            head = line.split(b":", 1)[0]
            self.quoted_printable = b"QUOTED-PRINTABLE" in head.upper()

    def _close(self) -> None:
        if self.current is not None:
            self.properties.append(b"".join(self.current))
            self.current = None

    def finish(self, error: str | None = None) -> RawCard:
        self._close()
        lines = ["BEGIN:VCARD"]
        for prop in self.properties:
            repaired = _repair_property(prop)
            if repaired is not None:
                if len(repaired) > _MAX_PROPERTY and error is None:
                    error = f"a property longer than {_MAX_PROPERTY:,} characters"
                lines.append(repaired)
        lines.append("END:VCARD")
        return RawCard(self.source, self.line, "\r\n".join(lines) + "\r\n", error)


def _repair_property(line: bytes) -> str | None:
    """One logical property line as clean vCard 3.0 text, or None when it is dropped."""
    plain = _plain_property(line)
    if plain is not None:
        return plain
    head_bytes, value_bytes = _split_at_colon(line)
    parsed = _parse_head(_decode(head_bytes, None))
    if parsed is None:
        return None  # a name vobject rejects, e.g. X-MESSAGING/XMPP-ALL: nothing we need
    group, name, params = parsed
    upper = name.upper()
    encodings = {v.upper() for k, v in params if k is None or k.upper() == "ENCODING"}
    if upper in _DROPPED or encodings & {"B", "BASE64"}:
        return None  # the card's own BEGIN/END are added around it; vobject rejects PROFILE
    charset = next((v for k, v in params if k is not None and k.upper() == "CHARSET"), None)
    if "QUOTED-PRINTABLE" in encodings:
        value_bytes = binascii.a2b_qp(value_bytes)
    value = _decode(value_bytes, charset)
    # decoded quoted-printable and joined continuation lines may hold line breaks: escape them
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    # "\\:" is no escape in any version, vobject keeps the backslash; Gmail writes "http\\://"
    value = _ESCAPED_COLON.sub(r"\1:", value)
    if upper not in _STRUCTURED:
        # vobject keeps only the text before the first unescaped comma of a text value
        # (stringToTextValues(...)[0]), and exporters write "FN:Doe, John" unescaped
        value = _UNESCAPED_COMMA.sub(r"\1\\,", value)
    out = [f"{group}.{name}" if group else name]
    for key, raw_value in params:
        if key is None:
            if _NAME.fullmatch(raw_value) and raw_value.upper() not in _ENCODINGS:
                out.append(raw_value)  # 2.1 bare parameter: TEL;CELL;PREF
        elif _NAME.fullmatch(key) and key.upper() not in ("ENCODING", "CHARSET"):
            # the value is decoded now; a leftover ENCODING=8BIT would make vobject try base64
            out.append(f"{key}={_param_values(raw_value)}")
    return ";".join(out) + ":" + value


def _plain_property(line: bytes) -> str | None:
    """The line itself when it needs no repair (most lines of most files), else None."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head, _, value = text.partition(":")
    if not _PLAIN_HEAD.fullmatch(head) or "\n" in value or "\\:" in value:
        return None
    name, *params = head.upper().split(";")
    name = name.rpartition(".")[2]
    if any(p.startswith(("ENCODING=", "CHARSET=")) or p in _ENCODINGS for p in params):
        return None
    if name in _DROPPED or ("," in value and name not in _STRUCTURED):
        return None
    return text


def _split_at_colon(line: bytes) -> tuple[bytes, bytes]:
    """Split a property line at the first colon outside double quotes (RFC 6350 §3.3)."""
    colon = line.find(b":")
    if line.find(b'"', 0, colon) == -1:
        return line[:colon], line[colon + 1 :]
    quoted = False
    for index, byte in enumerate(line):
        if byte == 0x22:
            quoted = not quoted
        elif byte == 0x3A and not quoted:
            return line[:index], line[index + 1 :]
    return line[:colon], line[colon + 1 :]  # an unbalanced quote: fall back to the first colon


def _parse_head(head: str) -> tuple[str, str, list[tuple[str | None, str]]] | None:
    """Group, name and parameters (name None for a 2.1 bare parameter) of a property line."""
    pieces = _split_outside_quotes(head, ";")
    group, _, name = pieces[0].strip().rpartition(".")
    if not _NAME.fullmatch(name) or (group and not _NAME.fullmatch(group)):
        return None
    params: list[tuple[str | None, str]] = []
    for piece in pieces[1:]:
        key, equals, value = piece.strip().partition("=")
        if equals:
            params.append((key.strip(), value.strip()))
        elif key:
            params.append((None, key))
    return group, name, params


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    if '"' not in text:
        return text.split(separator)
    pieces: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def _param_values(raw: str) -> str:
    """A parameter's values in a form vobject accepts: quoted when they hold , ; or :."""
    values = []
    for item in _split_outside_quotes(raw, ","):
        value = item.replace('"', "").strip()
        values.append(f'"{value}"' if any(c in value for c in ",;:") else value)
    return ",".join(values)


def _decode(data: bytes, charset: str | None) -> str:
    """Bytes as text: in the CHARSET the card names, else UTF-8, else Windows-1252."""
    if charset:
        try:
            return data.decode(charset)
        except (LookupError, ValueError):  # ValueError: a NUL in the name, a bad byte
            pass  # an unknown or wrong charset: fall through to the usual guesses
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _UTF8_SEQUENCE.search(data):
        return data.decode("utf-8", errors="replace")  # UTF-8 with a stray byte
    return data.decode("cp1252", errors="replace")  # raw bytes of a Windows exporter


# --------------------------------------------------------------------------- the fast path
#
# vobject needs about 180 µs per card; most cards of a large book are a handful of plain lines
# (N, FN, one or two TEL, UID, some metadata) whose meaning needs no vCard parser at all.
# ``_light_card`` reads such a card straight from its physical lines and returns exactly the
# Contact ``parse_card`` would (tests/test_fastpath.py compares the two on every fixture), or None
# when the card holds anything it is not sure about: folded or continued lines, comments, non-UTF-8
# bytes, encodings, quoted or unusual parameters, backslash escapes, commas where vobject splits,
# properties with a vobject behaviour it does not mirror, and every field the caller wants
# (``ReadOptions.fields``). None sends the card through the repair step and vobject as before.

# group.NAME;PARAM=a,b;BARE - letters, digits and "-" only: what vobject reads the same way
_LIGHT_HEAD = re.compile(
    r"(?:([A-Za-z0-9-]+)\.)?([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+(?:=[A-Za-z0-9-]+(?:,[A-Za-z0-9-]+)*)?)*)"
)
# never Contact fields (see _NOT_FIELDS), and plain text to vobject
_LIGHT_SKIPPED = frozenset({"VERSION", "PRODID", "REV"})
# Contact fields whose plain values vobject reads without fail; skipped when nobody wants them
_LIGHT_FIELDS = frozenset(
    {"EMAIL", "ORG", "NOTE", "TITLE", "URL", "BDAY", "NICKNAME", "CATEGORIES", "ROLE", "ADR"}
)
# what vobject's text decoding turns into something else: checked in values we return
_LIGHT_SPECIAL = re.compile(r"[\\,;]")
_ESCAPES = re.compile(r"\\(?![,;nN\\])")  # an escape vobject may not read like we assume

# PHOTO, LOGO, SOUND, KEY: never read (see _BINARY), whatever their parameters say
_BINARY_HEAD = re.compile(r"(?i)(?:[A-Za-z0-9-]+\.)?(?:PHOTO|LOGO|SOUND|KEY)(?:;[^:\"]*)?")

# head text → (group, NAME, types from parameters) or None when it is not light
_HEADS: dict[str, tuple[str, str, tuple[str, ...]] | None] = {}


def _light_head(head: str) -> tuple[str, str, tuple[str, ...]] | None:
    try:
        return _HEADS[head]
    except KeyError:
        pass
    match = _LIGHT_HEAD.fullmatch(head)
    parsed: tuple[str, str, tuple[str, ...]] | None = None
    if match is not None:
        group, name, params = match.groups()
        typed: list[str] = []
        bare: list[str] = []
        pref = False
        for param in params.split(";")[1:]:
            key, equals, value = param.partition("=")
            key = key.upper()
            if not equals:
                if key in _ENCODINGS:
                    break  # 2.1 TEL;QUOTED-PRINTABLE: decoded by the repair step
                bare.append(key)
            elif key == "TYPE":
                typed.extend(value.split(","))
            elif key == "PREF":
                pref = True
            elif key in ("ENCODING", "CHARSET", "VALUE"):
                typed = []
                break  # decoded or typed values: not light
        else:
            # the order of vcard._types: TYPE values, bare parameters, PREF=; lower-case, unique
            found = typed + bare + (["pref"] if pref else [])
            types = tuple(dict.fromkeys(t.strip().lower() for t in found if t.strip()))
            parsed = ((group or "").lower(), name.upper(), types)
    if len(_HEADS) > 4096:
        _HEADS.clear()  # a pathological book with ever new heads: keep memory flat
    _HEADS[head] = parsed
    return parsed


# what _light_card does with a line, by its head (the text before the first colon)
_TEL, _FN, _N, _UID, _LABEL, _SKIP, _UNWANTED, _BINARY_LINE = range(8)
_KINDS = {"TEL": _TEL, "FN": _FN, "N": _N, "UID": _UID}
_Kind = tuple[int, str, tuple[str, ...]]  # (kind, group, types)
# per ReadOptions.fields: head → _Kind, or None when a line with this head is not light
_HEAD_KINDS: dict[frozenset[str] | None, dict[str, _Kind | None]] = {}


def _head_kind(head: str, fields: frozenset[str] | None) -> _Kind | None:
    """What ``_light_card`` does with a line of this head, or None: the card is not light."""
    if _BINARY_HEAD.fullmatch(head) is not None:
        # a soft line break would join the next line to it
        return None if "QUOTED" in head.upper() else (_BINARY_LINE, "", ())
    parsed = _light_head(head)
    if parsed is None:
        return None
    group, name, types = parsed
    if name in _KINDS:
        return _KINDS[name], group, types
    if name == "X-ABLABEL":
        return (_LABEL, group, ()) if group else None
    if name in _LIGHT_SKIPPED or name.startswith("X-"):
        return _SKIP, group, ()
    if name in _LIGHT_FIELDS and fields is not None and name not in fields:
        return _UNWANTED, group, ()  # a field nobody looks at
    return None


def _light_card(
    body: _Body, source: str, line: int, fields: frozenset[str] | None
) -> Contact | None:
    """The Contact parse_card would make of these lines, or None when not sure (see above)."""
    if body and isinstance(body[0], str):
        lines: list[str] = body
    else:
        try:
            lines = b"\n".join(body).decode("utf-8").split("\n")  # type: ignore[arg-type]
        except UnicodeDecodeError:
            return None
    kinds = _HEAD_KINDS.get(fields)
    if kinds is None or len(kinds) > 4096:  # a pathological book with ever new heads: stay flat
        kinds = _HEAD_KINDS[fields] = {}
    fn, uid = "", None
    n: tuple[str, ...] = ()
    tels: list[tuple[str, str, tuple[str, ...]]] = []
    labels: dict[str, str] = {}
    binary = False
    for prop in lines:
        if binary and prop[:1] in (" ", "\t"):
            continue  # a folded line of a PHOTO (or LOGO, ...): dropped whole by the repair step
        head, colon, value = prop.partition(":")
        if not colon:
            return None  # blank, continuation or comment line: the repair step's business
        try:
            found = kinds[head]
        except KeyError:
            found = kinds[head] = _head_kind(head, fields)
        if found is None:
            return None
        kind, group, types = found
        binary = kind == _BINARY_LINE
        if kind == _TEL:
            if "\\" in value or "," in value or ";" in value:
                return None
            tels.append((group, value.strip(), types))
        elif kind == _SKIP or binary:
            continue
        elif kind == _FN:
            if "\\" in value or "," in value or ";" in value:
                return None
            fn = fn or value.strip()
        elif kind == _N:
            if "\\" in value or "," in value:
                return None
            parts = value.split(";")
            if len(parts) > 5:
                return None
            n = n or _name_parts(parts)
        elif kind == _UID:
            if "\\" in value or "," in value or ";" in value:
                return None
            uid = uid or value.strip() or None
        elif kind == _LABEL:
            if "\\" in value:
                return None
            labels[group] = _cached_label(value)
        elif "\\" in value and _ESCAPES.search(value):  # _UNWANTED
            return None
    return _light_contact(source, line, fn, n, uid, tels, labels)


def _name_parts(parts: list[str]) -> tuple[str, ...]:
    """N's components as vobject gives them: five, stripped (``parts``: at most five)."""
    return tuple(map(str.strip, parts + [""] * (5 - len(parts))))


def _n_name(n_value: str | None) -> str:
    """The display name of a card without FN, from its N value as the file holds it."""
    return display_name("", _name_parts(n_value.split(";")) if n_value is not None else ())


def _light_contact(
    source: str, line: int, fn: str, n: tuple[str, ...], uid: str | None,
    tels: list[tuple[str, str, tuple[str, ...]]], labels: dict[str, str] | None,
) -> Contact:
    """The Contact of a light card: its (group, value, types) TEL lines, each with the
    X-ABLabel of its group among its types."""
    phones = []
    for group, value, types in tels:
        if not value:
            continue
        label = labels.get(group) if group and labels else None
        if label and label not in types:
            types = (*types, label)
        phones.append(new_phone(value, types))
    return new_contact(source, line, fn, n, uid, tuple(phones), (), None)


# --------------------------------------------------------------------------- whole light cards
#
# ``_light_card`` still walks a card line by line in Python, about 12 µs a card. ``_read_segment``
# does better for the cards it can: one regular expression matches a whole light card at C
# speed, and a second one picks out its TEL, FN, N, UID and X-ABLabel lines. Both are built from
# the heads (the text before a line's first colon) that ``_light_card`` has met and judged light,
# literally, each with the rule its values follow there; a card with any other line does not
# match. What does not match (a card with a head not met yet, text between cards, a BOM, lone
# CRs, bytes that are not UTF-8) is read line by line from the line where it starts, which gives
# what it gives for the whole file because every card starts afresh at a "BEGIN:VCARD" line; the
# heads met there make the expressions grow. A book uses a few dozen heads, so after its first
# cards almost all of it is read whole. tests/test_wholecards.py and the fuzz targets hold both
# readers to the same contacts.

_SEGMENT = 1 << 19  # bytes the whole-card reader takes at a time
_SEGMENT_CAP = 1 << 22  # past this without a "BEGIN:VCARD" line, the rest is read line by line
_LIGHT_MAX = _MAX_PROPERTY // 4  # characters in a card: then none of _card_limits' checks apply
_MAX_LEARNED = 256  # heads in one whole-card expression; past them, new ones go line by line
_ASCII_SPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() strips

_W_PLAIN = r"[^\\,;\n]*+"  # a TEL, FN or UID value _light_card takes
# what follows "head:" on a line _light_card reads, by the head's kind
_W_RULES = {
    _SKIP: r"[^\n]*+",
    _TEL: _W_PLAIN,
    _FN: _W_PLAIN,
    _N: _W_PLAIN + r"(?:;" + _W_PLAIN + r"){0,4}+",  # at most five components
    _UID: _W_PLAIN,
    _LABEL: r"[^\\\n]*+",
    _UNWANTED: r"(?:[^\\\n]++|\\(?=[,;nN\\]))*+",  # no backslash _ESCAPES would find
    # and the folded lines after it, unless one would end or begin the card (_card_lines)
    _BINARY_LINE: r"[^\n]*+(?:\n(?![ \t\x0b\x0c]*+(?i:END|BEGIN):(?i:VCARD)[ \t\x0b\x0c]*+\n)"
    r"[ \t][^\n]*+)*+",
}
_W_PICKED = (_TEL, _FN, _N, _UID, _LABEL)  # the kinds a Contact is made of
_NEVER = re.compile(r"(?!)")
# ReadOptions.fields → (the head kinds learnt from, its size then, card, props, light heads,
# the TEL, FN and N values take is offered)
_WholeCards = tuple[
    dict[str, "_Kind | None"], int, "re.Pattern[str]", "re.Pattern[str]", dict[str, _Kind],
    "re.Pattern[str]",
]
_WHOLE: dict[frozenset[str] | None, _WholeCards] = {}


def _whole_cards(fields: frozenset[str] | None) -> _WholeCards:
    """The whole-card expressions for this ReadOptions.fields, grown by any light heads that
    ``_light_card`` met since they were built."""
    kinds = _HEAD_KINDS.get(fields)
    if kinds is None:
        kinds = _HEAD_KINDS[fields] = {}
    built = _WHOLE.get(fields)
    if built is not None and built[0] is kinds and built[1] == len(kinds):
        return built
    # a copy first (one C call): another thread's _light_card may add to ``kinds`` meanwhile
    light = {head: kind for head, kind in tuple(kinds.items()) if kind is not None}
    if built is not None and (len(light) == len(built[4]) or len(light) > _MAX_LEARNED):
        built = _WHOLE[fields] = (kinds, len(kinds), *built[2:])
        return built
    by_kind: dict[int, list[str]] = {}
    for head, (kind, _group, _types) in light.items():
        by_kind.setdefault(kind, []).append(re.escape(head))
    lines = "|".join(
        f"(?:{'|'.join(by_kind[kind])}):{rule}" for kind, rule in _W_RULES.items()
        if kind in by_kind
    )
    card = re.compile(rf"BEGIN:VCARD\n(?:(?:{lines})\n)*+END:VCARD(?:\n|\Z)") if lines else _NEVER
    picked = "|".join(head for kind in _W_PICKED for head in by_kind.get(kind, ()))
    props = re.compile(rf"\n({picked}):([^\n]*+)") if picked else _NEVER
    # one group per kind: no head to look up; an N keeps its colon (an empty first N counts)
    tel, fn, n = ("|".join(by_kind.get(kind, ())) or "(?!)" for kind in (_TEL, _FN, _N))
    offered = re.compile(rf"\n(?:(?:{tel}):([^\n]*+)|(?:{fn}):([^\n]*+)|(?:{n})(:[^\n]*+))")
    built = _WHOLE[fields] = (kinds, len(kinds), card, props, light, offered)
    return built


def _read_segment(
    data: bytes, source: str, fields: frozenset[str] | None, line: int, last: bool,
    take: Take | None = None,
) -> Generator[Contact, None, int]:
    """``_read_lines`` of bytes that start at a "BEGIN:VCARD" line (or the piece's start) and
    end at a line end (or the piece's end): whole light cards by regular expression, the rest
    line by line; a whole card that ``take`` takes is not yielded. Returns how many lines
    ``data`` ends."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        yield from _read_lines((data,), source, fields, line, last)
        return _line_ends(data)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:  # a lone CR ends a line too
            yield from _read_lines((data,), source, fields, line, last)
            return _line_ends(data)
    _kinds, _size, card, props, light, offered = _whole_cards(fields)
    find, count, starts = text.find, text.count, text.startswith
    max_lines = _MAX_TELS + 2
    gap = pos = 0  # the text from ``gap`` on is not read yet; ``pos`` is where to look
    gap_line = line
    while True:
        if not starts("BEGIN:VCARD\n", pos):
            pos = find("\nBEGIN:VCARD\n", pos) + 1
            if pos == 0:
                break
            continue
        # a card longer than _LIGHT_MAX is not read whole: the expression looks no further (at
        # most one character more, where \Z may match: that end is past the limit)
        found = card.match(text, pos, pos + _LIGHT_MAX + 1)
        end = found.end() if found is not None else 0
        lines = count("\n", pos, end) if found is not None else 0
        if found is None or end - pos > _LIGHT_MAX or lines > max_lines:
            # not a whole light card: it goes line by line, with what comes before it
            after = find("\nBEGIN:VCARD\n", pos) + 1
            if after == 0:
                break
            yield from _read_lines(
                (text[gap:after].encode("utf-8"),), source, fields, gap_line, False
            )
            gap_line += count("\n", gap, after)
            gap = pos = after
            _kinds, _size, card, props, light, offered = _whole_cards(fields)  # what it learnt
            continue
        begin = gap_line
        if gap < pos:
            begin += count("\n", gap, pos)
            if text[gap:pos].strip(_ASCII_SPACE):  # not just blank lines
                gap_text = text[gap:pos].encode("utf-8")
                yield from _read_lines((gap_text,), source, fields, gap_line, False)
        fn = ""
        n_value: str | None = None  # the first N, split only when needed
        taken = False
        if take is not None:  # its TEL, FN and N values only: most cards go no further
            numbers = []
            for tel, fn_value, n_field in offered.findall(text, pos, end):
                if tel:
                    tel = tel.strip()
                    if tel:
                        numbers.append(tel)
                elif fn_value:
                    if not fn:
                        fn = fn_value.strip()
                elif n_field and n_value is None:  # (an empty TEL or FN leaves all three empty)
                    n_value = n_field[1:]
            taken = take(begin, fn or _n_name(n_value), numbers)
        if not taken:
            fn, uid, tels, n_value = "", None, [], None
            labels: dict[str, str] | None = None
            for head, value in props.findall(text, pos, end):
                kind, group, types = light[head]
                if kind == _TEL:
                    value = value.strip()
                    if value:
                        tels.append((group, value, types))
                elif kind == _FN:
                    if not fn:
                        fn = value.strip()
                elif kind == _N:
                    if n_value is None:
                        n_value = value
                elif kind == _UID:
                    if uid is None:
                        uid = value.strip() or None
                else:  # an X-ABLabel of a group
                    if labels is None:
                        labels = {}
                    labels[group] = _cached_label(value)
            n = _name_parts(n_value.split(";")) if n_value is not None else ()
            yield _light_contact(source, begin, fn, n, uid, tels, labels)
        gap = pos = end
        gap_line = begin + lines
    if gap == 0 or (gap < len(text) and text[gap:].strip(_ASCII_SPACE)):
        yield from _read_lines((text[gap:].encode("utf-8"),), source, fields, gap_line, last)
    return gap_line - line + count("\n", gap)


# --------------------------------------------------------------------------- parsing


def parse_card(raw: RawCard) -> Contact:
    """Parse one card with vobject; a card that fails becomes a Contact with ``error`` set."""
    if raw.error is not None:
        return Contact(raw.source, raw.line, error=raw.error)
    import vobject
    from vobject.vcard import VCard3_0

    try:
        component = vobject.readOne(raw.text, transform=False)
        # vobject 0.9.9 registers only vCard 3.0 and leaves 2.1 and 4.0 cards undecoded;
        # their text escaping is the same (RFC 6350 §3.4), so decode every card as 3.0
        component.setBehavior(VCard3_0)
        component.transformChildrenToNative()
        return _to_contact(component, raw)
    except Exception as exc:  # ParseError, ValueError, ...: one card must not end the run
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return Contact(raw.source, raw.line, error=f"vobject cannot parse it: {reason[:120]}")


def _to_contact(component: Any, raw: RawCard) -> Contact:
    labels = {
        str(label.group).lower(): _apple_label(_text(label.value))
        for label in component.contents.get("x-ablabel", ())
        if label.group
    }
    fn, uid = "", None
    n: tuple[str, ...] = ()
    phones: list[Phone] = []
    fields: list[Field] = []
    for line in component.lines():
        name = str(line.name).upper()
        if name == "FN":
            fn = fn or _text(line.value).strip()
        elif name == "N":
            n = n or tuple(_text(getattr(line.value, a, "")).strip() for a in _NAME_ORDER)
        elif name == "UID":
            uid = uid or _text(line.value).strip() or None
        elif name == "TEL":
            value = _text(line.value).strip()
            if value:  # kept as written: "tel:" and ";ext=" are for phones.py to handle
                phones.append(Phone(value, _types(line, labels)))
        elif name not in _NOT_FIELDS and not name.startswith("X-"):
            field_value = _field_value(name, line.value)
            if any(part.strip() for part in _as_tuple(field_value)):  # "NOTE:" says nothing
                fields.append(Field(name, field_value, _types(line, labels)))
    return Contact(
        raw.source, raw.line, fn=fn, n=n, uid=uid, phones=tuple(phones), fields=tuple(fields)
    )


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    return value if isinstance(value, str) else str(value)


def _field_value(name: str, value: Any) -> str | tuple[str, ...]:
    if name == "ADR":
        return tuple(_text(getattr(value, a, "")) for a in _ADDRESS_ORDER)
    if name == "ORG" and isinstance(value, list):
        return tuple(_text(v) for v in value)
    return _text(value)


def _apple_label(label: str) -> str:
    # Apple groups a label with its TEL as item1.TEL + item1.X-ABLabel; built-in labels are
    # wrapped as "_$!<Mobile>!$_", custom ones are plain text
    match = _APPLE_LABEL.fullmatch(label.strip())
    return (match.group(1) if match else label).strip().lower()


# what the light readers call: the same few labels come on every card
_cached_label = functools.lru_cache(maxsize=4096)(_apple_label)


def _types(line: Any, labels: dict[str, str]) -> tuple[str, ...]:
    """Lower-case TYPE values of a property: 3.0/4.0 TYPE=, 2.1 bare params, an Apple label."""
    found: list[str] = []
    for value in line.params.get("TYPE", ()):
        found.extend(str(value).split(","))
    found.extend(str(v) for v in line.singletonparams)
    if "PREF" in line.params:
        found.append("pref")  # 4.0 writes PREF=1 where 3.0 wrote TYPE=pref
    if line.group and str(line.group).lower() in labels:
        found.append(labels[str(line.group).lower()])
    types: list[str] = []
    for item in found:
        item = item.strip().lower()
        if item and item not in types:
            types.append(item)
    return tuple(types)


# --------------------------------------------------------------------------- writing


def write(contacts: Iterable[Contact], stream: BinaryIO, fmt: str = "vcard3") -> None:
    """Write contacts as vCard 3.0 ("vcard3") or 4.0 ("vcard4"), CRLF, folded at 75 octets.

    Every card has VERSION, UID, FN and N; only the numbers and fields the Contact holds are
    written. The same contacts always give byte-identical output.
    """
    versions = {"vcard3": "3.0", "vcard4": "4.0"}
    if fmt not in versions:
        raise ValueError(f"unknown vCard output format {fmt!r}; choose vcard3 or vcard4")
    version = versions[fmt]
    for contact in contacts:
        plain = _plain_serialize(contact) if version == "3.0" else None
        stream.write(plain if plain is not None else _serialize(contact, version))


# What vobject would change in a value or a parameter (escapes, quotes, line breaks, control
# characters), or a space at either end: values without any are written as they are.
_NOT_PLAIN = re.compile(r'[\\,;:"\r\n\x00-\x1f\x7f-\x9f\u2028\u2029]|^\s|\s$')


def _plain_serialize(contact: Contact) -> bytes | None:
    """``_serialize(contact, "3.0")`` without vobject (its import alone takes 80 ms) for a
    contact of FN, N, TEL and UID whose values need no escaping, else None. The lines are the
    ones vobject writes: VERSION and UID first, then the rest by name (FN, N, TEL).
    tests/test_fastpath.py compares the two."""
    if contact.fields:
        return None
    uid = contact.uid or derived_uid(contact)  # a CSV row has none: UUID 5 of its numbers
    fn = contact.display_name
    n = list(contact.n[:5])
    if any(_CONTROL.search(p.value) for p in contact.phones):
        return None  # _serialize drops them before it splits the number at spaces
    numbers = [" ".join(p.value.split()) for p in contact.phones]
    not_plain = _NOT_PLAIN.search
    if (not uid or not fn or not_plain(uid) or not_plain(fn) or any(map(not_plain, n))
            or any(map(not_plain, numbers))):
        return None  # names from numbers, escapes: vobject's business
    n = n + [""] * (5 - len(n)) if any(n) else ["", fn, "", "", ""]
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{fn}", "N:" + ";".join(n)]
    for phone, number in zip(contact.phones, numbers, strict=True):
        if not number:
            continue
        bare = number[4:] if number.lower().startswith("tel:") else number
        types = list(dict.fromkeys(t.lower() for t in phone.types if t.replace("-", "").isalnum()))
        if any(map(not_plain, types)) or not bare:
            return None
        lines.append(f"TEL;TYPE={','.join(types)}:{bare}" if types else f"TEL:{bare}")
    lines.append("END:VCARD")
    return b"".join(map(_fold, lines))


def _serialize(contact: Contact, version: str) -> bytes:
    import vobject
    from vobject.vcard import Address, Name

    card = vobject.vCard()
    card.add("version").value = version
    card.add("uid").value = _clean(contact.uid or "") or derived_uid(contact)
    numbers = [" ".join(_clean(p.value).split()) for p in contact.phones]  # one line each
    fn = _clean(contact.display_name) or next((n for n in numbers if n), "") or card.uid.value
    card.add("fn").value = fn
    n = [_clean(part) for part in contact.n[:5]]
    n = n + [""] * (5 - len(n)) if any(n) else ["", fn, "", "", ""]
    card.add("n").value = Name(**dict(zip(_NAME_ORDER, n, strict=True)))
    for phone, number in zip(contact.phones, numbers, strict=True):
        if not number:
            continue
        tel = card.add("tel")
        bare = number[4:] if number.lower().startswith("tel:") else number
        if version == "4.0":
            tel.value = "tel:" + bare.replace(" ", "")  # RFC 6350 §6.4.1, RFC 3966: a tel URI
            tel.params["VALUE"] = ["uri"]
        else:
            tel.value = bare
        _set_types(tel, phone.types, version)
    for field in contact.fields:
        name = field.name.upper()
        if not _NAME.fullmatch(name) or name in _WRITER_OWN:
            continue
        line = card.add(name)
        if name == "ADR":
            parts = [_clean(p) for p in _as_tuple(field.value)[:7]]
            parts += [""] * (7 - len(parts))
            line.value = Address(**dict(zip(_ADDRESS_ORDER, parts, strict=True)))
        elif name == "ORG":
            line.value = [_clean(p) for p in _as_tuple(field.value)]
        else:
            line.value = _clean(";".join(_as_tuple(field.value)))
        _set_types(line, field.types, version)
    # vobject escapes values (RFC 6350 §3.4); it folds by characters, not octets, so fold here
    text = card.serialize(lineLength=1 << 30, validate=False)
    return b"".join(_fold(line) for line in text.split("\r\n") if line)


def derived_uid(contact: Contact) -> str:
    """A UID that repeated runs agree on: a UUID 5 of the contact's numbers (or its name)."""
    import uuid

    key = "\n".join(sorted(p.value.strip() for p in contact.phones)) or contact.display_name
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "contactguard:vcard:" + key))


def _set_types(line: Any, types: tuple[str, ...], version: str) -> None:
    # only plain tokens: a label may hold quotes or line breaks, which a parameter cannot escape
    clean = [t.lower() for t in types if t.replace("-", "").isalnum()]
    if version == "4.0" and "pref" in clean:
        clean.remove("pref")
        line.params["PREF"] = ["1"]  # RFC 6350 §5.3
    if clean:
        line.params["TYPE"] = list(dict.fromkeys(clean))


def _as_tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value


def _clean(text: str) -> str:
    """Drop control characters; line breaks stay for vobject to escape as \\n."""
    return _CONTROL.sub("", text)


def _fold(line: str) -> bytes:
    """One content line as bytes, folded so no physical line exceeds 75 octets."""
    data = line.encode("utf-8")
    pieces, start, limit = [], 0, _FOLD_AT
    while len(data) - start > limit:
        end = start + limit
        while end > start and data[end] & 0xC0 == 0x80:
            end -= 1  # never cut inside a UTF-8 sequence
        pieces.append(data[start:end])
        start, limit = end, _FOLD_AT - 1  # a continuation line starts with a space
    pieces.append(data[start:])
    return b"\r\n ".join(pieces) + b"\r\n"
