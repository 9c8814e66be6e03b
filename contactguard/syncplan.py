"""What a sync run would do: the desired book, the target as known, the actions between them.

    clean contacts ─► desired_book (by UID) ─┐
                                            ├─► diff ─► Plan (delete, update, create)
    target cards (TargetCard, by href) ─────┘

The diff is pure: it reads no server and writes nothing (``SyncJob.plan`` gathers its inputs,
``syncapply.Applier`` carries the plan out). A card is compared by ``canonical_hash`` (what it
says, blind to how it is written) against what we wrote, and by ``cardtext.card_hash`` (every
property) against what the phone holds.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .cardtext import card_hash
from .errors import SyncError
from .summary import Summary

if TYPE_CHECKING:  # a reused run imports none of them (books, phone numbers, policy)
    from .journal import Entry
    from .model import Contact, Decision
    from .policy import Policy

__all__ = [
    "Action",
    "Desired",
    "Plan",
    "RunIncomplete",
    "SyncOutcome",
    "TargetCard",
    "canonical_hash",
    "desired_book",
    "diff",
    "parse_card",
    "serialize_card",
]


class RunIncomplete(SyncError):
    """The run went on, but a card could not be quarantined (and was left alone) or the journal
    could not be written; ``outcome`` says what was done."""

    def __init__(self, message: str, *, outcome: SyncOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome

# --------------------------------------------------------------------------- canonical form


def canonical_hash(contact: Contact) -> str:
    """A hash of what a card says, blind to how it is written (order, case, folding, PRODID).

    Two cards with the same hash show the same person with the same numbers and fields.
    """
    n = list(contact.n)
    while n and not n[-1].strip():
        n.pop()
    phones = sorted(
        (p.value.strip(), sorted({t.lower() for t in p.types if t.lower() != "voice"}))
        for p in contact.phones
    )
    fields = sorted(
        (
            f.name.upper(),
            [f.value] if isinstance(f.value, str) else list(f.value),
            sorted({t.lower() for t in f.types}),
        )
        for f in contact.fields
    )
    text = json.dumps(
        [contact.uid, contact.display_name, [x.strip() for x in n], phones, fields],
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def serialize_card(contact: Contact) -> bytes:
    from .books import write_book

    out = io.BytesIO()
    write_book([contact], out, "vcard3")
    return out.getvalue()


def parse_card(data: str | bytes, name: str) -> Contact | None:
    """The first card of a vCard text, or None when there is none."""
    from .books import ReadOptions, read_book

    raw = data.encode("utf-8") if isinstance(data, str) else data
    with contextlib.suppress(Exception):  # a broken card is foreign: quarantined, deleted
        for contact in read_book(io.BytesIO(raw), ReadOptions(input_format="vcard"), name=name):
            return contact
    return None


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Desired:
    """One card the phone should hold."""

    uid: str
    contact: Contact
    source_hash: str  # canonical_hash of the clean contact


@dataclass(frozen=True)
class TargetCard:
    """One card on the phone's address book, as far as we know it."""

    href: str
    etag: str | None
    uid: str | None
    ours: bool  # it holds exactly what we wrote
    source_hash: str | None = None  # when ours: the clean contact it was written from
    read_hash: str | None = None  # cardtext.card_hash of the card as written / fetched
    data: str | None = None  # the vCard text, when fetched


@dataclass(frozen=True)
class Action:
    """One change to the target: create, update or delete (quarantining first when needed)."""

    kind: str  # "create" | "update" | "delete"
    uid: str | None
    href: str
    etag: str | None = None  # If-Match for update/delete
    desired: Desired | None = None
    quarantine: str | None = None  # the card text to save first (a card we did not write)
    why: str = ""

    def describe(self) -> str:
        name = self.desired.contact.display_name if self.desired else ""
        extra = " (quarantined first)" if self.quarantine is not None else ""
        who = f"{name} <{self.uid}>" if name else f"<{self.uid or '?'}>"
        return f"{self.kind:6} {who} {self.href}{extra}" + (f": {self.why}" if self.why else "")


@dataclass
class Plan:
    """What a run would do, and what it found."""

    actions: list[Action]
    unchanged: int
    adopted: dict[str, TargetCard]  # href → card that already holds what we want
    decisions: list[Decision]  # in full only: the quick path's are in report_body
    summary: Summary
    policy: Policy | None  # None: a reused run, whose report is the last one's (not rebuilt)
    notes: list[str] = field(default_factory=list)
    groups: int = 0  # group cards in the source (KIND:group): lists, not people; never synced
    refusals: list[str] = field(default_factory=list)  # guards that stop the run unless forced
    target_cards: int = 0  # cards on the target when it was listed
    reused: bool = False  # nothing changed since the last run: its decisions stand (syncmemo)
    previous_report: str | None = field(default=None, repr=False)  # that run's report, reused
    # the sanitize report the engine wrote as it decided (None: a dry run, or no report)
    report_body: bytes | None = field(default=None, repr=False)
    _by_uid: dict[str, Decision] | None = field(default=None, repr=False)

    def count(self, kind: str) -> int:
        return sum(1 for a in self.actions if a.kind == kind)

    def by_uid(self) -> dict[str, Decision]:
        """The removal decision of each source contact by UID (why its card leaves the phone)."""
        if self._by_uid is None:
            self._by_uid = {
                d.contact.uid: d for d in self.decisions if d.contact.uid and not d.kept
            }
        return self._by_uid

    def text(self) -> str:
        lines = [a.describe() for a in self.actions] or ["nothing to do"]
        return "\n".join(lines)


