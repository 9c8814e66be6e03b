"""The scheduled sync job: keep a phone's CardDAV address book holding exactly the allowed people.

    source (CardDAV or file) ─► Sanitizer ─► clean book ─┐
                                                         ├─► plan by UID ─► quarantine
    target listing (href → ETag) + state file ───────────┘       ─► DELETE / PUT

- **Config**: a TOML file (see ``load_config`` and the README, "Scheduled sync"); relative paths
  are relative to the config file. Secrets come from an environment variable or a file named in
  the config, never from the config itself or the command line.
- **What we wrote**: a state file (JSON, next to the config) maps every target href we wrote to
  its UID, ETag and two hashes: of the clean contact it came from, and of the card as read back.
  A card whose ETag is still the one we got is known without fetching it, so a no-op run sends one
  listing request per collection plus the source fetch. Any other card is fetched and compared
  on every property (``cardtext.card_hash``: PHOTO, X-, grouped items count; order, folding and
  case do not). A PUT answered without an ETag is read back once, so that a server's own
  rewrite of the card is not taken for an edit on the phone.
- **The source is fetched once**: a local cache (``sourcecache.py``; SQLite, 0600, next to the
  state file, ``source_cache = false`` turns it off) keeps every source card's ETag and text. A run
  lists the source and fetches only new or changed cards; a first run (empty cache) fetches the
  whole book in one ``addressbook-query``. Every card still goes through the Sanitizer on every
  run: only the download is cached, never a decision.
- **Nothing is lost**: a card we did not write (added on the phone, or edited there) is saved to
  the quarantine folder — every byte, file and folder fsynced, length checked — before it is
  deleted or overwritten; when that fails the card is left alone and the run exits 1.
- **Guards** (``guards.py``): a plan with no evidence behind it, one that deletes more than
  ``max_delete_share`` of the phone, or one whose source and target are nested collections is
  refused unless forced. Outputs are checked against every input first (``outputs.py``).
- **History**: each change is one line of the run journal (``journal.py``); the report of each
  of the last ``report_keep`` runs is kept.
- **Concurrency**: an ``fcntl.flock`` lock file keeps overlapping runs apart; a 412 (the card
  changed under us) skips that card, and the next run converges.
- **The source is never written**: its client is read-only.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

from ._atomic import atomic_write, private_folder, write_new_durably
from .books import ReadOptions, read_book, write_book
from .books.vcard import derived_uid
from .cardkind import is_group_card, slim
from .cardtext import card_hash
from .errors import SyncError
from .guards import GuardRefused, nested_collections, no_evidence, too_many_deletions
from .journal import Entry
from .model import Contact, Decision
from .options import RunOptions
from .pipeline import Sanitizer, Summary
from .policy import Policy
from .syncconfig import Endpoint, SyncConfig, _secret, load_config

if TYPE_CHECKING:  # httpx stays out of ``contactguard --help``: carddav is imported lazily
    from . import davsync
    from .carddav import CardDAVClient, HttpSession, RemoteCard
    from .evidence import Evidence
    from .fleet import SharedSource
    from .sourcecache import SourceCache

__all__ = [
    "Action",
    "Endpoint",
    "Plan",
    "QuarantineFailed",
    "RunIncomplete",
    "SyncConfig",
    "SyncJob",
    "SyncOutcome",
    "canonical_hash",
    "load_config",
    "run_sync",
]

# 2: read_hash covers every property of the card (cardtext.card_hash); a state of
# version 1 is dropped, and cards that hold what we want are adopted again
STATE_VERSION = 2


class QuarantineFailed(SyncError):
    """A card could not be saved to the quarantine, so it was neither deleted nor overwritten."""


class RunIncomplete(SyncError):
    """The run went on, but a card could not be quarantined (and was left alone) or the journal
    could not be written; ``outcome`` says what was done."""

    def __init__(self, message: str, *, outcome: SyncOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome

# what the vCard reader counts as a line end (books/vcard.py): CRLF, LF, CR CR LF, a lone CR
_EOL = re.compile(r"\r*\n|\r(?![\r\n])")


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


def _serialize(contact: Contact) -> bytes:
    out = io.BytesIO()
    write_book([contact], out, "vcard3")
    return out.getvalue()


def _parse(data: str | bytes, name: str) -> Contact | None:
    """The first card of a vCard text, or None when there is none."""
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
    decisions: list[Decision]
    summary: Summary
    policy: Policy
    notes: list[str] = field(default_factory=list)
    groups: int = 0  # group cards in the source (KIND:group): lists, not people; never synced
    refusals: list[str] = field(default_factory=list)  # guards that stop the run unless forced
    target_cards: int = 0  # cards on the target when it was listed
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


class SyncJob:
    """One run of the sync job. Use as a context manager: it holds the lock and the clients."""

    def __init__(
        self,
        config: SyncConfig,
        *,
        transport: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        now: datetime | None = None,
        dry_run: bool = False,
        shared: SharedSource | None = None,
    ) -> None:
        self.config = config
        self._shared = shared  # a fleet run's source, fetched and parsed once (fleet.py)
        self.groups = 0  # group cards left out of the source book
        self.dry_run = dry_run  # then the source cache is read, never written
        self._transport = transport  # an httpx transport for tests (MockTransport)
        self._sleep = sleep
        self._now = now
        self._lock: IO[str] | None = None
        self.source: CardDAVClient | None = None
        self.target: CardDAVClient | None = None
        self._sessions: list[HttpSession] = []
        self._state: dict[str, dict[str, Any]] = {}
        self._mark: dict[str, Any] = {}  # the target's sync token and listing (davsync.py)
        self._new_mark: dict[str, Any] = {}
        self._record = threading.Lock()  # outcome and state, written by the PUT workers

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> SyncJob:
        from .outputs import check_outputs

        # before the lock file is opened: it, the state or the report may name an input
        check_outputs(self.config.outputs(), self.config.inputs())
        self._acquire_lock()
        try:
            from .carddav import CardDAVClient

            if self.config.source.url is not None and self._shared is None:
                self.source = CardDAVClient(
                    self.config.source.url,
                    self._session(self.config.source, "source"),
                    read_only=True,
                    batch=self.config.batch,
                )
            assert self.config.target.url is not None
            self.target = CardDAVClient(
                self.config.target.url,
                self._session(self.config.target, "target"),
                batch=self.config.batch,
            )
            self._state = self._load_state()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        self._sessions.clear()
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def _acquire_lock(self) -> None:
        self._lock = take_lock(self.config.lock, "with this config")

    def _session(self, endpoint: Endpoint, section: str) -> HttpSession:
        from .carddav import Credentials, HttpSession

        session = HttpSession(
            credentials=Credentials(
                username=endpoint.username,
                password=_secret(endpoint, "password", section),
                token=_secret(endpoint, "token", section),
            ),
            timeout=self.config.timeout,
            retries=self.config.retries,
            backoff=self.config.backoff,
            max_retry_after=self.config.max_retry_after,
            ca_bundle=None if endpoint.ca_bundle is None else str(endpoint.ca_bundle),
            transport=self._transport,
            sleep=self._sleep,
        )
        self._sessions.append(session)
        return session

    # -- planning ------------------------------------------------------------------------------

    def plan(self) -> Plan:
        """Compute the clean book and the changes the target needs; change nothing."""
        evidence = self._evidence()
        policy = RunOptions(
            region=self.config.region,
            keep_fields=self.config.keep_fields,
            max_age=self.config.max_age,
            match_ar_without_9=self.config.match_ar_without_9,
            now=self._now,
        ).policy()
        sanitizer = Sanitizer(evidence, policy, self._read_options(policy))
        decisions: list[Decision] = []
        if self._shared is not None:
            run = sanitizer.run([self._shared.book()], on_decision=decisions.append)
            self.groups = self._shared.groups
        else:
            with self._source_book() as (book, names):
                # each source card's contacts are named by the card's own URL
                relabel = None if names is None else names.rename
                run = sanitizer.run([book], on_decision=decisions.append, relabel=relabel)
        notes = list(evidence.warnings)
        if self.groups:
            notes.append(
                f"{self.groups} group card(s) in the source (KIND:group): lists, not people; "
                "never synced"
            )
        desired = self._desired(run.clean, notes)
        assert self.target is not None
        listing = self._target_listing()
        known = self._known(listing)
        plan = self._diff(desired, known)
        plan.decisions, plan.summary, plan.policy = decisions, run.summary, policy
        plan.notes = notes + plan.notes
        plan.target_cards = len(listing)
        plan.refusals = self._refusals(plan, evidence)
        plan.groups = self.groups
        return plan

    def _refusals(self, plan: Plan, evidence: Evidence) -> list[str]:
        """What the guards (guards.py) say against this plan."""
        found = []
        urls = []
        if self.config.source.url is not None and self.config.target.url is not None:
            urls.append((self.config.source.url, self.config.target.url))
        source, target = self.source, self.target
        if source is not None and target is not None and source.collection and target.collection:
            urls.append((source.collection, target.collection))  # as discovered
        for a, b in urls:
            nested = nested_collections(a, b)
            if nested is not None:
                found.append(nested)
                break
        empty = no_evidence(len(evidence) + len(evidence.names))
        if empty is not None:
            found.append(empty)
        many = too_many_deletions(
            plan.count("delete"), plan.target_cards, self.config.max_delete_share
        )
        if many is not None:
            found.append(many)
        return found

    def _target_listing(self) -> dict[str, str | None]:
        """The target's listing: only the changes since the last run when the server can."""
        from . import davsync

        assert self.target is not None
        mark = self._mark
        if mark.get("offered") is False:
            self.target.use_sync = False  # the server said no before: do not ask on every run
        previous = mark.get("listing")
        got = davsync.incremental_listing(
            self.target,
            previous if isinstance(previous, dict) else None,
            mark.get("token") if isinstance(mark.get("token"), str) else None,
            mark.get("collection") if isinstance(mark.get("collection"), str) else None,
        )
        if got is None:
            self._new_mark = {"offered": False}
            return self.target.listing()
        self._new_mark = (
            {"token": got.token, "collection": got.collection, "listing": got.cards}
            if got.token
            else {}
        )
        return got.cards

    def _read_options(self, policy: Policy) -> ReadOptions:
        """How to read the source: CardDAV serves vCards; the reader may skip unwanted fields."""
        fmt = "vcard" if self.config.source.url is not None else self.config.source.input_format
        # the policy looks at no other field, so the reader may skip vobject for most cards
        return ReadOptions(input_format=fmt, fields=policy.keep_fields)

    def _evidence(self) -> Any:
        from .evidence import load_evidence

        local = [s for s in self.config.evidence_sources if not _is_url(s)]
        if self.config.ledger is not None:
            local.append(str(self.config.ledger))
        key = self.config.backup_key_file
        evidence = load_evidence(local, backup_key_file=None if key is None else str(key))
        remote = [s for s in self.config.evidence_sources if _is_url(s)]
        if remote:
            from .evidence.remote import fetch_records

            auth = self.config.evidence_auth
            token = _secret(auth, "token", "evidence")
            for url in remote:
                evidence.update(
                    fetch_records(
                        url,
                        token=token,
                        timeout=self.config.timeout,
                        retries=self.config.retries,
                        backoff=self.config.backoff,
                        max_retry_after=self.config.max_retry_after,
                        ca_bundle=None if auth.ca_bundle is None else str(auth.ca_bundle),
                        transport=self._transport,
                        sleep=self._sleep,
                    )
                )
        return evidence

    @contextlib.contextmanager
    def _source_book(self) -> Iterator[tuple[Any, _CardNames | None]]:
        """The source as one book, and (CardDAV) the URL of the card each line came from."""
        source = self.config.source
        if source.path is not None:
            yield source.path, None
            return
        cards = sorted(self._source_cards().items())  # href order: the same order every run
        people = [(href, text) for href, text in cards if not is_group_card(text)]
        self.groups = len(cards) - len(people)
        cards = people
        base = source.describe()
        names = _CardNames(_origin(base))
        chunks = []
        for href, text in cards:
            if not text.endswith("\n"):
                text += "\r\n"
            names.add(href, len(_EOL.findall(text)))
            chunks.append(text)
        book = io.BytesIO("".join(chunks).encode("utf-8"))
        book.name = base  # the report's input: the source's URL
        yield book, names

    def _slim(self, text: str) -> str:
        """A source card without photos, logos, sounds and keys (the reader never reads them)."""
        return slim(text)

    def _source_cards(self) -> dict[str, str]:
        """href → text of every source card, fetching only what the cache does not hold."""
        assert self.source is not None
        client = self.source
        path = self.config.source_cache
        if path is None or (self.dry_run and not path.exists()):
            return {c.href: self._slim(c.data or "") for c in client.fetch_all()}
        from .sourcecache import SourceCache

        with SourceCache(path, self.config.source.describe()) as cache:
            known = cache.etags()
            fetched: list[RemoteCard]
            changes = _incremental_source(client, cache, known, self._slim)
            if changes is not None:  # RFC 6578: only what changed since the last run
                listing, fetched = changes.cards, list(changes.texts.values())
            elif not known:  # a first run: the whole book in one request
                fetched = client.fetch_all()
                listing = {c.href: c.etag for c in fetched}
            else:
                listing = client.listing()
                wanted = [h for h, etag in listing.items() if etag is None or known.get(h) != etag]
                fetched = list(client.multiget(wanted)) if wanted else []
            fresh = {
                c.href: replace(c, data=self._slim(c.data)) for c in fetched if c.data is not None
            }
            # a card without ETag cannot be checked next run: used now, never cached
            keep = [(c.href, c.etag, c.data) for c in fresh.values() if c.etag and c.data]
            gone = [h for h in known if h not in listing or (h in fresh and not fresh[h].etag)]
            if not self.dry_run:
                cache.update(keep, gone)
                cache.set_sync_mark(
                    changes.token if changes else None, client.collection, client.use_sync
                )
            cached = cache.texts() if len(fresh) < len(listing) else {}
        texts: dict[str, str] = {}
        for href, etag in listing.items():
            card = fresh.get(href)
            if card is not None:
                texts[href] = card.data or ""
            elif etag is not None and known.get(href) == etag and href in cached:
                texts[href] = cached[href]
            # else: listed but gone before the fetch - it left the source
        return texts

    def _desired(self, clean: list[Contact], notes: list[str]) -> dict[str, Desired]:
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

    def _known(self, listing: dict[str, str | None]) -> dict[str, TargetCard]:
        """Every target card: from the state when its ETag is the one we got, else fetched."""
        cards: dict[str, TargetCard] = {}
        fetch = []
        for href, etag in listing.items():
            entry = self._state.get(href)
            if entry is not None and etag is not None and entry.get("etag") == etag:
                cards[href] = TargetCard(
                    href, etag, entry["uid"], True, entry["source_hash"], entry["read_hash"]
                )
            else:
                fetch.append(href)
        if fetch:
            assert self.target is not None
            for card in self.target.multiget(fetch):
                contact = _parse(card.data or "", card.href)
                ok = contact is not None and contact.error is None and contact.uid
                # every property counts (PHOTO, X-*, grouped items): a card that differs in
                # anything from what we wrote is foreign, and quarantined before it changes
                read_hash = card_hash(card.data or "") if ok else None
                entry = self._state.get(card.href)
                ours = (
                    entry is not None and read_hash is not None and entry["read_hash"] == read_hash
                )
                cards[card.href] = TargetCard(
                    card.href,
                    card.etag,
                    contact.uid if ok and contact is not None else None,
                    ours,
                    entry["source_hash"] if ours and entry else None,
                    read_hash,
                    card.data,
                )
        return cards

    def _diff(self, desired: dict[str, Desired], known: dict[str, TargetCard]) -> Plan:
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
        assert self.target is not None
        taken = set(known)
        for uid, want in desired.items():
            found = by_uid.get(uid)
            if found is None:
                href = self.target.href_for(uid)
                if href in taken:
                    digest = hashlib.sha1(uid.encode()).hexdigest()  # noqa: S324 - a name
                    href = self.target.href_for(digest + "-cg")
                taken.add(href)
                actions.append(Action("create", uid, href, None, want))
                continue
            if found.ours and found.source_hash == want.source_hash:
                unchanged += 1
                continue
            if not found.ours and found.read_hash == card_hash(_serialize(want.contact)):
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
        return Plan(actions, unchanged, adopted, [], Summary(), Policy())

    # -- applying ------------------------------------------------------------------------------

    def apply(self, plan: Plan) -> SyncOutcome:
        """Quarantine, then DELETE and PUT as planned; a 412 skips that card."""
        assert self.target is not None
        outcome = SyncOutcome(plan)
        state = self._state
        for href, card in plan.adopted.items():  # they hold what we want: ours from now on
            state[href] = {
                "uid": card.uid,
                "etag": card.etag,
                "source_hash": card.source_hash,
                "read_hash": card.read_hash,
            }
        # deletes first and one by one: a leak leaves the phone as soon as possible
        deletes = [a for a in plan.actions if a.kind == "delete"]
        writes = [a for a in plan.actions if a.kind != "delete"]
        workers = min(self.config.concurrency, len(writes))
        try:
            for action in deletes:
                self._apply_guarded(action, outcome, state)
            if workers <= 1:
                for action in writes:
                    self._apply_guarded(action, outcome, state)
            else:
                # a few PUTs in flight overlap our work with the server's; bounded to stay polite
                pool = ThreadPoolExecutor(workers, thread_name_prefix="contactguard-put")
                try:
                    futures = [pool.submit(self._apply_guarded, a, outcome, state) for a in writes]
                    for future in futures:
                        future.result()
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
            self._read_back(writes, state)
        finally:
            try:
                self._save_state(state)
            finally:
                self._write_journal(outcome)
        outcome.skipped.sort(key=lambda s: s["href"])
        return outcome

    def _read_back(self, writes: list[Action], state: dict[str, Any]) -> None:
        """Fetch the cards whose PUT answered without an ETag, and remember them as stored.

        Such a server may have rewritten the card (RFC 6352 §6.3.2.3: added a REV, an X-
        property of its own), which the whole-card comparison would otherwise take for an edit
        on the phone on every run. The stored version is adopted only when it still says what
        we wrote (the same contact); anything else is compared again next run.
        """
        assert self.target is not None
        hrefs = [a.href for a in writes if a.href in state and state[a.href]["etag"] is None]
        if not hrefs:
            return
        try:
            stored = list(self.target.multiget(hrefs))
        except SyncError:
            return  # the next run fetches and compares them
        by_href = {a.href: a for a in writes}
        for card in stored:
            entry = state.get(card.href)
            action = by_href.get(card.href)
            if entry is None or action is None or action.desired is None or not card.etag:
                continue
            contact = _parse(card.data or "", card.href)
            written = _parse(_serialize(action.desired.contact), "written")
            if contact is None or written is None or contact.uid != entry["uid"]:
                continue
            if canonical_hash(contact) == canonical_hash(written):
                entry["etag"] = card.etag
                entry["read_hash"] = card_hash(card.data or "")

    def _write_journal(self, outcome: SyncOutcome) -> None:
        from .journal import append

        if self.config.journal is not None and outcome.journal:
            outcome.journal.sort(key=lambda e: (e.action, e.uid))
            try:
                append(
                    self.config.journal, outcome.journal, max_bytes=self.config.journal_max_bytes
                )
            except SyncError as exc:  # the changes are made: say so, and exit 1 after the run
                outcome.failed.append(str(exc))

    def _apply_guarded(self, action: Action, outcome: SyncOutcome, state: dict[str, Any]) -> None:
        """Apply one action; a 412 skips it and the next run decides again."""
        from .carddav import CardRejected, PreconditionFailed

        try:
            self._apply_one(action, outcome, state)
        except CardRejected as exc:  # this card only: the others may still fit
            with self._record:
                outcome.skipped.append(
                    {
                        "action": action.kind,
                        "uid": action.uid or "",
                        "href": action.href,
                        "reason": f"the phone's server refused the card: {exc}",
                    }
                )
        except QuarantineFailed as exc:
            with self._record:
                outcome.failed.append(str(exc))  # the card stays; the run will exit 1
                outcome.journal.append(
                    self._entry(action, outcome.plan, "kept", f"not {action.kind}d: {exc}")
                )
        except PreconditionFailed:
            with self._record:
                state.pop(action.href, None)  # fetch it next run and decide again
                outcome.skipped.append(
                    {
                        "action": action.kind,
                        "uid": action.uid or "",
                        "href": action.href,
                        "reason": "changed on the server since it was listed (HTTP 412); "
                        "the next run takes it into account",
                    }
                )

    def _apply_one(self, action: Action, outcome: SyncOutcome, state: dict[str, Any]) -> None:
        assert self.target is not None
        saved = None
        if action.quarantine is not None:
            saved = self._quarantine(action)
            with self._record:
                outcome.quarantine_files.append(str(saved))
                outcome.quarantined += 1
        if action.kind == "delete":
            self.target.delete(action.href, action.etag)
            with self._record:
                state.pop(action.href, None)
                outcome.deleted += 1
                outcome.journal.append(self._entry(action, outcome.plan, saved=saved))
            return
        assert action.desired is not None
        data = _serialize(action.desired.contact)
        etag = self.target.put(action.href, data, action.etag if action.kind == "update" else None)
        with self._record:
            state[action.href] = {
                "uid": action.uid,
                "etag": etag,  # None when the server does not say: fetched and compared next run
                "source_hash": action.desired.source_hash,
                "read_hash": card_hash(data),
            }
            if action.kind == "create":
                outcome.created += 1
            else:
                outcome.updated += 1
            outcome.journal.append(self._entry(action, outcome.plan, saved=saved))

    def _entry(
        self,
        action: Action,
        plan: Plan,
        kind: str | None = None,
        reason: str | None = None,
        saved: Path | None = None,
    ) -> Entry:
        """The journal entry of one action: masked numbers, and why it was taken."""
        from .phones import mask, normalize

        decision = plan.by_uid().get(action.uid or "")
        numbers: list[str] = []
        why = action.why
        if action.desired is not None:
            raws = [p.value for p in action.desired.contact.phones]
            why = why or ("changed on the source" if action.kind == "update" else "wrote first")
        elif action.quarantine is not None:
            card = _parse(action.quarantine, "quarantined")
            raws = [p.value for p in card.phones] if card is not None else []
        elif decision is not None:
            raws = [n.e164 or n.raw for n in decision.numbers]
            why = str(decision.reason)
        else:
            raws = []
            why = why if why != "not allowed on the phone" else "left the source"
        for raw in raws:
            numbers.append(mask(normalize(raw, self.config.region) or raw))
        return Entry(
            time=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            target=self.config.target.describe(),
            action=kind or action.kind,
            uid=action.uid or action.href,
            numbers=tuple(numbers),
            reason=reason or why or "",
            quarantine=None if saved is None else str(saved),
        )

    def _quarantine(self, action: Action) -> Path:
        """Save a card we did not write before it is deleted or overwritten: every byte written,
        file and folder fsynced, the length checked. Raises QuarantineFailed otherwise (and
        leaves no partial file): the card then stays on the phone."""
        folder = self.config.quarantine
        name = action.uid or action.href.rstrip("/").rsplit("/", 1)[-1]
        try:
            private_folder(folder)
        except OSError as exc:
            raise QuarantineFailed(
                f"cannot create the quarantine folder ({exc.strerror}); <{name}> was left on "
                "the phone",
                file=str(folder),
            ) from exc
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "card"
        data = (action.quarantine or "").encode("utf-8")
        for counter in range(1000):
            path = folder / f"{stamp}-{safe}{'' if counter == 0 else f'-{counter}'}.vcf"
            try:
                write_new_durably(path, data)
            except FileExistsError:
                continue
            except OSError as exc:
                raise QuarantineFailed(
                    f"cannot save <{name}> to the quarantine ({exc.strerror or exc}); it was "
                    "left on the phone",
                    file=str(folder),
                ) from exc
            return path
        raise QuarantineFailed("too many quarantined cards with the same name", file=str(folder))

    # -- state ---------------------------------------------------------------------------------

    def _load_state(self) -> dict[str, dict[str, Any]]:
        path = self.config.state
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable: every card is fetched and compared, nothing is lost
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return {}
        if data.get("target") != self.config.target.describe():
            return {}
        mark = data.get("sync")
        self._mark = mark if isinstance(mark, dict) else {}
        cards = data.get("cards")
        if not isinstance(cards, dict):
            return {}
        # an entry of another shape is as good as none: that card is fetched and compared
        return {href: entry for href, entry in cards.items() if _state_entry(entry)}

    def _save_state(self, cards: dict[str, Any]) -> None:
        data = {"version": STATE_VERSION, "target": self.config.target.describe(), "cards": cards}
        if self._new_mark:
            data["sync"] = self._new_mark  # the listing the token belongs to (RFC 6578)
        try:
            self.config.state.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(self.config.state) as stream:
                stream.write(json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))
        except OSError as exc:
            raise SyncError(
                f"cannot write the state file ({exc.strerror})", file=str(self.config.state)
            ) from exc

    def requests(self) -> dict[str, dict[str, int]]:
        """Requests sent so far, per endpoint and method."""
        out = {}
        if self.source is not None:
            out["source"] = dict(self.source.requests)
        if self.target is not None:
            out["target"] = dict(self.target.requests)
        return out


