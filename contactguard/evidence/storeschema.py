"""The SQLite ledger's schema and the encodings its rows use (``evidence.store``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from .identity import Key

__all__ = [
    "ALL_TIMES", "MARKER", "MARKER_TABLE", "SCHEMA", "SCHEMA_VERSION", "SQLITE_MAGIC", "TIMES",
    "V1_TABLES", "batches", "decode_keys", "dt", "encode_keys", "looks_like_v1", "ts",
]

SCHEMA_VERSION = 2
SQLITE_MAGIC = b"SQLite format 3\x00"
MARKER_TABLE = "contactguard_ledger"
MARKER = "contactguard evidence ledger"

SCHEMA = """
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
assert f"'{MARKER}'" in SCHEMA and f"user_version = {SCHEMA_VERSION};" in SCHEMA
V1_TABLES = frozenset({"identity", "said_by"})
TIMES = ("first_inbound_at", "first_outbound_at", "last_inbound_at", "opted_out_at")
ALL_TIMES = (*TIMES, "number_left_at")


def ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.isoformat()


def dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def encode_keys(keys: tuple[Key, ...]) -> str:
    return "\n".join(f"{k.kind}:{k.value}" for k in keys)


def decode_keys(text: str) -> tuple[Key, ...]:
    return tuple(Key(*line.split(":", 1)) for line in text.split("\n"))



def batches(items: list[str] | list[int], size: int = 500) -> Iterator[list[Any]]:
    """``items`` in slices that stay within SQLite's limit of bound parameters."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def looks_like_v1(db: sqlite3.Connection) -> bool:
    columns = {row[1] for row in db.execute("PRAGMA table_info(identity)")}
    return {"kind", "key", "user_id", *TIMES} <= columns


