"""The sync job's configuration: a TOML file, validated, with paths relative to the file.

Secrets come from an environment variable or a file named in the config, never from the
config itself or the command line (see the README, "Scheduled sync").
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._files import file_error, named_file
from .errors import ConfigError
from .guards import DEFAULT_MAX_DELETE_SHARE, check_keep_fields, check_region
from .options import parse_max_age

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Endpoint", "SyncConfig", "load_config", "load_configs"]

_AUTH_KEYS = ("username", "password_env", "password_file", "token_env", "token_file")
_ENDPOINT_KEYS = frozenset({"url", "path", *_AUTH_KEYS, "ca_bundle", "input_format"})
_TOP_KEYS = frozenset(
    {
        "region",
        "quarantine",
        "source",
        "target",
        "evidence",
        "policy",
        "report",
        "state",
        "lock",
        "timeout",
        "retries",
        "backoff",
        "max_retry_after",
        "batch",
        "source_cache",
        "concurrency",
        "force",
        "max_delete_share",
        "allow_insecure_http",
        "journal",
        "journal_max_bytes",
        "report_keep",
    }
)
_EVIDENCE_KEYS = frozenset(
    {"ledger", "sources", "token_env", "token_file", "ca_bundle", "backup_key_file"}
)
_POLICY_KEYS = frozenset({"keep_fields", "max_age", "match_ar_without_9"})


@dataclass(frozen=True)
class Endpoint:
    """Where a book lives (a CardDAV ``url`` or a file ``path``) and how to log in."""

    url: str | None = None
    path: Path | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    token_env: str | None = None
    token_file: Path | None = None
    ca_bundle: Path | None = None
    input_format: str | None = None

    def describe(self) -> str:
        if self.url is not None:
            from .carddav import safe_url

            return safe_url(self.url)
        return str(self.path)


@dataclass(frozen=True)
class SyncConfig:
    """A parsed sync config; every path is absolute."""

    file: Path
    source: Endpoint
    target: Endpoint
    quarantine: Path
    state: Path
    lock: Path
    report: Path | None
    region: str | None = None
    evidence_sources: tuple[str, ...] = ()
    ledger: Path | None = None
    evidence_auth: Endpoint = field(default_factory=Endpoint)
    backup_key_file: Path | None = None  # the key of encrypted phone backups among the sources
    keep_fields: frozenset[str] = frozenset()
    max_age: str | None = None
    match_ar_without_9: bool = False
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    max_retry_after: float = 30.0
    batch: int = 1000
    source_cache: Path | None = None  # the local copy of a CardDAV source; None: none kept
    concurrency: int = 4  # PUTs in flight at once on the target
    force: bool = False  # proceed although a guard (guards.py) would stop the run
    max_delete_share: float = DEFAULT_MAX_DELETE_SHARE
    allow_insecure_http: bool = False
    warnings: tuple[str, ...] = ()  # said on every run (credentials over plain HTTP)
    journal: Path | None = None  # one line per change, next to the state
    journal_max_bytes: int = 4 * 2**20  # then rotated to .1 (kept: JOURNAL_KEEP files)
    report_keep: int = 10  # reports of this many runs: <report>, <report>.1, ...
    name: str | None = None  # the [[target]]'s name when a config holds several

    @property
    def label(self) -> str:
        """How reports name this target: the config file, and the [[target]]'s name if any."""
        return self.file.name if self.name is None else f"{self.file.name}[{self.name}]"

    def inputs(self) -> list[Path]:
        """Every local file the run reads: the config, a file source, evidence files (folders
        and globs expanded), the ledger, secret files and CA bundles."""
        from .outputs import expand_inputs

        files = [self.file]
        if self.source.path is not None:
            files.append(self.source.path)
        local = [s for s in self.evidence_sources if not is_url(s)]
        if self.ledger is not None:
            local.append(str(self.ledger))
        if self.backup_key_file is not None:
            files.append(self.backup_key_file)
        for endpoint in (self.source, self.target, self.evidence_auth):
            for path in (endpoint.password_file, endpoint.token_file, endpoint.ca_bundle):
                if path is not None:
                    files.append(path)
        return [*files, *expand_inputs(local)]

    def outputs(self) -> list[tuple[str, Path]]:
        """(name, path) of every file or folder the run writes."""
        named: list[tuple[str, Path | None]] = [
            ("report", self.report),
            ("state", self.state),
            ("lock", self.lock),
            ("source_cache", self.source_cache),
            ("quarantine", self.quarantine),
            ("journal", self.journal),
        ]
        return [(name, path) for name, path in named if path is not None]