class _CardNames:
    """Which source card each line of the joined source book came from."""

    def __init__(self, origin: str) -> None:
        self.origin = origin  # scheme://host[:port] of the source
        self.starts: list[int] = []  # 1-based first line of each card in the joined book
        self.hrefs: list[str] = []
        self._next = 1

    def add(self, href: str, lines: int) -> None:
        self.starts.append(self._next)
        self.hrefs.append(href)
        self._next += lines

    def rename(self, contact: Contact) -> Contact:
        """The contact named ``<source-url><href>:<line in the card>`` instead of a joined line."""
        i = bisect.bisect_right(self.starts, contact.line) - 1
        if i < 0:
            return contact
        return replace(
            contact, source=self.origin + self.hrefs[i], line=contact.line - self.starts[i] + 1
        )


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL: a card's href (an absolute path) is appended to it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def _incremental_source(
    client: CardDAVClient,
    cache: SourceCache,
    known: dict[str, str],
    slim: Callable[[str], str],
) -> davsync.Listing | None:
    """The source's changes since the token the cache keeps; None: list it as before."""
    from . import davsync

    token, collection = cache.sync_mark()
    if client.use_sync is None and cache.sync_offered() is False:
        client.use_sync = False  # the server said no before: do not ask on every run
    return davsync.fetch_changed(client, known, token, collection, slim=slim)


