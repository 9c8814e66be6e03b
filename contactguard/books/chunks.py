"""Cut a large book file into pieces that can be read independently (the parallel pipeline).

A piece starts where a record starts — a ``BEGIN:VCARD`` line, a CSV row outside any quoted
cell — so that reading the pieces one after another yields exactly the contacts, lines and
errors of reading the whole file. ``chunks`` walks the file once, in blocks, counting line ends
and (for CSV) quotes at C speed; it holds one block in memory, never the file.

Files it cannot cut safely are read whole (one piece): standard input, UTF-16, old Mac files
whose lines end in a lone CR. A CSV cut is checked when the piece is read: a piece that does not
end outside a quoted cell fails to read (an unterminated quote), and the pipeline then reads the
rest of the file in one piece from the last good cut.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError
from ..model import Contact, Take
from . import ReadOptions, open_source, sniff, vcard
from . import csv as csv_book

__all__ = ["Chunk", "Plan", "plan", "read_chunk"]

CHUNK_BYTES = 1 << 20  # a piece: large enough that handing it to a worker costs nothing much
# Pieces get smaller towards the end of a book (down to this), each about an eighth of what is
# left, so that the workers finish together instead of one waiting for the other's last piece.
_MIN_CHUNK = 1 << 16
_BLOCK = 1 << 20  # read at a time while planning
_BEGIN = b"\nBEGIN:VCARD"
_LONE_CR = re.compile(rb"\r(?!\n)")


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes ``start``..``end`` of a file (``end`` None: to its end), beginning on file line
    ``first_line``; ``last``: nothing of the file follows."""

    start: int
    end: int | None
    first_line: int
    last: bool


@dataclass(frozen=True)
class Plan:
    """How to read one book in pieces."""

    path: str
    label: str  # the name reports show
    format: str  # "vcard" | "csv"
    header: csv_book.Header | None  # CSV only: what the head settled for every row
    chunk_bytes: int
    start: int = 0  # where the first piece starts: after a CSV header
    first_line: int = 1

    def chunks(self) -> Generator[Chunk, None, None]:
        """The pieces in file order, found while the file is read (the first right away)."""
        return _cut(self.path, self.format, self.start, self.first_line, self.chunk_bytes)


def plan(
    source: str | Path, label: str, options: ReadOptions, chunk_bytes: int = CHUNK_BYTES
) -> Plan | None:
    """A Plan for a regular file that can be cut, else None (read it whole)."""
    path = str(source)
    if path == "-" or not os.path.isfile(path):  # noqa: PTH113
        return None
    with open_source(path) as stream:
        head = stream.read(4096)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
            return None  # UTF-16: a byte is not a character
        fmt = options.input_format or sniff(head)
        header = None
        if fmt == "csv":
            stream.seek(0)
            try:
                header = csv_book.read_header(stream, label, options)
            except InputError:
                return None  # reading the whole file reports it, as it always has
            if header.encoding not in ("utf-8", "cp1252"):
                return None
            # the rows start after the header's line end (line ends: see _cut)
            stream.seek(0)
            head = stream.read(_BLOCK)
            start = -1
            for _ in range(header.line):
                start = head.find(b"\n", start + 1)
                if start < 0:
                    return None  # a header of a megabyte: no book worth cutting
            start += 1
            if head.count(b"\r", 0, start) != head.count(b"\r\n", 0, start):
                return None
            return Plan(path, label, fmt, header, chunk_bytes, start, header.line + 1)
        if fmt != "vcard":
            return None
    return Plan(path, label, fmt, header, chunk_bytes)


def read_chunk(
    plan: Plan, chunk: Chunk, options: ReadOptions, take: Take | None = None
) -> Iterator[Contact]:
    """The contacts of one piece, as reading the whole file yields them there, less those
    ``take`` took (see ``vcard.read`` and ``csv.read_range``)."""
    with open_source(plan.path) as raw:
        raw.seek(chunk.start)
        stream = io.BufferedReader(_Range(raw, chunk.end), 1 << 16)
        if plan.format == "vcard":
            yield from vcard.read(
                stream, plan.label, options, first_line=chunk.first_line, last=chunk.last,
                take=take,
            )
        else:
            assert plan.header is not None
            yield from csv_book.read_range(
                stream, plan.label, options, plan.header, chunk.first_line, take
            )


