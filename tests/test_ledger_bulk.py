"""A CSV/JSONL ledger read in bulk (``evidence.bulk``) against the reference reading: the same
statements, identities, counts and errors; imported into a SQLite ledger, the same decisions."""

from __future__ import annotations

import csv
import io
import json
import pickle
from dataclasses import FrozenInstanceError
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_ledger_fast import NUMBERS, TIMES, csv_ledgers, jsonl_ledgers

from contactguard import fastpaths, timeparse
from contactguard.errors import EvidenceError
from contactguard.evidence import (
    Evidence,
    SourceContext,
    _printable,
    bulk,
    bulktimes,
    gather,
    storewrite,
)
from contactguard.evidence.identity import Identity
from contactguard.evidence.store import Ledger
from contactguard.model import EvidenceEntry, EvidenceRecord, evidence_entries
from contactguard.phones import plain_number
from contactguard.timeparse import parse_timestamp_reference

Error = tuple[str, str | None, int | None]
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def load(path: Path, *, reference: bool) -> tuple[Evidence | None, int, Error | None]:
    """(evidence, records read, error) of one ledger file, fast or in reference mode."""
    evidence = Evidence()
    context = SourceContext(warn=evidence.warnings.append,
                            not_understood=evidence.note_not_understood)
    try:
        with fastpaths.reference(reference):
            count = gather([str(path)], context, evidence)
    except EvidenceError as exc:
        return None, 0, (exc.message, exc.file, exc.line)
    return evidence, count, None


def offsets(entry: EvidenceEntry) -> tuple[object, ...]:
    """The UTC offsets of an entry's times (== alone ignores the zone of aware times)."""
    return tuple(None if t is None else t.utcoffset() for t in (
        entry.first_inbound_at, entry.first_outbound_at, entry.last_inbound_at,
        entry.opted_out_at, entry.number_left_at))


def shown(identities: list[Identity]) -> list[tuple[object, ...]]:
    return [(i.keys, i.entry, offsets(i.entry), i.number, i.numbers, i.name, i.shared)
            for i in identities]


def assert_same(path: Path) -> Evidence | None:
    """The fast reading of ``path`` equals the reference reading in every respect."""
    fast, fast_count, fast_error = load(path, reference=False)
    slow, slow_count, slow_error = load(path, reference=True)
    assert fast_error == slow_error
    if fast is None or slow is None:
        assert fast is None and slow is None
        return None
    assert fast_count == slow_count
    assert [(number, *row[:5], bulk.source_texts(row[5])) for number, row in fast._plain.items()
            ] == [(number, *row[:5], bulk.source_texts(row[5]))
                  for number, row in slow._plain.items()]  # order and sources too
    assert list(fast._table.items()) == list(slow._table.items())
    assert shown(fast.identities()) == shown(slow.identities())
    assert (fast.warnings, fast.not_understood) == (slow.warnings, slow.not_understood)
    assert fast.unmatchable == slow.unmatchable
    return fast


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


@SETTINGS
@given(text=csv_ledgers())
@example(text="phone,first_inbound_at\n+491701234567,2026-03-01T09:15:00Z\n")
@example(text="phone,first_inbound_at\n491701234567,2026-03-01\n+491701234567,2026-02-01\n")
@example(text="phone,first_inbound_at\n+49 170 1234567,2026-03-01\n+491701234567,2026-02-01\n")
@example(text="phone,first_inbound_at,lid\n+491701234567,2026-03-01,12345678@lid\n,,\n")
@example(text='phone,first_inbound_at\n"+4917012\n34567",2026-03-01\n')
@example(text="phone,first_inbound_at\n+491701234567,2026-03-01T24:00:00Z\n")
@example(text="phone,first_inbound_at\n+491701234567,2026-03-01T09:15:00+01:60\n")
@example(text="phone,first_inbound_at\n+491701234567,  \n")
@example(text="phone,first_inbound_at\n+491701234567,2026-03-01,\n+8801712345678,2026-03-01")
@example(text="\n" * 9000 + '{"phone": "+491701234567", "first_inbound_at": "2026-03-01"}\n')
def test_bulk_csv_equals_the_reference(tmp_path: Path, text: str) -> None:
    """Every generated CSV ledger (every column spelling the reader takes, near-miss values,
    short/long/blank/quoted rows) gives the same statements, identities, counts and error
    (message, file, line) read in bulk as read record by record in reference mode."""
    assert_same(write(tmp_path, "ledger.csv", text))


