"""The whole-card reader: whole light cards matched by one regular expression at C speed.

``LightReader.card`` still walks a card line by line in Python, about 12 µs a card.
``WholeCardReader.read_segment`` does better for the cards it can: one regular expression
matches a whole light card, and a second one picks out its TEL, FN, N, UID and X-ABLabel lines.
Both are built from the heads (the text before a line's first colon) that the light reader has
met and judged light, literally, each with the rule its values follow there; a card with any
other line does not match. What does not match (a card with a head not met yet, text between
cards, a BOM, lone CRs, bytes that are not UTF-8) goes to the line reader from the line where
it starts, which gives what it gives for the whole file because every card starts afresh at a
"BEGIN:VCARD" line; the heads met there make the expressions grow. A book uses a few dozen
heads, so after its first cards almost all of it is read whole. tests/test_wholecards.py and the
fuzz targets hold it to the line reader: the same contacts.
"""

from __future__ import annotations

import re
from collections.abc import Generator

from ...model import Contact, Take
from .light import (
    BINARY_LINE,
    FN,
    LABEL,
    SKIP,
    TEL,
    UID,
    UNWANTED,
    Kind,
    LightReader,
    N,
    light_contact,
    n_name,
    name_parts,
)
from .lines import LineReader, line_ends
from .syntax import MAX_PROPERTY, MAX_TELS, cached_label

_LIGHT_MAX = MAX_PROPERTY // 4  # characters in a card: then none of card_limits' checks apply
_MAX_LEARNED = 256  # heads in one whole-card expression; past them, new ones go line by line
_ASCII_SPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() strips

_W_PLAIN = r"[^\\,;\n]*+"  # a TEL, FN or UID value the light reader takes
# what follows "head:" on a line _light_card reads, by the head's kind
_W_RULES = {
    SKIP: r"[^\n]*+",
    TEL: _W_PLAIN,
    FN: _W_PLAIN,
    N: _W_PLAIN + r"(?:;" + _W_PLAIN + r"){0,4}+",  # at most five components
    UID: _W_PLAIN,
    LABEL: r"[^\\\n]*+",
    UNWANTED: r"(?:[^\\\n]++|\\(?=[,;nN\\]))*+",  # no backslash _ESCAPES would find
    # and the folded lines after it, unless one would end or begin the card (_card_lines)
    BINARY_LINE: r"[^\n]*+(?:\n(?![ \t\x0b\x0c]*+(?i:END|BEGIN):(?i:VCARD)[ \t\x0b\x0c]*+\n)"
    r"[ \t][^\n]*+)*+",
}
_W_PICKED = (TEL, FN, N, UID, LABEL)  # the kinds a Contact is made of
_NEVER = re.compile(r"(?!)")
# ReadOptions.fields → (the head kinds learnt from, its size then, card, props, light heads,
# the TEL, FN and N values take is offered)
# (the head kinds learnt from, its size then, card, props, light heads, the TEL, FN and N
# values take is offered)
_Expressions = tuple[
    dict[str, "Kind | None"], int, "re.Pattern[str]", "re.Pattern[str]", dict[str, Kind],
    "re.Pattern[str]",
]


