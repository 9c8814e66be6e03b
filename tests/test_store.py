"""The SQLite evidence ledger: merging, transactions, opt-out and erasure."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from contactguard.cli import main
from contactguard.errors import EvidenceError
from contactguard.evidence import load_evidence
from contactguard.evidence.store import Ledger
from contactguard.model import EvidenceRecord

T1 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
T2 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def rec(phone: str, source: str = "a.csv:2", **kw: datetime) -> EvidenceRecord:
    return EvidenceRecord(source=source, phone=phone, **kw)


class TestImport:
    def test_same_source_twice_changes_nothing(self, tmp_path: Path) -> None:
        """A second import of the same records adds and changes nothing."""
        records = [
            rec("+491701234567", first_inbound_at=T1),
            rec("4915123456701", first_inbound_at=T2),
        ]
        with Ledger(tmp_path / "l.sqlite") as db:
            first = db.import_records(records)
            second = db.import_records(records)
            assert (first.added, first.changed) == (2, 0)
            assert (second.added, second.changed) == (0, 0)
            assert len(db) == 2

    def test_merge_keeps_earliest_first_and_all_sources(self, tmp_path: Path) -> None:
        """Two sources merge to the earliest first-inbound time and remember both sources."""
        with Ledger(tmp_path / "l.sqlite") as db:
            db.import_records([rec("+491701234567", "a.csv:2", first_inbound_at=T2)])
            db.import_records([rec("491701234567", "b.csv:5", first_inbound_at=T1)])
            (item,) = list(db.entries())
        assert (item.key, item.entry.first_inbound_at, item.entry.sources) == (
            "+491701234567",
            T1,
            ("a.csv:2", "b.csv:5"),
        )

    def test_names_and_user_ids_are_kept(self, tmp_path: Path) -> None:
        """Evidence under a display name or a business-scoped user id survives a round trip."""
        with Ledger(tmp_path / "l.sqlite") as db:
            db.import_records(
                [
                    EvidenceRecord("chat.txt", name="Anna", first_inbound_at=T1),
                    EvidenceRecord("hook.jsonl:3", user_id="DE.123456", first_inbound_at=T1),
                ]
            )
            assert sorted((i.kind, i.key) for i in db.entries()) == [
                ("name", "Anna"),
                ("user_id", "DE.123456"),
            ]

    def test_ledger_is_an_evidence_source(self, tmp_path: Path) -> None:
        """A ledger file given as --evidence is recognised and read back as the same evidence."""
        path = tmp_path / "l.sqlite"
        with Ledger(path) as db:
            db.import_records([rec("+491701234567", first_inbound_at=T1, first_outbound_at=T2)])
        entry = load_evidence([path]).lookup("+491701234567")
        assert entry is not None
        assert (entry.initiated, entry.sources) == (True, ("a.csv:2",))

    def test_newer_schema_is_refused(self, tmp_path: Path) -> None:
        """A ledger written by a newer schema version is refused with a clear message."""
        path = tmp_path / "l.sqlite"
        Ledger(path).close()
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA user_version = 99")
        with pytest.raises(EvidenceError, match="newer"):
            Ledger(path)

    def test_not_a_database(self, tmp_path: Path) -> None:
        """A file that is not SQLite is an EvidenceError naming it."""
        path = tmp_path / "l.sqlite"
        path.write_bytes(b"x" * 2048)
        with pytest.raises(EvidenceError, match=str(path)):
            Ledger(path)


CHILD = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timezone
    from contactguard.evidence.store import Ledger
    from contactguard.model import EvidenceRecord
    original = Ledger._write
    def paused(self, *args):
        original(self, *args)  # every row written, the transaction not yet committed
        print("inside", flush=True)
        time.sleep(120)
    Ledger._write = paused
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    records = [EvidenceRecord("big.csv:%d" % i, phone="+4915%09d" % i, first_inbound_at=t)
               for i in range(1000)]
    with Ledger(sys.argv[1]) as db:
        db.import_records(records)
""")


class TestTransactions:
    def test_reader_never_sees_half_an_import_and_a_kill_loses_nothing(
        self, tmp_path: Path
    ) -> None:
        """During an import readers see the old ledger; killing the import keeps the old ledger."""
        path = tmp_path / "l.sqlite"
        with Ledger(path) as db:
            db.import_records([rec("+491701234567", first_inbound_at=T1)])
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "inside"
            with Ledger(path, create=False) as reader:
                assert len(reader) == 1
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            child.stdout.close()  # type: ignore[union-attr]
        with Ledger(path, create=False) as db:
            assert len(db) == 1
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)


