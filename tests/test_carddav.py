"""The CardDAV client's HTTP rules, driven through httpx.MockTransport (no network)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from contactguard.carddav import (
    AuthFailed,
    CardDAVClient,
    Credentials,
    HttpSession,
    PreconditionFailed,
    ServerUnreachable,
    safe_url,
)
from contactguard.errors import SyncError

BOOK = "https://dav.example.com/phone1/book/"
SECRET = "s3cret-pw"

LISTING = b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">
 <d:response><d:href>/phone1/book/</d:href><d:propstat><d:prop>
  <d:resourcetype><d:collection/><c:addressbook/></d:resourcetype></d:prop>
  <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/phone1/book/a.vcf</d:href><d:propstat><d:prop>
  <d:resourcetype/><d:getetag>"e1"</d:getetag></d:prop>
  <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"""

Handler = Callable[[httpx.Request], httpx.Response]


def client(
    handler: Handler,
    *,
    retries: int = 2,
    sleeps: list[float] | None = None,
    read_only: bool = False,
) -> CardDAVClient:
    waits = sleeps if sleeps is not None else []
    session = HttpSession(
        credentials=Credentials("phone1", SECRET),
        retries=retries,
        backoff=0.1,
        max_retry_after=5,
        transport=httpx.MockTransport(handler),
        sleep=waits.append,
    )
    return CardDAVClient(BOOK, session, read_only=read_only)


class TestListing:
    def test_listing_maps_hrefs_to_unquoted_etags_in_one_request(self) -> None:
        """One depth-1 addressbook-query lists the cards with ETags, skipping the book itself."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(207, content=LISTING)

        dav = client(handler)
        assert dav.listing() == {"/phone1/book/a.vcf": "e1"}
        assert [(r.method, r.headers["Depth"]) for r in seen] == [("REPORT", "1")]
        assert b"addressbook-query" in seen[0].content

    @pytest.mark.parametrize(
        "answer",
        [
            httpx.Response(405),
            httpx.Response(501),
            httpx.Response(207, content=LISTING.replace(b"200 OK", b"507 Insufficient Storage")),
            httpx.Response(207, content=b'<d:multistatus xmlns:d="DAV:"/>'),
        ],
        ids=["refused", "not-implemented", "truncated-507", "empty"],
    )
    def test_a_server_without_a_usable_query_is_listed_by_propfind(
        self, answer: httpx.Response
    ) -> None:
        """A refused, truncated or empty addressbook-query falls back to PROPFIND for good."""
        seen: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request.method)
            if request.method == "REPORT":
                return answer
            return httpx.Response(207, content=LISTING)

        dav = client(handler)
        assert dav.listing() == {"/phone1/book/a.vcf": "e1"}
        assert dav.listing() == {"/phone1/book/a.vcf": "e1"}
        assert seen == ["REPORT", "PROPFIND", "PROPFIND"]

    def test_fetch_all_gets_every_card_in_one_query(self) -> None:
        """A first sync fetches every card with its text in a single addressbook-query."""
        body = LISTING.replace(
            b'<d:getetag>"e1"</d:getetag>',
            b'<d:getetag>"e1"</d:getetag><c:address-data>BEGIN:VCARD\r\nEND:VCARD\r\n'
            b"</c:address-data>",
        )
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(207, content=body)

        cards = client(handler).fetch_all()
        assert [(c.href, c.etag, c.data) for c in cards] == [
            ("/phone1/book/a.vcf", "e1", "BEGIN:VCARD\nEND:VCARD\n")  # XML reads CRLF as LF
        ]
        assert len(seen) == 1 and b"address-data" in seen[0].content

    def test_a_principal_url_is_followed_to_its_address_book(self) -> None:
        """A URL that is not an address book is resolved through the address book home set."""

        def handler(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path == "/phone1/":
                return httpx.Response(
                    207,
                    content=b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">
 <d:response><d:href>/phone1/</d:href><d:propstat><d:prop>
  <d:resourcetype><d:collection/><d:principal/></d:resourcetype>
  <c:addressbook-home-set><d:href>/home/phone1/</d:href></c:addressbook-home-set>
 </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>""",
                )
            # the home set lists the address book; the address book lists its card
            return httpx.Response(
                207, content=LISTING.replace(b"/phone1/book/", b"/home/phone1/book/")
            )

        session = HttpSession(transport=httpx.MockTransport(handler), sleep=lambda s: None)
        dav = CardDAVClient("https://dav.example.com/phone1/", session)
        assert dav.listing() == {"/home/phone1/book/a.vcf": "e1"}
        assert dav.collection == "https://dav.example.com/home/phone1/book/"


