"""A CSV or JSONL ledger file read at C speed, aggregated per statement as it is read.

``ledger.records`` yields one ``EvidenceRecord`` per row; a million rows make a million
objects that ``Evidence`` then merges per key set. This module reads the same file into what
that merging ends with, and no object per row on the way:

- the file is read in blocks of 64 KiB of whole lines, each decoded at once; a block
  without quotes, CRs or blank lines whose lines all hold the header's number of cells is
  cut into its columns by ``str.split`` (exactly what ``csv.reader`` reads of it), any other
  goes to ``csv.reader`` (or is split into lines for ``json.loads``) through ``io.StringIO``,
  so lines are cut exactly where the line reader cuts them (at ``\\n`` only);
- a block's rows are aggregated under their *spelling* of their keys (the phone cell as
  written, or the tuple of key cells): earliest first-times, latest last-times, the row's
  line; a block's numbers go into the table with one ``dict.update`` (when a key repeats,
  the file is read again from the start, merging key by key);
- a time column whose set cells all have one of the shapes machines write is parsed by one
  C call per cell (``datetime.fromisoformat``; a date once per distinct day; a UTC offset
  subtracted once per distinct offset; ``evidence.bulktimes``); any other cell through
  ``timeparse.parse_timestamp``;
- only at the end is each distinct spelling turned into canonical keys, once: a plain
  "+digits" by ``phones.plain_number``, anything else through the row reader ``ledger.row_record``
  and ``identity.record_keys``, exactly as a record of that row would be.

The fast reading is only trusted for a file it reads entirely. Whatever it is not sure of — a
bad value, a malformed row, a line too long, text that is not UTF-8 — makes ``read`` return
None, and the caller reads the file again with the reference reader (``ledger.records``),
which names the file and line of the problem. So every error message is the reference's, and
the statements are the reference's: ``tests/test_ledger_bulk.py`` holds the two together.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from itertools import chain, compress, islice, repeat
from operator import add, getitem, gt, itemgetter, lt, not_
from typing import IO, Any, cast

from .._gc import collector_paused
from .._text import shown_path
from ..errors import EvidenceError
from ..model import EvidenceEntry, EvidenceRecord, evidence_entries
from ..phones import plain_number
from . import ledger
from .bulktimes import NEVER, cell_time, time_column
from .identity import Key, bsuid_key, lid_key, name_key, record_keys, username_key

__all__ = ["Batch", "Listed", "PlainRow", "Sources", "merge_listed", "merge_plain", "read",
           "source_texts"]

# Where a compact statement comes from: a line of a file read in bulk as one int (the
# file's number above ``_LINE_BITS``, the line below: made into "file:line" only when a
# statement is resolved, not for each of a million rows), or a tuple of such ints and of
# source texts ("file:line", as records name theirs).
Sources = int | tuple[int | str, ...]
# The compact statement of one number seen alone: (first inbound, first outbound, last
# inbound, opted out, number left, sources). ``Evidence`` keeps phone-only statements so.
PlainRow = tuple[
    datetime | None, datetime | None, datetime | None, datetime | None,
    datetime | None, Sources,
]
# Numbers alone kept as columns (``read(listed=True)``): the numbers, each distinct, and the
# columns of their rows: first inbound, first outbound, last inbound, opted out, source code.
Listed = tuple[list[str], list[Sequence[Any]]]
_LINE_BITS = 40
_LINE_MASK = (1 << _LINE_BITS) - 1
_FILE_NUMBERS: dict[str, int] = {}  # shown file name → its number (one per file read)
_FILE_NAMES: list[str] = []


def _file_base(name: str) -> int:
    """The code of line 0 of the file shown as ``name`` (the same file, the same codes)."""
    number = _FILE_NUMBERS.get(name)
    if number is None:
        number = _FILE_NUMBERS.setdefault(name, len(_FILE_NAMES))
        if number == len(_FILE_NAMES):
            _FILE_NAMES.append(name)
    return number << _LINE_BITS


def source_texts(sources: Sources) -> tuple[str, ...]:
    """The sources as records name them ("file:line")."""
    if isinstance(sources, int):
        return (f"{_FILE_NAMES[sources >> _LINE_BITS]}:{sources & _LINE_MASK}",)
    names = _FILE_NAMES
    return tuple(s if isinstance(s, str) else f"{names[s >> _LINE_BITS]}:{s & _LINE_MASK}"
                 for s in sources)


def _as_tuple(sources: Sources) -> tuple[int | str, ...]:
    return (sources,) if isinstance(sources, int) else sources


def _line_of(sources: Sources) -> int:
    """The line of the first of ``sources`` (of one file read in bulk)."""
    return _source_line(_as_tuple(sources)[0])


def _source_line(source: int | str) -> int:
    return source & _LINE_MASK if isinstance(source, int) else int(source.rpartition(":")[2])

_KEY_COLUMNS = ("phone", "name", "user_id", "parent_user_id", "username", "lid")


class Batch:
    """One ledger file's statements: ``plain`` (a number alone, "+digits" → ``PlainRow``)
    and ``general`` (every other key set → entry), both in order of first appearance, and how
    many ``rows`` (records) the file held."""

    __slots__ = ("general", "listed", "plain", "rows")

    def __init__(self) -> None:
        self.rows = 0
        self.plain: dict[str, PlainRow] = {}
        self.general: dict[tuple[Key, ...], EvidenceEntry] = {}
        # ``read(listed=True)``: the numbers alone as columns when each is distinct and
        # plain (``plain`` then empty), for a writer that wants columns, not a table
        self.listed: Listed | None = None


class _Unsure(Exception):
    """The fast reading leaves the file to the reference reading."""


class _Repeated(Exception):
    """A key repeats: the fast reading starts again, carefully (``_State.careful``)."""


def read(path: str, source: str, printable: Callable[[EvidenceRecord], EvidenceRecord],
         *, jsonl: bool | None = None, listed: bool = False) -> Batch | None:
    """The statements of the ledger file at ``path`` (named ``source``), or None when the
    reference reader must read it (module docstring). ``printable`` is applied to each record
    the reference would yield (``evidence._printable``). ``jsonl``: read as JSONL (True) or
    CSV (False), as the sniffed kind says; None tells them apart as ``ledger.records`` does
    (by the first non-blank line). ``listed``: the numbers alone as columns where possible
    (``Batch.listed``), for a writer: no table of them is built."""
    # a million containers that live to the end: collecting them is pure cost
    try:
        with collector_paused(), open(path, "rb") as stream:  # noqa: PTH123 - a file
            try:
                return _read(stream, source, printable, jsonl, careful=False, listed=listed)
            except _Repeated:  # read again from the start, a key at a time where it repeats
                stream.seek(0)
                return _read(stream, source, printable, jsonl, careful=True, listed=listed)
    except (_Unsure, EvidenceError, csv.Error, UnicodeDecodeError, RecursionError,
            ValueError, OverflowError, OSError, IndexError, KeyError, TypeError):
        return None


def _read(stream: IO[bytes], source: str,
          printable: Callable[[EvidenceRecord], EvidenceRecord], jsonl: bool | None,
          *, careful: bool, listed: bool) -> Batch:
    texts = _texts(stream)
    skipped, header, rest = _header(texts)
    state = _State(source, careful=careful, listed=listed)
    if header is None:
        return _finish(state, 0, printable, _KEY_COLUMNS)
    if jsonl if jsonl is not None else header.lstrip().startswith("{"):
        lines = chain([header], io.StringIO(rest, newline="\n"),
                      chain.from_iterable(io.StringIO(t, newline="\n") for t in texts))
        rows = _jsonl(lines, skipped, state)
        return _finish(state, rows, printable, _KEY_COLUMNS)
    reader = _Csv(header, skipped + 1, state)
    rows = reader.read(chain([rest], texts))
    return _finish(state, rows, printable, reader.cell_names)


def _texts(stream: IO[bytes]) -> Iterator[str]:
    """The stream as blocks of whole lines, each decoded at once (BOM removed from the first);
    ``_Unsure`` for a line longer than ``ledger.MAX_LINE`` or bytes that are not UTF-8."""
    limit = ledger.MAX_LINE
    carry = b""
    first = True
    while True:
        data = stream.read(_BLOCK)
        block = carry + data if carry else data
        if not data:
            if not block:
                return
            cut = len(block)
        else:
            cut = block.rfind(b"\n") + 1
        if cut == 0 or block.find(b"\n", 0, cut) >= limit - 1 or (not data and cut >= limit):
            if cut == 0 and len(block) < limit:
                carry = block
                continue
            raise _Unsure  # a line too long: the reference says which
        carry = block[cut:]
        text = block[:cut].decode("utf-8")  # UnicodeDecodeError: the reference says where
        if first:
            text = text.removeprefix(ledger.BOM)
            first = False
        yield text
        if not data:
            return


def _header(texts: Iterator[str]) -> tuple[int, str | None, str]:
    """(blank lines skipped, the first non-blank line or None, the rest of its block)."""
    skipped = 0
    for text in texts:
        lines = io.StringIO(text, newline="\n")
        for line in lines:
            if line.strip():
                return skipped, line, lines.read()
            skipped += 1
    return skipped, None, ""


class _State:
    """What the reading has aggregated: ``plain`` under each "+"-prefixed phone spelling,
    ``other`` under each spelling of several key cells (or a whole record's keys)."""

    def __init__(self, source: str, *, careful: bool, listed: bool = False) -> None:
        self.source = source
        # False: a block's rows go into a table with one ``dict.update``, which must grow
        # the table by one entry a row (else ``_Repeated``: a key repeats, the rows it
        # overwrote are lost); True: repeated keys are looked for and merged
        self.careful = careful
        self.name = shown_path(source)
        self.base = _file_base(self.name)
        self.plain: dict[str, PlainRow] = {}
        self.other: dict[Any, PlainRow] = {}
        self.unchecked = False  # plain holds spellings not yet checked by plain_number
        self.whole = False  # other holds a whole record's keys (``record``)
        # listed: each block's numbers alone kept as (phones, columns) instead of in
        # ``plain``, until a row must go to ``plain`` one at a time (``unlist``)
        self.listed: list[tuple[Sequence[str], list[Sequence[Any]]]] | None = (
            [] if listed else None)

    def unlist(self) -> None:
        """The blocks kept as columns into ``plain``, in their order; none kept from now on."""
        blocks, self.listed = self.listed, None
        for phones, columns in blocks or ():
            merge_listed(self.plain, phones, columns)

    def put(self, table: dict[Any, PlainRow], key: Any, first_in: datetime | None,
            first_out: datetime | None, last_in: datetime | None, opted: datetime | None,
            line: int) -> None:
        if first_in is not None and (last_in is None or first_in > last_in):
            last_in = first_in  # as EvidenceEntry.from_record
        if line > _LINE_MASK:
            raise _Unsure
        row = (first_in, first_out, last_in, opted, None, self.base + line)
        seen = table.setdefault(key, row)
        if seen is not row:
            table[key] = merge_plain(seen, row)

    def record(self, record: EvidenceRecord, line: int) -> None:
        """A whole record from the row reader, aggregated under ``("record", keys…)``."""
        self.whole = True
        key = ("record", record.phone, record.name, record.user_id, record.parent_user_id,
               record.username, record.lid)
        self.put(self.other, key, record.first_inbound_at, record.first_outbound_at,
                 record.last_inbound_at, record.opted_out_at, line)


_BLOCK = 64 * 1024  # bytes read at a time (at most ledger.MAX_LINE: see _texts); a block's
# rows and columns stay in the processor's cache: 1 MiB blocks read 20% slower
class _Csv:
    """The rows of a CSV ledger after its header, block by block."""

    def __init__(self, header: str, header_lineno: int, state: _State) -> None:
        delimiter, names = ledger.pick_delimiter(header)
        if any(column not in names for column in ledger.REQUIRED_COLUMNS) or any(
            names.count(name) > 1 for name in names if name in ledger.KNOWN_COLUMNS
        ):
            raise _Unsure  # the reference says what is wrong with the header
        self.state = state
        self.delimiter = delimiter
        self.width = width = len(names)
        self.next_line = header_lineno + 1
        self.index = index = {
            name: names.index(name) for name in ledger.KNOWN_COLUMNS if name in names}
        # a time column the header does not name reads the empty padding after the row
        self.times = [index.get(column, width + k)
                      for k, column in enumerate(ledger.TIME_COLUMNS)]
        self.padding = ([""] * len(ledger.TIME_COLUMNS)
                        if any(c not in index for c in ledger.TIME_COLUMNS) else [])
        self.i_phone = index["phone"]
        self.others = [index[c] for c in _KEY_COLUMNS[1:] if c in index]
        self.cell_names = [c for c in _KEY_COLUMNS if c in index]
        self.key_cells = itemgetter(*(index[c] for c in self.cell_names))
        self.key_index = [index[c] for c in self.cell_names]

    def read(self, texts: Iterator[str]) -> int:
        """Every row of the blocks; the number of rows (records)."""
        rows = 0
        for text in texts:
            if '"' in text:  # a quoted field may hold a line break: read the rest row by row
                return rows + self._stream(chain([text], texts))
            rows += self._block(text)
        return rows

    def _block(self, text: str) -> int:
        """One block without quotes: one row per line, read column by column."""
        first = self.next_line
        columns = self._split(text)
        if columns is None:
            rows = list(csv.reader(io.StringIO(text, newline="\n"), delimiter=self.delimiter))
            self.next_line += len(rows)
            if not rows:
                return 0
            if set(map(len, rows)) != {self.width}:
                return self._rows(enumerate(rows, first))  # blank, short or long rows
            columns = list(zip(*rows, strict=True))
        count = len(columns[0])
        self.next_line = first + count
        new = self._statements(columns, first, count)  # first in, out, last in, opted, code
        phones: Sequence[str] = columns[self.i_phone]
        others = self.others
        if others:
            cells: Iterable[str] = columns[others[0]]
            for i in others[1:]:
                cells = map(add, cells, columns[i])  # empty only where both are
            marks = list(map(bool, cells))
            if any(marks):  # rows with other keys, aggregated under their key cells
                keys = zip(*(compress(columns[i], marks) for i in self.key_index), strict=True)
                self._merge(self.state.other, list(keys), _rows_of(
                    [list(compress(column, marks)) for column in new]))
                keep = list(map(not_, marks))
                new = [list(compress(column, keep)) for column in new]
                if not new[0]:
                    return count
                phones = list(compress(phones, keep))
        if not _all_plain(phones):
            if not all(phones):
                raise _Unsure  # a row without keys, or with other keys only as spaces
            if max(phones)[:1] != "+":  # some wa_ids (a spelling sorting before "+" is odd)
                phones = [_plus(p) for p in phones]
            if not _all_plain(phones) and not all(map(plain_number, phones)):
                self.state.unchecked = True
        if self.state.listed is not None:
            self.state.listed.append((phones, new))
        else:
            self._merge(self.state.plain, phones, _rows_of(new))
        return count

    def _split(self, text: str) -> list[Sequence[str]] | None:
        """The columns of a block without quotes, cut at C speed: exactly what ``csv.reader``
        reads of it when every line holds the header's number of cells and there is no
        blank line and no carriage return (None otherwise: ``csv.reader`` reads it)."""
        if (not text or text[0] == "\n" or "\n\n" in text or "\r" in text
                or len(text) > csv.field_size_limit()):  # a longer field is csv's error
            return None
        width, delimiter = self.width, self.delimiter
        body = text[:-1] if text[-1] == "\n" else text
        count = body.count("\n") + 1
        # each line break now closes the last cell of its line: those cells are every
        # ``width``-th one exactly when each line has ``width`` cells
        cells = body.replace("\n", "\n" + delimiter).split(delimiter)
        last = "".join(cells[width - 1::width])
        if len(cells) != count * width or last.count("\n") != count - 1:
            return None
        columns: list[Sequence[str]] = [cells[i::width] for i in range(width - 1)]
        columns.append(last.split("\n"))
        return columns

    def _statements(self, columns: list[Sequence[str]], first: int,
                    count: int) -> list[Sequence[Any]]:
        """The compact statements of the rows of ``columns`` (the header's width), whose first
        is line ``first``, as columns: first inbound, first outbound, last inbound, opted out
        and the source code of each (``_rows_of`` makes them rows)."""
        absent: list[datetime | None] = [None] * count
        ins, outs, opts = (time_column(columns[i]) if i < self.width else absent
                           for i in (self.times[0], self.times[1], self.times[3]))
        # the last inbound time is never earlier than the first (as EvidenceEntry.from_record)
        i_last = self.times[2]
        lasts: list[datetime | None]
        if i_last >= self.width:
            lasts = ins
        elif None in ins:
            lasts = [a if b is None or (a is not None and a > b) else b
                     for a, b in zip(ins, time_column(columns[i_last]), strict=True)]
        else:
            later = time_column(columns[i_last], NEVER)
            lasts = (  # at C speed: (later, first)[first > later]
                list(map(getitem, zip(later, ins, strict=True),
                         map(gt, cast("list[datetime]", ins), cast("list[datetime]", later))))
                if None not in later
                else [a if b is None or a > b else b  # type: ignore[operator]
                      for a, b in zip(ins, later, strict=True)])  # a cell of spaces
        if first + count - 1 > _LINE_MASK:
            raise _Unsure  # the reference reading names such lines
        start = self.state.base + first
        return [ins, outs, lasts, opts, range(start, start + count)]

    def _merge(self, table: dict[Any, PlainRow], keys: Sequence[Any],
               new: list[PlainRow]) -> None:
        """Aggregate the statements ``new`` under ``keys`` (one each) into ``table``."""
        before = len(table)
        if not self.state.careful:
            table.update(zip(keys, new, strict=True))
            if len(table) - before != len(keys):
                raise _Repeated
            return
        if table.keys().isdisjoint(keys):
            table.update(zip(keys, new, strict=True))
            if len(table) - before == len(keys):
                return
            # a key seen twice in the block: its later rows overwrote the first; merged again
            again = {key for key, seen in Counter(keys).items() if seen > 1}
            firsts: set[Any] = set()
            for key, row in zip(keys, new, strict=True):
                if key in again:
                    if key in firsts:
                        table[key] = merge_plain(table[key], row)
                    else:
                        firsts.add(key)
                        table[key] = row
            return
        _merge_rows(table, keys, new)  # a key seen in an earlier block: one at a time

    def _stream(self, texts: Iterator[str]) -> int:
        """The rest of the file row by row (it has quotes)."""
        reader = csv.reader(chain.from_iterable(io.StringIO(t, newline="\n") for t in texts),
                            delimiter=self.delimiter)
        first = self.next_line
        rows = self._rows(enumerate(reader, first))
        if reader.line_num != self.next_line - first:
            raise _Unsure  # a row spans lines: the reference reading counts them
        return rows

    def _rows(self, numbered: Iterable[tuple[int, list[str]]]) -> int:
        """Rows one by one; the number of rows (blank ones not counted)."""
        self.state.unlist()  # rows kept as columns come first in ``plain``
        state, width, padding = self.state, self.width, self.padding
        i_phone, others, key_cells = self.i_phone, self.others, self.key_cells
        i_in, i_out, i_last, i_opt = self.times
        plain, other = state.plain, state.other
        when, put = cell_time, state.put
        state.unchecked = True
        rows = 0
        line = self.next_line - 1
        for line, row in numbered:
            if len(row) != width or (not row[i_phone] and not any(row[i] for i in others)):
                if any(cell.strip() for cell in row):
                    values = {c: row[i] for c, i in self.index.items() if i < len(row)}
                    state.record(ledger.row_record(values, state.source, line), line)
                    rows += 1
                continue
            rows += 1
            if padding:
                row = row + padding
            table: dict[Any, PlainRow]
            if any(row[i] for i in others):
                key: Any = key_cells(row)
                if type(key) is str:
                    key = (key,)
                table = other
            else:
                key = _plus(row[i_phone])
                table = plain
            text = row[i_in]
            first_in = when(text) if text else None
            text = row[i_out]
            first_out = when(text) if text else None
            text = row[i_last]
            last_in = when(text) if text else None
            text = row[i_opt]
            opted = when(text) if text else None
            put(table, key, first_in, first_out, last_in, opted, line)
        self.next_line = max(self.next_line, line + 1)
        return rows


def _distinct(numbers: list[str]) -> bool:
    """Whether no number repeats (at once when they come in order)."""
    return all(map(lt, numbers, islice(numbers, 1, None))) or len(set(numbers)) == len(numbers)


def _rows_of(columns: Sequence[Sequence[Any]]) -> list[PlainRow]:
    """Columns of statements (first inbound, first outbound, last inbound, opted out, source
    code) as compact rows."""
    ins, outs, lasts, opts, codes = columns
    return list(zip(ins, outs, lasts, opts, repeat(None), codes, strict=False))  # (repeat)


def merge_listed(plain: dict[str, PlainRow], numbers: Sequence[str],
                 columns: Sequence[Sequence[Any]]) -> None:
    """Rows of numbers alone kept as columns merged into ``plain`` in their order, as the
    rows one at a time would be."""
    _merge_rows(plain, numbers, _rows_of(columns))


def _merge_rows(table: dict[Any, PlainRow], keys: Sequence[Any],
                rows: Sequence[PlainRow]) -> None:
    """Each row merged into ``table`` under its key, one at a time, in order."""
    for key, row in zip(keys, rows, strict=True):
        seen = table.setdefault(key, row)
        if seen is not row:
            table[key] = merge_plain(seen, row)


def _plain_shapes() -> tuple[frozenset[int], frozenset[str]]:
    """The lengths and the first three digits of the "+digits" that ``plain_number`` keeps,
    asked of it once (it decides a spelling's length and first digits apart)."""
    sizes = frozenset(n for n in range(3, 40) if plain_number("+1" + "2" * (n - 2)))
    size = min(sizes)
    heads = frozenset(head for head in (f"{i:03d}" for i in range(1000))
                      if plain_number("+" + head + "2" * (size - 4)))
    return sizes, heads


_PLAIN_SIZES, _PLAIN_HEADS = _plain_shapes()
_HEAD = itemgetter(slice(1, 4))


def _all_plain(phones: Sequence[str]) -> bool:
    """True only when ``plain_number`` keeps every one of ``phones``, told for the whole
    column at C speed (False: ask ``plain_number`` of each)."""
    count = len(phones)
    try:
        joined = "\n".join(phones).encode("ascii")
    except UnicodeEncodeError:
        return False
    # "+" then ASCII digits, each
    if not (joined[:1] == b"+" and joined.count(b"+") == count
            and joined.count(b"\n+") == count - 1 == joined.count(b"\n")
            and not joined.translate(None, b"0123456789+\n")):
        return False
    size = len(phones[0])
    step = size + 1
    if len(joined) == step * count - 1 and joined[size::step] == b"\n" * (count - 1):
        if size not in _PLAIN_SIZES:  # all of one length
            return False
        digits = joined[1::step], joined[2::step], joined[3::step]
        if all(column.count(column[:1]) == count for column in digits):
            return _HEAD(phones[0]) in _PLAIN_HEADS  # all with the same first three digits
    return (set(map(len, phones)) <= _PLAIN_SIZES
            and set(map(_HEAD, phones)) <= _PLAIN_HEADS)


def _plus(phone: str) -> str:
    """A wa_id (ASCII digits) with its "+"; any other spelling as it is."""
    return "+" + phone if phone[:1] != "+" and phone.isdigit() and phone.isascii() else phone


def _jsonl(lines: Iterator[str], offset: int, state: _State) -> int:
    """Aggregate the JSONL rows; the number of rows."""
    loads = json.loads
    count_ends = ledger.KEY_END.findall
    state.unlist()  # (nothing is kept as columns from JSONL)
    when, put, plain, other = cell_time, state.put, state.plain, state.other
    state.unchecked = True
    rows = 0
    for lineno, text in enumerate(lines, start=offset + 1):
        if not text.strip():
            continue
        rows += 1
        value = loads(text)  # ValueError: the reference says what is wrong
        if type(value) is not dict or len(count_ends(text)) != len(value):
            raise _Unsure  # not an object, or perhaps a key named twice: the reference decides
        phone = value.get("phone")
        cells = (phone, value.get("name"), value.get("user_id"), value.get("parent_user_id"),
                 value.get("username"), value.get("lid"))
        times = (value.get("first_inbound_at"), value.get("first_outbound_at"),
                 value.get("last_inbound_at"), value.get("opted_out_at"))
        if type(phone) is not str or not phone or any(
                cell is not None and type(cell) is not str for cell in (*cells, *times)):
            state.record(ledger.row_record(value, state.source, lineno), lineno)
            continue
        first_in, first_out, last_in, opted = (when(t) if t else None for t in times)
        if any(cells[1:]):
            put(other, cells, first_in, first_out, last_in, opted, lineno)
        else:
            put(plain, _plus(phone), first_in, first_out, last_in, opted, lineno)
    return rows


def _finish(state: _State, rows: int,
            printable: Callable[[EvidenceRecord], EvidenceRecord],
            cell_names: Sequence[str]) -> Batch:
    """Each distinct key spelling to its canonical keys, once (``phones.plain_number`` for
    "+digits"; anything else through the row reader and ``record_keys``); statements of one
    key set fed by several spellings merged with their lines in order, as the records of
    those lines would merge."""
    batch = Batch()
    batch.rows = rows
    listed: Listed | None = None
    if state.listed is not None:  # kept as columns if each number is distinct and plain
        blocks, state.listed = state.listed, None
        numbers = list(chain.from_iterable(phones for phones, _columns in blocks))
        columns: list[Sequence[Any]] = [
            list(chain.from_iterable(block[i] for _phones, block in blocks)) for i in range(5)]
        if state.unchecked or not _distinct(numbers):
            merge_listed(state.plain, numbers, columns)
        else:
            listed = (numbers, columns)
    plain = state.plain
    odd = [number for number in plain if not plain_number(number)] if state.unchecked else []
    moved: list[tuple[tuple[Key, ...], PlainRow]] = []
    if odd:  # rare: rebuilt in order, each odd spelling under its canonical keys
        rebuilt: dict[str, PlainRow] = {}
        wanted = set(odd)
        for number, row in plain.items():
            if number in wanted:
                keys = _keys(number, state.source, row, printable, cell_names)
                if len(keys) != 1 or keys[0].kind != "phone":
                    moved.append((keys, row))
                    continue
                number = keys[0].value
            _put_sorted(rebuilt, number, row)
        plain = rebuilt
    batch.plain = plain
    general = batch.general
    others = list(state.other.items())
    spelled = [key for key, _row in others]
    # (every key of ``other`` is a tuple of key cells, or of a record's keys: ``whole``)
    known = (_spelled_keys(spelled, cell_names) if spelled and not state.whole
             else [None] * len(spelled))
    if not moved and others and all(known) and _entries_at_once(batch, known, others):
        batch.listed = listed
        return batch
    if listed is not None and others:  # a row with other keys may turn out a number alone
        merge_listed(plain, *listed)
        listed = None
    batch.listed = listed
    for (key, row), cells in zip(others, known, strict=True):
        # a cell the columns could not tell, or no key: the keys of the row's own record
        moved.append((cells or _keys(key, state.source, row, printable, cell_names), row))
    late = False  # a number alone that a row read whole brought: out of line order
    for keys, row in moved:
        if len(keys) == 1 and keys[0].kind == "phone":
            _put_sorted(plain, keys[0].value, row)
            late = True
            continue
        first_in, first_out, last_in, opted, _left, sources = row
        entry = EvidenceEntry(first_in, first_out, last_in, opted, source_texts(sources))
        old = general.setdefault(keys, entry)
        if old is not entry:
            merged = old.merge(entry)
            general[keys] = EvidenceEntry(
                merged.first_inbound_at, merged.first_outbound_at, merged.last_inbound_at,
                merged.opted_out_at, _by_line(merged.sources))
    if late:  # in the order of first appearance, as the records would have come
        batch.plain = dict(sorted(plain.items(), key=_first_line))
    return batch


def _entries_at_once(batch: Batch, known: Sequence[tuple[Key, ...] | None],
                     others: list[tuple[Any, PlainRow]]) -> bool:
    """Put the statements of rows with other keys (``others``, whose keys are ``known``)
    into ``batch.general`` at C speed when each key set is new and not a number alone, and
    every source a line of this file; False (``batch.general`` left empty) otherwise."""
    keys = cast("list[tuple[Key, ...]]", known)
    sizes = list(map(len, keys))
    if 1 in sizes and any(key[0].kind == "phone"
                          for key in compress(keys, map((1).__eq__, sizes))):
        return False  # a number alone: it goes to ``plain``
    first_in, first_out, last_in, opted, _left, sources = zip(*map(itemgetter(1), others),
                                                               strict=True)
    texts = _line_texts(sources)
    if texts is None:
        return False
    general = batch.general
    general.update(zip(keys, evidence_entries(first_in, first_out, last_in, opted, texts),
                       strict=True))
    if len(general) == len(keys):
        return True
    general.clear()  # two spellings of one key set: merged one by one
    return False


def _line_texts(sources: Sequence[Sources]) -> list[tuple[str]] | None:
    """``source_texts`` of each of ``sources`` when all are lines of one file (at C speed),
    else None."""
    if not sources or set(map(type, sources)) != {int}:
        return None
    lines = cast("Sequence[int]", sources)
    number = min(lines) >> _LINE_BITS
    if max(lines) >> _LINE_BITS != number:
        return None
    name, mask = _FILE_NAMES[number], _LINE_MASK
    return [(f"{name}:{line & mask}",) for line in lines]


def _first_line(item: tuple[str, PlainRow]) -> int:
    return _line_of(item[1][5])


def _put_sorted(plain: dict[str, PlainRow], number: str, row: PlainRow) -> None:
    old = plain.setdefault(number, row)
    if old is not row:
        *times, sources = merge_plain(old, row)
        # codes of one file: in the order of their lines
        plain[number] = (  # type: ignore[assignment]
            *times, tuple(sorted(_as_tuple(sources), key=_source_line)))


def _keys(key: Any, source: str, row: PlainRow,
          printable: Callable[[EvidenceRecord], EvidenceRecord],
          cell_names: Sequence[str]) -> tuple[Key, ...]:
    """The canonical keys of one key spelling, as ``record_keys`` gives them for the record of
    its first row (EvidenceError: the reference reading says what is wrong)."""
    if type(key) is tuple and key[0] != "record":
        keys = _cell_keys(key, cell_names)
        if keys is not None:
            return keys
    line = _line_of(row[5])
    if type(key) is str:
        record = ledger.row_record({"phone": key}, source, line)
    elif key[0] == "record":
        record = EvidenceRecord(f"{source}:{line}", phone=key[1], name=key[2], user_id=key[3],
                                parent_user_id=key[4], username=key[5], lid=key[6])
    else:
        record = ledger.row_record(dict(zip(cell_names, key, strict=True)), source, line)
    return record_keys(printable(record))


_MAKERS = {"name": name_key, "user_id": bsuid_key, "parent_user_id": bsuid_key,
           "username": username_key, "lid": lid_key}


def _cell_keys(cells: tuple[str | None, ...], names: Sequence[str]) -> tuple[Key, ...] | None:
    """``record_keys`` of the row reader's record of these key cells, when they are ASCII
    text in the common shapes; None leaves them to the row reader."""
    keys = set()
    for column, cell in zip(names, cells, strict=True):
        if cell is None:
            continue
        key = _cell_key(column, cell)
        if key is _NOT_SURE:
            return None
        if key is not None:
            keys.add(key)
    return tuple(sorted(keys)) if keys else None


def _cell_key(column: str, cell: str) -> Key | None:
    """The key of one key cell (None: none), ``_NOT_SURE`` for a cell the row reader must
    read (not ASCII, or a number in another spelling)."""
    if not cell.isascii():  # perhaps a lone surrogate (JSON "\ud800"): see _printable
        return _NOT_SURE
    text = cell.strip()
    if not text:
        return None
    if column == "phone":
        number = text if text[0] == "+" else "+" + text
        return Key("phone", number) if plain_number(number) else _NOT_SURE
    return _MAKERS[column](text)


_KIND_ORDER = ("user_id", "parent_user_id", "lid", "name", "phone", "username")  # as Key sorts
_NOT_SURE = Key("", "")  # a cell ``_cell_keys`` leaves to the row reader


def _spelled_keys(spelled: list[tuple[str | None, ...]],
                  names: Sequence[str]) -> list[tuple[Key, ...] | None]:
    """``_cell_keys`` of many key spellings at once, column by column: each row's keys in
    the order ``sorted`` gives them (their kinds differ: a row with two user ids, or a cell
    the columns cannot tell, is None, left to ``_keys``)."""
    columns = dict(zip(names, zip(*spelled, strict=True), strict=True))
    made = [_column_keys(column, columns[column]) for column in _KIND_ORDER if column in columns]
    if "user_id" in columns and "parent_user_id" in columns:
        both = [a is not None and b is not None for a, b in zip(made[0], made[1], strict=True)]
        made[:2] = [[a or b for a, b in zip(made[0], made[1], strict=True)]]
    else:
        both = []
    rows: list[tuple[Key, ...]] = list(map(tuple, map(filter, repeat(None),
                                                         zip(*made, strict=True))))
    if not any(both) and not any(_NOT_SURE in column for column in made):
        return list(rows)
    found: list[tuple[Key, ...] | None] = list(rows)
    for index, keys in enumerate(rows):
        if _NOT_SURE in keys or (both and both[index]):
            found[index] = None
    return found


def _column_keys(column: str, cells: Sequence[str | None]) -> list[Key | None]:
    """The key of each cell of one key column (None: no key), as ``_cell_keys`` makes it;
    ``_NOT_SURE`` for a cell it would leave to the row reader. A column of plain numbers or
    of LIDs as machines write them ("digits@lid") at C speed."""
    present = list(filter(None, cells))
    if not present:
        return [None] * len(cells)
    if column == "phone" and _all_plain(present):
        return _made("phone", cells, present)
    if column == "lid":
        count = len(present)
        joined = "\n".join(present)
        if (joined.isascii() and joined.count("\n") == count - 1
                and joined.count("@lid") == count and joined.endswith("@lid")
                and joined.replace("@lid\n", "").removesuffix("@lid").isdigit()
                and set(map(len, present)) <= _LID_SIZES):
            return _made("lid", cells, present)
    # each distinct cell once; an empty one (or None) has no key
    made = {cell: _cell_key(column, cell) for cell in dict.fromkeys(present)}
    return list(map(made.get, cells))  # type: ignore[arg-type]


def _made(kind: str, cells: Sequence[str | None], present: list[str]) -> list[Key | None]:
    """``Key(kind, cell)`` of each set cell (made at C speed), None for the others."""
    keys = map(tuple.__new__, repeat(Key), zip(repeat(kind), present))  # without Key's
    # Python-level __new__
    if len(present) == len(cells):
        return list(keys)
    return [next(keys) if cell else None for cell in cells]


_LID_SIZES = frozenset(range(5 + 4, 20 + 4 + 1))  # lid_key: 5 to 20 digits, then "@lid"


def _by_line(sources: tuple[str, ...]) -> tuple[str, ...]:
    """Sources of one file in the order of their lines (as the rows were read)."""
    return tuple(sorted(sources, key=lambda s: int(s.rpartition(":")[2])))


def merge_plain(old: PlainRow, new: PlainRow) -> PlainRow:
    """``EvidenceEntry.merge`` of two compact statements."""
    a_in, a_out, a_last, a_opt, a_left, a_src = old
    b_in, b_out, b_last, b_opt, b_left, b_src = new
    return (
        a_in if b_in is None or (a_in is not None and a_in <= b_in) else b_in,
        a_out if b_out is None or (a_out is not None and a_out <= b_out) else b_out,
        a_last if b_last is None or (a_last is not None and a_last >= b_last) else b_last,
        a_opt if b_opt is None or (a_opt is not None and a_opt >= b_opt) else b_opt,
        a_left if b_left is None or (a_left is not None and a_left >= b_left) else b_left,
        _joined(a_src, b_src),
    )


def _joined(old: Sources, new: Sources) -> tuple[int | str, ...]:
    """The sources of ``old`` and then those of ``new`` that ``old`` has not."""
    old = _as_tuple(old)
    if isinstance(new, int):
        return old if new in old else (*old, new)
    return old + tuple(s for s in new if s not in old)
