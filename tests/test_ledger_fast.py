"""The fast CSV ledger reading against the plain per-row reference: same records, same errors."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contactguard import fastpaths
from contactguard.errors import EvidenceError
from contactguard.evidence import ledger
from contactguard.evidence.identity import record_keys
from contactguard.evidence.store import Ledger
from contactguard.model import EvidenceRecord
from contactguard.phones import evidence_key, plain_number
from contactguard.timeparse import parse_timestamp, parse_timestamp_reference

Reader = Callable[[IO[bytes] | IO[str], str], Iterator[EvidenceRecord]]
Outcome = tuple[list[EvidenceRecord], tuple[str, str | None, int | None] | None]

COLUMNS = (
    "phone", "first_inbound_at", "first_outbound_at", "last_inbound_at", "opted_out_at",
    "name", "user_id", "parent_user_id", "username", "lid", "note",
)

# Timestamps in the shapes the fast reading takes, and next to them every near miss.
TIMES = st.sampled_from([
    "2026-03-01", "2026-03-01T09:15:00Z", "2026-03-01 09:15:00", "2026-03-01T09:15:00+01:00",
    "2026-03-01T09:15:00-05:30", "2026-03-01T09:15", "2026-03-01T09:15:00.123Z",
    "2026-03-01t09:15:00z", "2026-03-01T09:15:00 Z", "2026-03-01T09:15:00+0100",
    "2026-03-01T09:15:00+01", "2026-02-30", "2026-13-01", "2026-03-01T24:00:00Z",
    "2026-03-01T09:60:00Z", "2026-03-01T09:15:61Z", "2026-03-01T09:15:00+24:00",
    "2026-03-01T09:15:00+01:60", "2026-03-01T09:15:00+23:59", "2026-03-01T09:15:00-00:00",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01", "9999-12-31",
    "２０２６-03-01", "2026-03-01T09:15:00＋01:00", "2026-3-1", "20260301", "2026-03-01T",
    " 2026-03-01 ", "null", "yesterday", "2026-03-01T09:15:00Z\ud800", "",
])
TIME_TEXT = st.one_of(
    TIMES,
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}".format,
        st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
        st.integers(0, 61), st.integers(0, 61),
        st.sampled_from(["", "Z", "+01:00", "-23:59", "+14:00", "+99:99", "-00:30"]),
    ),
    st.text(alphabet="0123456789-T:Z+ .", max_size=26),
)
NUMBERS = st.one_of(
    st.sampled_from([
        "+491701234567", "491701234567", "5215541637145", "+4915000000000", "+1555010",
        "+123456", "+1234567890123456", "+0491701234567", "0170 1234567", "+49 170 1234567",
        "tel:+491701234567", "+49170123456;ext=1", "++491701234567", "+२४९१७०१२३४५६७",
        "+999123456789", "+8801712345678", "<WHATSAPP_USER_PHONE_NUMBER>", " +491701234567 ",
        "+49\ud800170", "",
    ]),
    st.text(alphabet="+0123456789 ", max_size=17),
)
OTHERS = st.one_of(
    st.sampled_from([
        "", "Anna", "US.13491208655302741918", "DE.1", "@anna", "12345678901234@lid",
        "12345@LID", "Ånna\ud800", "  ", "x,y", 'quote"d',
    ]),
    st.text(max_size=8),
)
CELL_FOR = {
    "phone": NUMBERS, "first_inbound_at": TIME_TEXT, "first_outbound_at": TIME_TEXT,
    "last_inbound_at": TIME_TEXT, "opted_out_at": TIME_TEXT,
}


@st.composite
def csv_ledgers(draw: st.DrawFn) -> str:
    """A CSV ledger: a header of known (sometimes repeated or missing) columns, rows of
    valid and near-valid cells, blank rows, short and long rows, quoting."""
    columns = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=8))
    if draw(st.booleans()):
        columns = ["phone", "first_inbound_at", *columns]
        columns = list(dict.fromkeys(columns)) if draw(st.integers(0, 9)) else columns
    delimiter = draw(st.sampled_from([",", ",", ";", "\t"]))
    lines = [delimiter.join(columns)]
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(draw(st.sampled_from(["", " ", delimiter * 3])))
            continue
        cells = [draw(CELL_FOR.get(column, OTHERS)) for column in columns]
        if kind == 1:
            cells = cells[: draw(st.integers(0, len(cells)))]
        elif kind == 2:
            cells.append(draw(OTHERS))
        quoted = [
            '"' + cell.replace('"', '""') + '"'
            if any(c in cell for c in (delimiter, '"', "\n", "\r")) or draw(st.booleans())
            else cell
            for cell in cells
        ]
        lines.append(delimiter.join(quoted))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))


def outcome(read: Reader, stream: IO[bytes] | IO[str]) -> Outcome:
    """The records a reader yields, and the error it ends with (message, file, line)."""
    found: list[EvidenceRecord] = []
    try:
        for record in read(stream, "ledger.csv"):
            found.append(record)
    except EvidenceError as exc:
        return found, (exc.message, exc.file, exc.line)
    return found, None


def same_times(a: EvidenceRecord, b: EvidenceRecord) -> bool:
    """Equal datetimes with equal UTC offsets (== alone ignores the zone of aware times)."""
    columns = ("first_inbound_at", "first_outbound_at", "last_inbound_at", "opted_out_at")
    return all(
        (getattr(a, c) is None) == (getattr(b, c) is None)
        and (getattr(a, c) is None or getattr(a, c).utcoffset() == getattr(b, c).utcoffset())
        for c in columns
    )


def reference_outcome(stream: IO[bytes] | IO[str]) -> Outcome:
    """``outcome`` of ``ledger.records`` in reference mode (every row by the per-row code)."""
    with fastpaths.reference():
        return outcome(ledger.records, stream)


def assert_same(text: str) -> None:
    as_text = (outcome(ledger.records, io.StringIO(text, newline="")),
               reference_outcome(io.StringIO(text, newline="")))
    assert as_text[0] == as_text[1]
    assert all(same_times(a, b) for a, b in zip(as_text[0][0], as_text[1][0], strict=True))
    data = text.encode("utf-8", "surrogatepass")
    as_bytes = (outcome(ledger.records, io.BytesIO(data)), reference_outcome(io.BytesIO(data)))
    assert as_bytes[0] == as_bytes[1]


@settings(max_examples=400, deadline=None)
@given(csv_ledgers())
@example("phone,first_inbound_at\n+491701234567,2026-03-01T09:15:00Z\n")
@example("phone,first_inbound_at,phone\n+491701234567,2026-03-01,\n")
@example("phone,first_inbound_at\n+491701234567,2026-02-30\n")
@example("phone,first_inbound_at\n+49\ud800170,2026-03-01\n")
@example("phone;first_inbound_at;lid\n;;1234567@lid\n\n;;\n")
@example('phone,first_inbound_at\n"+4917012\n34567",2026-03-01\n')
@example("phone,first_inbound_at\n+491701234567,2026-03-01T09:15:00+24:00\n")
def test_fast_csv_reading_equals_the_reference(text: str) -> None:
    """Every generated CSV ledger gives the same records and the same error (message, file,
    line) through the fast reading as through the per-row reference, as text and as bytes."""
    assert_same(text)


def test_the_fast_reading_is_the_one_records_uses() -> None:
    """``records`` reads CSV through the inline row reading (a ledger whose rows take the fast
    path yields records with canonical numbers and UTC times)."""
    text = ("phone,first_inbound_at,first_outbound_at\n"
            "491701234567,2026-03-01T09:15:00+01:00,2026-03-01\n")
    (record,) = ledger.records(io.StringIO(text), "l.csv")
    assert record == EvidenceRecord(
        source="l.csv:2", phone="+491701234567",
        first_inbound_at=parse_timestamp_reference("2026-03-01T08:15:00Z"),
        first_outbound_at=parse_timestamp_reference("2026-03-01"),
    )


@settings(max_examples=600, deadline=None)
@given(TIME_TEXT)
@example("2026-03-01T09:15:00+00:60")
@example("0001-01-01T00:30:00+01:00")
def test_fast_timestamps_equal_the_reference(text: str) -> None:
    """``parse_timestamp`` gives the reference's datetime (with its offset) or its error."""
    try:
        expected: datetime | str = parse_timestamp_reference(text)
    except ValueError as exc:
        expected = str(exc)
    for _ in range(2):  # the second time a date comes from the memo
        try:
            got: datetime | str = parse_timestamp(text)
        except ValueError as exc:
            got = str(exc)
        assert got == expected
        if isinstance(got, datetime) and isinstance(expected, datetime):
            assert got.utcoffset() == expected.utcoffset()


