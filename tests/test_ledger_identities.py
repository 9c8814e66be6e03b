"""The SQLite ledger holds identities: schema v1 → v2, foreign files refused, read-only readers,
mode 0600, and erasure of a whole person that waits, scrubs and tells the truth."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactguard.cli import main
from contactguard.errors import EvidenceError
from contactguard.evidence import load_evidence
from contactguard.evidence.identity import Key
from contactguard.evidence.store import Ledger, LedgerBusy
from contactguard.model import EvidenceRecord

T1 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
T2 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

V1_SCHEMA = """
CREATE TABLE identity (
    kind TEXT NOT NULL CHECK (kind IN ('phone', 'name', 'user_id')),
    key TEXT NOT NULL,
    first_inbound_at TEXT, first_outbound_at TEXT, last_inbound_at TEXT, opted_out_at TEXT,
    user_id TEXT,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE said_by (
    kind TEXT NOT NULL, key TEXT NOT NULL, source TEXT NOT NULL,
    PRIMARY KEY (kind, key, source),
    FOREIGN KEY (kind, key) REFERENCES identity (kind, key) ON DELETE CASCADE
) WITHOUT ROWID;
PRAGMA user_version = 1;
"""


def v1_ledger(path: Path) -> Path:
    """A ledger as contactguard's first schema wrote it: a number with a user id, a name."""
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        db.execute("INSERT INTO identity VALUES ('phone', '+491701234567', "
                   "'2026-03-01T09:00:00+00:00', NULL, '2026-03-01T09:00:00+00:00', NULL, "
                   "'DE.4711')")
        db.execute("INSERT INTO said_by VALUES ('phone', '+491701234567', 'chats/a.txt')")
        db.execute("INSERT INTO identity VALUES ('name', 'Berta Beispiel', NULL, "
                   "'2026-03-02T09:00:00+00:00', NULL, NULL, NULL)")
        db.execute("INSERT INTO said_by VALUES ('name', 'Berta Beispiel', 'chats/b.txt')")
    return path


def msgstore(path: Path) -> Path:
    """A file shaped like a phone's WhatsApp database: someone else's SQLite file."""
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE jid (_id INTEGER PRIMARY KEY, user TEXT, server TEXT);"
            "CREATE TABLE message (_id INTEGER PRIMARY KEY, chat_row_id INTEGER, from_me INTEGER,"
            " timestamp INTEGER, text_data TEXT);"
            "INSERT INTO jid VALUES (1, '491701234567', 's.whatsapp.net');"
            "INSERT INTO message VALUES (1, 1, 0, 1767225600000, 'Hallo');"
        )
    return path


