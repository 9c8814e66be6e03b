"""The engine: books in, decisions out, a clean book collected on the side.

    books ─► read ─► normalize numbers ─► policy.decide ─► merge duplicates ─► Decision
                                                                          └► clean contacts

``Sanitizer.run`` is the one loop every caller goes through — the command line (``sanitize``,
``check``), the sync job (one phone or a fleet) and ``sanitize()``: it reads the books (files,
standard input, or contacts read elsewhere: ``ParsedBook``), decides every contact, hands each
Decision to ``on_decision``, writes the audit report and the clean book, and returns the
``Run``: that run's clean book and counts. Only the kept contacts are held, because a later
contact with the same number is merged into an earlier one; the report is spooled as decisions
come, so memory stays flat.

Most contacts of a large book have no evidence for any number: those take the quick path
(``_workers``: decided from what the reader offers, counted and rendered in batches, in worker
processes for a large file), every other contact the Decision path, in input order. Both give
the same result; docs/architecture.md says which contact takes which path and why. With
``fastpaths`` in reference mode every contact takes the Decision path, in one process.
``decisions()`` yields a Decision for every contact, for callers that iterate.
"""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from . import fastpaths, phones
from . import policy as _policy
from ._text import shown_path
from .books import ReadOptions, chunks, read_book, write_book
from .evidence import Evidence
from .evidence.identity import Identity
from .model import Contact, Decision, Reason, Take
from .policy import Policy
from .summary import Summary

if TYPE_CHECKING:
    from ._workers import Rendered
    from .report import ReportWriter
    from .report_html import HtmlReportWriter

__all__ = ["BookSource", "ParsedBook", "Result", "Run", "Sanitizer", "Summary", "sanitize"]

BookSource = str | Path | BinaryIO


@dataclass(frozen=True)
class ParsedBook:
    """A book already read, given to a run as its contacts: the contact list a phone's
    WhatsApp app holds (``check --app-contacts``), a sync source parsed once for many phones.
    ``label`` names it in the run's inputs; each contact keeps its own source and line."""

    label: str
    contacts: Sequence[Contact]


Book = BookSource | ParsedBook
# what a run is told as it goes: a decision, or how many contacts up to which line of a book
OnDecision = Callable[[Decision], None]
OnProgress = Callable[[int, str, int], None]
# a contact as read → the contact as the run sees it (its source and line, for the report)
Relabel = Callable[[Contact], Contact]
# a line of a book → the source and line it came from (a book joined from many: the sync
# source's cards, each named by its URL)
Places = Callable[[int], tuple[str, int]]


@dataclass
class Run:
    """What one run of a Sanitizer made: its clean book (kept contacts, input order), its
    counts, and the policy it ran under."""

    clean: list[Contact]
    summary: Summary
    policy: Policy

    def write(self, target: str | Path | BinaryIO, format: str = "vcard3") -> None:
        """Write the clean book (atomically when ``target`` is a path)."""
        _write_book(self.clean, target, format)


