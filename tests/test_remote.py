"""The HTTPS evidence source: a remote CSV/JSONL ledger behind a bearer token."""

from __future__ import annotations

import httpx
import pytest

from contactguard.errors import EvidenceError
from contactguard.evidence import kind_of, load_evidence
from contactguard.evidence.remote import TOKEN_ENV, fetch_records

URL = "https://crm.example.com/inbound.csv"
TOKEN = "tok-123-secret"
CSV = b"phone,first_inbound_at\n+491701234567,2026-03-01\n"
JSONL = b'{"phone": "+491701234567", "first_inbound_at": "2026-03-01"}\n'


def serve(
    body: bytes, seen: list[httpx.Request] | None = None, status: int = 200
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=body)

    return httpx.MockTransport(handler)


class TestFetch:
    @pytest.mark.parametrize("body", [CSV, JSONL], ids=["csv", "jsonl"])
    def test_a_remote_ledger_is_parsed_like_a_local_one(self, body: bytes) -> None:
        """CSV and JSONL ledgers both give records citing the URL and line."""
        records = list(fetch_records(URL, token=TOKEN, transport=serve(body)))
        assert [(r.phone, r.source) for r in records] == [
            ("+491701234567", f"{URL}:2" if body is CSV else f"{URL}:1")
        ]

    def test_the_token_is_sent_as_a_bearer_header(self) -> None:
        """The request carries Authorization: Bearer <token>."""
        seen: list[httpx.Request] = []
        list(fetch_records(URL, token=TOKEN, transport=serve(CSV, seen)))
        assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"

    def test_a_refused_token_is_an_evidence_error_without_the_token(self) -> None:
        """A 401 names the URL, not the token."""
        with pytest.raises(EvidenceError) as caught:
            list(fetch_records(URL, token=TOKEN, transport=serve(b"", status=401)))
        assert "HTTP 401" in str(caught.value)
        assert TOKEN not in str(caught.value)

    def test_server_errors_are_retried_then_reported(self) -> None:
        """5xx answers are retried a bounded number of times."""
        seen: list[httpx.Request] = []
        with pytest.raises(EvidenceError, match="gave up after 2 attempts"):
            list(
                fetch_records(URL, transport=serve(b"", seen, 502), retries=1, sleep=lambda s: None)
            )
        assert len(seen) == 2

    def test_an_oversized_ledger_is_refused_while_it_streams(self) -> None:
        """A body over the size cap is an EvidenceError, not a memory blow-up."""
        def endless(request: httpx.Request) -> httpx.Response:
            row = b"+491701234567,2026-03-01\n" * 1000
            chunks = (b"phone,first_inbound_at\n" if i == 0 else row for i in range(10_000))
            return httpx.Response(200, content=chunks)

        with pytest.raises(EvidenceError, match="larger than 1 MiB"):
            list(fetch_records(URL, transport=httpx.MockTransport(endless), max_bytes=2**20))

    def test_a_token_is_never_sent_over_plain_http(self) -> None:
        """http:// with a token is refused before any request."""
        with pytest.raises(EvidenceError, match="plain http"):
            list(fetch_records("http://crm.example.com/l.csv", token=TOKEN, transport=serve(CSV)))


class TestRegistry:
    def test_an_https_url_is_the_https_kind_even_when_it_ends_in_csv(self) -> None:
        """The URL kind comes before the file sniffers, which would claim a .csv name."""
        kind = kind_of(URL, b"")
        assert kind is not None
        assert kind.name == "https"

    def test_load_evidence_reads_the_token_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--evidence https://... takes its token from CONTACTGUARD_EVIDENCE_TOKEN."""
        seen: list[httpx.Request] = []
        real_client = httpx.Client

        def fake_client(*args: object, **kwargs: object) -> httpx.Client:
            kwargs["transport"] = serve(CSV, seen)
            return real_client(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        monkeypatch.setattr(httpx, "Client", fake_client)
        evidence = load_evidence([URL])
        assert len(evidence) == 1
        assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
