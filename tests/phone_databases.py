"""Builders of the phone's WhatsApp databases for tests and benchmarks: the documented schemas,
made-up people and times.

The tables carry the columns the apps create (a realistic subset: what contactguard reads plus
its neighbours), so a reader that picked the wrong column would fail here as on a phone.
"""

from __future__ import annotations

import hashlib
import plistlib
import sqlite3
import zlib
from datetime import datetime, timezone
from pathlib import Path

ANDROID_SCHEMA = """
CREATE TABLE jid (_id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, server TEXT NOT NULL,
    agent INTEGER, device INTEGER, type INTEGER, raw_string TEXT);
CREATE UNIQUE INDEX jid_key_index ON jid (user, server, agent, device);
CREATE TABLE chat (_id INTEGER PRIMARY KEY AUTOINCREMENT, jid_row_id INTEGER UNIQUE,
    hidden INTEGER, subject TEXT, created_timestamp INTEGER, display_message_row_id INTEGER,
    last_message_row_id INTEGER, last_read_message_row_id INTEGER, archived INTEGER,
    sort_timestamp INTEGER, group_type INTEGER NOT NULL DEFAULT 0);
CREATE TABLE message (_id INTEGER PRIMARY KEY AUTOINCREMENT, chat_row_id INTEGER NOT NULL,
    from_me INTEGER NOT NULL, key_id TEXT NOT NULL, sender_jid_row_id INTEGER, status INTEGER,
    broadcast INTEGER, recipient_count INTEGER, participant_hash TEXT, origination_flags INTEGER,
    origin INTEGER, timestamp INTEGER, received_timestamp INTEGER,
    receipt_server_timestamp INTEGER, message_type INTEGER, text_data TEXT, starred INTEGER,
    lookup_tables INTEGER, sort_id INTEGER NOT NULL DEFAULT 0,
    message_add_on_flags INTEGER NOT NULL DEFAULT 0);
CREATE INDEX message_sort_id_index ON message (chat_row_id, sort_id);
CREATE TABLE message_system (message_row_id INTEGER PRIMARY KEY, action_type INTEGER NOT NULL);
CREATE TABLE jid_map (lid_row_id INTEGER PRIMARY KEY NOT NULL, jid_row_id INTEGER NOT NULL,
    sort_id INTEGER NOT NULL DEFAULT 0);
CREATE TABLE call_log (_id INTEGER PRIMARY KEY AUTOINCREMENT, jid_row_id INTEGER, from_me INTEGER,
    call_id TEXT, transaction_id INTEGER, timestamp INTEGER, video_call INTEGER, duration INTEGER,
    call_result INTEGER, bytes_transferred INTEGER, group_jid_row_id INTEGER NOT NULL DEFAULT 0,
    is_joinable_group_call INTEGER, call_creator_device_jid_row_id INTEGER NOT NULL DEFAULT 0,
    call_random_id TEXT);
CREATE TABLE receipt_user (_id INTEGER PRIMARY KEY AUTOINCREMENT, message_row_id INTEGER NOT NULL,
    receipt_user_jid_row_id INTEGER NOT NULL, receipt_timestamp INTEGER, read_timestamp INTEGER,
    played_timestamp INTEGER);
CREATE TABLE props (_id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE, value TEXT);
"""

OLD_ANDROID_SCHEMA = """
CREATE TABLE messages (_id INTEGER PRIMARY KEY AUTOINCREMENT, key_remote_jid TEXT NOT NULL,
    key_from_me INTEGER, key_id TEXT NOT NULL, status INTEGER, needs_push INTEGER, data TEXT,
    timestamp INTEGER, media_url TEXT, media_mime_type TEXT, media_wa_type TEXT,
    media_size INTEGER, media_name TEXT, media_caption TEXT, media_hash TEXT,
    media_duration INTEGER, origin INTEGER, latitude REAL, longitude REAL, thumb_image TEXT,
    remote_resource TEXT, received_timestamp INTEGER, send_timestamp INTEGER,
    receipt_server_timestamp INTEGER, receipt_device_timestamp INTEGER,
    read_device_timestamp INTEGER, played_device_timestamp INTEGER, raw_data BLOB,
    recipient_count INTEGER, participant_hash TEXT, starred INTEGER, quoted_row_id INTEGER,
    mentioned_jids TEXT, multicast_id TEXT, edit_version INTEGER, media_enc_hash TEXT,
    forwarded INTEGER, preview_type INTEGER, send_count INTEGER);
CREATE UNIQUE INDEX messages_key_index ON messages (key_remote_jid, key_from_me, key_id);
CREATE TABLE chat_list (_id INTEGER PRIMARY KEY AUTOINCREMENT, key_remote_jid TEXT UNIQUE,
    message_table_id INTEGER, subject TEXT, creation INTEGER, last_read_message_table_id INTEGER,
    sort_timestamp INTEGER);
CREATE TABLE receipts (_id INTEGER PRIMARY KEY AUTOINCREMENT, key_remote_jid TEXT NOT NULL,
    key_id TEXT NOT NULL, remote_resource TEXT, receipt_device_timestamp INTEGER,
    read_device_timestamp INTEGER, played_device_timestamp INTEGER);
CREATE INDEX receipts_key_index ON receipts (key_remote_jid, key_id);
"""