class Sanitizer:
    """Run the policy over books: ``run()`` (or iterate ``decisions()``).

    A Sanitizer is configuration only — evidence, policy, read options: every run keeps its
    state (clean book, counts, which evidence it matched) in a run object of its own, so the
    same Sanitizer can run again, or in several threads at once, and each run counts only its
    own books. The evidence is read with the policy's matching options
    (``Policy.match_ar_without_9`` is their one owner), as it is when the Sanitizer is built.
    ``clean`` and ``summary`` are those of the last run the calling thread started.
    """

    def __init__(
        self,
        evidence: Evidence,
        policy: Policy | None = None,
        read_options: ReadOptions | None = None,
    ) -> None:
        self.evidence = evidence
        self.policy = policy or Policy()
        self.read_options = read_options or ReadOptions()
        # resolved once here: every run's view shares the (read-only) resolution
        self._matching = evidence.matching(ar_without_9=self.policy.match_ar_without_9)
        self._matching.identities()
        self._local = threading.local()  # .outcome: the last run this thread started

    @property
    def clean(self) -> list[Contact]:
        """The clean book of the last run this thread started (kept contacts, input order)."""
        return self._outcome().clean

    @property
    def summary(self) -> Summary:
        """The counts of the last run this thread started."""
        return self._outcome().summary

    def run(
        self,
        books: Sequence[Book],
        *,
        jobs: int = 1,
        output: str | Path | BinaryIO | None = None,
        format: str = "vcard3",
        report: str | Path | BinaryIO | None = None,
        on_decision: OnDecision | None = None,
        on_progress: OnProgress | None = None,
        relabel: Relabel | None = None,
        places: Places | None = None,
        full_only: bool = False,
    ) -> Run:
        """Decide every contact of ``books``, in order, and return the run.

        ``books`` are paths, "-" (standard input), binary file objects or ``ParsedBook``s.
        ``jobs`` processes read a book file of 4 MB or more (Linux; one process elsewhere).
        ``output`` receives the clean book in ``format`` (vcard3, vcard4, csv) and ``report``
        the audit report (HTML for a .html path, else JSON), both atomically when paths, the
        book first. ``on_decision`` is called with every contact's Decision in input order;
        without it, contacts removed for want of any evidence are only counted and rendered
        into the report (faster). ``on_progress(count, source, line)`` follows the run as it
        reaches ``line`` of ``source``. ``relabel`` maps each contact read from a book to the
        contact the run reports; such a book is read in one process. ``places`` names the
        contacts of a book joined from many (line → source and line, as ``relabel`` would: the
        sync job names each source card's contacts by the card's URL), on the quick path too: its
        contacts are read as quickly as a book's. With ``full_only``, ``on_decision`` is called
        only with the Decisions of contacts decided in full (evidence for a number or the name,
        or in doubt); the others are counted and rendered into the report, as without
        ``on_decision``.
        """
        writer = None if report is None else _report_writer(report)
        try:
            # the quick path's batches stand for contacts without a Decision each
            entries = None if on_decision is not None and not full_only else writer is not None
            for item in self._items(books, jobs, entries, relabel, places):
                if isinstance(item, Decision):
                    if on_decision is not None:
                        on_decision(item)
                    if writer is not None:
                        writer.add(item)
                    if on_progress is not None:
                        on_progress(1, item.contact.source, item.contact.line)
                    continue
                if writer is not None:
                    writer.add_entries(item.data, item.count)
                if on_progress is not None:
                    on_progress(item.count, item.source, item.line)
            outcome = self._outcome()
            if output is not None:
                _write_book(outcome.clean, output, format)
            if writer is not None and report is not None:
                if isinstance(report, (str, Path)):
                    from ._atomic import atomic_write

                    with atomic_write(Path(report)) as stream:
                        writer.finish(stream, outcome.summary, self.policy)
                else:
                    writer.finish(report, outcome.summary, self.policy)
                    report.flush()
        finally:
            if writer is not None:
                writer.close()
        return Run(outcome.clean, outcome.summary, self.policy)

    def decisions(self, books: Sequence[Book]) -> Iterator[Decision]:
        """Yield one final Decision per input contact, in input order; ``clean`` and
        ``summary`` then hold the run's clean book and counts."""
        for item in self._items(books, 1, None, None, None):
            assert isinstance(item, Decision)
            yield item

    def _outcome(self) -> _Outcome:
        """The last run this thread started (a new, empty one if none)."""
        outcome: _Outcome | None = getattr(self._local, "outcome", None)
        if outcome is None:
            outcome = self._new_outcome()
        return outcome

    def _new_outcome(self) -> _Outcome:
        """A new run's state, now the one this thread's ``clean`` and ``summary`` show."""
        outcome = self._local.outcome = _Outcome(
            self._matching.matching(ar_without_9=self.policy.match_ar_without_9)
        )
        return outcome

    def _items(
        self,
        books: Sequence[Book],
        jobs: int,
        entries: bool | None,  # None: no Rendered batches, every contact a Decision
        relabel: Relabel | None,
        places: Places | None,
    ) -> Iterator[Decision | Rendered]:
        """The run's loop: a Decision per contact, or (``entries`` not None) quick batches for
        contacts without evidence and Decisions for the rest, in input order."""
        from . import _workers

        if not fastpaths.enabled():
            entries = None  # reference mode: the Decision path for every contact, here
        parallel = (entries is not None and jobs > 1 and relabel is None and places is None
                    and _workers.can_fork())
        if places is not None:
            relabel = _placed(places)
        with _rereadable(books) as sources:
            run = self._start(sources, relabel)
            for label, source in sources:
                plan = None
                if (parallel and isinstance(source, (str, Path))
                        and _workers.size(source) >= _workers.PARALLEL_MIN_BYTES):
                    plan = chunks.plan(source, label, self.read_options, _workers.CHUNK_BYTES)
                read = self._reader(label, source, relabel, places is not None)
                if entries is None:
                    yield from run.decide(read(None))
                elif plan is None:
                    yield from _workers.quickly(run, read, label, entries, places=places)
                else:
                    yield from _workers.parallel(run, plan, jobs, entries)
        run.outcome.finish()

    def _start(self, sources: list[tuple[str, Book]], relabel: Relabel | None) -> Pass:
        outcome = self._new_outcome()
        outcome.summary.inputs = [label for label, _ in sources]
        names = self._count_names(sources, relabel) if outcome.evidence.names else None
        return Pass(self, outcome, names)

    def _reader(
        self, label: str, source: Book, relabel: Relabel | None, placed: bool = False
    ) -> Callable[[Take | None], Iterable[Contact]]:
        """``read(take)``: the contacts of one book; ``take`` (the quick path) is offered the
        records of a book file, unless its contacts are relabelled (take sees them as read) —
        relabelled by ``places`` (``placed``), take is offered them and names them itself."""
        if isinstance(source, ParsedBook):
            contacts = source.contacts
            return lambda take: contacts if relabel is None else map(relabel, contacts)
        if relabel is not None and placed:
            return lambda take: map(relabel, self._read(label, source, take))
        if relabel is not None:
            return lambda take: map(relabel, self._read(label, source))
        return functools.partial(self._read, label, source)

    def _read(self, label: str, source: BookSource, take: Take | None = None) -> Iterator[Contact]:
        if isinstance(source, (str, Path)):
            return read_book(source, self.read_options, take=take)
        return read_book(source, self.read_options, name=label, take=take)

    def _count_names(
        self, sources: Sequence[tuple[str, Book]], relabel: Relabel | None
    ) -> Counter[str]:
        """Display names across all books: evidence given as a name applies only if unique."""
        counts: Counter[str] = Counter()
        for label, source in sources:
            for contact in self._reader(label, source, relabel)(None):
                if contact.error is None and contact.display_name:
                    counts[contact.display_name] += 1
            if not isinstance(source, (str, Path, ParsedBook)):
                source.seek(0)
        return counts


