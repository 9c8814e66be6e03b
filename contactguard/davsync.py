"""Incremental listing of a CardDAV address book: WebDAV ``sync-collection`` (RFC 6578).

A server that offers it hands out a sync token with every answer; given the last token back, it
answers with only the cards added, changed or removed since (RFC 6578 §3.2), so a run over an
unchanged book costs one small request instead of a listing of every card.

- ``sync_collection(client, token)``: one ``sync-collection`` REPORT (Depth 0 on the collection,
  RFC 6578 §3.3), following a truncated answer (a 507 on the request URI, §3.6) with its new
  token. ``None`` when the server does not offer the report; ``InvalidToken`` when it no longer
  knows the token (RFC 6578 §3.2: ``DAV:valid-sync-token`` precondition) or refuses it otherwise.
- ``incremental_listing(client, previous, token, collection)``: the whole listing (href → ETag),
  built from the previous listing and the changes since ``token``; an invalid or expired token
  costs a full listing; None for a server without the report (the caller lists as before). A
  change listed without an ETag drops the token: the next run lists in full.
- ``fetch_changed``: the same for a source, with the text of every new or changed card, fetched
  by multiget in batches of bounded bytes (each card's ``getcontentlength``) and slimmed as each
  batch arrives: a book of large photos is never in memory all at once.

The token and the listing it belongs to are kept by the caller (the sync state, the source
cache); they are only a shortcut: losing them costs one full listing, never a card.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import SyncError

if TYPE_CHECKING:
    from .carddav import CardDAVClient, RemoteCard

__all__ = [
    "Delta",
    "InvalidToken",
    "Listing",
    "fetch_changed",
    "incremental_listing",
    "sync_collection",
]

DAV = "DAV:"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
# a server without sync-collection (or without it on this URL) answers with one of these
_REFUSED = (400, 403, 404, 405, 409, 412, 415, 422, 501)
# a truncated answer is followed this many times at most (RFC 6578 §3.6): then a full listing
_MAX_ROUNDS = 100
# a multiget answer holds at most about this many bytes of cards (large photos: few per batch)
FETCH_BYTES = 16 * 2**20
# one card alone may be larger than that, up to this: beyond, the server is broken or hostile
CARD_BYTES = 64 * 2**20


class InvalidToken(SyncError):
    """The server no longer accepts the sync token we kept (expired, or from another book)."""


@dataclass
class Delta:
    """What changed in a collection since a token: changed or new cards, removed hrefs."""

    token: str
    changed: dict[str, RemoteCard] = field(default_factory=dict)  # href → ETag (and text)
    removed: set[str] = field(default_factory=set)
    sizes: dict[str, int] = field(default_factory=dict)  # href → bytes, when the server says


def _body(token: str, with_data: bool) -> bytes:
    from xml.sax.saxutils import escape

    # without the text, each card's size: the caller fetches them in batches of bounded bytes
    data = "<c:address-data/>" if with_data else "<d:getcontentlength/>"
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<d:sync-collection xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">'
        f"<d:sync-token>{escape(token)}</d:sync-token><d:sync-level>1</d:sync-level>"
        f"<d:prop><d:getetag/>{data}</d:prop></d:sync-collection>"
    ).encode()


def sync_collection(
    client: CardDAVClient, token: str, *, with_data: bool = False, max_bytes: int | None = None
) -> Delta | None:
    """The changes since ``token`` ("" for every card), or None when the report is not offered.

    ``with_data`` asks for each changed card's text too (RFC 6578 §3.2 allows any property);
    a server that leaves it out is caught by the caller, which fetches such cards. An answer
    larger than ``max_bytes`` raises ``ResponseTooLarge`` before it is held in memory.
    """
    from .carddav import RemoteCard, href_path, parse_etag, safe_url

    url = client.collection or client.url
    base = href_path(url)
    delta = Delta(token)
    for _ in range(_MAX_ROUNDS):
        response = client.session.request(
            "REPORT",
            url,
            content=_body(delta.token, with_data),
            headers={"Depth": "0", "Content-Type": "application/xml; charset=utf-8"},
            ok=(207, *_REFUSED),
            max_bytes=max_bytes,
        )
        if response.status_code != 207:
            if delta.token:  # RFC 6578 §3.2: 403 + DAV:valid-sync-token; servers vary
                raise InvalidToken(
                    f"{safe_url(url)}: the server refused the sync token "
                    f"(HTTP {response.status_code})"
                )
            return None
        root = _parse(response.content, safe_url(url))
        new_token = root.findtext(f"{{{DAV}}}sync-token")
        if not new_token or not new_token.strip():
            return None  # a multistatus without a token: not a sync-collection answer
        more = False
        for item in root.iter(f"{{{DAV}}}response"):
            href_text = item.findtext(f"{{{DAV}}}href")
            if not href_text:
                continue
            href = href_path(href_text.strip())
            status = item.findtext(f"{{{DAV}}}status") or ""
            if href.rstrip("/") == base.rstrip("/"):
                more = more or " 507" in status  # RFC 6578 §3.6: truncated, ask again
                continue
            if href.endswith("/"):
                continue  # a sub-collection is not a card
            if " 404" in status:  # RFC 6578 §3.5.2: a removed member
                delta.removed.add(href)
                delta.changed.pop(href, None)
                continue
            props = _props(item)
            etag = parse_etag(_text(props.get(f"{{{DAV}}}getetag")))
            data = _text(props.get(f"{{{CARDDAV}}}address-data")) if with_data else None
            delta.changed[href] = RemoteCard(href, etag, data)
            size = (_text(props.get(f"{{{DAV}}}getcontentlength")) or "").strip()
            if size.isdigit():
                delta.sizes[href] = int(size)
            delta.removed.discard(href)
        delta.token = new_token.strip()
        if not more:
            return delta
    raise InvalidToken(f"{safe_url(url)}: the changes never ended (more than {_MAX_ROUNDS} pages)")


@dataclass
class Listing:
    """A collection's cards (href → ETag), those that came with their text, and the new token."""

    cards: dict[str, str | None]
    texts: dict[str, RemoteCard]
    token: str | None  # None: none to keep (the next run lists in full)
    collection: str | None
    sizes: dict[str, int] = field(default_factory=dict)  # href → bytes of changed cards


