"""Reading the sync source: a book file, or a CardDAV address book fetched through its cache.

    CardDAV source ─► sync-collection delta (davsync) ─► SourceCache (ETag + text per card)
                                                              │
                  group cards left out ◄─ one joined book ◄───┘ (href order, photos slimmed)

Only the download is cached, never a decision: every card still goes through the Sanitizer. Each
contact of the joined book is named by its own card's URL (``CardNames``).
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .cardkind import is_group_card, slim
from .syncconfig import Endpoint, SyncConfig, secret

if TYPE_CHECKING:
    from . import davsync
    from .carddav import CardDAVClient, HttpSession, RemoteCard
    from .model import Contact
    from .sourcecache import SourceCache

__all__ = ["CardNames", "SourceReader", "http_session", "origin"]

# what the vCard reader counts as a line end (books/vcard.py): CRLF, LF, CR CR LF, a lone CR
_EOL = re.compile(r"\r*\n|\r(?![\r\n])")


def http_session(
    config: SyncConfig,
    endpoint: Endpoint,
    section: str,
    *,
    transport: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> HttpSession:
    """An HTTP session to one endpoint, with its secret and the config's timeouts and retries."""
    from .carddav import Credentials, HttpSession

    return HttpSession(
        credentials=Credentials(
            username=endpoint.username,
            password=secret(endpoint, "password", section),
            token=secret(endpoint, "token", section),
        ),
        timeout=config.timeout,
        retries=config.retries,
        backoff=config.backoff,
        max_retry_after=config.max_retry_after,
        ca_bundle=None if endpoint.ca_bundle is None else str(endpoint.ca_bundle),
        transport=transport,
        sleep=sleep,
        plain_http=(endpoint.url or "").lower().startswith("http://"),
    )


class SourceReader:
    """The source of one run as one book; ``groups`` counts the group cards left out."""

    def __init__(self, config: SyncConfig, client: CardDAVClient | None, *, dry_run: bool) -> None:
        self.config = config
        self.source = client  # None for a file source
        self.dry_run = dry_run  # then the source cache is read, never written
        self.groups = 0
        self.listing: dict[str, str | None] | None = None  # href → ETag, once fetched
        self._fresh: dict[str, RemoteCard] = {}  # fetched this run (slimmed)
        self._known: dict[str, str] = {}  # href → ETag the cache held before this run
        self._cache: SourceCache | None = None
        self.people: list[tuple[str, str]] | None = None  # (href, text) of the joined cards

    @contextlib.contextmanager
    def book(self) -> Iterator[tuple[Any, CardNames | None]]:
        """The source as one book, and (CardDAV) the URL of the card each line came from."""
        source = self.config.source
        if source.path is not None:
            yield source.path, None
            return
        cards = sorted(self.cards().items())  # href order: the same order every run
        people = [(href, text) for href, text in cards if not is_group_card(text)]
        self.groups = len(cards) - len(people)
        self.people = cards = people
        base = source.describe()
        names = CardNames(origin(base), base)
        chunks = []
        for href, text in cards:
            if not text.endswith("\n"):
                text += "\r\n"
            names.add(href, len(_EOL.findall(text)))
            chunks.append(text)
        book = io.BytesIO("".join(chunks).encode("utf-8"))
        book.name = base  # the report's input: the source's URL
        yield book, names

    def fetch(self) -> dict[str, str | None]:
        """The source's listing (href → ETag), fetching what the cache does not hold; asked
        once per run (``cards`` then reads the texts without another request)."""
        if self.listing is not None:
            return self.listing
        assert self.source is not None
        client = self.source
        path = self.config.source_cache
        if path is None or (self.dry_run and not path.exists()):
            fetched = client.fetch_all()
            self._fresh = {c.href: replace(c, data=_slim(c.data or "")) for c in fetched}
            self.listing = {c.href: c.etag for c in fetched}
            return self.listing
        from .sourcecache import SourceCache

        cache = self._cache = SourceCache(path, self.config.source.describe())
        try:
            self.listing = self._fetch_cached(client, cache)
        except BaseException:
            self.close()
            raise
        return self.listing

    def _fetch_cached(self, client: CardDAVClient, cache: SourceCache) -> dict[str, str | None]:
        known = self._known = cache.etags()
        changes = incremental_source(client, cache, known, _slim)
        if changes is not None:  # RFC 6578: only what changed since the last run (slimmed)
            listing = changes.cards
            fresh = dict(changes.texts)
        else:
            if not known:  # a first run: the whole book in one request
                fetched = client.fetch_all()
                listing = {c.href: c.etag for c in fetched}
            else:
                listing = client.listing()
                wanted = [h for h, etag in listing.items() if etag is None or known.get(h) != etag]
                fetched = list(client.multiget(wanted)) if wanted else []
            fresh = {c.href: replace(c, data=_slim(c.data)) for c in fetched if c.data is not None}
        self._fresh = fresh = {h: c for h, c in fresh.items() if c.data is not None}
        # a card without ETag cannot be checked next run: used now, never cached
        keep = [(c.href, c.etag, c.data) for c in fresh.values() if c.etag and c.data]
        gone = [h for h in known if h not in listing or (h in fresh and not fresh[h].etag)]
        if not self.dry_run:
            cache.update(keep, gone)
            token = changes.token if changes else None
            cache.set_sync_mark(token, client.collection, client.use_sync)
        return listing

    def cards(self) -> dict[str, str]:
        """href → text of every source card, fetching only what the cache does not hold."""
        listing = self.fetch()
        fresh, known = self._fresh, self._known
        cached: dict[str, str] = {}
        if self._cache is not None:
            if len(fresh) < len(listing):
                cached = self._cache.texts()
            self.close()
        texts: dict[str, str] = {}
        for href, etag in listing.items():
            card = fresh.get(href)
            if card is not None:
                texts[href] = card.data or ""
            elif etag is not None and known.get(href) == etag and href in cached:
                texts[href] = cached[href]
            # else: listed but gone before the fetch - it left the source
        return texts

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None