@settings(max_examples=600, deadline=None)
@given(NUMBERS)
def test_plain_numbers_are_what_evidence_key_keeps(text: str) -> None:
    """``plain_number`` is true exactly for "+digits" text that ``evidence_key`` keeps as is."""
    if plain_number(text):
        assert evidence_key(text) == text
    elif text.startswith("+") and text[1:].isascii() and text[1:].isdigit():
        assert evidence_key(text) != text


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(NUMBERS, OTHERS, OTHERS, TIMES), max_size=6),
       split=st.integers(0, 6))
def test_import_in_two_batches_keeps_every_key_with_its_statement(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str, str, str]], split: int
) -> None:
    """Importing records in two transactions (new statements get their ids in the insert)
    leaves a ledger whose statements are the records' keys with the records' sources."""
    records = []
    for line, (phone, lid, user_id, time) in enumerate(rows, start=2):
        try:
            record = EvidenceRecord(source=f"l.csv:{line}", phone=phone or None,
                                    lid=lid or None, user_id=user_id or None,
                                    first_inbound_at=parse_timestamp(time) if time else None)
            record_keys(record)
        except (EvidenceError, ValueError):
            continue
        records.append(record)
    path = tmp_path_factory.mktemp("ledger") / "l.sqlite"
    with Ledger(path) as db:
        db.import_records(records[:split])
        db.import_records(records[split:])
        stored = {statement.keys: set(statement.entry.sources) for statement in db.statements()}
    expected: dict[tuple[object, ...], set[str]] = {}
    for record in records:
        expected.setdefault(record_keys(record), set()).add(record.source)
    assert stored == expected


