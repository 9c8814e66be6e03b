"""A CSV/JSONL ledger read in bulk (``evidence.bulk``) against the reference reading: the same
statements, identities, counts and errors; imported into a SQLite ledger, the same decisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_ledger_fast import NUMBERS, TIMES, csv_ledgers, jsonl_ledgers

from contactguard import fastpaths
from contactguard.errors import EvidenceError
from contactguard.evidence import Evidence, SourceContext, _printable, bulk, gather
from contactguard.evidence.identity import Identity
from contactguard.evidence.store import Ledger
from contactguard.model import EvidenceEntry, EvidenceRecord
from contactguard.phones import plain_number

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
