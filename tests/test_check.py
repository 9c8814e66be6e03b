"""`contactguard check`: exit 0 for a book that is already clean, 3 and the offenders if not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from contactguard.check import finding
from contactguard.cli import main
from contactguard.model import Contact, Decision, Field, NumberDecision, Reason
from contactguard.policy import Policy

ROOT = Path(__file__).parent.parent
SAMPLES = ROOT / "samples"
FIXTURES = Path(__file__).parent / "fixtures"
LEDGER = "phone,first_inbound_at\n+4915123456701,2026-01-01\n+4915123456702,2026-01-02\n"


def card(name: str, *lines: str) -> str:
    body = "".join(f"{line}\r\n" for line in lines)
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\n{body}END:VCARD\r\n"


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.csv"
    path.write_text(LEDGER)
    return path


def check(runner: CliRunner, book: Path, ledger: Path, *extra: str):  # type: ignore[no-untyped-def]
    return runner.invoke(main, ["check", str(book), "--evidence", str(ledger), "--region", "DE",
                                *extra])


class TestCommand:
    def test_clean_book_exits_0(self, runner: CliRunner, tmp_path: Path, ledger: Path) -> None:
        """A book holding only people who wrote first, with only allowed fields, is clean."""
        book = tmp_path / "phone.vcf"
        book.write_text(card("Anna", "TEL:0151 23456701", "UID:a")
                        + card("Ben", "TEL:+4915123456702"))
        result = check(runner, book, ledger)
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
        assert "clean (2 contacts, all wrote first)" in result.stderr

    def test_sanitize_output_passes_check(self, runner: CliRunner, tmp_path: Path) -> None:
        """What sanitize writes is, by construction, clean for check with the same options."""
        clean = tmp_path / "clean.vcf"
        common = ["--evidence", str(SAMPLES / "ledger.csv"), "--region", "DE", "--max-age", "365d"]
        result = runner.invoke(main, ["sanitize", str(SAMPLES / "company-book.vcf"),
                                      str(SAMPLES / "crm-export.csv"), *common, "-o", str(clean)])
        assert result.exit_code == 0, result.output
        assert runner.invoke(main, ["check", str(clean), *common]).exit_code == 0

    def test_offenders_listed_and_exit_3(self, runner: CliRunner) -> None:
        """A book with removed contacts is not clean: exit 3, one line per offender with
        source:line, name and reason; stripped numbers are masked, never shown in full."""
        book = FIXTURES / "report" / "book.vcf"
        result = runner.invoke(main, ["check", str(book), "--evidence",
                                      str(FIXTURES / "report" / "ledger.csv"), "--region", "DE"])
        assert result.exit_code == 3
        lines = result.stdout.splitlines()
        assert len(lines) == 7
        assert lines[0] == (f"{book}:1  Anna Schmidt  number would be stripped: +49301****67 "
                            "(no-evidence)")
        assert lines[1] == f"{book}:7  Bernd Keller  contact would be removed: no-evidence"
        assert "Zoë" not in result.stdout
        assert "+49301234567" not in result.stdout
        assert "7 of 8 contacts need attention" in result.stderr

    def test_extra_field_offends_unless_allowed(self, runner: CliRunner, tmp_path: Path,
                                                ledger: Path) -> None:
        """A kept contact with EMAIL offends; with --keep-field EMAIL it does not."""
        book = tmp_path / "phone.vcf"
        book.write_text(card("Anna", "TEL:+4915123456701", "EMAIL:anna@example.org"))
        result = check(runner, book, ledger)
        assert result.exit_code == 3
        assert "fields beyond the allowed set: EMAIL" in result.stdout
        assert check(runner, book, ledger, "--keep-field", "email").exit_code == 0

    def test_duplicate_offends(self, runner: CliRunner, tmp_path: Path, ledger: Path) -> None:
        """Two cards with the same number are one too many: the second would be merged."""
        book = tmp_path / "phone.vcf"
        book.write_text(card("Anna", "TEL:+4915123456701") + card("Anna S.", "TEL:015123456701"))
        result = check(runner, book, ledger)
        assert result.exit_code == 3
        assert result.stdout.startswith(
            f"{book}:6  Anna S.  contact would be removed: merged-duplicate")

    def test_json(self, runner: CliRunner, tmp_path: Path, ledger: Path) -> None:
        """--json writes findings and counts as JSON on stdout and keeps exit 3."""
        book = tmp_path / "phone.vcf"
        book.write_text(card("Anna", "TEL:+4915123456701", "TEL:+491709876543")
                        + card("Zed", "TEL:+4930123456"))
        result = check(runner, book, ledger, "--json")
        assert result.exit_code == 3
        data = json.loads(result.stdout)
        assert (data["clean"], data["offending"], data["summary"]["contacts_in"]) == (False, 2, 2)
        assert data["findings"][0]["problems"] == [
            "number would be stripped: +49170*****43 (no-evidence)"]
        assert data["findings"][1]["source"] == f"{book}:7"
        assert result.stderr == ""

    def test_without_evidence_is_usage_error(self, runner: CliRunner, tmp_path: Path) -> None:
        """No --evidence and no --ledger is exit 2, as for sanitize."""
        book = tmp_path / "phone.vcf"
        book.write_text(card("Anna", "TEL:+4915123456701"))
        assert runner.invoke(main, ["check", str(book)]).exit_code == 2

    def test_missing_book_exits_1(self, runner: CliRunner, tmp_path: Path, ledger: Path) -> None:
        """A book that cannot be read is exit 1, not 3: an error is no audit result."""
        result = check(runner, tmp_path / "missing.vcf", ledger)
        assert result.exit_code == 1


class TestFinding:
    def test_kept_contact_with_allowed_fields_is_fine(self) -> None:
        """A kept contact with only kept numbers and allowed fields has no finding."""
        contact = Contact("a.vcf", 1, fn="A", fields=(Field("ORG", "X"),))
        number = NumberDecision("+4915123456701", "+4915123456701", True, Reason.INBOUND_FIRST)
        decision = Decision(contact, True, Reason.INBOUND_FIRST, (number,))
        assert finding(decision, Policy(keep_fields=frozenset({"ORG"}))) is None
        assert finding(decision, Policy()) is not None

    def test_removed_contact_lists_reason_once(self) -> None:
        """A removed contact's problem is its reason; its numbers are not listed again."""
        contact = Contact("a.vcf", 1, fn="A")
        number = NumberDecision("+4915123456701", "+4915123456701", False, Reason.OPTED_OUT)
        found = finding(Decision(contact, False, Reason.OPTED_OUT, (number,)), Policy())
        assert found is not None
        assert found.problems == ("contact would be removed: opted-out",)
        assert found.as_dict()["numbers"][0]["number"] == "+49151******01"
