"""The data that flows through contactguard: contacts, numbers, evidence and decisions.

All classes are frozen: a stage of the pipeline never changes what an earlier stage produced, it
returns something new. Reason codes are stable strings and part of the public API.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from itertools import repeat
from typing import Any


class Reason(str, enum.Enum):
    """Why a contact or a number was kept or removed (stable codes, used in reports)."""

    INBOUND_FIRST = "inbound-first"
    NO_EVIDENCE = "no-evidence"
    BUSINESS_INITIATED = "business-initiated"
    OPTED_OUT = "opted-out"
    EXPIRED = "expired"
    INVALID_NUMBER = "invalid-number"
    NO_NUMBER = "no-number"
    UNPARSEABLE = "unparseable"
    AMBIGUOUS_NAME = "ambiguous-name"
    AMBIGUOUS_NUMBER = "ambiguous-number"
    MERGED_DUPLICATE = "merged-duplicate"

    def __str__(self) -> str:
        return self.value


# What a reader may offer each contact's parts to before it builds the Contact (the parallel
# pipeline's workers): (line, display name, numbers as written) → True when it took the
# contact, which is then not yielded.
Take = Callable[[int, str, list[str]], bool]


@dataclass(frozen=True, slots=True)
class Phone:
    """A telephone number as the address book wrote it, before normalisation."""

    value: str
    types: tuple[str, ...] = ()  # lower-case labels: "cell", "work", Apple's X-ABLabel text


@dataclass(frozen=True, slots=True)
class Field:
    """Any other property of a contact (ORG, EMAIL, NOTE, ADR, TITLE, ...).

    Structured properties (ADR, ORG) keep their components as a tuple (RFC 6350 §6.3.1, §6.6.4).
    """

    name: str  # upper-case property name without group: "ORG", "EMAIL"
    value: str | tuple[str, ...]
    types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Contact:
    """One card of a vCard file or one row of a CSV export, remembering where it came from."""

    source: str  # the path as given, or "-" for standard input
    line: int  # 1-based line where the card or row begins
    fn: str = ""
    n: tuple[str, ...] = ()  # family, given, additional, prefixes, suffixes (RFC 6350 §6.2.2)
    uid: str | None = None
    phones: tuple[Phone, ...] = ()
    fields: tuple[Field, ...] = ()
    error: str | None = None  # set when the card could not be parsed: it is then `unparseable`

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def display_name(self) -> str:
        """FN, or the name assembled from N when FN is missing (as phones show it)."""
        return display_name(self.fn, self.n)


def display_name(fn: str, n: tuple[str, ...]) -> str:
    """``Contact.display_name`` of these FN and N, for readers that have not built the Contact
    (the parallel pipeline's quick entries)."""
    fn = fn.strip()
    if fn:
        return fn
    parts: tuple[str, ...]
    if len(n) == 5:  # the usual N (a CSV row's always): prefixes, given, additional, family
        parts = (n[3].strip(), n[1].strip(), n[2].strip(), n[0].strip(), n[4].strip())
    else:
        parts = tuple(n[i].strip() for i in (3, 1, 2, 0, 4) if i < len(n))
    return " ".join(filter(None, parts))  # the parts that are not empty


@dataclass(frozen=True, slots=True)
class Number:
    """A book number after normalisation: E.164 when phonenumbers accepts it, else None."""

    raw: str
    e164: str | None
    types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """One statement of one evidence source about one person.

    The person is named by every key the source saw together (``evidence.identity`` links keys
    seen together into one identity): ``phone`` (+E.164 or a WhatsApp ``wa_id``, digits only),
    ``user_id`` (a business-scoped user ID, BSUID, ``CC.digits``) and its ``parent_user_id``,
    ``username``, ``lid`` (a WhatsApp LID ``digits@lid``) and ``name`` (the display name a chat
    export shows for a saved contact; the book matches it by exact display name). At least one
    key is needed. ``number_left_at`` says the person behind ``phone`` moved to another number
    at that time (``user_changed_number``): inbound evidence of ``phone`` up to then belongs to
    someone who no longer holds the number, so it is not counted for it.
    """

    source: str  # "ledger.csv:3", "chats/WhatsApp Chat with Anna.txt"
    phone: str | None = None
    name: str | None = None
    user_id: str | None = None
    first_inbound_at: datetime | None = None
    first_outbound_at: datetime | None = None
    last_inbound_at: datetime | None = None
    opted_out_at: datetime | None = None
    parent_user_id: str | None = None
    username: str | None = None
    lid: str | None = None
    number_left_at: datetime | None = None


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass(frozen=True, slots=True)
class EvidenceEntry:
    """Everything known about one identity after merging all sources (docs/architecture.md)."""

    first_inbound_at: datetime | None = None
    first_outbound_at: datetime | None = None
    last_inbound_at: datetime | None = None
    opted_out_at: datetime | None = None
    sources: tuple[str, ...] = ()
    number_left_at: datetime | None = None  # see EvidenceRecord.number_left_at

    @classmethod
    def from_record(cls, record: EvidenceRecord) -> EvidenceEntry:
        return cls(
            first_inbound_at=record.first_inbound_at,
            first_outbound_at=record.first_outbound_at,
            # a first inbound message is also an inbound message: it bounds the last one from below
            last_inbound_at=_latest(record.last_inbound_at, record.first_inbound_at),
            opted_out_at=record.opted_out_at,
            sources=(record.source,),
            number_left_at=record.number_left_at,
        )

    def merge(self, other: EvidenceEntry) -> EvidenceEntry:
        """Earliest first-times, latest last-times; merging the same entry twice changes nothing."""
        sources = self.sources + tuple(s for s in other.sources if s not in self.sources)
        return EvidenceEntry(
            first_inbound_at=_earliest(self.first_inbound_at, other.first_inbound_at),
            first_outbound_at=_earliest(self.first_outbound_at, other.first_outbound_at),
            last_inbound_at=_latest(self.last_inbound_at, other.last_inbound_at),
            opted_out_at=_latest(self.opted_out_at, other.opted_out_at),
            sources=sources,
            number_left_at=_latest(self.number_left_at, other.number_left_at),
        )

    def without_inbound(self) -> EvidenceEntry:
        """This entry with its inbound times removed (evidence that may not count as the
        person writing, only as the business acting or the person opting out)."""
        return EvidenceEntry(
            first_outbound_at=self.first_outbound_at,
            opted_out_at=self.opted_out_at,
            sources=self.sources,
            number_left_at=self.number_left_at,
        )

    @property
    def initiated(self) -> bool:
        """The person wrote first: an inbound message strictly before any outbound one."""
        if self.first_inbound_at is None:
            return False
        return self.first_outbound_at is None or self.first_inbound_at < self.first_outbound_at

    @property
    def opted_out(self) -> bool:
        """An opt-out that no newer inbound message has lifted."""
        if self.opted_out_at is None:
            return False
        return self.last_inbound_at is None or self.last_inbound_at <= self.opted_out_at

    def expired(self, now: datetime, max_age: timedelta | None) -> bool:
        """The last inbound message is older than the configured maximum age."""
        if max_age is None:
            return False
        last = self.last_inbound_at or self.first_inbound_at
        return last is None or now - last > max_age


def evidence_entries(
    first_inbound_at: Sequence[datetime | None],
    first_outbound_at: Sequence[datetime | None],
    last_inbound_at: Sequence[datetime | None],
    opted_out_at: Sequence[datetime | None],
    sources: Sequence[tuple[str, ...]],
) -> list[EvidenceEntry]:
    """``list(map(EvidenceEntry, ...))`` of these columns (``number_left_at`` unset), made a
    field at a time at C speed: a ledger of a million rows makes its entries without a
    million calls of the frozen dataclass' ``__init__``. The same objects, field for field."""
    given = {"first_inbound_at": first_inbound_at, "first_outbound_at": first_outbound_at,
             "last_inbound_at": last_inbound_at, "opted_out_at": opted_out_at,
             "sources": sources}
    count = len(sources)
    if any(len(column) != count for column in given.values()):
        raise ValueError("columns of different lengths")
    made = list(map(object.__new__, repeat(EvidenceEntry, count)))
    for name in _ENTRY_FIELDS:  # every slot set, as __init__ sets it
        values = given.get(name)
        deque(map(_ENTRY_SLOTS[name], made,
                  repeat(_ENTRY_DEFAULTS[name]) if values is None else values), 0)
    return made


_ENTRY_FIELDS = tuple(f.name for f in fields(EvidenceEntry))
_ENTRY_DEFAULTS = {f.name: f.default for f in fields(EvidenceEntry)}
# each field's slot setter: what the dataclass' __init__ uses through object.__setattr__
_ENTRY_SLOTS: dict[str, Callable[[EvidenceEntry, Any], None]] = {
    name: EvidenceEntry.__dict__[name].__set__ for name in _ENTRY_FIELDS}


@dataclass(frozen=True, slots=True)
class NumberDecision:
    """What happened to one number of a contact, and which evidence decided it."""

    raw: str
    e164: str | None
    kept: bool
    reason: Reason
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """What happened to one input contact: kept (with its minimised output) or removed."""

    contact: Contact
    kept: bool
    reason: Reason
    numbers: tuple[NumberDecision, ...] = ()
    output: Contact | None = None  # the minimised contact for the clean book, when kept
    merged_into: str | None = None  # `where` of the contact this one was merged into
    detail: str = ""  # a human sentence for the report: the parse error, the ambiguity



# --------------------------------------------------------------------------- fast constructors
#
# The pipeline builds a Contact, a Phone and a NumberDecision per number and a Decision per card
# (a large book: millions of objects). A frozen dataclass's generated __init__ sets each field
# with object.__setattr__, about half the cost of building one; these fill the slots through
# their descriptors instead.
# Every field is given positionally, in field order; the result equals the class called with the
# same values (tests/test_fastpath.py checks each against the class's fields).

_new: Any = object.__new__


def _slot_setters(cls: type, names: str) -> tuple[Any, ...]:
    return tuple(getattr(cls, name).__set__ for name in names.split())


_PHONE = _slot_setters(Phone, "value types")
_CONTACT = _slot_setters(Contact, "source line fn n uid phones fields error")
_NUMBER_DECISION = _slot_setters(NumberDecision, "raw e164 kept reason sources")
_DECISION = _slot_setters(Decision, "contact kept reason numbers output merged_into detail")


def new_phone(value: str, types: tuple[str, ...]) -> Phone:
    """``Phone(value, types)``, faster."""
    obj: Phone = _new(Phone)
    s0, s1 = _PHONE
    s0(obj, value)
    s1(obj, types)
    return obj


def new_contact(
    source: str,
    line: int,
    fn: str,
    n: tuple[str, ...],
    uid: str | None,
    phones: tuple[Phone, ...],
    fields: tuple[Field, ...],
    error: str | None,
) -> Contact:
    """``Contact(source, line, fn, n, uid, phones, fields, error)``, faster."""
    obj: Contact = _new(Contact)
    s0, s1, s2, s3, s4, s5, s6, s7 = _CONTACT
    s0(obj, source)
    s1(obj, line)
    s2(obj, fn)
    s3(obj, n)
    s4(obj, uid)
    s5(obj, phones)
    s6(obj, fields)
    s7(obj, error)
    return obj


def new_number_decision(
    raw: str, e164: str | None, kept: bool, reason: Reason, sources: tuple[str, ...]
) -> NumberDecision:
    """``NumberDecision(raw, e164, kept, reason, sources)``, faster."""
    obj: NumberDecision = _new(NumberDecision)
    s0, s1, s2, s3, s4 = _NUMBER_DECISION
    s0(obj, raw)
    s1(obj, e164)
    s2(obj, kept)
    s3(obj, reason)
    s4(obj, sources)
    return obj


def new_decision(
    contact: Contact,
    kept: bool,
    reason: Reason,
    numbers: tuple[NumberDecision, ...],
    output: Contact | None,
    merged_into: str | None,
    detail: str,
) -> Decision:
    """``Decision(contact, kept, reason, numbers, output, merged_into, detail)``, faster."""
    obj: Decision = _new(Decision)
    s0, s1, s2, s3, s4, s5, s6 = _DECISION
    s0(obj, contact)
    s1(obj, kept)
    s2(obj, reason)
    s3(obj, numbers)
    s4(obj, output)
    s5(obj, merged_into)
    s6(obj, detail)
    return obj
