"""The command line: exit codes, messages, files written (click's CliRunner, and one subprocess)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from contactguard.cli import main

ROOT = Path(__file__).parent.parent


@pytest.fixture
def pipeline(fixtures: Path) -> Path:
    return fixtures / "pipeline"


def args(pipeline: Path, *extra: str) -> list[str]:
    return [
        "sanitize",
        str(pipeline / "book.vcf"),
        "--evidence",
        str(pipeline / "ledger.csv"),
        "--region",
        "FR",
        *extra,
    ]


class TestSanitizeCommand:
    def test_writes_clean_book_and_report(
        self, runner: CliRunner, pipeline: Path, tmp_path: Path
    ) -> None:
        """The documented command writes the clean book, the JSON report and a summary on stderr."""
        out, rep = tmp_path / "clean.vcf", tmp_path / "report.json"
        result = runner.invoke(main, args(pipeline, "-o", str(out), "--report", str(rep)))
        assert result.exit_code == 0, result.output
        assert out.read_bytes().count(b"BEGIN:VCARD") == 2
        report = json.loads(rep.read_text())
        assert report["summary"]["contacts_in"] == 4
        assert len(report["contacts"]) == 4
        assert "4 contacts read, 2 kept, 2 removed" in result.stderr

    def test_stdout_is_default_output(self, runner: CliRunner, pipeline: Path) -> None:
        """Without -o the clean book goes to standard output."""
        result = runner.invoke(main, args(pipeline))
        assert result.exit_code == 0
        assert result.stdout.count("BEGIN:VCARD") == 2

    def test_stdin_book(self, runner: CliRunner, pipeline: Path) -> None:
        """`-` reads the book from standard input."""
        result = runner.invoke(
            main,
            ["sanitize", "-", "--evidence", str(pipeline / "ledger.csv"), "--region", "FR"],
            input=(pipeline / "book.vcf").read_bytes(),
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.count("BEGIN:VCARD") == 2

    def test_csv_output(self, runner: CliRunner, pipeline: Path) -> None:
        """--format csv writes a Google-style CSV."""
        result = runner.invoke(main, args(pipeline, "--format", "csv"))
        assert result.exit_code == 0
        assert result.stdout.splitlines()[0].startswith("Name,")
        assert "393471234567" in result.stdout

    def test_dry_run_writes_only_the_report(
        self, runner: CliRunner, pipeline: Path, tmp_path: Path
    ) -> None:
        """--dry-run writes the report and the summary but no clean book."""
        out, rep = tmp_path / "clean.vcf", tmp_path / "report.json"
        result = runner.invoke(
            main, args(pipeline, "-o", str(out), "--report", str(rep), "--dry-run")
        )
        assert result.exit_code == 0
        assert not out.exists()
        assert rep.exists()
        assert result.stdout == ""

    def test_no_evidence_is_a_usage_error(self, runner: CliRunner, pipeline: Path) -> None:
        """Without any evidence source the command refuses with exit 2 instead of an empty book."""
        result = runner.invoke(main, ["sanitize", str(pipeline / "book.vcf")])
        assert result.exit_code == 2
        assert "--evidence" in result.stderr

    def test_empty_ledger_is_fine(self, runner: CliRunner, pipeline: Path, tmp_path: Path) -> None:
        """An evidence file with only a header is valid: everybody is removed."""
        ledger = tmp_path / "empty.csv"
        ledger.write_text("phone,first_inbound_at\n")
        result = runner.invoke(
            main, ["sanitize", str(pipeline / "book.vcf"), "--evidence", str(ledger)]
        )
        assert result.exit_code == 0
        assert "0 kept" in result.stderr

    def test_missing_book_names_the_file(
        self, runner: CliRunner, pipeline: Path, tmp_path: Path
    ) -> None:
        """A missing book is exit 1 with a one-line message naming it."""
        missing = tmp_path / "nope.vcf"
        result = runner.invoke(
            main, ["sanitize", str(missing), "--evidence", str(pipeline / "ledger.csv")]
        )
        assert result.exit_code == 1
        assert str(missing) in result.stderr
        assert "Traceback" not in result.output

    def test_empty_book(self, runner: CliRunner, pipeline: Path, tmp_path: Path) -> None:
        """An empty book is exit 1 naming the file."""
        empty = tmp_path / "empty.vcf"
        empty.write_bytes(b"")
        result = runner.invoke(
            main, ["sanitize", str(empty), "--evidence", str(pipeline / "ledger.csv")]
        )
        assert result.exit_code == 1
        assert "empty" in result.stderr and str(empty) in result.stderr

    def test_bad_ledger_row_names_file_and_line(
        self, runner: CliRunner, pipeline: Path, tmp_path: Path
    ) -> None:
        """A ledger with a bad timestamp is exit 1 with file:line."""
        ledger = tmp_path / "bad.csv"
        ledger.write_text(
            "phone,first_inbound_at\n+491701234567,2026-01-01\n+491701234568,yesterday\n"
        )
        result = runner.invoke(
            main, ["sanitize", str(pipeline / "book.vcf"), "--evidence", str(ledger)]
        )
        assert result.exit_code == 1
        assert f"{ledger}:3" in result.stderr

    def test_output_onto_input_is_refused(
        self, runner: CliRunner, pipeline: Path, tmp_path: Path
    ) -> None:
        """-o naming an input file is refused and the input stays unchanged."""
        book = tmp_path / "book.vcf"
        book.write_bytes((pipeline / "book.vcf").read_bytes())
        before = book.read_bytes()
        result = runner.invoke(
            main,
            ["sanitize", str(book), "--evidence", str(pipeline / "ledger.csv"), "-o", str(book)],
        )
        assert result.exit_code == 1
        assert "input" in result.stderr
        assert book.read_bytes() == before

    def test_unparseable_card_does_not_abort(
        self, runner: CliRunner, pipeline: Path, tmp_path: Path
    ) -> None:
        """A card without END:VCARD is removed as unparseable and the following cards are read."""
        book = tmp_path / "book.vcf"
        book.write_bytes(
            b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Broken\r\nTEL:+393471234567\r\n"
            + (pipeline / "book.vcf").read_bytes()
        )
        rep = tmp_path / "r.json"
        result = runner.invoke(
            main,
            [
                "sanitize",
                str(book),
                "--evidence",
                str(pipeline / "ledger.csv"),
                "--region",
                "FR",
                "--report",
                str(rep),
            ],
        )
        assert result.exit_code == 0, result.output
        report = json.loads(rep.read_text())
        assert report["contacts"][0]["reason"] == "unparseable"
        assert report["contacts"][0]["source"] == f"{book}:1"
        assert report["summary"]["contacts_in"] == 5


class TestFailureCleanup:
    @pytest.mark.parametrize("name", ["report.json", "report.html"])
    def test_a_failed_run_leaves_no_report_and_no_open_spool(
        self, runner: CliRunner, pipeline: Path, tmp_path: Path, name: str
    ) -> None:
        """A run that fails after the first book writes no report and closes its spool file."""
        import gc
        import warnings

        report = tmp_path / name
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = runner.invoke(
                main,
                [*args(pipeline, "--report", str(report)), str(tmp_path / "missing.vcf")],
            )
            gc.collect()
        assert result.exit_code == 1
        assert not report.exists()
        assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


class TestProcess:
    def test_console_script_without_traceback(self, tmp_path: Path) -> None:
        """The installed entry point reports a bad input in one line, no traceback."""
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "contactguard",
                "sanitize",
                str(tmp_path / "x.vcf"),
                "--evidence",
                str(tmp_path / "y.csv"),
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


class TestDocs:
    def test_every_command_and_option_is_in_the_readme(self) -> None:
        """README.md mentions every CLI command and every long option."""
        readme = (ROOT / "README.md").read_text()
        missing = []

        def walk(cmd, path):  # type: ignore[no-untyped-def]
            for param in cmd.params:
                for opt in param.opts:
                    if (
                        opt.startswith("--")
                        and opt not in ("--help", "--version")
                        and opt not in readme
                    ):
                        missing.append(f"{' '.join(path)} {opt}")
            for name, sub in getattr(cmd, "commands", {}).items():
                if not re.search(rf"\b{re.escape(name)}\b", readme):
                    missing.append(" ".join([*path, name]))
                walk(sub, [*path, name])

        walk(main, ["contactguard"])
        assert missing == []
