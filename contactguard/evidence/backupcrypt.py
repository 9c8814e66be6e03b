"""WhatsApp's encrypted Android backups (``.crypt14``, ``.crypt15``), opened with the user's key.

A backup file is laid out as::

    1 byte      length N of the header message
    [1 byte]    0x01 when a feature table follows (message databases have it, some old ones not)
    N bytes     the header: a protocol-buffers message (below)
    ...         the database, zlib-compressed, then encrypted with AES-256-GCM
    16 bytes    the GCM authentication tag
    [16 bytes]  MD5 of everything before it (single-file backups such as ``msgstore``)

The header message has field 2 (``.crypt14``: a message whose field 5 is the 16-byte IV) or
field 3 (``.crypt15``: a message whose field 1 is the 16-byte IV); field 1 (key type) and field 4
(app version, features) are not needed. It is parsed here by hand: five fields of the protobuf
wire format do not justify a protobuf runtime and generated code.

Keys:

- ``.crypt15`` (end-to-end encrypted backup): the 64 hexadecimal digits the app shows when the
  backup is turned on (the root key), in a text file, or the app's ``encrypted_backup.key`` (a
  Java-serialised ``byte[32]``). The AES key is HKDF-SHA256 of the root key with an all-zero
  salt and the info ``backup encryption``.
- ``.crypt14``: the app's ``key`` file (a Java-serialised ``byte[131]``); its last 32 bytes are
  the AES key itself.

The key comes from ``--backup-key-file FILE`` or the ``CONTACTGUARD_BACKUP_KEY`` environment
variable (64 hex digits), never from the command line, where other users could read it.

The decrypted database is written to a temporary file that only this user can read (mode 0600),
in chunks (memory stays flat for a multi-gigabyte database), opened read-only once the
authentication tag has proved the whole file sound, and removed when the reader is done, also
when it fails. Nothing else of it lands on disk.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import EvidenceError

__all__ = [
    "KEY_ENV",
    "BackupKey",
    "decrypted_database",
    "is_encrypted_backup",
    "load_key",
    "parse_header",
]

KEY_ENV = "CONTACTGUARD_BACKUP_KEY"
SUFFIXES = (".crypt14", ".crypt15")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_CHUNK = 1 << 20  # bytes read, decrypted and inflated at a time
_TAG = 16
_CHECKSUM = 16
_IV = 16
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
# A Java-serialised byte[]: stream magic and version, TC_ARRAY, the class descriptor of "[B"
# with its serialVersionUID, no fields, end of block, no superclass, then a 4-byte length.
_JAVA_BYTE_ARRAY = bytes.fromhex("aced0005757200025b42acf317f8060854e00200007870")
_KEY14_LENGTH = 131  # cipher version 2, key version 1, salts and hashes 96, zero IV 16, key 32
_MISSING_KEY = (
    "an encrypted WhatsApp backup needs its key: pass --backup-key-file FILE (a file holding "
    f"the 64-digit key, or the app's key file; in a sync config: backup_key_file in "
    f"[evidence]) or set {KEY_ENV}"
)


@dataclass(frozen=True, repr=False)
class BackupKey:
    """A backup key: the 32-byte root key of a ``.crypt15`` backup, or a ``.crypt14`` AES key."""

    kind: str  # "crypt15" | "crypt14"
    secret: bytes
    origin: str  # where it came from, for messages ("--backup-key-file k.txt")

    def __repr__(self) -> str:  # never show the secret in a traceback or a log
        return f"<BackupKey {self.kind} from {self.origin}>"

    def aes_key(self) -> bytes:
        """The AES-256 key that encrypts the backup."""
        if self.kind == "crypt14":
            return self.secret
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"\x00" * 32, info=b"backup encryption"
        ).derive(self.secret)


def load_key(key_file: str | None, environ: Mapping[str, str] | None = None) -> BackupKey | None:
    """The key from ``key_file``, else from ``CONTACTGUARD_BACKUP_KEY``, else None.

    A key file holds the 64 hex digits (spaces, dashes and line breaks allowed, as people copy
    them from the phone), or is the app's own Java-serialised key file.
    """
    if key_file is not None:
        origin = f"--backup-key-file {key_file}"
        try:
            data = Path(key_file).read_bytes()
        except OSError as exc:
            raise EvidenceError(
                f"cannot read the backup key: {exc.strerror}", file=key_file
            ) from exc
        return _parse_key(data, origin, key_file)
    environ = os.environ if environ is None else environ
    value = environ.get(KEY_ENV)
    if value is None or not value.strip():
        return None
    return _parse_key(value.encode("utf-8", "replace"), KEY_ENV, None)


def _parse_key(data: bytes, origin: str, file: str | None) -> BackupKey:
    if data.startswith(_JAVA_BYTE_ARRAY[:4]):
        array = _java_byte_array(data)
        if array is not None and len(array) == 32:
            return BackupKey("crypt15", array, origin)
        if array is not None and len(array) == _KEY14_LENGTH:
            return BackupKey("crypt14", array[-32:], origin)
        raise EvidenceError(
            "not a WhatsApp key file (expected the 64-digit key or the app's key file)", file=file
        )
    text = re.sub(rb"[\s\-:]", b"", data).decode("ascii", "replace")
    if _HEX_KEY.fullmatch(text):
        return BackupKey("crypt15", bytes.fromhex(text), origin)
    raise EvidenceError(
        f"the backup key from {origin} is not 64 hexadecimal digits (nor the app's key file)",
        file=file,
    )


def _java_byte_array(data: bytes) -> bytes | None:
    head = len(_JAVA_BYTE_ARRAY)
    if not data.startswith(_JAVA_BYTE_ARRAY) or len(data) < head + 4:
        return None
    length = int.from_bytes(data[head : head + 4], "big")
    body = data[head + 4 :]
    return body if len(body) == length else None


def is_encrypted_backup(location: str) -> bool:
    """A file named like WhatsApp's encrypted backups (``msgstore.db.crypt15``, …)."""
    return location.lower().endswith(SUFFIXES)


