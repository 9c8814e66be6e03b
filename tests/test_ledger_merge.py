"""Importing into a ledger that holds statements already: numbers alone are merged by SQL
(``storewrite``), the other statements looked up. Held to ``EvidenceEntry.merge`` of the files
read directly: the same statements, the same counts of added and changed ones, and nothing
written when nothing changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_ledger_bulk import load, write

from contactguard.evidence import Evidence, SourceContext
from contactguard.evidence.store import Ledger
from contactguard.model import EvidenceEntry

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

Shape = tuple[object, ...]


def shape(entry: EvidenceEntry) -> Shape:
    return (entry.first_inbound_at, entry.first_outbound_at, entry.last_inbound_at,
            entry.opted_out_at, entry.number_left_at, frozenset(entry.sources))


def statements(evidence: Evidence) -> dict[object, EvidenceEntry]:
    return {s.keys: s.entry for s in evidence._statements()}


def held(path: Path) -> dict[object, Shape]:
    with Ledger(path, readonly=True) as db:
        return {s.keys: shape(s.entry) for s in db.statements()}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


POOL = ["+491701234567", "+4915000000001", "+5215541637145", "+15550100123", "+4930123456"]
MOMENTS = st.sampled_from([
    "", "", "2026-03-01", "2026-03-01T09:15:00Z", "2026-03-01T09:15:00+01:00",
    "2026-02-01T23:59:59.250000Z", "2026-03-05", "2025-12-31T23:00:00-05:30", "2026-03-01 08:15:00",
])
COLUMNS = ["phone", "first_inbound_at", "first_outbound_at", "last_inbound_at", "opted_out_at",
           "lid", "user_id"]


@st.composite
def ledgers(draw: st.DrawFn) -> str:
    """A CSV ledger over a small pool of numbers (so two of them share numbers), any times
    set or not, a LID or user ID beside some numbers."""
    columns = draw(st.permutations(COLUMNS))
    lines = [",".join(columns)]
    for _ in range(draw(st.integers(1, 12))):
        person = draw(st.integers(0, len(POOL) - 1))
        cells = {column: draw(MOMENTS) for column in COLUMNS[1:5]}
        cells["phone"] = POOL[person]
        cells["lid"] = draw(st.sampled_from(["", "", "", f"{10**14 + person}@lid"]))
        cells["user_id"] = draw(st.sampled_from(["", "", "", "", f"DE.{700 + person}"]))
        lines.append(",".join(cells[c] for c in columns))
    return "\n".join(lines) + "\n"


@SETTINGS
@given(first=ledgers(), second=ledgers(), names=st.sampled_from([("a.csv", "b.csv"),
                                                                  ("a.csv", "a.csv")]))
@example(first="phone,first_inbound_at\n+491701234567,2026-03-01T09:15:00Z\n",
         second="phone,first_inbound_at\n+491701234567,2026-02-01T09:15:00Z\n",
         names=("a.csv", "b.csv"))
@example(first="phone,first_inbound_at,lid\n+491701234567,2026-03-01,12345678@lid\n",
         second="phone,first_inbound_at,last_inbound_at\n+491701234567,,2026-03-05\n",
         names=("a.csv", "a.csv"))
@example(first="phone,first_inbound_at\n+491701234567,2026-03-01\n",
         second="phone,first_inbound_at\n+491701234567,2026-03-01\n", names=("a.csv", "a.csv"))
def test_a_second_file_merges_as_the_two_files_read_together(
        tmp_path_factory: pytest.TempPathFactory, first: str, second: str,
        names: tuple[str, str]) -> None:
    """A ledger file imported into a ledger holding another one's statements holds what the
    two files read together say (earliest first times, latest last times, the sources of
    both), counts as added the key sets new to it and as changed those whose merge changed
    them; importing it again adds and changes nothing and leaves the file as it was."""
    folder = tmp_path_factory.mktemp("merge")
    ledger = folder / "ledger.sqlite"
    a = write(folder, names[0], first)
    read_a, _count, error = load(a, reference=True)
    assert error is None and read_a is not None
    with Ledger(ledger) as db:
        db.import_sources([str(a)], SourceContext())
    # the same name: the second file replaces the first, its lines the same sources
    b = write(folder, names[1], second)
    read_b, count_b, error = load(b, reference=True)
    assert error is None and read_b is not None
    old, new = statements(read_a), statements(read_b)
    merged = {keys: old[keys].merge(entry) if keys in old else entry
              for keys, entry in new.items()}
    added = sum(keys not in old for keys in new)
    changed = sum(keys in old and shape(merged[keys]) != shape(old[keys]) for keys in new)
    expected = {keys: shape(entry) for keys, entry in {**old, **merged}.items()}

    with Ledger(ledger) as db:
        stats = db.import_sources([str(b)], SourceContext())
    assert (stats.records, stats.added, stats.changed) == (count_b, added, changed)
    assert held(ledger) == expected

    before = digest(ledger)
    with Ledger(ledger) as db:
        again = db.import_sources([str(b)], SourceContext())
    assert (again.added, again.changed) == (0, 0)
    assert digest(ledger) == before
