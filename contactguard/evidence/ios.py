"""The iOS WhatsApp message database (``ChatStorage.sqlite``), directly or from a Finder backup.

``ChatStorage.sqlite`` is a Core Data store: ``ZWAMESSAGE`` (``ZCHATSESSION``, ``ZISFROMME``,
``ZMESSAGEDATE`` in seconds since 2001-01-01 UTC, Apple's reference date, ``ZMESSAGETYPE``) and
``ZWACHATSESSION`` (``Z_PK``, ``ZCONTACTJID``, ``ZSESSIONTYPE``). For every 1:1 session one
SQL aggregate gives the first and last message from the customer and the first from the
business. The allow-list of message types a customer writes: text 0, image 1, video 2, audio 3,
contact card 4, location 5, link 7, document 8, GIF 11, sticker 15. WhatsApp's notices (type 6,
or a ``ZGROUPEVENTTYPE``) are neither side's message; other types from the customer are not
evidence (counted); any other message from the business counts as outbound, calls included
(fail closed). Group sessions (``…@g.us``), status updates, broadcast lists and channels are
skipped and counted. A ``…@lid`` session is resolved to the number the app links the LID to:
a 1:1 session under the phone ``ZCONTACTJID`` whose ``ZCONTACTIDENTIFIER`` is that LID, or
``ContactsV2.sqlite`` (beside the database, or in the backup under the same app's domain):
``ZWAADDRESSBOOKCONTACT.ZLID`` beside ``ZWHATSAPPID``. A LID without a link, or linked to two
numbers, is an identity without a number: counted and reported, never guessed.

A Finder/iTunes backup is a folder with ``Manifest.db`` (table ``Files``: ``fileID``,
``domain``, ``relativePath``); a file is stored as ``<fileID[:2]>/<fileID>``. The WhatsApp
Business app keeps its database in the shared group domain
``AppDomainGroup-group.net.whatsapp.WhatsAppSMB.shared``, the personal app in
``AppDomainGroup-group.net.whatsapp.WhatsApp.shared``; the Business one is read when present.
An encrypted backup (``Manifest.plist``: ``IsEncrypted``) is refused with a clear error saying
to make an unencrypted backup: the one library that opens such backups cannot make one, so no
test could hold a reader of them to a backup built from the format.
"""

from __future__ import annotations

import plistlib
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..errors import EvidenceError
from ..model import EvidenceRecord
from ..phones import evidence_key
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
)

__all__ = [
    "BUSINESS_DOMAIN",
    "CUSTOMER_TYPES",
    "PERSONAL_DOMAIN",
    "find_in_backup",
    "is_backup_folder",
    "read",
    "sniff",
]

BUSINESS_DOMAIN = "AppDomainGroup-group.net.whatsapp.WhatsAppSMB.shared"
PERSONAL_DOMAIN = "AppDomainGroup-group.net.whatsapp.WhatsApp.shared"
CONTACTS_DATABASE = "ContactsV2.sqlite"
CUSTOMER_TYPES = (0, 1, 2, 3, 4, 5, 7, 8, 11, 15)
SYSTEM_TYPE = 6
APPLE_EPOCH = datetime(2001, 1, 1, tzinfo=timezone.utc)
# WhatsApp started in 2009: 252460800 s after Apple's reference date; earlier is a placeholder.
EARLIEST = 252_460_800

_IN = ", ".join(map(str, CUSTOMER_TYPES))
# One row per session and class of message, packed into one integer key (phonedb.unpack and
# phonedb.fold make it one per session). NOT INDEXED:
# a sequential scan sorted into groups beats walking the ZCHATSESSION index, which reads the rows
# in random order.
_SESSIONS = f"""
SELECT m.ZCHATSESSION * 8
       + CASE WHEN m.ZMESSAGEDATE IS NULL OR m.ZMESSAGEDATE < {EARLIEST} THEN {UNDATED}
              WHEN m.ZMESSAGETYPE IS {SYSTEM_TYPE} OR coalesce(m.ZGROUPEVENTTYPE, 0) > 0
                   THEN {NOTICE}
              WHEN m.ZISFROMME = 1 THEN {BUSINESS}
              WHEN m.ZISFROMME = 0 AND m.ZMESSAGETYPE IN ({_IN}) THEN {CUSTOMER}
              ELSE {UNRECOGNISED} END,
       min(m.ZMESSAGEDATE), max(m.ZMESSAGEDATE), count(*)
  FROM ZWAMESSAGE AS m NOT INDEXED
 GROUP BY 1
"""


