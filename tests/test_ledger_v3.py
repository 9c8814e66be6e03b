"""Ledger schema version 3 (a number seen alone in one row, integer times, sources inline):
the same evidence as the sources read directly and as version 2 held, the upgrade from
version 2, erasure of its rows, and imports that are all or nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from contactguard.cli import main
from contactguard.errors import EvidenceError
from contactguard.evidence import Evidence, SourceContext, storeschema, storewrite
from contactguard.evidence.identity import Statement
from contactguard.evidence.store import Ledger
from contactguard.evidence.storeschema import NONE
from contactguard.model import EvidenceEntry, EvidenceRecord

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# Schema version 2 as contactguard wrote it (kept here to build version-2 files).
V2_SCHEMA = """
CREATE TABLE contactguard_ledger (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO contactguard_ledger (name, value) VALUES ('format', 'contactguard evidence ledger');
CREATE TABLE statement (
    id INTEGER PRIMARY KEY,
    keys TEXT NOT NULL UNIQUE,  -- the sorted identity keys, "kind:value" per line
    first_inbound_at TEXT,
    first_outbound_at TEXT,
    last_inbound_at TEXT,
    opted_out_at TEXT,
    number_left_at TEXT
);
CREATE TABLE statement_key (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    statement INTEGER NOT NULL REFERENCES statement (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, value, statement)
) WITHOUT ROWID;
CREATE TABLE said_by (
    statement INTEGER NOT NULL REFERENCES statement (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    PRIMARY KEY (statement, source)
) WITHOUT ROWID;
PRAGMA user_version = 2;
"""
V2_TIMES = ("first_inbound_at", "first_outbound_at", "last_inbound_at", "opted_out_at",
            "number_left_at")


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


def v2_ledger(path: Path, statements: list[Statement]) -> Path:
    """A ledger as schema version 2 wrote it: ISO times in UTC, one ``said_by`` row per
    source, one ``statement_key`` row per key."""
    with sqlite3.connect(path) as db:
        db.executescript(V2_SCHEMA)
        rows = sorted(("\n".join(f"{k.kind}:{k.value}" for k in s.keys), s) for s in statements)
        for sid, (keys, statement) in enumerate(rows, start=1):
            entry = statement.entry
            db.execute("INSERT INTO statement VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (sid, keys, *(iso(getattr(entry, t)) for t in V2_TIMES)))
            db.executemany("INSERT INTO statement_key VALUES (?, ?, ?)",
                           [(k.kind, k.value, sid) for k in statement.keys])
            db.executemany("INSERT INTO said_by VALUES (?, ?)",
                           [(sid, s) for s in set(entry.sources)])
    return path


Shape = tuple[object, ...]


def shape(entry: EvidenceEntry) -> Shape:
    """An entry as compared: its times (instants) and its set of sources."""
    return (entry.first_inbound_at, entry.first_outbound_at, entry.last_inbound_at,
            entry.opted_out_at, entry.number_left_at, sorted(set(entry.sources)))


def looked(evidence: Evidence, number: str) -> Shape | None:
    entry = evidence.lookup(number)
    return None if entry is None else shape(entry)


def held(db: Ledger) -> dict[object, Shape]:
    return {s.keys: shape(s.entry) for s in db.statements()}


def direct(records: list[EvidenceRecord]) -> tuple[Evidence, dict[object, Shape]]:
    """The records read directly (``Evidence``) and their merged statements."""
    evidence = Evidence()
    evidence.update(records)
    return evidence, {s.keys: shape(s.entry) for s in evidence._statements()}


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as raw:
        return {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}


# --- generated evidence ------------------------------------------------------------------

LID = 10**14  # LIDs are made of the pool's index above it
POOL = ["+491701234567", "+5215541637145", "+4915000000001", "+15550100123"]
ZONES = [timezone.utc, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))]
MOMENTS = st.one_of(
    st.none(),
    st.builds(lambda days, us, zone: (datetime(2026, 1, 1, tzinfo=timezone.utc)
                                      + timedelta(days=days, microseconds=us)).astimezone(zone),
              st.integers(-3000, 3000), st.integers(0, 86_400 * 10**6 - 1),
              st.sampled_from(ZONES)),
    st.sampled_from([datetime(1, 1, 1, tzinfo=timezone.utc),
                     datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
                     datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=timezone.utc)]),
)
SOURCES = st.sampled_from([
    "chats/WhatsApp Chat with Anna.txt", "ledger.csv:2", "ledger.csv:3", "hooks.jsonl:7",
    '["looks", "like", "json"]', "[]", "line\nbreak.csv:2", "é.csv:4", "",
])


def spell(number: str, how: int) -> str:
    """One spelling of a pool number that sources use (E.164, a wa_id, spaced, dashed)."""
    return [number, number[1:], f"{number[:3]} {number[3:6]} {number[6:]}",
            f"{number[:3]}-{number[3:6]}-{number[6:]}"][how % 4]


@st.composite
def records(draw: st.DrawFn) -> list[EvidenceRecord]:
    """Evidence records: numbers (several spellings) alone or with a user ID, username or
    LID, user IDs and names alone, any times in any zone, sources that look odd."""
    out = []
    for _ in range(draw(st.integers(1, 14))):
        keys = draw(st.sampled_from([("phone",), ("phone",), ("phone",), ("phone", "user_id"),
                                     ("phone", "lid"), ("user_id",), ("user_id", "username"),
                                     ("name",), ("phone", "username")]))
        person = draw(st.integers(0, len(POOL) - 1))
        values = {"phone": spell(POOL[person], draw(st.integers(0, 3))),
                  "user_id": f"DE.{700 + person}", "username": f"user_{person}",
                  "lid": f"{LID + person}@lid", "name": f"Person {person}"}
        out.append(EvidenceRecord(
            draw(SOURCES), **{k: values[k] for k in keys},
            first_inbound_at=draw(MOMENTS), first_outbound_at=draw(MOMENTS),
            last_inbound_at=draw(MOMENTS), opted_out_at=draw(MOMENTS),
            number_left_at=draw(MOMENTS)))
    return out


class TestSameEvidence:
    @SETTINGS
    @given(batch=records(), split=st.integers(0, 14))
    def test_imported_reads_back_as_the_sources_and_as_version_2(
        self, tmp_path_factory: pytest.TempPathFactory, batch: list[EvidenceRecord],
        split: int,
    ) -> None:
        """Generated evidence imported into a version-3 ledger (at once or in two imports)
        reads back as the same merged statements as the records read directly, and as the
        same statements held in a version-2 file, read as it is and once upgraded."""
        folder = tmp_path_factory.mktemp("v3")
        evidence, expected = direct(batch)
        with Ledger(folder / "once.sqlite") as db:
            db.import_records(batch)
            assert held(db) == expected
        with Ledger(folder / "twice.sqlite") as db:
            db.import_records(batch[:split])
            db.import_records(batch[split:])
            assert held(db) == expected
        old = v2_ledger(folder / "v2.sqlite", evidence._statements())
        before = old.read_bytes()
        numbers = sorted({n for i in evidence.identities() for n in i.numbers})
        with Ledger(old, readonly=True) as db:
            assert db.version == 2 and held(db) == expected
            asked_v2 = Evidence()
            asked_v2.update(db.records_for(numbers))
        assert old.read_bytes() == before
        with Ledger(old) as db:
            assert db.version == 3 and held(db) == expected
        with Ledger(old, readonly=True) as db:
            asked_v3 = Evidence()
            asked_v3.update(db.records_for(numbers))
        decided = [looked(evidence, n) for n in numbers]
        assert [looked(asked_v2, n) for n in numbers] == decided
        assert [looked(asked_v3, n) for n in numbers] == decided

    def test_numbers_alone_are_one_row_each(self, tmp_path: Path) -> None:
        """A number seen alone is one ``number_alone`` row with its times and sources; a
        number with its user ID is a general statement with a row per key."""
        path = tmp_path / "l.sqlite"
        t = datetime(2026, 3, 1, 9, 15, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
        with Ledger(path) as db:
            db.import_records([
                EvidenceRecord("a.csv:2", phone="+491701234567", first_inbound_at=t),
                EvidenceRecord('["a.csv:3"]', phone="491701234567"),
                EvidenceRecord("b.csv:2", phone="+4915000000001", first_outbound_at=t),
                EvidenceRecord("h.jsonl:1", phone="+15550100123", user_id="US.1"),
            ])
        with sqlite3.connect(path) as raw:
            alone = raw.execute("SELECT number, first_inbound_at, first_outbound_at, sources,"
                                " typeof(sources) FROM number_alone ORDER BY number").fetchall()
            general = raw.execute("SELECT keys, sources FROM statement").fetchall()
            keys = raw.execute("SELECT kind, value FROM statement_key ORDER BY kind").fetchall()
        micros = (t - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
        assert alone == [
            ("+4915000000001", None, micros, "b.csv:2", "text"),
            ("+491701234567", micros, None, b'["[\\"a.csv:3\\"]", "a.csv:2"]', "blob"),
        ]
        assert general == [("bsuid:US.1\nphone:+15550100123", "h.jsonl:1")]
        assert keys == [("bsuid", "US.1"), ("phone", "+15550100123")]
        with Ledger(path, readonly=True) as db:
            entry = next(e for e in db.entries() if e.key == "+491701234567").entry
        assert entry.sources == ('["a.csv:3"]', "a.csv:2") and entry.first_inbound_at == t


class TestTimeColumns:
    """``micros_column`` converts only what it must (a cell sharing its row's object in
    another column, objects repeated down a column); it must still be ``micros`` cell by
    cell."""

    NAIVE = st.builds(lambda days, us: datetime(2026, 1, 1) + timedelta(days=days,
                                                                        microseconds=us),
                      st.integers(-400, 400), st.integers(0, 86_400 * 10**6 - 1))

    @settings(max_examples=120, deadline=None)
    @given(like=st.lists(st.one_of(MOMENTS, NAIVE), min_size=1, max_size=12),
           pool=st.lists(st.one_of(MOMENTS, NAIVE), min_size=1, max_size=12),
           picks=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11), st.booleans()),
                          min_size=1, max_size=600))
    @example(like=[datetime(2026, 1, 1, tzinfo=timezone.utc)],
             pool=[datetime(2025, 1, 1, tzinfo=timezone.utc), None],
             picks=[(0, i % 2, i % 3 == 0) for i in range(300)])
    def test_each_cell_is_its_micros(self, like: list[datetime | None],
                                     pool: list[datetime | None],
                                     picks: list[tuple[int, int, bool]]) -> None:
        """A column whose cells share objects with a first column (or not) and repeat a few
        objects (or are all distinct) comes out as ``micros`` of each cell, NONE for none."""
        def expect(column: list[datetime | None]) -> list[int]:
            return [NONE if (m := storeschema.micros(t)) is None else m for t in column]

        firsts = [like[a % len(like)] for a, _b, _shared in picks]
        # distinct objects: the same instant each time, built anew (``+ timedelta(0)``)
        firsts = [t if t is None or i % 2 else t + timedelta(0) for i, t in enumerate(firsts)]
        column = [first if shared else pool[b % len(pool)]
                  for first, (_a, b, shared) in zip(firsts, picks, strict=True)]
        first_micros = storeschema.micros_column(firsts)
        assert first_micros == expect(firsts)
        assert storeschema.micros_column(column, (firsts, first_micros)) == expect(column)
        assert storeschema.micros_column(column) == expect(column)


class TestSources:
    TEXTS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)

    @settings(max_examples=200, deadline=None)
    @given(texts=st.lists(TEXTS, min_size=1, max_size=5))
    @example(texts=['say "hi"\\', "é\u2028\n", "\x00"])
    def test_several_sources_are_a_sorted_json_array(self, texts: list[str]) -> None:
        """Sources as stored: one text as itself, several as the JSON array of the distinct
        texts, sorted, in UTF-8 (as ``json.dumps`` writes it), read back as those texts."""
        stored = storeschema.encode_sources(texts)
        distinct = sorted(set(texts))
        if len(distinct) == 1:
            assert stored == distinct[0]
        else:
            assert stored == json.dumps(distinct, ensure_ascii=False).encode("utf-8")
        assert storeschema.decode_sources(stored) == tuple(distinct)


class TestUpgrade:
    def statements(self) -> list[Statement]:
        evidence = Evidence()
        t1 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
        evidence.update([
            EvidenceRecord("a.csv:2", phone="+491701234567", first_inbound_at=t1),
            EvidenceRecord("chat.txt", phone="+491701234567",
                           first_outbound_at=t1 + timedelta(days=1)),
            EvidenceRecord("h.jsonl:4", phone="+5215541637145", user_id="MX.9",
                           username="carla", last_inbound_at=t1),
            EvidenceRecord("WhatsApp Chat with Berta.txt", name="Berta", first_inbound_at=t1),
        ])
        return evidence._statements()

    def test_version_2_is_upgraded_on_the_first_write(self, tmp_path: Path) -> None:
        """A version-2 ledger opened for writing becomes version 3 in place: the same
        statements, ``said_by`` gone, the number alone moved into ``number_alone``."""
        statements = self.statements()
        path = v2_ledger(tmp_path / "v2.sqlite", statements)
        with Ledger(path) as db:
            assert db.version == 3
            assert held(db) == {s.keys: shape(s.entry) for s in statements}
        assert tables(path) == {"contactguard_ledger", "number_alone", "statement",
                                "statement_key"}
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA user_version").fetchone() == (3,)
            assert raw.execute("SELECT number FROM number_alone").fetchall() == [
                ("+491701234567",)]
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert raw.execute("PRAGMA foreign_key_check").fetchall() == []

    def test_readers_leave_version_2_as_it_is(self, tmp_path: Path, runner: CliRunner) -> None:
        """`evidence show`, `sanitize --ledger` and `--evidence` read a version-2 ledger
        without changing a byte of it, and decide from it."""
        path = v2_ledger(tmp_path / "v2.sqlite", self.statements())
        before = path.read_bytes()
        shown = runner.invoke(main, ["evidence", "show", "--ledger", str(path), "--unmasked"])
        assert shown.exit_code == 0 and "+491701234567" in shown.stdout
        assert "carla" in shown.stdout and "Berta" in shown.stdout
        book = tmp_path / "b.vcf"
        book.write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna\r\nTEL:+491701234567\r\n"
                         b"END:VCARD\r\n")
        for option in ("--ledger", "--evidence"):
            out = tmp_path / f"clean{option}.vcf"
            result = runner.invoke(main, ["sanitize", str(book), option, str(path), "-o",
                                          str(out), "-q"])
            assert result.exit_code == 0, result.output
            assert "Anna" in out.read_text()
        assert path.read_bytes() == before

    def test_failed_upgrade_leaves_version_2(self, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        """An upgrade that fails after the old tables were dropped rolls back: the file is
        the version-2 ledger it was, byte for byte."""
        path = v2_ledger(tmp_path / "v2.sqlite", self.statements())
        before = path.read_bytes()

        def broken(self: Ledger, *args: object) -> None:
            raise RuntimeError("disk gone")

        monkeypatch.setattr(Ledger, "_write_all", broken)
        with pytest.raises(RuntimeError):
            Ledger(path)
        assert path.read_bytes() == before
        assert Ledger(path, readonly=True).version == 2

    def test_import_into_version_2_merges(self, tmp_path: Path, runner: CliRunner) -> None:
        """`evidence import` into a version-2 ledger upgrades it and merges the new source
        with what it held (earliest first time, both sources)."""
        path = v2_ledger(tmp_path / "v2.sqlite", self.statements())
        csv = tmp_path / "new.csv"
        csv.write_text("phone,first_inbound_at\n+491701234567,2025-01-01T00:00:00Z\n"
                       "+4915000000001,2026-01-01\n")
        result = runner.invoke(main, ["evidence", "import", str(csv), "--ledger", str(path)])
        assert result.exit_code == 0, result.output
        assert "1 entry added, 1 changed" in result.stderr
        with Ledger(path, readonly=True) as db:
            entry = next(e for e in db.entries() if e.key == "+491701234567").entry
        assert entry.first_inbound_at == datetime(2025, 1, 1, tzinfo=timezone.utc)
        assert sorted(entry.sources) == sorted(["a.csv:2", "chat.txt", f"{csv}:2"])

    def test_tables_not_matching_the_version_are_refused(self, tmp_path: Path) -> None:
        """A marked ledger whose tables are not those of its version is refused, not
        guessed at."""
        path = tmp_path / "l.sqlite"
        Ledger(path).close()
        with sqlite3.connect(path) as raw:
            raw.execute("DROP TABLE number_alone")
        with pytest.raises(EvidenceError, match="do not match its schema version"):
            Ledger(path, readonly=True)


# --- erasure of version-3 rows -----------------------------------------------------------


@st.composite
def csv_with_target(draw: st.DrawFn) -> tuple[str, int, str]:
    """A CSV ledger over the pool (numbers in any spelling, some with a LID), the person
    to forget and the spelling asked for."""
    lines = ["phone,first_inbound_at,lid"]
    for _ in range(draw(st.integers(1, 20))):
        person = draw(st.integers(0, len(POOL) - 1))
        lid = draw(st.sampled_from(["", "", f"{LID + person}@lid"]))
        lines.append(f"{spell(POOL[person], draw(st.integers(0, 3)))},2026-03-01,{lid}")
    target = draw(st.integers(0, len(POOL) - 1))
    asked = draw(st.one_of(st.integers(0, 3).map(lambda how: spell(POOL[target], how)),
                           st.just("00" + POOL[target][1:])))
    return "\n".join(lines) + "\n", target, asked


class TestForget:
    @SETTINGS
    @given(case=csv_with_target())
    @example(case=("phone,first_inbound_at,lid\n491701234567,2026-03-01,\n"
                   "+491701234567,2026-03-01,100000000000000@lid\n", 0, "0049 170 1234567"))
    def test_any_spelling_forgets_rows_of_every_table(
        self, tmp_path_factory: pytest.TempPathFactory, case: tuple[str, int, str]
    ) -> None:
        """A ledger loaded in bulk: forgetting a number in any spelling removes its
        ``number_alone`` row and its statements with a LID, leaves no digit of it in the
        files, and every other number as it was."""
        text, target, spelling = case
        folder = tmp_path_factory.mktemp("forget")
        source = folder / "in.csv"
        source.write_text(text)
        path = folder / "l.sqlite"
        with Ledger(path) as db:
            db.import_sources([str(source)], SourceContext())
            before = {e.key for e in db.entries()}
            result = db.forget(spelling)
            after = {e.key for e in db.entries()}
        number = POOL[target]
        assert result.identities == (1 if number in before else 0)
        assert after == before - {number}
        data = b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith("l."))
        assert number[1:].encode() not in data and f"{LID + target}@lid".encode() not in data
        for other in after:
            assert other[1:].encode() in data

    def test_forget_counts_rows_of_both_tables(self, tmp_path: Path) -> None:
        """forget reports the statements it deleted: the number alone and its LID one."""
        path = tmp_path / "l.sqlite"
        with Ledger(path) as db:
            db.import_records([
                EvidenceRecord("a.csv:2", phone="+491701234567"),
                EvidenceRecord("a.csv:3", phone="+491701234567", lid=f"{LID}@lid"),
                EvidenceRecord("a.csv:4", phone="+4915000000001"),
            ])
            result = db.forget(f"{LID}@lid")
            assert (result.identities, result.statements) == (1, 2)
            assert db.statement_count() == 1


# --- all or nothing ----------------------------------------------------------------------


class TestInterrupted:
    def source(self, tmp_path: Path, rows: int = 3000) -> Path:
        csv = tmp_path / "big.csv"
        lines = ["phone,first_inbound_at,lid"]
        lines += [f"+4915{i:09d},2026-03-01T09:00:00Z,{f'{LID + i}@lid' if i % 10 == 0 else ''}"
                  for i in range(rows)]
        csv.write_text("\n".join(lines) + "\n")
        return csv

    @pytest.mark.parametrize("existing", [False, True])
    def test_a_failure_midway_leaves_the_ledger_as_it_was(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
    ) -> None:
        """An import that fails after writing part of its rows (a new ledger loaded in
        bulk, or an existing one merged into) leaves exactly the statements it had."""
        path = tmp_path / "l.sqlite"
        with Ledger(path) as db:
            if existing:
                db.import_records([EvidenceRecord("old.csv:2", phone="+4915000000007",
                                                  first_inbound_at=datetime(2020, 1, 1,
                                                                            tzinfo=timezone.utc))])
            before = held(db)
        written: list[int] = []
        original = storewrite.insert_rows

        def failing(*args: object, **kwargs: object) -> None:
            original(*args, **kwargs)  # type: ignore[arg-type]
            written.append(1)
            if len(written) == 2:
                raise OSError("disk full")

        monkeypatch.setattr(storewrite, "insert_rows", failing)
        with Ledger(path) as db, pytest.raises(OSError):
            db.import_sources([str(self.source(tmp_path))], SourceContext())
        monkeypatch.undo()
        with Ledger(path) as db:
            assert held(db) == before
            stats = db.import_sources([str(self.source(tmp_path))], SourceContext())
            assert (stats.added, stats.changed) == ((2999, 1) if existing else (3000, 0))
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    def test_a_killed_bulk_load_leaves_the_ledger_as_it_was(self, tmp_path: Path) -> None:
        """A process killed while loading a new ledger in bulk (its numbers written, the
        transaction not committed) leaves an empty, valid ledger that readers can open."""
        path = tmp_path / "l.sqlite"
        Ledger(path).close()
        child = subprocess.Popen([sys.executable, "-c", KILLED, str(path),
                                  str(self.source(tmp_path))],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "inside"
            with Ledger(path, readonly=True) as reader:
                assert reader.statement_count() == 0
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            child.stdout.close()  # type: ignore[union-attr]
        with Ledger(path) as db:
            assert db.statement_count() == 0 and db.statements() == []
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)


KILLED = textwrap.dedent("""
    import sys, time
    from contactguard.evidence import SourceContext, storewrite
    from contactguard.evidence.store import Ledger
    original = storewrite.put_general
    def paused(*args):
        original(*args)  # every number alone and these statements written, not committed
        print("inside", flush=True)
        time.sleep(120)
    storewrite.put_general = paused
    with Ledger(sys.argv[1]) as db:
        db.import_sources([sys.argv[2]], SourceContext())
""")
