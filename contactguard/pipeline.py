"""The streaming pipeline: books in, decisions out, a clean book collected on the side.

    read_book ─► normalize numbers ─► policy.decide ─► merge duplicates ─► Decision stream
                                                                        └► clean contacts

Decisions stream (the report can be written as they come, memory stays flat); only the kept
contacts are held, because a later contact with the same number is merged into an earlier one.
The CLI, the sync job and Python callers all go through ``Sanitizer``.

For a large book file the CLI uses ``Sanitizer.stream``: ``books.chunks`` cuts the file where
cards or rows start, forked workers decide the common case of each piece (removed: no evidence
for any number) and render its report entries, and this process decides everything else in
input order — so merging, and every result, is what ``decisions()`` gives:

    file ─► pieces ─► workers: read, quick decision, report entries ─┐
                                                                      ├─► parent, in order:
                     contacts with evidence (or in doubt) ───────────┘   full decision, merge

A book ``stream`` reads in this process (``jobs=1``, a small file, standard input) goes the
same way, without the pieces. The quick path and the worker protocol live in the private
``_workers`` module.
``decisions()`` alone builds a Decision for every contact: the reference the tests hold the
rest to.
"""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from . import phones
from . import policy as _policy
from ._text import shown_path
from .books import ReadOptions, chunks, read_book, write_book
from .evidence import Evidence
from .evidence.identity import Identity
from .model import Contact, Decision, Reason, Take
from .policy import Policy

BookSource = str | Path | BinaryIO



