"""The contact list the WhatsApp Business app holds on the phone, for ``check --app-contacts``.

A clean CardDAV book cannot say what the phone itself holds: the app also shows contacts that
other accounts on the device synced. These readers turn the app's own list into ``Contact``s
(name and number) that ``check`` decides like a book's:

- Coexistence ``smb_app_state_sync`` webhook archives (``.json``/``.jsonl``): ``state_sync[]``
  entries of type ``contact`` (``contact.phone_number``, ``full_name`` or ``first_name``),
  ``action`` ``add`` (or ``edit``/``update``) and ``remove``; the newest action per number
  (``metadata.timestamp``, then file order) decides whether the contact is on the phone.
- Android ``wa.db`` (plain, or ``wa.db.crypt15``/``.crypt14`` with the backup key): table
  ``wa_contacts``, one row per WhatsApp user in the phone's address book (``jid``
  ``digits@s.whatsapp.net``, ``display_name``); rows of groups, broadcasts and rows that are not
  a saved contact (no ``raw_contact_id`` and no name) are skipped.
- iOS ``ContactsV2.sqlite`` (directly, or from an unencrypted backup folder through its
  ``Manifest.db``): ``ZWAADDRESSBOOKCONTACT`` (``ZFULLNAME``, ``ZPHONENUMBER``,
  ``ZWHATSAPPID``).

Each contact's ``source`` is the file and its ``line`` the JSONL line or the row id, so a
finding points at where the phone said so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import EvidenceError
from ..model import Contact, Phone
from ..phones import evidence_key
from . import backupcrypt
from .phonedb import SQLITE_MAGIC, open_readonly, tables

__all__ = ["read_app_contacts"]

_ADD = frozenset({"add", "edit", "update"})
_REMOVE = frozenset({"remove", "delete"})


def read_app_contacts(
    location: str, *, key_file: str | None = None, warn: Callable[[str], None] | None = None
) -> list[Contact]:
    """The contacts the app holds, from any of the sources above (sniffed by content)."""
    path = Path(location)
    if path.is_dir():
        from .ios import find_in_backup

        stored = find_in_backup(path, warn=warn, relative_path="ContactsV2.sqlite")
        return _from_database(str(stored), location)
    if backupcrypt.is_encrypted_backup(location):
        key = backupcrypt.load_key(key_file)
        with backupcrypt.decrypted_database(location, key) as plain:
            return _from_database(str(plain), location)
    try:
        with path.open("rb") as stream:
            head = stream.read(16)
    except OSError as exc:
        raise EvidenceError(f"cannot read: {exc.strerror}", file=location) from exc
    if head.startswith(SQLITE_MAGIC):
        return _from_database(location, location)
    if location.lower().endswith((".json", ".jsonl", ".ndjson")):
        return _from_webhooks(location)
    raise EvidenceError(
        "not a list of the app's contacts (expected smb_app_state_sync webhooks, a wa.db or "
        "a ContactsV2.sqlite, or an iPhone backup folder)",
        file=location,
    )


def _contact(source: str, line: int, name: str, number: str) -> Contact:
    return Contact(source=source, line=line, fn=name.strip(), phones=(Phone(number),))


def _from_webhooks(location: str) -> list[Contact]:
    from .webhooks import payloads

    # number → (timestamp, order, present?, name, source, line)
    latest: dict[str, tuple[int, int, bool, str, str, int]] = {}
    order = 0
    found = 0
    for where, payload in payloads(location):
        source, _, line = where.rpartition(":")
        line_no = int(line) if line.isdigit() else 0
        source = source if line.isdigit() else where
        for entry in _dicts(payload.get("entry")):
            for change in _dicts(entry.get("changes")):
                value = change.get("value")
                for item in _dicts(value.get("state_sync") if isinstance(value, dict) else None):
                    contact = item.get("contact")
                    if str(item.get("type", "contact")) != "contact" or not isinstance(
                        contact, dict
                    ):
                        continue
                    found += 1
                    number = evidence_key(str(contact.get("phone_number") or ""))
                    action = str(item.get("action") or "").lower()
                    if number is None or action not in _ADD | _REMOVE:
                        continue
                    metadata = item.get("metadata")
                    stamp = metadata.get("timestamp") if isinstance(metadata, dict) else None
                    when = int(str(stamp)) if str(stamp or "").isdigit() else 0
                    name = str(contact.get("full_name") or contact.get("first_name") or "")
                    order += 1
                    state = (when, order, action in _ADD, name, source, line_no)
                    if number not in latest or state[:2] > latest[number][:2]:
                        latest[number] = state
    if not found:
        raise EvidenceError("no smb_app_state_sync contacts in this webhook archive",
                            file=location)
    return [
        _contact(source, line, name, number)
        for number, (_when, _order, present, name, source, line) in latest.items()
        if present
    ]


def _from_database(path: str, location: str) -> list[Contact]:
    db = open_readonly(path, location)
    try:
        found = tables(db)
        if {"jid", "display_name"} <= found.get("wa_contacts", set()):
            return _android(db, found["wa_contacts"], location)
        if {"zphonenumber", "zfullname"} <= found.get("zwaaddressbookcontact", set()):
            return _ios(db, found["zwaaddressbookcontact"], location)
        raise EvidenceError(
            "a SQLite database, but not the app's contacts (no wa_contacts or "
            "ZWAADDRESSBOOKCONTACT table)",
            file=location,
        )
    except sqlite3.DatabaseError as exc:
        raise EvidenceError(f"the contacts database cannot be read ({exc})",
                            file=location) from exc
    finally:
        db.close()


def _android(db: sqlite3.Connection, columns: set[str], location: str) -> list[Contact]:
    saved = "raw_contact_id" if "raw_contact_id" in columns else "NULL"
    number_col = "number" if "number" in columns else "NULL"
    contacts = []
    for row_id, jid, name, raw_contact, number in db.execute(
        f"SELECT _id, jid, display_name, {saved}, {number_col} FROM wa_contacts"  # noqa: S608
    ):
        user, _, server = str(jid or "").partition("@")
        if server != "s.whatsapp.net":
            continue  # groups, broadcast lists, channels: not people in the address book
        if not (name or "").strip() and not (isinstance(raw_contact, int) and raw_contact > 0):
            continue  # a WhatsApp user the phone knows but did not save
        key = evidence_key(user) or evidence_key(str(number or ""))
        if key is not None:
            contacts.append(_contact(location, int(row_id or 0), str(name or ""), key))
    return contacts


def _ios(db: sqlite3.Connection, columns: set[str], location: str) -> list[Contact]:
    wa_id_col = "ZWHATSAPPID" if "zwhatsappid" in columns else "NULL"
    contacts = []
    for row_id, name, number, wa_id in db.execute(
        f"SELECT Z_PK, ZFULLNAME, ZPHONENUMBER, {wa_id_col} FROM ZWAADDRESSBOOKCONTACT"  # noqa: S608
    ):
        key = evidence_key(str(wa_id or "").partition("@")[0]) or evidence_key(str(number or ""))
        if key is not None:
            contacts.append(_contact(location, int(row_id or 0), str(name or ""), key))
    return contacts


def _dicts(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))