class TestRetries:
    def test_5xx_is_retried_with_backoff_then_succeeds(self) -> None:
        """Two 503s then a 207: three attempts, waits growing exponentially."""
        answers = iter([503, 503, 207])
        sleeps: list[float] = []
        dav = client(lambda r: httpx.Response(next(answers), content=LISTING), sleeps=sleeps)
        assert dav.listing() == {"/phone1/book/a.vcf": "e1"}
        assert sleeps == [0.1, 0.2]
        assert dav.requests["REPORT"] == 3

    def test_retry_after_is_honoured_up_to_the_cap(self) -> None:
        """A 429 with Retry-After: 3 waits 3 s; Retry-After: 3600 waits only the 5 s cap."""
        answers = iter([("3", 429), ("3600", 429), ("", 207)])
        sleeps: list[float] = []

        def handler(request: httpx.Request) -> httpx.Response:
            after, status = next(answers)
            return httpx.Response(status, headers={"Retry-After": after}, content=LISTING)

        client(handler, sleeps=sleeps).listing()
        assert sleeps == [3.0, 5.0]

    def test_server_down_gives_up_after_the_bounded_retries(self) -> None:
        """Connection errors are retried ``retries`` times, then one clear error names the URL."""

        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        with pytest.raises(ServerUnreachable, match=r"cannot connect \(gave up after 3 attempts\)"):
            client(handler).listing()

    def test_timeouts_are_retried_and_reported(self) -> None:
        """A read timeout counts as a failed attempt and is named in the message."""

        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("slow", request=request)

        with pytest.raises(ServerUnreachable, match="timed out"):
            client(handler, retries=1).listing()

    def test_a_400_is_not_retried(self) -> None:
        """Client errors other than 429 fail at once."""
        sleeps: list[float] = []
        with pytest.raises(SyncError, match="HTTP 400"):
            client(lambda r: httpx.Response(400), sleeps=sleeps).listing()
        assert sleeps == []


class TestWrites:
    def test_a_new_card_is_put_with_if_none_match_and_a_changed_one_with_if_match(self) -> None:
        """PUT sends If-None-Match: * for a new card and If-Match with the quoted ETag otherwise."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            if request.method == "PROPFIND":
                return httpx.Response(207, content=LISTING)
            return httpx.Response(201, headers={"ETag": '"new"'})

        dav = client(handler)
        assert dav.put("/phone1/book/b.vcf", b"BEGIN:VCARD", None) == "new"
        dav.put("/phone1/book/a.vcf", b"BEGIN:VCARD", "e1")
        puts = [r for r in seen if r.method == "PUT"]
        assert puts[0].headers["If-None-Match"] == "*"
        assert puts[1].headers["If-Match"] == '"e1"'

    def test_412_raises_precondition_failed(self) -> None:
        """A card changed under us is a PreconditionFailed, not retried."""
        with pytest.raises(PreconditionFailed, match="HTTP 412"):
            client(lambda r: httpx.Response(412)).delete("/phone1/book/a.vcf", "e1")

    def test_a_read_only_client_refuses_to_write(self) -> None:
        """The source client never sends PUT or DELETE."""
        dav = client(lambda r: httpx.Response(201), read_only=True)
        with pytest.raises(SyncError, match="the source is never written"):
            dav.put("/phone1/book/a.vcf", b"x", None)
        assert sum(dav.requests.values()) == 0


class TestSecrets:
    def test_401_names_the_config_keys_and_never_the_password(self) -> None:
        """A refused login says what to check, without the password or the user info."""
        with pytest.raises(AuthFailed) as caught:
            client(lambda r: httpx.Response(401)).listing()
        message = str(caught.value)
        assert "password_env" in message
        assert SECRET not in message

    def test_credentials_repr_hides_the_secret(self) -> None:
        """repr() of credentials (as in a traceback's locals) shows no password."""
        assert SECRET not in repr(Credentials("phone1", SECRET))

    def test_safe_url_drops_user_info_and_query(self) -> None:
        """URLs in messages lose user:password@ and ?token=..."""
        assert safe_url(f"https://u:{SECRET}@dav.example.com:8443/b/?token=x") == (
            "https://dav.example.com:8443/b/"
        )


def test_sessions_without_a_ca_bundle_share_one_verifying_tls_context() -> None:
    """Every session verifies TLS; those without a ca_bundle share the one system context."""
    import ssl

    from contactguard.carddav import _system_tls

    first, second = HttpSession(), HttpSession()
    try:
        context = _system_tls()
        assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
        assert _system_tls() is context
        for session in (first, second):  # httpx's pool holds the context its connections use
            assert session._client._transport._pool._ssl_context is context  # type: ignore[attr-defined]
    finally:
        first.close()
        second.close()


def test_a_plain_http_session_loads_no_ca_and_would_refuse_any_tls_peer() -> None:
    """An http:// session skips the CA bundle, and its TLS context still verifies, trusting none."""
    import ssl

    from contactguard.carddav import _system_tls

    session = HttpSession(plain_http=True)
    try:
        context = session._client._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert context is not _system_tls()
        assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
        assert context.get_ca_certs() == [] and context.cert_store_stats()["x509_ca"] == 0
    finally:
        session.close()


def test_the_sync_job_skips_the_ca_bundle_only_for_http_endpoints(tmp_path: Path) -> None:
    """The job's session to an http:// endpoint loads no CA; one to https:// uses the system's."""
    from contactguard.carddav import _system_tls
    from contactguard.syncconfig import load_config
    from contactguard.syncsource import http_session

    (tmp_path / "ledger.csv").write_text("phone,first_inbound_at,first_outbound_at\n")
    config = tmp_path / "sync.toml"
    config.write_text(
        'quarantine = "q/"\n[source]\nurl = "http://127.0.0.1:1/it/all/"\n'
        '[target]\nurl = "https://dav.example.com/phone/book/"\n'
        '[evidence]\nsources = ["ledger.csv"]\n'
    )
    loaded = load_config(config)
    for endpoint, section, system in ((loaded.source, "source", False),
                                      (loaded.target, "target", True)):
        session = http_session(loaded, endpoint, section)
        try:
            context = session._client._transport._pool._ssl_context  # type: ignore[attr-defined]
            assert (context is _system_tls()) is system
        finally:
            session.close()
