"""The SQLite ledger's schema and the encodings its rows use (``evidence.store``).

Schema version 3 (``SCHEMA``) is written for cheap bulk loads, and still says everything
version 2 said:

- ``number_alone``: a statement whose only key is one phone number (by far the most common:
  a ledger's row, a chat export's number) is ONE row of a ``WITHOUT ROWID`` table keyed by
  the number, with its times and sources in the row. A million numbers are a million
  appends to one b-tree (version 2 wrote three: statement, its key, its source).
- ``statement`` + ``statement_key``: every other statement (several keys: a number with its
  LID or user ID, a user ID alone, a display name…), with one ``statement_key`` row per key
  for the look-ups by key, as in version 2; its sources in the row too (version 2's
  ``said_by`` table is gone).
- Times are integers, microseconds since 1970-01-01T00:00:00Z (version 2: ISO text).
- Sources: one source is stored as its text; none or several as a JSON array of texts, as a
  BLOB (so a file name that looks like JSON is never mistaken for a list).

Version 2 (``V2_TABLES``: ``statement`` with ISO-text times, ``statement_key``, ``said_by``)
is read as it is by read-only readers and upgraded to version 3 on the first write.
"""

from __future__ import annotations

import json
import sqlite3
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from itertools import compress
from operator import is_not
from typing import Any

from ..model import EvidenceEntry
from .identity import Key

__all__ = [
    "ALL_TIMES",
    "MARKER",
    "MARKER_DDL",
    "MARKER_TABLE",
    "NONE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SQLITE_MAGIC",
    "TABLES",
    "TIMES",
    "V1_TABLES",
    "V2_TABLES",
    "V3_TABLES",
    "alone_number",
    "batches",
    "decode_keys",
    "decode_sources",
    "dt",
    "encode_keys",
    "encode_sources",
    "looks_like_v1",
    "micros",
    "micros_column",
    "statements_ddl",
    "stored_entry",
]

SCHEMA_VERSION = 3
SQLITE_MAGIC = b"SQLite format 3\x00"
MARKER_TABLE = "contactguard_ledger"
MARKER = "contactguard evidence ledger"

MARKER_DDL = """
CREATE TABLE contactguard_ledger (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO contactguard_ledger (name, value) VALUES ('format', 'contactguard evidence ledger');
"""
TABLES = """
CREATE TABLE number_alone (
    number TEXT PRIMARY KEY,    -- the statement whose only key is this phone number
    first_inbound_at INTEGER,   -- times: microseconds since 1970-01-01T00:00:00Z
    first_outbound_at INTEGER,
    last_inbound_at INTEGER,
    opted_out_at INTEGER,
    number_left_at INTEGER,
    sources NOT NULL            -- one source: its text, else a JSON array of them (a BLOB)
) WITHOUT ROWID;
CREATE TABLE statement (
    id INTEGER PRIMARY KEY,
    keys TEXT NOT NULL UNIQUE,  -- the sorted identity keys, "kind:value" per line
    first_inbound_at INTEGER,
    first_outbound_at INTEGER,
    last_inbound_at INTEGER,
    opted_out_at INTEGER,
    number_left_at INTEGER,
    sources NOT NULL
);
CREATE TABLE statement_key (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    statement INTEGER NOT NULL REFERENCES statement (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, value, statement)
) WITHOUT ROWID;
PRAGMA user_version = 3;
"""
SCHEMA = MARKER_DDL + TABLES
assert f"'{MARKER}'" in SCHEMA and f"user_version = {SCHEMA_VERSION};" in SCHEMA
assert ";" not in "".join(line.partition("--")[2] for line in SCHEMA.splitlines())
V1_TABLES = frozenset({"identity", "said_by"})
V2_TABLES = frozenset({MARKER_TABLE, "statement", "statement_key", "said_by"})
V3_TABLES = frozenset({MARKER_TABLE, "number_alone", "statement", "statement_key"})
TIMES = ("first_inbound_at", "first_outbound_at", "last_inbound_at", "opted_out_at")
ALL_TIMES = (*TIMES, "number_left_at")

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_MICROSECOND = timedelta(microseconds=1)
# Bulk writes bind this for "no time" and let SQLite turn it into NULL (``nullif``): binding
# Python's None costs an adapter look-up per value. It lies outside datetime's range.
NONE = -(2**63)


