"""Address-book formats: sniff, read as a stream of Contacts, write a clean book.

Every format is a module with the same two functions (registered by name in ``READERS`` and
``WRITERS``), and one more where its files can be cut into pieces for workers (``PIECES``);
``contract`` describes them:

    read(stream: BinaryIO, source: str, options: ReadOptions, *, take: Take | None)
        -> Iterator[Contact]
    write(contacts: Iterable[Contact], stream: BinaryIO, format: str) -> None
    pieces(stream: BinaryIO, source: str, options: ReadOptions) -> contract.Pieces | None

Readers take a binary file object and never seek backwards more than the sniffed head, so that
standard input works; they yield one Contact at a time (memory stays flat).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .._text import shown_path
from ..errors import InputError
from ..model import Contact, Take

if TYPE_CHECKING:
    from .contract import Pieces

INPUT_FORMATS = ("vcard", "csv")
OUTPUT_FORMATS = ("vcard3", "vcard4", "csv")


@dataclass(frozen=True)
class ReadOptions:
    """How to read a book; the column overrides apply to CSV only."""

    input_format: str | None = None  # "vcard" | "csv"; None: sniffed from the content
    phone_columns: tuple[str, ...] = ()  # --phone-column: header names holding numbers
    name_columns: tuple[str, ...] = ()  # --name-column: header names holding the display name
    # The fields (besides FN, N, TEL, UID) the caller will look at; None: all of them. A reader
    # may leave other fields out of the Contacts it yields, which lets it skip work: the vCard
    # reader then decides most cards without vobject.
    fields: frozenset[str] | None = None


def sniff(head: bytes) -> str | None:
    """Detect the format from the first bytes of a file: "vcard", "csv" or None."""
    text = _decode_head(head)
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:11].upper().startswith("BEGIN:VCARD"):
        return "vcard"
    first_line = stripped.split("\n", 1)[0]
    if first_line.count(",") + first_line.count(";") + first_line.count("\t") >= 1:
        return "csv"
    return None


def _decode_head(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    return head.decode("utf-8", errors="replace")


def open_source(source: str | Path) -> BinaryIO:
    """Open a book for reading (never for writing); "-" is standard input."""
    if str(source) == "-":
        return sys.stdin.buffer
    path = Path(source)
    try:
        return path.open("rb")
    except FileNotFoundError as exc:
        raise InputError("no such file", file=shown_path(source)) from exc
    except IsADirectoryError as exc:
        raise InputError("is a folder, not an address book", file=shown_path(source)) from exc
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", file=shown_path(source)) from exc


def read_book(
    source: str | Path | BinaryIO,
    options: ReadOptions | None = None,
    *,
    name: str | None = None,
    take: Take | None = None,
) -> Iterator[Contact]:
    """Yield the contacts of one address book, one at a time.

    ``source`` is a path, "-" for standard input, or a binary file object (then ``name`` is what
    reports show as its source). Raises InputError for a missing, empty or unrecognised file.

    ``take(line, display name, numbers as written)`` is offered the plain cards and rows before
    a Contact is built for them: one it returns True for is not yielded (see ``vcard.read`` and
    ``csv.read``). The pipeline renders most report entries so (the quick path).
    """
    options = options or ReadOptions()
    if isinstance(source, (str, Path)):
        label = shown_path(source) if name is None else name
        stream = open_source(source)
        close = str(source) != "-"
    else:
        label = name or str(getattr(source, "name", "<stream>"))
        stream, close = source, False
    try:
        yield from _read_stream(stream, label, options, take)
    finally:
        if close:
            stream.close()


def _read_stream(
    stream: BinaryIO, label: str, options: ReadOptions, take: Take | None
) -> Iterator[Contact]:
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(_Raw(stream))
    head = buffered.peek(4096)[:4096]
    if not head.strip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n"):
        raise InputError("is empty: no contacts to read", file=label)
    fmt = options.input_format or sniff(head)
    if fmt is None:
        raise InputError(
            "is not an address book (expected a vCard or a CSV export; "
            "pass --input-format vcard|csv if it is one)",
            file=label,
            line=1,
        )
    if fmt not in INPUT_FORMATS:
        raise InputError(f"unknown input format {fmt!r}", file=label)
    yield from READERS[fmt](buffered, label, options, take=take)


class _Raw(io.RawIOBase):
    """Adapter so that any binary file object (BytesIO, a pipe) can be peeked at."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def write_book(contacts: Iterable[Contact], stream: BinaryIO, fmt: str = "vcard3") -> None:
    """Write contacts in one of OUTPUT_FORMATS to a binary stream, in the order given."""
    if fmt not in OUTPUT_FORMATS:
        choices = ", ".join(OUTPUT_FORMATS)
        raise ValueError(f"unknown output format {fmt!r}; choose one of {choices}")
    WRITERS[fmt](contacts, stream, fmt)


from . import vcard as _vcard  # noqa: E402  (the registries below need the module)


# The CSV module (~15 ms of imports and compiled patterns) is imported on first use only: a
# vCard run never needs it (start-up time).
def _read_csv(
    stream: BinaryIO, source: str, options: ReadOptions, *, take: Take | None = None
) -> Iterator[Contact]:
    from . import csv

    return csv.read(stream, source, options, take)


def _write_csv(contacts: Iterable[Contact], stream: BinaryIO, fmt: str) -> None:
    from . import csv

    csv.write(contacts, stream, fmt)


def _csv_pieces(stream: BinaryIO, source: str, options: ReadOptions) -> Pieces | None:
    from . import csv

    return csv.pieces(stream, source, options)


READERS = {"vcard": _vcard.read, "csv": _read_csv}
# The formats whose files can be cut into pieces for workers (see ``contract`` and ``chunks``).
PIECES: dict[str, Callable[[BinaryIO, str, ReadOptions], Pieces | None]] = {
    "vcard": _vcard.pieces, "csv": _csv_pieces,
}
WRITERS = {"vcard3": _vcard.write, "vcard4": _vcard.write, "csv": _write_csv}
