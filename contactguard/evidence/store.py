"""The persistent evidence ledger: a SQLite file that remembers what every import taught.

A scheduled job does not need every chat export every time: ``contactguard evidence import``
merges any source into the ledger, and ``sanitize --ledger`` / the sync job read it back.

- The ledger stores *statements*: what the sources said under one set of identity keys (number,
  business-scoped user ID, username, LID, display name; see ``evidence.identity``), with every
  source. Identities are linked from the statements when the ledger is read, by the same rules
  as any other evidence, so the ledger and the files it was imported from decide alike.
- One transaction per import (``BEGIN IMMEDIATE``): a concurrent reader sees the ledger before or
  after an import, never half of it; a process killed mid-import leaves the old state.
- Merging is ``EvidenceEntry.merge`` (earliest first-times, latest last-times), so importing the
  same source twice changes nothing.
- A ledger carries contactguard's marker (table ``contactguard_ledger``) and its schema version
  (``PRAGMA user_version``). Only a file with the marker is ever written (or a version-1 ledger,
  which is upgraded in one transaction first), or a file this module creates (mode 0600). Any
  other SQLite file (a phone's WhatsApp database, a backup's manifest) is refused, never
  adopted. A newer schema is refused, not guessed at.
- Readers (``sanitize``, ``check``, ``sync``, ``evidence show``) open the file read-only
  (SQLite ``mode=ro``): an input is never written.
- ``forget`` removes a whole identity (every key and source), waits a bounded time for other
  users of the file, and then either completes — rows deleted, write-ahead log checkpointed and
  truncated, ``VACUUM`` with ``secure_delete``, and the key's digits verified absent from the
  file, its WAL and its journal — or raises ``LedgerBusy``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from ..errors import EvidenceError
from ..model import EvidenceEntry, EvidenceRecord
from ..phones import evidence_key, variants
from .identity import (
    Identity,
    Key,
    Statement,
    key_from_text,
    name_key,
    number_class,
    record_keys,
    resolve,
)

__all__ = ["SCHEMA_VERSION", "ImportStats", "Ledger", "LedgerBusy", "LedgerEntry", "read", "sniff"]

SCHEMA_VERSION = 2
SQLITE_MAGIC = b"SQLite format 3\x00"
MARKER_TABLE = "contactguard_ledger"
MARKER = "contactguard evidence ledger"
FORGET_WAIT = 10.0  # seconds ``forget`` waits for other users of the ledger by default

_SCHEMA = """
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
assert f"'{MARKER}'" in _SCHEMA and f"user_version = {SCHEMA_VERSION};" in _SCHEMA
_V1_TABLES = frozenset({"identity", "said_by"})
_TIMES = ("first_inbound_at", "first_outbound_at", "last_inbound_at", "opted_out_at")
_ALL_TIMES = (*_TIMES, "number_left_at")


class LedgerBusy(EvidenceError):
    """Another program holds the ledger longer than ``forget`` may wait."""


@dataclass(frozen=True)
class ImportStats:
    """What one import did: records read, statements (key sets) added and changed."""

    records: int
    added: int
    changed: int


@dataclass(frozen=True)
class LedgerEntry:
    """One identity in the ledger: ``kind``/``key`` is its main key ("phone" when it has a
    number, "name" for a chat export's display name alone, else "user_id", "username" or
    "lid"); ``keys`` all of them."""

    kind: str
    key: str
    entry: EvidenceEntry
    user_id: str | None = None
    keys: tuple[Key, ...] = ()
    shared: tuple[Key, ...] = ()


@dataclass(frozen=True)
class ForgetResult:
    """What ``forget`` removed: identities, statements and the keys they held."""

    identities: int
    statements: int
    keys: tuple[Key, ...]


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _encode_keys(keys: tuple[Key, ...]) -> str:
    return "\n".join(f"{k.kind}:{k.value}" for k in keys)


def _decode_keys(text: str) -> tuple[Key, ...]:
    return tuple(Key(*line.split(":", 1)) for line in text.split("\n"))


