"""Evidence of who wrote first: load sources of any kind and merge them per WhatsApp identity.

Every source kind is one entry of ``SOURCE_KINDS``: a name, a sniffer that looks at the location
and the first bytes, and a reader that yields ``EvidenceRecord``s. The first kind whose sniffer
says yes reads the source; adding a kind (chat exports, webhook archives, a SQLite ledger, an
https:// source) means adding one entry.

``load_evidence`` accepts files, folders (every non-hidden file below, sorted) and glob
patterns, and merges everything into one ``Evidence``, one identity per person
(``evidence.identity``: keys seen together link, numbers never link to each other):

- ``lookup`` of a book number consults all its WhatsApp ``variants`` (Mexico 521/52, Brazil's
  ninth digit, and Argentina 549/54 when opted in) and returns its identity's evidence;
- identities known only by a chat export's display name are matched by ``by_name``;
- identities without a number cannot match a book number: counted in ``unmatchable`` and,
  with those no contact looked up, listed by ``unmatched``;
- what a reader met and did not recognise is counted in ``not_understood``.

Merging takes the earliest first-times and the latest last-times (``EvidenceEntry.merge``), so
loading the same source twice changes nothing.
"""

from __future__ import annotations

import glob
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .. import fastpaths
from .._gc import collector_paused
from .._text import shown_path
from ..errors import EvidenceError
from ..model import EvidenceEntry, EvidenceRecord
from ..phones import VARIANT_HEADS, evidence_key, variants
from . import bulk, ledger
from .bulk import Batch, Listed, PlainRow, merge_listed, merge_plain, source_texts
from .identity import Identity, Key, Statement, first_key, record_keys, resolve, statements_of

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "SOURCE_KINDS",
    "Evidence",
    "SourceContext",
    "SourceKind",
    "expand",
    "gather",
    "head_of",
    "iter_records",
    "kind_of",
    "load_evidence",
]

HEAD_SIZE = 8192  # bytes a sniffer sees: enough for a header line or a first JSON object
_GLOB_CHARS = frozenset("*?[")


