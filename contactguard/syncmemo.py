"""When a sync run may skip deciding again: nothing its decisions depend on changed.

A run that converged (every planned change made, none skipped or failed) leaves a memo in the
state file. The next run compares, before it reads a card or the evidence:

- ``config``: a hash of every field of the config, and of the contactguard and phonenumbers
  versions (an upgrade may decide differently);
- ``inputs``: size, mtime, ctime and inode of every local file the run reads (the config, the
  evidence files with folders and globs expanded, the ledger and its ``-wal``, secret files, a
  file source); a remote evidence URL cannot be fingerprinted without fetching it, so a config
  with one never skips;
- ``source``: a hash of the source's listing (href → ETag) the decisions were made from; a card
  listed without an ETag cannot be told unchanged, so such a source never skips;
- ``expires``: the first moment a decision could change by itself: with ``max_age``, the earliest
  time at which a person whose evidence is still fresh would age out (None without ``max_age``);
- and the phone: it must hold exactly the cards the state says we wrote, with the same ETags.

When all of these hold, the run costs one listing request per collection (the source's changes
since its token, the phone's) and no parsing or deciding: the previous run's decisions stand,
and its report is kept with a new ``sync`` section. Anything that differs makes a full run, which
reuses the requests already made.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .syncconfig import SyncConfig, is_url

if TYPE_CHECKING:
    from .evidence import Evidence
    from .summary import Summary

__all__ = [
    "Memo",
    "config_hash",
    "expiry",
    "inputs_hash",
    "listing_hash",
    "phone_as_written",
    "summary_from",
    "summary_json",
]


@dataclass(frozen=True)
class Memo:
    """What the decisions of the last converged run depended on (see the module docstring)."""

    config: str
    inputs: str
    source: str
    expires: str | None  # ISO 8601, UTC; None: no decision depends on the time
    evidence: int  # people the evidence knew (the no-evidence guard)
    groups: int  # group cards left out of the source
    summary: dict[str, Any]  # the run's counts (``summary_json``), told again when reused

    @classmethod
    def load(cls, data: object) -> Memo | None:
        """The memo as the state holds it; None for anything of another shape."""
        if not isinstance(data, dict) or data.keys() != cls.__dataclass_fields__.keys():
            return None
        strings = ("config", "inputs", "source")
        if not all(isinstance(data[k], str) for k in strings):
            return None
        if not (data["expires"] is None or isinstance(data["expires"], str)):
            return None
        if not all(type(data[k]) is int for k in ("evidence", "groups")):
            return None
        if not isinstance(data["summary"], dict):
            return None
        return cls(**data)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def expired(self, now: datetime) -> bool:
        """Whether some decision may have changed by the passing of time alone."""
        if self.expires is None:
            return False
        try:
            return now >= datetime.fromisoformat(self.expires)
        except ValueError:
            return True


def summary_json(summary: Summary) -> dict[str, Any]:
    """The counts of a run's Summary as JSON (the list of unmatched evidence stays in the
    report)."""
    out: dict[str, Any] = {}
    for f in fields(summary):
        value = getattr(summary, f.name)
        if isinstance(value, int) or (
            isinstance(value, dict) and all(type(v) is int for v in value.values())
        ):
            out[f.name] = dict(value) if isinstance(value, dict) else value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[f.name] = list(value)
    return out


def summary_from(data: dict[str, Any]) -> Summary:
    """A Summary with the counts ``summary_json`` kept (anything else stays at its default)."""
    from .summary import Summary

    summary = Summary()
    for f in fields(summary):
        if f.name not in data:
            continue
        current, value = getattr(summary, f.name), data[f.name]
        if isinstance(current, Counter) and isinstance(value, dict):
            setattr(summary, f.name, Counter(value))
        elif isinstance(current, type(value)):
            setattr(summary, f.name, value)
    return summary


def config_hash(config: SyncConfig) -> str:
    """A hash of every field of the config and of the code that decides."""
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for package in ("contactguard", "phonenumbers"):
        try:
            versions.append(version(package))
        except PackageNotFoundError:  # pragma: no cover - run from a source tree
            versions.append("?")
    text = json.dumps([_canonical(config), versions], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: object) -> object:
    """``value`` as JSON the same in every process (a set's order follows string hashing,
    which differs between processes)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (set, frozenset)):
        return sorted(repr(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def inputs_hash(config: SyncConfig) -> str | None:
    """A fingerprint of every local input file; None when some evidence is remote."""
    if any(is_url(s) for s in config.evidence_sources):
        return None
    parts = []
    paths = {Path(p) for p in config.inputs()}
    if config.ledger is not None:
        paths.add(Path(f"{config.ledger}-wal"))  # SQLite's write-ahead log, when there is one
    for path in sorted(paths):
        parts.extend(_stat(path))
        if path.is_dir():  # a phone backup folder: one source of many files
            for folder, _dirs, files in os.walk(path):
                for name in sorted(files):
                    parts.extend(_stat(Path(folder) / name))
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


def _stat(path: Path) -> list[object]:
    try:
        st = path.stat()
    except OSError:
        return [str(path), None]
    return [str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def listing_hash(listing: Mapping[str, str | None]) -> str | None:
    """A hash of a listing (href → ETag); None when a card has no ETag (it cannot be told
    unchanged)."""
    if any(etag is None for etag in listing.values()):
        return None
    text = json.dumps(sorted(listing.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def expiry(evidence: Evidence, max_age: timedelta | None, now: datetime) -> str | None:
    """The first moment at which a decision could change with time alone, or None.

    With ``max_age``, a person is kept while the last inbound message is younger; time can only
    make fresh evidence stale. The earliest that any evidence that is fresh now goes stale
    bounds every such change (a person's merged evidence goes stale no earlier than the freshest
    of its parts).
    """
    if max_age is None:
        return None
    first: datetime | None = None
    entries = [i.entry for i in evidence.identities()]
    entries.extend(entry for _, entry in evidence.name_items())
    for entry in entries:
        last = entry.last_inbound_at or entry.first_inbound_at
        if last is None or now - last > max_age:
            continue
        ends = last + max_age
        if first is None or ends < first:
            first = ends
    return None if first is None else first.isoformat()


def phone_as_written(
    listing: Mapping[str, str | None], cards: Mapping[str, Mapping[str, Any]]
) -> bool:
    """Whether the phone holds exactly the cards we wrote (same hrefs, same ETags)."""
    if listing.keys() != cards.keys():
        return False
    return all(etag is not None and cards[h].get("etag") == etag for h, etag in listing.items())