class CardNames:
    """Which source card each line of the joined source book came from."""

    def __init__(self, origin: str, book: str | None = None) -> None:
        self.origin = origin  # scheme://host[:port] of the source
        self.book = origin if book is None else book  # the joined book's name
        self.starts: list[int] = []  # 1-based first line of each card in the joined book
        self.hrefs: list[str] = []
        self._next = 1

    def add(self, href: str, lines: int) -> None:
        self.starts.append(self._next)
        self.hrefs.append(href)
        self._next += lines

    def place(self, line: int) -> tuple[str, int]:
        """``(<source-url><href>, line in the card)`` of a line of the joined book (the engine's
        ``places``: the report names each contact by its own card)."""
        i = bisect.bisect_right(self.starts, line) - 1
        if i < 0:
            return self.book, line
        return self.origin + self.hrefs[i], line - self.starts[i] + 1

    def rename(self, contact: Contact) -> Contact:
        """The contact named ``<source-url><href>:<line in the card>`` instead of a joined line."""
        i = bisect.bisect_right(self.starts, contact.line) - 1
        if i < 0:
            return contact
        # a copy with two fields set: Contact has no __post_init__, and dataclasses.replace
        # (which re-checks every field) cost ~0.1 s per 8,000 cards on each run that decides
        renamed = copy.copy(contact)
        object.__setattr__(renamed, "source", self.origin + self.hrefs[i])
        object.__setattr__(renamed, "line", contact.line - self.starts[i] + 1)
        return renamed


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: a card's href (an absolute path) is appended to it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _slim(text: str) -> str:
    """A source card without photos, logos, sounds and keys (the reader never reads them)."""
    return slim(text)


def incremental_source(
    client: CardDAVClient,
    cache: SourceCache,
    known: dict[str, str],
    slim: Callable[[str], str],
) -> davsync.Listing | None:
    """The source's changes since the token the cache keeps; None: list it as before."""
    from . import davsync

    token, collection = cache.sync_mark()
    if client.use_sync is None and cache.sync_offered() is False:
        client.use_sync = False  # the server said no before: do not ask on every run
    return davsync.fetch_changed(client, known, token, collection, slim=slim)
