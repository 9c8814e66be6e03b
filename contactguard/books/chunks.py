"""Cut a large book file into pieces that can be read independently (the parallel pipeline).

A piece starts where a record starts — a ``BEGIN:VCARD`` line, a CSV row outside any quoted
cell — so that reading the pieces one after another yields exactly the contacts, lines and
errors of reading the whole file. This module only plans and dispatches: each format says
through the book reader contract (``books.contract``, registered in ``books.PIECES``) where its
records start and how a byte range of its files reads. ``chunks`` walks the file once, in
blocks, counting line ends at C speed; it holds one block in memory, never the file.

Files it cannot cut safely are read whole (one piece): standard input, UTF-16, old Mac files
whose lines end in a lone CR, formats without ``pieces``. A cut is checked when the piece is
read: a CSV piece that does not end outside a quoted cell fails to read (an unterminated
quote), and the pipeline then reads the rest of the file in one piece from the last good cut.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..model import Contact, Take
from . import PIECES, ReadOptions, open_source, sniff
from .contract import Cuts, Pieces

__all__ = ["CHUNK_BYTES", "Chunk", "Plan", "plan", "read_chunk"]

CHUNK_BYTES = 1 << 20  # a piece: large enough that handing it to a worker costs nothing much
# Pieces get smaller towards the end of a book (down to this), each about an eighth of what is
# left, so that the workers finish together instead of one waiting for the other's last piece.
MIN_CHUNK = 1 << 16
BLOCK = 1 << 20  # read at a time while planning
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
    """How to read one book in pieces (``block``, ``min_chunk``: see BLOCK and MIN_CHUNK)."""

    path: str
    label: str  # the name reports show
    format: str  # a key of books.PIECES: "vcard" | "csv"
    pieces: Pieces  # what the format's reader said about this file
    chunk_bytes: int
    start: int = 0  # where the first piece starts: after a CSV header
    first_line: int = 1
    block: int = BLOCK
    min_chunk: int = MIN_CHUNK

    def chunks(self) -> Generator[Chunk, None, None]:
        """The pieces in file order, found while the file is read (the first right away)."""
        return _cut(self, self.pieces.cuts())


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
        if fmt is None or fmt not in PIECES:
            return None
        pieces_of = PIECES[fmt]
        stream.seek(0)
        pieces = pieces_of(stream, label, options)
    if pieces is None:
        return None
    return Plan(path, label, fmt, pieces, chunk_bytes, pieces.start, pieces.first_line)


def read_chunk(
    plan: Plan, chunk: Chunk, options: ReadOptions, take: Take | None = None
) -> Iterator[Contact]:
    """The contacts of one piece, as reading the whole file yields them there, less those
    ``take`` took (see ``books.contract.Pieces.read``)."""
    with open_source(plan.path) as raw:
        raw.seek(chunk.start)
        stream = io.BufferedReader(_Range(raw, chunk.end), 1 << 16)
        yield from plan.pieces.read(
            stream, plan.label, options, chunk.first_line, chunk.last, take
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


def _cut(plan: Plan, cuts: Cuts) -> Generator[Chunk, None, None]:
    # ``start``, ``first_line``: the piece being measured; ``offset``, ``line``: where the block
    # read next starts. Lines end at LF, CRLF and a lone CR; a file with a lone CR is not cut.
    start, first_line, size, block_size = plan.start, plan.first_line, plan.chunk_bytes, plan.block
    smallest = plan.min_chunk
    offset, line = start, first_line
    find, passed = cuts.find, cuts.passed
    with Path(plan.path).open("rb") as stream:
        total = os.fstat(stream.fileno()).st_size
        stream.seek(start)
        carry = b""
        midline = False  # the block starts inside a line (a long one, partly passed over)
        while True:
            data = stream.read(block_size)
            block = carry + data
            if data:
                cut = block.rfind(b"\n") + 1  # blocks end with a line end: no CRLF is split
                if cut == 0:
                    if len(block) <= block_size:
                        carry = block
                        continue
                    # a long line: no piece starts inside it, so pass over all of it but its
                    # last byte (a CR there may end the line), telling the format what it
                    # held: memory holds a block or two whatever the line's length
                    over = block[:-1]
                    if b"\r" in over and _LONE_CR.search(over):
                        break
                    passed(over)
                    offset += len(over)
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
            position = max(start + _size(start, total, size, smallest) - offset, 0)
            counted = 0
            while position < len(block):
                found = find(block, position, midline)
                if found is None:
                    break
                line += block.count(b"\n", counted, found)
                counted = found
                if offset + found > start:
                    yield Chunk(start, offset + found, first_line, False)
                    start, first_line = offset + found, line
                position = max(found + 1, start + _size(start, total, size, smallest) - offset)
            line += block.count(b"\n", counted)
            passed(block)  # cuts leave the format's count as at the piece's start
            offset += len(block)
            midline = False
            if not data:
                break
    yield Chunk(start, None, first_line, True)


def _size(start: int, total: int, size: int, min_chunk: int) -> int:
    """The length of the piece that starts at ``start``."""
    return max(min(size, (total - start) // 8), min(size, min_chunk))
