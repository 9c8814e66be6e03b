"""The decision for one contact: a pure function of (contact, evidence, policy).

A contact is kept iff at least one of its numbers has inbound-first evidence, is not opted out
and not expired (docs/architecture.md). Only those numbers stay; every other number is stripped,
because it may belong to a third party. Fields are minimised to FN, N, TEL, UID plus the fields
the policy names explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from . import phones
from .evidence import Evidence
from .guards import check_keep_fields
from .model import (
    Contact,
    Decision,
    EvidenceEntry,
    Number,
    NumberDecision,
    Phone,
    Reason,
    new_decision,
    new_number_decision,
)

BASE_FIELDS = frozenset({"FN", "N", "TEL", "UID"})

# When no number of a contact is kept, the contact's reason is the most telling of its numbers'
# reasons: a recorded wish (opt-out) or a business-first chat says more than missing evidence.
_CONTACT_REASON_ORDER = (
    Reason.OPTED_OUT,
    Reason.BUSINESS_INITIATED,
    Reason.EXPIRED,
    Reason.AMBIGUOUS_NUMBER,
    Reason.AMBIGUOUS_NAME,
    Reason.NO_EVIDENCE,
    Reason.INVALID_NUMBER,
)


@dataclass(frozen=True)
class Policy:
    """What the clean book may hold.

    ``region`` is the default region for national numbers (ISO 3166 code such as "DE");
    ``keep_fields`` adds fields beyond FN, N, TEL, UID (e.g. {"ORG", "EMAIL"}); ``max_age``
    removes people whose last inbound message is older; ``now`` fixes the clock for expiry.
    """

    region: str | None = None
    keep_fields: frozenset[str] = frozenset()
    max_age: timedelta | None = None
    match_ar_without_9: bool = False
    now: datetime | None = None

    def __post_init__(self) -> None:
        # one rule for what a clean book can carry, shared with the command line and the sync
        # config: a field the readers never carry (X-, binary, metadata) or that is no vCard
        # property would silently do nothing, and check and sanitize must agree on the book
        object.__setattr__(
            self, "keep_fields", check_keep_fields(self.keep_fields, where="keep_fields")
        )
        if self.region is not None:
            object.__setattr__(self, "region", self.region.upper())

    @property
    def allowed_fields(self) -> frozenset[str]:
        return BASE_FIELDS | self.keep_fields

    def clock(self) -> datetime:
        return self.now if self.now is not None else datetime.now(timezone.utc)


def normalize_numbers(contact: Contact, region: str | None) -> tuple[Number, ...]:
    """Each book number with its E.164 form (None when it is not a valid number)."""
    normalize = phones.normalizer(region)
    return tuple(Number(p.value, normalize(p.value), p.types) for p in contact.phones)


def decide(
    contact: Contact,
    numbers: tuple[Number, ...],
    evidence: Evidence,
    policy: Policy,
    now: datetime,
    name_counts: Mapping[str, int] | None = None,
) -> Decision:
    """Decide one contact. ``name_counts`` counts book contacts per display name, for evidence
    that names a person instead of giving a number (chat exports of saved contacts)."""
    if contact.error is not None:
        return Decision(contact, False, Reason.UNPARSEABLE, _strip_all(numbers, Reason.UNPARSEABLE),
                        detail=contact.error)
    if not numbers:
        return Decision(contact, False, Reason.NO_NUMBER)

    name_entry, name_reason = _name_evidence(contact, numbers, evidence, name_counts)
    decided = tuple(
        _decide_number(n, evidence, policy, now, name_entry, name_reason) for n in numbers
    )
    kept = [d for d in decided if d.kept]
    if kept:
        output = _minimise(contact, numbers, decided, policy)
        return Decision(contact, True, Reason.INBOUND_FIRST, decided, output=output)
    reasons = {d.reason for d in decided}
    reason = next(r for r in _CONTACT_REASON_ORDER if r in reasons)
    return Decision(contact, False, reason, decided, detail=removed_detail(reason, policy.region))


NEED_REGION = "national numbers need a default region: pass --region (e.g. --region DE)"


def removed_detail(reason: Reason, region: str | None) -> str:
    """The detail a removed contact's entry carries: the hint that national numbers need a
    region, for a contact removed as ``invalid-number`` in a run without one; else none."""
    return NEED_REGION if reason is Reason.INVALID_NUMBER and region is None else ""


def reason_without_evidence(valid: bool, numbers: bool) -> Reason:
    """The reason a contact none of whose numbers has evidence is removed for: ``no-evidence``
    when at least one of its numbers is ``valid``, else ``invalid-number`` when it has
    ``numbers``, and ``no-number`` without any (the order of ``_CONTACT_REASON_ORDER``). The
    quick path (``quick_decision``, and the report entries the workers render) asks this rule
    instead of building a Decision."""
    if valid:
        return Reason.NO_EVIDENCE
    return Reason.INVALID_NUMBER if numbers else Reason.NO_NUMBER


def quick_decision(
    contact: Contact,
    normalize: Callable[[str], str | None],
    lookup: Callable[[str], EvidenceEntry | None],
    region: str | None,
) -> Decision | None:
    """``decide`` for the common case of a large book, or None when it is not that case.

    The case: a parsed contact none of whose numbers has evidence, and no evidence under its
    display name (the caller checks the name: it is the caller who knows whether any evidence is
    recorded under names). Then every number is stripped (``invalid-number`` or ``no-evidence``)
    and so is the contact, which needs no Number objects and no merging. ``normalize`` is
    ``phones.normalizer(region)``, ``lookup`` is ``Evidence.lookup``.
    """
    if contact.error is not None:
        return None
    decided = []
    valid = False
    for phone in contact.phones:
        raw = phone.value
        e164 = normalize(raw)
        if e164 is None:
            decided.append(new_number_decision(raw, None, False, Reason.INVALID_NUMBER, ()))
        elif lookup(e164) is None:
            valid = True
            decided.append(new_number_decision(raw, e164, False, Reason.NO_EVIDENCE, ()))
        else:
            return None  # evidence: the full decision
    reason = reason_without_evidence(valid, bool(decided))
    detail = removed_detail(reason, region)
    return new_decision(contact, False, reason, tuple(decided), None, None, detail)


def _strip_all(numbers: tuple[Number, ...], reason: Reason) -> tuple[NumberDecision, ...]:
    return tuple(NumberDecision(n.raw, n.e164, False, reason) for n in numbers)


def _name_evidence(
    contact: Contact,
    numbers: tuple[Number, ...],
    evidence: Evidence,
    name_counts: Mapping[str, int] | None,
) -> tuple[EvidenceEntry | None, Reason | None]:
    """Evidence recorded under this contact's display name, or why it cannot be used.

    A name is evidence only for the one book contact with exactly that name; with several such
    contacts nobody can tell whose chat it was (`ambiguous-name`), and a contact with more than
    one number cannot tell which number wrote (`ambiguous-number`). Both fail closed.
    """
    name = contact.display_name
    if not name:
        return None, None
    entry = evidence.by_name(name)
    if entry is None:
        return None, None
    if name_counts is not None and name_counts.get(name, 0) > 1:
        return None, Reason.AMBIGUOUS_NAME
    if len({n.e164 or n.raw for n in numbers}) > 1:
        return None, Reason.AMBIGUOUS_NUMBER
    return entry, None


def _decide_number(
    number: Number,
    evidence: Evidence,
    policy: Policy,
    now: datetime,
    name_entry: EvidenceEntry | None,
    name_reason: Reason | None,
) -> NumberDecision:
    if number.e164 is None:
        return NumberDecision(number.raw, None, False, Reason.INVALID_NUMBER)
    entry = evidence.lookup(number.e164)
    if name_entry is not None:
        entry = name_entry if entry is None else entry.merge(name_entry)
    if entry is None:
        return NumberDecision(number.raw, number.e164, False, name_reason or Reason.NO_EVIDENCE)
    reason = _entry_reason(entry, policy, now)
    kept = reason is Reason.INBOUND_FIRST
    return NumberDecision(number.raw, number.e164, kept, reason, entry.sources)


def _entry_reason(entry: EvidenceEntry, policy: Policy, now: datetime) -> Reason:
    if entry.opted_out:
        return Reason.OPTED_OUT
    if not entry.initiated:
        if entry.first_inbound_at is None and entry.first_outbound_at is None:
            return Reason.NO_EVIDENCE
        return Reason.BUSINESS_INITIATED
    if entry.expired(now, policy.max_age):
        return Reason.EXPIRED
    return Reason.INBOUND_FIRST


def _minimise(
    contact: Contact,
    numbers: tuple[Number, ...],
    decided: tuple[NumberDecision, ...],
    policy: Policy,
) -> Contact:
    """The contact as the clean book holds it: allowed fields and kept numbers only, in E.164."""
    seen: set[str] = set()
    kept_phones: list[Phone] = []
    for number, decision in zip(numbers, decided, strict=True):
        if decision.kept and number.e164 is not None and number.e164 not in seen:
            seen.add(number.e164)
            kept_phones.append(Phone(number.e164, number.types))
    fields = tuple(f for f in contact.fields if f.name in policy.keep_fields)
    fn = contact.display_name or kept_phones[0].value
    return replace(
        contact,
        fn=fn,
        n=contact.n,
        phones=tuple(kept_phones),
        fields=fields,
        uid=contact.uid if "UID" in policy.allowed_fields else None,
        error=None,
    )


def merge(into: Contact, other: Contact) -> Contact:
    """Add the numbers of ``other`` that ``into`` lacks (contacts that end with the same number)."""
    have = {p.value for p in into.phones}
    extra = tuple(p for p in other.phones if p.value not in have)
    fields = into.fields + tuple(f for f in other.fields if f not in into.fields)
    return replace(into, phones=into.phones + extra, fields=fields)


__all__ = [
    "BASE_FIELDS",
    "NEED_REGION",
    "Policy",
    "decide",
    "merge",
    "normalize_numbers",
    "quick_decision",
    "reason_without_evidence",
    "removed_detail",
]
