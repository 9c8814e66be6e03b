"""A minimal CardDAV client on httpx: discover, list with ETags, multiget, PUT and DELETE.

Only what the sync job needs (RFC 6352, RFC 4918):

- ``listing()``: every card's ETag in one request: an ``addressbook-query`` REPORT with an empty
  filter asking for ``getetag`` only (RFC 6352 §8.6, §10.5), which Radicale answers about twice as
  fast as a PROPFIND; a server that refuses it, truncates it (507, RFC 6352 §8.6.1) or finds
  nothing gets a PROPFIND depth 1 instead. When the URL is not an address book, the collection is
  discovered through ``current-user-principal`` and ``addressbook-home-set`` (RFC 5397, RFC 6352
  §7.1.1).
- ``fetch_all()``: every card with ETag and text in one ``addressbook-query`` (a first sync),
  else the listing plus a multiget.
- ``multiget(hrefs)``: ``addressbook-multiget`` REPORT in batches (RFC 6352 §8.7).
- ``put(href, data, etag)``: ``If-None-Match: *`` for a new card, ``If-Match`` for a changed one
  (RFC 7232 §3.1-3.2); a 412 is raised as ``PreconditionFailed``.
- ``delete(href, etag)``: with ``If-Match``.

Every request goes through ``HttpSession.request``: one ``httpx.Client`` with keep-alive,
timeouts, TLS verification (optionally against a CA bundle), Basic or bearer auth, and a bounded
retry with exponential backoff for connection errors, 5xx and 429 (``Retry-After`` honoured up to
a cap). Secrets never appear in messages: errors name the URL (without user info) and the HTTP
status only. ``requests`` counts what was sent, per method.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit, urlunsplit
from xml.sax.saxutils import escape

import httpx

from .errors import ConfigError, SyncError

__all__ = [
    "AuthFailed",
    "CardDAVClient",
    "CardRejected",
    "Credentials",
    "DavEntry",
    "HttpSession",
    "PreconditionFailed",
    "RemoteCard",
    "ResponseTooLarge",
    "ServerUnreachable",
    "href_path",
    "multistatus",
    "parse_etag",
    "safe_url",
]

DAV = "DAV:"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
VCARD_TYPE = "text/vcard; charset=utf-8"
MULTIGET_BATCH = 1000
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")


class AuthFailed(SyncError):
    """The server refused the credentials (HTTP 401 or 403)."""


class ServerUnreachable(SyncError):
    """The server could not be reached or kept failing (5xx, 429) after the bounded retries."""


class PreconditionFailed(SyncError):
    """A PUT or DELETE met a card that changed on the server since it was listed (HTTP 412)."""


class ResponseTooLarge(SyncError):
    """An answer grew past the size the caller allowed (``max_bytes``); it was not read."""


class CardRejected(SyncError):
    """The server refused to store one card: too large (413), its type (415), no room (507)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# a server that will not store one card says so with one of these; the other cards may still fit
_REJECTED = {
    413: "too large for the server (HTTP 413)",
    415: "the server does not accept this card (HTTP 415)",
    507: "the server has no room for it (HTTP 507)",
}


_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII (RFC 6750 tokens are a subset)


@dataclass(frozen=True)
class Credentials:
    """Basic auth (username + password) or a bearer token; ``repr`` hides the secrets."""

    username: str | None = None
    password: str | None = None
    token: str | None = None

    def __post_init__(self) -> None:
        # a token goes into a header as it is: CR, LF or a non-ASCII letter there would raise
        # deep in the HTTP library with the token in the message, seen in the exception chain
        if self.token is not None and not _TOKEN.fullmatch(self.token):
            raise ConfigError(
                "the bearer token holds a character no token can hold (a control character "
                "such as CR or LF, a space, or a non-ASCII letter); check its file or variable"
            )

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, secret={'***' if self.secret else None})"

    @property
    def secret(self) -> bool:
        return bool(self.password or self.token)


@dataclass(frozen=True)
class RemoteCard:
    """One card of an address book: its href, its ETag and (when fetched) its vCard text."""

    href: str
    etag: str | None
    data: str | None = None


def safe_url(url: str | httpx.URL) -> str:
    """The URL without user info, query or fragment: safe to show in a message."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class _SafeUrls(logging.Filter):
    """httpx logs every request's URL at INFO; user info and query may hold secrets: drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                safe_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


# a caller that turns on INFO logging must not see passwords or tokens from URLs in it
logging.getLogger("httpx").addFilter(_SafeUrls())


