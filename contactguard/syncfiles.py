"""The files a sync run keeps: the state (what we wrote), the lock, the rotated reports.

- **State** (JSON, written atomically): every target href we wrote → its UID, ETag and two
  hashes (of the clean contact it came from, of the card as read back); the target's sync token
  and the listing it belongs to (``"sync"``). A state of another version, for another target or
  of another shape is as good as none: every card is then fetched and compared, nothing is lost.
- **Lock**: an ``fcntl.flock`` held for the whole run; a second run stops at once.
- **Reports**: the last ``report_keep`` runs' reports, ``report.json``, ``report.1.json``, ...
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any, TextIO

from ._atomic import atomic_write
from .errors import SyncError
from .syncconfig import SyncConfig
from .syncmemo import Memo
from .syncplan import Plan, SyncOutcome

__all__ = [
    "STATE_VERSION",
    "SyncState",
    "load_state",
    "previous_report",
    "report_files",
    "save_state",
    "take_lock",
    "write_sync_report",
]

# 2: read_hash covers every property of the card (cardtext.card_hash); a state of
# version 1 is dropped, and cards that hold what we want are adopted again
STATE_VERSION = 2


class SyncState:
    """What the state file holds: the cards we wrote (href → entry) and the target's sync mark."""

    def __init__(
        self, cards: dict[str, dict[str, Any]] | None = None, mark: dict[str, Any] | None = None
    ) -> None:
        self.cards = cards if cards is not None else {}
        self.mark = mark if mark is not None else {}
        self.memo: Memo | None = None  # what the last converged run depended on (syncmemo)


def load_state(config: SyncConfig) -> SyncState:
    """The state of the last run against this config's target; empty when there is none."""
    path = config.state
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return SyncState()
    except (OSError, ValueError):
        return SyncState()  # unreadable: every card is fetched and compared, nothing is lost
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return SyncState()
    if data.get("target") != config.target.describe():
        return SyncState()
    mark = data.get("sync")
    state = SyncState(mark=mark if isinstance(mark, dict) else {})
    state.memo = Memo.load(data.get("memo"))
    cards = data.get("cards")
    if not isinstance(cards, dict):
        return state
    # an entry of another shape is as good as none: that card is fetched and compared
    state.cards = {href: entry for href, entry in cards.items() if _state_entry(entry)}
    return state


def save_state(
    config: SyncConfig,
    cards: dict[str, Any],
    mark: dict[str, Any],
    memo: dict[str, Any] | None = None,
) -> None:
    """Write the state atomically: the cards we wrote, the target's sync mark and (after a
    converged run) the memo of what its decisions depended on."""
    data: dict[str, Any] = {
        "version": STATE_VERSION,
        "target": config.target.describe(),
        "cards": cards,
    }
    if mark:
        data["sync"] = mark  # the listing the token belongs to (RFC 6578)
    if memo is not None:
        data["memo"] = memo
    try:
        config.state.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(config.state) as stream:
            stream.write(json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))
    except OSError as exc:
        raise SyncError(
            f"cannot write the state file ({exc.strerror})", file=str(config.state)
        ) from exc


def write_sync_report(path: Path, outcome: SyncOutcome, config: SyncConfig) -> None:
    """The sanitize report (one entry per source contact) plus a "sync" section."""
    plan = outcome.plan
    section = {
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
        "reused": plan.reused,
    }
    tail = json.dumps({"sync": section}, ensure_ascii=False, indent=2)[1:]
    if plan.reused and plan.previous_report is not None:
        # the decisions stand: the last report's body, with this run's sync section
        head = plan.previous_report[: plan.previous_report.rindex(_SYNC_KEY)]
        data = (head + tail).encode("utf-8")
    else:
        data = _full_report(plan) + b"," + tail.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    _rotate_reports(path, config.report_keep)
    with atomic_write(path) as stream:  # created 0600: it names people
        stream.write(data)


def _full_report(plan: Plan) -> bytes:
    """The sanitize report as the CLI writes it (one line per contact: the engine renders it
    as it decides, ``Plan.report_body``), open at its end for the sync section."""
    data = plan.report_body
    assert data is not None and data.endswith(b"\n}\n")  # set by every plan that decided
    return data[: -len(b"\n}\n")]


# the report's last top-level key, as ``json.dumps(indent=2)`` writes it: a JSON string holds
# no raw line break, so this appears once, at the top level
_SYNC_KEY = '\n  "sync": '


def previous_report(path: Path) -> str | None:
    """The text of the last run's report when it is one this code wrote, else None."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("{\n") or text.count(_SYNC_KEY) != 1 or not text.endswith("}\n}"):
        return None
    return text


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