IOS_SCHEMA = """
CREATE TABLE ZWACHATSESSION (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
    ZARCHIVED INTEGER, ZCONTACTABID INTEGER, ZFLAGS INTEGER, ZHIDDEN INTEGER,
    ZMESSAGECOUNTER INTEGER, ZSESSIONTYPE INTEGER, ZUNREADCOUNT INTEGER, ZGROUPINFO INTEGER,
    ZLASTMESSAGE INTEGER, ZLASTMESSAGEDATE TIMESTAMP, ZCONTACTIDENTIFIER VARCHAR,
    ZCONTACTJID VARCHAR, ZLASTMESSAGETEXT VARCHAR, ZPARTNERNAME VARCHAR);
CREATE TABLE ZWAMESSAGE (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
    ZCHILDMESSAGESDELIVEREDCOUNT INTEGER, ZFILTEREDRECIPIENTCOUNT INTEGER, ZISFROMME INTEGER,
    ZMESSAGEERRORSTATUS INTEGER, ZMESSAGESTATUS INTEGER, ZMESSAGETYPE INTEGER, ZSORT INTEGER,
    ZSTARRED INTEGER, ZCHATSESSION INTEGER, ZGROUPEVENTTYPE INTEGER, ZGROUPMEMBER INTEGER,
    ZMEDIAITEM INTEGER, ZMESSAGEINFO INTEGER, ZPARENTMESSAGE INTEGER, ZMESSAGEDATE TIMESTAMP,
    ZSENTDATE TIMESTAMP, ZFROMJID VARCHAR, ZPUSHNAME VARCHAR, ZSTANZAID VARCHAR, ZTEXT VARCHAR,
    ZTOJID VARCHAR);
CREATE INDEX ZWAMESSAGE_ZCHATSESSION_INDEX ON ZWAMESSAGE (ZCHATSESSION);
CREATE TABLE Z_METADATA (Z_VERSION INTEGER PRIMARY KEY, Z_UUID VARCHAR(255), Z_PLIST BLOB);
"""

APPLE_EPOCH = datetime(2001, 1, 1, tzinfo=timezone.utc)


def ms(when: datetime) -> int:
    """Unix milliseconds, as Android stores message times."""
    return int(when.timestamp() * 1000)


def apple(when: datetime) -> float:
    """Seconds since 2001-01-01 UTC, as iOS stores message times."""
    return (when - APPLE_EPOCH).total_seconds()


