"""The one way contactguard opens a zip archive: bounded before and while it is read.

``zipfile`` trusts the central directory: it holds every entry of it in memory (400,000 entries
take hundreds of MB) and inflates a member as far as its declared sizes let it. A hostile
archive lies in those numbers. ``open_zip`` reads the end-of-archive record first and refuses an
archive with more than ``MAX_ENTRIES`` entries or a central directory over
``MAX_DIRECTORY_BYTES`` before ``zipfile`` reads it; ``SafeZip.open`` inflates a member itself,
counting as it goes, and stops with a ``ZipLimitError`` the moment the member

- inflates past the size its directory entry declares, or past ``MAX_MEMBER_BYTES``,
- inflates more than ``MAX_RATIO`` times the compressed bytes it has consumed so far
  (past the first ``RATIO_GRACE_BYTES``), whatever the directory says,
- takes the archive's total inflated bytes past ``MAX_TOTAL_BYTES``,

and with a ``ZipLimitError`` when its data is damaged (a CRC mismatch, a deflate stream that ends
early). Only stored and deflated members are read (what phones write); the archive is never
extracted. Every message is one line and says what was wrong.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "MAX_DIRECTORY_BYTES",
    "MAX_ENTRIES",
    "MAX_MEMBER_BYTES",
    "MAX_RATIO",
    "MAX_TOTAL_BYTES",
    "RATIO_GRACE_BYTES",
    "SafeZip",
    "ZipLimitError",
    "open_zip",
]

MAX_ENTRIES = 20_000  # a chat export holds its .txt and at most 10,000 media files
MAX_DIRECTORY_BYTES = 16 * 1024**2  # the central directory, read into memory by zipfile
MAX_MEMBER_BYTES = 2 * 1024**3  # one member, inflated
MAX_TOTAL_BYTES = 4 * 1024**3  # everything inflated from one archive
MAX_RATIO = 100  # inflated bytes per compressed byte
RATIO_GRACE_BYTES = 1024**2  # small members cannot hurt, whatever their ratio

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_LOCAL = b"PK\x03\x04"
_READ = 1 << 16


class ZipLimitError(Exception):
    """The archive breaks a limit or is damaged; the message is one line, never empty."""


def open_zip(path: str | Path) -> SafeZip:
    """Open ``path`` for reading, its end record checked first (see the module docstring)."""
    stream = Path(path).open("rb")  # noqa: SIM115  (SafeZip closes it)
    try:
        _check_end_record(stream)
        archive = zipfile.ZipFile(stream)
    except ZipLimitError:
        stream.close()
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            ValueError, struct.error, OverflowError) as exc:
        stream.close()
        raise ZipLimitError(f"not a readable zip archive ({_describe(exc)})") from exc
    except BaseException:
        stream.close()
        raise
    return SafeZip(archive, stream)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _check_end_record(stream: BinaryIO) -> None:
    """Refuse too many entries or too large a central directory, from the end record alone."""
    size = stream.seek(0, io.SEEK_END)
    tail_size = min(size, 22 + 0xFFFF + 20)
    stream.seek(size - tail_size)
    tail = stream.read(tail_size)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise ZipLimitError("not a zip archive (no end of central directory record)")
    (_, _, _, _, entries, directory, _, _) = struct.unpack("<4s4H2LH", tail[at : at + 22])
    locator = at - 20
    if locator >= 0 and tail[locator : locator + 4] == _EOCD64_LOCATOR:
        (offset,) = struct.unpack("<Q", tail[locator + 8 : locator + 16])
        if offset > size - 56:
            raise ZipLimitError("damaged zip64 end record")
        stream.seek(offset)
        record = stream.read(56)
        if record[:4] != _EOCD64:
            raise ZipLimitError("damaged zip64 end record")
        entries, directory = struct.unpack("<QQ", record[32:48])
    if entries > MAX_ENTRIES:
        raise ZipLimitError(f"{entries:,} entries; the limit is {MAX_ENTRIES:,}")
    if directory > MAX_DIRECTORY_BYTES:
        raise ZipLimitError(
            f"a central directory of {directory:,} bytes; the limit is {MAX_DIRECTORY_BYTES:,}"
        )


class SafeZip:
    """An open archive: its entries, and members read within the limits."""

    def __init__(self, archive: zipfile.ZipFile, stream: BinaryIO) -> None:
        self._archive = archive
        self._stream = stream
        self.inflated = 0  # bytes inflated from this archive so far

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._archive.close()
        self._stream.close()

    def infolist(self) -> list[zipfile.ZipInfo]:
        """The entries, as the central directory lists them."""
        if len(self._archive.infolist()) > MAX_ENTRIES:  # a directory that lied in its count
            raise ZipLimitError(f"more than {MAX_ENTRIES:,} entries")
        return self._archive.infolist()

    def open(self, info: zipfile.ZipInfo) -> io.BufferedReader:
        """A member's content, inflated within the limits as it is read."""
        if info.flag_bits & 0x1:
            raise ZipLimitError(f"{info.filename} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ZipLimitError(
                f"{info.filename} uses compression method {info.compress_type}; "
                "only stored and deflated members are read"
            )
        if info.file_size > MAX_MEMBER_BYTES:
            raise ZipLimitError(
                f"{info.filename} is {info.file_size:,} bytes uncompressed; "
                f"the limit is {MAX_MEMBER_BYTES:,}"
            )
        self._stream.seek(info.header_offset)
        local = self._stream.read(30)
        if len(local) < 30 or local[:4] != _LOCAL:
            raise ZipLimitError(f"{info.filename}: damaged local header")
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        start = info.header_offset + 30 + name_length + extra_length
        return io.BufferedReader(_Member(self, info, start), _READ)