class HttpSession:
    """One keep-alive httpx.Client with auth, timeouts, TLS rules and a bounded retry."""

    def __init__(
        self,
        *,
        credentials: Credentials | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        ca_bundle: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        plain_http: bool = False,
    ) -> None:
        credentials = credentials or Credentials()
        auth: httpx.Auth | None = None
        headers = {"User-Agent": "contactguard"}
        if credentials.token:
            headers["Authorization"] = f"Bearer {credentials.token}"
        elif credentials.username is not None:
            auth = httpx.BasicAuth(credentials.username, credentials.password or "")
        # TLS is always verified: against the system's CAs, or the config's ca_bundle. A session
        # to an http:// endpoint (``plain_http``) loads no CAs (~30 ms): its context trusts none,
        # so any https:// URL it were ever sent to fails verification (fails closed)
        if ca_bundle:
            tls = _tls_context(ca_bundle)
        elif plain_http:
            tls = _trusting_none()
        else:
            tls = _system_tls()
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.requests: Counter[str] = Counter()
        self._counting = threading.Lock()  # the sync job sends PUTs from a few threads
        self._sleep = sleep
        self._client = httpx.Client(
            auth=auth,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=tls,
            transport=transport,
            follow_redirects=False,  # never carry credentials to another host
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bounded(
        self,
        method: str,
        url: str,
        content: bytes | None,
        headers: dict[str, str] | None,
        max_bytes: int,
        shown: str,
    ) -> httpx.Response:
        with self._client.stream(method, url, content=content, headers=headers) as streamed:
            body = _read_bounded(streamed, max_bytes, shown)
        # the body is decoded already: a gzip server's Content-Encoding must not decode it twice
        plain = [
            (k, v)
            for k, v in streamed.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            streamed.status_code, headers=plain, content=body, request=streamed.request
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: Sequence[int] = (200, 201, 204, 207),
        max_bytes: int | None = None,
    ) -> httpx.Response:
        """Send one request, retrying connection errors, 5xx and 429; raise SyncError otherwise.

        A 412 raises PreconditionFailed, a 401/403 AuthFailed, other statuses outside ``ok``
        a SyncError naming the method, the URL (without user info) and the status. With
        ``max_bytes``, a body larger than that is refused while it streams in, so a hostile or
        broken server cannot fill the memory.
        """
        shown = safe_url(url)
        attempt = 0
        while True:
            with self._counting:
                self.requests[method] += 1
            try:
                if max_bytes is None:
                    response = self._client.request(method, url, content=content, headers=headers)
                else:
                    response = self._bounded(method, url, content, headers, max_bytes, shown)
            except httpx.TimeoutException as exc:
                problem = "timed out"
                cause: Exception = exc
                retry_after = None
            except httpx.ConnectError as exc:
                tls_problem = _tls_failure(exc)
                if tls_problem is not None:  # retrying cannot fix a certificate: say so at once
                    host = urlsplit(url).hostname or shown
                    raise SyncError(f"{host}: {tls_problem}") from exc
                problem = "cannot connect"
                cause = exc
                retry_after = None
            except httpx.TransportError as exc:
                problem = (
                    "cannot connect" if isinstance(exc, httpx.ConnectError) else "connection failed"
                )
                cause = exc
                retry_after = None
            else:
                status = response.status_code
                if status in ok:
                    return response
                if status == 412:
                    raise PreconditionFailed(
                        f"{method} {shown}: the card changed on the server (HTTP 412)"
                    )
                if status == 401:
                    raise AuthFailed(
                        f"{shown}: the server refused the login (HTTP 401); check the user name "
                        "and the password (password_env / password_file) or token in the config"
                    )
                if status == 403:
                    raise AuthFailed(
                        f"{method} {shown}: this account may not do that (HTTP 403 Forbidden)"
                    )
                if status != 429 and status < 500:
                    raise SyncError(
                        f"{method} {shown} failed: HTTP {status} {response.reason_phrase}"
                    )
                problem = f"HTTP {status} {response.reason_phrase}"
                cause = SyncError(problem)
                retry_after = _retry_after(response.headers.get("Retry-After"))
            if attempt >= self.retries:
                raise ServerUnreachable(
                    f"{shown}: {problem} (gave up after {attempt + 1} attempts); "
                    "is the server running and the URL right?"
                ) from cause
            delay = self.backoff * (2**attempt)
            if retry_after is not None:
                delay = max(delay, retry_after)
            self._sleep(min(delay, self.max_retry_after))
            attempt += 1


def _trusting_none() -> ssl.SSLContext:
    """A verifying TLS context with no CA loaded: every certificate fails verification."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname on


@functools.lru_cache(maxsize=1)
def _system_tls() -> ssl.SSLContext:
    """The verifying TLS context of every session without a ca_bundle (httpx's own default),
    made once: loading the CA bundle costs about 50 ms, and a fleet opens a session per phone.
    A context may serve many connections and threads at once."""
    return httpx.create_ssl_context()


def _tls_context(ca_bundle: str) -> ssl.SSLContext:
    """A verifying TLS context trusting the CAs in ``ca_bundle``; a one-line SyncError when the
    file is missing, unreadable or holds no certificate."""
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except OSError as exc:
        reason = exc.strerror or str(exc)
    except ssl.SSLError as exc:
        reason = f"not a PEM file of CA certificates: {exc.reason or exc}"
    raise SyncError(f"ca_bundle {ca_bundle}: cannot use it ({reason})")


def _tls_failure(exc: BaseException) -> str | None:
    """What went wrong with TLS when a connection failed for that reason, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            detail = current.verify_message or str(current)
            return (
                f"the server's TLS certificate could not be verified ({detail}); if it is "
                "signed by your own CA, name that CA's certificate file in ca_bundle"
            )
        if isinstance(current, ssl.SSLError):
            return f"the TLS handshake failed ({current.reason or current}); is it an https port?"
        current = current.__cause__ or current.__context__
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            "the server's TLS certificate could not be verified; if it is signed by your own "
            "CA, name that CA's certificate file in ca_bundle"
        )
    return None


def _read_bounded(response: httpx.Response, max_bytes: int, shown: str) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(
            f"{shown}: the response is larger than {max_bytes // 2**20} MiB; refused"
        )
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(
                f"{shown}: the response is larger than {max_bytes // 2**20} MiB; refused"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


_LIST_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">'
    b"<d:prop><d:resourcetype/><d:getetag/><d:current-user-principal/><c:addressbook-home-set/>"
    b"</d:prop></d:propfind>"
)
# a listing asks for no more than it needs: every extra property costs the server per card
_LEAN_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:getetag/></d:prop></d:propfind>'
)
_QUERY_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">'
    "<d:prop><d:getetag/>{data}</d:prop><c:filter/></c:addressbook-query>"
)
# a server without addressbook-query (or without it here) says so with one of these
_NO_QUERY = (400, 403, 404, 405, 415, 422, 501)
# a server that cut the answer short says so in a 507 status (RFC 6352 §8.6.1)
_TRUNCATED = re.compile(rb"status>\s*HTTP/\d(?:\.\d)? 507\b")
_HOME_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">'
    b"<d:prop><c:addressbook-home-set/></d:prop></d:propfind>"
)


