"""One identity per person: which evidence keys name the same person, and what is known of them.

The interface between source readers and everything after them
---------------------------------------------------------------
A reader yields ``EvidenceRecord``s. Each record is one statement about ONE person and names
that person by every key the source saw together in one payload, chat, row or backup entry:

==================  ==================================================  ======================
record field        what it is                                          canonical key
==================  ==================================================  ======================
``phone``           +E.164 or WhatsApp ``wa_id`` (digits only)          ``Key("phone", "+49…")``
``user_id``         business-scoped user ID (BSUID, ``CC.xxxx``;        ``Key("bsuid", …)``
                    ``user_id``/``from_user_id``/``recipient_user_id``)
``parent_user_id``  the parent BSUID of a business portfolio            ``Key("bsuid", …)``
``username``        a WhatsApp username (``@`` and case dropped)        ``Key("username", …)``
``lid``             a WhatsApp LID, ``digits@lid`` (from backups)       ``Key("lid", "…@lid")``
``name``            a chat export's display name of a saved contact     ``Key("name", …)``
==================  ==================================================  ======================

plus the times (``first_inbound_at``, ``first_outbound_at``, ``last_inbound_at``,
``opted_out_at``) and ``number_left_at`` (the person moved away from ``phone`` then: a
``user_changed_number``). ``record_keys`` turns a record into its canonical keys (an
EvidenceError for a ``phone`` that is no number). A reader that knows several keys of one person
puts them on ONE record (a webhook message with ``from`` and ``from_user_id``; a backup's chat
row with its JID number and its LID); a reader never decides who is the same person across
records: ``resolve`` does.

How keys link (``resolve``)
---------------------------
Records with exactly the same keys are merged first (``Statement``: earliest first-times,
latest last-times, all sources), so memory holds one statement per key set, not per event.

- Numbers are compared as WhatsApp does (``phones.variants``: Mexico 521/52, Brazil's ninth
  digit, Argentina 549/54 when asked): variants are one number.
- The strong keys (BSUID, username, LID) link every statement they occur in into one group.
- A group seen with exactly one number belongs to that number's identity: a status naming only
  ``recipient_user_id`` counts for the number that ``contacts[]`` linked to that user id.
- A group seen with two or more numbers (a person who changed number keeps their BSUID, and the
  old number may now be someone else's) is *shared*: its statements without a number give each
  of those numbers their outbound and opt-out times (business acts count against everyone they
  might concern), never their inbound times. Numbers are never linked to each other, so a
  number change moves nobody's evidence to a recycled number.
- A group seen with no number is an identity without a number: reported, never matched.
- A name is a key only on statements that have no other key (a chat export of a saved
  contact): such identities are matched by the book's exact display name. Beside other keys a
  name is only a label (shown, and found by ``evidence forget NAME``); names never link
  statements that carry numbers or user ids, since many people share a name.
- ``number_left_at``: inbound evidence of a number whose first inbound time is not after the
  latest ``number_left_at`` of that number is dropped (it was the previous holder's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ..errors import EvidenceError
from ..model import EvidenceEntry, EvidenceRecord
from ..phones import evidence_key, mask, plain_number, variants

__all__ = [
    "KEY_KINDS",
    "Identity",
    "Key",
    "Statement",
    "first_key",
    "key_from_text",
    "record_keys",
    "resolve",
]

KEY_KINDS = ("phone", "bsuid", "username", "lid", "name")
STRONG_KINDS = frozenset({"bsuid", "username", "lid"})

_BSUID = re.compile(r"[A-Z]{2}(?:\.[A-Za-z0-9]+)+")  # "US.13491208655302741918", "US.ENT.…"
_LID = re.compile(r"(\d{5,20})@lid")
_USERNAME = re.compile(r"@?([A-Za-z0-9._]{3,35})")
_SPACES = re.compile(r"\s+")
_MARKS = re.compile("[\u200e\u200f\ufeff\u202a-\u202e\u2066-\u2069]")


class Key(NamedTuple):
    """One canonical identity key: ``kind`` is one of KEY_KINDS."""

    kind: str
    value: str

    def masked(self) -> str:
        """The key as reports show it: numbers and ids masked, names shortened."""
        if self.kind == "phone":
            return mask(self.value)
        if self.kind == "name":
            return _mask_text(self.value)
        if self.kind == "lid":
            return mask(self.value.removesuffix("@lid")) + "@lid"
        return _mask_text(self.value) if self.kind == "username" else mask(self.value)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def _mask_text(text: str) -> str:
    """First letter and length only: ``Anna Beispiel`` → ``A************``."""
    return text[:1] + "*" * (len(text) - 1)


def phone_key(text: str) -> Key | None:
    key = evidence_key(text)
    return None if key is None else Key("phone", key)


def bsuid_key(text: str) -> Key | None:
    text = text.strip()
    return Key("bsuid", text) if _BSUID.fullmatch(text) else None


def username_key(text: str) -> Key | None:
    match = _USERNAME.fullmatch(text.strip())
    return Key("username", match[1].casefold()) if match else None


def lid_key(text: str) -> Key | None:
    match = _LID.fullmatch(text.strip().lower())
    return Key("lid", f"{match[1]}@lid") if match else None


def name_key(text: str) -> Key | None:
    name = " ".join(_MARKS.sub("", text).split())
    return Key("name", name) if name else None


def key_from_text(text: str) -> list[Key]:
    """The keys a person typed on the command line may mean (``evidence forget KEY``): a
    number in any spelling, a user ID, a LID, a username (``@name``) or a display name."""
    found = []
    lid = lid_key(text)
    if lid is not None:
        return [lid]
    bsuid = bsuid_key(text)
    if bsuid is not None:
        return [bsuid]
    stripped = text.strip()
    digits = re.sub(r"[\s().\-\u2010\u2011\u2012\u2013\u00a0\u202f/]", "", stripped)
    if digits.startswith("00") and digits[2:].isdigit():
        digits = "+" + digits[2:]
    phone = phone_key(digits) if digits[:1] == "+" or digits.isdigit() else None
    if phone is not None:
        return [phone]
    if stripped.startswith("@"):
        user = username_key(stripped)
        if user is not None:
            return [user]
    name = name_key(stripped)
    if name is not None:
        found.append(name)
    user = username_key(stripped)
    if user is not None:
        found.append(user)
    return found


def record_keys(record: EvidenceRecord) -> tuple[Key, ...]:
    """The canonical keys of a record, sorted; EvidenceError for a phone that is no number or
    for a record without any key. User ids, usernames and LIDs of unknown shape are dropped
    (they cannot identify anyone reliably)."""
    number = record.phone
    if (number is not None and record.user_id is None and record.parent_user_id is None
            and record.username is None and record.lid is None and record.name is None):
        if plain_number(number):
            return (Key("phone", number),)  # the common record: one number, already canonical
        if number.isdigit() and number.isascii() and plain_number("+" + number):
            return (Key("phone", "+" + number),)  # a wa_id: what evidence_key makes of it
    keys: set[Key] = set()
    if record.phone is not None and record.phone.strip():
        phone = phone_key(record.phone)
        if phone is None:
            raise EvidenceError(
                f"phone {record.phone!r} is not a +E.164 number or a WhatsApp wa_id",
                file=record.source,
            )
        keys.add(phone)
    for text, make in (
        (record.user_id, bsuid_key),
        (record.parent_user_id, bsuid_key),
        (record.username, username_key),
        (record.lid, lid_key),
        (record.name, name_key),
    ):
        if text:
            key = make(text)
            if key is not None:
                keys.add(key)
    if not keys:
        raise EvidenceError(
            "a record with no phone, user id, username, LID or name", file=record.source
        )
    return tuple(sorted(keys))


@dataclass(slots=True)
class Statement:
    """Everything the sources said under exactly one set of keys, merged."""

    keys: tuple[Key, ...]
    entry: EvidenceEntry


@dataclass(slots=True)
class Identity:
    """One person: every key seen for them, the merged evidence, the statements it came from.

    ``number`` is the representative of the person's number (None: an identity without a
    number); ``numbers`` every spelling seen. ``name`` is set for a name-only identity (matched
    by the book's exact display name). ``shared`` are strong keys that were also seen with
    another number: only their business acts and opt-outs count here.
    """

    keys: tuple[Key, ...]
    entry: EvidenceEntry
    number: str | None = None
    numbers: tuple[str, ...] = ()
    name: str | None = None
    shared: tuple[Key, ...] = ()
    statements: list[Statement] = field(default_factory=list, repr=False)

    def masked_keys(self) -> list[str]:
        """Every key of this identity, masked, for reports and ``evidence show``."""
        return [f"{key.kind}:{key.masked()}" for key in self.keys]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Key, Key] = {}

    def find(self, key: Key) -> Key:
        parent = self.parent.setdefault(key, key)
        root = key
        while parent != root:
            root = parent
            parent = self.parent[root]
        while key != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: Key, b: Key) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def number_class(number: str, *, ar_without_9: bool = False) -> str:
    """The representative of a number's WhatsApp variants (the smallest), so that variants of
    one number are one identity. ``variants`` pairs each number with at most one partner."""
    return min(variants(number, ar_without_9=ar_without_9))


def resolve(statements: Iterable[Statement], *, ar_without_9: bool = False) -> list[Identity]:
    """Link statements into identities (module docstring). Deterministic: the identities come
    out ordered by their smallest key. Statements that name one number and nothing else (most
    of any ledger) take a short path."""
    statements = list(statements)
    classes: dict[str, str] = {}

    def number_of(value: str) -> str:
        found = classes.get(value)
        if found is None:
            found = classes[value] = min(variants(value, ar_without_9=ar_without_9))
        return found

    groups = _UnionFind()
    by_number: dict[str, list[Statement]] = {}
    linked: list[tuple[Statement, list[str], list[Key]]] = []  # statements with strong keys
    by_name: dict[str, list[Statement]] = {}
    for statement in statements:
        keys = statement.keys
        if len(keys) == 1 and keys[0][0] == "phone":  # the common case
            by_number.setdefault(number_of(keys[0][1]), []).append(statement)
            continue
        phones = [number_of(k[1]) for k in keys if k[0] == "phone"]
        strong = [k for k in keys if k[0] in STRONG_KINDS]
        if len(set(phones)) > 1:
            raise EvidenceError(
                "a record with two different phone numbers", file=statement.entry.sources[0]
            )
        if strong:
            for key in strong:
                groups.find(key)
            for other in strong[1:]:
                groups.union(strong[0], other)
            linked.append((statement, phones, strong))
        elif phones:
            by_number.setdefault(phones[0], []).append(statement)
        else:
            by_name.setdefault(next(k[1] for k in keys if k[0] == "name"), []).append(statement)

    # the numbers each group of strong keys was seen with
    group_numbers: dict[Key, set[str]] = {}
    for _, phones, strong in linked:
        group_numbers.setdefault(groups.find(strong[0]), set()).update(phones)
    by_group: dict[Key, list[Statement]] = {}
    shared_out: dict[str, list[Statement]] = {}  # number → shared statements (no inbound)
    shared_keys: dict[str, set[Key]] = {}
    for statement, phones, strong in linked:
        if phones:
            by_number.setdefault(phones[0], []).append(statement)
            continue
        root = groups.find(strong[0])
        numbers = group_numbers.get(root, set())
        if len(numbers) == 1:
            by_number.setdefault(next(iter(numbers)), []).append(statement)
        elif not numbers:
            by_group.setdefault(root, []).append(statement)
        else:
            for number in numbers:
                shared_out.setdefault(number, []).append(statement)
                shared_keys.setdefault(number, set()).update(strong)

    identities: list[Identity] = []
    for number, members in by_number.items():
        shared = shared_out.get(number)
        if len(members) == 1 and shared is None and members[0].entry.number_left_at is None:
            only = members[0]
            identities.append(
                Identity(
                    keys=only.keys,
                    entry=only.entry,
                    number=number,
                    numbers=tuple(k[1] for k in only.keys if k[0] == "phone"),
                    statements=members,
                )
            )
            continue
        identities.append(_number_identity(number, members, shared or [], shared_keys))
    for members in by_group.values():
        identities.append(_plain(members))
    for name, members in by_name.items():
        identity = _plain(members)
        identity.name = name
        identities.append(identity)
    identities.sort(key=first_key)
    return identities


def first_key(identity: Identity) -> Key:
    """The smallest key of an identity: identities are ordered by it."""
    return identity.keys[0]


def _number_identity(
    number: str,
    members: list[Statement],
    shared: list[Statement],
    shared_keys: Mapping[str, set[Key]],
) -> Identity:
    """The identity of one number: its statements, less the inbound evidence a number change
    took from it, plus the business acts and opt-outs of user ids it shares with others."""
    left = None
    for statement in members:
        moment = statement.entry.number_left_at
        if moment is not None and (left is None or moment > left) and any(
            k[0] == "phone" for k in statement.keys
        ):
            left = moment
    entry: EvidenceEntry | None = None
    for statement in members:
        part = statement.entry
        if left is not None and part.first_inbound_at is not None and (
            part.first_inbound_at <= left
        ):
            part = part.without_inbound()
        entry = part if entry is None else entry.merge(part)
    for statement in shared:
        part = statement.entry.without_inbound()
        entry = part if entry is None else entry.merge(part)
    assert entry is not None
    extra = shared_keys.get(number, set())
    keys = {k for s in members for k in s.keys} | extra
    return Identity(
        keys=tuple(sorted(keys)),
        entry=entry,
        number=number,
        numbers=tuple(sorted({k.value for k in keys if k.kind == "phone"})),
        shared=tuple(sorted(extra)),
        statements=members + shared,
    )


def _plain(members: list[Statement]) -> Identity:
    entry = members[0].entry
    for statement in members[1:]:
        entry = entry.merge(statement.entry)
    keys = tuple(sorted({k for s in members for k in s.keys}))
    return Identity(keys=keys, entry=entry, statements=members)


def merge_statements(
    table: dict[tuple[Key, ...], EvidenceEntry], records: Iterable[EvidenceRecord]
) -> Iterator[EvidenceRecord]:
    """Merge records into ``table`` (key set → entry), yielding each record after it is merged
    (for callers that count them)."""
    for record in records:
        keys = record_keys(record)
        entry = EvidenceEntry.from_record(record)
        previous = table.get(keys)
        table[keys] = entry if previous is None else previous.merge(entry)
        yield record


def statements_of(table: Mapping[tuple[Key, ...], EvidenceEntry]) -> list[Statement]:
    return [Statement(keys, entry) for keys, entry in table.items()]