@dataclass
class SyncOutcome:
    """What a run did: counts, skipped cards, requests sent per endpoint."""

    plan: Plan
    dry_run: bool = False
    created: int = 0
    updated: int = 0
    deleted: int = 0
    quarantined: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    quarantine_files: list[str] = field(default_factory=list)
    requests: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)  # quarantines that failed: card left alone
    journal: list[Entry] = field(default_factory=list)  # one entry per change (and per failure)
    warnings: list[str] = field(default_factory=list)  # guards forced past: said, --quiet or not

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "quarantined": self.quarantined,
            "skipped": len(self.skipped),
            "unchanged": self.plan.unchanged,
        }

    def summary_line(self) -> str:
        c = self.counts()
        prefix = (
            "contactguard sync (dry run, nothing changed): would have"
            if self.dry_run
            else ("contactguard sync:")
        )
        if self.dry_run:
            p = self.plan
            return (
                f"{prefix} created {p.count('create')}, updated {p.count('update')}, deleted "
                f"{p.count('delete')}, quarantined "
                f"{sum(1 for a in p.actions if a.quarantine is not None)}; "
                f"{p.unchanged} unchanged"
            )
        return (
            f"{prefix} created {c['created']}, updated {c['updated']}, deleted {c['deleted']}, "
            f"quarantined {c['quarantined']}, skipped {c['skipped']}; "
            f"{c['unchanged']} unchanged"
        )



def desired_book(clean: list[Contact], notes: list[str]) -> dict[str, Desired]:
    """The cards the phone should hold, by UID (a missing or repeated UID is derived)."""
    from .books.vcard import derived_uid

    desired: dict[str, Desired] = {}
    for contact in clean:
        uid = (contact.uid or "").strip() or derived_uid(contact)
        if uid in desired:
            # two clean contacts with one UID (copied cards): give the later one its own
            uid = derived_uid(contact)
            if uid in desired:
                notes.append(f"{contact.where}: same UID and numbers as another card; skipped")
                continue
        contact = replace(contact, uid=uid)
        desired[uid] = Desired(uid, contact, canonical_hash(contact))
    return desired


def diff(
    desired: dict[str, Desired], known: dict[str, TargetCard], href_for: Callable[[str], str]
) -> Plan:
    """The actions that make the target (``known``) hold exactly ``desired``; deletes first.

    ``href_for`` names the href of a new card from its UID (``CardDAVClient.href_for``).
    """
    actions: list[Action] = []
    adopted: dict[str, TargetCard] = {}
    unchanged = 0
    by_uid: dict[str, TargetCard] = {}
    for href in sorted(known):
        card = known[href]
        if card.uid is not None and card.uid in desired and card.uid not in by_uid:
            by_uid[card.uid] = card
            continue
        why = (
            "a second card with the same UID"
            if card.uid in by_uid
            else "not allowed on the phone"
            if card.uid is not None
            else "not a readable vCard with a UID"
        )
        actions.append(
            Action(
                "delete",
                card.uid,
                href,
                card.etag,
                quarantine=None if card.ours else (card.data or ""),
                why=why,
            )
        )
    taken = set(known)
    for uid, want in desired.items():
        found = by_uid.get(uid)
        if found is None:
            href = href_for(uid)
            if href in taken:
                digest = hashlib.sha1(uid.encode()).hexdigest()  # noqa: S324 - a name
                href = href_for(digest + "-cg")
            taken.add(href)
            actions.append(Action("create", uid, href, None, want))
            continue
        if found.ours and found.source_hash == want.source_hash:
            unchanged += 1
            continue
        if not found.ours and found.read_hash == card_hash(serialize_card(want.contact)):
            # the same content, written by an earlier run (state lost) or by anyone
            adopted[found.href] = replace(found, source_hash=want.source_hash)
            unchanged += 1
            continue
        actions.append(
            Action(
                "update",
                uid,
                found.href,
                found.etag,
                want,
                quarantine=None if found.ours else (found.data or ""),
                why="" if found.ours else "changed on the phone",
            )
        )
    # deletes first: a leak leaves the phone as soon as possible
    order = {"delete": 0, "update": 1, "create": 2}
    actions.sort(key=lambda a: order[a.kind])
    return Plan(actions, unchanged, adopted, [], Summary(), None)