@dataclass(frozen=True)
class DavEntry:
    """One ``response`` of a Multi-Status answer: its href and the properties that came 200."""

    href: str
    props: dict[str, ET.Element]

    def text(self, name: str) -> str | None:
        element = self.props.get(name)
        return None if element is None or element.text is None else element.text

    def is_collection(self) -> bool:
        kind = self.props.get(f"{{{DAV}}}resourcetype")
        return kind is not None and kind.find(f"{{{DAV}}}collection") is not None

    def is_addressbook(self) -> bool:
        kind = self.props.get(f"{{{DAV}}}resourcetype")
        return kind is not None and kind.find(f"{{{CARDDAV}}}addressbook") is not None

    def child_href(self, name: str) -> str | None:
        element = self.props.get(name)
        if element is None:
            return None
        href = element.find(f"{{{DAV}}}href")
        return None if href is None or not href.text else href.text.strip()


class CardDAVClient:
    """A CardDAV address book at ``url`` (or discovered from it). ``read_only`` refuses writes."""

    def __init__(
        self,
        url: str,
        session: HttpSession,
        *,
        read_only: bool = False,
        batch: int = MULTIGET_BATCH,
        use_query: bool = True,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.session = session
        self.read_only = read_only
        self.batch = max(1, batch)
        self.collection: str | None = None  # the address book's URL once known
        self.use_query = use_query  # list with addressbook-query until the server refuses it
        self.use_sync: bool | None = None  # sync-collection (davsync.py); False once refused

    @property
    def requests(self) -> Counter[str]:
        return self.session.requests

    def listing(self) -> dict[str, str | None]:
        """Every card of the address book: normalised href → ETag, in one request when it can."""
        if self.use_query:
            cards = self._query(with_data=False)
            if cards is not None:
                return {card.href: card.etag for card in cards}
        if self.collection is None:
            entries = self._propfind(self.url, _LEAN_BODY, depth="1")
            own = _own_entry(entries, self.url)
            if own is not None and own.is_addressbook():
                self.collection = self.url
            else:
                self.collection = self._discover()
                entries = self._propfind(self.collection, _LEAN_BODY, depth="1")
        else:
            entries = self._propfind(self.collection, _LEAN_BODY, depth="1")
        base = href_path(self.collection)
        return {
            href_path(e.href): parse_etag(e.text(f"{{{DAV}}}getetag"))
            for e in entries
            if href_path(e.href) != base and not e.is_collection() and not e.href.endswith("/")
        }

    def fetch_all(self) -> list[RemoteCard]:
        """Every card with ETag and text: one addressbook-query, else listing plus multiget."""
        if self.use_query:
            cards = self._query(with_data=True)
            if cards is not None:
                return cards
        return list(self.multiget(self.listing()))

    def multiget(self, hrefs: Iterable[str]) -> Iterator[RemoteCard]:
        """The cards at ``hrefs`` with ETag and vCard text, fetched in batches of ``batch``."""
        collection = self._collection()
        batch: list[str] = []
        for href in hrefs:
            batch.append(href)
            if len(batch) >= self.batch:
                yield from self._multiget(collection, batch)
                batch = []
        if batch:
            yield from self._multiget(collection, batch)

    def href_for(self, uid: str) -> str:
        """The href of a new card: its UID when that is URL-safe, else the UID's hash."""
        name = uid if _SAFE_NAME.fullmatch(uid) else hashlib.sha1(uid.encode()).hexdigest()  # noqa: S324
        return href_path(self._collection()) + name + ".vcf"

    def put(self, href: str, data: bytes, etag: str | None) -> str | None:
        """Create (``etag`` None: If-None-Match: *) or replace (If-Match) a card; its new ETag.

        None when the server does not say (it may have rewritten the card, RFC 6352 §6.3.2.3).
        """
        self._refuse_writes("PUT")
        headers = {"Content-Type": VCARD_TYPE}
        if etag is None:
            headers["If-None-Match"] = "*"
        else:
            headers["If-Match"] = _quote_etag(etag)
        response = self.session.request(
            "PUT",
            self._absolute(href),
            content=data,
            headers=headers,
            ok=(200, 201, 204, *_REJECTED),
        )
        if response.status_code in _REJECTED:
            raise CardRejected(
                f"PUT {safe_url(self._absolute(href))}: {_REJECTED[response.status_code]}",
                response.status_code,
            )
        return parse_etag(response.headers.get("ETag"))

    def delete(self, href: str, etag: str | None) -> None:
        """Delete a card, only if it still has ``etag`` (a 404 counts as done)."""
        self._refuse_writes("DELETE")
        headers = {} if etag is None else {"If-Match": _quote_etag(etag)}
        self.session.request("DELETE", self._absolute(href), headers=headers, ok=(200, 204, 404))

    # -- internals -----------------------------------------------------------------------------

    def _collection(self) -> str:
        if self.collection is None:
            self.listing()
        assert self.collection is not None
        return self.collection

    def _refuse_writes(self, method: str) -> None:
        if self.read_only:
            raise SyncError(
                f"refusing {method} on {safe_url(self.url)}: the source is never written"
            )

    def _absolute(self, href: str) -> str:
        return str(httpx.URL(self.url).join(href))

    def _discover(self) -> str:
        """The address book below a principal or home URL (RFC 6352 §7.1.1, RFC 5397)."""
        shown = safe_url(self.url)
        own = _own_entry(self._propfind(self.url, _LIST_BODY, depth="0"), self.url)
        if own is None:
            raise SyncError(f"{shown}: the server did not describe this URL; is it a CardDAV URL?")
        home = own.child_href(f"{{{CARDDAV}}}addressbook-home-set")
        if home is None:
            principal = own.child_href(f"{{{DAV}}}current-user-principal")
            if principal is not None:
                entries = self._propfind(self._absolute(principal), _HOME_BODY, depth="0")
                found = _own_entry(entries, self._absolute(principal))
                home = found.child_href(f"{{{CARDDAV}}}addressbook-home-set") if found else None
        if home is None:
            if own.is_collection():
                home = self.url  # a plain collection: maybe it holds address books
            else:
                raise SyncError(f"{shown}: not an address book and no address book home found")
        home_url = self._absolute(home)
        books = sorted(
            e.href
            for e in self._propfind(home_url, _LEAN_BODY, depth="1")
            if e.is_addressbook() and href_path(e.href) != href_path(home_url)
        )
        if not books:
            raise SyncError(f"{shown}: no address book found here; give the address book's URL")
        return self._absolute(books[0] if books[0].endswith("/") else books[0] + "/")

    def _propfind(self, url: str, body: bytes, *, depth: str) -> list[DavEntry]:
        response = self.session.request(
            "PROPFIND",
            url,
            content=body,
            headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
        )
        return multistatus(response.content, safe_url(url))

    def _query(self, *, with_data: bool) -> list[RemoteCard] | None:
        """All cards by addressbook-query (RFC 6352 §8.6); None when the listing must PROPFIND.

        None when the server refuses the REPORT, says it truncated the answer (507, §8.6.1), or
        returns no card: the URL may be a principal or home, or an empty book (a PROPFIND tells).
        """
        url = self.collection or self.url
        body = _QUERY_BODY.format(data="<c:address-data/>" if with_data else "")
        response = self.session.request(
            "REPORT",
            url,
            content=body.encode("utf-8"),
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
            ok=(207, *_NO_QUERY),
        )
        if response.status_code != 207 or _TRUNCATED.search(response.content):
            self.use_query = False
            return None
        base = href_path(url)
        cards = []
        for entry in multistatus(response.content, safe_url(url)):
            href = href_path(entry.href)
            data = entry.text(f"{{{CARDDAV}}}address-data")
            if href == base or href.endswith("/") or (with_data and data is None):
                continue
            cards.append(RemoteCard(href, parse_etag(entry.text(f"{{{DAV}}}getetag")), data))
        if not cards:
            self.use_query = False
            return None
        self.collection = url
        return cards

    def _multiget(self, collection: str, hrefs: list[str]) -> Iterator[RemoteCard]:
        body = "".join(f"<d:href>{escape(h)}</d:href>" for h in hrefs)
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">'
            f"<d:prop><d:getetag/><c:address-data/></d:prop>{body}</c:addressbook-multiget>"
        )
        response = self.session.request(
            "REPORT",
            collection,
            content=xml.encode("utf-8"),
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
        )
        for entry in multistatus(response.content, safe_url(collection)):
            data = entry.text(f"{{{CARDDAV}}}address-data")
            if data is not None:
                etag = parse_etag(entry.text(f"{{{DAV}}}getetag"))
                yield RemoteCard(href_path(entry.href), etag, data)


