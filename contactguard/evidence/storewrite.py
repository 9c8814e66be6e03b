"""Writing the SQLite ledger (``evidence.store``): imports merged in one transaction, a new
ledger loaded in bulk, opt-outs, the statements of an upgrade."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import chain, islice, repeat
from operator import itemgetter, lt
from pathlib import Path
from typing import Any

from .._gc import collector_paused
from ..errors import EvidenceError
from ..model import EvidenceEntry, EvidenceRecord
from ..phones import evidence_key
from .bulk import Listed, PlainRow, merge_listed, merge_plain, source_texts
from .identity import Key, Statement, record_keys
from .storeschema import (
    ALL_TIMES,
    NONE,
    alone_number,
    batches,
    decode_sources,
    encode_keys,
    encode_sources,
    micros,
    micros_column,
    stored_entry,
)

__all__ = ["ImportStats", "LedgerWrites", "bulk_load"]


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
        return self._merge(merged, {}, count)

    def _merge(self, table: dict[tuple[Key, ...], EvidenceEntry], plain: dict[str, PlainRow],
               count: int, listed: Listed | None = None) -> ImportStats:
        """Merge statements (as ``Evidence.as_listed`` holds them) into the ledger in ONE
        transaction: numbers alone in SQL (``_merge_alone``), the others looked up."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            alone, listed, statements = numbers_alone(table, plain, listed)
            del table, plain
            added, changed = self._merge_alone(alone, listed)
            del alone, listed
            general = {encoded: (keys, entry) for encoded, keys, entry in statements}
            existing = self._existing(list(general))
            fresh: list[tuple[str, tuple[Key, ...], EvidenceEntry]] = []
            updated: list[tuple[int, EvidenceEntry]] = []
            for encoded, (keys, entry) in general.items():
                found = existing.get(encoded)
                if found is None:
                    added += 1
                    fresh.append((encoded, keys, entry))
                    continue
                sid, old = found
                new = old.merge(entry)
                if _differs(old, new):
                    changed += 1
                    updated.append((sid, new))
            self._write(fresh, updated)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return ImportStats(count, added, changed)

    def _merge_alone(self, alone: dict[str, PlainRow], listed: Listed | None
                     ) -> tuple[int, int]:
        """Merge statements of numbers alone into ``number_alone`` inside the caller's
        transaction; (added, changed). They are loaded into a temporary table as a new
        ledger is, then merged by one statement of SQL: a stored row is written only if the
        merge changes it (an earlier first time, a later last time, a source more)."""
        count = len(alone) if listed is None else len(listed[0])
        if not count:
            return 0, 0
        db = self._db
        db.execute(f"DROP TABLE IF EXISTS temp.{_INCOMING}")
        db.execute(_INCOMING_DDL)
        if listed is None:
            put_numbers(db, alone, into=f"temp.{_INCOMING}")
        else:
            put_listed(db, *listed, into=f"temp.{_INCOMING}")
        stored = int(db.execute(
            f"SELECT count(*) FROM temp.{_INCOMING} JOIN main.number_alone USING (number)"  # noqa: S608 - constant
        ).fetchone()[0])
        db.create_function(_SOURCES_MERGED, 2, _sources_merged, deterministic=True)
        before = db.total_changes
        db.execute(_MERGE_ALONE)
        written = db.total_changes - before  # rows inserted or updated
        db.execute(f"DROP TABLE temp.{_INCOMING}")
        return count - stored, written - (count - stored)

    def import_sources(self, sources: Any, context: Any) -> ImportStats:
        """Read evidence sources (``evidence.gather``: ledger files in bulk) and merge them
        into the ledger in ONE transaction; all or nothing."""
        from . import Evidence, gather

        # What is read lives until it is written and is freed here, before the collector
        # runs again: it never walks the millions of rows (none in a cycle).
        with collector_paused():
            evidence = Evidence()
            # a bad row aborts before any write; numbers alone kept as columns for the bulk load
            count = gather(sources, context, evidence, listed=True)
            self._writable()
            added = self._bulk(evidence) if self._empty() else None
            if added is None:  # statements there already (perhaps written meanwhile): merged
                table, plain, listed = evidence.as_listed()
                del evidence
                return self._merge(table, plain, count, listed)
            del evidence
        return ImportStats(count, added, 0)

    def _empty(self) -> bool:
        return bool(self._db.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM statement)"
            " AND NOT EXISTS (SELECT 1 FROM number_alone)").fetchone()[0])

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
            added = bulk_load(self._db, *evidence.as_listed())
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
        for batch in batches(encoded):
            marks = ",".join("?" * len(batch))
            for sid, keys, *times, stored in self._db.execute(
                f"SELECT id, keys, {', '.join(ALL_TIMES)}, sources FROM statement "  # noqa: S608
                f"WHERE keys IN ({marks})",
                batch,
            ):
                found[str(keys)] = (int(sid), stored_entry(times, decode_sources(stored)))
        return found

    def _write(self, fresh: list[tuple[str, tuple[Key, ...], EvidenceEntry]],
               updated: list[tuple[int, EvidenceEntry]]) -> None:
        """New statements (not numbers alone) and changed ones."""
        # the new statements get the ids after the highest one (the transaction is immediate:
        # no one else writes), so they need not be read back
        first = int(self._db.execute("SELECT coalesce(max(id), 0) + 1 FROM statement")
                    .fetchone()[0])
        put_general(self._db, first, fresh)
        self._db.executemany(
            "UPDATE statement SET first_inbound_at = ?, first_outbound_at = ?,"
            " last_inbound_at = ?, opted_out_at = ?, number_left_at = ?, sources = ?"
            " WHERE id = ?",
            [(*(micros(getattr(e, t)) for t in ALL_TIMES), encode_sources(e.sources), sid)
             for sid, e in updated],
        )

    def _write_all(self, statements: list[Statement]) -> None:
        """Every statement of an upgrade into the new, empty tables (the caller's
        transaction)."""
        table: dict[tuple[Key, ...], EvidenceEntry] = {}
        for statement in statements:
            old = table.get(statement.keys)
            table[statement.keys] = statement.entry if old is None else old.merge(statement.entry)
        bulk_load(self._db, table, {})

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