class Evidence:
    """The merged evidence of all sources, one identity per person (``evidence.identity``)."""

    def __init__(self, *, ar_without_9: bool = False) -> None:
        self.ar_without_9 = ar_without_9
        self.warnings: list[str] = []  # things a user should hear about but that are not errors
        # what the readers met and did not understand (not evidence): description → count
        self.not_understood: Counter[str] = Counter()
        self._table: dict[tuple[Key, ...], EvidenceEntry] = {}  # key set → merged statement
        # the statements of a number seen alone (most of any ledger), kept compact: "+digits"
        # → (first in, first out, last in, opted out, number left, sources); never in _table
        self._plain: dict[str, PlainRow] = {}
        # or, as a ledger's writer reads them (``gather(listed=True)``), as columns: taken
        # into ``_plain`` (``_settle``) before anything else reads or adds
        self._listed: Listed | None = None
        self._resolved: _Resolved | None = None  # built on first use after the last ``add``
        self._hits: set[str] = set()  # index keys and names a book contact looked up

    def add(self, record: EvidenceRecord) -> None:
        """Merge one record under its set of keys (EvidenceError: a phone that is no number,
        or no key at all)."""
        keys = record_keys(record)
        self._resolved = None
        if self._listed is not None:  # (checked here: a million records come through add)
            self._settle()
        if len(keys) == 1 and keys[0].kind == "phone":
            first_in, last_in = record.first_inbound_at, record.last_inbound_at
            if first_in is not None and (last_in is None or first_in > last_in):
                last_in = first_in  # as EvidenceEntry.from_record
            row: PlainRow = (first_in, record.first_outbound_at, last_in, record.opted_out_at,
                             record.number_left_at, (record.source,))
            number = keys[0].value
            seen = self._plain.get(number)
            self._plain[number] = row if seen is None else merge_plain(seen, row)
            return
        entry = EvidenceEntry.from_record(record)
        previous = self._table.get(keys)
        self._table[keys] = entry if previous is None else previous.merge(entry)

    def _absorb(self, batch: Batch) -> None:
        """Merge the statements of one ledger file read in bulk (``evidence.bulk``), as adding
        its records one by one would."""
        self._resolved = None
        if (batch.listed is not None and self._listed is None and not self._plain
                and not batch.plain):
            self._listed = batch.listed  # the first numbers alone: kept as the columns they are
        else:
            self._settle()
            plain = self._plain
            if batch.listed is not None:
                merge_listed(plain, *batch.listed)
            if not plain:
                plain.update(batch.plain)
            else:
                for number, row in batch.plain.items():
                    seen = plain.get(number)
                    plain[number] = row if seen is None else merge_plain(seen, row)
        table = self._table
        for keys, entry in batch.general.items():
            previous = table.get(keys)
            table[keys] = entry if previous is None else previous.merge(entry)

    def as_read(self) -> tuple[dict[tuple[Key, ...], EvidenceEntry], dict[str, PlainRow]]:
        """The statements as merged before any linking: key set → entry, and each number seen
        alone → its row (``bulk.PlainRow``), what a ledger stores. Not copies: read only."""
        self._settle()
        return self._table, self._plain

    def as_listed(self) -> tuple[dict[tuple[Key, ...], EvidenceEntry], dict[str, PlainRow],
                                 Listed | None]:
        """``as_read``, the numbers alone still as columns where ``gather(listed=True)`` kept
        them (then ``plain`` holds none): what a ledger's bulk writer takes. Read only."""
        return self._table, self._plain, self._listed

    def _settle(self) -> None:
        """The numbers alone kept as columns into ``_plain``."""
        listed, self._listed = self._listed, None
        if listed is not None:
            merge_listed(self._plain, *listed)

    def update(self, records: Iterable[EvidenceRecord]) -> None:
        """Merge many records (see ``add``)."""
        for record in records:
            self.add(record)

    def matching(self, *, ar_without_9: bool) -> Evidence:
        """This evidence as one run of a Sanitizer reads it: the same records, matched with
        the run's policy (``Policy.match_ar_without_9`` is the one owner of that flag), and a
        look-up record of its own, so ``unmatched`` speaks of that run alone and runs in
        several threads do not share it. A view is for reading (no ``add``): it shares the
        records, and reads them as they are when it first resolves them."""
        self._settle()
        view = Evidence(ar_without_9=ar_without_9)
        view.warnings = self.warnings
        view.not_understood = self.not_understood
        view._table = self._table  # shared, not copied: evidence can be a million people
        view._plain = self._plain
        if ar_without_9 == self.ar_without_9:
            view._resolved = self._resolve()  # read-only once built: views share it
        return view

    def note_not_understood(self, what: str, count: int = 1) -> None:
        """Count something a reader met but did not recognise as evidence (never trusted)."""
        self.not_understood[what] += count

    # -- resolution ------------------------------------------------------------------------

    def _resolve(self) -> _Resolved:
        self._settle()
        resolved = self._resolved
        if resolved is None:
            with collector_paused():  # a ledger's identities: many objects, no cycles
                if fastpaths.enabled():
                    identities = self._identities_quick()
                else:
                    identities = resolve(self._statements(), ar_without_9=self.ar_without_9)
                resolved = self._resolved = _Resolved(identities, self.ar_without_9)
        return resolved

    def _identities_quick(self) -> list[Identity]:
        """``resolve`` over every statement, with a short path for the numbers seen alone that
        nothing else can touch (most of a large ledger): a number of a country without
        WhatsApp variants, named by no other statement and without a number change is an
        identity of its own, built here without the linking."""
        named = {key.value for keys in self._table for key in keys if key.kind == "phone"}
        alone: list[Identity] = []
        rest: dict[str, PlainRow] = {}
        for number, row in self._plain.items():
            if row[4] is not None or number[:3] in VARIANT_HEADS or number in named:
                rest[number] = row
                continue
            first_in, first_out, last_in, opted, _, sources = row
            keys = (Key("phone", number),)
            entry = EvidenceEntry(first_in, first_out, last_in, opted, source_texts(sources))
            alone.append(Identity(keys, entry, number, (number,),
                                  statements=[Statement(keys, entry)]))
        identities = resolve(self._statements(rest), ar_without_9=self.ar_without_9)
        if alone:
            identities.extend(alone)
            identities.sort(key=first_key)  # two sorted runs: merged in one pass
        return identities

    def _statements(self, plain: Mapping[str, PlainRow] | None = None) -> list[Statement]:
        """Every statement: those of several keys, then those of a number alone (of
        ``plain``, by default all)."""
        self._settle()
        statements = statements_of(self._table)
        statements.extend(
            Statement((Key("phone", number),),
                      EvidenceEntry(first_in, first_out, last_in, opted, source_texts(sources),
                                    left))
            for number, (first_in, first_out, last_in, opted, left, sources)
            in (self._plain if plain is None else plain).items()
        )
        return statements

    def identities(self) -> list[Identity]:
        """Every identity, ordered by its smallest key."""
        return self._resolve().identities

    def lookup(self, e164: str) -> EvidenceEntry | None:
        """The merged evidence for a book number over all its WhatsApp variants, or None."""
        index = self._resolve().index
        # book numbers arrive as E.164 already; only other spellings need the (cached) parse
        if e164[:1] != "+" or not e164[1:].isdigit():
            e164 = evidence_key(e164) or e164
        entry = index.get(e164)
        if entry is not None:
            self._hits.add(e164)
        return entry

    def number_index(self) -> dict[str, EvidenceEntry]:
        """What ``lookup`` reads: for a number already in "+digits" form (every E.164 that
        ``phones.normalize`` gives), ``lookup(e164)`` is ``number_index().get(e164)``; valid
        until the next ``add``. (A look-up through this dict is not counted as a match; the
        fast paths use it only to find contacts WITHOUT evidence.)"""
        return self._resolve().index

    def by_name(self, name: str) -> EvidenceEntry | None:
        """The evidence recorded under a display name (a saved contact's chat), or None."""
        key = " ".join(name.split())
        entry = self._resolve().names.get(key)
        if entry is not None:
            self._hits.add("name:" + key)
        return entry

    def by_user_id(self, user_id: str) -> EvidenceEntry | None:
        """The evidence of the identity a business-scoped user id belongs to, or None."""
        identity = self._resolve().by_user_id.get(user_id.strip())
        return None if identity is None else identity.entry

    @property
    def names(self) -> frozenset[str]:
        """The display names that evidence is recorded under (name-only identities)."""
        return frozenset(self._resolve().names)

    @property
    def user_ids(self) -> frozenset[str]:
        """The user ids of identities without any number."""
        return frozenset(
            k.value for i in self._resolve().numberless for k in i.keys if k.kind == "bsuid"
        )

    @property
    def unmatchable(self) -> int:
        """How many identities have neither a number nor (alone) a display name: no book
        contact can ever match them."""
        return len(self._resolve().numberless)

    def name_items(self) -> Iterator[tuple[str, EvidenceEntry]]:
        """(name, entry) for the evidence recorded under display names alone."""
        return iter(self._resolve().names.items())

    def user_id_items(self) -> Iterator[tuple[str, EvidenceEntry]]:
        """(user id, entry) for identities without a number, one per user id."""
        for identity in self._resolve().numberless:
            for key in identity.keys:
                if key.kind == "bsuid":
                    yield key.value, identity.entry

    def unmatched(self) -> list[Identity]:
        """Identities no book contact looked up so far (by number or exact display name),
        identities without a number included: the evidence that did no work."""
        hits = self._hits
        out = []
        for identity in self._resolve().identities:
            if identity.name is not None:
                if "name:" + identity.name in hits:
                    continue
            elif identity.number is not None and any(
                v in hits
                for n in identity.numbers
                for v in variants(n, ar_without_9=self.ar_without_9)
            ):
                continue
            out.append(identity)
        return out

    def __iter__(self) -> Iterator[tuple[str, EvidenceEntry]]:
        """(number key "+digits", entry) for every number spelling seen, in key order; the
        entry is that of the number's identity."""
        index = self._resolve().index
        for identity in self._resolve().identities:
            for number in identity.numbers:
                yield number, index[number]

    def __len__(self) -> int:
        """The number of distinct number spellings (names and user ids not counted)."""
        return sum(len(i.numbers) for i in self._resolve().identities)

    def __repr__(self) -> str:
        resolved = self._resolve()
        return (
            f"<Evidence identities={len(resolved.identities)} names={len(resolved.names)} "
            f"unmatchable={len(resolved.numberless)}>"
        )