JSON_VALUES = st.one_of(
    NUMBERS, TIME_TEXT, OTHERS, st.none(), st.booleans(), st.integers(-5, 10**15),
    st.floats(allow_nan=False), st.just([]), st.just({"phone": "+491701234567"}),
    st.sampled_from(['a"b', 'x\\":"y', "\\", '":']),
)


@st.composite
def jsonl_ledgers(draw: st.DrawFn) -> str:
    """A JSONL ledger written by hand: keys repeated or not, spaces around colons, values of
    every JSON type and escapes that look like keys, broken lines, arrays and blank lines."""
    import json

    lines = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(draw(st.sampled_from(["", "[]", "{", '{"phone": "+4917"} x', "1"])))
            continue
        keys = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=6))
        if kind > 3:
            keys = list(dict.fromkeys(keys))
        pairs = []
        for key in keys:
            strategy = CELL_FOR.get(key, OTHERS) if draw(st.integers(0, 3)) else JSON_VALUES
            colon = draw(st.sampled_from([":", ": ", " :", " : "]))
            value = json.dumps(draw(strategy), ensure_ascii=draw(st.booleans()))
            pairs.append(f'"{key}"{colon}{value}')
        lines.append("{" + ", ".join(pairs) + "}")
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None)
@given(jsonl_ledgers())
@example('{"phone": "+491701234567", "first_inbound_at": "2026-03-01T09:15:00Z"}\n')
@example('{"phone": "+491701234567", "phone" : "+491709999999"}\n')
@example('{"phone": "+491701234567", "name": "\\":", "phone" :"+491709999999"}\n')
@example('{"phone": 491701234567, "first_inbound_at": "2026-02-30"}\n')
@example('{"phone": "+491701234567", "lid": {"a": 1, "a": 2}}\n')
@example('{"phone": "+49\\ud800170", "first_inbound_at": "2026-03-01"}\n')
def test_fast_jsonl_reading_equals_the_reference(text: str) -> None:
    """Every generated JSONL ledger gives the same records and the same error through the
    fast reading (json.loads without the duplicate-key hook) as through the reference."""
    assert_same(text)
