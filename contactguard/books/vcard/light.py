"""The light reader: a plain card read straight from its physical lines, without vobject.

vobject needs about 180 µs per card; most cards of a large book are a handful of plain lines
(N, FN, one or two TEL, UID, some metadata) whose meaning needs no vCard parser at all.
``LightReader.card`` reads such a card and returns exactly the Contact ``repair.parse_card``
would (tests/test_fastpath.py compares the two on every fixture), or None when the card holds
anything it is not sure about: folded or continued lines, comments, non-UTF-8 bytes, encodings,
quoted or unusual parameters, backslash escapes, commas where vobject splits, properties with a
vobject behaviour it does not mirror, and every field the caller wants (``ReadOptions.fields``).
None sends the card through the repair step and vobject.
"""

from __future__ import annotations

import re

from ...model import Contact, display_name, new_contact, new_phone
from .lines import Body
from .syntax import ENCODINGS, cached_label

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
# what LightReader.card does with a line, by its head (the text before the first colon)
TEL, FN, N, UID, LABEL, SKIP, UNWANTED, BINARY_LINE = range(8)
_KINDS = {"TEL": TEL, "FN": FN, "N": N, "UID": UID}
Kind = tuple[int, str, tuple[str, ...]]  # (kind, group, types)
_CACHE_LIMIT = 4096  # heads remembered; past them (a pathological book) the cache starts over


class LightReader:
    """Reads light cards, and remembers what it judged of each head it met: per
    ``ReadOptions.fields``, head → Kind, or None when a line with this head is not light (the
    whole-card reader builds its expressions from these). Several threads may share one: the
    tables only grow, and a copy is taken before walking them."""

    def __init__(self) -> None:
        # head text → (group, NAME, types from parameters) or None when it is not light
        self._heads: dict[str, tuple[str, str, tuple[str, ...]] | None] = {}
        self._kinds: dict[frozenset[str] | None, dict[str, Kind | None]] = {}

    def kinds(self, fields: frozenset[str] | None) -> dict[str, Kind | None]:
        """The heads judged so far for this ReadOptions.fields (the live table)."""
        kinds = self._kinds.get(fields)
        if kinds is None:
            kinds = self._kinds[fields] = {}
        return kinds

    def _light_head(self, head: str) -> tuple[str, str, tuple[str, ...]] | None:
        try:
            return self._heads[head]
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
                    if key in ENCODINGS:
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
        if len(self._heads) > _CACHE_LIMIT:
            self._heads.clear()  # a pathological book with ever new heads: keep memory flat
        self._heads[head] = parsed
        return parsed


    def _head_kind(self, head: str, fields: frozenset[str] | None) -> Kind | None:
        """What ``card`` does with a line of this head, or None: the card is not light."""
        if _BINARY_HEAD.fullmatch(head) is not None:
            # a soft line break would join the next line to it
            return None if "QUOTED" in head.upper() else (BINARY_LINE, "", ())
        parsed = self._light_head(head)
        if parsed is None:
            return None
        group, name, types = parsed
        if name in _KINDS:
            return _KINDS[name], group, types
        if name == "X-ABLABEL":
            return (LABEL, group, ()) if group else None
        if name in _LIGHT_SKIPPED or name.startswith("X-"):
            return SKIP, group, ()
        if name in _LIGHT_FIELDS and fields is not None and name not in fields:
            return UNWANTED, group, ()  # a field nobody looks at
        return None

    def card(
        self, body: Body, source: str, line: int, fields: frozenset[str] | None
    ) -> Contact | None:
        """The Contact parse_card would make of these lines, or None when not sure (see above)."""
        if body and isinstance(body[0], str):
            lines: list[str] = body
        else:
            try:
                lines = b"\n".join(body).decode("utf-8").split("\n")  # type: ignore[arg-type]
            except UnicodeDecodeError:
                return None
        kinds = self._kinds.get(fields)
        if kinds is None or len(kinds) > _CACHE_LIMIT:  # ever new heads: stay flat
            kinds = self._kinds[fields] = {}
        fn, uid = "", None
        n: tuple[str, ...] = ()
        tels: list[tuple[str, str, tuple[str, ...]]] = []
        labels: dict[str, str] = {}
        binary = False
        for prop in lines:
            if binary and prop[:1] in (" ", "\t"):
                continue  # a folded line of a PHOTO (or LOGO, ...): the repair step drops it
            head, colon, value = prop.partition(":")
            if not colon:
                return None  # blank, continuation or comment line: the repair step's business
            try:
                found = kinds[head]
            except KeyError:
                found = kinds[head] = self._head_kind(head, fields)
            if found is None:
                return None
            kind, group, types = found
            binary = kind == BINARY_LINE
            if kind == TEL:
                if "\\" in value or "," in value or ";" in value:
                    return None
                tels.append((group, value.strip(), types))
            elif kind == SKIP or binary:
                continue
            elif kind == FN:
                if "\\" in value or "," in value or ";" in value:
                    return None
                fn = fn or value.strip()
            elif kind == N:
                if "\\" in value or "," in value:
                    return None
                parts = value.split(";")
                if len(parts) > 5:
                    return None
                n = n or name_parts(parts)
            elif kind == UID:
                if "\\" in value or "," in value or ";" in value:
                    return None
                uid = uid or value.strip() or None
            elif kind == LABEL:
                if "\\" in value:
                    return None
                labels[group] = cached_label(value)
            elif "\\" in value and _ESCAPES.search(value):  # UNWANTED
                return None
        return light_contact(source, line, fn, n, uid, tels, labels)


def name_parts(parts: list[str]) -> tuple[str, ...]:
    """N's components as vobject gives them: five, stripped (``parts``: at most five)."""
    return tuple(map(str.strip, parts + [""] * (5 - len(parts))))


def n_name(n_value: str | None) -> str:
    """The display name of a card without FN, from its N value as the file holds it."""
    return display_name("", name_parts(n_value.split(";")) if n_value is not None else ())


def light_contact(
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

