"""Evidence of who wrote first: load sources of any kind and merge them per WhatsApp identity.

Every source kind is one entry of ``SOURCE_KINDS``: a name, a sniffer that looks at the location
and the first bytes, and a reader that yields ``EvidenceRecord``s. The first kind whose sniffer
says yes reads the source; adding a kind (chat exports, webhook archives, a SQLite ledger, an
https:// source) means adding one entry.

``load_evidence`` accepts files, folders (every non-hidden file below, sorted) and glob
patterns, and merges everything into one ``Evidence``:

- records with a phone number are merged under its ``phones.evidence_key``; ``lookup`` of a book
  number consults all its WhatsApp ``variants`` (Mexico 521/52, Brazil's ninth digit, and
  Argentina 549/54 when opted in);
- records with only a display name are kept under the name, for the pipeline to resolve against
  the book;
- records with only a business-scoped ``user_id`` cannot match a book number: they are kept and
  counted in ``unmatchable``.

Merging takes the earliest first-times and the latest last-times (``EvidenceEntry.merge``), so
loading the same source twice changes nothing.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .._text import shown_path
from ..errors import EvidenceError
from ..model import EvidenceEntry, EvidenceRecord
from ..phones import evidence_key, variants
from . import ledger

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "SOURCE_KINDS",
    "Evidence",
    "SourceContext",
    "SourceKind",
    "iter_records",
    "kind_of",
    "load_evidence",
]

HEAD_SIZE = 8192  # bytes a sniffer sees: enough for a header line or a first JSON object
_GLOB_CHARS = frozenset("*?[")


class Evidence:
    """The merged evidence of all sources, keyed by WhatsApp identity."""

    def __init__(self, *, ar_without_9: bool = False) -> None:
        self.ar_without_9 = ar_without_9
        self.warnings: list[str] = []  # things a user should hear about but that are not errors
        self._numbers: dict[str, EvidenceEntry] = {}
        self._names: dict[str, EvidenceEntry] = {}
        self._user_ids: dict[str, EvidenceEntry] = {}
        self._index: dict[str, EvidenceEntry] | None = None  # variant → merged entry, see lookup

    def add(self, record: EvidenceRecord) -> None:
        """Merge one record: under its number, else its name, else its user id."""
        entry = EvidenceEntry.from_record(record)
        if record.phone is not None and record.phone.strip():
            key = evidence_key(record.phone)
            if key is None:
                raise EvidenceError(
                    f"phone {record.phone!r} is not a +E.164 number or a WhatsApp wa_id",
                    file=record.source,
                )
            _merge_into(self._numbers, key, entry)
            self._index = None
        elif record.name is not None and record.name.strip():
            _merge_into(self._names, record.name.strip(), entry)
        elif record.user_id is not None and record.user_id.strip():
            _merge_into(self._user_ids, record.user_id.strip(), entry)
        else:
            raise EvidenceError("a record with no phone, name or user id", file=record.source)

    def update(self, records: Iterable[EvidenceRecord]) -> None:
        """Merge many records (see ``add``)."""
        for record in records:
            self.add(record)

    def lookup(self, e164: str) -> EvidenceEntry | None:
        """The merged evidence for a book number over all its WhatsApp variants, or None."""
        index = self._index
        if index is None:  # built on first use after the last ``add``
            index = self._index = self._build_index()
        # book numbers arrive as E.164 already; only other spellings need the (cached) parse
        if e164[:1] != "+" or not e164[1:].isdigit():
            e164 = evidence_key(e164) or e164
        return index.get(e164)

    def number_index(self) -> dict[str, EvidenceEntry]:
        """What ``lookup`` reads: for a number already in "+digits" form (every E.164 that
        ``phones.normalize`` gives), ``lookup(e164)`` is ``number_index().get(e164)``; valid
        until the next ``add``."""
        index = self._index
        if index is None:
            index = self._index = self._build_index()
        return index

    def _build_index(self) -> dict[str, EvidenceEntry]:
        """Every variant of every number key → its merged entry, so that ``lookup`` of a book
        number is one dict look-up (books are large, evidence is small). ``variants`` is
        symmetric (each identity has at most one partner, and the partner's partner is itself),
        so a number none of whose variants is a key is no variant of any key: not in the index."""
        index: dict[str, EvidenceEntry] = {}
        for key in self._numbers:
            for variant in variants(key, ar_without_9=self.ar_without_9):
                if variant not in index:
                    merged = self._merged(variant)
                    if merged is not None:
                        index[variant] = merged
        return index

    def _merged(self, key: str) -> EvidenceEntry | None:
        found = [
            self._numbers[variant]
            for variant in sorted(variants(key, ar_without_9=self.ar_without_9))
            if variant in self._numbers
        ]
        if not found:
            return None
        merged = found[0]
        for entry in found[1:]:
            merged = merged.merge(entry)
        return merged

    def by_name(self, name: str) -> EvidenceEntry | None:
        """The evidence recorded under a display name (a saved contact's chat), or None."""
        return self._names.get(name.strip())

    def by_user_id(self, user_id: str) -> EvidenceEntry | None:
        """The evidence recorded under a business-scoped user id alone, or None."""
        return self._user_ids.get(user_id.strip())

    @property
    def names(self) -> frozenset[str]:
        """The display names that evidence is recorded under."""
        return frozenset(self._names)

    @property
    def user_ids(self) -> frozenset[str]:
        """The user ids that evidence is recorded under without any number."""
        return frozenset(self._user_ids)

    @property
    def unmatchable(self) -> int:
        """How many identities have only a user id, so no book number can ever match them."""
        return len(self._user_ids)

    def name_items(self) -> Iterator[tuple[str, EvidenceEntry]]:
        """(name, entry) for the evidence recorded under display names, in insertion order."""
        return iter(self._names.items())

    def user_id_items(self) -> Iterator[tuple[str, EvidenceEntry]]:
        """(user id, entry) for the evidence recorded under user ids alone."""
        return iter(self._user_ids.items())

    def __iter__(self) -> Iterator[tuple[str, EvidenceEntry]]:
        """(number key "+digits", entry) for every number, in the order first seen."""
        return iter(self._numbers.items())

    def __len__(self) -> int:
        """The number of distinct numbers (names and user ids not counted)."""
        return len(self._numbers)

    def __repr__(self) -> str:
        return (
            f"<Evidence numbers={len(self._numbers)} names={len(self._names)} "
            f"unmatchable={len(self._user_ids)}>"
        )


def _merge_into(table: dict[str, EvidenceEntry], key: str, entry: EvidenceEntry) -> None:
    previous = table.get(key)
    table[key] = entry if previous is None else previous.merge(entry)


@dataclass(frozen=True)
class SourceContext:
    """What a source reader may need besides its location; issue-specific options go here."""

    warn: Callable[[str], None] = lambda message: None
    me: str | None = None  # chat exports: the business's own sender name (--me)
    date_order: str | None = None  # chat exports: "DMY" | "MDY" | "YMD" (--date-order)


@dataclass(frozen=True)
class SourceKind:
    """One kind of evidence source: how to recognise it and how to read it."""

    name: str
    # (location as given, its first HEAD_SIZE bytes; b"" when it is not a local file) -> bool
    sniff: Callable[[str, bytes], bool]
    # (location, context) -> records, each with source "<location>:<line>" or similar
    records: Callable[[str, SourceContext], Iterator[EvidenceRecord]]
    # kinds whose files must be read together (chat exports: the business side is the sender
    # common to all of them) set this instead: (all their locations, context) -> records
    read_all: Callable[[list[str], SourceContext], Iterator[EvidenceRecord]] | None = None


def _file_reader(
    read: Callable[..., Iterator[EvidenceRecord]],
) -> Callable[[str, SourceContext], Iterator[EvidenceRecord]]:
    """A kind's reader for local files from a stream reader ``read(stream, source)``."""

    def records(location: str, context: SourceContext) -> Iterator[EvidenceRecord]:
        try:
            stream = Path(location).open("rb")  # noqa: SIM115 - closed when the generator ends
        except OSError as exc:
            raise EvidenceError(f"cannot open: {exc.strerror}", file=location) from exc
        with stream:
            yield from read(stream, location)

    return records


def _module(name: str) -> ModuleType:
    """A source kind's module, imported when a source may be of that kind: chats, webhooks, store
    and remote cost tens of milliseconds of start-up (compiled patterns, sqlite3, zipfile, httpx)
    that a run with a CSV ledger never needs (issue 5)."""
    import importlib

    return importlib.import_module(f"{__name__}.{name}")


# Each sniffer first checks what its module's sniffer checks first (a URL scheme, a file
# signature, a name suffix), so that the module is imported only when it may say yes; the answer
# is always the module's own.
def _sniff_https(location: str, head: bytes) -> bool:
    return location.lower().startswith(("https://", "http://")) and _module("remote").sniff(
        location, head
    )


def _sniff_sqlite(location: str, head: bytes) -> bool:
    return head.startswith(b"SQLite format 3\x00") and _module("store").sniff(location, head)


def _sniff_webhooks(location: str, head: bytes) -> bool:
    return location.lower().endswith((".json", ".jsonl", ".ndjson")) and _module(
        "webhooks"
    ).sniff(location, head)


# The order matters: the first kind whose sniffer says yes reads the source.
SOURCE_KINDS: tuple[SourceKind, ...] = (
    SourceKind(  # first: a URL has no head to sniff
        "https", _sniff_https, lambda location, context: _module("remote").read(location, context)
    ),
    SourceKind(
        "sqlite-ledger",
        _sniff_sqlite,
        lambda location, context: _module("store").read(location, context),
    ),
    SourceKind(
        "webhook-archive",
        _sniff_webhooks,
        lambda location, context: _module("webhooks").records(location, warn=context.warn),
    ),
    SourceKind("jsonl-ledger", ledger.sniff_jsonl, _file_reader(ledger.read_jsonl)),
    SourceKind("csv-ledger", ledger.sniff_csv, _file_reader(ledger.read_csv)),
    SourceKind(
        "whatsapp-chat",
        lambda location, head: _module("chats").sniff(Path(location), head),
        lambda location, context: _read_chats([location], context),
        read_all=lambda locations, context: _read_chats(locations, context),
    ),
)


def _read_chats(locations: list[str], context: SourceContext) -> Iterator[EvidenceRecord]:
    yield from _module("chats").read_exports(
        locations, me=context.me, date_order=context.date_order, warn=context.warn
    )


def kind_of(location: str, head: bytes) -> SourceKind | None:
    """The kind of source that ``location`` (with its first bytes ``head``) is, or None."""
    for kind in SOURCE_KINDS:
        if kind.sniff(location, head):
            return kind
    return None


def iter_records(
    sources: Iterable[str | Path] | str | Path,
    context: SourceContext | None = None,
) -> Iterator[EvidenceRecord]:
    """The records of every source, in order; each source's kind is sniffed.

    A source named explicitly that no kind recognises is an EvidenceError; a file inside a
    folder or matched by a glob that no kind recognises is skipped with a warning.
    """
    context = context or SourceContext()
    batches: dict[str, tuple[SourceKind, list[str]]] = {}
    seen: set[tuple[int, int]] = set()  # files already read: one file by two spellings is one
    for location, explicit in _expand(sources):
        if not _is_url(location) and not _first_time(location, seen):
            continue
        head = b"" if _is_url(location) else _read_head(location)
        kind = kind_of(location, head)
        if kind is None:
            if explicit:
                raise EvidenceError(
                    "not a known evidence source (expected a CSV or JSONL ledger with a "
                    "phone column, a SQLite ledger, a WhatsApp chat export or a Cloud API "
                    "webhook archive)",
                    file=location,
                )
            context.warn(f"{location}: skipped, not a known evidence source")
            continue
        if kind.read_all is not None:
            batches.setdefault(kind.name, (kind, []))[1].append(location)
            continue
        yield from map(_printable, kind.records(location, context))
    for kind, locations in batches.values():
        assert kind.read_all is not None
        yield from map(_printable, kind.read_all(locations, context))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _first_time(location: str, seen: set[tuple[int, int]]) -> bool:
    """False for a file ``seen`` holds already (by device and inode); else remember it."""
    try:
        status = os.stat(location)  # noqa: PTH116
    except OSError:
        return True  # reading it says what is wrong
    identity = (status.st_dev, status.st_ino)
    if identity in seen:
        return False
    seen.add(identity)
    return True


def _printable(record: EvidenceRecord) -> EvidenceRecord:
    """``record`` with lone surrogates (a file name that is not UTF-8, a JSON "\\ud800") in its
    text written out as escapes: such text cannot be stored, printed or encoded."""
    texts = (record.source, record.phone, record.name, record.user_id)
    if not any(text is not None and _SURROGATE.search(text) for text in texts):
        return record
    return replace(
        record,
        source=shown_path(record.source),
        phone=None if record.phone is None else shown_path(record.phone),
        name=None if record.name is None else shown_path(record.name),
        user_id=None if record.user_id is None else shown_path(record.user_id),
    )


def load_evidence(
    sources: Iterable[str | Path] | str | Path,
    *,
    ar_without_9: bool = False,
    me: str | None = None,
    date_order: str | None = None,
) -> Evidence:
    """Read and merge every source (files, folders, globs) into one Evidence.

    ``ar_without_9`` makes Argentine ``+549…`` and ``+54…`` the same identity in ``lookup``
    (``--match-ar-without-9``); ``me`` and ``date_order`` are for chat exports (``--me``,
    ``--date-order``). Raises EvidenceError naming the file (and line) of anything that cannot
    be read, including a missing path.
    """
    evidence = Evidence(ar_without_9=ar_without_9)
    context = SourceContext(warn=evidence.warnings.append, me=me, date_order=date_order)
    evidence.update(iter_records(sources, context))
    return evidence


def _expand(sources: Iterable[str | Path] | str | Path) -> Iterator[tuple[str, bool]]:
    """(location, named explicitly?) for each source: folders and globs become their files."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    for source in sources:
        text = str(source)
        if _is_url(text):
            yield text, True
            continue
        path = Path(text)
        if path.is_dir():
            yield from ((str(p), False) for p in _folder_files(path))
        elif path.exists():
            yield text, True
        elif _GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text, recursive=True))  # noqa: PTH207 - str patterns
            if not matches:
                raise EvidenceError("no file matches this pattern", file=text)
            for match in matches:
                found = Path(match)
                if found.is_dir():
                    yield from ((str(p), False) for p in _folder_files(found))
                elif found.is_file():  # not a FIFO, socket or device: reading one would hang
                    yield match, False
        else:
            raise EvidenceError("no such file or folder", file=text)


def _folder_files(folder: Path) -> list[Path]:
    """Every non-hidden file below ``folder``, sorted by path (stable across runs)."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def _read_head(location: str) -> bytes:
    try:
        with Path(location).open("rb") as stream:
            return stream.read(HEAD_SIZE)
    except OSError as exc:
        raise EvidenceError(f"cannot read: {exc.strerror}", file=location) from exc


def _is_url(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))
