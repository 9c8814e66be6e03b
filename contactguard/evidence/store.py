"""The persistent evidence ledger: a SQLite file that remembers what every import taught.

A scheduled job does not need every chat export every time: ``contactguard evidence import``
merges any source into the ledger, and ``sanitize --ledger`` / the sync job read it back.

- One transaction per import (``BEGIN IMMEDIATE``): a concurrent reader sees the ledger before or
  after an import, never half of it; a process killed mid-import leaves the old state.
- Merging is ``EvidenceEntry.merge`` (earliest first-times, latest last-times), so importing the
  same source twice changes nothing.
- The schema version lives in ``PRAGMA user_version``; a newer ledger is refused, not guessed at.
- ``forget`` removes every trace of a number (all its WhatsApp variants) with ``secure_delete``
  on and a ``VACUUM``, so its digits do not linger in free pages of the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from ..errors import EvidenceError
from ..model import EvidenceEntry, EvidenceRecord
from ..phones import evidence_key, variants

SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS identity (
    kind TEXT NOT NULL CHECK (kind IN ('phone', 'name', 'user_id')),
    key TEXT NOT NULL,
    first_inbound_at TEXT,
    first_outbound_at TEXT,
    last_inbound_at TEXT,
    opted_out_at TEXT,
    user_id TEXT,  -- business-scoped user id (CC.digits) seen with this number: a secondary id
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS said_by (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (kind, key, source),
    FOREIGN KEY (kind, key) REFERENCES identity (kind, key) ON DELETE CASCADE
) WITHOUT ROWID;
"""

_TIMES = ("first_inbound_at", "first_outbound_at", "last_inbound_at", "opted_out_at")


@dataclass(frozen=True)
class ImportStats:
    """What one import did: records read, identities added, identities changed."""

    records: int
    added: int
    changed: int


@dataclass(frozen=True)
class LedgerEntry:
    """One identity in the ledger: ``kind`` is "phone", "name" or "user_id"."""

    kind: str
    key: str
    entry: EvidenceEntry
    user_id: str | None = None


