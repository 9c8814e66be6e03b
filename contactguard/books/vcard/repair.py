"""The repair step and vobject: a card's physical lines made into clean vCard text
(``CardBuilder``), and that text parsed into a Contact (``parse_card``), the reference reader.

Real exporters write what vobject 0.9.9 rejects or misreads — quoted-printable soft line
breaks, raw bytes in a legacy CHARSET, property names such as ``X-MESSAGING/XMPP-ALL``, ``#``
comment lines, 2.1 base64 blocks that are not indented; the repair step undoes each, so that
every RawCard holds clean vCard text. A card that still fails becomes a Contact with ``error``
set, reported as ``unparseable``.

vobject is imported inside the functions that use it: ``contactguard --help`` must start fast.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import Any

from ...model import Contact, Field, Phone
from .syntax import (
    ADDRESS_ORDER,
    BINARY,
    ENCODINGS,
    MAX_PROPERTY,
    NAME,
    NAME_ORDER,
    apple_label,
    as_tuple,
)

_UNESCAPED_COMMA = re.compile(r"(?<!\\)((?:\\\\)*),")
_ESCAPED_COLON = re.compile(r"(?<!\\)((?:\\\\)*)\\:")
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
# group.NAME;PARAM=value,value;BARE - no quotes, so the first colon ends it
_PLAIN_HEAD = re.compile(r"(?:[A-Za-z0-9_-]+\.)?[A-Za-z0-9_-]+(?:;[A-Za-z0-9_-]+(?:=[^\";:]*)?)*")

# vobject decodes these with ";" between components (RFC 6350 §6.2.2, §6.3.1, §6.6.4).
_STRUCTURED = frozenset({"N", "ADR", "ORG"})
# Dropped before vobject: binary payloads, and lines that would open or close a component.
_DROPPED = BINARY | {"BEGIN", "END", "PROFILE"}
# Not carried into Contact.fields: mapped to Contact attributes, or metadata, or a nested card.
_NOT_FIELDS = frozenset(
    {"FN", "N", "UID", "TEL", "VERSION", "PRODID", "REV", "PROFILE", "AGENT", "CLIENTPIDMAP"}
    | BINARY
)


@dataclass(frozen=True, slots=True)
class RawCard:
    """One card cut out of a file: where it starts and its repaired text (or why it is broken)."""

    source: str
    line: int  # 1-based line of its BEGIN:VCARD
    text: str  # "BEGIN:VCARD\r\n...END:VCARD\r\n", unfolded, decoded, repaired
    error: str | None = None  # set when the card is structurally broken (no END:VCARD)


class CardBuilder:
    """Collects the physical lines of one card into logical (unfolded) property lines."""

    def __init__(self, source: str, line: int, plain: bool = True) -> None:
        self.plain = plain  # pass lines that need no repair through (off: repair every line)
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
            repaired = repair_property(prop, self.plain)
            if repaired is not None:
                if len(repaired) > MAX_PROPERTY and error is None:
                    error = f"a property longer than {MAX_PROPERTY:,} characters"
                lines.append(repaired)
        lines.append("END:VCARD")
        return RawCard(self.source, self.line, "\r\n".join(lines) + "\r\n", error)


def repair_property(line: bytes, plain: bool = True) -> str | None:
    """One logical property line as clean vCard 3.0 text, or None when it is dropped;
    ``plain``: a line that needs no repair is passed through (``plain_property``)."""
    if plain:
        passed = plain_property(line)
        if passed is not None:
            return passed
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
            if NAME.fullmatch(raw_value) and raw_value.upper() not in ENCODINGS:
                out.append(raw_value)  # 2.1 bare parameter: TEL;CELL;PREF
        elif NAME.fullmatch(key) and key.upper() not in ("ENCODING", "CHARSET"):
            # the value is decoded now; a leftover ENCODING=8BIT would make vobject try base64
            out.append(f"{key}={_param_values(raw_value)}")
    return ";".join(out) + ":" + value


def plain_property(line: bytes) -> str | None:
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
    if any(p.startswith(("ENCODING=", "CHARSET=")) or p in ENCODINGS for p in params):
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
    if not NAME.fullmatch(name) or (group and not NAME.fullmatch(group)):
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
        str(label.group).lower(): apple_label(_text(label.value))
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
            n = n or tuple(_text(getattr(line.value, a, "")).strip() for a in NAME_ORDER)
        elif name == "UID":
            uid = uid or _text(line.value).strip() or None
        elif name == "TEL":
            value = _text(line.value).strip()
            if value:  # kept as written: "tel:" and ";ext=" are for phones.py to handle
                phones.append(Phone(value, _types(line, labels)))
        elif name not in _NOT_FIELDS and not name.startswith("X-"):
            field_value = _field_value(name, line.value)
            if any(part.strip() for part in as_tuple(field_value)):  # "NOTE:" says nothing
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
        return tuple(_text(getattr(value, a, "")) for a in ADDRESS_ORDER)
    if name == "ORG" and isinstance(value, list):
        return tuple(_text(v) for v in value)
    return _text(value)



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

