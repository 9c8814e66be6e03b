"""The scheduled sync job: keep a phone's CardDAV address book holding exactly the allowed people.

    source (CardDAV or file) ─► Sanitizer ─► clean book ─┐
                                                         ├─► plan by UID ─► quarantine
    target listing (href → ETag) + state file ───────────┘       ─► DELETE / PUT

The parts live beside this module: ``syncsource`` (reading the source), ``syncplan`` (the
desired book and the diff), ``syncapply`` (quarantine, DELETE, PUT), ``syncfiles`` (state, lock,
reports), ``syncmemo`` (when the last decisions may be reused); ``docs/architecture.md`` draws
a run.

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
  whole book in one ``addressbook-query``. Only the download is cached, never a decision of a
  card: every card goes through the Sanitizer again whenever anything decisions depend on
  changed.
- **Nothing to decide**: after a run that made every change it planned, the state keeps what its
  decisions depended on (``syncmemo.py``); when all of it is unchanged and the phone holds
  exactly what we wrote, the next run (``SyncJob.reuse``) parses and decides nothing and keeps
  the last report, for one listing request per collection.
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

import contextlib
import io
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .cardtext import card_hash
from .guards import GuardRefused, nested_collections, no_evidence, too_many_deletions
from .options import RunOptions, parse_max_age
from .syncapply import Applier, QuarantineFailed
from .syncconfig import Endpoint, SyncConfig, is_url, load_config, secret
from .syncfiles import (
    STATE_VERSION,
    load_state,
    previous_report,
    report_files,
    save_state,
    take_lock,
    write_sync_report,
)
from .syncmemo import (
    Memo,
    config_hash,
    expiry,
    inputs_hash,
    listing_hash,
    phone_as_written,
    summary_from,
    summary_json,
)
from .syncplan import (
    Action,
    Plan,
    RunIncomplete,
    SyncOutcome,
    TargetCard,
    canonical_hash,
    desired_book,
    diff,
    parse_card,
)
from .syncsource import CardNames, SourceReader, http_session, origin

if TYPE_CHECKING:  # httpx stays out of ``contactguard --help``: carddav is imported lazily;
    # a reused run imports no engine (books, phone numbers, policy, pipeline): ``plan`` does
    from .books import ReadOptions
    from .carddav import CardDAVClient, HttpSession
    from .evidence import Evidence
    from .fleet import SharedSource
    from .model import Contact, Decision
    from .pipeline import Sanitizer
    from .policy import Policy
    from .summary import Summary

# a folded vCard line goes on after a line break and one space or tab
_FOLD = re.compile(r"\r?\n[ \t]")

__all__ = [
    "STATE_VERSION",
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
    "report_files",
    "run_sync",
    "take_lock",
    "write_sync_report",
]


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
        self._reader: SourceReader | None = None
        self._listing: dict[str, str | None] | None = None  # the target's, once listed
        self._memo: Memo | None = None  # what the last converged run's decisions depended on
        self._inputs: str | None = None  # the local inputs' fingerprint, taken before reading
        self._evidence_seen: Evidence | None = None
        self._summary: Summary | None = None  # of the plan being applied

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
            state = load_state(self.config)
            self._state, self._mark, self._memo = state.cards, state.mark, state.memo
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        for session in self._sessions:
            session.close()
        self._sessions.clear()
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def _acquire_lock(self) -> None:
        self._lock = take_lock(self.config.lock, "with this config")

    def _session(self, endpoint: Endpoint, section: str) -> HttpSession:
        session = http_session(
            self.config, endpoint, section, transport=self._transport, sleep=self._sleep
        )
        self._sessions.append(session)
        return session

    # -- planning ------------------------------------------------------------------------------

    def plan(self) -> Plan:
        """Compute the clean book and the changes the target needs; change nothing."""
        from .pipeline import Sanitizer

        evidence = self._evidence()
        policy = RunOptions(
            region=self.config.region,
            keep_fields=self.config.keep_fields,
            max_age=self.config.max_age,
            match_ar_without_9=self.config.match_ar_without_9,
            now=self._now,
        ).policy()
        sanitizer = Sanitizer(evidence, policy, self._read_options(policy))
        # the engine's quick path: contacts without any evidence are counted and rendered into
        # the report, never a Decision each; ``decisions`` gets the others' (full_only)
        decisions: list[Decision] = []
        body = io.BytesIO() if not self.dry_run and self.config.report is not None else None
        if self._shared is not None:
            run = sanitizer.run(
                [self._shared.book()], on_decision=decisions.append, full_only=True, report=body
            )
            self.groups = self._shared.groups
        else:
            with self._source_book() as (book, names):
                # each source card's contacts are named by the card's own URL
                run = sanitizer.run(
                    [book],
                    on_decision=decisions.append,
                    full_only=True,
                    report=body,
                    places=None if names is None else names.place,
                )
        notes = list(evidence.warnings)
        if self.groups:
            notes.append(
                f"{self.groups} group card(s) in the source (KIND:group): lists, not people; "
                "never synced"
            )
        desired = desired_book(run.clean, notes)
        assert self.target is not None
        listing = self._target_listing()
        known = self._known(listing)
        plan = diff(desired, known, self.target.href_for)
        decisions += self._quick_removals(plan, decisions, sanitizer, policy)
        plan.decisions, plan.summary, plan.policy = decisions, run.summary, policy
        plan.report_body = None if body is None else body.getvalue()
        plan.notes = notes + plan.notes
        plan.target_cards = len(listing)
        plan.refusals = self._refusals(plan, evidence)
        plan.groups = self.groups
        return plan

    def _quick_removals(
        self, plan: Plan, decisions: list[Decision], sanitizer: Sanitizer, policy: Policy
    ) -> list[Decision]:
        """The removal decisions of source contacts the engine decided on its quick path (no
        evidence for any number: no Decision made) whose card we wrote is now deleted, for the
        journal's reason and numbers. Such a decision depends on that contact alone (it merges
        with nothing), so each is made again by itself."""
        from .pipeline import ParsedBook

        known = {d.contact.uid for d in decisions if not d.kept}
        wanted = {
            a.uid
            for a in plan.actions
            if a.kind == "delete" and a.quarantine is None and a.uid and a.uid not in known
        }
        if not wanted:
            return []
        found = [c for c in self._source_contacts(wanted, policy) if c.uid in wanted]
        again: list[Decision] = []
        if found:
            sanitizer.run([ParsedBook("removed", found)], on_decision=again.append)
        return [d for d in again if not d.kept]

    def _source_contacts(self, uids: set[str], policy: Policy) -> Iterator[Contact]:
        """The source's contacts that may have one of ``uids`` (named as the run named them)."""
        from .books import read_book

        if self._shared is not None:
            yield from self._shared.contacts()
            return
        options = self._read_options(policy)
        if self._reader is None or self._reader.people is None:
            path = self.config.source.path
            if path is not None:
                yield from read_book(path, options)
            return
        base = origin(self.config.source.describe())
        for href, text in self._reader.people:
            unfolded = _FOLD.sub("", text)
            if any(uid in unfolded for uid in uids):
                yield from read_book(
                    io.BytesIO(text.encode("utf-8")), options, name=base + href
                )

    def _refusals(self, plan: Plan, evidence: Evidence) -> list[str]:
        """What the guards (guards.py) say against this plan."""
        return self._guards(plan, len(evidence) + len(evidence.names))

    def _guards(self, plan: Plan, people: int) -> list[str]:
        """The guards over a plan and the number of people the evidence knows."""
        found: list[str] = []
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
        empty = no_evidence(people)
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
        assert self.target is not None
        if self._listing is None:
            self._listing = self._list_target()
        return self._listing

    def _list_target(self) -> dict[str, str | None]:
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
        from .books import ReadOptions

        fmt = "vcard" if self.config.source.url is not None else self.config.source.input_format
        # the policy looks at no other field, so the reader may skip vobject for most cards
        return ReadOptions(input_format=fmt, fields=policy.keep_fields)

    def _evidence(self) -> Any:
        from .options import EvidenceOptions

        ledger, key = self.config.ledger, self.config.backup_key_file
        evidence = EvidenceOptions(
            sources=[s for s in self.config.evidence_sources if not is_url(s)],
            ledger=None if ledger is None else str(ledger),
            backup_key_file=None if key is None else str(key),
        ).load()
        self._evidence_seen = evidence
        remote = [s for s in self.config.evidence_sources if is_url(s)]
        if remote:
            from .evidence.remote import fetch_records

            auth = self.config.evidence_auth
            token = secret(auth, "token", "evidence")
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
    def _source_book(self) -> Iterator[tuple[Any, CardNames | None]]:
        """The source as one book, and (CardDAV) the URL of the card each line came from."""
        if self._reader is None:
            self._reader = SourceReader(self.config, self.source, dry_run=self.dry_run)
        with self._reader.book() as (book, names):
            self.groups = self._reader.groups
            yield book, names

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
                contact = parse_card(card.data or "", card.href)
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

    # -- applying ------------------------------------------------------------------------------

    def apply(self, plan: Plan) -> SyncOutcome:
        """Quarantine, then DELETE and PUT as planned (``syncapply.Applier``); a 412 skips that
        card."""
        assert self.target is not None
        self._summary = plan.summary
        applier = Applier(self.config, self.target, self._state, self._save_state)
        return applier.apply(plan)

    def _save_state(self, cards: dict[str, Any], converged: bool) -> None:
        save_state(self.config, cards, self._new_mark, self._new_memo() if converged else None)

    # -- a run with nothing to decide ----------------------------------------------------------

    def reuse(self) -> Plan | None:
        """The plan of a run whose decisions cannot have changed since the last converged run
        (``syncmemo.py``): nothing to do, the previous report kept. None: ``plan`` decides.

        Costs the source's and the phone's listing (one request each where the server offers
        sync-collection); ``plan`` reuses them when this says no.
        """
        memo = self._memo
        self._inputs = inputs_hash(self.config)  # before anything is read: a change counts
        if self.dry_run or memo is None or self._inputs is None:
            return None
        now = self._now or datetime.now(timezone.utc)
        if memo.inputs != self._inputs or memo.config != config_hash(self.config):
            return None
        if memo.expired(now):
            return None
        previous = None
        if self.config.report is not None:
            previous = previous_report(self.config.report)
            if previous is None:
                return None  # the report of the last run is gone: decide again to write it
        listing = self._target_listing()
        if not phone_as_written(listing, self._state):
            return None
        if self._source_fingerprint() != memo.source:
            return None
        plan = Plan([], len(self._state), {}, [], summary_from(memo.summary), None)
        plan.reused, plan.previous_report = True, previous
        plan.target_cards, plan.groups = len(listing), memo.groups
        plan.notes = [
            "nothing changed since the last run (source, phone, evidence, config): its "
            "decisions stand"
        ]
        plan.refusals = self._guards(plan, memo.evidence)
        return plan

    def _source_fingerprint(self, *, fetch: bool = True) -> str | None:
        """What the source's decisions came from: its listing's hash (a fleet's shared source
        adds the fields it parses); "file" for a file source (its stat is among the inputs)."""
        if self._shared is not None:
            return self._shared.fingerprint()
        if self.config.source.url is None:
            return "file"
        if self._reader is None:
            if not fetch:
                return None
            self._reader = SourceReader(self.config, self.source, dry_run=self.dry_run)
        listing = self._reader.fetch() if fetch else self._reader.listing
        return None if listing is None else listing_hash(listing)

    def _new_memo(self) -> dict[str, Any] | None:
        """The memo of this run, when it decided from local inputs alone (else None)."""
        if self.dry_run or self._inputs is None:
            return None
        if self._memo is not None and self._evidence_seen is None:
            return self._memo.as_json()  # a reused run: nothing it depends on changed
        evidence = self._evidence_seen
        if evidence is None or self._summary is None:
            return None
        source = self._source_fingerprint(fetch=False)
        if source is None:
            return None
        now = self._now or datetime.now(timezone.utc)
        return Memo(
            config=config_hash(self.config),
            inputs=self._inputs,
            source=source,
            expires=expiry(evidence, parse_max_age(self.config.max_age), now),
            evidence=len(evidence) + len(evidence.names),
            groups=self.groups,
            summary=summary_json(self._summary),
        ).as_json()

    def requests(self) -> dict[str, dict[str, int]]:
        """Requests sent so far, per endpoint and method."""
        out = {}
        if self.source is not None:
            out["source"] = dict(self.source.requests)
        if self.target is not None:
            out["target"] = dict(self.target.requests)
        return out




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
        plan = job.reuse() or job.plan()
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