_CHUNK = 50_000  # statements written per round of a bulk load
_ROWS = 50  # rows per INSERT statement of a bulk write (measured: 10 to 200 alike)


def _columns(entries: Sequence[EvidenceEntry]) -> list[list[datetime | None]]:
    return [[getattr(e, t) for e in entries] for t in ALL_TIMES]


def _times_sql(times: Sequence[Sequence[datetime | None]]
               ) -> tuple[list[str], list[str], list[list[int]]]:
    """The time columns to write (names, value expressions, values): a column with no time
    at all is left out (NULL by default), one with some gets ``nullif`` of ``NONE``."""
    names: list[str] = []
    exprs: list[str] = []
    values: list[list[int]] = []
    first: tuple[Sequence[datetime | None], list[int]] | None = None
    for name, column in zip(ALL_TIMES, times, strict=True):
        nones = column.count(None)
        if nones == len(column):
            continue
        encoded = micros_column(column, first)
        first = first or (column, encoded)
        names.append(name)
        exprs.append(f"nullif(?, {NONE})" if nones else "?")
        values.append(encoded)
    return names, exprs, values


def insert_rows(db: sqlite3.Connection, head: str, exprs: Sequence[str],
                columns: Sequence[Sequence[Any]]) -> None:
    """``head VALUES (exprs)`` for every row of ``columns`` (equally long), ``_ROWS``
    rows per statement: the statement's parameters are strided slices of the columns, made
    at C speed (a row per statement costs Python and SQLite a round per row)."""
    count = len(columns[0])
    assert all(len(column) == count for column in columns)
    one = f"({', '.join(exprs)})"
    whole = count - count % _ROWS
    if whole:
        db.executemany(
            f"{head} VALUES {', '.join([one] * _ROWS)}",
            zip(*[column[i:whole:_ROWS] for i in range(_ROWS) for column in columns],
                strict=True))
    if whole < count:
        db.executemany(f"{head} VALUES {one}",
                       zip(*[column[whole:] for column in columns], strict=True))


def put_alone(db: sqlite3.Connection, numbers: Sequence[str],
              times: Sequence[Sequence[datetime | None]], sources: Sequence[str | bytes],
              *, into: str = "number_alone") -> None:
    """New rows of numbers alone, column by column, into ``number_alone`` (or ``into``, a
    table of the same columns)."""
    if not numbers:
        return
    names, exprs, values = _times_sql(times)
    insert_rows(db, f"INSERT INTO {into} (number, {''.join(n + ', ' for n in names)}"
                f"sources)", ["?", *exprs, "?"], [numbers, *values, sources])