@SETTINGS
@given(text=jsonl_ledgers())
@example(text='{"phone": "+491701234567", "first_inbound_at": "2026-03-01T09:15:00Z"}\n')
@example(text='{"phone": "491701234567", "lid": "123456@lid"}\n{"phone": "+491701234567"}\n')
@example(text='{"phone": "+491701234567", "phone" : "+491709999999"}\n')
@example(text='{"phone": 491701234567, "first_inbound_at": "2026-03-01"}\n')
@example(text='{"phone": "+49\\ud800170", "first_inbound_at": "2026-03-01"}\n')
@example(text='{"phone": "+491701234567", "name": "\\ud800"}\n')
def test_bulk_jsonl_equals_the_reference(tmp_path: Path, text: str) -> None:
    """Every generated JSONL ledger gives the same statements, counts and error in bulk as in
    reference mode."""
    assert_same(write(tmp_path, "ledger.jsonl", text))


SPELLINGS = st.sampled_from(["{}", "+{}", " +{} ", "+{}", "+{}"])


@st.composite
def many_identities(draw: st.DrawFn) -> tuple[str, str]:
    """A CSV ledger of many rows over a pool of numbers (so numbers repeat, in several
    spellings, with and without other keys), with an odd row here and there; and its name."""
    pool = draw(st.lists(st.integers(10**9, 10**9 + 60), min_size=1, max_size=20))
    columns = draw(st.permutations(["phone", "first_inbound_at", "first_outbound_at",
                                    "last_inbound_at", "lid", "user_id"]))
    lines = [",".join(columns)]
    for _ in range(draw(st.integers(1, 60))):
        number = draw(SPELLINGS).format(f"4915{draw(st.sampled_from(pool))}")
        cells = {
            "phone": number,
            "first_inbound_at": draw(st.one_of(TIMES, st.just(""))),
            "first_outbound_at": draw(st.sampled_from(
                ["", "", "2026-03-01T09:15:00+01:00", "2026-03-02T09:15:00-05:00"])),
            "last_inbound_at": draw(st.sampled_from(["", "2026-03-05", "2026-02-01"])),
            "lid": draw(st.sampled_from(["", "", "", "123456789@lid", "98765@lid"])),
            "user_id": draw(st.sampled_from(["", "", "", "DE.1234", "DE.99"])),
        }
        if draw(st.integers(0, 30)) == 0:
            cells["phone"] = draw(NUMBERS)
        lines.append(",".join(cells[c].replace(",", " ") for c in columns))
    return "\n".join(lines) + "\n", draw(st.sampled_from(["ledger.csv", "l;é.csv"]))


@SETTINGS
@given(case=many_identities())
def test_bulk_many_identities_equals_the_reference(tmp_path: Path,
                                                   case: tuple[str, str]) -> None:
    """Ledgers where numbers repeat in several spellings and beside LIDs and user ids merge
    the same way (earliest first-times, latest last-times, sources in row order) in bulk."""
    assert_same(write(tmp_path, case[1], case[0]))


