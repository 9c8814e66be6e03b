"""An evidence ledger served over HTTPS: GET a CSV or JSONL ledger with a bearer token.

``--evidence https://crm.example.com/inbound.csv`` (or a URL in the sync config's
``[evidence] sources``) downloads the ledger and parses it with the ledger reader
(``evidence.ledger.records``: CSV or JSONL, told apart by the first line), so a remote ledger
obeys exactly the rules of a local one. The token comes from the environment variable
``CONTACTGUARD_EVIDENCE_TOKEN`` (the sync config can name another variable or a file); it is
never taken from the command line and never shown in a message.

The HTTP rules are the CardDAV client's (``carddav.HttpSession``): timeouts, a bounded retry
with backoff for connection errors, 5xx and 429, TLS verification on (a CA bundle can be named
with ``CONTACTGUARD_EVIDENCE_CA_BUNDLE``). httpx is imported only when a URL is actually read.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import EvidenceError, SyncError
from ..model import EvidenceRecord
from . import ledger

__all__ = ["CA_BUNDLE_ENV", "TOKEN_ENV", "fetch_records", "read", "sniff"]

MAX_LEDGER_BYTES = 256 * 2**20  # a remote ledger larger than this is refused, not buffered
TOKEN_ENV = "CONTACTGUARD_EVIDENCE_TOKEN"  # noqa: S105 - a variable name, not a secret
CA_BUNDLE_ENV = "CONTACTGUARD_EVIDENCE_CA_BUNDLE"


def sniff(location: str, head: bytes) -> bool:
    """An http(s) URL: the only kind of source that is not a local file."""
    return location.lower().startswith(("https://", "http://"))


def read(location: str, context: object) -> Iterator[EvidenceRecord]:
    """Evidence-source reader: the token and CA bundle come from the environment."""
    yield from fetch_records(
        location,
        token=(os.environ.get(TOKEN_ENV) or "").strip("\r\n") or None,
        ca_bundle=os.environ.get(CA_BUNDLE_ENV) or None,
    )


def fetch_records(
    url: str,
    *,
    token: str | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 0.5,
    max_retry_after: float = 30.0,
    ca_bundle: str | None = None,
    transport: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    max_bytes: int = MAX_LEDGER_BYTES,
) -> Iterator[EvidenceRecord]:
    """GET ``url`` and yield its ledger records; EvidenceError names the URL, never the token.

    Records carry ``<url>:<line>`` as their source, so reports cite the remote ledger's line.
    """
    from ..carddav import Credentials, HttpSession, safe_url

    shown = safe_url(url)
    if url.lower().startswith("http://") and token:
        raise EvidenceError(
            "refusing to send the bearer token over plain http; use https", file=shown
        )
    with HttpSession(
        credentials=Credentials(token=token),
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        max_retry_after=max_retry_after,
        ca_bundle=ca_bundle,
        transport=transport,
        sleep=sleep,
    ) as session:
        try:
            response = session.request(
                "GET",
                url,
                headers={"Accept": "text/csv, application/x-ndjson, */*"},
                ok=(200,),
                max_bytes=max_bytes,
            )
        except SyncError as exc:
            raise EvidenceError(f"cannot fetch the evidence ledger: {exc}") from exc
        content = response.content
    yield from ledger.records(io.BytesIO(content), shown)