class Msgstore:
    """An Android ``msgstore.db`` in the current schema, built row by row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.executescript(ANDROID_SCHEMA)
        self.db.execute("PRAGMA user_version = 1")  # as Android's SQLiteOpenHelper stamps it
        self._keys = 0

    def jid(self, user: str, server: str = "s.whatsapp.net") -> int:
        """A jid row: a phone (``…@s.whatsapp.net``), ``lid``, ``g.us``, ``broadcast``, …"""
        cursor = self.db.execute(
            "INSERT INTO jid (user, server, agent, device, type, raw_string)"
            " VALUES (?, ?, 0, 0, ?, ?)",
            (user, server, {"g.us": 1, "lid": 17}.get(server, 0), f"{user}@{server}"),
        )
        return int(cursor.lastrowid or 0)

    def chat(self, jid_row: int) -> int:
        """The chat with that jid."""
        cursor = self.db.execute(
            "INSERT INTO chat (jid_row_id, hidden, created_timestamp) VALUES (?, 0, 0)", (jid_row,)
        )
        return int(cursor.lastrowid or 0)

    def message(self, chat: int, from_me: bool, when: datetime, message_type: int = 0,
                text: str | None = "hello") -> int:
        """One message (type 0 text, 1 image, 7 a system notice, 15 deleted, …)."""
        self._keys += 1
        cursor = self.db.execute(
            "INSERT INTO message (chat_row_id, from_me, key_id, status, timestamp, message_type,"
            " text_data, sort_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (chat, int(from_me), f"3EB0{self._keys:016X}", 13 if from_me else 0, ms(when),
             message_type, text, self._keys),
        )
        row = int(cursor.lastrowid or 0)
        if message_type == 7:
            self.db.execute("INSERT INTO message_system VALUES (?, 67)", (row,))
        return row

    def call(self, jid_row: int, from_me: bool, when: datetime, group_jid_row: int = 0) -> None:
        """A call with that person (placed by the business when ``from_me``)."""
        self.db.execute(
            "INSERT INTO call_log (jid_row_id, from_me, call_id, timestamp, video_call, duration,"
            " call_result, group_jid_row_id) VALUES (?, ?, 'call', ?, 0, 30, 5, ?)",
            (jid_row, int(from_me), ms(when), group_jid_row),
        )

    def map_lid(self, lid_row: int, phone_row: int) -> None:
        """``jid_map``: the LID belongs to the person with that phone jid."""
        self.db.execute("INSERT INTO jid_map (lid_row_id, jid_row_id) VALUES (?, ?)",
                        (lid_row, phone_row))

    def receipt(self, message_row: int, jid_row: int) -> None:
        """A broadcast-list message reached this person."""
        self.db.execute(
            "INSERT INTO receipt_user (message_row_id, receipt_user_jid_row_id) VALUES (?, ?)",
            (message_row, jid_row),
        )

    def close(self) -> Path:
        self.db.commit()
        self.db.close()
        return self.path


class OldMsgstore:
    """An Android ``msgstore.db`` in the old schema (``messages`` keyed by ``key_remote_jid``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.executescript(OLD_ANDROID_SCHEMA)
        self._keys = 0
        # the first row of an old database: WhatsApp's own marker, not a message
        self.db.execute("INSERT INTO messages (key_remote_jid, key_from_me, key_id, status, "
                        "timestamp, media_wa_type) VALUES ('-1', 0, '-1', -1, 0, '0')")

    def message(self, jid: str, from_me: bool, when: datetime, wa_type: str = "0",
                status: int | None = None) -> str:
        """One message (its ``key_id`` returned); ``status`` 6 makes it one of WhatsApp's
        notices."""
        self._keys += 1
        if status is None:
            status = 13 if from_me else 0
        self.db.execute(
            "INSERT INTO messages (key_remote_jid, key_from_me, key_id, status, data, timestamp,"
            " media_wa_type) VALUES (?, ?, ?, ?, 'hi', ?, ?)",
            (jid, int(from_me), f"K{self._keys}", status, ms(when), wa_type),
        )
        return f"K{self._keys}"

    def receipt(self, list_jid: str, key_id: str, recipient: str, when: datetime) -> None:
        """The broadcast-list message ``key_id`` reached ``recipient`` (a jid)."""
        self.db.execute(
            "INSERT INTO receipts (key_remote_jid, key_id, remote_resource,"
            " receipt_device_timestamp) VALUES (?, ?, ?, ?)",
            (list_jid, key_id, recipient, ms(when)),
        )

    def drop_receipts(self) -> None:
        """An old database from before the ``receipts`` table."""
        self.db.execute("DROP TABLE receipts")

    def close(self) -> Path:
        self.db.commit()
        self.db.close()
        return self.path


class ChatStorage:
    """An iOS ``ChatStorage.sqlite``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.executescript(IOS_SCHEMA)
        self._pk = 0

    def session(self, jid: str, session_type: int = 0, identifier: str | None = None) -> int:
        """A chat session (type 0 one to one, 1 group); ``identifier`` is the other key the
        app keeps for the person (``ZCONTACTIDENTIFIER``, e.g. their ``…@lid``)."""
        self._pk += 1
        self.db.execute(
            "INSERT INTO ZWACHATSESSION (Z_PK, Z_ENT, ZSESSIONTYPE, ZCONTACTJID, ZPARTNERNAME, "
            "ZCONTACTIDENTIFIER) VALUES (?, 7, ?, ?, 'someone', ?)",
            (self._pk, session_type, jid, identifier),
        )
        return self._pk

    def message(self, session: int, from_me: bool, when: datetime, message_type: int = 0,
                group_event: int | None = None) -> None:
        """One message (type 0 text, 6 a notice, …)."""
        self.db.execute(
            "INSERT INTO ZWAMESSAGE (Z_ENT, ZISFROMME, ZMESSAGETYPE, ZCHATSESSION, ZGROUPEVENTTYPE,"
            " ZMESSAGEDATE, ZTEXT) VALUES (9, ?, ?, ?, ?, ?, 'hi')",
            (int(from_me), message_type, session, group_event, apple(when)),
        )

    def close(self) -> Path:
        self.db.commit()
        self.db.close()
        return self.path


def contacts_v2(path: Path, rows: list[tuple[str | None, str | None]]) -> Path:
    """An iOS ``ContactsV2.sqlite`` whose ``ZWAADDRESSBOOKCONTACT`` rows are (``ZLID``,
    ``ZWHATSAPPID``) pairs."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE ZWAADDRESSBOOKCONTACT (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, "
               "Z_OPT INTEGER, ZFULLNAME VARCHAR, ZGIVENNAME VARCHAR, ZPHONENUMBER VARCHAR, "
               "ZWHATSAPPID VARCHAR, ZLID VARCHAR, ZUSERNAME VARCHAR, ZABOUTTEXT VARCHAR)")
    db.executemany("INSERT INTO ZWAADDRESSBOOKCONTACT (ZFULLNAME, ZWHATSAPPID, ZLID) "
                   "VALUES ('someone', ?, ?)", [(jid, lid) for lid, jid in rows])
    db.commit()
    db.close()
    return path