def big_ledger(rows: int, *, quote_at: int | None = None) -> str:
    """A ledger of more than one block (1 MiB): repeated numbers across blocks, wa_ids,
    offsets, dates, LIDs; a quoted name from row ``quote_at`` on."""
    lines = ["phone,first_inbound_at,first_outbound_at,last_inbound_at,lid,name"]
    for i in range(rows):
        number = f"4915{i % (rows // 3):09d}"
        phone = number if i % 7 == 0 else "+" + number
        first_in = f"2026-0{1 + i % 9}-{10 + i % 18}T{i % 24:02d}:15:00Z" if i % 5 else ""
        first_out = f"2026-03-01T09:{i % 60:02d}:00+01:00" if i % 3 else ""
        last_in = f"2026-04-{1 + i % 28:02d}" if i % 2 else ""
        lid = f"{10**9 + i}@lid" if i % 11 == 0 else ""
        name = '"Anna, B."' if quote_at is not None and i >= quote_at and i % 13 == 0 else ""
        lines.append(f"{phone},{first_in},{first_out},{last_in},{lid},{name}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("quote_at", [None, 25_000])
def test_bulk_across_blocks_equals_the_reference(tmp_path: Path, quote_at: int | None) -> None:
    """A ledger of several blocks (numbers repeated across them; quotes from a later block
    on, read row by row from there) gives the reference's statements, and is read in bulk."""
    path = write(tmp_path, "big.csv", big_ledger(40_000, quote_at=quote_at))
    assert path.stat().st_size > 2 * 1024 * 1024
    assert bulk.read(str(path), str(path), _printable) is not None
    assert assert_same(path) is not None


@pytest.mark.parametrize(("text", "line"), [
    ("phone,first_inbound_at\n+491701234567,2026-03-01\n+49,2026-03-01\n", 3),
    ("phone,first_inbound_at\n+491701234567,2026-03-01\n+491701234568,yesterday\n", 3),
    ("phone,first_inbound_at\n+491701234567,2026-03-01\n,\nx,\n", 4),
    ("phone,first_inbound_at\n+491701234567,2026-03-01\n+491701234568,2026-03-01,\xff\n", None),
])
def test_a_bad_row_is_one_error_naming_file_and_line(tmp_path: Path, text: str,
                                                     line: int | None) -> None:
    """A malformed ledger read in bulk ends with the reference's one error naming the file and
    the line (the bulk reading gives up on it and the reference says what is wrong)."""
    path = tmp_path / "bad.csv"
    path.write_bytes(text.encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    assert bulk.read(str(path), str(path), _printable) is None
    _, _, error = load(path, reference=False)
    assert error is not None and error[1] == str(path)
    if line is not None:
        assert error[2] == line
    assert error == load(path, reference=True)[2]


def test_a_line_longer_than_the_limit_is_refused_by_line(tmp_path: Path) -> None:
    """A line over the length limit is not read whole: the error names it, as the reference."""
    path = tmp_path / "long.csv"
    path.write_bytes(b"phone,first_inbound_at\n+491701234567,2026-03-01\n" + b"9" * (1 << 21))
    assert bulk.read(str(path), str(path), _printable) is None
    _, _, error = load(path, reference=False)
    assert error is not None and error[2] == 3 and "longer than" in error[0]


@pytest.mark.parametrize("quoted", [False, True])
def test_a_field_over_csv_limit_is_csv_error_by_line(tmp_path: Path, quoted: bool) -> None:
    """A field longer than ``csv.reader`` takes (in a line under the length limit) is the
    reference's "not valid CSV" error naming the line, also where blocks are cut by split."""
    name = "a" * (csv.field_size_limit() + 10)
    cell = '"' + name + '"' if quoted else name
    path = tmp_path / "wide.csv"
    path.write_text("phone,first_inbound_at,name\n+491701234567,2026-03-01,x\n"
                    f"+491701234568,2026-03-01,{cell}\n")
    assert bulk.read(str(path), str(path), _printable) is None
    _, _, error = load(path, reference=False)
    assert error is not None and error[2] == 3 and "field larger" in error[0]
    assert error == load(path, reference=True)[2]


def decisions(evidence: Evidence, numbers: list[str]) -> list[tuple[object, ...]]:
    out = []
    for number in numbers:
        entry = evidence.lookup(number)
        out.append(None if entry is None else (
            entry.initiated, entry.opted_out, entry.first_inbound_at, entry.first_outbound_at,
            entry.last_inbound_at, sorted(entry.sources)))
    return out


@SETTINGS
@given(case=many_identities(), existing=st.booleans())
def test_import_then_query_decides_as_the_file(tmp_path: Path, case: tuple[str, str],
                                               existing: bool) -> None:
    """A ledger file imported into a SQLite ledger (new: loaded in bulk; or holding other
    statements already: merged) and queried for every number decides as the file read
    directly, and holds the same statements."""
    path = write(tmp_path, case[1], case[0])
    direct, count, error = load(path, reference=False)
    target = tmp_path / f"l{len(list(tmp_path.iterdir()))}.sqlite"
    with Ledger(target) as db:
        if existing:
            other = write(tmp_path, "other.jsonl",
                          json.dumps({"phone": "+4930123456", "first_inbound_at": "2026-01-01"}))
            db.import_sources([str(other)], SourceContext())
        try:
            stats = db.import_sources([str(path)], SourceContext())
        except EvidenceError as exc:
            assert error == (exc.message, exc.file, exc.line)
            return
        assert direct is not None and stats.records == count
        statements = {s.keys: s.entry for s in db.statements()}
    numbers = sorted({n for i in direct.identities() for n in i.numbers})
    with Ledger(target, readonly=True) as db:
        queried = Evidence()
        queried.update(db.records_for(numbers))
    assert decisions(queried, numbers) == decisions(direct, numbers)
    if not existing:
        expected = {s.keys: s.entry for s in direct._statements()}
        assert {k: (e.first_inbound_at, e.first_outbound_at, e.last_inbound_at,
                    e.opted_out_at, sorted(e.sources)) for k, e in statements.items()} == {
            k: (e.first_inbound_at, e.first_outbound_at, e.last_inbound_at, e.opted_out_at,
                sorted(e.sources)) for k, e in expected.items()}


PLAIN_SPELLINGS = st.one_of(
    NUMBERS,
    st.integers(0, 10**16).map(lambda n: f"+{n}"),
    st.sampled_from(["+", "+4", "+1555\n+4915", "+491701234567\n", "+４９1701234567"]),
)


@SETTINGS
@given(numbers=st.lists(PLAIN_SPELLINGS, min_size=1, max_size=12))
@example(numbers=["+491701234567", "+8801712345678", "+15550100"])
@example(numbers=["+491701234567", "+0491701234567"])
@example(numbers=["+491701234567", "+1555\n+4915"])
def test_a_column_of_numbers_is_plain_as_plain_number_says(numbers: list[str]) -> None:
    """The column check of phone spellings says "all plain" exactly when ``plain_number``
    keeps every one (a cell with a line break: never)."""
    every = all(map(plain_number, numbers))
    if any("\n" in number for number in numbers):
        assert not bulk._all_plain(numbers) or every
    else:
        assert bulk._all_plain(numbers) == every


LIDS = st.one_of(
    st.sampled_from(["", "", "12345@lid", "1234@lid", "12345678901234567890@lid",
                     "123456789012345678901@lid", " 12345@lid", "12345@LID", "１２３４５@lid",
                     "12345@lid@lid", "12345@lidx", "x12345@lid", "@lid", "12345@lid\n6@lid"]),
    st.integers(0, 10**21).map(lambda n: f"{n}@lid"),
)
KEY_CELLS = st.tuples(NUMBERS, st.sampled_from(["", "", "DE.1234", "US.ENT.99", "de.1"]),
                      st.sampled_from(["", "", "", "DE.1234", "DE.77"]), LIDS,
                      st.sampled_from(["", "", "Anna", " Anna  B ", "\u200eAnna", "\ud800"]))
KEY_NAMES = ("phone", "user_id", "parent_user_id", "lid", "name")


@SETTINGS
@given(rows=st.lists(KEY_CELLS, min_size=1, max_size=12), plain=st.booleans())
@example(rows=[("+491701234567", "", "", "12345@lid", "")] * 2, plain=False)
@example(rows=[("+491701234567", "DE.1", "DE.2", "", "")], plain=False)
def test_keys_made_column_by_column_equal_cell_by_cell(rows: list[tuple[str, ...]],
                                                       plain: bool) -> None:
    """The keys of many rows' key cells made column by column are each row's own keys (as
    ``record_keys`` sorts them), or None where the row reader must decide."""
    if plain:  # most rows of a machine-written ledger: plain numbers and LIDs
        rows = [(f"+4915{i:09d}", "", "", f"{10**9 + i}@lid", "") for i in range(len(rows))]
    found = bulk._spelled_keys(rows, KEY_NAMES)
    for row, keys in zip(rows, found, strict=True):
        made = [bulk._cell_key(name, cell) for name, cell in zip(KEY_NAMES, row, strict=True)]
        two_ids = made[1] is not None and made[2] is not None
        assert (keys or None) == (None if two_ids else bulk._cell_keys(row, KEY_NAMES))
    if plain:
        assert all(found)


@SETTINGS
@given(case=many_identities(), again=st.booleans())
def test_sources_read_in_bulk_name_file_and_line_like_records(
        tmp_path: Path, case: tuple[str, str], again: bool) -> None:
    """Sources kept as line codes in bulk, merged with record sources ("file:line") and with
    a second reading of the same file, resolve to the reference's sources."""
    path = write(tmp_path, case[1], case[0])
    found: list[object] = []
    for reference in (False, True):
        evidence = Evidence()
        context = SourceContext(warn=evidence.warnings.append,
                                not_understood=evidence.note_not_understood)
        with fastpaths.reference(reference):
            try:
                for _ in range(2 if again else 1):
                    gather([str(path)], context, evidence)
            except EvidenceError as exc:
                found += [exc.message, exc.message]
                continue
            for number in list(evidence._plain)[:3]:
                evidence.add(EvidenceRecord("other.csv:7", phone=number))
        found.append([(number, bulk.source_texts(row[5]))
                      for number, row in evidence._plain.items()])
        found.append(shown(evidence.identities()))
    assert found[0] == found[2] and found[1] == found[3]
    if isinstance(found[1], list) and evidence._plain:
        assert any(len(identity[1].sources) > 1 for identity in found[1])


# -- the column reading: blocks cut by str.split, time columns at C speed -------------------

def moments(draw: st.DrawFn) -> tuple[int, int, int, int, int, int]:
    """A date and time of day, now and then at the ends of the range of dates."""
    year = draw(st.one_of(st.integers(2020, 2027), st.sampled_from([1, 9999])))
    return (year, draw(st.integers(1, 12)), draw(st.integers(1, 28)),
            draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59)))


