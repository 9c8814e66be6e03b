"""A run's counts (``Summary``) and their short text for stderr.

Kept apart from ``pipeline`` and ``report`` so that a sync run that reuses its last decisions
shows them without importing the engine (phone numbers, evidence, policy).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Summary", "summary_text"]


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
    # identities no book contact matched (masked, for the report), counted after the run; a
    # run's are made when read (``pipeline.UnmatchedEvidence``)
    evidence_unmatched: Sequence[dict[str, Any]] = field(default_factory=list)
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


def summary_text(summary: Any, *, dry_run: bool = False) -> str:
    """A short human summary for stderr."""
    from ._text import count

    s = summary
    lines = [
        f"contactguard: {count(s.contacts_in, 'contact')} read, {s.contacts_kept:,} kept, "
        f"{s.contacts_removed:,} removed ({count(s.numbers_in, 'number')} read, "
        f"{s.numbers_kept:,} kept)"
        + (" [dry run: nothing written but the report]" if dry_run else "")
    ]
    removed = {k: v for k, v in s.reasons.items() if k != "inbound-first"}
    if removed:
        ordered = sorted(removed.items(), key=lambda kv: (-kv[1], kv[0]))
        parts = ", ".join(f"{k} {v}" for k, v in ordered)
        lines.append(f"  removed: {parts}")
    if s.merged:
        lines.append(f"  merged: {count(s.merged, 'contact')} shared a number with an earlier one")
    if s.invalid_without_region:
        lines.append(
            f"  hint: {count(s.invalid_without_region, 'national number')} could not be read "
            "without a region: pass --region (e.g. --region DE)"
        )
    unmatched = len(getattr(s, "evidence_unmatched", ()))
    if unmatched:
        lines.append(
            f"  note: {count(unmatched, 'evidence identity', 'evidence identities')} matched no "
            "contact"
            + (f", {s.evidence_unmatchable} of them without a phone number (only a user id, "
               "username or LID), which no book number can match"
               if s.evidence_unmatchable else "")
            + "; the report lists them (masked)"
        )
    elif s.evidence_unmatchable:
        lines.append(
            f"  note: {count(s.evidence_unmatchable, 'evidence identity', 'evidence identities')}"
            f" {'carries' if s.evidence_unmatchable == 1 else 'carry'} no phone number "
            "(only a user id, username or LID) and cannot match a book number"
        )
    not_understood = getattr(s, "evidence_not_understood", {})
    if not_understood:
        parts = ", ".join(f"{n} × {what}" for what, n in sorted(not_understood.items()))
        lines.append(f"  not understood (not evidence): {parts}")
    return "\n".join(lines)