class TestSchema:
    def test_version_one_is_upgraded_in_place(self, tmp_path: Path) -> None:
        """A version-1 ledger opened for writing becomes the current version with the same
        evidence, the user id linked to its number and the name kept."""
        path = v1_ledger(tmp_path / "old.sqlite")
        with Ledger(path) as db:
            assert db.version == 3
            entries = {e.key: e for e in db.entries()}
        assert set(entries) == {"+491701234567", "Berta Beispiel"}
        assert Key("bsuid", "DE.4711") in entries["+491701234567"].keys
        assert entries["+491701234567"].entry.sources == ("chats/a.txt",)
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA user_version").fetchone() == (3,)
            tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
        assert "identity" not in tables and "contactguard_ledger" in tables

    def test_version_one_is_read_without_being_written(self, tmp_path: Path) -> None:
        """sanitize/check read a version-1 ledger as it is: the file is not changed."""
        path = v1_ledger(tmp_path / "old.sqlite")
        before = path.read_bytes()
        entry = load_evidence([path]).lookup("+491701234567")
        assert entry is not None and entry.initiated
        assert path.read_bytes() == before

    def test_failed_upgrade_leaves_version_one(self, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        """An upgrade that fails midway rolls back: the file is still a readable version 1."""
        path = v1_ledger(tmp_path / "old.sqlite")

        def broken(self: Ledger, *args: object) -> None:
            raise RuntimeError("disk gone")

        monkeypatch.setattr(Ledger, "_write_all", broken)
        with pytest.raises(RuntimeError):
            Ledger(path)
        monkeypatch.undo()
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA user_version").fetchone() == (1,)
            assert raw.execute("SELECT count(*) FROM identity").fetchone() == (2,)

    def test_new_ledger_is_owner_only(self, tmp_path: Path) -> None:
        """A ledger contactguard creates is readable and writable by its owner only (0600)."""
        path = tmp_path / "new.sqlite"
        Ledger(path).close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


class TestForeignFiles:
    @pytest.mark.parametrize("name", ["msgstore.db", "ChatStorage.sqlite", "Manifest.db"])
    def test_writers_refuse_and_leave_it_untouched(
        self, tmp_path: Path, runner: CliRunner, name: str
    ) -> None:
        """import, opt-out and forget refuse another program's SQLite file in one line."""
        path = msgstore(tmp_path / name)
        before = path.read_bytes()
        csv = tmp_path / "in.csv"
        csv.write_text("phone,first_inbound_at\n+491709999999,2026-03-01\n")
        for args in (["evidence", "import", str(csv), "--ledger", str(path)],
                     ["evidence", "opt-out", "+491709999999", "--ledger", str(path)],
                     ["evidence", "forget", "+491701234567", "--ledger", str(path)]):
            result = runner.invoke(main, args)
            assert result.exit_code == 1, result.output
            assert "not a contactguard evidence ledger" in result.stderr
            assert "Traceback" not in result.output
        assert path.read_bytes() == before

    def test_sanitize_dry_run_refuses_it(self, tmp_path: Path, runner: CliRunner) -> None:
        """A phone database given as evidence (even under --dry-run) is refused, not read as
        an empty ledger, and its bytes stay the same."""
        path = msgstore(tmp_path / "msgstore.db")
        before = path.read_bytes()
        book = tmp_path / "b.vcf"
        book.write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nTEL:+491701234567\r\n"
                         b"END:VCARD\r\n")
        for option in ("--evidence", "--ledger"):
            result = runner.invoke(main, ["sanitize", str(book), option, str(path),
                                          "--dry-run"])
            assert result.exit_code == 1, result.output
            assert result.stderr.count("\n") == 1
            assert "msgstore.db" in result.stderr
        assert path.read_bytes() == before

    def test_empty_sqlite_file_is_not_adopted(self, tmp_path: Path) -> None:
        """A SQLite file with no tables that contactguard did not create is refused."""
        path = tmp_path / "empty.db"
        sqlite3.connect(path).execute("PRAGMA user_version = 0").close()
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE t (x)")
            db.execute("DROP TABLE t")
        with pytest.raises(EvidenceError, match="not a contactguard"):
            Ledger(path)

    def test_readers_open_read_only(self, tmp_path: Path) -> None:
        """A reader's connection cannot write, so an input ledger is never changed."""
        path = tmp_path / "l.sqlite"
        with Ledger(path) as db:
            db.import_records([EvidenceRecord("a", phone="+491701234567", first_inbound_at=T1)])
        with Ledger(path, readonly=True) as db, pytest.raises(sqlite3.OperationalError):
            db._db.execute("DELETE FROM statement")


class TestShowMasksSources:
    def test_numbers_in_source_names_are_masked(self, tmp_path: Path, runner: CliRunner) -> None:
        """A chat export named after a number shows the number masked unless --unmasked."""
        path = tmp_path / "l.sqlite"
        with Ledger(path) as db:
            db.import_records([EvidenceRecord("WhatsApp Chat with +49 170 1234567.txt",
                                              phone="+491701234567", first_inbound_at=T1)])
        shown = runner.invoke(main, ["evidence", "show", "--ledger", str(path)])
        assert "1234567" not in shown.stdout and "+49170*****67" in shown.stdout
        plain = runner.invoke(main, ["evidence", "show", "--ledger", str(path), "--unmasked"])
        assert "+49 170 1234567" in plain.stdout


class TestForgetAnyKey:
    def ledger(self, path: Path) -> None:
        with Ledger(path) as db:
            db.import_records([
                EvidenceRecord("hooks.jsonl:1", user_id="DE.998877", first_outbound_at=T1),
                EvidenceRecord("hooks.jsonl:2", phone="491701234567", user_id="DE.998877",
                               username="anna_b", first_inbound_at=T2),
                EvidenceRecord("chats/WhatsApp Chat with Berta Beispiel.txt",
                               name="Berta Beispiel", first_inbound_at=T1),
                EvidenceRecord("other.csv:2", phone="+491709999999", first_inbound_at=T1),
            ])

    @pytest.mark.parametrize("key", ["+49 170 1234567", "0049-170-1234567", "491701234567",
                                     "DE.998877", "@Anna_B"])
    def test_any_key_removes_the_whole_person(self, tmp_path: Path, key: str) -> None:
        """Forgetting by any spelling of the number, the user id or the username removes every
        statement of the person, the user-id-only one too, and leaves no byte of their keys."""
        path = tmp_path / "l.sqlite"
        self.ledger(path)
        with Ledger(path) as db:
            result = db.forget(key)
            assert (result.identities, result.statements) == (1, 2)
            assert sorted(e.key for e in db.entries()) == ["+491709999999", "Berta Beispiel"]
        data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
        for needle in (b"491701234567", b"DE.998877", b"anna_b", b"hooks.jsonl"):
            assert needle not in data

    def test_by_name(self, tmp_path: Path, runner: CliRunner) -> None:
        """`evidence forget "Name"` removes a chat export's person kept under their name."""
        path = tmp_path / "l.sqlite"
        self.ledger(path)
        result = runner.invoke(main, ["evidence", "forget", "Berta Beispiel", "--ledger",
                                      str(path)])
        assert result.exit_code == 0, result.output
        assert "1 identity deleted" in result.stderr
        assert b"Berta" not in path.read_bytes()

    def test_show_masks_unless_asked(self, tmp_path: Path, runner: CliRunner) -> None:
        """`evidence show` lists every key of a person masked; --unmasked shows them."""
        path = tmp_path / "l.sqlite"
        self.ledger(path)
        masked = runner.invoke(main, ["evidence", "show", "--ledger", str(path), "-n",
                                      "DE.998877"])
        assert masked.exit_code == 0
        assert "+49170*****67" in masked.stdout and "491701234567" not in masked.stdout
        assert "bsuid:" in masked.stdout and "username:" in masked.stdout
        assert "hooks.jsonl:2" in masked.stdout
        plain = runner.invoke(main, ["evidence", "show", "--ledger", str(path), "-n",
                                     "DE.998877", "--unmasked"])
        assert "+491701234567" in plain.stdout and "DE.998877" in plain.stdout