def put_general(db: sqlite3.Connection, first: int,
                statements: Sequence[tuple[str, tuple[Key, ...], EvidenceEntry]]) -> None:
    """New ``statement`` rows, (encoded keys, keys, entry) each, with ids from ``first`` on
    in the given order, and their keys."""
    if not statements:
        return
    entries = [entry for _encoded, _keys, entry in statements]
    names, exprs, values = _times_sql(_columns(entries))
    ids = range(first, first + len(statements))
    insert_rows(db, f"INSERT INTO statement (id, keys, {''.join(n + ', ' for n in names)}"
                f"sources)", ["?", "?", *exprs, "?"],
                [ids, [encoded for encoded, _keys, _entry in statements], *values,
                 [encode_sources(e.sources) for e in entries]])
    keys_of = [keys for _encoded, keys, _entry in statements]
    flat = list(chain.from_iterable(keys_of))  # in the order of the statements: the first
    if flat:                                   # key of each appended to its kind's index
        kinds, key_values = zip(*flat, strict=True)
        owners = list(chain.from_iterable(map(repeat, ids, map(len, keys_of))))
        insert_rows(db, "INSERT INTO statement_key (kind, value, statement)", ["?", "?", "?"],
                    [kinds, key_values, owners])


def _source_column(column: Sequence[Any]) -> list[str | bytes]:
    """Compact statements' sources as stored. The common column, one line of one file per
    statement (``bulk.Sources`` as an int: the lines of a file are consecutive codes from
    its line 0 on), is named at C speed: "file:" + the line; any other through
    ``source_texts``."""
    if column and set(map(type, column)) == {int}:
        low, high = min(column), max(column)
        text = source_texts(low)[0]
        line = int(text.rpartition(":")[2])
        base, prefix = low - line, text[: len(text) - len(str(line))]
        if source_texts(high)[0] == prefix + str(high - base):  # both ends in one file
            return list(map(prefix.__add__, map(str, map(base.__rsub__, column))))
    return [_source_value(sources) for sources in column]


def _source_value(sources: Any) -> str | bytes:
    texts = source_texts(sources)
    return texts[0] if len(texts) == 1 else encode_sources(texts)


def bulk_load(db: sqlite3.Connection, table: dict[tuple[Key, ...], EvidenceEntry],
              plain: dict[str, PlainRow], listed: Listed | None = None) -> int:
    """Write every statement into an EMPTY ledger inside the caller's transaction: rows in
    the order of their keys, so each table and index is appended to, not searched; one
    ``executemany`` per table and chunk, column by column. ``listed``: more numbers alone,
    as columns (``Evidence.as_listed``). The number of statements."""
    db.execute("PRAGMA cache_size = -65536")  # 64 MB of pages while the indexes grow
    try:
        with collector_paused():  # millions of short-lived rows, none in a cycle
            return _load(db, table, plain, listed)
    finally:
        db.execute("PRAGMA cache_size = -2000")  # SQLite's default again


def _load(db: sqlite3.Connection, table: dict[tuple[Key, ...], EvidenceEntry],
          plain: dict[str, PlainRow], listed: Listed | None) -> int:
    """``bulk_load``'s writing: numbers alone, then the other statements."""
    alone, listed, general = numbers_alone(table, plain, listed)
    if listed is not None:
        put_listed(db, *listed)
    else:
        put_numbers(db, alone)
    general.sort(key=itemgetter(0))
    for start in range(0, len(general), _CHUNK):
        put_general(db, start + 1, general[start:start + _CHUNK])
    return (len(alone) if listed is None else len(listed[0])) + len(general)


def numbers_alone(table: dict[tuple[Key, ...], EvidenceEntry], plain: dict[str, PlainRow],
                  listed: Listed | None) -> tuple[dict[str, PlainRow], Listed | None,
                                                  list[tuple[str, tuple[Key, ...], EvidenceEntry]]]:
    """``split_statements``, numbers alone kept as columns (``listed``) if they are all
    there are: else all in one table."""
    if listed is not None and (plain or any(alone_number(keys) for keys in table)):
        rows = dict(plain)  # numbers alone of another kind too: one table of them all
        merge_listed(rows, *listed)
        plain, listed = rows, None
    alone, general = split_statements(table, plain)
    return alone, listed, general


def split_statements(table: dict[tuple[Key, ...], EvidenceEntry], plain: dict[str, PlainRow]
                     ) -> tuple[dict[str, PlainRow],
                                list[tuple[str, tuple[Key, ...], EvidenceEntry]]]:
    """Statements as ``Evidence.as_read`` holds them split by table: the numbers alone
    (``plain``, with the ones ``table`` holds merged in) and the others, (encoded keys, keys,
    entry) each."""
    alone: dict[str, PlainRow] = plain
    general: list[tuple[str, tuple[Key, ...], EvidenceEntry]] = []
    for keys, entry in table.items():  # a number alone kept as an entry: a row too
        number = alone_number(keys)
        if number is None:
            general.append((encode_keys(keys), keys, entry))
            continue
        if alone is plain:
            alone = dict(plain)
        row = (entry.first_inbound_at, entry.first_outbound_at, entry.last_inbound_at,
               entry.opted_out_at, entry.number_left_at, entry.sources)
        old = alone.get(number)
        alone[number] = row if old is None else merge_plain(old, row)
    return alone, general