def unmatched_entry(identity: Identity) -> dict[str, Any]:
    """The report entry of an identity no book contact matched: its keys masked, what the
    evidence says, and how many sources said it (source names may hold the number)."""
    entry = identity.entry
    if entry.opted_out:
        state = "opted out"
    elif entry.initiated:
        state = "wrote first"
    elif entry.first_outbound_at is not None:
        state = "business wrote first"
    else:
        state = "no message from the person"
    return {
        "keys": identity.masked_keys(),
        "has_number": identity.number is not None,
        "state": state,
        "sources": len(entry.sources),
    }


class UnmatchedEvidence(Sequence[dict[str, Any]]):
    """The report entries (``unmatched_entry``) of the identities a run did not match, each
    made when it is read: a ledger of a million people becomes a million entries only for a
    report that lists them, not for a run that counts them. Equal to a list of the same
    entries."""

    def __init__(self, identities: list[Identity]) -> None:
        self._identities = identities

    def __len__(self) -> int:
        return len(self._identities)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [unmatched_entry(identity) for identity in self._identities[index]]
        return unmatched_entry(self._identities[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(unmatched_entry, self._identities)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, UnmatchedEvidence)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a list

    def __repr__(self) -> str:
        return f"<UnmatchedEvidence of {len(self)} identities>"


class _Outcome:
    """What one run of a Sanitizer builds: the clean book, its counts, and the evidence view
    that records what the run matched."""

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        self.clean: list[Contact] = []
        self.summary = Summary(
            # numbers, display names (chat exports of saved contacts) and user ids: identities
            evidence_identities=len(evidence.identities()),
            evidence_unmatchable=evidence.unmatchable,
            evidence_not_understood=dict(evidence.not_understood),
        )
        self._owner: dict[str, int] = {}  # E.164 → index in self.clean

    def collect(self, decision: Decision) -> Decision:
        """Keep a kept contact, or merge it into an earlier one that has one of its numbers."""
        output = decision.output
        if not decision.kept or output is None:
            return decision
        numbers = [p.value for p in output.phones]
        owners = sorted({self._owner[n] for n in numbers if n in self._owner})
        if not owners:
            self._owner.update(dict.fromkeys(numbers, len(self.clean)))
            self.clean.append(output)
            return decision
        target = owners[0]
        # numbers another kept contact already owns stay there: each number appears once
        unowned = replace(
            output, phones=tuple(p for p in output.phones if p.value not in self._owner)
        )
        self.clean[target] = _policy.merge(self.clean[target], unowned)
        self._owner.update(dict.fromkeys((p.value for p in unowned.phones), target))
        self.summary.merged += 1
        return replace(
            decision,
            kept=False,
            reason=Reason.MERGED_DUPLICATE,
            output=None,
            merged_into=self.clean[target].where,
            detail=f"same number as the contact at {self.clean[target].where}; merged into it",
        )

    def finish(self) -> None:
        """Count what the run kept and the evidence it did not match."""
        self.summary.contacts_kept = len(self.clean)
        self.summary.numbers_kept = sum(len(c.phones) for c in self.clean)
        self.summary.evidence_unmatched = UnmatchedEvidence(self.evidence.unmatched())


class Pass:
    """One pass of a Sanitizer over its books: what every contact's decision needs."""

    def __init__(
        self, sanitizer: Sanitizer, outcome: _Outcome, name_counts: Counter[str] | None
    ) -> None:
        self.sanitizer = sanitizer
        self.outcome = outcome
        self.now = sanitizer.policy.clock()
        self.region = sanitizer.policy.region
        self.name_counts = name_counts

    def decide(self, contacts: Iterable[Contact]) -> Iterator[Decision]:
        """The final decision for each contact, counted, in order."""
        quick, full, count = self.quick(), self.full, self.count
        for contact in contacts:
            decision = quick(contact) if quick is not None else None
            if decision is None:
                decision = full(contact)
            count(decision)
            yield decision

    def quick(self) -> Callable[[Contact], Decision | None] | None:
        """``policy.quick_decision`` for this run: most contacts of a large book have no
        evidence at all; None when the contact needs ``full`` (and no function at all in
        reference mode, where every contact takes ``full``)."""
        if not fastpaths.enabled():
            return None
        region = self.region
        normalize = phones.normalizer(region)
        evidence = self.outcome.evidence
        # normalize gives "+digits" or None: Evidence.lookup of such a number is a dict get
        lookup = evidence.number_index().get
        quick_decision = _policy.quick_decision
        if self.name_counts is None:
            return lambda contact: quick_decision(contact, normalize, lookup, region)
        by_name = evidence.by_name

        def quick(contact: Contact) -> Decision | None:
            # asked only where ``decide`` asks (a parsed contact with numbers): asking records
            # the name's evidence as matched
            if (contact.phones and contact.error is None
                    and by_name(contact.display_name) is not None):
                return None
            return quick_decision(contact, normalize, lookup, region)

        return quick

    def full(self, contact: Contact) -> Decision:
        """The Decision path: ``policy.decide``, then keep or merge the contact."""
        outcome = self.outcome
        numbers = _policy.normalize_numbers(contact, self.region)
        decision = _policy.decide(
            contact, numbers, outcome.evidence, self.sanitizer.policy, self.now, self.name_counts
        )
        return outcome.collect(decision)

    def count(self, decision: Decision) -> None:
        """Count one final decision into the run's summary."""
        self.outcome.summary.count(
            _REASON_VALUES[decision.reason],
            len(decision.numbers),
            decision.kept,
            _needs_region(decision) if self.region is None else 0,
        )


# Reason → its code: an Enum's .value is a Python-level property, read once per contact here
_REASON_VALUES = {reason: reason.value for reason in Reason}


def _report_writer(report: str | Path | BinaryIO) -> ReportWriter | HtmlReportWriter:
    """The writer of ``report``: HTML for a path named .html or .htm, else JSON."""
    if isinstance(report, (str, Path)):
        from .report_html import writer_for

        return writer_for(report)
    from .report import ReportWriter

    return ReportWriter()


def _write_book(contacts: list[Contact], target: str | Path | BinaryIO, fmt: str) -> None:
    """Write a clean book (atomically when ``target`` is a path)."""
    from ._atomic import atomic_write

    if isinstance(target, (str, Path)):
        with atomic_write(target) as stream:
            write_book(contacts, stream, fmt)
    else:
        write_book(contacts, target, fmt)
        target.flush()


def _needs_region(decision: Decision) -> int:
    """How many of the decision's numbers are invalid for want of a region (national ones)."""
    return sum(
        1
        for n in decision.numbers
        if n.reason is Reason.INVALID_NUMBER
        and phones.is_national(n.raw)
    )


def _placed(places: Places) -> Relabel:
    """The ``relabel`` of ``places``: each contact named by the source and line it came from."""

    def relabel(contact: Contact) -> Contact:
        source, line = places(contact.line)
        return replace(contact, source=source, line=line)

    return relabel


def _label(source: BookSource) -> str:
    if isinstance(source, (str, Path)):
        return shown_path(source)
    return shown_path(getattr(source, "name", "<stream>"))


class _rereadable:
    """Make standard input readable twice (the name pre-pass) by spooling it to a temp file."""

    def __init__(self, books: Sequence[Book]) -> None:
        self.books = books
        self._spools: list[IO[bytes]] = []

    def __enter__(self) -> list[tuple[str, Book]]:
        sources: list[tuple[str, Book]] = []
        for book in self.books:
            if isinstance(book, ParsedBook):
                sources.append((book.label, book))
            elif str(book) == "-":
                spool = tempfile.TemporaryFile()
                shutil.copyfileobj(sys.stdin.buffer, spool)
                spool.seek(0)
                self._spools.append(spool)
                sources.append(("-", spool))  # reports show standard input as "-"
            else:
                sources.append((_label(book), book))
        return sources

    def __exit__(self, *exc: object) -> None:
        for spool in self._spools:
            spool.close()


@dataclass
class Result:
    """The outcome of ``sanitize``: the clean book, one decision per input contact, counts."""

    contacts: list[Contact]
    decisions: list[Decision]
    summary: Summary
    policy: Policy

    def write(self, target: str | Path | BinaryIO, format: str = "vcard3") -> None:
        """Write the clean book (atomically when ``target`` is a path)."""
        _write_book(self.contacts, target, format)

    @property
    def report(self) -> dict[str, Any]:
        """The audit report as a dict (the JSON report's shape)."""
        from .report import build_report

        return build_report(self.decisions, self.summary, self.policy)

    def write_report(self, path: str | Path) -> None:
        """Write the audit report as JSON (atomically)."""
        from .report import write_report

        write_report(path, self.decisions, self.summary, self.policy)


def sanitize(
    books: BookSource | Sequence[BookSource],
    evidence: Evidence | Iterable[str | Path] = (),
    *,
    region: str | None = None,
    keep_fields: Iterable[str] = (),
    max_age: str | timedelta | None = None,
    match_ar_without_9: bool = False,
    me: str | None = None,
    date_order: str | None = None,
    input_format: str | None = None,
    phone_columns: Iterable[str] = (),
    name_columns: Iterable[str] = (),
    now: datetime | None = None,
) -> Result:
    """Sanitize address books against evidence of who wrote first; see the README.

    ``books`` are paths, "-" or binary file objects; ``evidence`` is an Evidence or a list of
    evidence sources (files, folders, globs, https:// URLs); ``me`` and ``date_order`` help
    reading chat exports (``--me``, ``--date-order``). The whole result is held in memory; for
    very large books use ``Sanitizer.run`` instead.
    """
    from .options import EvidenceOptions, RunOptions, sanitizer

    if isinstance(books, (str, Path)) or hasattr(books, "read"):
        books = [books]  # type: ignore[list-item]
    options = RunOptions(
        region=region,
        keep_fields=tuple(keep_fields),
        max_age=max_age,
        match_ar_without_9=match_ar_without_9,
        now=now,
        input_format=input_format,
        phone_columns=tuple(phone_columns),
        name_columns=tuple(name_columns),
    )
    if not isinstance(evidence, Evidence):
        evidence = EvidenceOptions(tuple(evidence), me=me, date_order=date_order).load()
    decisions: list[Decision] = []
    run = sanitizer(options, evidence).run(books, on_decision=decisions.append)
    return Result(run.clean, decisions, run.summary, run.policy)
