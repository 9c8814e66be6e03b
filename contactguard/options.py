"""Plain option values to the objects a run is made of, in one place.

The command line (``sanitize``, ``check``), ``sanitize()`` and the sync job all start from plain
values — a region, field names, "6m", a flag, evidence locations — and need a ``Policy``,
``ReadOptions`` and loaded ``Evidence``. They build them here, so that the rules (what "6m"
means, that ``match_ar_without_9`` belongs to the policy alone, when a ledger is asked about a
book's numbers instead of read whole) exist once.

    RunOptions ─► .policy()        ─► Policy
               └► .read_options()  ─► ReadOptions
    EvidenceOptions ─► .load(books) ─► Evidence
    sanitizer(run, evidence, books) ─► Sanitizer
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .books import ReadOptions
    from .evidence import Evidence
    from .pipeline import Sanitizer
    from .policy import Policy

__all__ = ["EvidenceOptions", "RunOptions", "parse_max_age", "sanitizer"]


def parse_max_age(text: str | timedelta | None) -> timedelta | None:
    """"1y", "6m", "365d", "52w", "12h" or a number of days → timedelta; None stays None.

    A year is 365 days and a month 30: a retention period rounds down, never up (fail closed:
    "6m" removes a person after 180 days, not after 184)."""
    if text is None or isinstance(text, timedelta):
        return text
    value = text.strip().lower()
    units = {"y": 365.0, "m": 30.0, "w": 7.0, "d": 1.0, "h": 1 / 24}
    try:
        if value and value[-1] in units:
            days = float(value[:-1]) * units[value[-1]]
        else:
            days = float(value)
        if not days >= 0:  # also NaN
            raise ValueError(value)
        return timedelta(days=days)
    except (ValueError, OverflowError) as exc:  # "inf", "1e12d": no timedelta holds them
        raise ConfigError(
            f"max age {text!r} is not a duration such as 1y, 6m, 365d, 52w or 12h"
        ) from exc


@dataclass(frozen=True)
class RunOptions:
    """What the policy and the book readers are told: the command line's shared options,
    ``sanitize()``'s keywords, a sync config's ``[policy]``."""

    region: str | None = None
    keep_fields: Iterable[str] = ()
    max_age: str | timedelta | None = None
    match_ar_without_9: bool = False
    now: datetime | None = None
    input_format: str | None = None
    phone_columns: Sequence[str] = ()
    name_columns: Sequence[str] = ()

    def policy(self) -> Policy:
        """The Policy (the one owner of ``match_ar_without_9``)."""
        from .policy import Policy

        return Policy(
            region=self.region,
            keep_fields=frozenset(self.keep_fields),
            max_age=parse_max_age(self.max_age),
            match_ar_without_9=self.match_ar_without_9,
            now=self.now,
        )

    def read_options(self, *, only_kept_fields: bool = False) -> ReadOptions:
        """How to read the books; with ``only_kept_fields`` the readers may skip every field
        the policy does not keep (the clean book and the report look at no other)."""
        from .books import ReadOptions

        fields = self.policy().keep_fields if only_kept_fields else None
        return ReadOptions(
            self.input_format, tuple(self.phone_columns), tuple(self.name_columns), fields=fields
        )


@dataclass(frozen=True)
class EvidenceOptions:
    """Where the evidence is and how to read it: sources (files, folders, globs, https://
    URLs), a ledger, the business's own sender name and date orders for chat exports, the key
    of encrypted phone backups."""

    sources: Sequence[str | Path] = ()
    ledger: str | None = None
    me: str | None = None
    date_order: str | dict[str, str] | None = None
    backup_key_file: str | None = None

    def load(self, books: Sequence[str] = (), run: RunOptions | None = None) -> Evidence:
        """The evidence. With ``books`` (files, not standard input) a contactguard ledger that
        holds far more than the books could match is asked about the books' numbers and names
        instead of read whole."""
        from .evidence import load_evidence

        ledger = self.ledger
        targeted = (ledger is not None and bool(books) and "-" not in books
                    and is_contactguard_ledger(ledger) and _worth_asking(ledger, books))
        whole = [ledger] if ledger is not None and not targeted else []
        loaded = load_evidence([*self.sources, *whole], me=self.me, date_order=self.date_order,
                               backup_key_file=self.backup_key_file)
        if targeted and ledger is not None:
            from .evidence.store import Ledger

            run = run or RunOptions()
            numbers, names = _book_keys(books, run.read_options(), run.region)
            with Ledger(ledger, readonly=True) as db:
                loaded.update(db.records_for(numbers, names))
        return loaded


def sanitizer(
    run: RunOptions,
    evidence: EvidenceOptions | Evidence,
    books: Sequence[str] = (),
    *,
    only_kept_fields: bool = False,
) -> Sanitizer:
    """The Sanitizer these options describe (``books``: see ``EvidenceOptions.load``)."""
    from .evidence import Evidence
    from .pipeline import Sanitizer

    loaded = evidence if isinstance(evidence, Evidence) else evidence.load(books, run)
    return Sanitizer(loaded, run.policy(), run.read_options(only_kept_fields=only_kept_fields))


def is_contactguard_ledger(location: str) -> bool:
    """A contactguard ledger (not a phone's database, which is read as evidence whole)."""
    from .evidence import HEAD_SIZE, kind_of

    try:
        with Path(location).open("rb") as stream:
            head = stream.read(HEAD_SIZE)
    except OSError:
        return False  # reading it as evidence says what is wrong
    kind = kind_of(location, head)
    return kind is not None and kind.name == "sqlite-ledger"


def _worth_asking(ledger: str, books: Sequence[str]) -> bool:
    """Whether asking the ledger about each of the books' numbers beats reading it whole: a
    look-up costs about what reading a few entries costs, and a card or row takes at least
    about 50 bytes, so the books hold at most size/50 contacts."""
    from .evidence.store import Ledger

    try:
        size = sum(Path(book).stat().st_size for book in books)
    except OSError:
        return False  # reading the book says what is wrong
    with Ledger(ledger, readonly=True) as db:
        entries = db.statement_count()
    return entries * 50 > 4 * size


def _book_keys(
    books: Sequence[str], options: ReadOptions, region: str | None
) -> tuple[set[str], set[str]]:
    """The E.164 numbers and display names of the books: what a ledger is asked about."""
    from .books import read_book
    from .phones import normalize

    numbers: set[str] = set()
    names: set[str] = set()
    for book in books:
        for contact in read_book(book, options):
            if contact.display_name:
                names.add(contact.display_name)
            for phone in contact.phones:
                e164 = normalize(phone.value, region)
                if e164 is not None:
                    numbers.add(e164)
    return numbers, names