READER = textwrap.dedent("""
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN")
    db.execute("SELECT count(*) FROM statement").fetchone()
    print("reading", flush=True)
    time.sleep(float(sys.argv[2]))
    db.execute("COMMIT")
""")


class TestForgetWaits:
    def ledger(self, path: Path, wal: bool) -> None:
        with Ledger(path) as db:
            db.import_records([EvidenceRecord(f"chat-{i}.txt", phone="+491701234567",
                                              first_inbound_at=T1) for i in range(20)])
            db.import_records([EvidenceRecord("x.csv:2", phone="+491709999999",
                                              first_inbound_at=T1)])
            if wal:
                db._db.execute("PRAGMA journal_mode=WAL")
                db.import_records([EvidenceRecord("late.csv:2", phone="+491701234567",
                                                  first_inbound_at=T2)])

    def reader(self, path: Path, seconds: float) -> subprocess.Popen[str]:
        child = subprocess.Popen([sys.executable, "-c", READER, str(path), str(seconds)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline().strip() == "reading"
        return child

    def traces(self, path: Path) -> list[str]:
        return [p.name for p in path.parent.iterdir()
                if p.name.startswith(path.name) and b"491701234567" in p.read_bytes()]

    @pytest.mark.parametrize("wal", [True, False])
    def test_long_reader_makes_forget_say_busy(
        self, tmp_path: Path, runner: CliRunner, wal: bool
    ) -> None:
        """A reader holding a transaction longer than --wait: forget exits 1 saying the ledger
        is busy (no traceback, no false success); once it is gone, forget completes."""
        path = tmp_path / "l.sqlite"
        self.ledger(path, wal)
        child = self.reader(path, 30)
        try:
            result = runner.invoke(main, ["evidence", "forget", "+491701234567", "--ledger",
                                          str(path), "--wait", "0.5"])
            assert result.exit_code == 1, result.output
            assert "busy" in result.stderr and "Traceback" not in result.output
        finally:
            child.kill()
            child.wait()
            child.stdout.close()  # type: ignore[union-attr]
        result = runner.invoke(main, ["evidence", "forget", "+491701234567", "--ledger",
                                      str(path)])
        assert result.exit_code == 0, result.output
        assert self.traces(path) == []

    def test_short_reader_is_waited_for(self, tmp_path: Path) -> None:
        """A reader that finishes within the wait does not make forget fail."""
        path = tmp_path / "l.sqlite"
        self.ledger(path, True)
        child = self.reader(path, 1.0)
        try:
            start = time.monotonic()
            with Ledger(path, create=False) as db:
                assert db.forget("+491701234567", wait=20).identities == 1
            assert time.monotonic() - start < 20
        finally:
            child.wait()
            child.stdout.close()  # type: ignore[union-attr]
        assert self.traces(path) == []

    def test_open_idle_reader_does_not_block(self, tmp_path: Path) -> None:
        """A connection that is open but not reading does not stop the erasure in WAL mode."""
        path = tmp_path / "l.sqlite"
        self.ledger(path, True)
        idle = sqlite3.connect(path)
        try:
            idle.execute("SELECT count(*) FROM statement").fetchone()
            with Ledger(path, create=False) as db:
                assert db.forget("+491701234567", wait=5).identities == 1
            assert self.traces(path) == []
        finally:
            idle.close()

    def test_busy_error_type(self, tmp_path: Path) -> None:
        """LedgerBusy is an EvidenceError naming the ledger (exit 1 with one line)."""
        assert issubclass(LedgerBusy, EvidenceError)


class TestForgetWithBook:
    def test_book_finds_the_saved_name(self, tmp_path: Path, runner: CliRunner) -> None:
        """`forget NUMBER --book` also forgets the chat export kept under the display name that
        the book's contact with that number carries; without --book a note says names exist."""
        path = tmp_path / "l.sqlite"
        with Ledger(path) as db:
            db.import_records([
                EvidenceRecord("chats/WhatsApp Chat with Berta Beispiel.txt",
                               name="Berta Beispiel", first_inbound_at=T1),
                EvidenceRecord("x.csv:2", phone="+491709999999", first_inbound_at=T1),
            ])
        book = tmp_path / "b.vcf"
        book.write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Berta Beispiel\r\n"
                         b"TEL:0170 1234567\r\nEND:VCARD\r\n")
        bare = runner.invoke(main, ["evidence", "forget", "+491701234567", "--ledger",
                                    str(path)])
        assert bare.exit_code == 0 and "known only by a chat export's display name" in bare.stderr
        result = runner.invoke(main, ["evidence", "forget", "+49 170 1234567", "--ledger",
                                      str(path), "--book", str(book), "--region", "DE"])
        assert result.exit_code == 0, result.output
        assert "1 identity deleted" in result.stderr
        assert b"Berta" not in path.read_bytes()
        with Ledger(path, readonly=True) as db:
            assert [e.key for e in db.entries()] == ["+491709999999"]


PEOPLE = [
    {"phone": "+491701111111", "user_id": "DE.111111", "username": "anna_b"},
    {"phone": "+5215541637145", "user_id": "MX.222222", "username": "carlos_m"},
    {"phone": "+491703333333", "user_id": "DE.333333", "username": "dora_k"},
]


def spellings(person: dict[str, str]) -> list[str]:
    number = person["phone"]
    national = number[3:]
    out = [number, number[1:], f"{number[:3]} {national[:3]} {national[3:]}",
           "00" + number[1:], person["user_id"], "@" + person["username"].upper()]
    if number.startswith("+521"):
        out.append("+52" + number[4:])  # the other WhatsApp spelling of a Mexican mobile
    return out


@st.composite
def ledger_case(draw: st.DrawFn) -> tuple[list[EvidenceRecord], int, str]:
    records = []
    for i in range(draw(st.integers(1, 8))):
        person = draw(st.sampled_from(PEOPLE))
        keys = draw(st.sampled_from([("phone",), ("user_id",), ("phone", "user_id"),
                                     ("user_id", "username"), ("phone", "username")]))
        records.append(EvidenceRecord(f"src-{i}-{person['username']}.jsonl:1",
                                      first_inbound_at=T1,
                                      **{k: person[k] for k in keys}))
    # every person's keys are linked once, as contacts[] would
    for person in PEOPLE:
        records.append(EvidenceRecord("link", phone=person["phone"], user_id=person["user_id"],
                                      username=person["username"]))
    target = draw(st.integers(0, len(PEOPLE) - 1))
    return records, target, draw(st.sampled_from(spellings(PEOPLE[target])))


class TestForgetProperty:
    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ledger_case())
    def test_any_spelling_forgets_every_trace(
        self, tmp_path_factory: pytest.TempPathFactory,
        case: tuple[list[EvidenceRecord], int, str],
    ) -> None:
        """Generated ledgers: forgetting a person by any key in any spelling leaves none of
        their keys or sources in the files, and every other person as they were."""
        records, target, key = case
        folder = tmp_path_factory.mktemp("forget")
        path = folder / "l.sqlite"
        with Ledger(path) as db:
            db.import_records(records)
            before = {e.key for e in db.entries()}
            db.forget(key)
            after = {e.key for e in db.entries()}
        person = PEOPLE[target]
        gone = {k for k in before if k in (person["phone"], "+525541637145")}
        assert after == before - gone
        data = b"".join(p.read_bytes() for p in folder.iterdir())
        for needle in (person["phone"][1:], person["user_id"], person["username"]):
            assert needle.encode() not in data
        for other in PEOPLE:
            if other is not person:
                assert other["user_id"].encode() in data


class TestForgetTellsTheTruth:
    def test_bytes_left_elsewhere_make_forget_fail(self, tmp_path: Path, runner: CliRunner) -> None:
        """When another person's source still holds the forgotten number's digits, forget
        exits 1 saying the erasure could not be verified, instead of claiming success."""
        path = tmp_path / "l.sqlite"
        with Ledger(path) as db:
            db.import_records([
                EvidenceRecord("a.csv:2", phone="+491701234567", first_inbound_at=T1),
                EvidenceRecord("notes-about-491701234567.csv:3", phone="+491709999999",
                               first_inbound_at=T1),
            ])
        result = runner.invoke(main, ["evidence", "forget", "+491701234567", "--ledger",
                                      str(path)])
        assert result.exit_code == 1
        assert "could not be verified" in result.stderr and "Traceback" not in result.output
