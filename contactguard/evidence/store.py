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
  (``PRAGMA user_version``; the schema: ``storeschema``). Only a file with the marker is ever
  written (or a version-1 ledger), or a file this module creates (mode 0600); a version-1 or -2
  ledger opened for writing is upgraded to version 3 in one transaction first, and read as it
  is when opened read-only. Any other SQLite file (a phone's WhatsApp database, a backup's
  manifest) is refused, never adopted. A newer schema, or a marked file whose tables are not
  those of its version, is refused, not guessed at.
- Readers (``sanitize``, ``check``, ``sync``, ``evidence show``) open the file read-only
  (SQLite ``mode=ro``): an input is never written.
- ``forget`` removes a whole identity (every key and source), waits a bounded time for other
  users of the file, and then either completes — rows deleted, write-ahead log checkpointed and
  truncated, ``VACUUM`` with ``secure_delete``, and the key's digits verified absent from the
  file, its WAL and its journal — or raises ``LedgerBusy``.
"""

from __future__ import annotations

import heapq
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from ..errors import EvidenceError
from ..model import EvidenceEntry, EvidenceRecord
from ..phones import evidence_key, variants
from .identity import (
    STRONG_KINDS,
    Identity,
    Key,
    Statement,
    key_from_text,
    name_key,
    record_keys,
    resolve,
)
from .storeforget import FORGET_WAIT, ForgetResult, LedgerBusy, LedgerForget, names_identity
from .storeschema import (
    ALL_TIMES,
    MARKER,
    MARKER_DDL,
    MARKER_TABLE,
    SCHEMA,
    SCHEMA_VERSION,
    SQLITE_MAGIC,
    TABLES,
    TIMES,
    V1_TABLES,
    V2_TABLES,
    V3_TABLES,
    batches,
    decode_keys,
    decode_sources,
    dt,
    looks_like_v1,
    statements_ddl,
    stored_entry,
)
from .storewrite import ImportStats, LedgerWrites

__all__ = [
    "FORGET_WAIT", "SCHEMA_VERSION", "ForgetResult", "ImportStats", "Ledger", "LedgerBusy",
    "LedgerEntry", "read", "sniff",
]


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



def _entry_kind(identity: Identity) -> tuple[str, str]:
    if identity.number is not None:
        return "phone", identity.numbers[0] if identity.numbers else identity.number
    if identity.name is not None:
        return "name", identity.name
    key = identity.keys[0]
    return ("user_id" if key.kind == "bsuid" else key.kind), key.value



def _first(pair: tuple[str, Statement]) -> str:
    return pair[0]


class Ledger(LedgerWrites, LedgerForget):
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
            if {2: V2_TABLES, 3: V3_TABLES}.get(version) != frozenset(tables):
                raise EvidenceError(
                    f"a contactguard ledger whose tables do not match its schema version "
                    f"({version}); damaged or changed by another program, refused",
                    file=shown,
                )
            if version == 2 and not self.readonly:
                self._upgrade(2)
                return SCHEMA_VERSION
            return version
        if version == 1 and tables == V1_TABLES and looks_like_v1(db):
            if not self.readonly:
                self._upgrade(1)
                return SCHEMA_VERSION
            return 1
        if new and not tables and version == 0 and not self.readonly:
            db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")
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

    def _upgrade(self, version: int) -> None:
        """A version-1 or -2 ledger → version 3, in ONE transaction: every statement read
        (version 1: one row per number, name or user id, made statements), the old tables
        dropped, the new ones written. Interrupted, the file stays as it was."""
        db = self._db
        self.version = version  # read the statements as that version stores them
        db.execute("PRAGMA foreign_keys = OFF")  # the rows written are the upgrade's own
        try:
            db.execute("BEGIN IMMEDIATE")
            statements = self.statements()  # read whole before the tables go
            for table in ("said_by", "statement_key", "statement", "identity"):
                db.execute(f"DROP TABLE IF EXISTS {table}")
            for ddl in statements_ddl(MARKER_DDL if version == 1 else ""):
                db.execute(ddl)
            for ddl in statements_ddl(TABLES):
                db.execute(ddl)
            self._write_all(statements)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.execute("PRAGMA foreign_keys = ON")
        self.version = SCHEMA_VERSION

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

    def statement_count(self) -> int:
        """How many statements (key sets) the ledger holds: one indexed count, no resolving."""
        if self.version == 1:  # a version-1 ledger read-only
            return int(self._db.execute("SELECT count(*) FROM identity").fetchone()[0])
        count = int(self._db.execute("SELECT count(*) FROM statement").fetchone()[0])
        if self.version >= 3:
            count += int(self._db.execute("SELECT count(*) FROM number_alone").fetchone()[0])
        return count


    # -- reading ---------------------------------------------------------------------------

    def statements(self) -> list[Statement]:
        """Every statement (key set, merged times, sources), in the order of their keys."""
        if self.version == 1:
            return self._v1_statements()
        if self.version == 2:
            return [Statement(keys, entry) for _sid, _text, keys, entry in self._general()]
        # both streams in the order of the encoded keys ("phone:" + the number for the alone)
        general = ((text, Statement(keys, entry)) for _sid, text, keys, entry in self._general())
        alone = (("phone:" + number, Statement((Key("phone", number),), entry))
                 for number, entry in self._alone("ORDER BY number"))
        return [statement for _text, statement in heapq.merge(general, alone, key=_first)]

    def _general(self, ids: Sequence[int] | None = None
                 ) -> Iterator[tuple[int, str, tuple[Key, ...], EvidenceEntry]]:
        """Rows of ``statement`` (all, or those of ``ids``: at most ``batches`` of them),
        ordered by keys, as (id, keys as stored, keys, entry), with their sources (version 2:
        from ``said_by``)."""
        columns = f"id, keys, {', '.join(ALL_TIMES)}"
        where = "" if ids is None else f"WHERE id IN ({','.join('?' * len(ids))})"
        params = () if ids is None else tuple(ids)
        said: dict[int, list[str]] | None = None  # version 2: sources in their own table
        if self.version == 2:
            said = {}
            for sid, source in self._db.execute(
                f"SELECT statement, source FROM said_by {where.replace('id', 'statement', 1)}",  # noqa: S608
                params,
            ):
                said.setdefault(int(sid), []).append(str(source))
        inline = "NULL" if said is not None else "sources"
        for sid, keys, *times, stored in self._db.execute(
            f"SELECT {columns}, {inline} FROM statement {where} ORDER BY keys",  # noqa: S608
            params,
        ):
            sources = (decode_sources(stored) if said is None
                       else tuple(sorted(said.get(sid, []))))
            yield sid, keys, decode_keys(keys), stored_entry(times, sources)

    def _alone(self, where: str, params: Sequence[object] = ()
               ) -> Iterator[tuple[str, EvidenceEntry]]:
        """Rows of ``number_alone`` (version 3) as (number, entry)."""
        for number, *times, stored in self._db.execute(
            f"SELECT number, {', '.join(ALL_TIMES)}, sources FROM number_alone {where}",  # noqa: S608
            params,
        ):
            yield number, stored_entry(times, decode_sources(stored))

    def _v1_statements(self) -> list[Statement]:
        sources: dict[tuple[str, str], list[str]] = {}
        for kind, key, source in self._db.execute("SELECT kind, key, source FROM said_by"):
            sources.setdefault((kind, key), []).append(source)
        table: dict[tuple[Key, ...], EvidenceEntry] = {}
        for kind, key, user_id, *times in self._db.execute(
            f"SELECT kind, key, user_id, {', '.join(TIMES)} FROM identity"  # noqa: S608
        ):
            record = EvidenceRecord(
                source=str(self.path),
                phone=key if kind == "phone" else None,
                name=key if kind == "name" else None,
                user_id=user_id if kind == "phone" else key if kind == "user_id" else None,
            )
            keys = record_keys(record)
            first_in, first_out, last_in, opted = (dt(v) for v in times)
            entry = EvidenceEntry(
                first_in, first_out, last_in, opted, tuple(sorted(sources.get((kind, key), [])))
            )
            old = table.get(keys)
            table[keys] = entry if old is None else old.merge(entry)
        return [Statement(keys, entry) for keys, entry in table.items()]

    def _identities(self, *, ar_without_9: bool = False) -> list[Identity]:
        return resolve(self.statements(), ar_without_9=ar_without_9)

    def identities_named(self, wanted: list[Key]) -> list[Identity]:
        """The identities any of ``wanted`` names (``names_identity``: numbers by every
        WhatsApp spelling, Argentina's 549/54 included), resolved from only the statements
        that can belong to them (``statements_about``): in proportion to those people, not to
        the ledger."""
        statements = self.statements_about(wanted, ar_without_9=True)
        return [i for i in resolve(statements, ar_without_9=True) if names_identity(i, wanted)]

    def statements_about(self, wanted: Iterable[Key], *, ar_without_9: bool = False
                         ) -> list[Statement]:
        """Every statement linked to ``wanted`` through the key index: a number to every
        statement of any of its WhatsApp spellings, a user ID, username or LID to every
        statement that shares it, and each number and such key in those followed in turn until
        nothing new turns up. What ``resolve`` links never leaves that part of the ledger, so
        the identities of ``wanted`` resolve from it exactly as from the whole ledger."""
        if self.version == 1:
            return self.statements()
        todo: set[tuple[str, str]] = set()
        for key in wanted:
            todo.update(self._spellings(key.kind, key.value, ar_without_9))
        alone, found = self._linked(todo, follow_numbers=True, ar_without_9=ar_without_9)
        # in the order ``statements`` gives them (by their keys as stored), so they resolve
        # into the same identities with their sources in the same order
        ordered = [("phone:" + number, Statement((Key("phone", number),), entry))
                   for number, entry in alone.items()]
        for batch in batches(sorted(found)):
            ordered.extend((text, Statement(keys, entry))
                           for _sid, text, keys, entry in self._general(batch))
        ordered.sort(key=_first)
        return [statement for _text, statement in ordered]

    def _linked(self, todo: set[tuple[str, str]], *, follow_numbers: bool,
                ar_without_9: bool = True) -> tuple[dict[str, EvidenceEntry], set[int]]:
        """The statements reached from the keys ``todo`` (kind, value) through the key index:
        the numbers alone among them (number → entry) and the ids of the others. Every user
        ID, username and LID in what is found is followed in turn, and with
        ``follow_numbers`` every number in every spelling too, until nothing new turns up."""
        kinds = ("phone", *sorted(STRONG_KINDS)) if follow_numbers else sorted(STRONG_KINDS)
        seen: set[tuple[str, str]] = set()
        found: set[int] = set()
        alone: dict[str, EvidenceEntry] = {}
        while todo:
            seen |= todo
            fresh: set[int] = set()
            for kind, value in sorted(todo):
                if kind == "phone" and self.version >= 3:
                    alone.update(self._alone("WHERE number = ?", (value,)))
                fresh.update(int(sid) for (sid,) in self._db.execute(
                    "SELECT statement FROM statement_key WHERE kind = ? AND value = ?",
                    (kind, value)))
            fresh -= found
            found |= fresh
            todo = set()
            for batch in batches(sorted(fresh)):
                for kind, value in self._db.execute(
                    f"SELECT kind, value FROM statement_key WHERE statement IN "  # noqa: S608
                    f"({','.join('?' * len(batch))}) "
                    f"AND kind IN ({','.join('?' * len(kinds))})",
                    (*batch, *kinds),
                ):
                    todo.update(self._spellings(str(kind), str(value), ar_without_9))
            todo -= seen
        return alone, found

    def name_only_count(self) -> int:
        """How many people the ledger knows by a display name alone (statements with no other
        key: a chat export of a saved contact), without resolving the whole ledger."""
        if self.version == 1:
            return sum(1 for identity in self._identities() if identity.name is not None)
        names = set()
        for (text,) in self._db.execute(
                "SELECT keys FROM statement WHERE substr(keys, 1, 5) = 'name:'"):
            keys = decode_keys(str(text))
            if all(key.kind == "name" for key in keys):
                names.add(keys[0].value)
        return len(names)

    @staticmethod
    def _spellings(kind: str, value: str, ar_without_9: bool) -> list[tuple[str, str]]:
        """The (kind, value) pairs under which the index may hold a key: every WhatsApp
        spelling of a number, any other key as it is."""
        if kind == "phone":
            return [("phone", v) for v in variants(value, ar_without_9=ar_without_9)]
        return [(kind, value)]

    def entries(self, number: str | None = None) -> Iterator[LedgerEntry]:
        """Every identity (or those ``number`` names: a number in any spelling, a user id, a
        LID, a username or a name), ordered by their smallest key."""
        wanted = None
        if number is not None:
            wanted = key_from_text(number)
            if not wanted:
                raise EvidenceError(f"{number!r} is not a phone number, user id or name")
        for identity in (self._identities() if wanted is None
                         else self.identities_named(wanted)):
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
        alone, found = self._linked(wanted, follow_numbers=False)
        for number in sorted(alone):
            yield from self._statement_records(Statement((Key("phone", number),), alone[number]))
        for batch in batches(sorted(found)):
            for _sid, _text, keys, entry in self._general(batch):
                yield from self._statement_records(Statement(keys, entry))

    def __len__(self) -> int:
        """The number of identities."""
        return len(self._identities())


def sniff(location: str, head: bytes) -> bool:
    """A SQLite file is recognised by its 16-byte header (a file that is not contactguard's
    ledger is then refused by ``read`` with a clear message, never adopted)."""
    return head.startswith(SQLITE_MAGIC)


def read(location: str, context: object) -> Iterator[EvidenceRecord]:
    """Evidence-source reader: the ledger's records, opened read-only."""
    with Ledger(location, readonly=True) as ledger:
        yield from ledger.records()
