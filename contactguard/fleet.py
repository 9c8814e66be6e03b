"""Many phones in one run: every target of a config folder, the company book read once.

    config folder ─► targets (one per [target] / [[target]])
                          │
    company book ─► SharedSource (fetched and parsed once per source) ─┐
                                                                      ├─► SyncJob per target
    each target's evidence, policy, state, quarantine ────────────────┘   (``jobs`` at once)

- **Targets**: every ``*.toml`` of the folder, each in the one-phone format; a file may hold
  several ``[[target]]``s (``syncconfig.load_configs``). A file that cannot be read fails its own
  targets only. Two targets naming the same phone book, state or lock fail: they would fight.
- **The source is shared**: targets naming the same source (URL or file, same login) share one
  ``SharedSource``: the first target that needs it fetches it (through the source cache and
  sync-collection, as a single run does) and parses it once, keeping every field any of those
  targets keeps; each target then applies its own evidence and policy to the parsed contacts.
- **Failures stay with their target**: a wrong password, a server that is down, a broken config
  is reported for that target; the others go on. ``FleetOutcome.ok`` says whether all succeeded.
- **One lock** covers the whole run (a second fleet run over the same folder stops at once);
  every target also takes its own lock, so a one-phone run of the same config cannot overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, ContactguardError, SyncError
from .sync import SyncOutcome, run_sync
from .syncconfig import SyncConfig, load_configs
from .syncfiles import take_lock
from .syncmemo import listing_hash
from .syncsource import SourceReader, http_session

if TYPE_CHECKING:
    from .carddav import CardDAVClient, HttpSession
    from .model import Contact  # a fleet whose targets all reuse imports no engine
    from .pipeline import ParsedBook

__all__ = [
    "FLEET_LOCK",
    "FleetOutcome",
    "SharedSource",
    "TargetResult",
    "load_folder",
    "run_fleet",
]

FLEET_LOCK = ".contactguard-sync.lock"  # in the config folder: one fleet run at a time
MAX_JOBS = 32


@dataclass
class TargetResult:
    """One target's run: its outcome, or the one-line error that stopped it."""

    label: str
    config: SyncConfig | None = None
    outcome: SyncOutcome | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One line naming the target: its counts, or why it failed."""
        if self.outcome is None:
            return f"FAILED {self.label}: {self.error}"
        c = self.outcome.counts()
        verb = ""
        if self.outcome.dry_run:  # nothing was done: what the plan would do
            p, verb = self.outcome.plan, "would have "
            c = {
                "created": p.count("create"),
                "updated": p.count("update"),
                "deleted": p.count("delete"),
                "quarantined": sum(1 for a in p.actions if a.quarantine is not None),
                "skipped": 0,
                "unchanged": p.unchanged,
            }
        return (
            f"ok     {self.label}: {verb}created {c['created']}, updated {c['updated']}, "
            f"deleted {c['deleted']}, quarantined {c['quarantined']}, skipped {c['skipped']}; "
            f"{c['unchanged']} unchanged"
        )


@dataclass
class FleetOutcome:
    """What a fleet run did: one result per target, the sources' requests, the time taken."""

    results: list[TargetResult]
    sources: dict[str, dict[str, int]] = field(default_factory=dict)  # source → method → count
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[TargetResult]:
        return [r for r in self.results if not r.ok]

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for result in self.results:
            if result.outcome is not None:
                for key, value in result.outcome.counts().items():
                    totals[key] = totals.get(key, 0) + value
        return totals

    def summary_line(self) -> str:
        t = self.totals()
        done = len(self.results) - len(self.failed)
        failed = (
            f", {len(self.failed)} failed ({', '.join(r.label for r in self.failed)})"
            if self.failed
            else ""
        )
        requests = sum(sum(m.values()) for m in self.sources.values())
        return (
            f"contactguard sync: {done} of {len(self.results)} targets synced{failed}; "
            f"created {t.get('created', 0)}, updated {t.get('updated', 0)}, deleted "
            f"{t.get('deleted', 0)}, quarantined {t.get('quarantined', 0)}, skipped "
            f"{t.get('skipped', 0)}; {t.get('unchanged', 0)} unchanged; "
            f"{len(self.sources)} source(s) read once ({requests} requests)"
        )


