"""sync-collection (RFC 6578) in the CardDAV client, driven through httpx.MockTransport."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactguard.carddav import CardDAVClient, HttpSession
from contactguard.davsync import InvalidToken, incremental_listing, sync_collection

BOOK = "https://dav.example.com/phone1/book/"
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> CardDAVClient:
    session = HttpSession(transport=httpx.MockTransport(handler), retries=0, sleep=lambda s: None)
    return CardDAVClient(BOOK, session)


def answer(token: str, *responses: str) -> httpx.Response:
    body = (
        '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" '
        'xmlns:c="urn:ietf:params:xml:ns:carddav">'
        + "".join(responses)
        + f"<d:sync-token>{token}</d:sync-token></d:multistatus>"
    )
    return httpx.Response(207, content=body.encode())


def changed(name: str, etag: str, data: str | None = None) -> str:
    extra = "" if data is None else f"<c:address-data>{data}</c:address-data>"
    return (
        f"<d:response><d:href>/phone1/book/{name}</d:href><d:propstat><d:prop>"
        f'<d:getetag>"{etag}"</d:getetag>{extra}</d:prop>'
        "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    )


def removed(name: str) -> str:
    return (
        f"<d:response><d:href>/phone1/book/{name}</d:href>"
        "<d:status>HTTP/1.1 404 Not Found</d:status></d:response>"
    )


TRUNCATED = (
    "<d:response><d:href>/phone1/book/</d:href>"
    "<d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>"
)


class TestSyncCollection:
    def test_changes_and_removals_are_read_and_the_token_sent(self) -> None:
        """A delta names changed cards with ETags and removed ones by their 404; the token goes."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return answer("t2", changed("a.vcf", "e2"), removed("b.vcf"))

        delta = sync_collection(client(handler), "t1")
        assert delta is not None
        assert {h: c.etag for h, c in delta.changed.items()} == {"/phone1/book/a.vcf": "e2"}
        assert delta.removed == {"/phone1/book/b.vcf"} and delta.token == "t2"
        assert b"<d:sync-token>t1</d:sync-token>" in seen[0].content
        assert seen[0].headers["Depth"] == "0"

    def test_a_truncated_answer_is_followed_with_its_new_token(self) -> None:
        """A 507 on the collection itself (RFC 6578 §3.6) asks again from the token it gave."""
        pages = iter(
            [
                answer("t2", changed("a.vcf", "e1"), TRUNCATED),
                answer("t3", removed("a.vcf"), changed("c.vcf", "e3")),
            ]
        )
        tokens: list[bytes] = []

        def handler(request: httpx.Request) -> httpx.Response:
            tokens.append(request.content.split(b"sync-token>")[1])
            return next(pages)

        delta = sync_collection(client(handler), "t1")
        assert delta is not None and delta.token == "t3"
        assert set(delta.changed) == {"/phone1/book/c.vcf"}
        assert delta.removed == {"/phone1/book/a.vcf"}
        assert tokens == [b"t1</d:", b"t2</d:"]

    @pytest.mark.parametrize("status", [403, 409, 412, 400])
    def test_a_refused_token_raises_invalid_token(self, status: int) -> None:
        """A server that no longer knows the token refuses it (servers differ in the status)."""
        with pytest.raises(InvalidToken, match=f"HTTP {status}"):
            sync_collection(client(lambda r: httpx.Response(status)), "old")

    @pytest.mark.parametrize("status", [405, 501, 403, 400])
    def test_a_server_without_the_report_gets_the_listing_of_today(self, status: int) -> None:
        """No sync-collection: None (the caller lists as before) and it is not asked again."""
        dav = client(lambda r: httpx.Response(status))
        assert incremental_listing(dav, None, None, None) is None
        assert dav.use_sync is False
        assert incremental_listing(dav, None, None, None) is None
        assert dav.requests["REPORT"] == 1

    def test_an_invalid_token_costs_one_full_listing_by_an_empty_token(self) -> None:
        """A refused token is followed by a sync-collection from scratch: every card, new token."""

        def handler(request: httpx.Request) -> httpx.Response:
            if b"<d:sync-token>old</d:sync-token>" in request.content:
                return httpx.Response(
                    403, content=b'<d:error xmlns:d="DAV:"><d:valid-sync-token/></d:error>'
                )
            return answer("fresh", changed("a.vcf", "e1"), changed("c.vcf", "e3"))

        dav = client(handler)
        got = incremental_listing(dav, {"/phone1/book/b.vcf": "e2"}, "old", BOOK)
        assert got is not None and got.token == "fresh"
        assert got.cards == {"/phone1/book/a.vcf": "e1", "/phone1/book/c.vcf": "e3"}

    def test_a_change_without_etag_drops_the_token(self) -> None:
        """A card listed without ETag could not be told unchanged next run: no token is kept."""
        bare = changed("a.vcf", "x").replace('<d:getetag>"x"</d:getetag>', "")
        got = incremental_listing(client(lambda r: answer("t", bare)), {}, "t0", BOOK)
        assert got is not None and got.token is None
        assert got.cards == {"/phone1/book/a.vcf": None}

    def test_the_listing_is_the_previous_one_plus_the_delta(self) -> None:
        """Unchanged cards keep their ETags, changed ones get the new, removed ones leave."""
        previous = {f"/phone1/book/{n}.vcf": f"e-{n}" for n in "abc"}
        dav = client(lambda r: answer("t2", changed("b.vcf", "e-b2"), removed("c.vcf")))
        got = incremental_listing(dav, previous, "t1", BOOK)
        assert got is not None
        assert got.cards == {"/phone1/book/a.vcf": "e-a", "/phone1/book/b.vcf": "e-b2"}

    @settings(max_examples=200, deadline=None)
    @given(
        start=st.dictionaries(st.sampled_from("abcdefgh"), st.text("0123456789", min_size=1)),
        events=st.lists(
            st.tuples(
                st.sampled_from("abcdefgh"), st.one_of(st.none(), st.text("xyz", min_size=1))
            ),
            max_size=12,
        ),
        page=st.integers(1, 4),
    )
    def test_any_sequence_of_changes_in_pages_gives_the_final_listing(
        self, start: dict[str, str], events: list[tuple[str, str | None]], page: int
    ) -> None:
        """Changes and removals in any order, paged by 507s, yield the book as it ends up."""
        final = dict(start)
        for name, etag in events:
            if etag is None:
                final.pop(name, None)
            else:
                final[name] = etag
        # a server reports each touched card once, as it is now, in pages of ``page``
        touched = list(dict.fromkeys(name for name, _ in events))
        items = [
            changed(f"{n}.vcf", final[n]) if n in final else removed(f"{n}.vcf") for n in touched
        ]
        pages = [items[i : i + page] for i in range(0, len(items), page)] or [[]]
        replies = iter(
            answer(f"t{i + 1}", *p, *([TRUNCATED] if i < len(pages) - 1 else []))
            for i, p in enumerate(pages)
        )
        previous = {f"/phone1/book/{n}.vcf": e for n, e in start.items()}
        got = incremental_listing(client(lambda r: next(replies)), previous, "t0", BOOK)
        assert got is not None
        assert got.cards == {f"/phone1/book/{n}.vcf": e for n, e in final.items()}
        assert got.token == f"t{len(pages)}"