def _identity(record: EvidenceRecord) -> tuple[str, str] | None:
    if record.phone:
        key = evidence_key(record.phone)
        if key is not None:
            return "phone", key
    if record.name:
        return "name", record.name
    if record.user_id:
        return "user_id", record.user_id
    return None


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class Ledger:
    """A SQLite evidence ledger. Use as a context manager; ``Ledger(path)`` creates it if new."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise EvidenceError("no such ledger", file=str(path))
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per import
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA secure_delete = ON")
            _refuse_foreign(self._db, str(path))
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise EvidenceError(
                    f"ledger schema version {version} is newer than this contactguard "
                    f"understands ({SCHEMA_VERSION}); upgrade contactguard",
                    file=str(path),
                )
            if version == 0:  # a new file: create the schema and stamp its version atomically
                self._db.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
        except sqlite3.DatabaseError as exc:
            raise EvidenceError(f"not a usable SQLite ledger ({exc})", file=str(path)) from exc

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
        merged: dict[tuple[str, str], EvidenceEntry] = {}
        user_ids: dict[tuple[str, str], str] = {}
        count = 0
        for record in records:  # read the whole source first: a bad row aborts before any write
            count += 1
            identity = _identity(record)
            if identity is None:
                continue
            entry = EvidenceEntry.from_record(record)
            if record.user_id and identity[0] == "phone":
                user_ids[identity] = record.user_id
            previous = merged.get(identity)
            merged[identity] = entry if previous is None else previous.merge(entry)
        added = changed = 0
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for (kind, key), entry in merged.items():
                old = self._get(kind, key)
                new = entry if old is None else old.merge(entry)
                user_id = user_ids.get((kind, key))
                if user_id is not None:
                    changed += self._set_user_id(kind, key, user_id) and old is not None
                if old is None:
                    added += 1
                elif _times(new) != _times(old) or set(new.sources) != set(old.sources):
                    changed += 1
                else:
                    continue
                self._put(kind, key, new)
                if user_id is not None:
                    self._set_user_id(kind, key, user_id)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return ImportStats(count, added, changed)

    def opt_out(self, number: str, at: datetime | None = None, source: str = "opt-out") -> str:
        """Record that the person behind ``number`` asked not to be contacted; returns its key."""
        key = self._key(number)
        at = at or datetime.now(timezone.utc)
        record = EvidenceRecord(
            source=f"{source} {at.date().isoformat()}", phone=key, opted_out_at=at
        )
        self.import_records([record])
        return key

    def forget(self, number: str) -> int:
        """Delete every trace of ``number`` (all its WhatsApp variants); returns rows deleted."""
        key = self._key(number)
        keys = sorted(variants(key, ar_without_9=True) | {key})
        marks = ",".join("?" * len(keys))
        self._db.execute("BEGIN IMMEDIATE")
        try:
            # only "?" placeholders are formatted into these statements; the keys are bound
            self._db.execute(
                f"DELETE FROM said_by WHERE kind = 'phone' AND key IN ({marks})",  # noqa: S608
                keys,
            )
            deleted = self._db.execute(
                f"DELETE FROM identity WHERE kind = 'phone' AND key IN ({marks})",  # noqa: S608
                keys,
            ).rowcount
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        # secure_delete zeroes freed pages; VACUUM rebuilds the file so no old page survives,
        # and a checkpoint empties any write-ahead log (a ledger another tool put in WAL mode
        # keeps the old pages in its -wal file and the main file until then)
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(deleted)

    # -- reading ---------------------------------------------------------------------------

    def entries(self, number: str | None = None) -> Iterator[LedgerEntry]:
        """Every identity (or those of ``number`` and its variants), ordered by kind and key."""
        if number is None:
            rows = self._db.execute("SELECT kind, key FROM identity ORDER BY kind, key").fetchall()
        else:
            key = self._key(number)
            keys = sorted(variants(key, ar_without_9=True) | {key})
            rows = self._db.execute(
                f"SELECT kind, key FROM identity WHERE kind = 'phone' AND key IN "  # noqa: S608
                f"({','.join('?' * len(keys))}) ORDER BY key",
                keys,
            ).fetchall()
        for kind, key in rows:
            entry = self._get(kind, key)
            if entry is not None:
                (user_id,) = self._db.execute(
                    "SELECT user_id FROM identity WHERE kind = ? AND key = ?", (kind, key)
                ).fetchone()
                yield LedgerEntry(kind, key, entry, user_id)

    def records(self) -> Iterator[EvidenceRecord]:
        """The ledger as evidence records (one per identity and source), for ``Evidence``."""
        for item in self.entries():
            ident = {"phone": None, "name": None, "user_id": item.user_id}
            ident[item.kind] = item.key
            for source in item.entry.sources or (str(self.path),):
                yield EvidenceRecord(
                    source=source,
                    phone=ident["phone"],
                    name=ident["name"],
                    user_id=ident["user_id"],
                    first_inbound_at=item.entry.first_inbound_at,
                    first_outbound_at=item.entry.first_outbound_at,
                    last_inbound_at=item.entry.last_inbound_at,
                    opted_out_at=item.entry.opted_out_at,
                )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM identity").fetchone()[0])

    # -- internals -------------------------------------------------------------------------

    def _key(self, number: str) -> str:
        key = evidence_key(number)
        if key is None:
            raise EvidenceError(f"{number!r} is not a phone number in international form (+49…)")
        return key

    def _get(self, kind: str, key: str) -> EvidenceEntry | None:
        row = self._db.execute(
            f"SELECT {', '.join(_TIMES)} FROM identity WHERE kind = ? AND key = ?",  # noqa: S608
            (kind, key),
        ).fetchone()
        if row is None:
            return None
        sources = tuple(
            s
            for (s,) in self._db.execute(
                "SELECT source FROM said_by WHERE kind = ? AND key = ? ORDER BY source", (kind, key)
            )
        )
        first_in, first_out, last_in, opted_out = (_dt(v) for v in row)
        return EvidenceEntry(first_in, first_out, last_in, opted_out, sources=sources)

    def _set_user_id(self, kind: str, key: str, user_id: str) -> bool:
        """Remember the user id seen with a number; True when that changed the row."""
        cursor = self._db.execute(
            "UPDATE identity SET user_id = ? WHERE kind = ? AND key = ? AND user_id IS NOT ?",
            (user_id, kind, key, user_id),
        )
        return cursor.rowcount > 0

    def _put(self, kind: str, key: str, entry: EvidenceEntry) -> None:
        self._db.execute(
            "INSERT INTO identity (kind, key, first_inbound_at, first_outbound_at, last_inbound_at,"
            " opted_out_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET"
            " first_inbound_at = excluded.first_inbound_at,"
            " first_outbound_at = excluded.first_outbound_at,"
            " last_inbound_at = excluded.last_inbound_at, opted_out_at = excluded.opted_out_at",
            (kind, key, *(_ts(getattr(entry, t)) for t in _TIMES)),
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO said_by (kind, key, source) VALUES (?, ?, ?)",
            [(kind, key, s) for s in entry.sources],
        )


def _refuse_foreign(db: sqlite3.Connection, where: str) -> None:
    """Never adopt another program's SQLite file (a phone's WhatsApp database, say) as the
    ledger: creating our tables in it would change an input."""
    names = {str(n) for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if names and "identity" not in names:
        raise EvidenceError(
            "a SQLite database that is not a contactguard ledger; it is left untouched (pass a "
            "new file name to --ledger, and a phone's WhatsApp database to --evidence)",
            file=where,
        )


def _times(entry: EvidenceEntry) -> tuple[datetime | None, ...]:
    return tuple(getattr(entry, t) for t in _TIMES)


def sniff(location: str, head: bytes) -> bool:
    """A SQLite file (our ledger) is recognised by its 16-byte header."""
    return head.startswith(SQLITE_MAGIC)


def read(location: str, context: object) -> Iterator[EvidenceRecord]:
    """Evidence-source reader: the ledger's records."""
    with Ledger(location, create=False) as ledger:
        yield from ledger.records()