OFFSETS = st.one_of(
    st.sampled_from(["+00:00", "-00:00", "+01:00", "-05:30", "+14:00", "+23:59", "-23:59"]),
    st.builds("{}{:02d}:{:02d}".format, st.sampled_from("+-"), st.integers(0, 23),
              st.integers(0, 59)),
)
# how one column spells its times: the shapes read at C speed, then the others
MODES = ("Z", "offset", "offsets", "naive", "date", "space", "fraction", "mixed")


@st.composite
def time_cells(draw: st.DrawFn, count: int, mode: str | None = None) -> list[str]:
    """One time column of ``count`` cells, all in one spelling (``mode``), with holes ("")
    now and then and, rarely, a near miss or a cell of spaces."""
    mode = mode or draw(st.sampled_from(MODES))
    offset = draw(OFFSETS)
    holes = draw(st.sampled_from([0, 0, 3, 10]))
    cells = []
    for _ in range(count):
        if holes and draw(st.integers(0, holes)) == 0:
            cells.append("")
            continue
        y, mo, d, h, mi, s = moments(draw)
        wall = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
        spelled = {
            "Z": wall + "Z", "offset": wall + offset, "offsets": wall + draw(OFFSETS),
            "naive": wall, "date": wall[:10], "space": wall.replace("T", " ") + "Z",
            "fraction": wall + ".25Z", "mixed": wall + draw(st.sampled_from(["Z", "", offset])),
        }[mode]
        if draw(st.integers(0, 60)) == 0:
            spelled = draw(st.one_of(TIMES, st.just("  ")))
        cells.append(spelled)
    return cells