# -- the header --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """What the backup's header says: its format, IV and where the encrypted data begins."""

    kind: str  # "crypt14" | "crypt15"
    iv: bytes
    length: int  # bytes before the encrypted data


def parse_header(head: bytes) -> Header | None:
    """The header of a ``.crypt14``/``.crypt15`` file from its first bytes, or None."""
    if len(head) < 2:
        return None
    size = head[0]
    start = 2 if head[1] == 1 else 1  # 0x01: the feature-table flag; a message starts 0x08-0x22
    message = head[start : start + size]
    if size == 0 or len(message) != size:
        return None
    fields = _fields(message)
    if fields is None:
        return None
    for number, kind, iv_field in ((3, "crypt15", 1), (2, "crypt14", 5)):
        inner = fields.get(number)
        if isinstance(inner, bytes):
            inner_fields = _fields(inner)
            iv = None if inner_fields is None else inner_fields.get(iv_field)
            if isinstance(iv, bytes) and len(iv) == _IV:
                return Header(kind, iv, start + size)
    return None


def _fields(message: bytes) -> dict[int, bytes | int] | None:
    """The fields of a protobuf message (last one wins, as protobuf merges), or None if it is
    not well-formed wire format."""
    fields: dict[int, bytes | int] = {}
    pos = 0
    while pos < len(message):
        key, pos = _varint(message, pos)
        if key is None:
            return None
        number, wire = key >> 3, key & 7
        if number == 0:
            return None
        if wire == 0:
            value, pos = _varint(message, pos)
            if value is None:
                return None
            fields[number] = value
        elif wire == 2:
            length, pos = _varint(message, pos)
            if length is None or pos + length > len(message):
                return None
            fields[number] = message[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > len(message):
                return None
        else:
            return None
    return fields


def _varint(data: bytes, pos: int) -> tuple[int | None, int]:
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None, pos


# -- decryption --------------------------------------------------------------------------------


@contextmanager
def decrypted_database(location: str, key: BackupKey | None) -> Iterator[Path]:
    """The decrypted SQLite database of the backup at ``location``, as a 0600 temporary file
    that is removed when the ``with`` block ends. Raises EvidenceError (naming the file) for a
    missing or wrong key, a file that is not such a backup, or one that is cut short or damaged.
    """
    try:
        stream = Path(location).open("rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise EvidenceError(f"cannot open: {exc.strerror}", file=location) from exc
    with stream:
        size = os.fstat(stream.fileno()).st_size
        header = parse_header(stream.read(258))  # 1 + 1 + at most 255 bytes of header
        if header is None:
            raise EvidenceError(
                "not a WhatsApp .crypt14/.crypt15 backup (its header cannot be read)",
                file=location,
            )
        if key is None:
            raise EvidenceError(_MISSING_KEY, file=location)
        if header.kind != key.kind:
            need = (
                "the 64-digit key of the end-to-end encrypted backup"
                if header.kind == "crypt15"
                else "the app's 'key' file"
            )
            raise EvidenceError(
                f"a .{header.kind} backup needs {need}; {key.origin} holds a {key.kind} key",
                file=location,
            )
        if size - header.length < _TAG + 2:
            raise EvidenceError("the backup is cut short (no encrypted data)", file=location)
        descriptor, name = tempfile.mkstemp(prefix="contactguard-", suffix=".db")
        path = Path(name)
        try:
            os.fchmod(descriptor, 0o600)  # mkstemp does this already; say it where it matters
            with os.fdopen(descriptor, "wb") as out:
                _decrypt(stream, size, header, key, out, location)
            yield path
        finally:
            path.unlink(missing_ok=True)


class _Inflate:
    """Inflates decrypted chunks into the output file, checking that a SQLite database comes out
    (bounded output per call: a small, highly compressed input cannot blow up memory)."""

    def __init__(self, out: BinaryIO, location: str) -> None:
        self.out = out
        self.location = location
        self.inflater = zlib.decompressobj()
        self.written = 0
        self.head = b""

    def feed(self, data: bytes) -> None:
        try:
            chunk = self.inflater.decompress(data, _CHUNK)
            self._write(chunk)
            while self.inflater.unconsumed_tail:
                self._write(self.inflater.decompress(self.inflater.unconsumed_tail, _CHUNK))
        except zlib.error as exc:
            raise self._garbled() from exc

    def _write(self, chunk: bytes) -> None:
        if self.written < len(_SQLITE_MAGIC):
            self.head += chunk[: len(_SQLITE_MAGIC) - self.written]
            if not _SQLITE_MAGIC.startswith(self.head):
                raise self._garbled()
        self.out.write(chunk)
        self.written += len(chunk)

    def _garbled(self) -> EvidenceError:
        if self.written < len(_SQLITE_MAGIC):
            return EvidenceError(
                "cannot decrypt: this is not the key of this backup (or the file is damaged "
                "at its start)",
                file=self.location,
            )
        return EvidenceError("the backup is damaged (its data does not decompress)",
                             file=self.location)


def _decrypt(
    stream: BinaryIO, size: int, header: Header, key: BackupKey, out: BinaryIO, location: str
) -> None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    stream.seek(0)
    checksum = hashlib.md5(usedforsecurity=False)  # the file's own checksum, not for security
    checksum.update(stream.read(header.length))
    decryptor = Cipher(algorithms.AES(key.aes_key()), modes.GCM(header.iv)).decryptor()
    inflate = _Inflate(out, location)
    # Read all but the last 32 bytes as encrypted data; those 32 are either tag + checksum or
    # (a backup without a checksum) 16 more bytes of data + tag. The checksum tells which.
    remaining = max(size - header.length - _TAG - _CHECKSUM, 0)
    while remaining:
        chunk = stream.read(min(_CHUNK, remaining))
        if not chunk:
            raise EvidenceError("the backup is cut short", file=location)
        remaining -= len(chunk)
        checksum.update(chunk)
        inflate.feed(decryptor.update(chunk))
    tail = stream.read(_TAG + _CHECKSUM)
    first, last = tail[:-_CHECKSUM], tail[-_CHECKSUM:]
    checksum.update(first)
    if len(first) == _TAG and checksum.digest() == last:
        tag = first
    else:  # no checksum: the tag is the file's last 16 bytes
        inflate.feed(decryptor.update(first))
        tag = last
    try:
        decryptor.finalize_with_tag(tag)
    except InvalidTag as exc:
        raise EvidenceError(
            "the backup is damaged or cut short (its authentication tag does not match)",
            file=location,
        ) from exc
    if not inflate.inflater.eof:
        raise EvidenceError("the backup is cut short (its database is incomplete)", file=location)
    out.flush()
    # A database in write-ahead-log mode would want -wal/-shm files beside it to be opened;
    # this private copy is switched to the rollback journal (header bytes 18-19), read-only.
    if inflate.written >= 100:
        out.seek(18)
        out.write(b"\x01\x01")