def multistatus(content: bytes, shown: str) -> list[DavEntry]:
    """The entries of a 207 Multi-Status body with the properties that came back 200 OK."""
    try:
        # ElementTree expands no external entities; expat bounds entity expansion (billion laughs)
        root = ET.fromstring(content)  # noqa: S314
    except ET.ParseError as exc:
        raise SyncError(f"{shown}: the server's answer is not valid XML ({exc})") from exc
    entries = []
    for response in root.iter(f"{{{DAV}}}response"):
        href = response.find(f"{{{DAV}}}href")
        if href is None or not href.text:
            continue
        props: dict[str, ET.Element] = {}
        for propstat in response.iter(f"{{{DAV}}}propstat"):
            status = propstat.find(f"{{{DAV}}}status")
            if status is not None and status.text and " 200 " not in status.text + " ":
                continue
            prop = propstat.find(f"{{{DAV}}}prop")
            if prop is not None:
                props.update((child.tag, child) for child in prop)
        entries.append(DavEntry(href.text.strip(), props))
    return entries


def _own_entry(entries: list[DavEntry], url: str) -> DavEntry | None:
    target = unquote(href_path(url)).rstrip("/")
    return next((e for e in entries if unquote(href_path(e.href)).rstrip("/") == target), None)


def href_path(href: str) -> str:
    """The path of a href or URL, as the server encoded it: the key cards are known by."""
    return urlsplit(href).path or "/"


def parse_etag(value: str | None) -> str | None:
    """An ETag without weak marker and quotes; None when missing."""
    if value is None or not value.strip():
        return None
    value = value.strip().removeprefix("W/")
    return value.strip('"')


def _quote_etag(etag: str) -> str:
    return f'"{etag}"'