@dataclass
class Summary:
    """Counts of one run; ``contacts_kept + contacts_removed == contacts_in`` always holds."""

    contacts_in: int = 0
    contacts_kept: int = 0
    contacts_removed: int = 0
    numbers_in: int = 0
    numbers_kept: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    merged: int = 0
    invalid_without_region: int = 0
    inputs: list[str] = field(default_factory=list)
    evidence_identities: int = 0
    evidence_unmatchable: int = 0
    # identities no book contact matched (masked, for the report), counted after the run
    evidence_unmatched: list[dict[str, Any]] = field(default_factory=list)
    evidence_not_understood: dict[str, int] = field(default_factory=dict)

    def count(self, reason: str, numbers: int, kept: bool, national: int) -> None:
        """Count one contact's final decision: its reason code, how many numbers it had, and
        how many of them were invalid for want of a region."""
        self.contacts_in += 1
        self.numbers_in += numbers
        self.reasons[reason] += 1
        if not kept:
            self.contacts_removed += 1
        self.invalid_without_region += national

    def count_removed(self, reasons: Sequence[str], numbers: int, national: int) -> None:
        """Count contacts that were all removed (the quick decisions of a batch): their reason
        codes, how many numbers they had, and how many were invalid for want of a region."""
        self.contacts_in += len(reasons)
        self.contacts_removed += len(reasons)
        self.numbers_in += numbers
        self.invalid_without_region += national
        self.reasons.update(reasons)

    def add(self, other: Summary) -> None:
        """Add the contact counts of ``other`` (a worker's share of a book)."""
        self.contacts_in += other.contacts_in
        self.numbers_in += other.numbers_in
        self.contacts_removed += other.contacts_removed
        self.invalid_without_region += other.invalid_without_region
        self.reasons.update(other.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "contacts_in": self.contacts_in,
            "contacts_kept": self.contacts_kept,
            "contacts_removed": self.contacts_removed,
            "numbers_in": self.numbers_in,
            "numbers_kept": self.numbers_kept,
            "reasons": dict(sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            "merged": self.merged,
            "evidence": {
                "identities": self.evidence_identities,
                "without_phone_number": self.evidence_unmatchable,
                "unmatched": len(self.evidence_unmatched),
                "not_understood": sum(self.evidence_not_understood.values()),
            },
        }


class Sanitizer:
    """Run the policy over books. Iterate ``decisions()``; then ``clean`` and ``summary`` hold
    the clean book (in input order) and the counts of the last run this thread started.

    A Sanitizer is configuration only: every run keeps its state (clean book, counts, which
    evidence it matched) in a run object of its own, so the same Sanitizer can run again, or
    in several threads at once, and each run counts only its own books. The evidence is read
    with the policy's matching options (``Policy.match_ar_without_9`` is their one owner), as
    it is when the Sanitizer is built.
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

    def decisions(self, books: Sequence[BookSource]) -> Iterator[Decision]:
        """Yield one final Decision per input contact, in input order."""
        return cast(Iterator[Decision], self._stream(books, 1, None))

    def decide_contacts(self, label: str, contacts: Iterable[Contact]) -> Iterator[Decision]:
        """``decisions()`` for contacts that come from elsewhere than a book file (the contact
        list a phone's WhatsApp app holds: ``check --app-contacts``), in their order. They
        continue the last run this thread started (``check`` counts a book and the app's
        contacts as one run), or start one."""
        held = list(contacts)
        outcome = self._outcome()
        outcome.summary.inputs = [*outcome.summary.inputs, label]
        names = (
            Counter(c.display_name for c in held if c.error is None and c.display_name)
            if outcome.evidence.names
            else None
        )
        yield from Pass(self, outcome, names).decide(held)
        outcome.finish()

    def stream(
        self,
        books: Sequence[BookSource],
        *,
        jobs: int = 1,
        entries: bool = False,
        chunk_bytes: int = chunks.CHUNK_BYTES,
        min_bytes: int | None = None,
    ) -> Iterator[Decision | Rendered]:
        """``decisions()`` for large books, spread over ``jobs`` processes.

        The common decision (removed: no evidence for any number) comes already counted, as
        ``Rendered`` batches, with their JSON report entries when ``entries``
        (``ReportWriter.add_rendered`` takes them). Every other contact is decided in this
        process, in input order, and yielded as a Decision, so merging works as in
        ``decisions()``. A book file of at least ``min_bytes`` (None: 4 MB) is cut into pieces
        of about ``chunk_bytes`` that worker processes read; smaller books, standard input,
        ``jobs=1`` and systems without ``fork`` are read in this process, in the same way.
        """
        return self._stream(books, jobs, entries, chunk_bytes, min_bytes)

    def _stream(
        self,
        books: Sequence[BookSource],
        jobs: int,
        entries: bool | None,  # None: no Rendered batches, every contact a Decision
        chunk_bytes: int = chunks.CHUNK_BYTES,
        min_bytes: int | None = None,
    ) -> Iterator[Decision | Rendered]:
        from . import _workers

        if min_bytes is None:
            min_bytes = _workers.PARALLEL_MIN_BYTES
        parallel = entries is not None and jobs > 1 and _workers.can_fork()
        with _rereadable(books) as sources:
            run = self._start(sources)
            outcome = run.outcome
            for label, source in sources:
                plan = None
                if (parallel and isinstance(source, (str, Path))
                        and _workers.size(source) >= min_bytes):
                    plan = chunks.plan(source, label, self.read_options, chunk_bytes)
                if entries is None:
                    yield from run.decide(self._read(label, source))
                elif plan is None:
                    read = functools.partial(self._read, label, source)
                    yield from _workers.quickly(run, read, label, entries)
                else:
                    yield from _workers.parallel(run, plan, jobs, entries)
        outcome.finish()

    def _start(self, sources: list[tuple[str, BookSource]]) -> Pass:
        outcome = self._new_outcome()
        outcome.summary.inputs = [label for label, _ in sources]
        name_counts = self._count_names(sources) if outcome.evidence.names else None
        return Pass(self, outcome, name_counts)

    def _read(self, label: str, source: BookSource, take: Take | None = None) -> Iterator[Contact]:
        if isinstance(source, (str, Path)):
            return read_book(source, self.read_options, take=take)
        return read_book(source, self.read_options, name=label, take=take)

    def _count_names(self, sources: Sequence[tuple[str, BookSource]]) -> Counter[str]:
        """Display names across all books: evidence given as a name applies only if unique."""
        counts: Counter[str] = Counter()
        for label, source in sources:
            for contact in self._read(label, source):
                if contact.error is None and contact.display_name:
                    counts[contact.display_name] += 1
            if not isinstance(source, (str, Path)):
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


# Reason → its code: an Enum's .value is a Python-level property, read once per contact here
_REASON_VALUES = {reason: reason.value for reason in Reason}


@dataclass(frozen=True, slots=True)
class Rendered:
    """Contacts the quick path decided (removed, no evidence for any number), in input order
    and already counted in the summary: how many, their JSON report entries (``b""`` unless
    asked for), and the line of the book reading has reached."""

    source: str
    line: int
    count: int
    data: bytes


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
        self.summary.evidence_unmatched = [
            unmatched_entry(identity) for identity in self.evidence.unmatched()
        ]


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
            decision = quick(contact)
            if decision is None:
                decision = full(contact)
            count(decision)
            yield decision

    def quick(self) -> Callable[[Contact], Decision | None]:
        """``policy.quick_decision`` for this run: most contacts of a large book have no
        evidence at all; None when the contact needs ``full``."""
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
            if by_name(contact.display_name) is not None:
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


def _needs_region(decision: Decision) -> int:
    """How many of the decision's numbers are invalid for want of a region (national ones)."""
    return sum(
        1
        for n in decision.numbers
        if n.reason is Reason.INVALID_NUMBER
        and phones.is_national(n.raw)
    )


def _label(source: BookSource) -> str:
    if isinstance(source, (str, Path)):
        return shown_path(source)
    return shown_path(getattr(source, "name", "<stream>"))


class _rereadable:
    """Make standard input readable twice (the name pre-pass) by spooling it to a temp file."""

    def __init__(self, books: Sequence[BookSource]) -> None:
        self.books = books
        self._spools: list[IO[bytes]] = []

    def __enter__(self) -> list[tuple[str, BookSource]]:
        sources: list[tuple[str, BookSource]] = []
        for book in self.books:
            if str(book) == "-":
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
        from ._atomic import atomic_write

        if isinstance(target, (str, Path)):
            with atomic_write(target) as stream:
                write_book(self.contacts, stream, format)
        else:
            write_book(self.contacts, target, format)

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
    very large books iterate ``Sanitizer.decisions()`` instead.
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
    engine = sanitizer(options, evidence)
    decisions = list(engine.decisions(books))
    return Result(engine.clean, decisions, engine.summary, engine.policy)