@st.composite
def columnar_ledgers(draw: st.DrawFn) -> str:
    """A CSV ledger as machines write it (no quotes, every row of the header's width): the
    block reading cuts it by ``str.split`` and reads each time column at once. Numbers repeat
    now and then (across rows: the careful second reading), some rows carry a LID or a user
    id, and rarely a line ends in CR or a line is blank (``csv.reader`` reads that block)."""
    count = draw(st.integers(1, 40))
    times = ["first_inbound_at", "first_outbound_at", "last_inbound_at", "opted_out_at"]
    columns = draw(st.permutations(["phone", *draw(st.lists(
        st.sampled_from([*times, "lid", "user_id"]), min_size=1, max_size=5, unique=True))]))
    delimiter = draw(st.sampled_from([",", ",", ";", "\t"]))
    pool = draw(st.integers(1, 3 * count))
    cells: dict[str, list[str]] = {c: draw(time_cells(count)) for c in columns if c in times}
    cells["phone"] = [draw(st.sampled_from(["+4915{:09d}", "4915{:09d}", "+4915{:09d}"]))
                      .format(draw(st.integers(0, pool))) for _ in range(count)]
    if draw(st.integers(0, 9)) == 0:
        # (not an empty one: a row without any key is the reference's to judge)
        cells["phone"][draw(st.integers(0, count - 1))] = draw(
            NUMBERS.filter(lambda n: n.strip())).replace(delimiter, "")
    cells["lid"] = [draw(st.sampled_from(["", "", "", f"{10**9 + i}@lid", "12345@lid"]))
                    for i in range(count)]
    cells["user_id"] = [draw(st.sampled_from(["", "", "", "", "DE.1234"])) for _ in range(count)]
    lines = [delimiter.join(columns)]
    lines += [delimiter.join(cells[c][i] for c in columns) for i in range(count)]
    end = "\r\n" if draw(st.integers(0, 15)) == 0 else "\n"
    if draw(st.integers(0, 15)) == 0:
        lines.insert(draw(st.integers(1, len(lines))), "")
    return end.join(lines) + end