def _entry_kind(identity: Identity) -> tuple[str, str]:
    if identity.number is not None:
        return "phone", identity.numbers[0] if identity.numbers else identity.number
    if identity.name is not None:
        return "name", identity.name
    key = identity.keys[0]
    return ("user_id" if key.kind == "bsuid" else key.kind), key.value


class Ledger:
    """A SQLite evidence ledger. Use as a context manager.

    ``Ledger(path)`` opens it for writing and creates it (mode 0600) if missing;
    ``create=False`` requires it to exist; ``readonly=True`` opens it with SQLite's
    ``mode=ro`` (inputs of sanitize, check and sync are never written). ``timeout`` is how long a
    statement waits for another program's lock.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        readonly: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        shown = str(path)
        exists = self.path.exists()
        if not exists and (readonly or not create):
            raise EvidenceError("no such ledger", file=shown)
        new = not exists or (self.path.is_file() and self.path.stat().st_size == 0)
        if exists and not self.path.is_file():
            raise EvidenceError("not a regular file; a ledger is a SQLite file", file=shown)
        if exists and not new:
            try:
                with self.path.open("rb") as stream:
                    head = stream.read(len(SQLITE_MAGIC))
            except OSError as exc:
                raise EvidenceError(f"cannot read: {exc.strerror}", file=shown) from exc
            if head != SQLITE_MAGIC:
                raise EvidenceError("not a SQLite file, so not a contactguard ledger", file=shown)
        if not exists:
            try:  # created by us, readable by the owner only (it holds personal data)
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except OSError as exc:
                raise EvidenceError(f"cannot create: {exc.strerror}", file=shown) from exc
        try:
            if readonly:
                uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout)
            else:
                # isolation_level=None: we issue BEGIN/COMMIT ourselves
                self._db = sqlite3.connect(self.path, isolation_level=None, timeout=timeout)
            self._db.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self._db.execute("PRAGMA secure_delete = ON")
            self.version = self._check(new, shown)
        except sqlite3.DatabaseError as exc:
            if hasattr(self, "_db"):
                self._db.close()
            raise EvidenceError(f"not a usable SQLite ledger ({exc})", file=shown) from exc
        except BaseException:
            self._db.close()
            raise

    def _check(self, new: bool, shown: str) -> int:
        """The schema version after opening: create, upgrade or refuse (module docstring)."""
        db = self._db
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        tables = {
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        marked = MARKER_TABLE in tables and db.execute(
            f"SELECT value FROM {MARKER_TABLE} WHERE name = 'format'"  # noqa: S608 - constant
        ).fetchone() == (MARKER,)
        if marked:
            if version > SCHEMA_VERSION:
                raise EvidenceError(
                    f"ledger schema version {version} is newer than this contactguard "
                    f"understands ({SCHEMA_VERSION}); upgrade contactguard",
                    file=shown,
                )
            return version
        if version == 1 and tables == _V1_TABLES and _looks_like_v1(db):
            if not self.readonly:
                self._upgrade_v1()
                return SCHEMA_VERSION
            return 1
        if new and not tables and version == 0 and not self.readonly:
            db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            return SCHEMA_VERSION
        if version > SCHEMA_VERSION and tables >= {"statement", "said_by"}:
            raise EvidenceError(
                f"ledger schema version {version} is newer than this contactguard "
                f"understands ({SCHEMA_VERSION}); upgrade contactguard",
                file=shown,
            )
        raise EvidenceError(
            "a SQLite file that is not a contactguard evidence ledger (e.g. a WhatsApp or "
            "backup database); refused, it is never read as a ledger nor written",
            file=shown,
        )

    def _upgrade_v1(self) -> None:
        """Version 1 (one row per number, name or user id) → statements, in ONE transaction."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            statements = self._v1_statements()  # read whole before the tables go
            db.execute("DROP TABLE said_by")
            db.execute("DROP TABLE identity")
            for ddl in _SCHEMA.split(";"):
                if ddl.strip():
                    db.execute(ddl)
            for statement in statements:
                self._put(statement.keys, statement.entry)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # -- writing ---------------------------------------------------------------------------

    def import_records(self, records: Iterable[EvidenceRecord]) -> ImportStats:
        """Merge records into the ledger in ONE transaction; all or nothing."""
        self._writable()
        merged: dict[tuple[Key, ...], EvidenceEntry] = {}
        count = 0
        for record in records:  # read the whole source first: a bad row aborts before any write
            count += 1
            keys = record_keys(record)
            entry = EvidenceEntry.from_record(record)
            previous = merged.get(keys)
            merged[keys] = entry if previous is None else previous.merge(entry)
        added = changed = 0
        try:
            self._db.execute("BEGIN IMMEDIATE")
            encoded = {keys: _encode_keys(keys) for keys in merged}
            existing = self._existing(list(encoded.values()))
            fresh: list[tuple[tuple[Key, ...], EvidenceEntry]] = []
            updated: list[tuple[int, tuple[Key, ...], EvidenceEntry]] = []
            for keys, entry in merged.items():
                found = existing.get(encoded[keys])
                if found is None:
                    added += 1
                    fresh.append((keys, entry))
                    continue
                sid, old = found
                new = old.merge(entry)
                if _times(new) != _times(old) or set(new.sources) != set(old.sources):
                    changed += 1
                    updated.append((sid, keys, new))
            self._write(fresh, updated, encoded)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return ImportStats(count, added, changed)

    def statement_count(self) -> int:
        """How many statements (key sets) the ledger holds: one indexed count, no resolving."""
        table = "identity" if self.version == 1 else "statement"  # a v1 ledger read-only
        return int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608

    def _existing(self, encoded: list[str]) -> dict[str, tuple[int, EvidenceEntry]]:
        """The stored statements among ``encoded`` key sets, looked up in batches through the
        unique index on ``keys`` (an import costs in proportion to what it brings)."""
        found: dict[str, tuple[int, EvidenceEntry]] = {}
        if self._db.execute("SELECT NOT EXISTS (SELECT 1 FROM statement)").fetchone()[0]:
            return found  # a new ledger: nothing to look up
        rows: dict[int, tuple[str, list[str | None]]] = {}
        for batch in _batches(encoded):
            marks = ",".join("?" * len(batch))
            for sid, keys, *times in self._db.execute(
                f"SELECT id, keys, {', '.join(_ALL_TIMES)} FROM statement "  # noqa: S608
                f"WHERE keys IN ({marks})",
                batch,
            ):
                rows[int(sid)] = (str(keys), times)
        sources: dict[int, list[str]] = {sid: [] for sid in rows}
        for batch in _batches(list(rows)):
            marks = ",".join("?" * len(batch))
            for sid, source in self._db.execute(
                f"SELECT statement, source FROM said_by WHERE statement IN ({marks}) "  # noqa: S608
                "ORDER BY statement, source",
                batch,
            ):
                sources[int(sid)].append(str(source))
        for sid, (keys, times) in rows.items():
            first_in, first_out, last_in, opted, left = (_dt(v) for v in times)
            found[keys] = (sid, EvidenceEntry(first_in, first_out, last_in, opted,
                                              tuple(sources[sid]), left))
        return found

    def _write(
        self,
        fresh: list[tuple[tuple[Key, ...], EvidenceEntry]],
        updated: list[tuple[int, tuple[Key, ...], EvidenceEntry]],
        encoded: dict[tuple[Key, ...], str],
    ) -> None:
        """New statements and changed ones, written with one ``executemany`` per table."""
        columns = ", ".join(_ALL_TIMES)
        # the new statements get the ids after the highest one (the transaction is immediate:
        # no one else writes), so they need not be read back
        first = int(self._db.execute("SELECT coalesce(max(id), 0) + 1 FROM statement")
                    .fetchone()[0])
        self._db.executemany(
            f"INSERT INTO statement (id, keys, {columns}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            ((sid, encoded[keys], _ts(e.first_inbound_at), _ts(e.first_outbound_at),
              _ts(e.last_inbound_at), _ts(e.opted_out_at), _ts(e.number_left_at))
             for sid, (keys, e) in enumerate(fresh, start=first)),
        )
        self._db.executemany(
            "UPDATE statement SET first_inbound_at = ?, first_outbound_at = ?,"
            " last_inbound_at = ?, opted_out_at = ?, number_left_at = ? WHERE id = ?",
            [(*(_ts(getattr(e, t)) for t in _ALL_TIMES), sid) for sid, _keys, e in updated],
        )
        written = [(sid, keys, e) for sid, (keys, e) in enumerate(fresh, start=first)]
        written += updated
        # generators, not lists: the rows are handed to SQLite one at a time
        self._db.executemany(
            "INSERT OR IGNORE INTO statement_key (kind, value, statement) VALUES (?, ?, ?)",
            ((k.kind, k.value, sid) for sid, keys, _e in written for k in keys),
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO said_by (statement, source) VALUES (?, ?)",
            ((sid, source) for sid, _keys, e in written for source in e.sources),
        )

    def opt_out(self, number: str, at: datetime | None = None, source: str = "opt-out") -> str:
        """Record that the person behind ``number`` asked not to be contacted; returns its key."""
        key = self._key(number)
        at = at or datetime.now(timezone.utc)
        record = EvidenceRecord(
            source=f"{source} {at.date().isoformat()}", phone=key, opted_out_at=at
        )
        self.import_records([record])
        return key

    def forget(self, text: str, *, wait: float = FORGET_WAIT) -> ForgetResult:
        """Delete the whole identity ``text`` names (a number in any spelling, a user ID, a LID,
        a username or a display name): every statement, key and source, and leave no bytes of
        its keys in the file, its WAL or its journal.

        Waits up to ``wait`` seconds for other programs using the ledger, then raises
        ``LedgerBusy`` (nothing deleted, or deleted but not yet scrubbed: run it again).
        Forgetting a key the ledger does not hold still scrubs and verifies.
        """
        self._writable()
        wanted = key_from_text(text)
        if not wanted:
            raise EvidenceError(
                f"{text!r} is not a phone number, user id, LID, username or name"
            )
        deadline = time.monotonic() + wait
        self._db.execute(f"PRAGMA busy_timeout = {max(int(wait * 1000), 1)}")
        # in WAL mode, wait until no reader holds an old snapshot before deleting anything
        self._settle_wal(deadline, deleted=False)
        identities = [i for i in self._identities(ar_without_9=True) if _names(i, wanted)]
        ids: set[int] = set()
        keys: set[Key] = set(wanted)
        for identity in identities:
            keys.update(identity.keys)
            for statement in identity.statements:
                row = self._db.execute(
                    "SELECT id FROM statement WHERE keys = ?", (_encode_keys(statement.keys),)
                ).fetchone()
                if row is not None:
                    ids.add(int(row[0]))
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM statement WHERE id = ?", [(i,) for i in ids])
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise LedgerBusy(
                f"the ledger is busy ({exc}): another program used it for more than "
                f"{wait:g} s; nothing was deleted, try again when it is done",
                file=str(self.path),
            ) from exc
        self._scrub(deadline, sorted(keys), deleted=bool(ids))
        return ForgetResult(len(identities), len(ids), tuple(sorted(keys)))

    def _settle_wal(self, deadline: float, *, deleted: bool) -> None:
        """In WAL mode: checkpoint and truncate the log, retrying until ``deadline``."""
        mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            return
        while True:
            try:
                busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:
                busy = 1
            if not busy:
                return
            if time.monotonic() >= deadline:
                raise self._busy(deleted)
            time.sleep(0.05)

    def _busy(self, deleted: bool) -> LedgerBusy:
        if deleted:
            return LedgerBusy(
                "the ledger is busy: the identity was deleted, but another program still "
                "reads an older state of the file, so its old pages may remain; run forget "
                "again once that program is done",
                file=str(self.path),
            )
        return LedgerBusy(
            "the ledger is busy: another program is reading or writing it; nothing was "
            "deleted, try again when it is done",
            file=str(self.path),
        )

    def _scrub(self, deadline: float, keys: list[Key], *, deleted: bool) -> None:
        """Rebuild the file so no freed page keeps the keys, empty the WAL, then verify."""
        while True:
            try:
                self._settle_wal(deadline, deleted=deleted)
                self._db.execute("VACUUM")
                self._settle_wal(deadline, deleted=deleted)
            except sqlite3.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise self._busy(deleted) from exc
                time.sleep(0.05)
                continue
            left = _traces(self.path, keys)
            if not left:
                return
            # the file was rebuilt and the log emptied: bytes that remain are not going away
            raise EvidenceError(
                f"erasure could not be verified: {left} still holds the forgotten key's "
                "bytes (another entry or source may contain them); do not rely on this "
                "ledger being clean",
                file=str(self.path),
            )

    # -- reading ---------------------------------------------------------------------------

    def statements(self) -> list[Statement]:
        """Every statement (key set, merged times, sources)."""
        if self.version == 1:
            return self._v1_statements()
        sources: dict[int, list[str]] = {}
        for sid, source in self._db.execute("SELECT statement, source FROM said_by"):
            sources.setdefault(sid, []).append(source)
        out = []
        for sid, keys, *times in self._db.execute(
            f"SELECT id, keys, {', '.join(_ALL_TIMES)} FROM statement ORDER BY keys"  # noqa: S608
        ):
            first_in, first_out, last_in, opted, left = (_dt(v) for v in times)
            entry = EvidenceEntry(
                first_in, first_out, last_in, opted, tuple(sorted(sources.get(sid, []))), left
            )
            out.append(Statement(_decode_keys(keys), entry))
        return out

    def _v1_statements(self) -> list[Statement]:
        sources: dict[tuple[str, str], list[str]] = {}
        for kind, key, source in self._db.execute("SELECT kind, key, source FROM said_by"):
            sources.setdefault((kind, key), []).append(source)
        table: dict[tuple[Key, ...], EvidenceEntry] = {}
        for kind, key, user_id, *times in self._db.execute(
            f"SELECT kind, key, user_id, {', '.join(_TIMES)} FROM identity"  # noqa: S608
        ):
            record = EvidenceRecord(
                source=str(self.path),
                phone=key if kind == "phone" else None,
                name=key if kind == "name" else None,
                user_id=user_id if kind == "phone" else key if kind == "user_id" else None,
            )
            keys = record_keys(record)
            first_in, first_out, last_in, opted = (_dt(v) for v in times)
            entry = EvidenceEntry(
                first_in, first_out, last_in, opted, tuple(sorted(sources.get((kind, key), [])))
            )
            old = table.get(keys)
            table[keys] = entry if old is None else old.merge(entry)
        return [Statement(keys, entry) for keys, entry in table.items()]

    def _identities(self, *, ar_without_9: bool = False) -> list[Identity]:
        return resolve(self.statements(), ar_without_9=ar_without_9)

    def entries(self, number: str | None = None) -> Iterator[LedgerEntry]:
        """Every identity (or those ``number`` names: a number in any spelling, a user id, a
        LID, a username or a name), ordered by their smallest key."""
        wanted = None
        if number is not None:
            wanted = key_from_text(number)
            if not wanted:
                raise EvidenceError(f"{number!r} is not a phone number, user id or name")
        for identity in self._identities(ar_without_9=wanted is not None):
            if wanted is not None and not _names(identity, wanted):
                continue
            kind, key = _entry_kind(identity)
            bsuids = [k.value for k in identity.keys if k.kind == "bsuid"]
            yield LedgerEntry(
                kind,
                key,
                identity.entry,
                bsuids[0] if bsuids else None,
                identity.keys,
                identity.shared,
            )

    def records(self) -> Iterator[EvidenceRecord]:
        """The ledger as evidence records (one per statement and source), for ``Evidence``."""
        for statement in self.statements():
            yield from self._statement_records(statement)

    def _statement_records(self, statement: Statement) -> Iterator[EvidenceRecord]:
        """One statement as records, one per source."""
        fields: dict[str, str | None] = {}
        bsuids = []
        for key in statement.keys:
            if key.kind == "bsuid":
                bsuids.append(key.value)
            else:
                fields[key.kind] = key.value
        entry = statement.entry
        for source in entry.sources or (str(self.path),):
            yield EvidenceRecord(
                source=source,
                phone=fields.get("phone"),
                name=fields.get("name"),
                user_id=bsuids[0] if bsuids else None,
                parent_user_id=bsuids[1] if len(bsuids) > 1 else None,
                username=fields.get("username"),
                lid=fields.get("lid"),
                first_inbound_at=entry.first_inbound_at,
                first_outbound_at=entry.first_outbound_at,
                last_inbound_at=entry.last_inbound_at,
                opted_out_at=entry.opted_out_at,
                number_left_at=entry.number_left_at,
            )

    def records_for(
        self, numbers: Iterable[str], names: Iterable[str] = ()
    ) -> Iterator[EvidenceRecord]:
        """The records of only the statements that can concern these book numbers (every
        WhatsApp spelling of each, Argentina's 549/54 too) and display names: found through the
        key index, then every user ID, username and LID in them followed to the statements that
        share it, until nothing new turns up (so identities resolve as they would from the whole
        ledger). ``sanitize --ledger`` costs in proportion to the book, not to the ledger."""
        if self.version == 1:
            yield from self.records()
            return
        wanted: set[tuple[str, str]] = set()
        for number in numbers:
            key = evidence_key(number)
            if key is not None:
                wanted.update(("phone", v) for v in variants(key, ar_without_9=True))
        for name in names:
            found_key = name_key(name)
            if found_key is not None:
                wanted.add((found_key.kind, found_key.value))
        seen: set[tuple[str, str]] = set()
        found: set[int] = set()
        while wanted:
            seen |= wanted
            fresh: set[int] = set()
            for kind, value in wanted:
                fresh.update(
                    int(sid)
                    for (sid,) in self._db.execute(
                        "SELECT statement FROM statement_key WHERE kind = ? AND value = ?",
                        (kind, value),
                    )
                )
            fresh -= found
            found |= fresh
            wanted = set()
            for batch in _batches(sorted(fresh)):
                marks = ",".join("?" * len(batch))
                wanted.update(
                    (str(kind), str(value))
                    for kind, value in self._db.execute(
                        f"SELECT kind, value FROM statement_key WHERE statement IN ({marks}) "  # noqa: S608
                        "AND kind IN ('bsuid', 'username', 'lid')",
                        batch,
                    )
                )
            wanted -= seen
        for batch in _batches(sorted(found)):
            marks = ",".join("?" * len(batch))
            sources: dict[int, list[str]] = {}
            for sid, source in self._db.execute(
                f"SELECT statement, source FROM said_by WHERE statement IN ({marks})",  # noqa: S608
                batch,
            ):
                sources.setdefault(int(sid), []).append(str(source))
            for sid, keys, *times in self._db.execute(
                f"SELECT id, keys, {', '.join(_ALL_TIMES)} FROM statement "  # noqa: S608
                f"WHERE id IN ({marks}) ORDER BY keys",
                batch,
            ):
                first_in, first_out, last_in, opted, left = (_dt(v) for v in times)
                entry = EvidenceEntry(first_in, first_out, last_in, opted,
                                      tuple(sorted(sources.get(int(sid), []))), left)
                yield from self._statement_records(Statement(_decode_keys(keys), entry))

    def __len__(self) -> int:
        """The number of identities."""
        return len(self._identities())

    # -- internals -------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.readonly:
            raise EvidenceError("opened read-only", file=str(self.path))

    def _key(self, number: str) -> str:
        key = evidence_key(number)
        if key is None:
            raise EvidenceError(f"{number!r} is not a phone number in international form (+49…)")
        return key

    def _get(self, keys: tuple[Key, ...]) -> EvidenceEntry | None:
        row = self._db.execute(
            f"SELECT id, {', '.join(_ALL_TIMES)} FROM statement WHERE keys = ?",  # noqa: S608
            (_encode_keys(keys),),
        ).fetchone()
        if row is None:
            return None
        sid, *times = row
        sources = tuple(
            s
            for (s,) in self._db.execute(
                "SELECT source FROM said_by WHERE statement = ? ORDER BY source", (sid,)
            )
        )
        first_in, first_out, last_in, opted, left = (_dt(v) for v in times)
        return EvidenceEntry(first_in, first_out, last_in, opted, sources, left)

    def _put(self, keys: tuple[Key, ...], entry: EvidenceEntry) -> None:
        encoded = _encode_keys(keys)
        self._db.execute(
            f"INSERT INTO statement (keys, {', '.join(_ALL_TIMES)}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
            " ON CONFLICT (keys) DO UPDATE SET"
            " first_inbound_at = excluded.first_inbound_at,"
            " first_outbound_at = excluded.first_outbound_at,"
            " last_inbound_at = excluded.last_inbound_at, opted_out_at = excluded.opted_out_at,"
            " number_left_at = excluded.number_left_at",
            (encoded, *(_ts(getattr(entry, t)) for t in _ALL_TIMES)),
        )
        (sid,) = self._db.execute("SELECT id FROM statement WHERE keys = ?", (encoded,)).fetchone()
        self._db.executemany(
            "INSERT OR IGNORE INTO statement_key (kind, value, statement) VALUES (?, ?, ?)",
            [(k.kind, k.value, sid) for k in keys],
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO said_by (statement, source) VALUES (?, ?)",
            [(sid, s) for s in entry.sources],
        )


