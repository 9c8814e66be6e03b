"""vCard 2.1, 3.0 and 4.0: read a card at a time, fastest tier first; write 3.0 or 4.0.

A large book is millions of cards, and vobject needs about 180 µs for one. So a card is read by
the fastest tier that is sure to give what vobject gives, and each tier hands what it is not
sure about to the next slower one::

    Reader.read(stream)                           one Reader holds the tiers and what they learnt
      │
      ├── reference mode (fastpaths) ──► the line reader without the light reader and without
      │                                   the plain-line shortcut: every card through vobject
      │
      ▼  segments of ~512 KiB, each cut where a line "BEGIN:VCARD" starts
    whole.WholeCardReader.read_segment    a whole light card matched by one expression built
      │                                   from the heads met so far (at C speed)
      │  anything else: a head not met yet, text between cards, a BOM, a lone CR, bytes that
      │  are not UTF-8, a card of more than 64 K characters or 102 lines, no card start
      │  for 4 MiB
      ▼
    lines.LineReader.read                 cut into cards line by line (line ends, BOMs, limits)
      │   └─► light.LightReader.card      a plain card from its lines (~12 µs); learns its heads
      │  not sure: folded or continued lines, encodings, escapes, quoted or unusual
      │  parameters, a field the caller wants (ReadOptions.fields), a card over a limit
      ▼
    repair.CardBuilder ─► repair.parse_card   repair what exporters get wrong, then vobject:
                                              the reference; a card that fails is `unparseable`

    writer.write ── writer.plain_serialize (FN, N, TEL, UID without escapes), else
                    writer.serialize (vobject; always in reference mode)

Each tier has one entry the differential tests hold to the next slower tier:
``WholeCardReader.read_segment`` and ``LineReader.read`` (tests/test_wholecards.py, the fuzz
targets), ``LightReader.card`` and ``parse_card`` (tests/test_fastpath.py),
``plain_serialize`` and ``serialize``; tests/test_reference.py holds the whole reader to
reference mode. A ``Reader`` keeps its state (segment and chunk sizes, the heads learnt, the
compiled expressions); the module's ``read`` uses one per process (``READER``), which threads
may share.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from ... import fastpaths
from ...model import Contact, Take
from .light import LightReader
from .lines import CHUNK, LineReader, byte_chunks, split_cards
from .repair import RawCard, parse_card
from .whole import WholeCardReader
from .writer import derived_uid, write

if TYPE_CHECKING:
    from .. import ReadOptions

__all__ = [
    "READER", "LightReader", "LineReader", "RawCard", "Reader", "VCardPieces", "WholeCardReader",
    "derived_uid", "parse_card", "pieces", "read", "split_cards", "write",
]

SEGMENT = 1 << 19  # bytes the whole-card reader takes at a time
SEGMENT_CAP = 1 << 22  # past this without a "BEGIN:VCARD" line, the rest is read line by line
_CARD_START, _CARD_START_CRLF = b"\nBEGIN:VCARD\n", b"\nBEGIN:VCARD\r\n"


class Reader:
    """The vCard tiers and what they learn while reading (see the module's drawing).

    ``chunk``: bytes read at a time; ``segment``: bytes the whole-card reader takes at a time;
    ``segment_cap``: past this without a "BEGIN:VCARD" line, the rest goes line by line.
    """

    def __init__(
        self, *, chunk: int = CHUNK, segment: int = SEGMENT, segment_cap: int = SEGMENT_CAP
    ) -> None:
        self.chunk = chunk
        self.segment = segment
        self.segment_cap = segment_cap
        self.light = LightReader()
        self.lines = LineReader(self.light.card)
        self.whole = WholeCardReader(self.light, self.lines)
        self.reference = LineReader(None, plain=False)

    def read(
        self,
        stream: BinaryIO,
        source: str,
        options: ReadOptions | None = None,
        *,
        first_line: int = 1,
        last: bool = True,
        take: Take | None = None,
    ) -> Iterator[Contact]:
        """``read`` with these tiers."""
        fields = options.fields if options is not None else None
        chunks = byte_chunks(stream, self.chunk)
        if not fastpaths.enabled():
            yield from self.reference.read(chunks, source, fields, first_line, last)
            return
        read_segment, segment_size, cap = self.whole.read_segment, self.segment, self.segment_cap
        buffer = bytearray()
        searched = 0  # how much of ``buffer`` holds no line "BEGIN:VCARD" (its end may start one)
        line = first_line
        # Segments of about ``segment`` bytes, each cut where a line "BEGIN:VCARD" starts: a
        # card starts there whatever came before (an open card ends), which is what lets a
        # segment be read on its own, as the parallel pipeline's pieces are.
        for chunk in chunks:
            buffer += chunk
            if len(buffer) < segment_size:
                continue
            start = max(searched - len(_CARD_START_CRLF), 0)
            cut = max(buffer.rfind(_CARD_START, start), buffer.rfind(_CARD_START_CRLF, start)) + 1
            if cut == 0:
                if len(buffer) > cap:  # no card starts for megabytes: a photo, or no vCard
                    rest = itertools.chain((bytes(buffer),), chunks)
                    yield from self.lines.read(rest, source, fields, line, last)
                    return
                searched = len(buffer)
                continue
            segment = bytes(memoryview(buffer)[:cut])
            del buffer[:cut]
            searched = len(buffer)  # the last start was cut at: none after it
            line += yield from read_segment(segment, source, fields, line, False, take)
        data = bytes(buffer)
        if data or line == first_line:  # an empty file is the line reader's error
            yield from read_segment(data, source, fields, line, last, take)


READER = Reader()


def read(
    stream: BinaryIO,
    source: str,
    options: ReadOptions | None = None,
    *,
    first_line: int = 1,
    last: bool = True,
    take: Take | None = None,
) -> Iterator[Contact]:
    """Yield the contacts of a vCard file one at a time, in file order.

    A card that cannot be parsed is yielded with ``error`` set; only a file that holds no card
    at all raises InputError.

    ``stream`` may also be a piece of a file cut at a line that begins a card (the parallel
    pipeline's chunks): ``first_line`` is the file line it starts on, and ``last`` is False when
    more of the file follows, so that a card left open at its end is reported as it would be in
    the whole file (the next card begins first) and a piece without cards is no error.

    ``take(line, display name, numbers as written)`` is offered the cards read whole (most
    cards of a large book, once its first ones are read): a card it returns True for is not
    yielded, and no Contact is built for it. The parallel pipeline's workers render the report
    entries of most cards so. Other cards are yielded as always: ``take`` must not rely on
    seeing any particular card.
    """
    return READER.read(stream, source, options, first_line=first_line, last=last, take=take)


# --------------------------------------------------------------------------- pieces


def pieces(stream: BinaryIO, source: str, options: ReadOptions) -> VCardPieces:
    """How a vCard file reads in pieces (the book reader contract, ``books.contract``): a
    piece starts at a line "BEGIN:VCARD", where a card starts whatever came before."""
    return VCardPieces()


@dataclass(frozen=True)
class VCardPieces:
    """A vCard file's pieces: from its start, cut before "BEGIN:VCARD" lines."""

    start: int = 0
    first_line: int = 1

    def cuts(self) -> _CardStarts:
        return _CardStarts()

    def read(
        self, stream: BinaryIO, source: str, options: ReadOptions, first_line: int, last: bool,
        take: Take | None,
    ) -> Iterator[Contact]:
        return read(stream, source, options, first_line=first_line, last=last, take=take)


_BEGIN = b"\nBEGIN:VCARD"


class _CardStarts:
    """Finds the lines "BEGIN:VCARD" (exactly: as the whole-card reader cuts its segments)."""

    def find(self, block: bytes, position: int, midline: bool) -> int | None:
        # a block starts a line (the one before ends with a line end) unless ``midline``
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

    def passed(self, data: bytes) -> None:
        pass  # a card start needs nothing from before the block