class WholeCardReader:
    """Reads segments of a file: whole light cards by expression, the rest by ``lines``.
    It learns from ``light`` (the heads it judged light); several threads may share one."""

    def __init__(self, light: LightReader, lines: LineReader) -> None:
        self._light = light
        self._lines = lines
        self._built: dict[frozenset[str] | None, _Expressions] = {}  # per ReadOptions.fields

    def _expressions(self, fields: frozenset[str] | None) -> _Expressions:
        """The whole-card expressions for this ReadOptions.fields, grown by any light heads that
        the light reader met since they were built."""
        kinds = self._light.kinds(fields)
        built = self._built.get(fields)
        if built is not None and built[0] is kinds and built[1] == len(kinds):
            return built
        # a copy first (one C call): another thread's light reader may add to ``kinds`` meanwhile
        light = {head: kind for head, kind in tuple(kinds.items()) if kind is not None}
        if built is not None and (len(light) == len(built[4]) or len(light) > _MAX_LEARNED):
            built = self._built[fields] = (kinds, len(kinds), *built[2:])
            return built
        by_kind: dict[int, list[str]] = {}
        for head, (kind, _group, _types) in light.items():
            by_kind.setdefault(kind, []).append(re.escape(head))
        lines = "|".join(
            f"(?:{'|'.join(by_kind[kind])}):{rule}" for kind, rule in _W_RULES.items()
            if kind in by_kind
        )
        card = (
            re.compile(rf"BEGIN:VCARD\n(?:(?:{lines})\n)*+END:VCARD(?:\n|\Z)") if lines
            else _NEVER
        )
        picked = "|".join(head for kind in _W_PICKED for head in by_kind.get(kind, ()))
        props = re.compile(rf"\n({picked}):([^\n]*+)") if picked else _NEVER
        # one group per kind: no head to look up; an N keeps its colon (an empty first N counts)
        tel, fn, n = ("|".join(by_kind.get(kind, ())) or "(?!)" for kind in (TEL, FN, N))
        offered = re.compile(rf"\n(?:(?:{tel}):([^\n]*+)|(?:{fn}):([^\n]*+)|(?:{n})(:[^\n]*+))")
        built = self._built[fields] = (kinds, len(kinds), card, props, light, offered)
        return built

    def read_segment(
        self, data: bytes, source: str, fields: frozenset[str] | None, line: int, last: bool,
        take: Take | None = None,
    ) -> Generator[Contact, None, int]:
        """The line reader's contacts of bytes that start at a "BEGIN:VCARD" line (or the
        piece's start) and end at a line end (or the piece's end): whole light cards by regular
        expression, the rest line by line; a whole card that ``take`` takes is not yielded.
        Returns how many lines ``data`` ends."""
        read_lines = self._lines.read
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            yield from read_lines((data,), source, fields, line, last)
            return line_ends(data)
        if "\r" in text:
            text = text.replace("\r\n", "\n")
            if "\r" in text:  # a lone CR ends a line too
                yield from read_lines((data,), source, fields, line, last)
                return line_ends(data)
        _kinds, _size, card, props, light, offered = self._expressions(fields)
        find, count, starts = text.find, text.count, text.startswith
        max_lines = MAX_TELS + 2
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
                yield from read_lines(
                    (text[gap:after].encode("utf-8"),), source, fields, gap_line, False
                )
                gap_line += count("\n", gap, after)
                gap = pos = after
                # with what the line reader learnt
                _kinds, _size, card, props, light, offered = self._expressions(fields)
                continue
            begin = gap_line
            if gap < pos:
                begin += count("\n", gap, pos)
                if text[gap:pos].strip(_ASCII_SPACE):  # not just blank lines
                    gap_text = text[gap:pos].encode("utf-8")
                    yield from read_lines((gap_text,), source, fields, gap_line, False)
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
                taken = take(begin, fn or n_name(n_value), numbers)
            if not taken:
                fn, uid, tels, n_value = "", None, [], None
                labels: dict[str, str] | None = None
                for head, value in props.findall(text, pos, end):
                    kind, group, types = light[head]
                    if kind == TEL:
                        value = value.strip()
                        if value:
                            tels.append((group, value, types))
                    elif kind == FN:
                        if not fn:
                            fn = value.strip()
                    elif kind == N:
                        if n_value is None:
                            n_value = value
                    elif kind == UID:
                        if uid is None:
                            uid = value.strip() or None
                    else:  # an X-ABLabel of a group
                        if labels is None:
                            labels = {}
                        labels[group] = cached_label(value)
                n = name_parts(n_value.split(";")) if n_value is not None else ()
                yield light_contact(source, begin, fn, n, uid, tels, labels)
            gap = pos = end
            gap_line = begin + lines
        if gap == 0 or (gap < len(text) and text[gap:].strip(_ASCII_SPACE)):
            yield from read_lines((text[gap:].encode("utf-8"),), source, fields, gap_line, last)
        return gap_line - line + count("\n", gap)