def incremental_listing(
    client: CardDAVClient,
    previous: Mapping[str, str | None] | None,
    token: str | None,
    collection: str | None,
    *,
    with_data: bool = False,
    max_bytes: int | None = None,
) -> Listing | None:
    """The collection's listing, from the changes since ``token`` when the server offers them.

    With a token, the collection it came from and the listing it belongs to, only the changes are
    asked for. Without them (or when the token is refused) every card is listed by a
    ``sync-collection`` with an empty token. None when the server does not offer the report: the
    caller lists as it always did.
    """
    if token and previous is not None and collection:
        client.collection = collection
        try:
            delta = sync_collection(client, token, with_data=with_data, max_bytes=max_bytes)
        except InvalidToken:
            delta = None  # expired or unknown: list in full below
        if delta is not None:
            cards = {h: e for h, e in previous.items() if h not in delta.removed}
            cards.update((h, c.etag) for h, c in delta.changed.items())
            return Listing(cards, _with_text(delta), _keep(delta), client.collection, delta.sizes)
    if client.use_sync is False:
        return None
    verified = client.collection is not None
    delta = sync_collection(client, "", with_data=with_data, max_bytes=max_bytes)
    if delta is None:
        client.use_sync = False  # a server without the report: today's listing from now on
        return None
    if not verified and not delta.changed:
        # an empty answer: an empty book, or a URL that is not the book itself - ask
        cards = client.listing()
        mark = delta.token if client.collection == client.url else None
        return Listing(cards, {}, mark, client.collection)
    if not verified:
        client.collection = client.url
    cards = {h: c.etag for h, c in delta.changed.items()}
    return Listing(cards, _with_text(delta), _keep(delta), client.collection, delta.sizes)