def _source_key(config: SyncConfig) -> tuple[object, ...]:
    """Targets with the same key read the same book with the same login: it is read once."""
    s = config.source
    return (
        s.url,
        s.path,
        s.username,
        s.password_env,
        s.password_file,
        s.token_env,
        s.token_file,
        s.ca_bundle,
        s.input_format,
    )


class SharedSource:
    """One source book, fetched and parsed once for every target of a run that names it."""

    def __init__(
        self,
        configs: Sequence[SyncConfig],
        *,
        transport: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        dry_run: bool = False,
    ) -> None:
        # the first target's config says how to reach the source and where its cache lies
        self.config = configs[0]
        self.label = self.config.source.describe()
        self.keep = frozenset().union(*(c.keep_fields for c in configs))
        self.groups = 0
        self.requests: dict[str, int] = {}
        self._transport = transport
        self._sleep = sleep
        self._dry_run = dry_run
        self._guard = threading.Lock()
        self._contacts: list[Contact] | None = None
        self._error: ContactguardError | None = None
        self._session: HttpSession | None = None
        self._client: CardDAVClient | None = None
        self._reader: SourceReader | None = None
        self._fingerprint: str | None = None

    def fingerprint(self) -> str | None:
        """The source's listing, fetched once for all its targets (without parsing it): what a
        target's memo compares (``syncmemo``); None when it cannot be told unchanged. Raises
        SyncError when the source cannot be read."""
        with self._guard:
            self._fetch()
            return self._fingerprint

    def contacts(self) -> list[Contact]:
        """The parsed book; the first caller reads it, later ones wait for it or its error."""
        with self._guard:
            self._fetch()
            if self._contacts is None and self._error is None:
                try:
                    self._contacts = self._parse()
                except ContactguardError as exc:
                    self._error = exc
                finally:
                    self.close()
            if self._error is not None:
                raise SyncError(f"the source could not be read: {self._error}")
            assert self._contacts is not None
            return self._contacts

    def book(self) -> ParsedBook:
        """The shared contacts as a book a run takes (each target's own Sanitizer)."""
        from .pipeline import ParsedBook

        return ParsedBook(self.label, self.contacts())

    def close(self) -> None:
        """Close the connection and the source cache (the requests sent stay counted)."""
        if self._client is not None:
            self.requests = dict(self._client.requests)
        if self._reader is not None:
            self._reader.close()
        if self._session is not None:
            self._session.close()
            self._session = None

    def _fetch(self) -> None:
        """Fetch the source's listing and its new cards once (the caller holds the guard)."""
        if self._reader is not None or self._error is not None:
            if self._error is not None:
                raise SyncError(f"the source could not be read: {self._error}")
            return
        try:
            if self.config.source.url is not None:
                from .carddav import CardDAVClient

                self._session = http_session(
                    self.config,
                    self.config.source,
                    "source",
                    transport=self._transport,
                    sleep=self._sleep,
                )
                self._client = CardDAVClient(
                    self.config.source.url, self._session, read_only=True, batch=self.config.batch
                )
            reader = SourceReader(self.config, self._client, dry_run=self._dry_run)
            found: str | None = "file"
            if self._client is not None:
                found = listing_hash(reader.fetch())
            self._reader = reader
        except ContactguardError as exc:
            self._error = exc
            self.close()
            raise SyncError(f"the source could not be read: {exc}") from exc
        # the fields parsed for every target are part of what each one decides from
        self._fingerprint = None if found is None else f"{found} {sorted(self.keep)}"

    def _parse(self) -> list[Contact]:
        from .books import ReadOptions, read_book

        reader = self._reader
        assert reader is not None
        fmt = "vcard" if self.config.source.url is not None else self.config.source.input_format
        options = ReadOptions(input_format=fmt, fields=self.keep)
        with reader.book() as (book, names):
            if isinstance(book, Path):
                contacts = list(read_book(book, options))
            else:
                contacts = list(read_book(book, options, name=self.label))
        if names is not None:
            contacts = [names.rename(c) for c in contacts]
        self.groups = reader.groups
        return contacts


