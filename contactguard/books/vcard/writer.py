"""The vCard writer: 3.0 or 4.0, CRLF, folded at 75 octets, the same bytes for the same contacts.

``serialize`` writes through vobject (the reference); ``plain_serialize`` writes the lines
vobject would write for a contact of FN, N, TEL and UID whose values need no escaping, without
vobject (its import alone takes 80 ms). tests/test_fastpath.py compares the two; in reference
mode every card goes through vobject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, BinaryIO

from ... import fastpaths
from ...model import Contact
from .syntax import ADDRESS_ORDER, CONTROL, NAME, NAME_ORDER, as_tuple

# Written by the writer itself; a Field with one of these names is not written again.
_WRITER_OWN = frozenset({"FN", "N", "UID", "TEL", "VERSION", "BEGIN", "END", "PRODID"})
_FOLD_AT = 75  # octets per line, without the line break (RFC 6350 §3.2, RFC 2425 §5.8.1)


def write(contacts: Iterable[Contact], stream: BinaryIO, fmt: str = "vcard3") -> None:
    """Write contacts as vCard 3.0 ("vcard3") or 4.0 ("vcard4"), CRLF, folded at 75 octets.

    Every card has VERSION, UID, FN and N; only the numbers and fields the Contact holds are
    written. The same contacts always give byte-identical output.
    """
    versions = {"vcard3": "3.0", "vcard4": "4.0"}
    if fmt not in versions:
        raise ValueError(f"unknown vCard output format {fmt!r}; choose vcard3 or vcard4")
    version = versions[fmt]
    fast = version == "3.0" and fastpaths.enabled()
    for contact in contacts:
        plain = plain_serialize(contact) if fast else None
        stream.write(plain if plain is not None else serialize(contact, version))


# What vobject would change in a value or a parameter (escapes, quotes, line breaks, control
# characters), or a space at either end: values without any are written as they are.
_NOT_PLAIN = re.compile(r'[\\,;:"\r\n\x00-\x1f\x7f-\x9f\u2028\u2029]|^\s|\s$')


def plain_serialize(contact: Contact) -> bytes | None:
    """``serialize(contact, "3.0")`` without vobject (its import alone takes 80 ms) for a
    contact of FN, N, TEL and UID whose values need no escaping, else None. The lines are the
    ones vobject writes: VERSION and UID first, then the rest by name (FN, N, TEL).
    tests/test_fastpath.py compares the two."""
    if contact.fields:
        return None
    uid = contact.uid or derived_uid(contact)  # a CSV row has none: UUID 5 of its numbers
    fn = contact.display_name
    n = list(contact.n[:5])
    if any(CONTROL.search(p.value) for p in contact.phones):
        return None  # serialize drops them before it splits the number at spaces
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


def serialize(contact: Contact, version: str) -> bytes:
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
    card.add("n").value = Name(**dict(zip(NAME_ORDER, n, strict=True)))
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
        if not NAME.fullmatch(name) or name in _WRITER_OWN:
            continue
        line = card.add(name)
        if name == "ADR":
            parts = [_clean(p) for p in as_tuple(field.value)[:7]]
            parts += [""] * (7 - len(parts))
            line.value = Address(**dict(zip(ADDRESS_ORDER, parts, strict=True)))
        elif name == "ORG":
            line.value = [_clean(p) for p in as_tuple(field.value)]
        else:
            line.value = _clean(";".join(as_tuple(field.value)))
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


def _clean(text: str) -> str:
    """Drop control characters; line breaks stay for vobject to escape as \\n."""
    return CONTROL.sub("", text)


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