# --------------------------------------------------------------------------- one run


def run_sync(
    config: SyncConfig | str | Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    transport: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
    shared: SharedSource | None = None,
) -> SyncOutcome:
    """One sync run: lock, plan, guard, (unless ``dry_run``) apply, write the report.

    ``shared``: a fleet run's source (fleet.py), read once for every target that names it.

    Raises GuardRefused (nothing changed) when a guard of ``guards.py`` stops the plan and
    neither ``force`` nor the config's ``force`` says to go on; QuarantineFailed after the run
    when a card could not be quarantined (it was left on the phone).
    """
    if not isinstance(config, SyncConfig):
        config = load_config(config)
    started = time.perf_counter()
    with SyncJob(
        config, transport=transport, sleep=sleep, now=now, dry_run=dry_run, shared=shared
    ) as job:
        plan = job.plan()
        if plan.refusals and not (force or config.force):
            raise GuardRefused(
                "; ".join(plan.refusals)
                + ". Nothing was changed; check the config, or pass --force (force = true) "
                "to go ahead on purpose",
                plan=plan.text(),
            )
        outcome = SyncOutcome(plan, dry_run=True) if dry_run else job.apply(plan)
        outcome.requests = job.requests()
    outcome.seconds = time.perf_counter() - started
    outcome.warnings = [f"forced past: {r}" for r in plan.refusals]
    if not dry_run and config.report is not None:
        write_sync_report(config.report, outcome, config)
    if outcome.failed:
        more = f" (and {len(outcome.failed) - 1} more problems)" if len(outcome.failed) > 1 else ""
        raise RunIncomplete(outcome.failed[0] + more, outcome=outcome)
    return outcome