class TestErasure:
    def test_forget_leaves_no_trace_in_the_file(self, tmp_path: Path) -> None:
        """After forget, the number's digits appear nowhere in the ledger file's bytes."""
        path = tmp_path / "l.sqlite"
        with Ledger(path) as db:
            db.import_records(
                [rec("+491701234567", f"export-{i}.csv:2", first_inbound_at=T1) for i in range(50)]
            )
            db.import_records([rec("+491709999999", first_inbound_at=T1)])
            assert b"491701234567" in path.read_bytes()
            assert db.forget("+49 170 1234567").identities == 1
            assert [i.key for i in db.entries()] == ["+491709999999"]
        data = path.read_bytes()
        assert b"491701234567" not in data
        assert b"export-" not in data

    def test_forget_removes_whatsapp_variants(self, tmp_path: Path) -> None:
        """Forgetting a Mexican number also removes its WhatsApp 521 form."""
        with Ledger(tmp_path / "l.sqlite") as db:
            db.import_records([rec("5215541637145", first_inbound_at=T1)])
            assert db.forget("+525541637145").identities == 1
            assert len(db) == 0

    def test_opt_out_then_sanitize_removes(self, tmp_path: Path, runner: CliRunner) -> None:
        """`evidence opt-out` makes sanitize remove the person as opted-out."""
        ledger = tmp_path / "l.sqlite"
        book = tmp_path / "b.vcf"
        book.write_bytes(
            b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna\r\nN:;Anna;;;\r\nTEL:+491701234567\r\nEND:VCARD\r\n"
        )
        with Ledger(ledger) as db:
            db.import_records([rec("+491701234567", first_inbound_at=T1)])
        report = tmp_path / "r.json"
        assert (
            runner.invoke(
                main, ["evidence", "opt-out", "+491701234567", "--ledger", str(ledger)]
            ).exit_code
            == 0
        )
        result = runner.invoke(
            main, ["sanitize", str(book), "--ledger", str(ledger), "--report", str(report)]
        )
        assert result.exit_code == 0, result.output
        assert '"reason": "opted-out"' in report.read_text()


class TestCommands:
    def test_import_and_show(self, tmp_path: Path, runner: CliRunner) -> None:
        """`evidence import` merges a CSV ledger; `evidence show --number` lists it with sources."""
        csv = tmp_path / "in.csv"
        csv.write_text("phone,first_inbound_at\n+491701234567,2026-03-01\n")
        ledger = tmp_path / "l.sqlite"
        first = runner.invoke(main, ["evidence", "import", str(csv), "--ledger", str(ledger)])
        again = runner.invoke(main, ["evidence", "import", str(csv), "--ledger", str(ledger)])
        assert first.exit_code == 0 and "1 entry added" in first.stderr
        assert "0 entries added, 0 changed; the ledger holds 1 entry" in again.stderr
        shown = runner.invoke(
            main,
            ["evidence", "show", "--ledger", str(ledger), "--number", "+49 170 1234567",
             "--unmasked"],
        )
        assert shown.exit_code == 0
        assert (
            "+491701234567" in shown.stdout
            and f"{csv}:2" in shown.stdout
            and "wrote first" in shown.stdout
        )

    def test_forget_command(self, tmp_path: Path, runner: CliRunner) -> None:
        """`evidence forget` deletes the number."""
        ledger = tmp_path / "l.sqlite"
        with Ledger(ledger) as db:
            db.import_records([rec("+491701234567", first_inbound_at=T1)])
        result = runner.invoke(
            main, ["evidence", "forget", "+491701234567", "--ledger", str(ledger)]
        )
        assert result.exit_code == 0
        with Ledger(ledger) as db:
            assert len(db) == 0

    def test_bad_number(self, tmp_path: Path, runner: CliRunner) -> None:
        """A number that is not international is a clear error, exit 1."""
        result = runner.invoke(
            main, ["evidence", "opt-out", "hello", "--ledger", str(tmp_path / "l.sqlite")]
        )
        assert result.exit_code == 1
        assert "international" in result.stderr


class TestUserIds:
    def test_user_id_is_kept_beside_the_number(self, tmp_path: Path) -> None:
        """A business-scoped user id seen with a number is stored as its secondary identifier."""
        with Ledger(tmp_path / "l.sqlite") as db:
            record = EvidenceRecord(
                "hook.jsonl:1", phone="491701234567", user_id="DE.998877", first_inbound_at=T1
            )
            assert db.import_records([record]).added == 1
            assert db.import_records([record]).changed == 0
            (item,) = list(db.entries())
            assert (item.key, item.user_id) == ("+491701234567", "DE.998877")
            assert [r.user_id for r in db.records()] == ["DE.998877"]
