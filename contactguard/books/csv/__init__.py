"""CSV address books: Google, Outlook (English and German), Thunderbird, Apple and generic exports.

Reading streams one row at a time. The header is examined once and turned into a ``Plan`` (which
column holds what); each row then only picks its cells, so a million-row export costs little more
than a bare ``csv.reader`` pass and memory stays flat. The reader is three modules: ``text``
(decoding, line ends), ``columns`` (the header's plan, a row made a Contact) and this one (rows,
errors, pieces for the parallel pipeline); ``writer`` writes.

- Encoding: UTF-8 (with or without BOM), UTF-16 LE/BE with BOM (Outlook's "Unicode" export), and
  cp1252 for legacy exports, chosen from the first 64 KiB; decoded incrementally.
- Delimiter: ``,``, ``;`` or tab, sniffed from the header line; Excel's ``sep=;`` line is honoured.
- Columns: Google's numbered ``Phone 1 - Value`` with its ``Phone 1 - Type``/``- Label`` cell,
  several numbers in one cell joined by `` ::: ``; Outlook's fixed columns in English and German;
  anything else by keywords in the header. ``--phone-column``/``--name-column`` override.

Writing produces a Google-style CSV (UTF-8, CRLF) with cells neutralised against formula injection.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from ...errors import InputError
from ...model import Contact, Take
from .columns import Plan
from .text import Text
from .writer import write

if TYPE_CHECKING:
    from .. import ReadOptions

__all__ = ["CsvPieces", "Header", "pieces", "read", "read_header", "read_range", "write"]


# ---------------------------------------------------------------------------------------------
# Reading


def read(
    stream: BinaryIO, source: str, options: ReadOptions, take: Take | None = None
) -> Iterator[Contact]:
    """Yield one Contact per non-empty data row, each with the line its row starts on, less
    the rows ``take`` took (see ``read_range``)."""
    text, reader, plan, header = _head(stream, source, options)
    # the line the header row ends on is reader.line_num lines after the skipped ones
    yield from _rows(reader, text, plan, source, header.line - reader.line_num, take)


class Header(NamedTuple):
    """What the head of a CSV file settles for all its rows (``read_range`` takes it)."""

    encoding: str  # of the bytes after the head: no BOM codec
    delimiter: str
    row: list[str]
    line: int  # the line the header row ends on


def read_header(stream: BinaryIO, source: str, options: ReadOptions) -> Header:
    """The header of a CSV file (raises InputError as ``read`` would)."""
    return _head(stream, source, options)[3]


def _head(stream: BinaryIO, source: str, options: ReadOptions) -> tuple[Text, Any, Plan, Header]:
    """The decoded stream, a csv reader past the header row, the plan for the rows, and the
    header (raises InputError for a file that has none a plan can be made of)."""
    text = Text(stream, source)
    # csv.reader counts the physical lines it pulls (line_num): fed one line per item, its
    # count is the exact line number at C speed, with no bookkeeping per row on our side.
    lines = itertools.chain.from_iterable(text.blocks())
    # skipped: blank lines (and Excel's "sep=" line) before the header
    first, skipped, delimiter = _header_line(lines, source)
    reader = csv.reader(itertools.chain((first,), lines), delimiter=delimiter, strict=True)
    try:
        row = next(reader)
    except csv.Error as exc:
        raise _csv_error(exc, source, skipped + 1) from exc
    line = skipped + reader.line_num
    plan = Plan.from_header(row, options, source, line)
    encoding = "utf-8" if text.encoding == "utf-8-sig" else text.encoding
    return text, reader, plan, Header(encoding, delimiter, row, line)


def read_range(
    stream: BinaryIO, source: str, options: ReadOptions, header: Header, first_line: int,
    take: Take | None = None,
) -> Iterator[Contact]:
    """The contacts of a piece of a CSV file that starts with a whole row on ``first_line``
    (after the header) and ends with one: the parallel pipeline's chunks. A piece cut inside a
    quoted cell raises InputError at its end, as an unterminated quote would.

    ``take(line, display name, numbers as written)`` is offered each row of the header's
    width: a row it returns True for is not yielded, and no Contact is built for it."""
    text = Text(stream, source, header.encoding, first_line)
    reader = csv.reader(
        itertools.chain.from_iterable(text.blocks()), delimiter=header.delimiter, strict=True
    )
    plan = Plan.from_header(header.row, options, source, header.line)
    yield from _rows(reader, text, plan, source, first_line - 1, take)


def _rows(
    reader: Any, text: Text, plan: Plan, source: str, base: int, take: Take | None = None
) -> Iterator[Contact]:
    """The data rows of ``reader`` (line ``base + reader.line_num`` is the one a row ends on)."""
    last = base + reader.line_num  # the line the previous row ended on
    columns = plan.width - 1
    make = plan.reader(source)
    make_or_take = plan.reader(source, take) if take is not None else make
    try:
        for row in reader:
            line = last + 1
            last = base + reader.line_num
            if text.nul and any("\x00" in cell for cell in row):
                raise InputError(
                    "contains a NUL byte: this is not a text CSV file "
                    "(was it saved as UTF-16 without a byte-order mark?)",
                    file=source,
                    line=line,
                )
            if len(row) == columns:
                row.append("")  # the empty cell that stands for a missing column
                contact = make_or_take(row, line)
                if contact is not None:  # None: a row of empty cells, or taken
                    yield contact
            elif any(row):
                # a short row reads its missing cells as empty; cells beyond the header are
                # nobody's, but the row is still a contact (reported, not silently dropped)
                del row[columns:]
                row.extend([""] * (plan.width - len(row)))
                yield make(row, line) or Contact(source, line)
    except csv.Error as exc:
        raise _csv_error(exc, source, last + 1) from exc


def _csv_error(exc: csv.Error, source: str, line: int) -> InputError:
    if "unexpected end of data" in str(exc) or "field larger" in str(exc):
        message = (
            "a quoted cell in the row starting here is never closed (unterminated quote), "
            f"or a cell is longer than {csv.field_size_limit():,} characters"
        )
    else:
        message = f"malformed CSV row ({exc})"
    return InputError(message, file=source, line=line)




def _header_line(lines: Iterator[str], source: str) -> tuple[str, int, str]:
    """The header line, how many lines came before it, and the delimiter it uses."""
    skipped = 0
    line = next(lines, "")
    while line and not line.strip():
        skipped += 1
        line = next(lines, "")
    if not line:
        raise InputError("is empty: no header row and no contacts", file=source)
    # Excel writes and honours a first line "sep=;" naming the delimiter.
    if line.lower().startswith("sep=") and len(line.rstrip("\r\n")) == 5:
        delimiter, line = line[4], next(lines, "")
        if not line.strip():
            raise InputError("has no header row after its 'sep=' line", file=source, line=2)
        return line, skipped + 1, delimiter
    counts = {d: line.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d])  # ties: the first, ","
    return line, skipped, delimiter




# ---------------------------------------------------------------------------------------------
# Pieces (the book reader contract, ``books.contract``)


def pieces(stream: BinaryIO, source: str, options: ReadOptions) -> CsvPieces | None:
    """How a CSV file reads in pieces: rows after its header, cut after a line end outside any
    quoted cell. None (read it whole) for a file whose header does not read (reading the whole
    file reports it), in another encoding than UTF-8 or cp1252 (a byte is not a character), or
    with a header of a megabyte."""
    try:
        header = read_header(stream, source, options)
    except InputError:
        return None
    if header.encoding not in ("utf-8", "cp1252"):
        return None
    # the rows start after the header's line end (line ends: LF, CRLF; a lone CR: read whole)
    stream.seek(0)
    head = stream.read(1 << 20)
    start = -1
    for _ in range(header.line):
        start = head.find(b"\n", start + 1)
        if start < 0:
            return None
    start += 1
    if head.count(b"\r", 0, start) != head.count(b"\r\n", 0, start):
        return None
    return CsvPieces(header, start, header.line + 1)


@dataclass(frozen=True)
class CsvPieces:
    """A CSV file's pieces: its rows from ``start``, each piece read with the file's header."""

    header: Header
    start: int
    first_line: int

    def cuts(self) -> _RowStarts:
        return _RowStarts()

    def read(
        self, stream: BinaryIO, source: str, options: ReadOptions, first_line: int, last: bool,
        take: Take | None,
    ) -> Iterator[Contact]:
        return read_range(stream, source, options, self.header, first_line, take)


class _RowStarts:
    """Finds the places after a line end where the quotes before it are balanced (a row
    starts there unless a cell's quote is open, which the piece's reader then finds)."""

    def __init__(self) -> None:
        self.quotes = 0  # parity of the quote characters from the first piece to the block

    def find(self, block: bytes, position: int, midline: bool) -> int | None:
        at = max(position - 1, 0)
        quotes = self.quotes + block.count(b'"', 0, at)
        while (found := block.find(b"\n", at)) >= 0 and found + 1 < len(block):
            quotes += block.count(b'"', at, found)
            if quotes & 1 == 0:
                return found + 1
            at = found + 1
        return None

    def passed(self, data: bytes) -> None:
        self.quotes = (self.quotes + data.count(b'"')) & 1
