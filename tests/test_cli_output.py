"""Output conventions: --json, --verbose, --quiet, colour, progress bar, completion, start-up."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from contactguard.cli import main
from contactguard.model import Contact, Decision, NumberDecision, Reason
from contactguard.progress import Console, Progress, color_wanted, decision_line, terminal_safe

PIPELINE = Path(__file__).parent / "fixtures" / "pipeline"


def sanitize_args(*extra: str) -> list[str]:
    return ["sanitize", str(PIPELINE / "book.vcf"), "--evidence", str(PIPELINE / "ledger.csv"),
            "--region", "FR", *extra]


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def removed(line: int = 1, name: str = "Paul Martin") -> Decision:
    number = NumberDecision("06 12 34 56 78", "+33612345678", False, Reason.BUSINESS_INITIATED)
    return Decision(Contact("book.vcf", line, fn=name), False, Reason.BUSINESS_INITIATED, (number,))


class TestJson:
    def test_summary_on_stdout_when_book_goes_to_a_file(self, runner: CliRunner,
                                                        tmp_path: Path) -> None:
        """With -o FILE the JSON summary is standard output and replaces the human summary."""
        result = runner.invoke(main, sanitize_args("-o", str(tmp_path / "clean.vcf"), "--json"))
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["summary"]["contacts_in"] == 4
        assert data["output"] == str(tmp_path / "clean.vcf")
        assert "contacts read" not in result.stderr

    def test_summary_on_stderr_when_book_goes_to_stdout(self, runner: CliRunner) -> None:
        """When the clean book is standard output the JSON goes to standard error, so the book
        stays intact."""
        result = runner.invoke(main, sanitize_args("--json"))
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("BEGIN:VCARD") and "{" not in result.stdout
        assert json.loads(result.stderr)["summary"]["contacts_kept"] == 2

    def test_dry_run_json_on_stdout(self, runner: CliRunner) -> None:
        """A dry run writes no book, so the JSON summary is standard output."""
        result = runner.invoke(main, sanitize_args("--dry-run", "--json"))
        data = json.loads(result.stdout)
        assert (data["dry_run"], data["output"]) == (True, None)


class TestVerboseAndQuiet:
    def test_verbose_one_line_per_contact_masked(self, runner: CliRunner) -> None:
        """--verbose shows each decision on stderr; stripped numbers are masked, no colour
        when stderr is not a terminal."""
        result = runner.invoke(main, sanitize_args("--dry-run", "--verbose"))
        assert result.exit_code == 0, result.output
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith(str(PIPELINE))]
        assert len(lines) == 4
        assert lines[1].endswith("removed  business-initiated  Paul Martin  "
                                 "+33612****78 (business-initiated)")
        assert "+33612345678" not in result.stderr
        assert "\x1b[" not in result.stderr

    def test_quiet_writes_nothing_on_stderr(self, runner: CliRunner) -> None:
        """--quiet leaves standard error empty on success."""
        result = runner.invoke(main, sanitize_args("--dry-run", "--quiet"))
        assert result.exit_code == 0
        assert result.stderr == ""

    def test_control_characters_never_reach_the_terminal(self) -> None:
        """A name carrying terminal escapes is shown with them replaced."""
        line, tone = decision_line(removed(name="Eve\x1b]0;owned\x07\x9b"))
        assert "\x1b" not in line and "\x07" not in line and "\x9b" not in line
        assert tone == "removed"
        assert terminal_safe("a\tb\u00e9") == "a\N{REPLACEMENT CHARACTER}b\u00e9"


class TestColour:
    @pytest.mark.parametrize(
        ("tty", "env", "expected"),
        [
            (True, {}, True),
            (True, {"NO_COLOR": "1"}, False),
            (True, {"NO_COLOR": ""}, True),
            (False, {}, False),
        ],
        ids=["terminal", "no-color-set", "no-color-empty", "pipe"],
    )
    def test_colour_rules(self, tty: bool, env: dict[str, str], expected: bool) -> None:
        """Colour only on a terminal, never with NO_COLOR set (an empty value does not count)."""
        stream = FakeTTY() if tty else io.StringIO()
        assert color_wanted(stream, env) is expected

    def test_verbose_lines_coloured_on_a_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """On a terminal removed contacts are red; with NO_COLOR the same line is plain."""
        import click

        monkeypatch.delenv("NO_COLOR", raising=False)
        tty = FakeTTY()
        with Console(tty, [], verbose=True, style=click.style) as console:
            console.decision(removed())
        assert tty.getvalue().startswith("\x1b[31mbook.vcf:1  removed")
        monkeypatch.setenv("NO_COLOR", "1")
        plain = FakeTTY()
        with Console(plain, [], verbose=True, style=click.style) as console:
            console.decision(removed())
        assert "\x1b" not in plain.getvalue()


class TestProgress:
    def test_no_bar_in_the_first_second(self) -> None:
        """A run that ends within a second never draws the bar."""
        clock, tty = Clock(), FakeTTY()
        progress = Progress(tty, [], enabled=True, clock=clock)
        clock.now = 0.9
        progress.update(removed())
        progress.close()
        assert tty.getvalue() == ""

    def test_bar_after_a_second_shows_fraction_and_is_erased(self, tmp_path: Path) -> None:
        """After a second the bar shows how far into the books the run is, then erases itself."""
        book = tmp_path / "book.vcf"
        book.write_bytes(b"x\n" * 100)
        clock, tty = Clock(), FakeTTY()
        progress = Progress(tty, [str(book)], enabled=True, clock=clock)
        clock.now = 2.0
        progress.update(Decision(Contact(str(book), 51), False, Reason.NO_NUMBER))
        assert "[###############---------------]  51%" in tty.getvalue()
        progress.close()
        assert tty.getvalue().endswith("\r\x1b[K")

    def test_standard_input_shows_a_count(self) -> None:
        """Standard input has no size, so the bar shows a count and a rate instead."""
        clock, tty = Clock(), FakeTTY()
        progress = Progress(tty, ["-"], enabled=True, clock=clock)
        for i in range(3):
            clock.now = 2.0 + i
            progress.update(removed(i))
        assert "3 contacts" in tty.getvalue() and "%" not in tty.getvalue()

    def test_batches_from_workers_advance_the_bar(self, tmp_path: Path) -> None:
        """Decisions made in worker processes come as counts: the bar counts them and shows
        the line reading has reached."""
        book = tmp_path / "book.vcf"
        book.write_bytes(b"x\n" * 1000)
        clock, tty = Clock(), FakeTTY()
        with Console(tty, [str(book)]) as console:
            console.progress = Progress(tty, [str(book)], enabled=True, clock=clock)
            clock.now = 2.0
            console.decided(400, str(book), 750)
            assert "[######################--------]  75%  400 contacts" in tty.getvalue()

    def test_disabled_when_not_a_terminal(self) -> None:
        """Console draws no bar on a pipe or in quiet mode, however long the run."""
        assert not Console(io.StringIO(), []).progress._enabled
        assert not Console(FakeTTY(), [], quiet=True).progress._enabled
        assert Console(FakeTTY(), []).progress._enabled


class TestShell:
    def test_bash_completion(self) -> None:
        """The documented _CONTACTGUARD_COMPLETE=bash_source prints a bash completion script,
        and completing "inv" offers invite."""
        code = "from contactguard.cli import main; main(prog_name='contactguard')"
        env = {**os.environ, "_CONTACTGUARD_COMPLETE": "bash_source"}
        script = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=True).stdout
        assert "_contactguard_completion" in script
        env.update({"_CONTACTGUARD_COMPLETE": "bash_complete", "COMP_WORDS": "contactguard inv",
                    "COMP_CWORD": "1"})
        offered = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, check=True).stdout
        assert offered.split() == ["plain,invite"]

    def test_help_imports_no_heavy_module(self) -> None:
        """`contactguard --help` loads none of the heavy libraries, so it starts fast."""
        code = ("import sys; from contactguard.cli import main\n"
                "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
                "heavy = {'phonenumbers', 'vobject', 'httpx', 'segno', 'sqlite3'}\n"
                "print(sorted(heavy & set(sys.modules)))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout
        assert out.splitlines()[-1] == "[]"