def load_config(path: str | Path) -> SyncConfig:
    """Read and check a sync config; ConfigError names the file and the wrong key."""
    file = Path(path).absolute()
    shown = str(path)
    try:
        with file.open("rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError as exc:
        raise ConfigError("no such config file", file=shown) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read the config ({exc.strerror})", file=shown) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=shown) from exc
    except UnicodeError as exc:  # TOML is UTF-8
        raise file_error(shown, exc, "the config", ConfigError) from exc
    if isinstance(data.get("target"), list):
        raise ConfigError(
            "holds several [[target]]s; run it with `contactguard sync --config` (each target "
            "is synced) or read it with load_configs",
            file=shown,
        )
    return _build(data, file, shown)


def _build(
    data: dict[str, Any],
    file: Path,
    shown: str,
    *,
    stem: str | None = None,
    name: str | None = None,
) -> SyncConfig:
    """A SyncConfig from a parsed TOML table; ``stem`` names the default state, lock, report."""
    base = file.parent

    def fail(message: str) -> ConfigError:
        return ConfigError(message, file=shown)

    _check_keys(data, _TOP_KEYS, "", fail)
    for section in ("source", "target"):
        if not isinstance(data.get(section), dict):
            raise fail(f"a [{section}] section is required")
    source = _endpoint(data["source"], "source", base, fail)
    target = _endpoint(data["target"], "target", base, fail)
    if source.url is None and source.path is None:
        raise fail("[source] needs url (a CardDAV address book) or path (a book file)")
    if target.url is None:
        raise fail("[target] needs url: the phone's CardDAV address book")
    if "quarantine" not in data:
        raise fail("quarantine is required: the folder where removed foreign cards are saved")
    evidence = _section(data, "evidence", fail)
    _check_keys(evidence, _EVIDENCE_KEYS, "evidence", fail)
    policy = _section(data, "policy", fail)
    _check_keys(policy, _POLICY_KEYS, "policy", fail)
    sources = evidence.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise fail(
            "[evidence] sources must be a list of strings (files, folders, globs, https URLs)"
        )
    ledger = _path(evidence.get("ledger"), "[evidence] ledger", base, fail)
    if ledger is not None and not ledger.is_file():
        raise fail(
            f"[evidence] ledger: no such ledger {ledger}; create it with "
            "`contactguard evidence import SRC --ledger DB`"
        )
    backup_key_file = _path(evidence.get("backup_key_file"), "[evidence] backup_key_file", base,
                            fail)
    if backup_key_file is not None:
        if not backup_key_file.is_file():
            raise fail(f"[evidence] backup_key_file: no such file {backup_key_file}")
        _refuse_open_secret(backup_key_file, "[evidence] backup_key_file")
    if not sources and ledger is None:
        raise fail(
            "[evidence] needs sources or a ledger: without evidence every contact would "
            "be removed from the phone"
        )
    keep = policy.get("keep_fields", [])
    if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
        raise fail('[policy] keep_fields must be a list of field names such as ["ORG"]')
    try:
        keep_fields = check_keep_fields(keep, where="[policy] keep_fields")
        region = check_region(_str(data.get("region"), "region", fail), where="region")
    except ConfigError as exc:
        raise fail(exc.message) from exc
    insecure = _insecure_http(
        [("source", source), ("target", target)],
        [(s, evidence) for s in sources if s.lower().startswith("http://")],
    )
    allow_insecure = _bool(data.get("allow_insecure_http", False), "allow_insecure_http", fail)
    if insecure and not allow_insecure:
        raise fail(
            f"{insecure[0]}: credentials would cross the network in clear over http://; use "
            "https, or set allow_insecure_http = true if the network is trusted"
        )
    share = _number(
        data.get("max_delete_share", DEFAULT_MAX_DELETE_SHARE), "max_delete_share", fail
    )
    if not 0 < share <= 1:
        raise fail("max_delete_share must be a share above 0 and at most 1, e.g. 0.5 for half")
    max_age = policy.get("max_age")
    if max_age is not None:
        try:
            parse_max_age(str(max_age))
        except ConfigError as exc:
            raise fail(f"[policy] max_age: {exc.message}") from None
    stem = stem or file.stem
    state = _path(data.get("state"), "state", base, fail) or base / f"{stem}.state.json"
    cache = data.get("source_cache", True)
    if cache is True:  # on by default, next to the state file (one per file: shared)
        cache_path: Path | None = state.parent / f"{file.stem}.source-cache.sqlite"
    elif cache is False:
        cache_path = None
    elif isinstance(cache, str):
        cache_path = _path(cache, "source_cache", base, fail)
    else:
        raise fail("source_cache must be true, false or a file name")
    if source.url is None:
        cache_path = None  # a file source is read where it lies
    journal = _path(data.get("journal"), "journal", base, fail) or state.parent / f"{stem}.journal"
    return SyncConfig(
        file=file,
        source=source,
        target=target,
        quarantine=_required_path(data["quarantine"], "quarantine", base, fail),
        state=state,
        lock=_path(data.get("lock"), "lock", base, fail) or base / f"{stem}.lock",
        report=_path(data.get("report"), "report", base, fail) or base / f"{stem}-report.json",
        region=region,
        evidence_sources=tuple(_resolve_source(s, base) for s in sources),
        ledger=ledger,
        evidence_auth=_endpoint(
            {k: v for k, v in evidence.items() if k in {"token_env", "token_file", "ca_bundle"}},
            "evidence",
            base,
            fail,
        ),
        backup_key_file=backup_key_file,
        keep_fields=keep_fields,
        max_age=None if max_age is None else str(max_age),
        match_ar_without_9=bool(policy.get("match_ar_without_9", False)),
        timeout=_number(data.get("timeout", 30.0), "timeout", fail),
        retries=int(_number(data.get("retries", 3), "retries", fail)),
        backoff=_number(data.get("backoff", 0.5), "backoff", fail),
        max_retry_after=_number(data.get("max_retry_after", 30.0), "max_retry_after", fail),
        batch=max(1, int(_number(data.get("batch", 1000), "batch", fail))),
        source_cache=cache_path,
        concurrency=_concurrency(data.get("concurrency", 4), fail),
        name=name,
        force=_bool(data.get("force", False), "force", fail),
        max_delete_share=share,
        allow_insecure_http=allow_insecure,
        warnings=tuple(
            f"{where}: credentials are sent in clear over http:// (allow_insecure_http = true)"
            for where in insecure
        ),
        journal=journal,
        journal_max_bytes=max(
            4096, int(_number(data.get("journal_max_bytes", 4 * 2**20), "journal_max_bytes", fail))
        ),
        report_keep=max(1, int(_number(data.get("report_keep", 10), "report_keep", fail))),
    )


def _section(
    data: Mapping[str, Any], name: str, fail: Callable[[str], ConfigError]
) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise fail(f"[{name}] must be a table")
    return value


def _check_keys(
    data: Mapping[str, Any],
    allowed: frozenset[str],
    section: str,
    fail: Callable[[str], ConfigError],
) -> None:
    where = f"[{section}] " if section else ""
    for key in data:
        if key in {"password", "token"}:
            raise fail(
                f"{where}{key}: never put a secret in the config; name an environment "
                f"variable ({key}_env) or a file ({key}_file) instead"
            )
        if key not in allowed:
            raise fail(f"{where}unknown key {key!r} (known: {', '.join(sorted(allowed))})")


def _endpoint(
    data: Mapping[str, Any], section: str, base: Path, fail: Callable[[str], ConfigError]
) -> Endpoint:
    _check_keys(data, _ENDPOINT_KEYS, section, fail)
    url = _str(data.get("url"), f"[{section}] url", fail)
    if url is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise fail(f"[{section}] url must be an http(s) URL")
        if parts.username or parts.password:
            raise fail(
                f"[{section}] url must not hold a user name or password; use username and "
                "password_env / password_file"
            )
    if url is not None and "path" in data:
        raise fail(f"[{section}] has both url and path; give one")
    for a, b in (("password_env", "password_file"), ("token_env", "token_file")):
        if a in data and b in data:
            raise fail(f"[{section}] has both {a} and {b}; give one")
    return Endpoint(
        url=url,
        path=_path(data.get("path"), f"[{section}] path", base, fail),
        username=_str(data.get("username"), f"[{section}] username", fail),
        password_env=_str(data.get("password_env"), f"[{section}] password_env", fail),
        password_file=_path(data.get("password_file"), f"[{section}] password_file", base, fail),
        token_env=_str(data.get("token_env"), f"[{section}] token_env", fail),
        token_file=_path(data.get("token_file"), f"[{section}] token_file", base, fail),
        ca_bundle=_path(data.get("ca_bundle"), f"[{section}] ca_bundle", base, fail),
        input_format=_str(data.get("input_format"), f"[{section}] input_format", fail),
    )


def _insecure_http(
    endpoints: list[tuple[str, Endpoint]], evidence: list[tuple[str, Mapping[str, Any]]]
) -> list[str]:
    """Where credentials would go over plain HTTP to another machine than this one."""
    found = []
    for section, endpoint in endpoints:
        has_secret = endpoint.username or endpoint.password_env or endpoint.password_file
        has_secret = has_secret or endpoint.token_env or endpoint.token_file
        if endpoint.url and has_secret and _plain_remote(endpoint.url):
            found.append(f"[{section}] url {endpoint.describe()}")
    for url, settings in evidence:
        if ("token_env" in settings or "token_file" in settings) and _plain_remote(url):
            found.append(f"[evidence] source {_without_userinfo(url)}")
    return found


def _plain_remote(url: str) -> bool:
    """An http:// URL to anything but a loopback address."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _without_userinfo(url: str) -> str:
    from .carddav import safe_url

    return safe_url(url)


def _bool(value: Any, name: str, fail: Callable[[str], ConfigError]) -> bool:
    if not isinstance(value, bool):
        raise fail(f"{name} must be true or false")
    return value


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def _concurrency(value: Any, fail: Callable[[str], ConfigError]) -> int:
    """How many PUTs may be in flight: 1 to 8, so that a shared server stays responsive."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 8:
        raise fail("concurrency must be a whole number from 1 to 8")
    return value


def _str(value: Any, name: str, fail: Callable[[str], ConfigError]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{name} must be a non-empty string")
    return value.strip()


def _number(value: Any, name: str, fail: Callable[[str], ConfigError]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise fail(f"{name} must be a non-negative number")
    return float(value)


def _path(value: Any, name: str, base: Path, fail: Callable[[str], ConfigError]) -> Path | None:
    text = _str(value, name, fail)
    return None if text is None else (base / Path(text).expanduser())


def _required_path(value: Any, name: str, base: Path, fail: Callable[[str], ConfigError]) -> Path:
    path = _path(value, name, base, fail)
    if path is None:
        raise fail(f"{name} is required")
    return path


def _resolve_source(source: str, base: Path) -> str:
    if source.lower().startswith(("http://", "https://")):
        return source
    return str(base / Path(source).expanduser())


def secret(endpoint: Endpoint, kind: str, section: str) -> str | None:
    """The password or token of an endpoint, from its environment variable or file."""
    env: str | None = getattr(endpoint, f"{kind}_env")
    file: Path | None = getattr(endpoint, f"{kind}_file")
    if env is not None:
        value = (os.environ.get(env) or "").strip("\r\n")  # an EnvironmentFile with CRLF ends
        if not value:
            raise ConfigError(f"[{section}] {kind}_env: the environment variable {env} is not set")
        return value
    if file is not None:
        _refuse_open_secret(file, f"[{section}] {kind}_file")
        with named_file(file, f"[{section}] {kind}_file", ConfigError):
            value = file.read_text(encoding="utf-8").strip("\r\n")
        if not value:
            raise ConfigError(f"[{section}] {kind}_file: {file} is empty")
        return value
    return None


# what a [[target]] entry may set besides its endpoint; everything else comes from the top level
_PER_TARGET_KEYS = frozenset(
    {"name", "quarantine", "state", "report", "lock", "region", "evidence", "policy"}
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def load_configs(path: str | Path) -> list[SyncConfig]:
    """Every target of a config: one for a ``[target]``, one per ``[[target]]`` entry.

    A ``[[target]]`` entry holds the phone's endpoint (url, credentials) plus, optionally, its
    own name (required, unique), quarantine, state, report, lock, region, ``evidence`` and
    ``policy`` tables; the rest (source, timeouts, ...) is shared from the top level. Its state,
    report and lock are named after the file and the target (``branches-munich.state.json``).
    """
    file = Path(path).absolute()
    shown = str(path)
    try:
        with file.open("rb") as stream:
            data = tomllib.load(stream)
    except (OSError, UnicodeError, tomllib.TOMLDecodeError):
        return [load_config(path)]  # the one-target reader words the error
    entries = data.get("target")
    if not isinstance(entries, list):
        return [load_config(path)]
    if not entries:
        raise ConfigError("[[target]] is empty: give at least one target", file=shown)
    shared = {k: v for k, v in data.items() if k != "target"}
    configs, seen = [], set()
    for number, entry in enumerate(entries, 1):
        where = f"{shown} [[target]] #{number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"[[target]] #{number} must be a table", file=shown)
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(
                "needs name: letters, digits, '.', '_' or '-' (it names the state and report)",
                file=where,
            )
        if name in seen:
            raise ConfigError(f"the name {name!r} is used twice", file=where)
        seen.add(name)
        merged = dict(shared)
        merged.update((k, v) for k, v in entry.items() if k in _PER_TARGET_KEYS and k != "name")
        merged["target"] = {k: v for k, v in entry.items() if k not in _PER_TARGET_KEYS}
        stem = f"{file.stem}-{name}"
        configs.append(_build(merged, file, f"{shown} [[target]] {name}", stem=stem, name=name))
    return configs


def _refuse_open_secret(file: Path, where: str) -> None:
    """A secret file that other users may read is refused, as ssh refuses such a key."""
    try:
        mode = file.stat().st_mode
    except OSError:
        return  # reading it says why
    if mode & 0o077:
        raise ConfigError(
            f"{where}: {file} may be read by other users (mode {mode & 0o777:04o}); "
            f"make it private with `chmod 600 {file}`"
        )
