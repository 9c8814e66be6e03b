"""The pipeline end to end through the Python API (what an MDM script calls)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from contactguard import Reason, read_book, sanitize
from contactguard.evidence import Evidence
from contactguard.model import EvidenceRecord

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


@pytest.fixture
def pipeline(fixtures: Path) -> Path:
    return fixtures / "pipeline"


class TestSanitize:
    def test_only_inbound_first_people_remain(self, pipeline: Path) -> None:
        """Marta and Sophie wrote first, Paul was written to first, the shop shares a number."""
        result = sanitize(
            [pipeline / "book.vcf"], evidence=[pipeline / "ledger.csv"], region="FR", now=NOW
        )
        assert [(c.fn, [p.value for p in c.phones]) for c in result.contacts] == [
            ("Marta Rossi", ["+393471234567"]),
            ("Sophie Laurent", ["+33781223344"]),
        ]
        assert [(d.contact.line, d.kept, d.reason) for d in result.decisions] == [
            (1, True, Reason.INBOUND_FIRST),
            (11, False, Reason.BUSINESS_INITIATED),
            (18, False, Reason.MERGED_DUPLICATE),
            (23, True, Reason.INBOUND_FIRST),
        ]
        assert result.decisions[2].merged_into == f"{pipeline / 'book.vcf'}:1"

    def test_summary_accounts_for_every_contact(self, pipeline: Path) -> None:
        """kept + removed = in, and the reasons add up to the contacts read."""
        s = sanitize(
            [pipeline / "book.vcf"], evidence=[pipeline / "ledger.csv"], region="FR", now=NOW
        ).summary
        assert (s.contacts_in, s.contacts_kept, s.contacts_removed) == (4, 2, 2)
        assert (s.numbers_in, s.numbers_kept) == (5, 2)
        assert sum(s.reasons.values()) == s.contacts_in
        assert s.merged == 1

    def test_report_shape_and_masking(self, pipeline: Path) -> None:
        """The report lists every contact; stripped numbers are masked, kept ones are E.164."""
        report = sanitize(
            [pipeline / "book.vcf"], evidence=[pipeline / "ledger.csv"], region="FR", now=NOW
        ).report
        assert report["version"] == 1
        assert report["summary"]["contacts_in"] == 4
        marta = report["contacts"][0]
        assert marta["decision"] == "kept"
        assert marta["numbers"] == [
            {
                "number": "+393471234567",
                "decision": "kept",
                "reason": "inbound-first",
                "evidence": [f"{pipeline / 'ledger.csv'}:2"],
            },
            {"number": "+39061*****78", "decision": "stripped", "reason": "no-evidence"},
        ]
        paul = report["contacts"][1]
        assert paul["numbers"][0]["number"] == "+33612****78"
        assert "+33612345678" not in json.dumps(report)

    def test_write_is_deterministic(self, pipeline: Path, tmp_path: Path) -> None:
        """Two runs on the same input write byte-identical clean books."""
        outs = []
        for i in range(2):
            result = sanitize(
                [pipeline / "book.vcf"], evidence=[pipeline / "ledger.csv"], region="FR", now=NOW
            )
            result.write(tmp_path / f"clean{i}.vcf")
            outs.append((tmp_path / f"clean{i}.vcf").read_bytes())
        assert outs[0] == outs[1]
        assert outs[0].count(b"BEGIN:VCARD") == 2

    def test_written_book_holds_only_allowed_data(self, pipeline: Path, tmp_path: Path) -> None:
        """The clean book reads back with only kept numbers and no ORG/EMAIL unless asked for."""
        result = sanitize(
            [pipeline / "book.vcf"], evidence=[pipeline / "ledger.csv"], region="FR", now=NOW
        )
        result.write(tmp_path / "clean.vcf")
        back = list(read_book(tmp_path / "clean.vcf"))
        assert sorted(p.value for c in back for p in c.phones) == ["+33781223344", "+393471234567"]
        assert all(c.fields == () for c in back)
        text = (tmp_path / "clean.vcf").read_text()
        assert "ORG" not in text and "EMAIL" not in text and "+390612345678" not in text

    def test_keep_field_adds_org(self, pipeline: Path, tmp_path: Path) -> None:
        """--keep-field ORG keeps the organisation and nothing else extra."""
        result = sanitize(
            [pipeline / "book.vcf"],
            evidence=[pipeline / "ledger.csv"],
            region="FR",
            keep_fields=["ORG"],
            now=NOW,
        )
        assert [f.name for f in result.contacts[0].fields] == ["ORG"]

    def test_stream_input(self, pipeline: Path) -> None:
        """A binary stream works as a book, as standard input does for the CLI."""
        stream = io.BytesIO((pipeline / "book.vcf").read_bytes())
        result = sanitize(stream, evidence=[pipeline / "ledger.csv"], region="FR", now=NOW)
        assert len(result.contacts) == 2

    def test_evidence_object_and_name_prepass(self, pipeline: Path) -> None:
        """Evidence recorded under a unique display name keeps that contact."""
        ev = Evidence()
        ev.add(EvidenceRecord("chat.txt", name="Paul Martin", first_inbound_at=NOW))
        result = sanitize(
            io.BytesIO((pipeline / "book.vcf").read_bytes()), evidence=ev, region="FR", now=NOW
        )
        assert [c.fn for c in result.contacts] == ["Paul Martin"]

    def test_max_age_expires(self, pipeline: Path) -> None:
        """With --max-age, people who have not written for longer are removed as expired."""
        result = sanitize(
            [pipeline / "book.vcf"],
            evidence=[pipeline / "ledger.csv"],
            region="FR",
            max_age="30d",
            now=NOW,
        )
        assert {d.reason for d in result.decisions} >= {Reason.EXPIRED}
        assert result.contacts == []
