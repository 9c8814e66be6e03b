"""The CSV writer: a Google-style CSV (UTF-8, CRLF) with cells neutralised against formula
injection."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ..._text import csv_cell
from ...model import Contact, Field
from .columns import E164_LIKE, FORMULA_START

_TYPE_LABELS = {"cell": "Mobile", "work": "Work", "home": "Home", "pref": "Main", "car": "Car"}
_NOISE_TYPES = {"voice", "internet", "x400", "other"}


def write(contacts: Iterable[Contact], stream: BinaryIO, fmt: str) -> None:
    """Write a Google-style CSV (UTF-8, CRLF), neutralised against formula injection.

    The header needs the widest contact, so the contacts are held in memory while writing; the
    clean book is the kept share of the input, which is small.
    """
    if fmt != "csv":
        raise ValueError(f"the CSV writer cannot write {fmt!r}")
    people = list(contacts)
    columns = _Columns.of(people)
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    try:
        out = csv.writer(text, lineterminator="\r\n")
        out.writerow(columns.header())
        for contact in people:
            out.writerow(columns.row(contact))
        text.flush()
    finally:
        text.detach()  # the caller owns the stream


def _safe(cell: str) -> str:
    """A cell that spreadsheet apps show as text: a leading = + - @ tab or CR gets a ';
    terminal controls (ESC, BEL, NUL, C1) are dropped."""
    cell = csv_cell(cell)
    if cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def _safe_phone(number: str) -> str:
    """A number cell that is safe to open in a spreadsheet and reads back as the same number.

    E.164 ("+4917012345678") starts with "+", which spreadsheets treat as the start of a formula,
    but a formula of a sign and digits only has no function, reference or DDE call in it: at worst
    it is shown as a plain number, so it is written as is and any reader (Google Contacts, ours)
    gets the number back. Anything else that starts with a formula character (letters, spaces,
    "=HYPERLINK(...)") gets the same ' as other cells; our reader strips it again.
    """
    if E164_LIKE.fullmatch(number):
        return number
    return _safe(number)


def _label(types: tuple[str, ...]) -> str:
    for name in ("cell", "work", "home", "pref", "car"):
        if name in types:
            return _TYPE_LABELS[name]
    for name in types:
        if name not in _NOISE_TYPES and not name.startswith("x-"):
            return name
    return ""


def _text(value: str | tuple[str, ...]) -> str:
    return value if isinstance(value, str) else " ".join(v for v in value if v)


@dataclass(frozen=True)
class _Columns:
    """The output header, decided from all contacts so that every row fits it."""

    extra_name_parts: tuple[int, ...]  # indexes into Contact.n beyond family and given
    phones: int
    emails: int
    orgs: int
    departments: bool
    titles: int
    notes: bool
    others: tuple[tuple[str, int], ...]  # other field names, sorted, with their widest count

    @classmethod
    def of(cls, contacts: Sequence[Contact]) -> _Columns:
        counts: dict[str, int] = {}
        departments = False
        extra: set[int] = set()
        phones = 0
        for contact in contacts:
            phones = max(phones, len(contact.phones))
            extra.update(i for i in (2, 3, 4) if i < len(contact.n) and contact.n[i])
            per: dict[str, int] = {}
            for field in contact.fields:
                per[field.name] = per.get(field.name, 0) + 1
                if field.name == "ORG" and isinstance(field.value, tuple) and any(field.value[1:]):
                    departments = True
            for name, count in per.items():
                counts[name] = max(counts.get(name, 0), count)
        known = {"EMAIL", "ORG", "TITLE", "NOTE"}
        return cls(
            extra_name_parts=tuple(sorted(extra)),
            phones=phones,
            emails=counts.get("EMAIL", 0),
            orgs=counts.get("ORG", 0),
            departments=departments,
            titles=counts.get("TITLE", 0),
            notes="NOTE" in counts,
            others=tuple(sorted((k, v) for k, v in counts.items() if k not in known)),
        )

    def header(self) -> list[str]:
        parts = {2: "Additional Name", 3: "Name Prefix", 4: "Name Suffix"}
        cells = ["Name", "Given Name"]
        cells += [parts[i] for i in self.extra_name_parts if i == 2]
        cells.append("Family Name")
        cells += [parts[i] for i in self.extra_name_parts if i != 2]
        for k in range(1, self.phones + 1):
            cells += [f"Phone {k} - Type", f"Phone {k} - Value"]
        for k in range(1, self.emails + 1):
            cells += [f"E-mail {k} - Type", f"E-mail {k} - Value"]
        for k in range(1, max(self.orgs, self.titles) + 1):
            if k <= self.orgs:
                cells.append(f"Organization {k} - Name")
            if k <= self.titles:
                cells.append(f"Organization {k} - Title")
            if k <= self.orgs and self.departments:
                cells.append(f"Organization {k} - Department")
        if self.notes:
            cells.append("Notes")
        for name, count in self.others:
            cells += [f"{name} {k} - Value" for k in range(1, count + 1)]
        return cells

    def row(self, contact: Contact) -> list[str]:
        n = contact.n + ("",) * (5 - len(contact.n))
        cells = [contact.display_name, n[1]]
        cells += [n[i] for i in self.extra_name_parts if i == 2]
        cells.append(n[0])
        cells += [n[i] for i in self.extra_name_parts if i != 2]
        cells = [_safe(c) for c in cells]
        for k in range(self.phones):
            if k < len(contact.phones):
                phone = contact.phones[k]
                cells += [_safe(_label(phone.types)), _safe_phone(phone.value)]
            else:
                cells += ["", ""]
        by_name: dict[str, list[Field]] = {}
        for field in contact.fields:
            by_name.setdefault(field.name, []).append(field)
        emails = by_name.get("EMAIL", [])
        for k in range(self.emails):
            if k < len(emails):
                cells += [_safe(_label(emails[k].types)), _safe(_text(emails[k].value))]
            else:
                cells += ["", ""]
        orgs, titles = by_name.get("ORG", []), by_name.get("TITLE", [])
        for k in range(max(self.orgs, self.titles)):
            org = orgs[k].value if k < len(orgs) else ("",)
            org = (org,) if isinstance(org, str) else org
            if k < self.orgs:
                cells.append(_safe(org[0] if org else ""))
            if k < self.titles:
                cells.append(_safe(_text(titles[k].value)) if k < len(titles) else "")
            if k < self.orgs and self.departments:
                cells.append(_safe(" ".join(v for v in org[1:] if v)))
        if self.notes:
            cells.append(_safe("\n\n".join(_text(f.value) for f in by_name.get("NOTE", []))))
        for name, count in self.others:
            values = by_name.get(name, [])
            cells += [
                _safe(_text(values[k].value)) if k < len(values) else "" for k in range(count)
            ]
        return cells