class _Resolved:
    """The identities of an Evidence and the indexes the look-ups read."""

    def __init__(self, identities: list[Identity], ar_without_9: bool) -> None:
        self.identities = identities
        # every variant of every number → its identity's entry: a book number's look-up is one
        # dict get (books are large, evidence is small)
        self.index: dict[str, EvidenceEntry] = {}
        self.names: dict[str, EvidenceEntry] = {}
        self.numberless: list[Identity] = []
        self.by_user_id: dict[str, Identity] = {}  # only user ids are looked up by key
        for identity in identities:
            for key in identity.keys:
                if key.kind == "bsuid":
                    self.by_user_id.setdefault(key.value, identity)
            if identity.number is not None:
                for number in identity.numbers:
                    for variant in variants(number, ar_without_9=ar_without_9):
                        self.index.setdefault(variant, identity.entry)
            elif identity.name is not None:
                self.names[identity.name] = identity.entry
            else:
                self.numberless.append(identity)


@dataclass(frozen=True)
class SourceContext:
    """What a source reader may need besides its location; issue-specific options go here."""

    warn: Callable[[str], None] = lambda message: None
    # (what, how many): something a reader met and did not recognise as evidence; counted in
    # ``Evidence.not_understood``, ``evidence inspect`` and the summary, never trusted
    not_understood: Callable[[str, int], None] = lambda what, count: None
    me: str | None = None  # chat exports: the business's own sender name (--me)
    # chat exports (--date-order): "DMY" | "MDY" | "YMD" for files whose dates cannot tell, or
    # {FILE: ORDER} per file ("" the default)
    date_order: str | Mapping[str, str] | None = None
    # encrypted phone backups: a file holding the key (--backup-key-file); without one, the
    # CONTACTGUARD_BACKUP_KEY environment variable
    backup_key_file: str | None = None


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
    that a run with a CSV ledger never needs."""
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


def _sniff_android(location: str, head: bytes) -> bool:
    return head.startswith(b"SQLite format 3\x00") and _module("android").sniff(location, head)


def _sniff_ios(location: str, head: bytes) -> bool:
    # a backup folder has no head; ChatStorage.sqlite and Manifest.db are SQLite files
    return (head.startswith(b"SQLite format 3\x00") or not head) and _module("ios").sniff(
        location, head
    )


def _read_phone(module: str, location: str, context: SourceContext) -> Iterator[EvidenceRecord]:
    """A phone database's records; what was not evidence is counted as not understood."""
    from .phonedb import Tally

    tally = Tally()
    if module == "android":
        yield from _module("android").read(
            location, key_file=context.backup_key_file, tally=tally
        )
    else:
        yield from _module("ios").read(location, warn=context.warn, tally=tally)
    for what, count in tally.not_understood():
        context.not_understood(what, count)
    for note in tally.notes:
        context.warn(f"{location}: {note}")