class TestBoundedAnswers:
    def test_a_gzip_answer_read_within_a_bound_is_decoded_once(self) -> None:
        """A bounded read of a gzip-encoded answer (Radicale compresses) yields the plain XML."""
        import gzip

        body = answer("t9", changed("a.vcf", "e1", "BEGIN:VCARD")).content

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(
                207, content=gzip.compress(body), headers={"Content-Encoding": "gzip"}
            )

        delta = sync_collection(client(handler), "", with_data=True, max_bytes=2**20)
        assert delta is not None and delta.token == "t9"
        assert delta.changed["/phone1/book/a.vcf"].data == "BEGIN:VCARD"

    def test_a_first_answer_over_the_budget_is_fetched_in_batches(self) -> None:
        """Too large for one answer: a listing with sizes, then multigets within the budget."""
        from contactguard.davsync import fetch_changed

        cards = {f"{n}.vcf": 600 for n in "abcd"}
        seen: list[bytes] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request.content)
            if b"address-data" in request.content and b"sync-collection" in request.content:
                return httpx.Response(207, content=b"x" * 5000)  # over the budget
            if b"sync-collection" in request.content:
                return answer(
                    "t1",
                    *(
                        changed(n, "e").replace(
                            "</d:getetag>",
                            f"</d:getetag><d:getcontentlength>{s}</d:getcontentlength>",
                        )
                        for n, s in cards.items()
                    ),
                )
            assert request.content.count(b"<d:href>") <= 2  # sizes known: never over budget
            names = [
                h.split(b"</d:href>")[0].rsplit(b"/", 1)[1].decode()
                for h in request.content.split(b"<d:href>")[1:]
            ]
            return answer("-", *(changed(n, "e", "BEGIN:VCARD") for n in names))

        got = fetch_changed(client(handler), {}, None, None, budget=1300)
        assert got is not None and got.token == "t1"
        assert sorted(got.texts) == [f"/phone1/book/{n}.vcf" for n in "abcd"]
        assert sum(b"addressbook-multiget" in body for body in seen) == 2

    def test_a_multiget_over_the_budget_is_asked_again_in_halves(self) -> None:
        """Without sizes (Radicale), an answer over the budget splits until each part fits."""
        from contactguard.davsync import _multiget_bounded

        asked: list[int] = []

        def handler(request: httpx.Request) -> httpx.Response:
            names = [
                h.split(b"</d:href>")[0].rsplit(b"/", 1)[1].decode()
                for h in request.content.split(b"<d:href>")[1:]
            ]
            asked.append(len(names))
            return answer("-", *(changed(n, "e", "P" * 400) for n in names))

        dav = client(handler)
        dav.collection = BOOK
        cards = _multiget_bounded(dav, [f"/phone1/book/{i}.vcf" for i in range(8)], 1500)
        assert sorted(c.href for c in cards) == sorted(f"/phone1/book/{i}.vcf" for i in range(8))
        assert asked == [8, 4, 2, 2, 4, 2, 2]  # 8 and 4 are over the budget; 2 fit