class _Range(io.RawIOBase):
    """A file from its current position up to byte ``end`` (None: its end)."""

    def __init__(self, inner: BinaryIO, end: int | None) -> None:
        self._inner = inner
        self._left = None if end is None else end - inner.tell()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        size = len(buffer) if self._left is None else min(len(buffer), self._left)
        data = self._inner.read(size)
        buffer[: len(data)] = data
        if self._left is not None:
            self._left -= len(data)
        return len(data)


def _cut(
    path: str, fmt: str, start: int, first_line: int, size: int
) -> Generator[Chunk, None, None]:
    # ``start``, ``first_line``: the piece being measured; ``offset``, ``line``: where the block
    # read next starts. Lines end at LF, CRLF and a lone CR; a file with a lone CR is not cut.
    offset, line = start, first_line
    quotes = 0  # CSV: parity of the quote characters from ``start`` to ``offset``
    with Path(path).open("rb") as stream:
        total = os.fstat(stream.fileno()).st_size
        stream.seek(start)
        carry = b""
        midline = False  # the block starts inside a line (a long one, partly passed over)
        while True:
            data = stream.read(_BLOCK)
            block = carry + data
            if data:
                cut = block.rfind(b"\n") + 1  # blocks end with a line end: no CRLF is split
                if cut == 0:
                    if len(block) <= _BLOCK:
                        carry = block
                        continue
                    # a long line: no piece starts inside it, so pass over all of it but its
                    # last byte (a CR there may end the line), counting its quotes: memory
                    # holds a block or two whatever the line's length
                    passed = block[:-1]
                    if b"\r" in passed and _LONE_CR.search(passed):
                        break
                    if fmt == "csv":
                        quotes = (quotes + passed.count(b'"')) & 1
                    offset += len(passed)
                    carry, midline = block[-1:], True
                    continue
                block, carry = block[:cut], block[cut:]
            elif not block:
                break
            else:
                carry = b""
            if b"\r" in block and _LONE_CR.search(block):
                break  # a lone CR ends a line too: counting lines would take a regex; read whole
            # cuts in this block, each about ``_size`` bytes after the previous one; ``line``
            # is the line at ``counted`` in the block
            position = max(start + _size(start, total, size) - offset, 0)
            counted = 0
            while position < len(block):
                found = _find_cut(block, position, fmt, quotes, midline)
                if found is None:
                    break
                line += block.count(b"\n", counted, found)
                counted = found
                if offset + found > start:
                    yield Chunk(start, offset + found, first_line, False)
                    start, first_line = offset + found, line
                position = max(found + 1, start + _size(start, total, size) - offset)
            line += block.count(b"\n", counted)
            if fmt == "csv":
                quotes = (quotes + block.count(b'"')) & 1  # cuts leave it even
            offset += len(block)
            midline = False
            if not data:
                break
    yield Chunk(start, None, first_line, True)


def _size(start: int, total: int, size: int) -> int:
    """The length of the piece that starts at ``start``."""
    return max(min(size, (total - start) // 8), min(size, _MIN_CHUNK))


def _find_cut(
    block: bytes, position: int, fmt: str, quotes: int, midline: bool = False
) -> int | None:
    """The first place at or after ``position`` where a piece may start, or None;
    ``midline``: the block starts inside a line."""
    if fmt == "vcard":
        # a line "BEGIN:VCARD"; a block starts a line (the one before ends with a line end)
        if (
            position == 0
            and not midline
            and block.startswith(_BEGIN[1:])
            and block[11:12] in (b"\r", b"\n")
        ):
            return 0
        at = max(position - 1, 0)
        while (at := block.find(_BEGIN, at)) >= 0:
            if block[at + 12 : at + 13] in (b"\r", b"\n"):
                return at + 1
            at += 1
        return None
    # CSV: after a line end where the quotes before it are balanced
    at = max(position - 1, 0)
    quotes += block.count(b'"', 0, at)
    while (found := block.find(b"\n", at)) >= 0 and found + 1 < len(block):
        quotes += block.count(b'"', at, found)
        if quotes & 1 == 0:
            return found + 1
        at = found + 1
    return None
