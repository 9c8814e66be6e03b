"""Carrying out a sync plan on the phone: quarantine first, then DELETE and PUT, with ETags.

- Every change names the card's ETag (``If-Match``) or asks that none exists (``If-None-Match``):
  a card that changed since it was listed answers 412 and is skipped; the next run decides again.
- A card we did not write is saved to the quarantine folder (every byte, file and folder fsynced)
  before it is deleted or overwritten; when that fails the card stays and the run exits 1.
- Deletes go first, one by one (a leak leaves the phone as soon as possible); PUTs go a few at a
  time (``concurrency``). The state is saved (atomically) and the journal written however the
  run ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._atomic import private_folder, write_new_durably
from .cardtext import card_hash
from .errors import SyncError
from .journal import Entry
from .syncconfig import SyncConfig
from .syncplan import Action, Plan, SyncOutcome, canonical_hash, parse_card, serialize_card

if TYPE_CHECKING:
    from .carddav import CardDAVClient

__all__ = ["Applier", "QuarantineFailed"]


class QuarantineFailed(SyncError):
    """A card could not be saved to the quarantine, so it was neither deleted nor overwritten."""


class Applier:
    """Applies one plan to the target, recording each change in the state (href → entry)."""

    def __init__(
        self,
        config: SyncConfig,
        target: CardDAVClient,
        state: dict[str, Any],
        save_state: Callable[[dict[str, Any], bool], None],
    ) -> None:
        self.config = config
        self.target = target
        self._state = state
        self._save_state = save_state
        self._record = threading.Lock()  # outcome and state, written by the PUT workers

    def apply(self, plan: Plan) -> SyncOutcome:
        """Quarantine, then DELETE and PUT as planned; a 412 skips that card."""
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
        done = False
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
            done = True
        finally:
            try:
                # converged: the phone now holds exactly the plan's book, nothing left to retry
                self._save_state(state, done and not outcome.skipped and not outcome.failed)
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
            contact = parse_card(card.data or "", card.href)
            written = parse_card(serialize_card(action.desired.contact), "written")
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
        data = serialize_card(action.desired.contact)
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
            card = parse_card(action.quarantine, "quarantined")
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
