"""What the phone's own WhatsApp databases have in common: opening them safely, and the tally.

The Android (``android``) and iOS (``ios``) readers ask SQLite for one row per chat (aggregates
over all its messages, never a Python loop over messages), then turn each 1:1 chat into one
``EvidenceRecord``. Everything that is not evidence is counted in a ``Tally`` that the reader
reports through ``warn`` and that ``evidence inspect`` shows.

The database is opened read-only (``mode=ro``): contactguard never writes to it, and never
adopts it as its own ledger.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import EvidenceError
from ..model import EvidenceRecord

SQLITE_MAGIC = b"SQLite format 3\x00"

# Chat kinds, in the order a summary names them.
ONE_TO_ONE = "1:1 chats"
VIA_LID = "1:1 chats with a LID mapped to a number"
LID_ONLY = "1:1 chats with a LID and no number (identities without a number)"
GROUP = "group chats"
STATUS = "status updates"
BROADCAST = "broadcast lists"
CHANNEL = "channels"
OTHER = "chats of unknown kind"
NOT_EVIDENCE = (GROUP, STATUS, BROADCAST, CHANNEL, OTHER)


@dataclass
class Tally:
    """What one database held, evidence and not."""

    chats: Counter[str] = field(default_factory=Counter)
    customer_messages: int = 0  # 1:1, from the customer, of a kind the reader recognises
    business_messages: int = 0  # 1:1, from the business (any kind but a system notice)
    business_calls: int = 0  # calls the business placed
    system_messages: int = 0  # in 1:1 chats, written by WhatsApp
    unrecognised: int = 0  # in 1:1 chats, from the customer, of a kind the reader does not know
    skipped_messages: int = 0  # in chats that are not evidence (groups, status, broadcasts, …)
    undated: int = 0  # messages without a plausible time
    identities: int = 0  # records yielded
    notes: list[str] = field(default_factory=list)

    def not_understood(self) -> list[tuple[str, int]]:
        """(what, how many) of everything met that is not evidence, for
        ``SourceContext.not_understood``."""
        found = [(f"phone database: {kind}", self.chats[kind]) for kind in NOT_EVIDENCE]
        found += [
            ("phone database: WhatsApp's notices in 1:1 chats", self.system_messages),
            ("phone database: customer messages of unrecognised kinds", self.unrecognised),
            ("phone database: messages in groups, status updates, broadcast lists, channels",
             self.skipped_messages),
            ("phone database: undated messages", self.undated),
        ]
        return [(what, count) for what, count in found if count]

    def lines(self) -> list[str]:
        """The tally as short lines for a summary."""
        chats = ", ".join(
            f"{self.chats[kind]} {kind}"
            for kind in (ONE_TO_ONE, VIA_LID, LID_ONLY, *NOT_EVIDENCE)
            if self.chats[kind]
        )
        lines = [
            f"chats: {chats or 'none'}",
            f"messages used: {self.customer_messages} from customers, {self.business_messages}"
            f" from the business, {self.business_calls} calls placed by the business",
            f"not evidence: {self.system_messages} system messages, {self.unrecognised} "
            f"customer messages of unrecognised kinds, {self.skipped_messages} messages in "
            f"groups, status updates, broadcast lists and channels, {self.undated} undated",
        ]
        return lines + self.notes


# What each message is, as the readers' SQL classifies it (one CASE per message).
CUSTOMER, BUSINESS, NOTICE, UNRECOGNISED, UNDATED = 1, 2, 3, 4, 5

# Per chat: first and last customer message, first business message, then the counts of all
# messages, customer, business, notices, unrecognised and undated ones.
ChatRow = tuple[Any, Any, Any, Any, int, int, int, int, int, int]


def fold(rows: Iterable[tuple[Any, ...]]) -> list[ChatRow]:
    """(chat, class, min time, max time, count) rows of a ``GROUP BY chat, class`` as one row
    per chat. Grouping by the class, rather than aggregating a CASE per column, leaves SQLite
    one small expression per message: the query runs close to a bare GROUP BY."""
    chats: dict[Any, list[Any]] = {}
    for chat, kind, first, last, count in rows:
        row = chats.get(chat)
        if row is None:
            row = chats[chat] = [chat, None, None, None, 0, 0, 0, 0, 0, 0]
        row[4] += count
        if kind == CUSTOMER:
            row[1], row[2], row[5] = first, last, count
        elif kind == BUSINESS:
            row[3], row[6] = first, count
        elif kind == NOTICE:
            row[7] = count
        elif kind == UNDATED:
            row[9] = count
        else:
            row[8] = count
    return [tuple(row) for row in chats.values()]


def unpack(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Rows of a ``GROUP BY chat * 8 + class`` (one integer key: SQLite's sorter compares it
    faster than two columns, a sixth of the reader's time) as (chat, class, …) rows for
    ``fold``. A key that is no integer (a chat id beyond 2**60 turns it into a float, a NULL
    chat id into NULL) is a chat of unknown kind."""
    for packed, *rest in rows:
        if isinstance(packed, int):
            yield (packed >> 3, packed & 7, *rest)
        else:
            yield (None, UNRECOGNISED, *rest)


def open_readonly(location: str, name: str | None = None) -> sqlite3.Connection:
    """``location`` opened read-only; an EvidenceError naming ``name`` (the file the user gave,
    when ``location`` is a decrypted or backed-up copy) if it is not a SQLite database."""
    path = Path(location)
    try:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        db = sqlite3.connect(uri, uri=True)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise EvidenceError(
            f"not a readable SQLite database ({exc})", file=name or location
        ) from exc
    return db


def tables(db: sqlite3.Connection) -> dict[str, set[str]]:
    """Table (and view) name → its column names, lower-cased."""
    names = [
        row[0]
        for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    ]
    found: dict[str, set[str]] = {}
    for name in names:
        quoted = '"' + str(name).replace('"', '""') + '"'
        found[str(name).lower()] = {
            str(row[1]).lower() for row in db.execute(f"PRAGMA table_info({quoted})")
        }
    return found


def head_tables(location: str, head: bytes) -> dict[str, set[str]] | None:
    """The tables of a SQLite file (for sniffers), or None when it is not one or unreadable."""
    if not head.startswith(SQLITE_MAGIC):
        return None
    try:
        db = open_readonly(location)
    except EvidenceError:
        return None
    try:
        return tables(db)
    except sqlite3.DatabaseError:
        return None
    finally:
        db.close()


def when_ms(value: object) -> datetime | None:
    """Unix milliseconds (Android) as an aware UTC datetime, or None."""
    if not isinstance(value, (int, float)) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


def record(
    location: str,
    number: str | None,
    lid: str | None,
    first_in: datetime | None,
    first_out: datetime | None,
    last_in: datetime | None,
) -> EvidenceRecord:
    """One person's evidence from a phone database (the file is the source), named by the
    chat's number, its LID, or both (a LID chat that ``jid_map`` links to a number)."""
    return EvidenceRecord(
        source=location,
        phone=number,
        lid=lid,
        first_inbound_at=first_in,
        first_outbound_at=first_out,
        last_inbound_at=last_in,
    )