def load_folder(folder: str | Path) -> tuple[list[SyncConfig], list[TargetResult]]:
    """Every target of every ``*.toml`` in ``folder``; a file that cannot be read is a failure."""
    path = Path(folder)
    if not path.is_dir():
        raise ConfigError("no such folder", file=str(folder))
    files = sorted(path.glob("*.toml"))
    if not files:
        raise ConfigError("no *.toml config in this folder", file=str(folder))
    configs: list[SyncConfig] = []
    failures: list[TargetResult] = []
    for file in files:
        try:
            configs.extend(load_configs(file))
        except ContactguardError as exc:
            failures.append(TargetResult(file.name, error=str(exc)))
    return configs, failures


def _clashes(configs: Sequence[SyncConfig]) -> tuple[list[SyncConfig], list[TargetResult]]:
    """Targets that would write the same phone book, state or lock as an earlier one fail."""
    seen: dict[object, str] = {}
    keep, failures = [], []
    for config in configs:
        keys = [
            ("phone book", config.target.describe()),
            ("state file", config.state),
            ("lock file", config.lock),
        ]
        clash = next(((what, seen[k]) for what, k in keys if k in seen), None)
        if clash is not None:
            failures.append(
                TargetResult(
                    config.label,
                    config,
                    error=f"the same {clash[0]} as {clash[1]}; not synced (one config per phone)",
                )
            )
            continue
        seen.update((k, config.label) for _, k in keys)
        keep.append(config)
    return keep, failures


@contextmanager
def _locked(path: Path | None) -> Iterator[None]:
    """Hold an flock on ``path`` for the whole run; a second run stops at once."""
    if path is None:
        yield
        return
    stream = take_lock(path, "over these configs")
    try:
        yield
    finally:
        stream.close()  # closing the file releases the flock


def run_fleet(
    configs: Sequence[SyncConfig],
    *,
    jobs: int = 4,
    dry_run: bool = False,
    force: bool = False,
    lock: Path | None = None,
    failures: Sequence[TargetResult] = (),
    transport: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> FleetOutcome:
    """Sync every target, ``jobs`` at once, each source read once; failures stay per target.

    ``lock`` (a file) is held for the whole run. ``failures`` (configs that could not be read)
    are reported with the results. Each target writes its own report and state as a single run
    does.
    """
    if not 1 <= jobs <= MAX_JOBS:
        raise ConfigError(f"jobs must be from 1 to {MAX_JOBS}")
    started = time.perf_counter()
    with _locked(lock):
        targets, clashes = _clashes(configs)
        groups: dict[tuple[object, ...], list[SyncConfig]] = {}
        for config in targets:
            groups.setdefault(_source_key(config), []).append(config)
        shared = {
            key: SharedSource(members, transport=transport, sleep=sleep, dry_run=dry_run)
            for key, members in groups.items()
        }

        def one(config: SyncConfig) -> TargetResult:
            source = shared[_source_key(config)]
            try:
                return TargetResult(
                    config.label,
                    config,
                    _sync_one(config, source, dry_run, force, transport, sleep, now),
                )
            except ContactguardError as exc:
                return TargetResult(config.label, config, error=str(exc))
            except Exception as exc:  # a bug in one target must not stop the others
                return TargetResult(config.label, config, error=f"{type(exc).__name__}: {exc}")

        try:
            with ThreadPoolExecutor(
                max(1, min(jobs, len(targets))), "contactguard-target"
            ) as pool:
                results = list(pool.map(one, targets))
        finally:
            for source in shared.values():
                source.close()
    order = {id(c): i for i, c in enumerate(configs)}
    everything = [*failures, *clashes, *results]
    everything.sort(key=lambda r: (order.get(id(r.config), -1), r.label))
    return FleetOutcome(
        everything,
        {s.label: s.requests for s in shared.values()},
        time.perf_counter() - started,
    )


def _sync_one(
    config: SyncConfig,
    source: SharedSource,
    dry_run: bool,
    force: bool,
    transport: Any,
    sleep: Callable[[float], None],
    now: datetime | None,
) -> SyncOutcome:
    source.fingerprint()  # the source's failure is this target's, before any lock is taken
    # the one-phone run (guards, journal, report), over the shared source
    return run_sync(
        config,
        dry_run=dry_run,
        force=force,
        transport=transport,
        sleep=sleep,
        now=now,
        shared=source,
    )
