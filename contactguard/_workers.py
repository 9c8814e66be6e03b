"""The engine's quick path and its worker processes (private to ``pipeline``).

Most contacts of a large book have no evidence for any number: they are removed, and building a
Decision for each of them was most of a run. Here they are decided from what the reader offers
(``take(line, name, numbers)``: a card or row that never becomes a Contact), counted, and their
JSON report entries rendered in batches (``Rendered``). Every other contact goes back to the
run as it is, for the full decision, in input order — so merging, and every result, is what a
Decision for every contact gives (docs/architecture.md, "Which path a contact takes").

    file ─► pieces ─► workers: read, quick decision, report entries ─┐
                                                                      ├─► parent, in order:
                     contacts with evidence (or in doubt) ───────────┘   full decision, merge

A book read in this process (``jobs=1``, a small file, standard input) goes the same way, without
the pieces: ``quick_items`` is what a worker does and what this process does. Nothing here runs
in reference mode (``fastpaths``): the run then decides every contact in full, in one process.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import phones
from . import policy as _policy
from .books import chunks
from .errors import ContactguardError
from .model import Contact, Decision, Take
from .summary import Summary

if TYPE_CHECKING:
    from .pipeline import Pass

# below this a book is read in one process: starting workers costs more than they save
PARALLEL_MIN_BYTES = 4 << 20
# the size of the pieces a book is cut into for the workers
CHUNK_BYTES = chunks.CHUNK_BYTES
# Rendered entries per batch: one write to the report spool, and memory stays flat where a
# whole book is read in one process
BATCH = 1024

# (the entry, its reason code, how many numbers, how many invalid for want of a region)
Parts = tuple[str, str, int, int]
# (source, line, display name, the numbers as written) → Parts, or None: the full decision
QuickParts = Callable[[str, int, str, Sequence[str]], "Parts | None"]
Read = Callable[[Take | None], Iterable[Contact]]


@dataclass(frozen=True, slots=True)
class Rendered:
    """Contacts the quick path decided (removed, no evidence for any number), in input order
    and already counted in the summary: how many, their JSON report entries (``b""`` unless
    asked for), and the line of the book reading has reached."""

    source: str
    line: int
    count: int
    data: bytes


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and sys.platform == "linux"


def size(path: str | os.PathLike[str]) -> int:
    try:
        return os.stat(path).st_size  # noqa: PTH116
    except OSError:
        return 0


def quick_parts(run: Pass, render: bool = True) -> QuickParts:
    """``entry_json(policy.quick_decision(...))`` of a parsed contact given by its parts (its
    source, line, display name and numbers as written), without building the decision: the
    entry, its reason code, how many numbers, and how many of them are invalid for want of a
    region; None where quick_decision is None (evidence for a number, or under the name).
    ``policy`` says the reason and its detail, ``report`` renders the entry. Without
    ``render`` the entry is "" (a run that writes no JSON report counts only)."""
    from .model import Reason
    from .report import removed_entries

    region = run.region
    normalize = phones.normalizer(region)
    evidence = run.outcome.evidence
    # normalize gives "+digits" or None: Evidence.lookup of such a number is a dict get
    lookup = evidence.number_index().get
    by_name = evidence.by_name if run.name_counts is not None else None
    # the policy's rule over all it depends on: a valid number (then any number), or none
    # valid but some, or no number at all
    rule = _policy.reason_without_evidence
    some_valid, none_valid, no_number = rule(True, True), rule(False, True), rule(False, False)
    codes = {reason: reason.value for reason in Reason}  # .value is a Python-level property
    invalid, valid_entry, removed = removed_entries(
        {reason: _policy.removed_detail(reason, region) for reason in Reason}
    )
    need_region = region is None
    is_national = phones.is_national

    def parts(source: str, line: int, name: str, raws: Sequence[str]) -> Parts | None:
        if by_name is not None and raws and by_name(name) is not None:
            # evidence under the name: the full decision (asked only where ``decide`` asks, a
            # contact with numbers: asking records the name's evidence as matched)
            return None
        numbers = []
        valid = False
        national = 0
        for raw in raws:
            e164 = normalize(raw)
            if e164 is None:
                numbers.append(invalid(raw) if render else raw)
                if need_region and is_national(raw):
                    national += 1
            elif lookup(e164) is not None:
                return None  # evidence: the full decision
            else:
                valid = True
                numbers.append(valid_entry(e164) if render else raw)
        reason = some_valid if valid else none_valid if numbers else no_number
        if not render:
            return "", codes[reason], len(numbers), national
        return removed(source, line, name, reason, numbers), codes[reason], len(numbers), national

    return parts


def quick_items(
    run: Pass,
    read: Read,
    label: str,
    first_line: int,
    entries: bool,
    summary: Summary,
    places: Callable[[int], tuple[str, int]] | None = None,
) -> Iterator[Rendered | Contact]:
    """The contacts ``read(take)`` gives (a book, or a piece of one from ``first_line``) in
    order: the quick decisions (removed, no evidence for any number) in ``Rendered`` batches,
    with their report entries when ``entries``, counted into ``summary`` as they are yielded;
    every other contact as it is, for the full decision. ``places`` names the contacts
    ``take`` is offered (line → source and line: a joined book's); ``read`` names the rest."""
    from .report import join_entries

    batch: list[str] = []  # the entries since the last item
    reasons: list[str] = []  # of the quick decisions, which all remove
    numbers = national = 0
    line = first_line  # the line reading has reached
    limit = BATCH

    def add(got: Parts | None, at: int) -> bool:
        """Count a quick decision into the batch; False (and nothing done) for None."""
        nonlocal numbers, national, line
        if got is None:
            return False
        text, code, count, invalid = got
        batch.append(text)
        reasons.append(code)
        numbers += count
        national += invalid
        line = at
        return True

    def rendered() -> Rendered:
        """The batch so far, counted into ``summary``; the batch starts afresh."""
        nonlocal numbers, national
        summary.count_removed(reasons, numbers, national)
        done = Rendered(label, line, len(batch), join_entries(batch) if entries else b"")
        batch.clear()
        reasons.clear()
        numbers = national = 0
        return done

    # the readers offer most contacts to ``take``; the loop decides the ones they yield
    parts = quick_parts(run, entries)

    def take(at: int, name: str, phones: list[str]) -> bool:
        # a full batch declines: the contact comes to the loop below, which decides it
        if len(batch) >= limit:
            return False
        if places is None:
            return add(parts(label, at, name, phones), at)
        source, line = places(at)
        return add(parts(source, line, name, phones), at)

    for contact in read(take):
        if len(batch) >= limit:
            yield rendered()
        if contact.error is None:
            numbers_written = [phone.value for phone in contact.phones]
            got = parts(contact.source, contact.line, contact.display_name, numbers_written)
            if add(got, contact.line):
                continue
        if batch:
            yield rendered()
        yield contact
    if batch:
        yield rendered()


def settle(run: Pass, items: Iterable[Rendered | Contact]) -> Iterator[Decision | Rendered]:
    """What ``quick_items`` gives, with the contacts it left decided in full, in order."""
    count, full = run.count, run.full
    for item in items:
        if isinstance(item, Rendered):
            yield item
            continue
        decision = full(item)
        count(decision)
        yield decision


def quickly(
    run: Pass,
    read: Read,
    label: str,
    entries: bool,
    first_line: int = 1,
    places: Callable[[int], tuple[str, int]] | None = None,
) -> Iterator[Decision | Rendered]:
    """Decide what ``read`` gives here as a worker would (see ``quick_items``), and the rest in
    full: a book read in this process (``places``: see ``quick_items``)."""
    items = quick_items(run, read, label, first_line, entries, run.outcome.summary, places)
    return settle(run, items)


def parallel(
    run: Pass, plan: chunks.Plan, jobs: int, entries: bool
) -> Iterator[Decision | Rendered]:
    """Decide one book in pieces: workers do the quick decisions, this process the rest."""
    # forked before any thread starts, the workers inherit this run: nothing is pickled but
    # the pieces' positions going out and their outcomes coming back; the evidence index and
    # the fast number path (checked against phonenumbers) are built here once, not in every
    # worker (and so are what the report's renderers learn on first use)
    run.outcome.evidence.number_index()
    phones.normalizer(run.region)
    quick_parts(run, entries)
    workers = ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_init,
        initargs=(run, plan, entries),
    )
    summary = run.outcome.summary
    pieces = plan.chunks()  # a generator: closed when done with, which closes the file
    failed: chunks.Chunk | None = None
    window: deque[tuple[chunks.Chunk, Future[_Piece | None]]] = deque()

    def send(count: int) -> chunks.Chunk | None:
        """Hand the next ``count`` pieces to the workers; the one they no longer take."""
        for chunk in itertools.islice(pieces, count):
            try:
                window.append((chunk, workers.submit(_work, chunk)))
            except BrokenProcessPool:  # a worker died: an earlier piece will say so
                return chunk
        return None

    try:
        # a window of pieces in flight keeps memory flat whatever the book's size
        unsent = send(2 * jobs)
        while window:
            chunk, pending = window.popleft()
            try:
                piece = pending.result()
            except BrokenProcessPool:  # a worker was killed (out of memory, a signal)
                piece = None
            if piece is None:
                failed = chunk
                break
            if unsent is None:
                unsent = send(1)
            items, counts = piece
            summary.add(counts)
            yield from settle(run, items)
        if failed is None:
            failed = unsent  # None when every piece was read
    finally:
        workers.shutdown(wait=True, cancel_futures=True)
        pieces.close()
    if failed is not None:
        # the piece did not read as a part of the file (a CSV cut inside a quoted cell, an
        # error in the book, a worker that died): read the rest here, which is what reading
        # the whole file does from this piece on, error included
        rest = chunks.Chunk(failed.start, None, failed.first_line, True)
        options = run.sanitizer.read_options
        read = functools.partial(chunks.read_chunk, plan, rest, options)
        yield from quickly(run, read, plan.label, entries, rest.first_line)


# A piece's outcome: its items in order (Rendered runs of quick decisions, and the Contacts
# that need the full decision) and the counts of the quick decisions.
_Piece = tuple[list["Rendered | Contact"], Summary]
_WORK: tuple[Pass, chunks.Plan, bool] | None = None  # in a worker: its run, book and task


def _worker_init(run: Pass, plan: chunks.Plan, entries: bool) -> None:
    global _WORK
    _WORK = (run, plan, entries)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _work(chunk: chunks.Chunk) -> _Piece | None:
    """In a worker: the quick decisions of one piece; None when the piece cannot be read."""
    assert _WORK is not None
    run, plan, entries = _WORK
    options = run.sanitizer.read_options
    summary = Summary()
    try:
        read = functools.partial(chunks.read_chunk, plan, chunk, options)
        items = list(quick_items(run, read, plan.label, chunk.first_line, entries, summary))
    except ContactguardError:
        return None
    return items, summary
