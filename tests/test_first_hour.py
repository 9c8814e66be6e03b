"""A new user's first hour: the small things that trip people up on the first runs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from contactguard._text import count
from contactguard.cli import main
from contactguard.errors import ConfigError
from contactguard.options import parse_max_age

LEDGER = "phone,first_inbound_at\n+4917012345678,2026-01-10\n"
ANNA = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna\r\nTEL:+4917012345678\r\nEND:VCARD\r\n"
BOB = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob\r\nTEL:+4917099999999\r\nEND:VCARD\r\n"
GOOGLE = ("BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Google Inc//Google Contacts//EN\r\n"
          "REV:2026-01-01T00:00:00Z\r\nFN:Anna\r\nN:;Anna;;;\r\nCATEGORIES:myContacts\r\n"
          "TEL:+4917012345678\r\nEND:VCARD\r\n")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ledger.csv").write_text(LEDGER)
    (tmp_path / "clean.vcf").write_text(ANNA)
    (tmp_path / "dirty.vcf").write_text(ANNA + BOB)
    (tmp_path / "google.vcf").write_text(GOOGLE)
    return tmp_path


def run(runner: CliRunner, folder: Path, *args: str) -> Result:
    """The CLI run in ``folder`` (the fixture made it the working folder)."""
    assert Path.cwd() == folder
    return runner.invoke(main, list(args))


class TestReportToStandardOutput:
    def test_report_dash_writes_json_to_stdout(self, runner: CliRunner, folder: Path) -> None:
        """--report - with --dry-run prints the JSON report and creates no file named "-"."""
        result = run(runner, folder, "sanitize", "dirty.vcf", "-e", "ledger.csv", "--report",
                     "-", "--dry-run", "-q")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["summary"]["contacts_in"] == 2
        assert not (folder / "-").exists()

    def test_report_dash_with_a_book_file(self, runner: CliRunner, folder: Path) -> None:
        """--report - with -o FILE: the book goes to the file, the report to stdout."""
        result = run(runner, folder, "sanitize", "dirty.vcf", "-e", "ledger.csv", "--report",
                     "-", "-o", "out.vcf", "-q")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["summary"]["contacts_kept"] == 1
        assert "FN:Anna" in (folder / "out.vcf").read_text()

    def test_report_dash_and_book_on_stdout_is_refused(
        self, runner: CliRunner, folder: Path
    ) -> None:
        """Both the report and the clean book on stdout would mix: a usage error, nothing
        written."""
        result = run(runner, folder, "sanitize", "dirty.vcf", "-e", "ledger.csv", "--report", "-")
        assert result.exit_code == 2
        assert "--report - and the clean book would both go to standard output" in result.output
        assert not (folder / "-").exists()


class TestMaxAge:
    @pytest.mark.parametrize(("text", "days"), [("1y", 365), ("6m", 180), ("2Y", 730),
                                                ("365d", 365), ("52w", 364), ("90", 90)])
    def test_years_and_months(self, text: str, days: int) -> None:
        """--max-age takes years and months (365 and 30 days) as well as days and weeks."""
        assert parse_max_age(text) == timedelta(days=days)

    @given(number=st.integers(0, 50), unit=st.sampled_from(["y", "m", "w", "d"]))
    @settings(max_examples=60, deadline=None, derandomize=True)
    def test_every_unit_is_a_whole_number_of_days(self, number: int, unit: str) -> None:
        """Any count of any unit is that many 365, 30, 7 or 1 days."""
        per = {"y": 365, "m": 30, "w": 7, "d": 1}[unit]
        assert parse_max_age(f"{number}{unit}") == timedelta(days=number * per)

    @pytest.mark.parametrize("text", ["-3d", "1x", "nan", "y"])
    def test_bad_ages_are_refused(self, text: str) -> None:
        """A negative, unknown or empty age is a ConfigError naming the accepted forms."""
        with pytest.raises(ConfigError, match="1y, 6m, 365d"):
            parse_max_age(text)

    def test_a_bad_max_age_in_the_sync_config_names_file_and_key(self, tmp_path: Path) -> None:
        """A sync config with max_age = "1 year" names the config file and [policy] max_age."""
        from contactguard.syncconfig import load_config

        (tmp_path / "ledger.csv").write_text(LEDGER)
        config = tmp_path / "sync.toml"
        config.write_text('quarantine = "q/"\n[source]\npath = "book.vcf"\n[target]\nurl = "https://dav.example/a/"\n'
                          '[evidence]\nsources = ["ledger.csv"]\n[policy]\nmax_age = "1 year"\n')
        with pytest.raises(ConfigError, match=r"sync\.toml.*\[policy\] max_age: max age '1 year'"):
            load_config(config)


def test_evidence_inspect_on_an_empty_folder_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    """A folder with no evidence (only hidden files) says so and exits 1."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden.csv").write_text(LEDGER)
    result = runner.invoke(main, ["evidence", "inspect", str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "no evidence files in it" in result.output


@pytest.mark.parametrize("args", [["sync", "sync.toml"], ["sync", "sync.toml", "--dry-run"]])
def test_sync_with_the_config_as_an_argument_hints_at_config(
    runner: CliRunner, args: list[str]
) -> None:
    """`contactguard sync sync.toml` says the config is given with --config."""
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert "contactguard sync --config sync.toml" in result.output


def test_a_closed_pipe_ends_quietly(folder: Path) -> None:
    """`sanitize … | head -1`: nothing on standard error, and the exit status of a tool that
    SIGPIPE ended (141), not the 1 of bad input."""
    book = folder / "many.vcf"
    book.write_text("".join(
        ANNA.replace("FN:Anna", f"FN:Anna {i}").replace("5678", f"{i:04d}") for i in range(3000)))
    (folder / "all.csv").write_text("phone,first_inbound_at\n" + "".join(
        f"+491701234{i:04d},2026-01-10\n" for i in range(3000)))
    cli = Path(sys.executable).with_name("contactguard")
    done = subprocess.run(
        ["bash", "-c", f"'{cli}' sanitize '{book}' -e '{folder / 'all.csv'}' -q | head -1; "
         "exit ${PIPESTATUS[0]}"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout == "BEGIN:VCARD\n"
    assert done.stderr == "", done.stderr
    assert done.returncode == 128 + 13  # as a tool that SIGPIPE ended, not 1 ("bad input")


@given(number=st.integers(0, 10**7))
@settings(max_examples=50, deadline=None, derandomize=True)
def test_counts_are_singular_for_one_only(number: int) -> None:
    """count() says "1 contact" and "N contacts" for every other N, with thousands marked."""
    text = count(number, "contact")
    assert text == f"{number:,} contact" + ("" if number == 1 else "s")
    assert count(number, "identity", "identities").endswith(
        "identity" if number == 1 else "identities")


def test_summaries_use_the_singular(runner: CliRunner, folder: Path) -> None:
    """One contact is "1 contact" in the sanitize summary and the check verdict."""
    result = run(runner, folder, "sanitize", "clean.vcf", "-e", "ledger.csv", "--dry-run")
    assert "1 contact read" in result.stderr and "1 number read" in result.stderr
    checked = run(runner, folder, "check", "clean.vcf", "-e", "ledger.csv")
    assert "clean (1 contact, all wrote first)" in checked.stderr


class TestCheck:
    def test_google_account_fields_are_not_findings(self, runner: CliRunner, folder: Path) -> None:
        """A Google card with PRODID, REV and CATEGORIES:myContacts is clean for check."""
        result = run(runner, folder, "check", "google.vcf", "-e", "ledger.csv")
        assert result.exit_code == 0, result.output

    def test_other_categories_still_are(self, runner: CliRunner, folder: Path) -> None:
        """CATEGORIES with a group of the user's own is personal data: still a finding."""
        (folder / "g2.vcf").write_text(GOOGLE.replace("myContacts", "myContacts,Stammkunden"))
        result = run(runner, folder, "check", "g2.vcf", "-e", "ledger.csv")
        assert result.exit_code == 3 and "CATEGORIES" in result.stdout

    @pytest.mark.parametrize("command", ["check", "sanitize"])
    def test_keep_field_x_is_refused_alike(
        self, runner: CliRunner, folder: Path, command: str
    ) -> None:
        """--keep-field X-… is refused by check and sanitize alike, as a usage error."""
        result = run(runner, folder, command, "clean.vcf", "-e", "ledger.csv", "--keep-field",
                     "X-Custom")
        assert result.exit_code == 2
        assert "'X-Custom' is never kept" in result.output and "X- properties" in result.output


class TestNagios:
    def test_clean_is_ok_exit_0(self, runner: CliRunner, folder: Path) -> None:
        """A clean book: "CONTACTGUARD OK", performance data, exit 0."""
        result = run(runner, folder, "check", "clean.vcf", "-e", "ledger.csv", "--format",
                     "nagios")
        assert result.exit_code == 0
        assert result.stdout == ("CONTACTGUARD OK - clean, 1 contact | offending=0;;0;0;1 "
                                 "contacts=1;;;0 removed=0;;;0 stripped=0;;;0\n")

    def test_dirty_is_critical_exit_2_and_names_no_one(
        self, runner: CliRunner, folder: Path
    ) -> None:
        """A book with an offender: CRITICAL, exit 2, counts only (no name, no number)."""
        result = run(runner, folder, "check", "dirty.vcf", "-e", "ledger.csv", "--format",
                     "nagios")
        assert result.exit_code == 2
        assert result.stdout.startswith("CONTACTGUARD CRITICAL - 1 of 2 contacts needs attention")
        assert "offending=1;;0;0;2" in result.stdout
        assert "Bob" not in result.stdout and "99999" not in result.stdout
        assert len(result.stdout.splitlines()) == 1

    @pytest.mark.parametrize("args", [["missing.vcf", "-e", "ledger.csv"], ["clean.vcf"],
                                      ["clean.vcf", "-e", "nope.csv"]])
    def test_could_not_check_is_unknown_exit_3(
        self, runner: CliRunner, folder: Path, args: list[str]
    ) -> None:
        """A missing book, no evidence or missing evidence: UNKNOWN with the reason, exit 3."""
        result = run(runner, folder, "check", *args, "--format", "nagios")
        assert result.exit_code == 3
        assert result.stdout.startswith("CONTACTGUARD UNKNOWN - ")
        assert len(result.stdout.splitlines()) == 1