def _batches(items: list[str] | list[int], size: int = 500) -> Iterator[list[Any]]:
    """``items`` in slices that stay within SQLite's limit of bound parameters."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _looks_like_v1(db: sqlite3.Connection) -> bool:
    columns = {row[1] for row in db.execute("PRAGMA table_info(identity)")}
    return {"kind", "key", "user_id", *_TIMES} <= columns


def _names(identity: Identity, wanted: list[Key]) -> bool:
    """Whether ``identity`` is named by any of ``wanted`` (numbers by their WhatsApp variants,
    Argentina's 549/54 included: erasure errs on the side of removing)."""
    for key in wanted:
        if key.kind == "phone":
            target = number_class(key.value, ar_without_9=True)
            if any(
                number_class(k.value, ar_without_9=True) == target
                for k in identity.keys
                if k.kind == "phone"
            ):
                return True
        elif key in identity.keys:
            return True
    return False


def _traces(path: Path, keys: list[Key]) -> str | None:
    """The first of the ledger's files (main, -wal, -journal) that still holds a key's bytes."""
    needles = set()
    for key in keys:
        value = key.value.removeprefix("+").removesuffix("@lid")
        if value:
            needles.add(value.encode("utf-8"))
    for suffix in ("", "-wal", "-journal"):
        candidate = path.with_name(path.name + suffix)
        try:
            data = candidate.read_bytes()
        except FileNotFoundError:
            continue
        except OSError:
            return candidate.name
        if any(needle in data for needle in needles):
            return candidate.name
    return None


def _times(entry: EvidenceEntry) -> tuple[datetime | None, ...]:
    return tuple(getattr(entry, t) for t in _ALL_TIMES)


def sniff(location: str, head: bytes) -> bool:
    """A SQLite file is recognised by its 16-byte header (a file that is not contactguard's
    ledger is then refused by ``read`` with a clear message, never adopted)."""
    return head.startswith(SQLITE_MAGIC)


def read(location: str, context: object) -> Iterator[EvidenceRecord]:
    """Evidence-source reader: the ledger's records, opened read-only."""
    with Ledger(location, readonly=True) as ledger:
        yield from ledger.records()