def is_chatstorage(found: dict[str, set[str]]) -> bool:
    """The tables of a SQLite file are those of the iOS message database."""
    return {"zchatsession", "zisfromme", "zmessagedate", "zmessagetype"} <= found.get(
        "zwamessage", set()
    ) and {"z_pk", "zcontactjid"} <= found.get("zwachatsession", set())


def sniff(location: str, head: bytes) -> bool:
    """``ChatStorage.sqlite``, or a backup folder / its ``Manifest.db``."""
    if is_backup_folder(location):
        return True
    found = head_tables(location, head)
    if found is None:
        return False
    return is_chatstorage(found) or (
        Path(location).name == "Manifest.db" and "files" in found
    )


def is_backup_folder(location: str) -> bool:
    """A Finder/iTunes backup folder (it holds ``Manifest.db`` or ``Manifest.plist``)."""
    path = Path(location)
    return path.is_dir() and (
        (path / "Manifest.db").is_file() or (path / "Manifest.plist").is_file()
    )


def read(
    location: str, *, warn: Callable[[str], None] | None = None, tally: Tally | None = None
) -> Iterator[EvidenceRecord]:
    """The records of ``ChatStorage.sqlite``, or of the one in a backup folder (or given by
    its ``Manifest.db``)."""
    tally = Tally() if tally is None else tally
    path = Path(location)
    if path.is_dir() or path.name == "Manifest.db":
        folder = path if path.is_dir() else path.parent
        database = find_in_backup(folder, warn=warn)
        contacts = _beside_in_backup(folder, database, CONTACTS_DATABASE)
        yield from _read_database(str(database), location, tally, contacts)
    else:
        contacts = path.parent / CONTACTS_DATABASE
        yield from _read_database(
            location, location, tally, contacts if contacts.is_file() else None
        )