def finder_backup(folder: Path, chatstorage: Path | None, *, domain: str,
                  encrypted: bool = False, contacts: Path | None = None) -> Path:
    """An iPhone backup folder as Finder writes it, holding ``chatstorage`` under ``domain``."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "Manifest.plist").open("wb") as stream:
        plistlib.dump({"IsEncrypted": encrypted, "Version": "10.0",
                       "Lockdown": {"ProductVersion": "17.5"}}, stream)
    if encrypted:  # an encrypted backup's Manifest.db is itself encrypted: not SQLite
        (folder / "Manifest.db").write_bytes(bytes(range(256)) * 16)
        return folder
    db = sqlite3.connect(folder / "Manifest.db")
    db.execute("CREATE TABLE IF NOT EXISTS Files (fileID TEXT PRIMARY KEY, domain TEXT, "
               "relativePath TEXT, "
               "flags INTEGER, file BLOB)")
    db.execute("CREATE TABLE IF NOT EXISTS Properties (key TEXT PRIMARY KEY, value BLOB)")
    if chatstorage is not None:
        file_id = hashlib.sha1(f"{domain}-ChatStorage.sqlite".encode()).hexdigest()
        db.execute("INSERT INTO Files VALUES (?, ?, 'ChatStorage.sqlite', 1, NULL)",
                   (file_id, domain))
        target = folder / file_id[:2] / file_id
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(chatstorage.read_bytes())
    if contacts is not None:
        file_id = hashlib.sha1(f"{domain}-ContactsV2.sqlite".encode()).hexdigest()
        db.execute("INSERT INTO Files VALUES (?, ?, 'ContactsV2.sqlite', 1, NULL)",
                   (file_id, domain))
        target = folder / file_id[:2] / file_id
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(contacts.read_bytes())
    db.commit()
    db.close()
    return folder


# -- encrypted Android backups ---------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def crypt_header(kind: str, iv: bytes) -> bytes:
    """The header message: key type, the IV in the crypt14 or crypt15 field, app info."""
    info = _field(1, b"2.24.25.78") + _field(3, b"67")
    if kind == "crypt15":
        cipher = _field(3, _field(1, iv))
    else:
        cipher = _field(2, _field(1, b"\x00\x01") + _field(2, b"2") + _field(3, b"\x11" * 32)
                        + _field(4, b"\x22" * 16) + _field(5, iv))
    return b"\x08\x00" + cipher + _field(4, info)


def encrypt_backup(database: bytes, aes_key: bytes, *, kind: str = "crypt15",
                   iv: bytes = b"\x07" * 16, checksum: bool = True,
                   feature_flag: bool = True) -> bytes:
    """A ``.crypt14``/``.crypt15`` file of ``database`` under ``aes_key`` (for crypt15 the key
    derived from the root key: see ``crypt15_aes_key``)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = crypt_header(kind, iv)
    prefix = bytes([len(header)]) + (b"\x01" if feature_flag else b"") + header
    sealed = AESGCM(aes_key).encrypt(iv, zlib.compress(database, 1), None)  # data + tag
    body = prefix + sealed
    if checksum:
        body += hashlib.md5(body).digest()
    return body


def crypt15_aes_key(root: bytes) -> bytes:
    """HKDF-SHA256(root key, salt 32 zero bytes, info "backup encryption"), written out."""
    import hmac

    prk = hmac.new(b"\x00" * 32, root, "sha256").digest()
    return hmac.new(prk, b"backup encryption\x01", "sha256").digest()


def java_byte_array(data: bytes) -> bytes:
    """``data`` as Java serialises a ``byte[]`` (the apps' key files)."""
    return (bytes.fromhex("aced0005757200025b42acf317f8060854e00200007870")
            + len(data).to_bytes(4, "big") + data)
