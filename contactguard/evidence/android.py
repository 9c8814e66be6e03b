"""The Android WhatsApp message database (``msgstore.db``), plain or as an encrypted backup.

Both apps keep it, the WhatsApp Business app (``com.whatsapp.w4b``) and the personal one
(``com.whatsapp``), in one of two schemas, recognised by their tables:

- current: ``message`` (``chat_row_id``, ``from_me``, ``timestamp`` in Unix milliseconds,
  ``message_type``) → ``chat`` (``jid_row_id``) → ``jid`` (``user``, ``server``); ``jid_map``
  (``lid_row_id`` → ``jid_row_id``) links a chat kept under a ``…@lid`` identity to the
  person's phone ``jid``; ``call_log`` (``jid_row_id``, ``from_me``, ``timestamp``) holds calls;
  ``receipt_user`` (``message_row_id`` → ``receipt_user_jid_row_id``) the recipients of a
  broadcast-list message.
- old: ``messages`` (``key_remote_jid`` such as ``491701234567@s.whatsapp.net``,
  ``key_from_me``, ``key_id``, ``timestamp``, ``media_wa_type``, ``status``; ``status`` 6 marks
  WhatsApp's own notices); ``receipts`` (``key_remote_jid``, ``key_id``, ``remote_resource``)
  names the recipients of a broadcast-list message.

For every 1:1 chat (``…@s.whatsapp.net``, or ``…@lid`` mapped to one) one SQL aggregate gives
the first and last message from the customer and the first message from the business; the
first call the business placed to that person counts as the business reaching out too, and so
does a broadcast-list message the person received. The allow-list: a customer's message counts
only when its type is one the customer writes (text, image, audio, video, contact card,
location, document, GIF, live location, sticker). WhatsApp's notices (type 7; old schema:
status 6), deleted messages, "waiting for this message" placeholders and types this reader does
not know are not evidence and are counted. A business message of any type but a notice counts
as outbound: when in doubt, the business wrote first (fail closed).

Group chats, status updates, broadcast lists and channels are not evidence (counted). A ``@lid``
chat without a ``jid_map`` entry is an identity without a number: counted and reported, never
guessed. Message texts are never read.

A ``.crypt14``/``.crypt15`` file is decrypted first (``backupcrypt``) into a private temporary
file that is removed afterwards.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import EvidenceError
from ..model import EvidenceRecord
from ..phones import evidence_key
from . import backupcrypt
from .phonedb import (
    BROADCAST,
    BUSINESS,
    CHANNEL,
    CUSTOMER,
    GROUP,
    LID_ONLY,
    NOTICE,
    ONE_TO_ONE,
    OTHER,
    STATUS,
    UNDATED,
    UNRECOGNISED,
    VIA_LID,
    Tally,
    fold,
    head_tables,
    open_readonly,
    record,
    tables,
    unpack,
    when_ms,
)

__all__ = ["CUSTOMER_TYPES", "is_msgstore", "read", "read_database", "sniff", "sniff_backup"]

# Types of message a customer writes: text 0, image 1, audio 2, video 3, contact card 4,
# location 5, document 9, GIF 13, live location 16, sticker 20. Not here: 7 (WhatsApp's
# notices), 8/10 (call entries), 11 (a message not yet decrypted), 15 (deleted), 64 (deleted by
# an admin) and every type this reader does not know.
CUSTOMER_TYPES = (0, 1, 2, 3, 4, 5, 9, 13, 16, 20)
SYSTEM_TYPE = 7
OLD_SYSTEM_STATUSES = (6, -1)
# WhatsApp started in 2009: an earlier time is a placeholder (0, -1), not a message time.
EARLIEST_MS = 1_230_768_000_000

_IN = ", ".join(map(str, CUSTOMER_TYPES))
_OUTBOUND = f"m.from_me = 1 AND m.message_type IS NOT {SYSTEM_TYPE}"
_DATED = f"m.timestamp >= {EARLIEST_MS}"

# One row per chat and class of message, packed into one integer key (phonedb.unpack, then
# phonedb.fold makes it one row per chat), in one pass over the table. NOT INDEXED: walking the
# (chat_row_id, sort_id) index visits the rows in random order, one page read per message; a
# sequential scan sorted into groups is several times faster (and memory-bounded: SQLite's
# sorter spills to a temporary file).
_CURRENT_CHATS = f"""
SELECT m.chat_row_id * 8
       + CASE WHEN m.timestamp IS NULL OR m.timestamp < {EARLIEST_MS} THEN {UNDATED}
              WHEN m.message_type IS {SYSTEM_TYPE} THEN {NOTICE}
              WHEN m.from_me = 1 THEN {BUSINESS}
              WHEN m.from_me = 0 AND m.message_type IN ({_IN}) THEN {CUSTOMER}
              ELSE {UNRECOGNISED} END,
       min(m.timestamp), max(m.timestamp), count(*)
  FROM message AS m NOT INDEXED
 GROUP BY 1