def find_in_backup(
    folder: Path,
    *,
    warn: Callable[[str], None] | None = None,
    relative_path: str = "ChatStorage.sqlite",
) -> Path:
    """The path of WhatsApp's ``ChatStorage.sqlite`` (or another of its files, such as
    ``ContactsV2.sqlite``) inside an unencrypted backup folder."""
    where = str(folder)
    plist = folder / "Manifest.plist"
    if plist.is_file():
        try:
            with plist.open("rb") as stream:
                manifest = plistlib.load(stream)
        except (OSError, plistlib.InvalidFileException, ValueError) as exc:
            raise EvidenceError(f"Manifest.plist cannot be read ({exc})", file=where) from exc
        if isinstance(manifest, dict) and manifest.get("IsEncrypted"):
            raise EvidenceError(
                "an encrypted iPhone backup cannot be read; make an unencrypted backup in "
                "Finder (or iTunes) with 'Encrypt local backup' turned off, and pass that folder",
                file=where,
            )
    manifest_db = folder / "Manifest.db"
    if not manifest_db.is_file():
        raise EvidenceError("an iPhone backup folder without Manifest.db", file=where)
    db = open_readonly(str(manifest_db))
    try:
        rows = db.execute(
            "SELECT domain, fileID FROM Files WHERE relativePath = ? AND domain IN (?, ?)",
            (relative_path, BUSINESS_DOMAIN, PERSONAL_DOMAIN),
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise EvidenceError(
            f"Manifest.db cannot be read ({exc}); an encrypted backup is not supported, make "
            "an unencrypted one",
            file=where,
        ) from exc
    finally:
        db.close()
    by_domain = {str(domain): str(file_id) for domain, file_id in rows}
    if BUSINESS_DOMAIN in by_domain:
        if PERSONAL_DOMAIN in by_domain and warn is not None:
            warn(f"{where}: read the WhatsApp Business app's chats; the personal app's are not "
                 "evidence for the business and were not read")
        file_id = by_domain[BUSINESS_DOMAIN]
    elif PERSONAL_DOMAIN in by_domain:
        if warn is not None:
            warn(f"{where}: this backup holds the personal WhatsApp app's chats, not WhatsApp "
                 "Business's; they were read as evidence")
        file_id = by_domain[PERSONAL_DOMAIN]
    else:
        raise EvidenceError(f"this iPhone backup holds no WhatsApp {relative_path}",
                            file=where)
    stored = folder / file_id[:2] / file_id
    if not stored.is_file():
        raise EvidenceError(
            f"Manifest.db names WhatsApp's {relative_path} as {file_id[:2]}/{file_id}, "
            "but that file is missing (an incomplete copy of the backup?)",
            file=where,
        )
    return stored


def _beside_in_backup(folder: Path, database: Path, relative_path: str) -> Path | None:
    """The backup's ``relative_path`` of the same app (domain) as ``database``, if it holds
    one."""
    db = open_readonly(str(folder / "Manifest.db"))
    try:
        rows = db.execute(
            "SELECT b.fileID FROM Files AS a JOIN Files AS b ON b.domain = a.domain "
            "WHERE a.fileID = ? AND b.relativePath = ?",
            (database.name, relative_path),
        ).fetchall()
    except sqlite3.DatabaseError:
        return None  # the chats were found through it; a contacts file is optional
    finally:
        db.close()
    for (file_id,) in rows:
        stored = folder / str(file_id)[:2] / str(file_id)
        if stored.is_file():
            return stored
    return None


def lid_numbers(
    db: sqlite3.Connection, found: dict[str, set[str]], contacts: Path | None, tally: Tally
) -> dict[str, str]:
    """``digits@lid`` → the number the app links it to: a 1:1 session kept under the phone
    ``ZCONTACTJID`` whose ``ZCONTACTIDENTIFIER`` is the LID, and ``ContactsV2.sqlite``'s
    ``ZWAADDRESSBOOKCONTACT`` rows (``ZLID`` beside ``ZWHATSAPPID``). A LID linked to two
    numbers is linked to none (never guessed)."""
    links: dict[str, set[str]] = {}
    if "zcontactidentifier" in found.get("zwachatsession", set()):
        for jid, identifier in db.execute(
            "SELECT ZCONTACTJID, ZCONTACTIDENTIFIER FROM ZWACHATSESSION "
            "WHERE ZCONTACTIDENTIFIER LIKE '%@lid'"
        ):
            _link(links, identifier, jid)
    if contacts is not None:
        try:
            other = open_readonly(str(contacts))
        except EvidenceError:
            other = None
        if other is not None:
            try:
                columns = tables(other).get("zwaaddressbookcontact", set())
                if {"zlid", "zwhatsappid"} <= columns:
                    for lid, jid in other.execute(
                        "SELECT ZLID, ZWHATSAPPID FROM ZWAADDRESSBOOKCONTACT WHERE ZLID IS NOT NULL"
                    ):
                        _link(links, lid, jid)
            except sqlite3.DatabaseError:
                tally.notes.append(f"{CONTACTS_DATABASE} could not be read: LID chats were "
                                   "linked to numbers through the chat sessions only")
            finally:
                other.close()
    resolved = {lid: next(iter(numbers)) for lid, numbers in links.items() if len(numbers) == 1}
    if len(resolved) < len(links):
        tally.notes.append(
            f"{len(links) - len(resolved)} LID(s) linked to more than one number: kept as "
            "identities without a number"
        )
    return resolved


def _link(links: dict[str, set[str]], lid: object, jid: object) -> None:
    user, _, server = str(lid or "").partition("@")
    digits = user.split(":", 1)[0]
    phone, _, phone_server = str(jid or "").partition("@")
    if server.lower() != "lid" or not digits.isdigit() or phone_server.lower() != "s.whatsapp.net":
        return
    number = evidence_key(phone)
    if number is not None:
        links.setdefault(f"{digits}@lid", set()).add(number)


def _when(seconds: object) -> datetime | None:
    if not isinstance(seconds, (int, float)):
        return None
    return APPLE_EPOCH + timedelta(seconds=seconds)


def _kind(jid: str, session_type: object) -> str:
    user, _, server = jid.partition("@")
    server = server.lower()
    if server == "g.us" or session_type == 1:
        return GROUP
    if server == "s.whatsapp.net":
        return ONE_TO_ONE
    if server == "lid":
        return LID_ONLY
    if server == "broadcast":
        return STATUS if user == "status" else BROADCAST
    if server == "newsletter":
        return CHANNEL
    return OTHER


def _read_database(
    path: str, location: str, tally: Tally, contacts: Path | None = None
) -> Iterator[EvidenceRecord]:
    db = open_readonly(path, location)
    try:
        found = tables(db)
        if not is_chatstorage(found):
            raise EvidenceError(
                "a SQLite database, but not WhatsApp's ChatStorage.sqlite (no ZWAMESSAGE table)",
                file=location,
            )
        has_type = "zsessiontype" in found["zwachatsession"]
        sessions = {
            int(pk): (str(jid or ""), kind)
            for pk, jid, kind in db.execute(
                "SELECT Z_PK, ZCONTACTJID, "
                + ("ZSESSIONTYPE" if has_type else "NULL")
                + " FROM ZWACHATSESSION"
            )
        }
        mapped = lid_numbers(db, found, contacts, tally)
        query = _SESSIONS
        if "zgroupeventtype" not in found["zwamessage"]:
            query = query.replace("coalesce(m.ZGROUPEVENTTYPE, 0) > 0", "0")
        people: dict[
            tuple[str | None, str | None], tuple[float | None, float | None, float | None]
        ] = {}
        for row in fold(unpack(db.execute(query))):
            jid, session_type = sessions.get(int(row[0] or 0), ("", None))
            kind = _kind(jid, session_type)
            user = jid.partition("@")[0]
            number = evidence_key(user) if kind == ONE_TO_ONE else None
            digits = user.split(":", 1)[0]
            lid = f"{digits}@lid" if kind == LID_ONLY and digits.isdigit() else None
            if (kind == ONE_TO_ONE and number is None) or (kind == LID_ONLY and lid is None):
                kind = OTHER
            if lid is not None and lid in mapped:
                number, kind = mapped[lid], VIA_LID
            tally.chats[kind] += 1
            total, inbound, outbound, notices, unknown, undated = (
                int(v or 0) for v in row[4:10]
            )
            tally.undated += undated
            if kind in (ONE_TO_ONE, VIA_LID, LID_ONLY):
                tally.customer_messages += inbound
                tally.business_messages += outbound
                tally.system_messages += notices
                tally.unrecognised += unknown
            else:
                tally.skipped_messages += total
            if (number is None and lid is None) or (row[1] is None and row[3] is None):
                continue
            old = people.get((number, lid))
            people[(number, lid)] = (row[1], row[2], row[3]) if old is None else (
                _lower(old[0], row[1]), _upper(old[1], row[2]), _lower(old[2], row[3]))
        for (number, lid), (first_in, last_in, first_out) in people.items():
            tally.identities += 1
            yield record(location, number, lid, _when(first_in), _when(first_out),
                         _when(last_in))
    except sqlite3.DatabaseError as exc:
        raise EvidenceError(f"the message database cannot be read ({exc})", file=location) from exc
    finally:
        db.close()


def _lower(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _upper(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
