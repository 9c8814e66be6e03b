"""Audit a phone's current address book: is it already what ``sanitize`` would write?

A book is clean when the pipeline would change nothing that matters: every contact is kept
(nothing removed, nothing merged), no number is stripped, and no contact holds a field beyond the
policy's allowed set. Anything else is a finding, for MDM compliance checks (``contactguard
check`` exits 3 when there is one). Formatting (national vs. E.164 spelling) is not a finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import Decision, Field
from .policy import Policy
from .report import contact_entry

__all__ = ["Finding", "finding"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One offending contact and what is wrong with it, in words a privacy officer reads."""

    decision: Decision
    problems: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The report entry (stripped numbers masked) plus the list of problems."""
        return {**contact_entry(self.decision), "problems": list(self.problems)}


# What a phone's own account adds to every card and that says nothing about the person:
# Google's CATEGORIES:myContacts (its "My Contacts" group), PRODID and REV (the readers carry
# neither as a field). sanitize drops them like any other field; check does not count them.
_ACCOUNT_FIELDS = {"CATEGORIES": frozenset({"mycontacts"}), "PRODID": None, "REV": None}


def _account_noise(field: Field) -> bool:
    """Whether ``field`` is account bookkeeping (see ``_ACCOUNT_FIELDS``), not personal data."""
    if field.name not in _ACCOUNT_FIELDS:
        return False
    allowed = _ACCOUNT_FIELDS[field.name]
    if allowed is None:
        return True
    values = (field.value,) if isinstance(field.value, str) else field.value
    parts = [part.strip().lower() for value in values for part in value.split(",")]
    return all(part in allowed for part in parts if part) and any(parts)


def finding(decision: Decision, policy: Policy) -> Finding | None:
    """The finding for one decision, or None when the contact may stay on the phone as it is."""
    entry = contact_entry(decision)
    problems: list[str] = []
    if not decision.kept:
        problems.append(f"contact would be removed: {entry['reason']}")
    # a removed contact's numbers all go with it; listing each again adds nothing
    if decision.kept:
        problems.extend(
            f"number would be stripped: {n['number']} ({n['reason']})"
            for n in entry["numbers"]
            if n["decision"] == "stripped"
        )
    extra = sorted(
        {f.name for f in decision.contact.fields if not _account_noise(f)}
        - policy.allowed_fields
    )
    if extra:
        problems.append("fields beyond the allowed set: " + ", ".join(extra))
    return Finding(decision, tuple(problems)) if problems else None