@SETTINGS
@given(text=columnar_ledgers())
@example(text="phone,first_inbound_at,first_outbound_at\n"
              "+491701234567,2026-03-01T09:15:00Z,2026-03-01T10:15:00+01:00\n"
              "+491701234568,,2026-03-01T04:15:00-05:00\n")
@example(text="phone,first_outbound_at\n+491701234567,0001-01-01T00:30:00+01:00\n")
@example(text="phone,first_outbound_at\n+491701234567,9999-12-31T23:30:00-01:00\n")
@example(text="phone,last_inbound_at,first_inbound_at\n+491701234567,2026-03-05,\n"
              "+491701234568,2026-03-05,2026-03-07T00:00:00Z\n")
@example(text="phone,last_inbound_at,first_inbound_at\n+491701234567,2026-03-05,"
              "2026-03-01T00:00:00Z\n+491701234568,,2026-03-07T00:00:00Z\n"
              "+491701234569,2026-03-05,2026-03-07T00:00:00Z\n")
@example(text="phone,first_inbound_at\n+491701234567,2026-03-01T09:15:00+24:00\n")
@example(text="phone,first_inbound_at\n+491701234567,2026-03-01\n+491701234567,2026-02-01\n")
def test_bulk_columns_equal_the_reference(tmp_path: Path, text: str) -> None:
    """Ledgers as machines write them (each time column in one spelling: "Z", "+00:00", one
    or several offsets, no offset, dates, fractions; holes; near misses and times out of
    range) give the reference's statements, or its one error naming file and line; a
    ledger the reference reads is read in bulk (not handed back to it)."""
    path = write(tmp_path, "ledger.csv", text)
    assert_same(path)
    if load(path, reference=True)[2] is None:
        assert bulk.read(str(path), str(path), _printable) is not None


def csv_columns(text: str, delimiter: str) -> list[tuple[str, ...]] | None:
    """The columns ``csv.reader`` reads of a block (None: it refuses it, or rows differ)."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline="\n"), delimiter=delimiter))
    except csv.Error:
        return None
    if len({len(row) for row in rows}) != 1:
        return None
    return list(zip(*rows, strict=True))


CELL_CHARACTERS = st.sampled_from([",", ";", "\t", "\r", "\0", " ", "a", "+49", "é",
                                   "\u2028", "\x0b", "\x1c", "\x85", "Z", "\ud800"])


@st.composite
def blocks(draw: st.DrawFn, width: int, delimiter: str) -> tuple[str, bool]:
    """A block of lines without quotes (cells of any characters but the line break, now and
    then one cell too many or too few, a blank line, a CR before the line break), and
    whether it is one ``str.split`` must cut (rows of ``width`` cells, no CR, no blank)."""
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.integers(0, 12)) == 0:
            lines.append("")
            continue
        size = width + draw(st.sampled_from([0, 0, 0, 0, 0, 1, -1]))
        cells = [draw(st.lists(CELL_CHARACTERS, max_size=3).map("".join)).replace(
            delimiter, "") for _ in range(max(size, 0))]
        lines.append(delimiter.join(cells))
    end = draw(st.sampled_from(["\n", "\n", "\r\n", ""]))
    text = "\n".join(lines) + end
    if draw(st.integers(0, 9)) == 0:
        text = text.replace("\n", "\r\n", 1)
    regular = "\r" not in text and all(line and line.count(delimiter) == width - 1
                                         for line in text.removesuffix("\n").split("\n"))
    return text, regular


@SETTINGS
@given(width=st.integers(1, 4), delimiter=st.sampled_from([",", ";", "\t"]), data=st.data())
@example(width=2, delimiter=",", data=None)
def test_a_block_is_cut_into_the_columns_csv_reader_reads(width: int, delimiter: str,
                                                         data: st.DataObject | None) -> None:
    """A block without quotes cut by ``str.split`` gives exactly the columns ``csv.reader``
    reads of it, or is left to ``csv.reader`` (line ends in CR, blank lines, rows of another
    width); a block of rows of the header's width without those is always cut."""
    names = ["phone", "first_inbound_at", "lid", "name", "note"]
    header = delimiter.join(names[:max(width, 2)])  # (a header names both columns it needs)
    reader = bulk._Csv(header + "\n", 1, bulk._State("x.csv", careful=False))
    reader.width = width
    cases = [data.draw(blocks(width, delimiter))] if data is not None else [
        ("a,b\na", False), ("a,b\na,b,\n", False), ("a,b,c\na\n", False), ("\n", False),
        ("a,b\r\nc,d\r\n", False), ("a,b\nc,d\r", False), ("a\rb,c\n", False),
        ("a,b\n\nc,d\n", False), ("a,b\nc,d", True), ("\0,\u2028\n\x85,\x1c\n", True)]
    for text, regular in cases:
        columns = reader._split(text)
        if regular:
            assert columns is not None
        if columns is not None:
            assert [tuple(column) for column in columns] == csv_columns(text, delimiter)