def write_sync_report(path: Path, outcome: SyncOutcome, config: SyncConfig) -> None:
    """The sanitize report (one entry per source contact) plus a "sync" section."""
    from .report import build_report

    plan = outcome.plan
    report = build_report(plan.decisions, plan.summary, plan.policy)
    report["sync"] = {
        "source": config.source.describe(),
        "target": config.target.describe(),
        "name": config.label,
        "groups": outcome.plan.groups,
        "dry_run": outcome.dry_run,
        "counts": outcome.counts(),
        "actions": [
            {
                "action": a.kind,
                "uid": a.uid,
                "href": a.href,
                "quarantined": a.quarantine is not None,
                **({"name": a.desired.contact.display_name} if a.desired else {}),
                **({"why": a.why} if a.why else {}),
            }
            for a in plan.actions
        ],
        "skipped": outcome.skipped,
        "quarantine_files": outcome.quarantine_files,
        "notes": plan.notes,
        "warnings": outcome.warnings,
        "failed": outcome.failed,
        "requests": outcome.requests,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _rotate_reports(path, config.report_keep)
    with atomic_write(path) as stream:  # created 0600: it names people
        stream.write(json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8"))


def report_files(path: Path, keep: int) -> list[Path]:
    """The report of the last run and those before it: ``report.json``, ``report.1.json``, ..."""
    return [path] + [path.with_name(f"{path.stem}.{n}{path.suffix}") for n in range(1, keep)]


def _rotate_reports(path: Path, keep: int) -> None:
    """Keep the reports of the last ``keep`` runs: each one moves down a number, the oldest
    goes."""
    files = report_files(path, keep)
    for older, newer in zip(reversed(files[1:]), reversed(files[:-1]), strict=True):
        with contextlib.suppress(FileNotFoundError):
            newer.replace(older)


_STATE_KEYS = frozenset({"uid", "etag", "source_hash", "read_hash"})


def _state_entry(entry: object) -> bool:
    """Whether a state-file entry has the shape this version writes (text or null values)."""
    return (
        isinstance(entry, dict)
        and entry.keys() == _STATE_KEYS
        and all(value is None or isinstance(value, str) for value in entry.values())
    )


def take_lock(path: Path, over: str) -> TextIO:
    """An exclusive flock on ``path`` (created 0600), held until the returned file is closed;
    a second run stops at once with a SyncError saying which run (``over``) holds it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        stream = os.fdopen(fd, "a+", encoding="utf-8")
    except OSError as exc:
        raise SyncError(f"cannot open the lock file ({exc.strerror})", file=str(path)) from exc
    try:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        stream.close()
        raise SyncError(
            f"another sync run {over} is still running (it holds the lock); "
            "this run changed nothing - the next scheduled run will catch up",
            file=str(path),
        ) from exc
    stream.truncate(0)
    stream.write(f"{os.getpid()}\n")
    stream.flush()
    return stream
