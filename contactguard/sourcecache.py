"""A local copy of the source address book (href → ETag + card text), so a run fetches only changes.

Like vdirsyncer's status cache, keyed by ETag: a run lists the source (one request), fetches only
the cards whose ETag is new or changed, and forgets cards that left the source. The cache holds
the raw card text only — never a decision: the policy is applied to every card on every run,
because evidence changes between runs.

It holds the whole company book, so it is a data-protection matter (README, "Scheduled sync"):
the SQLite file is created 0600 (its folder 0700 when we create it), it lives next to the state
file, and ``source_cache = false`` in the config turns it off. A cache that cannot be read (corrupt,
another version, another source) is deleted and rebuilt: the run then fetches every card.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from .errors import SyncError

__all__ = ["SourceCache"]

CACHE_VERSION = "1"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cards (href TEXT PRIMARY KEY, etag TEXT NOT NULL, "
    "data TEXT NOT NULL);"
)

_COLUMNS = {"meta": ["key", "value"], "cards": ["href", "etag", "data"]}


class SourceCache:
    """The cached cards of one source (href → ETag, text) in a private SQLite file."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.source = source  # the source's URL without user info: a cache of another is dropped
        self.rebuilt = False  # set when an unreadable cache was thrown away
        self._db = self._open()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SourceCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def etags(self) -> dict[str, str]:
        """href → ETag of every cached card."""
        return dict(self._db.execute("SELECT href, etag FROM cards"))

    def texts(self) -> dict[str, str]:
        """href → card text of every cached card."""
        return dict(self._db.execute("SELECT href, data FROM cards"))

    def update(self, cards: Iterable[tuple[str, str, str]], gone: Iterable[str]) -> None:
        """Store fetched cards (href, ETag, text) and forget ``gone`` hrefs, in one transaction."""
        try:
            with self._db:
                self._db.executemany("DELETE FROM cards WHERE href = ?", ((h,) for h in gone))
                self._db.executemany(
                    "INSERT OR REPLACE INTO cards (href, etag, data) VALUES (?, ?, ?)", cards
                )
        except sqlite3.Error as exc:
            raise SyncError(f"cannot write the source cache ({exc})", file=str(self.path)) from exc

    def sync_mark(self) -> tuple[str | None, str | None]:
        """The sync token (RFC 6578) of the cached listing, and the collection it came from."""
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        return meta.get("sync_token"), meta.get("sync_collection")

    def sync_offered(self) -> bool | None:
        """False when the server refused sync-collection last time; None when not known."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'sync_offered'").fetchone()
        return None if row is None else row[0] == "yes"

    def set_sync_mark(
        self, token: str | None, collection: str | None, offered: bool | None
    ) -> None:
        """Keep the token of the listing just stored (None forgets it: the next run lists all)."""
        values = {"sync_token": token, "sync_collection": collection}
        if offered is not None:
            values["sync_offered"] = "yes" if offered else "no"
        try:
            with self._db:
                for key, value in values.items():
                    if value is None:
                        self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
                    else:
                        self._db.execute(
                            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
                        )
        except sqlite3.Error as exc:
            raise SyncError(f"cannot write the source cache ({exc})", file=str(self.path)) from exc

    # -- internals -----------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError:
            # corrupt, or not SQLite at all: it is only a copy, so start again from the server
            self._remove()
            self.rebuilt = True
            try:
                return self._connect()
            except sqlite3.Error as exc:
                raise SyncError(
                    f"cannot open the source cache ({exc})", file=str(self.path)
                ) from exc
        except OSError as exc:
            raise SyncError(
                f"cannot create the source cache ({exc.strerror})", file=str(self.path)
            ) from exc

    def _connect(self) -> sqlite3.Connection:
        folder = self.path.parent
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True)
        # created 0600 before SQLite opens it: the company book is nobody else's business
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        self.path.chmod(0o600)
        # a fleet fetches in one target thread and reads the texts in another (never at once)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=DELETE")  # no -wal file left beside it
            db.executescript(_SCHEMA)
            for table, columns in _COLUMNS.items():
                found = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                if found != columns:  # another program's file, or another version's schema
                    raise sqlite3.DatabaseError(f"the source cache's {table} table is foreign")
            meta = dict(db.execute("SELECT key, value FROM meta"))
            if meta.get("version") != CACHE_VERSION or meta.get("source") != self.source:
                if meta:
                    self.rebuilt = True
                with db:
                    db.execute("DELETE FROM cards")
                    db.execute("DELETE FROM meta")
                    db.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        (("version", CACHE_VERSION), ("source", self.source)),
                    )
            if db.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
                raise sqlite3.DatabaseError("the source cache failed its integrity check")
        except BaseException:
            db.close()
            raise
        db.isolation_level = "DEFERRED"
        return db

    def _remove(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").unlink()