def micros(value: datetime | None) -> int | None:
    """A time as stored: microseconds since the epoch (an instant: any UTC offset)."""
    return None if value is None else _instant(value)


def _instant(value: datetime) -> int:
    if value.tzinfo is None:  # a naive time is local time, as ``astimezone`` reads it
        value = value.astimezone(_UTC)
    return (value - _EPOCH) // _MICROSECOND


def micros_column(values: Sequence[datetime | None],
                  like: tuple[Sequence[datetime | None], Sequence[int]] | None = None
                  ) -> list[int]:
    """``micros`` of a column of times, ``NONE`` for no time. Each cell costs arithmetic only
    where it must: a cell holding the same object as ``like``'s column in its row (the last
    inbound time is often the first one itself) takes ``like``'s value; cells that repeat a
    few objects (dates, no time) are converted once per distinct object."""
    if like is not None:
        own = list(map(is_not, values, like[0]))  # at C speed
        if own.count(False) * 8 > len(values):
            rest = micros_column(list(compress(values, own)))
            out = list(like[1])  # then the cells of their own put in place, at C speed
            deque(map(out.__setitem__, compress(range(len(values)), own), rest), maxlen=0)
            return out
    head = values[:4096]  # (a day a row, in order, repeats after a few hundred rows)
    if len(set(map(id, head))) * 4 <= len(head):
        memo = {t: NONE if t is None else _instant(t) for t in set(values)}
        return list(map(memo.__getitem__, values))
    try:
        return [NONE if t is None else (t - _EPOCH) // _MICROSECOND for t in values]
    except TypeError:  # a naive time somewhere
        return [NONE if t is None else _instant(t) for t in values]


def dt(value: str | int | None) -> datetime | None:
    """A stored time back: an integer (version 3) or ISO text (versions 1 and 2)."""
    if value is None:
        return None
    if type(value) is int:
        return _EPOCH + timedelta(microseconds=value)
    return datetime.fromisoformat(str(value))


def stored_entry(times: Sequence[str | int | None], sources: tuple[str, ...]) -> EvidenceEntry:
    """A stored statement's entry: its times (``ALL_TIMES``, as stored) and its sources."""
    first_in, first_out, last_in, opted, left = map(dt, times)
    return EvidenceEntry(first_in, first_out, last_in, opted, sources, left)


def encode_sources(sources: Sequence[str]) -> str | bytes:
    """Sources as stored: one is its text, none or several a JSON array (sorted) as a BLOB."""
    if len(sources) == 1:
        return sources[0]
    texts = sorted(set(sources))
    if len(texts) == 1:
        return texts[0]
    # what ``json.dumps(texts, ensure_ascii=False)`` writes, without building an encoder
    return f"[{', '.join(map(_json_text, texts))}]".encode()


_json_text = json.encoder.encode_basestring  # a str as a JSON string, not ASCII-escaped


def decode_sources(value: str | bytes) -> tuple[str, ...]:
    if type(value) is str:
        return (value,)
    return tuple(sorted(json.loads(value)))


def alone_number(keys: tuple[Key, ...]) -> str | None:
    """The number of a statement whose only key is that number (a ``number_alone`` row)."""
    if len(keys) == 1 and keys[0].kind == "phone":
        return keys[0].value
    return None


def statements_ddl(script: str) -> list[str]:
    """A schema script as single statements (to run inside a transaction of our own)."""
    return [part.strip() for part in script.split(";") if part.strip()]


def encode_keys(keys: tuple[Key, ...]) -> str:
    return "\n".join(f"{k.kind}:{k.value}" for k in keys)


def decode_keys(text: str) -> tuple[Key, ...]:
    return tuple(Key(*line.split(":", 1)) for line in text.split("\n"))


def batches(items: Sequence[Any], size: int = 500) -> Iterator[list[Any]]:
    """``items`` in slices that stay within SQLite's limit of bound parameters."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def looks_like_v1(db: sqlite3.Connection) -> bool:
    columns = {row[1] for row in db.execute("PRAGMA table_info(identity)")}
    return {"kind", "key", "user_id", *TIMES} <= columns