def put_numbers(db: sqlite3.Connection, alone: dict[str, PlainRow], *,
                into: str = "number_alone") -> None:
    """New rows of numbers alone (``put_alone``) in the order of their numbers, so the table
    is appended to, not searched; a chunk at a time, column by column."""
    numbers = sorted(alone)
    # a file in the order of its numbers: its rows read in the order they lie in memory
    rows = (list(alone.values()) if numbers == list(alone)
            else list(map(alone.__getitem__, numbers)))
    for start in range(0, len(numbers), _CHUNK):
        columns = list(zip(*rows[start:start + _CHUNK], strict=True))
        put_alone(db, numbers[start:start + _CHUNK], columns[:5],
                  _source_column(columns[5]), into=into)


def put_listed(db: sqlite3.Connection, numbers: list[str], columns: Sequence[Sequence[Any]],
               *, into: str = "number_alone") -> None:
    """``put_numbers`` of numbers alone kept as columns (``bulk.Listed``: each number
    distinct), without making them rows: sorted by number first unless they are."""
    if not all(map(lt, numbers, islice(numbers, 1, None))):
        order = sorted(range(len(numbers)), key=numbers.__getitem__)
        numbers = list(map(numbers.__getitem__, order))
        columns = [list(map(column.__getitem__, order)) for column in columns]
    ins, outs, lasts, opts, codes = columns
    for start in range(0, len(numbers), _CHUNK):
        end = start + _CHUNK
        part = numbers[start:end]
        put_alone(db, part, [ins[start:end], outs[start:end], lasts[start:end],
                             opts[start:end], [None] * len(part)],
                  _source_column(codes[start:end]), into=into)


_INCOMING = "contactguard_incoming"  # a merge's numbers alone, before they are merged
# (a table with a rowid: its rows are only appended, in the order of their numbers, and read
# in that order)
_INCOMING_DDL = (f"CREATE TEMP TABLE {_INCOMING} (number TEXT NOT NULL, "
                 + "".join(f"{column} INTEGER, " for column in ALL_TIMES)
                 + "sources NOT NULL)")
_SOURCES_MERGED = "contactguard_sources_merged"


def _sources_merged(old: str | bytes, new: str | bytes) -> str | bytes:
    """The stored sources of a merge (SQL function): ``old`` itself when ``new`` brings no
    source it lacks, else the sources of both, encoded."""
    texts = decode_sources(old)
    more = [t for t in decode_sources(new) if t not in texts]
    return encode_sources(texts + tuple(more)) if more else old


def _merge_alone_sql() -> str:
    """Every number of the temporary table merged into ``number_alone``: the earliest
    first times, the latest other ones (SQL's two-argument ``min``/``max`` are NULL when
    either is: ``coalesce`` then takes the one set), the sources of both; written only
    when new or changed."""
    merged = []
    for column in ALL_TIMES:
        pick = "min" if column in ("first_inbound_at", "first_outbound_at") else "max"
        merged.append(f"coalesce({pick}(o.{column}, i.{column}), o.{column}, i.{column})"
                      f" AS {column}")
    merged.append("CASE WHEN o.sources IS NULL OR o.sources IS i.sources THEN i.sources"
                  f" ELSE {_SOURCES_MERGED}(o.sources, i.sources) END AS sources")
    columns = (*ALL_TIMES, "sources")
    differs = " OR ".join(f"{c} IS NOT old_{c}" for c in columns)
    return " ".join([
        # materialized: the merged sources are computed once a row
        f"WITH m AS MATERIALIZED (SELECT i.number AS number, {', '.join(merged)},",
        "o.number IS NULL AS new,",
        ", ".join(f"o.{c} AS old_{c}" for c in columns),
        f"FROM temp.{_INCOMING} AS i LEFT JOIN main.number_alone AS o ON o.number = i.number)",
        f"INSERT INTO main.number_alone (number, {', '.join(columns)})",
        f"SELECT number, {', '.join(columns)} FROM m WHERE new OR {differs}",  # noqa: S608
        "ON CONFLICT (number) DO UPDATE SET",
        ", ".join(f"{c} = excluded.{c}" for c in columns),
    ])


_MERGE_ALONE = _merge_alone_sql()


def _differs(old: EvidenceEntry, new: EvidenceEntry) -> bool:
    """Whether merging changed a stored statement (a time, or a source more)."""
    return _times(new) != _times(old) or set(new.sources) != set(old.sources)


def _times(entry: EvidenceEntry) -> tuple[datetime | None, ...]:
    return tuple(getattr(entry, t) for t in ALL_TIMES)
