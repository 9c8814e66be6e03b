"""The CSV columns: which column of a header holds what (``Plan``), decided once per file, and
the function that turns a row into its Contact.

Google's numbered ``Phone 1 - Value`` with its ``Phone 1 - Type``/``- Label`` cell, several
numbers in one cell joined by `` ::: ``; Outlook's fixed columns in English and German; anything
else by keywords in the header. ``--phone-column``/``--name-column`` override.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ... import fastpaths
from ...errors import InputError
from ...model import Contact, Field, Take, display_name, new_contact, new_phone

if TYPE_CHECKING:
    from .. import ReadOptions

# Google joins several values of one kind in one cell with " ::: " (Google Contacts CSV export).
MULTI = " ::: "

# Faxes and pagers cannot receive WhatsApp messages; they are not numbers of the contact for us.
_NOT_A_PHONE = re.compile(r"fax|pager|telex|funkruf|piepser|beeper|tty|hörbehindert")
# Columns that name the kind of a neighbouring value rather than holding one.
_LABEL_COLUMN = re.compile(r"\b(?:type|label|labels|typ|art)\b")
_PHONE_COLUMN = re.compile(
    r"phone|tel[eé]f|\btel\b|mobil|\bcell|handy|natel|rufnummer|n[uú]mero|whatsapp"
)
_EMAIL_COLUMN = re.compile(r"e-?mail|^mail$|correo")
_EMAIL_NOT_VALUE = re.compile(r"type|typ\b|label|display|angezeigt|anzeige")
_GOOGLE = re.compile(r"^(phone|e-mail|organization) (\d+) - (\w+)$")

_DISPLAY = {
    "name",
    "display name",
    "displayname",
    "full name",
    "fullname",
    "formatted name",
    "anzeigename",
    "contact name",
    "nombre completo",
    "nom complet",
}
_GIVEN = {"given name", "first name", "firstname", "vorname", "nombre", "prénom", "prenom"}
_MIDDLE = {"additional name", "middle name", "weitere vornamen", "second name"}
_FAMILY = {
    "family name",
    "last name",
    "lastname",
    "surname",
    "nachname",
    "apellidos",
    "apellido",
    "nom de famille",
}
_PREFIX = {"name prefix", "prefix", "title", "anrede"}
_SUFFIX = {"name suffix", "suffix", "namenszusatz"}
_ORG = {
    "company",
    "firma",
    "organization",
    "organisation",
    "organization name",
    "unternehmen",
    "empresa",
}
_DEPARTMENT = {"department", "organization department", "abteilung", "departamento"}
_TITLE = {"job title", "organization title", "position", "jobtitle", "berufsbezeichnung"}
_NOTE = {"notes", "note", "notizen", "notiz", "bemerkungen", "notas"}

# Phone types from a column header or a Google label, in a fixed order (model.Phone.types).
_TYPE_KEYWORDS = (
    ("cell", re.compile(r"mobil|cell|handy|natel|iphone")),
    ("work", re.compile(r"business|gesch[aä]ft|work|office|büro|company|firma|arbeit|dienst")),
    ("home", re.compile(r"home|privat")),
    ("car", re.compile(r"\bcar\b|auto")),
    ("pref", re.compile(r"primary|main|haupt")),
)

# Spreadsheet apps evaluate a cell that starts with one of these (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START_CHARS = "".join(FORMULA_START)
E164_LIKE = re.compile(r"\+?[0-9]+")


def norm(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").split()).lower()


def _phone_types(label: str) -> tuple[str, ...] | None:
    """The types named by a column header or label; None for a fax or pager."""
    key = label.lower()
    if _NOT_A_PHONE.search(key):
        return None
    return tuple(name for name, pattern in _TYPE_KEYWORDS if pattern.search(key))


@functools.lru_cache(maxsize=1024)  # a book uses a handful of labels, on every row
def _label_types(label: str) -> tuple[str, ...] | None:
    """Types from a Google label cell ("Mobile", "* Work", "Home Fax", a custom label)."""
    key = label.strip().lstrip("*").strip().lower()
    if not key:
        return ()
    types = _phone_types(key)
    if types is None or types or key == "other":
        return types
    return (key,)  # a custom label, kept as written (like Apple's X-ABLabel)


def unquote(value: str) -> str:
    """A cell as written before formula neutralisation (a leading ' put there by a writer)."""
    if value[:1] == "'" and value[1:2] and value[1] in _FORMULA_START_CHARS:
        return value[1:]
    return value


@dataclass
class Plan:
    """Which column holds what, decided once from the header."""

    width: int  # the header's width plus one empty cell that stands for a missing column
    display: tuple[int, ...] = ()
    name_parts: tuple[tuple[int, ...], ...] = ()  # family, given, middle, prefix, suffix
    name_cells: tuple[int, ...] = ()  # the same when each part has at most one column
    phones: tuple[tuple[int, tuple[str, ...]], ...] = ()  # column, types from the header
    labelled_phones: tuple[tuple[int, int], ...] = ()  # value column, label column (Google)
    emails: tuple[tuple[int, int | None], ...] = ()  # value column, label column or None
    orgs: tuple[tuple[int, int], ...] = ()  # name column, department column
    titles: tuple[int, ...] = ()
    notes: tuple[int, ...] = ()
    has_fields: bool = False

    @classmethod
    def from_header(
        cls, header: Sequence[str], options: ReadOptions, source: str, line: int
    ) -> Plan:
        names = [norm(h) for h in header]
        index: dict[str, int] = {}
        for i, name in enumerate(names):
            index.setdefault(name, i)
        empty = len(names)  # rows are padded with one empty cell at this index
        plan = cls(width=empty + 1)
        google: dict[tuple[str, str], dict[str, int]] = {}
        plain: list[tuple[int, str]] = []
        for i, name in enumerate(names):
            match = _GOOGLE.match(name)
            if match:
                google.setdefault((match[1], match[2]), {})[match[3]] = i
            else:
                plain.append((i, name))

        phones: list[tuple[int, tuple[str, ...]]] = []
        labelled: list[tuple[int, int]] = []
        emails: list[tuple[int, int | None]] = []
        orgs: list[tuple[int, int]] = []
        titles: list[int] = []
        for (kind, _number), cols in google.items():
            if kind == "phone" and "value" in cols:
                label = cols.get("type", cols.get("label"))
                if label is None:
                    phones.append((cols["value"], ()))
                else:
                    labelled.append((cols["value"], label))
            elif kind == "e-mail" and "value" in cols:
                emails.append((cols["value"], cols.get("type", cols.get("label"))))
            elif kind == "organization":
                if "name" in cols or "department" in cols:
                    orgs.append((cols.get("name", empty), cols.get("department", empty)))
                if "title" in cols:
                    titles.append(cols["title"])

        if options.phone_columns:
            phones = [
                (cls._column(index, c, "--phone-column", source, line), ())
                for c in options.phone_columns
            ]
            labelled = []
        else:
            for i, name in plain:
                if _PHONE_COLUMN.search(name) and not _LABEL_COLUMN.search(name):
                    types = _phone_types(name)
                    if types is not None:
                        phones.append((i, types))
        if not phones and not labelled:
            raise InputError(cls._no_phone_message(header), file=source, line=line)

        def pick(keys: set[str]) -> tuple[int, ...]:
            return tuple(i for i, name in plain if name in keys)

        if options.name_columns:
            plan.display = tuple(
                cls._column(index, c, "--name-column", source, line) for c in options.name_columns
            )
        else:
            plan.display = pick(_DISPLAY)[:1]
            parts = tuple(pick(k) for k in (_FAMILY, _GIVEN, _MIDDLE, _PREFIX, _SUFFIX))
            if any(parts):
                plan.name_parts = parts
                # one column per part (the usual case): picked by index; the general join
                # below is the reference
                if all(len(cols) <= 1 for cols in parts) and fastpaths.enabled():
                    plan.name_cells = tuple(cols[0] if cols else empty for cols in parts)
        for i, name in plain:
            if _EMAIL_COLUMN.search(name) and not _EMAIL_NOT_VALUE.search(name):
                emails.append((i, None))
        org_names, departments = pick(_ORG), pick(_DEPARTMENT)
        if org_names or departments:
            orgs.append(
                (org_names[0] if org_names else empty, departments[0] if departments else empty)
            )
        plan.phones = tuple(phones)
        plan.labelled_phones = tuple(labelled)
        plan.emails = tuple(emails)
        plan.orgs = tuple(orgs)
        plan.titles = tuple(titles) + pick(_TITLE)
        plan.notes = pick(_NOTE)
        wanted = options.fields  # None: every field; else only these (the caller drops the rest)
        if wanted is not None:
            plan.emails = plan.emails if "EMAIL" in wanted else ()
            plan.orgs = plan.orgs if "ORG" in wanted else ()
            plan.titles = plan.titles if "TITLE" in wanted else ()
            plan.notes = plan.notes if "NOTE" in wanted else ()
        plan.has_fields = bool(plan.emails or plan.orgs or plan.titles or plan.notes)
        return plan

    @staticmethod
    def _column(index: dict[str, int], wanted: str, flag: str, source: str, line: int) -> int:
        try:
            return index[norm(wanted)]
        except KeyError:
            raise InputError(
                f"has no column {wanted!r} (check {flag}; the header names: "
                f"{', '.join(repr(h) for h in index)})",
                file=source,
                line=line,
            ) from None

    @staticmethod
    def _no_phone_message(header: Sequence[str]) -> str:
        if any(E164_LIKE.fullmatch(h.strip().replace(" ", "")) for h in header if h.strip()):
            return (
                "has no header row (the first row looks like data): add a header line "
                "naming the columns and pass --phone-column NAME"
            )
        shown = ", ".join(repr(h) for h in header[:12]) + (", …" if len(header) > 12 else "")
        return (
            f"has no column that looks like phone numbers (header: {shown}); "
            "pass --phone-column NAME (and --name-column NAME) to say which"
        )

    def reader(
        self, source: str, take: Take | None = None
    ) -> Callable[[list[str], int], Contact | None]:
        """The function that turns one data row into its Contact (None for a row of empty
        cells, and for a row ``take`` took: see ``read_range``). Rows come padded to
        ``width``: index ``width - 1`` is an empty cell.

        Everything about the header is settled here, so that a row costs a few cell look-ups
        by index and work for its non-empty phone cells only. (Measured: plain indexing beats
        ``itemgetter`` with ``zip``/``filter``/``compress`` here, whose iterators cost more to
        build per row than the handful of cells they save looking at.)
        """
        # (column, label column or None, types): fixed columns first, then labelled ones
        cells: tuple[tuple[int, int | None, tuple[str, ...] | None], ...] = tuple(
            (i, None, types) for i, types in self.phones
        ) + tuple((i, label, ()) for i, label in self.labelled_phones)
        label_types = _label_types
        display = self.display
        one_display = display[0] if len(display) == 1 else None
        name_parts = self.name_parts
        parts = self.name_cells
        family, given, middle, prefix, suffix = parts or (0, 0, 0, 0, 0)
        fields_of = self._fields if self.has_fields else None

        def contact(row: list[str], line: int) -> Contact | None:
            numbers: list[str] = []
            kinds: list[tuple[str, ...]] = []  # each number's types
            for i, label, types in cells:
                value = row[i]
                if value:
                    if label is not None:
                        types = label_types(row[label])
                    if types is None:
                        continue  # a labelled fax or pager
                    if MULTI in value:
                        _add_numbers(numbers, kinds, value, types)
                    else:
                        value = value.strip()
                        if value:
                            numbers.append(unquote(value) if value[0] == "'" else value)
                            kinds.append(types)
            if one_display is not None:
                fn = row[one_display].strip()
            elif display:
                fn = " ".join([row[i].strip() for i in display if row[i].strip()])
            else:
                fn = ""
            name = fn  # the display name, when the row has one
            if fn[:1] == "'":
                fn = unquote(fn)
                name = fn.strip()  # a neutralised tab or CR may lead
            if take is not None and name and take(line, name, numbers):
                return None
            n: tuple[str, ...] = ()
            if parts:
                # one column per part (the usual case): a missing part reads the empty last cell
                n = (
                    row[family].strip(),
                    row[given].strip(),
                    row[middle].strip(),
                    row[prefix].strip(),
                    row[suffix].strip(),
                )
            elif name_parts:
                n = tuple(
                    " ".join([row[i].strip() for i in cols if row[i].strip()])
                    for cols in name_parts
                )
            if n:
                joined = "".join(n)
                if not joined:
                    n = ()
                elif "'" in joined:
                    n = tuple(unquote(part) for part in n)
            if (
                take is not None
                and not name  # else offered above
                and (numbers or n or any(row))  # a row, not empty cells
                and take(line, display_name(fn, n), numbers)
            ):
                return None
            fields = () if fields_of is None else fields_of(row)
            if not (numbers or fn or n or fields or any(row)):
                return None
            phones = tuple(map(new_phone, numbers, kinds))
            return new_contact(source, line, fn, n, None, phones, fields, None)

        return contact

    def _fields(self, row: list[str]) -> tuple[Field, ...]:
        fields: list[Field] = []
        for i, label in self.emails:
            value = row[i].strip()
            if value:
                types = () if label is None else (_label_types(row[label]) or ())
                for part in value.split(MULTI) if MULTI in value else (value,):
                    part = part.strip()
                    if part:
                        fields.append(Field("EMAIL", unquote(part), types))
        for name_col, dept_col in self.orgs:
            org = unquote(row[name_col].strip())
            dept = unquote(row[dept_col].strip())
            if org or dept:
                fields.append(Field("ORG", (org, dept) if dept else (org,)))
        for i in self.titles:
            value = row[i].strip()
            if value:
                fields.append(Field("TITLE", unquote(value)))
        for i in self.notes:
            value = row[i].strip()
            if value:
                # a multi-line note reads the same whether the file had CRLF or LF line ends
                fields.append(Field("NOTE", unquote(value.replace("\r\n", "\n"))))
        return tuple(fields)


def _add_numbers(
    numbers: list[str], kinds: list[tuple[str, ...]], value: str, types: tuple[str, ...]
) -> None:
    """The values of a cell holding several (Google's " ::: "), each with ``types``."""
    for part in value.split(MULTI) if MULTI in value else (value,):
        part = part.strip()
        if part:
            numbers.append(unquote(part) if part[0] == "'" else part)
            kinds.append(types)