"""
_OLD_CHATS = f"""
SELECT key_remote_jid,
       CASE WHEN timestamp IS NULL OR timestamp < {EARLIEST_MS} THEN {UNDATED}
            WHEN coalesce(status, 0) IN {OLD_SYSTEM_STATUSES} THEN {NOTICE}
            WHEN key_from_me = 1 THEN {BUSINESS}
            WHEN key_from_me = 0 AND media_wa_type IN ({_IN}) THEN {CUSTOMER}
            ELSE {UNRECOGNISED} END,
       min(timestamp), max(timestamp), count(*)
  FROM messages NOT INDEXED
 GROUP BY 1, 2
"""


def is_msgstore(found: dict[str, set[str]]) -> bool:
    """The tables of a SQLite file are those of an Android message database."""
    return _schema(found) is not None


def _schema(found: dict[str, set[str]]) -> str | None:
    current = {"chat_row_id", "from_me", "timestamp", "message_type"}
    if current <= found.get("message", set()) and "jid_row_id" in found.get("chat", set()) and {
        "user",
        "server",
    } <= found.get("jid", set()):
        return "current"
    old = {"key_remote_jid", "key_from_me", "timestamp", "media_wa_type", "status"}
    if old <= found.get("messages", set()):
        return "old"
    return None


def sniff(location: str, head: bytes) -> bool:
    """A plain SQLite file with the tables of an Android message database."""
    found = head_tables(location, head)
    return found is not None and is_msgstore(found)


def sniff_backup(location: str, head: bytes) -> bool:
    """A file named like an encrypted Android backup (``….crypt14``, ``….crypt15``)."""
    return backupcrypt.is_encrypted_backup(location)


def read(
    location: str, *, key_file: str | None = None, tally: Tally | None = None
) -> Iterator[EvidenceRecord]:
    """The records of a ``msgstore.db`` or of an encrypted backup of one; ``tally`` (if given)
    is filled with what was and was not evidence."""
    tally = Tally() if tally is None else tally
    if backupcrypt.is_encrypted_backup(location):
        key = backupcrypt.load_key(key_file)
        with backupcrypt.decrypted_database(location, key) as path:
            yield from read_database(str(path), location, tally)
    else:
        yield from read_database(location, location, tally)


def read_database(path: str, location: str, tally: Tally) -> Iterator[EvidenceRecord]:
    """The records of the plain database at ``path`` (named ``location`` in messages and
    sources)."""
    db = open_readonly(path, location)
    try:
        schema = _schema(tables(db))
        if schema is None:
            raise EvidenceError(
                "a SQLite database, but not WhatsApp's message database (no message table)",
                file=location,
            )
        people = _current(db, tally) if schema == "current" else _old(db, tally)
        for (number, lid), seen in people.items():
            tally.identities += 1
            yield record(location, number, lid, when_ms(seen.first_in), when_ms(seen.first_out),
                         when_ms(seen.last_in))
    except sqlite3.DatabaseError as exc:
        raise EvidenceError(f"the message database cannot be read ({exc})", file=location) from exc
    finally:
        db.close()


@dataclass
class _Seen:
    """What the messages of one person's chats (and calls) say, in Unix milliseconds."""

    first_in: int | None = None
    last_in: int | None = None
    first_out: int | None = None

    def add(self, first_in: int | None, last_in: int | None, first_out: int | None) -> None:
        self.first_in = _lower(self.first_in, first_in)
        self.last_in = _upper(self.last_in, last_in)
        self.first_out = _lower(self.first_out, first_out)


