"""Writing the SQLite ledger (``evidence.store``): imports merged in one transaction, a new
ledger loaded in bulk, opt-outs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import EvidenceError
from ..model import EvidenceEntry, EvidenceRecord
from ..phones import evidence_key
from .bulk import PlainRow, source_texts
from .identity import Key, record_keys
from .storeschema import ALL_TIMES, batches, dt, encode_keys, ts

__all__ = ["ImportStats", "LedgerWrites", "bulk_load", "plain_entry"]


@dataclass(frozen=True)
class ImportStats:
    """What one import did: records read, statements (key sets) added and changed."""

    records: int
    added: int
    changed: int



class LedgerWrites:
    """The writing half of ``store.Ledger`` (a mixin: the ledger holds the connection)."""

    _db: sqlite3.Connection
    path: Path
    readonly: bool

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
        return self._merge(merged, count)

    def _merge(self, merged: dict[tuple[Key, ...], EvidenceEntry], count: int) -> ImportStats:
        """Merge statements into the ledger in ONE transaction (existing ones looked up)."""
        added = changed = 0
        try:
            self._db.execute("BEGIN IMMEDIATE")
            encoded = {keys: encode_keys(keys) for keys in merged}
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

    def import_sources(self, sources: Any, context: Any) -> ImportStats:
        """Read evidence sources (``evidence.gather``: ledger files in bulk) and merge them
        into the ledger in ONE transaction; all or nothing."""
        from . import Evidence, gather

        evidence = Evidence()
        count = gather(sources, context, evidence)  # a bad row aborts before any write
        self._writable()
        added = self._bulk(evidence) if self._empty() else None
        if added is None:  # statements there already (perhaps written meanwhile): merged
            merged = dict(evidence._table)
            for number, row in evidence._plain.items():
                merged[(Key("phone", number),)] = plain_entry(row)
            return self._merge(merged, count)
        return ImportStats(count, added, 0)

    def _empty(self) -> bool:
        return bool(self._db.execute("SELECT NOT EXISTS (SELECT 1 FROM statement)").fetchone()[0])

    def _bulk(self, evidence: Any) -> int | None:
        """``bulk_load`` in one transaction if the ledger is still empty (else None)."""
        # the load writes only ids it gave out itself: checking each reference would cost a
        # look-up per row (the pragma takes effect outside a transaction only)
        self._db.execute("PRAGMA foreign_keys = OFF")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            if not self._empty():
                self._db.execute("ROLLBACK")
                return None
            added = bulk_load(self._db, evidence._table, evidence._plain)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        finally:
            self._db.execute("PRAGMA foreign_keys = ON")
        return added

    def _existing(self, encoded: list[str]) -> dict[str, tuple[int, EvidenceEntry]]:
        """The stored statements among ``encoded`` key sets, looked up in batches through the
        unique index on ``keys`` (an import costs in proportion to what it brings)."""
        found: dict[str, tuple[int, EvidenceEntry]] = {}
        if self._db.execute("SELECT NOT EXISTS (SELECT 1 FROM statement)").fetchone()[0]:
            return found  # a new ledger: nothing to look up
        rows: dict[int, tuple[str, list[str | None]]] = {}
        for batch in batches(encoded):
            marks = ",".join("?" * len(batch))
            for sid, keys, *times in self._db.execute(
                f"SELECT id, keys, {', '.join(ALL_TIMES)} FROM statement "  # noqa: S608
                f"WHERE keys IN ({marks})",
                batch,
            ):
                rows[int(sid)] = (str(keys), times)
        sources: dict[int, list[str]] = {sid: [] for sid in rows}
        for batch in batches(list(rows)):
            marks = ",".join("?" * len(batch))
            for sid, source in self._db.execute(
                f"SELECT statement, source FROM said_by WHERE statement IN ({marks}) "  # noqa: S608
                "ORDER BY statement, source",
                batch,
            ):
                sources[int(sid)].append(str(source))
        for sid, (keys, times) in rows.items():
            first_in, first_out, last_in, opted, left = (dt(v) for v in times)
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
        columns = ", ".join(ALL_TIMES)
        # the new statements get the ids after the highest one (the transaction is immediate:
        # no one else writes), so they need not be read back
        first = int(self._db.execute("SELECT coalesce(max(id), 0) + 1 FROM statement")
                    .fetchone()[0])
        self._db.executemany(
            f"INSERT INTO statement (id, keys, {columns}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            ((sid, encoded[keys], ts(e.first_inbound_at), ts(e.first_outbound_at),
              ts(e.last_inbound_at), ts(e.opted_out_at), ts(e.number_left_at))
             for sid, (keys, e) in enumerate(fresh, start=first)),
        )
        self._db.executemany(
            "UPDATE statement SET first_inbound_at = ?, first_outbound_at = ?,"
            " last_inbound_at = ?, opted_out_at = ?, number_left_at = ? WHERE id = ?",
            [(*(ts(getattr(e, t)) for t in ALL_TIMES), sid) for sid, _keys, e in updated],
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

    def _writable(self) -> None:
        if self.readonly:
            raise EvidenceError("opened read-only", file=str(self.path))

    def _key(self, number: str) -> str:
        key = evidence_key(number)
        if key is None:
            raise EvidenceError(f"{number!r} is not a phone number in international form (+49…)")
        return key

    def _put(self, keys: tuple[Key, ...], entry: EvidenceEntry) -> None:
        encoded = encode_keys(keys)
        self._db.execute(
            f"INSERT INTO statement (keys, {', '.join(ALL_TIMES)}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
            " ON CONFLICT (keys) DO UPDATE SET"
            " first_inbound_at = excluded.first_inbound_at,"
            " first_outbound_at = excluded.first_outbound_at,"
            " last_inbound_at = excluded.last_inbound_at, opted_out_at = excluded.opted_out_at,"
            " number_left_at = excluded.number_left_at",
            (encoded, *(ts(getattr(entry, t)) for t in ALL_TIMES)),
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



def plain_entry(row: PlainRow) -> EvidenceEntry:
    """A compact statement of a number alone (``Evidence``) as an entry."""
    first_in, first_out, last_in, opted, left, sources = row
    return EvidenceEntry(first_in, first_out, last_in, opted, source_texts(sources), left)


_CHUNK = 50_000  # statements written per round of a bulk load
_UTC = timezone.utc


def _texts(times: tuple[datetime | None, ...]) -> list[str | None]:
    """``ts`` of a column of times (most already UTC: one ``isoformat`` each)."""
    return [None if t is None else t.isoformat() if t.tzinfo is _UTC else ts(t) for t in times]


def bulk_load(db: sqlite3.Connection, table: dict[tuple[Key, ...], EvidenceEntry],
               plain: dict[str, PlainRow]) -> int:
    """Write every statement into an EMPTY ledger inside the caller's transaction: rows in
    the order of their keys, so each table and index is appended to, not searched; one
    ``executemany`` per table. The number of statements written."""
    db.execute("PRAGMA cache_size = -65536")  # 64 MB of pages while the indexes grow
    try:
        numbers = sorted(plain)
        general = sorted(table, key=encode_keys)
        columns = ", ".join(ALL_TIMES)
        insert = f"INSERT INTO statement (id, keys, {columns}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
        for start in range(0, len(numbers), _CHUNK):  # column by column, a chunk at a time
            chunk = numbers[start:start + _CHUNK]
            ids = range(start + 1, start + 1 + len(chunk))
            times = list(zip(*map(plain.__getitem__, chunk), strict=True))
            db.executemany(insert, zip(ids, map("phone:".__add__, chunk),
                                       *map(_texts, times[:5]), strict=True))
            db.executemany(
                "INSERT INTO statement_key (kind, value, statement) VALUES ('phone', ?, ?)",
                zip(chunk, ids, strict=True))
            db.executemany(
                "INSERT INTO said_by (statement, source) VALUES (?, ?)",
                ((sid, source) for sid, sources in zip(ids, times[5], strict=True)
                 for source in source_texts(sources)))
        first = len(numbers) + 1
        db.executemany(insert, (
            (sid, encode_keys(keys), *(ts(getattr(table[keys], t)) for t in ALL_TIMES))
            for sid, keys in enumerate(general, start=first)))
        db.executemany(
            "INSERT OR IGNORE INTO statement_key (kind, value, statement) VALUES (?, ?, ?)",
            ((k.kind, k.value, sid) for sid, keys in enumerate(general, start=first)
             for k in keys))
        db.executemany(
            "INSERT OR IGNORE INTO said_by (statement, source) VALUES (?, ?)",
            ((sid, source) for sid, keys in enumerate(general, start=first)
             for source in table[keys].sources))
    finally:
        db.execute("PRAGMA cache_size = -2000")  # SQLite's default again
    return len(numbers) + len(general)



def _times(entry: EvidenceEntry) -> tuple[datetime | None, ...]:
    return tuple(getattr(entry, t) for t in ALL_TIMES)