class _Member(io.RawIOBase):
    """One member's bytes, inflated and counted (see the module docstring)."""

    def __init__(self, owner: SafeZip, info: zipfile.ZipInfo, start: int) -> None:
        self._owner = owner
        self._info = info
        self._position = start  # in the archive file: the next compressed byte
        self._left = info.compress_size  # compressed bytes the directory declares
        self._inflate = (
            zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        )
        self._consumed = 0  # compressed bytes fed to the inflater, less its unused tail
        self._out = 0
        self._crc = 0
        self._pending = b""  # compressed bytes read but not fed yet
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._done:
            data = self._next(len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
        return 0

    def _raw(self, size: int = _READ) -> bytes:
        """The next compressed bytes from the archive file (b"" at the declared end)."""
        if self._left <= 0:
            return b""
        stream = self._owner._stream
        stream.seek(self._position)
        data = stream.read(min(size, _READ, self._left))
        self._position += len(data)
        self._left -= len(data) if data else self._left
        return data

    def _next(self, size: int) -> bytes:
        name = self._info.filename
        if self._inflate is None:
            data = self._raw(size)
            self._consumed += len(data)
            if not data:
                return self._end()
        else:
            if not self._pending:
                self._pending = self._inflate.unconsumed_tail or self._raw()
            feed, self._pending = self._pending, b""
            unused = len(self._inflate.unused_data)  # bytes past the stream's end so far
            try:
                data = self._inflate.decompress(feed, size)
            except zlib.error as exc:
                raise ZipLimitError(f"{name}: damaged ({_describe(exc)})") from exc
            self._pending = self._inflate.unconsumed_tail
            past = len(self._inflate.unused_data) - unused
            self._consumed += len(feed) - len(self._pending) - past
            if self._inflate.eof:
                self._left = 0
                self._pending = b""
            if not data and not self._pending and (self._inflate.eof or self._left <= 0):
                if not self._inflate.eof:
                    raise ZipLimitError(f"{name}: damaged (the compressed data ends early)")
                return self._end()
        self._count(len(data))
        self._crc = zlib.crc32(data, self._crc)
        return data

    def _count(self, size: int) -> None:
        info, owner = self._info, self._owner
        self._out += size
        owner.inflated += size
        if self._out > info.file_size:
            raise ZipLimitError(
                f"{info.filename} inflates past the {info.file_size:,} bytes its directory "
                "entry declares"
            )
        if self._out > MAX_MEMBER_BYTES:
            raise ZipLimitError(f"{info.filename} inflates past {MAX_MEMBER_BYTES:,} bytes")
        if owner.inflated > MAX_TOTAL_BYTES:
            raise ZipLimitError(f"the archive inflates past {MAX_TOTAL_BYTES:,} bytes in all")
        if self._out > RATIO_GRACE_BYTES and self._out > MAX_RATIO * max(self._consumed, 1):
            raise ZipLimitError(
                f"{info.filename} is compressed more than {MAX_RATIO}:1; refusing a likely "
                "zip bomb"
            )

    def _end(self) -> bytes:
        info = self._info
        self._done = True
        if self._out != info.file_size:
            raise ZipLimitError(
                f"{info.filename}: damaged ({self._out:,} bytes, the directory says "
                f"{info.file_size:,})"
            )
        if self._crc != info.CRC:
            raise ZipLimitError(f"{info.filename}: damaged (CRC mismatch)")
        return b""