def reference_times(cells: list[str], default: datetime | None) -> list[object]:
    """Each cell as the row reader reads it ("" is ``default``; spaces are no time)."""
    found: list[object] = []
    for cell in cells:
        text = cell.strip()
        if not text:
            found.append(default if cell == "" else None)
            continue
        moment = parse_timestamp_reference(text)
        found.append((moment, moment.utcoffset()))
    return found


@SETTINGS
@given(data=st.data(), count=st.integers(1, 30), default=st.sampled_from([None, bulktimes.NEVER]))
@example(data=None, count=0, default=None)
def test_a_time_column_equals_the_reference_cell_by_cell(data: st.DataObject | None,
                                                        count: int,
                                                        default: datetime | None) -> None:
    """A time column read at once gives each cell's reference time (value and UTC offset),
    digits of other scripts too, or fails (ValueError, OverflowError) exactly when the
    reference refuses a cell: the bulk reading then hands the file to the reference, which
    names file and line."""
    if data is None:  # the examples' columns
        for cells in (["2026-03-01T09:15:00+01:00", "", "2026-03-01T09:15:00-01:00"],
                      ["0001-01-01T00:30:00+01:00"], ["2026-03-01", "", "2026-03-01"],
                      ["2026-03-01T09:15:00+00:00", "2026-03-01T09:15:00-00:00"],
                      ["２０２６-03-01", "2026-03-01"], ["2026-03-01T09:15:00Z", "  "],
                      ["2026-03-0１T09:15:00+01:00", "2026-03-01T09:15:00+01:00"]):
            check_time_column(cells, default)
        return
    check_time_column(data.draw(time_cells(count)), default)


def check_time_column(cells: list[str], default: datetime | None) -> None:
    try:
        expected = reference_times(cells, default)
    except ValueError:
        expected = None
    try:
        got = bulktimes.time_column(cells, default)
    except (ValueError, OverflowError):
        assert expected is None
        return
    assert expected is not None
    assert [(m, m.utcoffset()) if isinstance(m, datetime) and m is not default else m
            for m in got] == expected


@SETTINGS
@given(rows=st.lists(st.tuples(
    st.one_of(st.none(), st.datetimes(timezones=st.just(timezone.utc))),
    st.one_of(st.none(), st.datetimes(timezones=st.just(timezone.utc))),
    st.one_of(st.none(), st.datetimes(timezones=st.just(timezone.utc))),
    st.one_of(st.none(), st.datetimes(timezones=st.just(timezone.utc))),
    st.lists(st.text(max_size=5), max_size=3).map(tuple)), max_size=8))
def test_entries_made_a_field_at_a_time_are_the_dataclass_entries(
        rows: list[tuple[Any, ...]]) -> None:
    """``evidence_entries`` makes the very entries ``EvidenceEntry(...)`` makes: equal, same
    hash and repr, every field set (``number_left_at`` None), frozen, picklable."""
    columns = [list(column) for column in zip(*rows, strict=True)] or [[]] * 5
    made = evidence_entries(*columns)
    expected = [EvidenceEntry(*row) for row in rows]
    assert made == expected
    assert [(hash(m), repr(m)) for m in made] == [(hash(e), repr(e)) for e in expected]
    assert pickle.loads(pickle.dumps(made)) == expected
    for entry in made:
        assert entry.number_left_at is None
        with pytest.raises(FrozenInstanceError):
            entry.sources = ()  # type: ignore[misc]
    with pytest.raises(ValueError, match="lengths"):
        evidence_entries([None], [], [], [], [])


