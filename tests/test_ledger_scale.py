"""A SQLite ledger asked only about the book's numbers and names decides as the whole ledger."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactguard.cli import main
from contactguard.evidence import Evidence
from contactguard.evidence.store import Ledger
from contactguard.model import EvidenceRecord

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
NUMBERS = ["+491701234501", "+491701234502", "+5215512345678", "+525512345678",
           "+5511987654321", "+551187654321", "+491701234503"]
LIDS = ["111111111111111@lid", "222222222222222@lid"]
BSUIDS = ["US.1349120865530274191", "DE.9876543210"]
NAMES = ["Anna Example", "Bert Example"]

TIME = st.one_of(st.none(), st.integers(0, 100).map(lambda m: T0 + timedelta(minutes=m)))
RECORD = st.builds(
    lambda phone, lid, bsuid, name, first_in, first_out, opted: EvidenceRecord(
        source="gen.csv:1", phone=phone, lid=lid, user_id=bsuid,
        name=name if not (phone or lid or bsuid) else None,
        first_inbound_at=first_in, first_outbound_at=first_out, opted_out_at=opted),
    st.one_of(st.none(), st.sampled_from(NUMBERS)),
    st.one_of(st.none(), st.sampled_from(LIDS)),
    st.one_of(st.none(), st.sampled_from(BSUIDS)),
    st.sampled_from(NAMES),
    TIME, TIME, st.one_of(st.none(), TIME),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(RECORD, min_size=1, max_size=12),
       book=st.lists(st.sampled_from(NUMBERS), max_size=4, unique=True),
       names=st.lists(st.sampled_from(NAMES), max_size=2, unique=True))
def test_targeted_records_decide_as_the_whole_ledger(
    tmp_path_factory: Any, records: list[EvidenceRecord], book: list[str], names: list[str]
) -> None:
    """For every book number and name, the evidence found by asking the ledger about the book
    equals the evidence of the whole ledger (LIDs and user IDs followed, variants included)."""
    path = tmp_path_factory.mktemp("l") / "ledger.sqlite"
    with Ledger(path) as db:
        db.import_records(records)
    with Ledger(path, readonly=True) as db:
        whole = Evidence()
        whole.update(db.records())
        targeted = Evidence()
        targeted.update(db.records_for(book, names))
    for number in book:
        assert targeted.lookup(number) == whole.lookup(number), number
    for name in names:
        assert targeted.by_name(name) == whole.by_name(name), name


def test_sanitize_with_a_ledger_reads_only_what_the_book_needs(tmp_path: Path,
                                                               runner: CliRunner) -> None:
    """sanitize --ledger keeps the contact whose number the ledger knows, and the summary's
    evidence covers the identities the book reached, not the whole ledger."""
    path = tmp_path / "ledger.sqlite"
    others = [EvidenceRecord(source=f"big.csv:{i}", phone=f"+4915{i:09d}",
                             first_inbound_at=T0) for i in range(2000)]
    with Ledger(path) as db:
        db.import_records([EvidenceRecord(source="a.csv:2", phone=NUMBERS[0],
                                          first_inbound_at=T0), *others])
    book = tmp_path / "book.vcf"
    book.write_text(f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna\r\nTEL:{NUMBERS[0]}\r\nEND:VCARD\r\n"
                    f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bert\r\nTEL:{NUMBERS[1]}\r\nEND:VCARD\r\n")
    out = tmp_path / "clean.vcf"
    result = runner.invoke(main, ["sanitize", str(book), "--ledger", str(path), "-o", str(out),
                                  "--json", "-q"])
    assert result.exit_code == 0, result.output
    assert "Anna" in out.read_text() and "Bert" not in out.read_text()
    import json

    summary = json.loads(result.stdout)["summary"]
    assert summary["contacts_kept"] == 1
    assert "2001" not in json.dumps(summary)  # the 2,000 other identities were not loaded


def test_version_one_ledger_with_a_book(tmp_path: Path, runner: CliRunner) -> None:
    """A version-1 ledger given to sanitize with a book is read (whole) and decides as before."""
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE identity (kind TEXT NOT NULL, key TEXT NOT NULL, first_inbound_at TEXT,"
        " first_outbound_at TEXT, last_inbound_at TEXT, opted_out_at TEXT, user_id TEXT,"
        " PRIMARY KEY (kind, key)) WITHOUT ROWID;"
        "CREATE TABLE said_by (kind TEXT NOT NULL, key TEXT NOT NULL, source TEXT NOT NULL,"
        " PRIMARY KEY (kind, key, source)) WITHOUT ROWID; PRAGMA user_version = 1;"
    )
    db.execute("INSERT INTO identity (kind, key, first_inbound_at) VALUES ('phone', ?, ?)",
               (NUMBERS[0], T0.isoformat()))
    db.commit()
    db.close()
    book = tmp_path / "book.vcf"
    book.write_text(f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna\r\nTEL:{NUMBERS[0]}\r\nEND:VCARD\r\n")
    out = tmp_path / "clean.vcf"
    result = runner.invoke(main, ["sanitize", str(book), "--ledger", str(path), "-o", str(out),
                                  "-q"])
    assert result.exit_code == 0, result.output
    assert "Anna" in out.read_text()