def _lower(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _upper(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _count_messages(tally: Tally, kind: str, row: tuple[Any, ...]) -> None:
    total, inbound, outbound, system, unknown, undated = (int(v or 0) for v in row[4:10])
    tally.undated += undated
    if kind in (ONE_TO_ONE, VIA_LID, LID_ONLY):
        tally.customer_messages += inbound
        tally.business_messages += outbound
        tally.system_messages += system
        tally.unrecognised += unknown
    else:
        tally.skipped_messages += total


# -- current schema ---------------------------------------------------------------------------


def _lid(user: object) -> str | None:
    """A LID jid's user part as the identity key ``digits@lid`` (the device part dropped)."""
    digits = str(user or "").split(":", 1)[0]
    return f"{digits}@lid" if digits.isdigit() and 5 <= len(digits) <= 20 else None


def _jid_kind(user: object, server: object) -> str:
    server = str(server or "").lower()
    if server in ("s.whatsapp.net", "c.us"):
        return ONE_TO_ONE
    if server == "lid":
        return LID_ONLY  # until jid_map says which number
    if server == "g.us":
        return GROUP
    if server == "broadcast":
        return STATUS if str(user) == "status" else BROADCAST
    if server == "newsletter":
        return CHANNEL
    return OTHER


# A person as a chat names them: (number, LID); either may be None, not both.
_Person = tuple[str | None, str | None]


def _current(db: sqlite3.Connection, tally: Tally) -> dict[_Person, _Seen]:
    found = tables(db)
    has_map = {"lid_row_id", "jid_row_id"} <= found.get("jid_map", set())
    mapped_join = (
        "LEFT JOIN jid_map AS jm ON jm.lid_row_id = j._id "
        "LEFT JOIN jid AS p ON p._id = jm.jid_row_id"
        if has_map
        else ""
    )
    mapped_cols = "p.user, p.server" if has_map else "NULL, NULL"
    # every jid → (its kind, the person it names: number and LID, or None)
    identity: dict[int, tuple[str, _Person | None]] = {}
    for jid_id, user, server, p_user, p_server in db.execute(
        f"SELECT j._id, j.user, j.server, {mapped_cols} FROM jid AS j {mapped_join}"
    ):
        kind = _jid_kind(user, server)
        person: _Person | None = None
        if kind == ONE_TO_ONE:
            number = evidence_key(str(user or ""))
            person = None if number is None else (number, None)
        elif kind == LID_ONLY:
            lid = _lid(user)
            mapped = (
                evidence_key(str(p_user or ""))
                if _jid_kind(p_user, p_server) == ONE_TO_ONE
                else None
            )
            person = None if lid is None else (mapped, lid)
            if person is not None and mapped is not None:
                kind = VIA_LID
        if person is None and kind in (ONE_TO_ONE, LID_ONLY):
            kind = OTHER  # a 1:1 jid whose user part is not a number or a LID
        identity[int(jid_id)] = (kind, person)
    chat_jid = {int(c): int(j) for c, j in db.execute("SELECT _id, jid_row_id FROM chat")
                if c is not None and j is not None}

    people: dict[_Person, _Seen] = {}
    broadcast_chats: list[int] = []
    for row in fold(unpack(db.execute(_CURRENT_CHATS))):
        jid_id = chat_jid.get(int(row[0])) if row[0] is not None else None
        kind, person = identity.get(jid_id, (OTHER, None)) if jid_id is not None else (OTHER, None)
        tally.chats[kind] += 1
        if kind == BROADCAST:
            broadcast_chats.append(int(row[0]))
        _count_messages(tally, kind, row)
        if person is not None and (row[1] is not None or row[3] is not None):
            people.setdefault(person, _Seen()).add(row[1], row[2], row[3])

    if {"jid_row_id", "from_me", "timestamp"} <= found.get("call_log", set()):
        group_call = (
            "AND coalesce(group_jid_row_id, 0) <= 0"
            if "group_jid_row_id" in found["call_log"]
            else ""
        )
        for jid_id, first, count in db.execute(
            "SELECT jid_row_id, min(timestamp), count(*) FROM call_log "
            f"WHERE from_me = 1 AND timestamp >= {EARLIEST_MS} {group_call} GROUP BY jid_row_id"
        ):
            _kind, person = identity.get(int(jid_id), (OTHER, None))
            if person is not None:
                tally.business_calls += int(count)
                people.setdefault(person, _Seen()).add(None, None, first)

    if broadcast_chats:
        _broadcasts(db, found, broadcast_chats, identity, people, tally)
    return people


def _broadcasts(
    db: sqlite3.Connection,
    found: dict[str, set[str]],
    chats: list[int],
    identity: dict[int, tuple[str, _Person | None]],
    people: dict[_Person, _Seen],
    tally: Tally,
) -> None:
    """A message the business sent to a broadcast list reached each recipient: outbound."""
    if not {"message_row_id", "receipt_user_jid_row_id"} <= found.get("receipt_user", set()):
        tally.notes.append(
            "broadcast lists whose recipients this database does not name (no receipt_user "
            "table): their messages are not counted as the business writing first"
        )
        return
    # the lists' chats are few: their messages are found through the chat index
    for start in range(0, len(chats), 500):  # within SQLite's limit of bound parameters
        batch = chats[start : start + 500]
        query = f"""
            SELECT r.receipt_user_jid_row_id, min(m.timestamp)
              FROM message AS m
              JOIN receipt_user AS r ON r.message_row_id = m._id
             WHERE m.chat_row_id IN ({",".join("?" * len(batch))})
               AND {_OUTBOUND} AND {_DATED}
             GROUP BY r.receipt_user_jid_row_id
        """
        for jid_id, first in db.execute(query, batch):
            _kind, person = identity.get(int(jid_id), (OTHER, None))
            if person is not None:
                people.setdefault(person, _Seen()).add(None, None, first)


# -- old schema --------------------------------------------------------------------------------


def _old(db: sqlite3.Connection, tally: Tally) -> dict[_Person, _Seen]:
    people: dict[_Person, _Seen] = {}
    lists: list[str] = []
    for row in fold(db.execute(_OLD_CHATS)):
        jid = str(row[0] or "")
        user, _, server = jid.partition("@")
        kind = _jid_kind(user, server) if server else OTHER
        number = evidence_key(user) if kind == ONE_TO_ONE else None
        if kind == ONE_TO_ONE and number is None:
            kind = OTHER
        tally.chats[kind] += 1
        if kind == BROADCAST:
            lists.append(jid)
        _count_messages(tally, kind, row)
        if number is not None and (row[1] is not None or row[3] is not None):
            people.setdefault((number, None), _Seen()).add(row[1], row[2], row[3])
    if lists:
        _old_broadcasts(db, lists, people, tally)
    return people


# ``receipts`` names, per message of a group or broadcast list (``key_remote_jid``, ``key_id``),
# each recipient whose phone received it (``remote_resource``).
_OLD_RECEIPTS = {"key_remote_jid", "key_id", "remote_resource"}


def _old_broadcasts(
    db: sqlite3.Connection, lists: list[str], people: dict[_Person, _Seen], tally: Tally
) -> None:
    """A message the business sent to a broadcast list reached each recipient that
    ``receipts`` names: the business wrote to them (outbound)."""
    if not tables(db).get("receipts", set()) >= _OLD_RECEIPTS:
        tally.notes.append(
            "broadcast lists whose recipients this database does not name (no receipts "
            "table): their messages are not counted as the business writing first"
        )
        return
    notices = ", ".join(map(str, OLD_SYSTEM_STATUSES))
    for start in range(0, len(lists), 500):  # within SQLite's limit of bound parameters
        batch = lists[start : start + 500]
        query = f"""
            SELECT r.remote_resource, min(m.timestamp)
              FROM messages AS m
              JOIN receipts AS r ON r.key_remote_jid = m.key_remote_jid AND r.key_id = m.key_id
             WHERE m.key_remote_jid IN ({",".join("?" * len(batch))})
               AND m.key_from_me = 1 AND coalesce(m.status, 0) NOT IN ({notices})
               AND m.timestamp >= {EARLIEST_MS}
             GROUP BY r.remote_resource
        """
        for recipient, first in db.execute(query, batch):
            user, _, server = str(recipient or "").partition("@")
            if _jid_kind(user, server) != ONE_TO_ONE:
                continue  # a recipient this reader cannot name by number: nothing is guessed
            number = evidence_key(user)
            if number is not None:
                people.setdefault((number, None), _Seen()).add(None, None, first)