def fetch_changed(
    client: CardDAVClient,
    known: Mapping[str, str],
    token: str | None,
    collection: str | None,
    *,
    slim: Callable[[str], str] | None = None,
    budget: int | None = None,
) -> Listing | None:
    """The source's listing with the text of every card not in ``known`` (href → ETag) as it is.

    A first run asks for every card with its text in one ``sync-collection``, as long as the
    answer stays within ``budget`` bytes. Otherwise, and on every later run, the changes (with
    each card's size) come in one ``sync-collection`` and the new or changed cards are fetched by
    multiget in batches of at most ``budget`` bytes, so that a book full of large photos is never
    held in memory at once; ``slim`` (which drops the parts no target keeps) is applied to each
    card as its answer arrives. None when the server does not offer the report.
    """
    from .carddav import RemoteCard, ResponseTooLarge

    budget = FETCH_BYTES if budget is None else budget
    got = None
    if not known:  # a first run: the whole book in one answer, unless it is too large for that
        try:
            got = incremental_listing(
                client, None, None, collection, with_data=True, max_bytes=budget
            )
        except ResponseTooLarge:
            got = None  # large photos: list with sizes, then fetch in bounded batches
        else:
            if got is None:
                return None
            got.texts = {
                h: RemoteCard(h, c.etag, c.data if slim is None or c.data is None else slim(c.data))
                for h, c in got.texts.items()
            }
    if got is None:
        got = incremental_listing(client, known if known else None, token, collection)
    if got is None:
        return None
    wanted = [
        h
        for h, etag in got.cards.items()
        if h not in got.texts and (etag is None or known.get(h) != etag)
    ]
    for batch in _batches(wanted, got.sizes, budget, client.batch):
        for card in _multiget_bounded(client, batch, budget):
            text = card.data if slim is None or card.data is None else slim(card.data)
            got.texts[card.href] = RemoteCard(card.href, card.etag, text)
    return got


def _multiget_bounded(client: CardDAVClient, hrefs: list[str], budget: int) -> list[RemoteCard]:
    """The cards at ``hrefs``; an answer over ``budget`` bytes is asked again in halves.

    Servers that do not tell a card's size (Radicale leaves out getcontentlength) are bounded
    this way: a batch of large photos splits until it fits; a card alone may take ``CARD_BYTES``.
    """
    from xml.sax.saxutils import escape

    from .carddav import (
        RemoteCard,
        ResponseTooLarge,
        href_path,
        multistatus,
        parse_etag,
        safe_url,
    )

    collection = client.collection or client.url
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">'
        "<d:prop><d:getetag/><c:address-data/></d:prop>"
        + "".join(f"<d:href>{escape(h)}</d:href>" for h in hrefs)
        + "</c:addressbook-multiget>"
    )
    try:
        response = client.session.request(
            "REPORT",
            collection,
            content=body.encode("utf-8"),
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
            max_bytes=budget if len(hrefs) > 1 else max(budget, CARD_BYTES),
        )
    except ResponseTooLarge:
        half = len(hrefs) // 2
        return _multiget_bounded(client, hrefs[:half], budget) + _multiget_bounded(
            client, hrefs[half:], budget
        )
    cards = []
    for entry in multistatus(response.content, safe_url(collection)):
        data = entry.text(f"{{{CARDDAV}}}address-data")
        if data is not None:
            cards.append(
                RemoteCard(href_path(entry.href), parse_etag(entry.text(f"{{{DAV}}}getetag")), data)
            )
    return cards


def _batches(
    hrefs: list[str], sizes: Mapping[str, int], budget: int, most: int
) -> Iterator[list[str]]:
    """``hrefs`` in runs of at most ``most`` cards and ``budget`` bytes (at least one card each)."""
    batch: list[str] = []
    weight = 0
    for href in hrefs:
        size = sizes.get(href, 0)
        if batch and (len(batch) >= most or weight + size > budget):
            yield batch
            batch, weight = [], 0
        batch.append(href)
        weight += size
    if batch:
        yield batch


def _with_text(delta: Delta) -> dict[str, RemoteCard]:
    return {h: c for h, c in delta.changed.items() if c.data is not None}


def _keep(delta: Delta) -> str | None:
    """The token, unless a card came without ETag: it could not be told unchanged next run."""
    if any(c.etag is None for c in delta.changed.values()):
        return None
    return delta.token


def _parse(content: bytes, shown: str) -> ET.Element:
    try:
        # ElementTree expands no external entities; expat bounds entity expansion
        return ET.fromstring(content)  # noqa: S314
    except ET.ParseError as exc:
        raise SyncError(f"{shown}: the server's answer is not valid XML ({exc})") from exc


def _props(item: ET.Element) -> dict[str, ET.Element]:
    props: dict[str, ET.Element] = {}
    for propstat in item.iter(f"{{{DAV}}}propstat"):
        status = propstat.findtext(f"{{{DAV}}}status") or ""
        if status and " 200 " not in status + " ":
            continue
        prop = propstat.find(f"{{{DAV}}}prop")
        if prop is not None:
            props.update((child.tag, child) for child in prop)
    return props


def _text(element: ET.Element | None) -> str | None:
    return None if element is None else (element.text or "")
