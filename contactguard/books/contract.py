"""The book reader contract: what a format module offers the rest of contactguard.

Every format is a module (registered by name in ``books.READERS`` and ``books.WRITERS``) with

    read(stream: BinaryIO, source: str, options: ReadOptions, *, take: Take | None)
        -> Iterator[Contact]
    write(contacts: Iterable[Contact], stream: BinaryIO, format: str) -> None

and, when its files can be cut into pieces that read independently (the parallel pipeline's
workers, see ``books.chunks``), one more function, registered in ``books.PIECES``:

    pieces(stream: BinaryIO, source: str, options: ReadOptions) -> Pieces | None

which reads the head of a file (``stream`` at its start) and says where its records begin, how
to find a record start in a block of bytes (``Pieces.cuts``) and how to read a byte range of it
(``Pieces.read``); None: this file is read whole. ``books.chunks`` only plans and dispatches:
it walks the file in blocks, asks the format where a piece may start, and hands each piece to
the format's ``Pieces.read``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO, Protocol

from ..model import Contact, Take

if TYPE_CHECKING:
    from . import ReadOptions


class Cuts(Protocol):
    """Where pieces of one file may start, found block by block in file order."""

    def find(self, block: bytes, position: int, midline: bool) -> int | None:
        """The first place at or after ``position`` in ``block`` where a piece may start, or
        None. ``block`` starts where the previous one ended and ends with a line end (but the
        file's last); ``midline``: it starts inside a line (a long one, partly passed over)."""
        ...

    def passed(self, data: bytes) -> None:
        """``data`` (a block, or part of a long line) is behind: account for what it holds."""
        ...


class Pieces(Protocol):
    """How one file reads in pieces: where the first starts, how to cut, how to read one."""

    @property
    def start(self) -> int:
        """The byte where the first piece starts (after a header the format read)."""
        ...

    @property
    def first_line(self) -> int:
        """The file line the first piece starts on."""
        ...

    def cuts(self) -> Cuts:
        """A fresh cut finder for one walk through the file from ``start``."""
        ...

    def read(
        self, stream: BinaryIO, source: str, options: ReadOptions, first_line: int, last: bool,
        take: Take | None,
    ) -> Iterator[Contact]:
        """The contacts of one piece (``stream`` holds its bytes; it starts on file line
        ``first_line``; ``last``: nothing of the file follows), exactly as reading the whole
        file yields them there, less those ``take`` took. A piece that does not read as a part
        of the file (a cut inside a quoted cell) raises InputError: the pipeline then reads the
        rest of the file in one piece."""
        ...
