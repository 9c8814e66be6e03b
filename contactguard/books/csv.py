"""CSV address books: Google, Outlook (English and German), Thunderbird, Apple and generic exports.

Reading streams one row at a time. The header is examined once and turned into a ``_Plan`` (which
column holds what); each row then only picks its cells, so a million-row export costs little more
than a bare ``csv.reader`` pass and memory stays flat.

- Encoding: UTF-8 (with or without BOM), UTF-16 LE/BE with BOM (Outlook's "Unicode" export), and
  cp1252 for legacy exports, chosen from the first 64 KiB; decoded incrementally.
- Delimiter: ``,``, ``;`` or tab, sniffed from the header line; Excel's ``sep=;`` line is honoured.
- Columns: Google's numbered ``Phone 1 - Value`` with its ``Phone 1 - Type``/``- Label`` cell,
  several numbers in one cell joined by `` ::: ``; Outlook's fixed columns in English and German;
  anything else by keywords in the header. ``--phone-column``/``--name-column`` override.

Writing produces a Google-style CSV (UTF-8, CRLF) with cells neutralised against formula injection.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from .._text import csv_cell
from ..errors import InputError
from ..model import Contact, Field, Take, display_name, new_contact, new_phone

if TYPE_CHECKING:
    from . import ReadOptions

__all__ = ["read", "write"]

# Large enough that a legacy export almost always shows a non-ASCII name (or its header, like
# Outlook DE's "Telefon geschäftlich") before we must commit to an encoding.
_HEAD_SIZE = 1 << 16
# Bytes decoded and cut into lines at a time: large enough that the per-block Python work
# vanishes next to the csv module's, small enough that a block is a fraction of a large book.
_BLOCK = 1 << 18
# A physical line longer than this is refused before it is held in memory: a real row of even a
# 10,000-column export is far shorter (the csv module's own cell limit is 128 KiB).
_MAX_LINE = 16 * 1024 * 1024

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),  # the utf-16 codec reads the BOM and drops it
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# str.splitlines ends a line at these too; for the csv module (and readline) they are content.
_OTHER_LINE_ENDS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")

# Google joins several values of one kind in one cell with " ::: " (Google Contacts CSV export).
_MULTI = " ::: "

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
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START_CHARS = "".join(_FORMULA_START)
_E164_LIKE = re.compile(r"\+?[0-9]+")


# ---------------------------------------------------------------------------------------------
# Reading


def read(
    stream: BinaryIO, source: str, options: ReadOptions, take: Take | None = None
) -> Iterator[Contact]:
    """Yield one Contact per non-empty data row, each with the line its row starts on, less
    the rows ``take`` took (see ``read_range``)."""
    text, reader, plan, header = _head(stream, source, options)
    # the line the header row ends on is reader.line_num lines after the skipped ones
    yield from _rows(reader, text, plan, source, header.line - reader.line_num, take)


class Header(NamedTuple):
    """What the head of a CSV file settles for all its rows (``read_range`` takes it)."""

    encoding: str  # of the bytes after the head: no BOM codec
    delimiter: str
    row: list[str]
    line: int  # the line the header row ends on


def read_header(stream: BinaryIO, source: str, options: ReadOptions) -> Header:
    """The header of a CSV file (raises InputError as ``read`` would)."""
    return _head(stream, source, options)[3]


def _head(stream: BinaryIO, source: str, options: ReadOptions) -> tuple[_Text, Any, _Plan, Header]:
    """The decoded stream, a csv reader past the header row, the plan for the rows, and the
    header (raises InputError for a file that has none a plan can be made of)."""
    text = _Text(stream, source)
    # csv.reader counts the physical lines it pulls (line_num): fed one line per item, its
    # count is the exact line number at C speed, with no bookkeeping per row on our side.
    lines = itertools.chain.from_iterable(text.blocks())
    # skipped: blank lines (and Excel's "sep=" line) before the header
    first, skipped, delimiter = _header_line(lines, source)
    reader = csv.reader(itertools.chain((first,), lines), delimiter=delimiter, strict=True)
    try:
        row = next(reader)
    except csv.Error as exc:
        raise _csv_error(exc, source, skipped + 1) from exc
    line = skipped + reader.line_num
    plan = _Plan.from_header(row, options, source, line)
    encoding = "utf-8" if text.encoding == "utf-8-sig" else text.encoding
    return text, reader, plan, Header(encoding, delimiter, row, line)


def read_range(
    stream: BinaryIO, source: str, options: ReadOptions, header: Header, first_line: int,
    take: Take | None = None,
) -> Iterator[Contact]:
    """The contacts of a piece of a CSV file that starts with a whole row on ``first_line``
    (after the header) and ends with one: the parallel pipeline's chunks. A piece cut inside a
    quoted cell raises InputError at its end, as an unterminated quote would.

    ``take(line, display name, numbers as written)`` is offered each row of the header's
    width: a row it returns True for is not yielded, and no Contact is built for it."""
    text = _Text(stream, source, header.encoding, first_line)
    reader = csv.reader(
        itertools.chain.from_iterable(text.blocks()), delimiter=header.delimiter, strict=True
    )
    plan = _Plan.from_header(header.row, options, source, header.line)
    yield from _rows(reader, text, plan, source, first_line - 1, take)


def _rows(
    reader: Any, text: _Text, plan: _Plan, source: str, base: int, take: Take | None = None
) -> Iterator[Contact]:
    """The data rows of ``reader`` (line ``base + reader.line_num`` is the one a row ends on)."""
    last = base + reader.line_num  # the line the previous row ended on
    columns = plan.width - 1
    make = plan.reader(source)
    make_or_take = plan.reader(source, take) if take is not None else make
    try:
        for row in reader:
            line = last + 1
            last = base + reader.line_num
            if text.nul and any("\x00" in cell for cell in row):
                raise InputError(
                    "contains a NUL byte: this is not a text CSV file "
                    "(was it saved as UTF-16 without a byte-order mark?)",
                    file=source,
                    line=line,
                )
            if len(row) == columns:
                row.append("")  # the empty cell that stands for a missing column
                contact = make_or_take(row, line)
                if contact is not None:  # None: a row of empty cells, or taken
                    yield contact
            elif any(row):
                # a short row reads its missing cells as empty; cells beyond the header are
                # nobody's, but the row is still a contact (reported, not silently dropped)
                del row[columns:]
                row.extend([""] * (plan.width - len(row)))
                yield make(row, line) or Contact(source, line)
    except csv.Error as exc:
        raise _csv_error(exc, source, last + 1) from exc


def _csv_error(exc: csv.Error, source: str, line: int) -> InputError:
    if "unexpected end of data" in str(exc) or "field larger" in str(exc):
        message = (
            "a quoted cell in the row starting here is never closed (unterminated quote), "
            f"or a cell is longer than {csv.field_size_limit():,} characters"
        )
    else:
        message = f"malformed CSV row ({exc})"
    return InputError(message, file=source, line=line)


class _Text:
    """The stream decoded in large blocks and cut into physical lines (as ``readline`` with
    ``newline=""`` cuts them: at CR, LF and CRLF), which is what the csv module is fed.

    Notes whether a NUL character went past and counts the lines handed out, so that a decoding
    error or an overlong line names its exact line.
    """

    def __init__(
        self, stream: BinaryIO, source: str, encoding: str | None = None, first_line: int = 1
    ) -> None:
        self._head = stream.read(_HEAD_SIZE)
        self._read = getattr(stream, "read1", stream.read)
        self._source = source
        self.encoding = encoding or _encoding(self._head)
        self.nul = False  # a U+0000 was decoded: rows are checked for it from now on
        self._handed = first_line - 1  # lines handed out so far (and before the first)

    def blocks(self) -> Iterator[list[str]]:
        """Lists of whole lines; the last line of the input may lack its line end."""
        decoder = codecs.getincrementaldecoder(self.encoding)()
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
                if pending_size >= _MAX_LINE:
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
                if len(complete) >= _MAX_LINE:  # only with a very long line
                    for number, line in enumerate(lines, self._handed + 1):
                        if len(line.rstrip("\r\n")) >= _MAX_LINE:
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
        # content for the csv module; StringIO(newline="") cuts at CR, LF and CRLF only.
        if any(end in text for end in _OTHER_LINE_ENDS):
            return list(io.StringIO(text, newline=""))
        return text.splitlines(keepends=True)

    def _too_long(self, line: int) -> InputError:
        return InputError(
            f"line longer than {_MAX_LINE:,} characters: not an address book row",
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


def _encoding(head: bytes) -> str:
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


def _header_line(lines: Iterator[str], source: str) -> tuple[str, int, str]:
    """The header line, how many lines came before it, and the delimiter it uses."""
    skipped = 0
    line = next(lines, "")
    while line and not line.strip():
        skipped += 1
        line = next(lines, "")
    if not line:
        raise InputError("is empty: no header row and no contacts", file=source)
    # Excel writes and honours a first line "sep=;" naming the delimiter.
    if line.lower().startswith("sep=") and len(line.rstrip("\r\n")) == 5:
        delimiter, line = line[4], next(lines, "")
        if not line.strip():
            raise InputError("has no header row after its 'sep=' line", file=source, line=2)
        return line, skipped + 1, delimiter
    counts = {d: line.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d])  # ties: the first, ","
    return line, skipped, delimiter


def _norm(header: str) -> str:
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


def _unquote(value: str) -> str:
    """A cell as written before formula neutralisation (a leading ' put there by a writer)."""
    if value[:1] == "'" and value[1:2] and value[1] in _FORMULA_START_CHARS:
        return value[1:]
    return value


@dataclass
class _Plan:
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
    ) -> _Plan:
        names = [_norm(h) for h in header]
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
                if all(len(cols) <= 1 for cols in parts):
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
            return index[_norm(wanted)]
        except KeyError:
            raise InputError(
                f"has no column {wanted!r} (check {flag}; the header names: "
                f"{', '.join(repr(h) for h in index)})",
                file=source,
                line=line,
            ) from None

    @staticmethod
    def _no_phone_message(header: Sequence[str]) -> str:
        if any(_E164_LIKE.fullmatch(h.strip().replace(" ", "")) for h in header if h.strip()):
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
                    if _MULTI in value:
                        _add_numbers(numbers, kinds, value, types)
                    else:
                        value = value.strip()
                        if value:
                            numbers.append(_unquote(value) if value[0] == "'" else value)
                            kinds.append(types)
            if one_display is not None:
                fn = row[one_display].strip()
            elif display:
                fn = " ".join([row[i].strip() for i in display if row[i].strip()])
            else:
                fn = ""
            name = fn  # the display name, when the row has one
            if fn[:1] == "'":
                fn = _unquote(fn)
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
                    n = tuple(_unquote(part) for part in n)
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
                for part in value.split(_MULTI) if _MULTI in value else (value,):
                    part = part.strip()
                    if part:
                        fields.append(Field("EMAIL", _unquote(part), types))
        for name_col, dept_col in self.orgs:
            org = _unquote(row[name_col].strip())
            dept = _unquote(row[dept_col].strip())
            if org or dept:
                fields.append(Field("ORG", (org, dept) if dept else (org,)))
        for i in self.titles:
            value = row[i].strip()
            if value:
                fields.append(Field("TITLE", _unquote(value)))
        for i in self.notes:
            value = row[i].strip()
            if value:
                # a multi-line note reads the same whether the file had CRLF or LF line ends
                fields.append(Field("NOTE", _unquote(value.replace("\r\n", "\n"))))
        return tuple(fields)


def _add_numbers(
    numbers: list[str], kinds: list[tuple[str, ...]], value: str, types: tuple[str, ...]
) -> None:
    """The values of a cell holding several (Google's " ::: "), each with ``types``."""
    for part in value.split(_MULTI) if _MULTI in value else (value,):
        part = part.strip()
        if part:
            numbers.append(_unquote(part) if part[0] == "'" else part)
            kinds.append(types)


# ---------------------------------------------------------------------------------------------
# Writing

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
    if cell.startswith(_FORMULA_START):
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
    if _E164_LIKE.fullmatch(number):
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
