"""The streaming pipeline: books in, decisions out, a clean book collected on the side.

    read_book ─► normalize numbers ─► policy.decide ─► merge duplicates ─► Decision stream
                                                                        └► clean contacts

Decisions stream (the report can be written as they come, memory stays flat); only the kept
contacts are held, because a later contact with the same number is merged into an earlier one.
The CLI, the sync job and Python callers all go through ``Sanitizer``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO

from . import phones
from . import policy as _policy
from .books import ReadOptions, read_book, write_book
from .evidence import Evidence, load_evidence
from .model import Contact, Decision, Reason
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
            },
        }


class Sanitizer:
    """Run the policy over books. Iterate ``decisions()`` once; then ``clean`` and ``summary``
    hold the clean book (in input order) and the counts."""

    def __init__(
        self,
        evidence: Evidence,
        policy: Policy | None = None,
        read_options: ReadOptions | None = None,
    ) -> None:
        self.evidence = evidence
        self.policy = policy or Policy()
        self.read_options = read_options or ReadOptions()
        self.clean: list[Contact] = []
        self.summary = Summary(
            # numbers and display names (chat exports of saved contacts) are both identities
            evidence_identities=len(evidence) + len(evidence.names),
            evidence_unmatchable=evidence.unmatchable,
        )
        self._owner: dict[str, int] = {}  # E.164 → index in self.clean

    def decisions(self, books: Sequence[BookSource]) -> Iterator[Decision]:
        """Yield one final Decision per input contact, in input order."""
        now = self.policy.clock()
        region = self.policy.region
        normalize = phones.normalizer(region)
        # normalize gives "+digits" or None: Evidence.lookup of such a number is a dict get
        lookup = self.evidence.number_index().get
        by_name = self.evidence.by_name
        quick_decision = _policy.quick_decision
        summary, reasons = self.summary, self.summary.reasons
        with _rereadable(books) as sources:
            self.summary.inputs = [label for label, _ in sources]
            name_counts = self._count_names(sources) if self.evidence.names else None
            for label, source in sources:
                for contact in self._read(label, source):
                    # most contacts of a large book have no evidence at all (issue 5)
                    decision = (
                        quick_decision(contact, normalize, lookup, region)
                        if name_counts is None or by_name(contact.display_name) is None
                        else None
                    )
                    if decision is None:
                        numbers = _policy.normalize_numbers(contact, region)
                        decision = _policy.decide(
                            contact, numbers, self.evidence, self.policy, now, name_counts
                        )
                        decision = self._collect(decision)
                    # self._count(decision), inline: it runs once per contact
                    summary.contacts_in += 1
                    summary.numbers_in += len(decision.numbers)
                    reasons[_REASON_VALUES[decision.reason]] += 1
                    if not decision.kept:
                        summary.contacts_removed += 1
                    if region is None:
                        summary.invalid_without_region += _needs_region(decision)
                    yield decision
        self.summary.contacts_kept = len(self.clean)
        self.summary.numbers_kept = sum(len(c.phones) for c in self.clean)

    def _read(self, label: str, source: BookSource) -> Iterator[Contact]:
        if isinstance(source, (str, Path)):
            return read_book(source, self.read_options)
        return read_book(source, self.read_options, name=label)

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

    def _collect(self, decision: Decision) -> Decision:
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


# Reason → its code: an Enum's .value is a Python-level property, read once per contact here
_REASON_VALUES = {reason: reason.value for reason in Reason}


def _needs_region(decision: Decision) -> int:
    """How many of the decision's numbers are invalid for want of a region (national ones)."""
    return sum(
        1
        for n in decision.numbers
        if n.reason is Reason.INVALID_NUMBER
        and not n.raw.lstrip().startswith(("+", "00", "tel:+"))
    )


def _label(source: BookSource) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return str(getattr(source, "name", "<stream>"))


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


def parse_max_age(text: str | timedelta | None) -> timedelta | None:
    """"365d", "52w", "12h" or a number of days → timedelta; None stays None."""
    from .errors import ConfigError

    if text is None or isinstance(text, timedelta):
        return text
    value = text.strip().lower()
    units = {"d": 1.0, "w": 7.0, "h": 1 / 24}
    try:
        if value and value[-1] in units:
            return timedelta(days=float(value[:-1]) * units[value[-1]])
        return timedelta(days=float(value))
    except (ValueError, OverflowError) as exc:  # "inf", "1e12d": no timedelta holds them
        raise ConfigError(f"max age {text!r} is not a duration such as 365d, 52w or 12h") from exc


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
    if isinstance(books, (str, Path)) or hasattr(books, "read"):
        books = [books]  # type: ignore[list-item]
    if not isinstance(evidence, Evidence):
        evidence = load_evidence(
            evidence, ar_without_9=match_ar_without_9, me=me, date_order=date_order
        )
    policy = Policy(
        region=region,
        keep_fields=frozenset(keep_fields),
        max_age=parse_max_age(max_age),
        match_ar_without_9=match_ar_without_9,
        now=now,
    )
    options = ReadOptions(
        input_format=input_format,
        phone_columns=tuple(phone_columns),
        name_columns=tuple(name_columns),
    )
    sanitizer = Sanitizer(evidence, policy, options)
    decisions = list(sanitizer.decisions(books))
    return Result(sanitizer.clean, decisions, sanitizer.summary, policy)