def _sniff_webhooks(location: str, head: bytes) -> bool:
    return location.lower().endswith((".json", ".jsonl", ".ndjson")) and _module(
        "webhooks"
    ).sniff(location, head)


# The order matters: the first kind whose sniffer says yes reads the source.
SOURCE_KINDS: tuple[SourceKind, ...] = (
    SourceKind(  # first: a URL has no head to sniff
        "https", _sniff_https, lambda location, context: _module("remote").read(location, context)
    ),
    SourceKind(  # by name: an encrypted backup has no recognisable head but its header
        "android-backup",
        lambda location, head: location.lower().endswith((".crypt14", ".crypt15")),
        lambda location, context: _read_phone("android", location, context),
    ),
    SourceKind(  # before the ledger: a phone's database is never taken for a ledger
        "android-msgstore",
        _sniff_android,
        lambda location, context: _read_phone("android", location, context),
    ),
    SourceKind(
        "ios-chatstorage",
        _sniff_ios,
        lambda location, context: _read_phone("ios", location, context),
    ),
    SourceKind(
        "sqlite-ledger",
        _sniff_sqlite,
        lambda location, context: _module("store").read(location, context),
    ),
    SourceKind(
        "webhook-archive",
        _sniff_webhooks,
        lambda location, context: _module("webhooks").records(
            location, warn=context.warn, not_understood=context.not_understood
        ),
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
        locations,
        me=context.me,
        date_order=context.date_order,
        warn=context.warn,
        not_understood=context.not_understood,
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
    for item in _reading(sources, context or SourceContext(), in_bulk=False):
        assert not isinstance(item, Batch)
        yield item


def gather(
    sources: Iterable[str | Path] | str | Path, context: SourceContext, into: Evidence,
    *, listed: bool = False,
) -> int:
    """Read every source into ``into``, as ``into.update(iter_records(sources, context))``
    does, with CSV and JSONL ledger files read in bulk (``evidence.bulk``) unless the fast
    paths are off; the number of records read. ``listed``: numbers alone kept as columns
    where they can be (``Evidence.as_listed``: for a ledger's bulk writer)."""
    count = 0
    for item in _reading(sources, context, in_bulk=fastpaths.enabled(), listed=listed):
        if isinstance(item, Batch):
            into._absorb(item)
            count += item.rows
        else:
            into.add(item)
            count += 1
    return count


def _reading(
    sources: Iterable[str | Path] | str | Path, context: SourceContext, *, in_bulk: bool,
    listed: bool = False,
) -> Iterator[EvidenceRecord | Batch]:
    """``iter_records``; with ``in_bulk``, a ledger file the bulk reader takes is one Batch."""
    batches: dict[str, tuple[SourceKind, list[str]]] = {}
    seen: set[tuple[int, int]] = set()  # files already read: one file by two spellings is one
    for location, explicit in expand(sources):
        if not _is_url(location) and not _first_time(location, seen):
            continue
        head = head_of(location)
        kind = kind_of(location, head)
        if kind is None:
            if explicit:
                raise EvidenceError(
                    "not a known evidence source (expected a CSV or JSONL ledger with a "
                    "phone column, a SQLite ledger, a WhatsApp chat export, a Cloud API "
                    "webhook archive, or the phone's WhatsApp database or backup)",
                    file=location,
                )
            context.warn(f"{location}: skipped, not a known evidence source")
            continue
        if kind.read_all is not None:
            batches.setdefault(kind.name, (kind, []))[1].append(location)
            continue
        if in_bulk and kind.name in _BULK_KINDS:
            batch = bulk.read(location, location, _printable,
                              jsonl=kind.name == "jsonl-ledger", listed=listed)
            if batch is not None:
                yield batch
                continue
        yield from map(_printable, kind.records(location, context))
    for kind, locations in batches.values():
        assert kind.read_all is not None
        yield from map(_printable, kind.read_all(locations, context))


_BULK_KINDS = frozenset({"csv-ledger", "jsonl-ledger"})  # read by evidence.bulk when it can
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
    if (record.source.isascii() and (record.phone is None or record.phone.isascii())
            and (record.name is None or record.name.isascii())
            and (record.user_id is None or record.user_id.isascii())):
        return record  # the common case, told without a search: ASCII has no surrogates
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
    me: str | None = None,
    date_order: str | Mapping[str, str] | None = None,
    backup_key_file: str | None = None,
) -> Evidence:
    """Read and merge every source (files, folders, globs) into one Evidence.

    ``me`` and ``date_order`` are for chat exports (``--me``, ``--date-order``);
    ``backup_key_file`` holds the key of encrypted phone backups (``--backup-key-file``; else
    the ``CONTACTGUARD_BACKUP_KEY`` environment variable is read). Whether Argentine ``+549…``
    and ``+54…`` match is the policy's to say (``Policy.match_ar_without_9``): a Sanitizer reads
    the evidence through ``Evidence.matching``. Raises EvidenceError naming the file (and line)
    of anything that cannot
    be read, including a missing path.
    """
    evidence = Evidence()
    context = SourceContext(
        warn=evidence.warnings.append,
        not_understood=evidence.note_not_understood,
        me=me,
        date_order=date_order,
        backup_key_file=backup_key_file,
    )
    gather(sources, context, evidence)
    return evidence


def expand(sources: Iterable[str | Path] | str | Path) -> Iterator[tuple[str, bool]]:
    """(location, named explicitly?) for each source: folders and globs become their files."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    for source in sources:
        text = str(source)
        if _is_url(text):
            yield text, True
            continue
        path = Path(text)
        if path.is_dir() and _is_phone_backup(path):
            yield text, True  # an iPhone backup is one source, not thousands of files
        elif path.is_dir():
            yield from ((str(p), False) for p in _folder_files(path))
        elif path.exists():
            yield text, True
        elif _GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text, recursive=True))  # noqa: PTH207 - str patterns
            if not matches:
                raise EvidenceError("no file matches this pattern", file=text)
            for match in matches:
                found = Path(match)
                if found.is_dir() and _is_phone_backup(found):
                    yield match, False
                elif found.is_dir():
                    yield from ((str(p), False) for p in _folder_files(found))
                elif found.is_file():  # not a FIFO, socket or device: reading one would hang
                    yield match, False
        else:
            raise EvidenceError("no such file or folder", file=text)


def _is_phone_backup(folder: Path) -> bool:
    """An iPhone (Finder/iTunes) backup folder: read as one source through its manifest."""
    return (folder / "Manifest.db").is_file() or (folder / "Manifest.plist").is_file()


def _folder_files(folder: Path) -> Iterator[Path]:
    """Every non-hidden file below ``folder``, sorted by path (stable across runs); an iPhone
    backup folder below it is yielded as itself."""
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            if path.is_symlink():  # as rglob: a linked folder is not walked (no loops)
                continue
            if _is_phone_backup(path):
                yield path
            else:
                yield from _folder_files(path)
        elif path.is_file():
            yield path


def head_of(location: str) -> bytes:
    """The first bytes a sniffer sees: none for a URL or a folder."""
    if _is_url(location) or Path(location).is_dir():
        return b""
    return _read_head(location)


_head = head_of  # the former private name, still imported by the command line


def _read_head(location: str) -> bytes:
    try:
        with Path(location).open("rb") as stream:
            return stream.read(HEAD_SIZE)
    except OSError as exc:
        raise EvidenceError(f"cannot read: {exc.strerror}", file=location) from exc


def _is_url(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))
