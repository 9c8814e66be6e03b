"""The shipped samples/ (used by the README's first command) show every reason code."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from contactguard import Reason, sanitize

SAMPLES = Path(__file__).parent.parent / "samples"


class TestSamples:
    def test_every_reason_code_appears(self) -> None:
        """The README's sample run explains each reason code at least once."""
        result = sanitize(
            [SAMPLES / "company-book.vcf", SAMPLES / "crm-export.csv"],
            evidence=[SAMPLES / "ledger.csv", SAMPLES / "chats"],
            region="DE",
            max_age="365d",
            now=datetime(2026, 11, 25, tzinfo=timezone.utc),
        )
        assert {d.reason for d in result.decisions} == set(Reason)
        assert [c.display_name for c in result.contacts] == [
            "Anna Schmidt", "Hannah Vogel", "Jonas Weber", "+4915111122233"]
