"""The run journal: one line per change a sync run made, kept for weeks, readable with --history.

Cron runs print nothing when all went well (``sync --quiet``), so what a run deleted must be
findable later without the report of that very run. Each change is one JSON line appended to
the journal next to the state file: time, target, action, card UID, the card's numbers masked
(``phones.mask``), the reason and the quarantine file. The file is created 0600 (it names
people), appended to and fsynced once per run; past ``max_bytes`` it is rotated like logrotate
does (``journal`` → ``journal.1`` → … → ``journal.KEEP``, the oldest dropped).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._atomic import private_folder, write_all
from .errors import SyncError

__all__ = ["KEEP", "Entry", "append", "history", "read_entries"]

KEEP = 4  # rotated journals kept besides the current one


@dataclass(frozen=True)
class Entry:
    """One change of one run."""

    time: str  # ISO 8601, UTC
    target: str  # the target's URL without user info
    action: str  # create | update | delete | kept (a change that was not made, and why)
    uid: str
    numbers: tuple[str, ...]  # masked
    reason: str
    quarantine: str | None = None  # the file the card was saved to first

    def line(self) -> str:
        return json.dumps(
            {
                "time": self.time,
                "target": self.target,
                "action": self.action,
                "uid": self.uid,
                "numbers": list(self.numbers),
                "reason": self.reason,
                "quarantine": self.quarantine,
            },
            ensure_ascii=False,
        )

    def text(self) -> str:
        """The entry as ``--history`` shows it: one line."""
        numbers = ",".join(self.numbers) or "-"
        saved = f"  quarantine: {self.quarantine}" if self.quarantine else ""
        return f"{self.time}  {self.action:6}  <{self.uid}>  {numbers}  {self.reason}{saved}"


def append(path: Path, entries: Iterable[Entry], *, max_bytes: int) -> int:
    """Append ``entries`` (rotating first when the journal would pass ``max_bytes``); how many."""
    data = "".join(e.line() + "\n" for e in entries).encode("utf-8")
    if not data:
        return 0
    try:
        private_folder(path.parent)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size + len(data) > max_bytes:
                _rotate(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise SyncError(f"cannot write the run journal ({exc.strerror})", file=str(path)) from exc
    return data.count(b"\n")


def _rotate(path: Path) -> None:
    for n in range(KEEP - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    path.replace(path.with_name(f"{path.name}.1"))


def read_entries(path: Path) -> Iterator[Entry]:
    """Every entry of the journal and its rotated files, oldest first; bad lines are skipped."""
    files = [path.with_name(f"{path.name}.{n}") for n in range(KEEP, 0, -1)] + [path]
    for file in files:
        try:
            stream = file.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        except OSError as exc:
            message = f"cannot read the run journal ({exc.strerror})"
            raise SyncError(message, file=str(file)) from exc
        with stream:
            for line in stream:
                entry = _entry(line)
                if entry is not None:
                    yield entry


def _entry(line: str) -> Entry | None:
    try:
        data: Any = json.loads(line)
    except ValueError:
        return None  # a line cut short by a crash: the rest is still readable
    if not isinstance(data, dict):
        return None
    numbers = data.get("numbers")
    return Entry(
        time=str(data.get("time", "")),
        target=str(data.get("target", "")),
        action=str(data.get("action", "")),
        uid=str(data.get("uid", "")),
        numbers=tuple(str(n) for n in numbers) if isinstance(numbers, list) else (),
        reason=str(data.get("reason", "")),
        quarantine=None if data.get("quarantine") is None else str(data["quarantine"]),
    )


def history(path: Path) -> Iterator[str]:
    """The journal as text lines, oldest first."""
    return (entry.text() for entry in read_entries(path))