def test_parse_timestamp_answers_to_the_reference_switch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """In reference mode ``parse_timestamp`` reads every text by the general pattern alone
    (its fast shapes and its memo of dates are not asked)."""
    def fail(text: str) -> None:
        raise AssertionError(f"fast path used for {text!r}")

    monkeypatch.setattr(timeparse, "_fast", fail)
    wrong = datetime(1999, 1, 1, tzinfo=timezone.utc)
    monkeypatch.setattr(timeparse, "_DAYS", {"2026-03-01": wrong})
    with fastpaths.reference():
        assert timeparse.parse_timestamp("2026-03-01") == datetime(2026, 3, 1,
                                                                   tzinfo=timezone.utc)
        assert timeparse.parse_timestamp("2026-03-01T09:15:00+01:00") == datetime(
            2026, 3, 1, 8, 15, tzinfo=timezone.utc)
    with pytest.raises(AssertionError, match="fast path"):
        timeparse.parse_timestamp("2026-03-01T09:15:00Z")


def _loaded(folder: Path, paths: list[Path], *, listed: bool) -> object:
    """What gathering ``paths`` (numbers alone kept as columns or not) gives: the statements
    as read, in order, before and after one more record, and the rows of a ledger loaded in
    bulk from them; or the error."""
    evidence = Evidence()
    try:
        gather([str(p) for p in paths], SourceContext(), evidence, listed=listed)
    except EvidenceError as exc:
        return exc.message, exc.file, exc.line
    target = folder / f"{listed}.sqlite"
    with Ledger(target) as db:
        raw = db._db
        raw.execute("PRAGMA foreign_keys = OFF")
        raw.execute("BEGIN IMMEDIATE")
        storewrite.bulk_load(raw, *evidence.as_listed())
        raw.execute("COMMIT")
        rows = [raw.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in ("number_alone", "statement", "statement_key")]

    def read() -> tuple[object, ...]:
        table, plain = evidence.as_read()
        return list(table.items()), [(number, *row[:5], bulk.source_texts(row[5]))
                                     for number, row in plain.items()]

    before = read()
    evidence = Evidence()  # again, and a record added before anything else reads them
    gather([str(p) for p in paths], SourceContext(), evidence, listed=listed)
    evidence.add(EvidenceRecord("more.csv:2", phone="+4915000000001",
                                first_inbound_at=datetime(2026, 1, 5, tzinfo=timezone.utc)))
    return before, read(), rows


@SETTINGS
@given(texts=st.lists(st.one_of(csv_ledgers(), many_identities().map(lambda case: case[0])),
                      min_size=1, max_size=3))
@example(texts=["phone,first_inbound_at\n+491701234567,2026-03-01\n+491701234567,2026-02-01\n"])
@example(texts=["phone,first_inbound_at\n+491701234567,2026-03-01\n",
                "phone,first_inbound_at\n+491701234567,2026-02-01\n"])
@example(texts=['phone,first_inbound_at\n+4915000000002,2026-03-01\n"+4915000000001",2026-03-01\n'])
@example(texts=["phone,first_inbound_at,lid\n+4915000000002,2026-03-01,\n"
                "+4915000000001,2026-02-01,\n,2026-02-01,123456@lid\n"])
@example(texts=["phone,first_inbound_at,lid\n+4915000000003,2026-03-01,\n"
                "+4915000000001,2026-02-01, \n+4915000000002,2026-02-01,\n"])
def test_numbers_kept_as_columns_are_what_the_table_holds(
        tmp_path_factory: pytest.TempPathFactory, texts: list[str]) -> None:
    """Ledger files read for a bulk load, their numbers alone kept as columns where each is
    distinct and plain, give the same statements in the same order as read into the table
    (also once a record is added after them), the same ledger rows, or the same error."""
    folder = tmp_path_factory.mktemp("listed")
    paths = [write(folder, f"{i}.csv", text) for i, text in enumerate(texts)]
    assert _loaded(folder, paths, listed=True) == _loaded(folder, paths, listed=False)
