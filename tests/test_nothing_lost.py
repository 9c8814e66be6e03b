"""Nothing lost: a crash never destroys an output, inputs are never overwritten, and a card
deleted from the phone by the sync job is on disk (fsynced) before the DELETE leaves.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from contactguard.cli import main

LEDGER = "phone,first_inbound_at\n+4915123456701,2026-01-05\n"
BOOK = "BEGIN:VCARD\r\nFN:Anna\r\nTEL:+4915123456701\r\nEND:VCARD\r\n"

# Runs `contactguard sanitize` with write_book (or the report's finish) replaced by one that
# writes half an output and then waits to be killed.
KILLED_MID_WRITE = textwrap.dedent("""
    import sys, time
    import contactguard.books as books
    import contactguard.report as report

    def half(*args, **kwargs):
        stream = next(a for a in args if hasattr(a, "write") and hasattr(a, "fileno"))
        stream.write(b"BEGIN:VCARD\\r\\nFN:half a card")
        stream.flush()
        print("inside", flush=True)
        time.sleep(60)

    if sys.argv[1] == "book":
        books.write_book = half
    else:
        report.ReportWriter.finish = lambda self, stream, *a: half(stream)
    from contactguard.cli import main
    main(sys.argv[2:])
""")


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class TestAtomicOutputs:
    @pytest.mark.parametrize("what", ["book", "report"])
    def test_a_kill_mid_write_keeps_the_previous_output(self, tmp_path: Path, what: str) -> None:
        """SIGKILL while the clean book (or report) is written leaves the old file intact."""
        (tmp_path / "book.vcf").write_text(BOOK)
        (tmp_path / "ledger.csv").write_text(LEDGER)
        out = tmp_path / ("clean.vcf" if what == "book" else "report.json")
        out.write_text("the previous output\n")
        args = ["sanitize", "book.vcf", "--evidence", "ledger.csv", "-q"]
        args += ["-o", "clean.vcf"] if what == "book" else ["--dry-run", "--report", "report.json"]
        child = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, what, *args],
                                 cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "inside"
            leftovers = [n for n in files(tmp_path) if n.endswith(".tmp")]
            assert len(leftovers) == 1  # the half-written output lives beside it, hidden
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            child.stdout.close()  # type: ignore[union-attr]
        assert out.read_text() == "the previous output\n"
        # what a kill leaves behind is a hidden temporary file, never something named like the
        # output; the next run writes the output as usual
        assert all(n.startswith(f".{out.name}.") for n in files(tmp_path)
                   if n not in ("book.vcf", "ledger.csv", out.name))
        result = CliRunner().invoke(main, ["sanitize", str(tmp_path / "book.vcf"), "--evidence",
                                           str(tmp_path / "ledger.csv"), "-o", str(out), "-q"])
        assert result.exit_code == 0, result.output

    def test_an_error_mid_write_leaves_no_temporary_file(self, tmp_path: Path) -> None:
        """An exception while writing removes the temporary file and keeps the old output."""
        from contactguard._atomic import atomic_write

        out = tmp_path / "clean.vcf"
        out.write_text("old")
        with pytest.raises(RuntimeError), atomic_write(out) as stream:
            stream.write(b"new")
            raise RuntimeError("disk full")
        assert files(tmp_path) == ["clean.vcf"] and out.read_text() == "old"


class TestInputsAreNeverOverwritten:
    def setup_files(self, tmp_path: Path) -> tuple[Path, Path]:
        book, ledger = tmp_path / "book.vcf", tmp_path / "ledger.csv"
        book.write_text(BOOK)
        ledger.write_text(LEDGER)
        return book, ledger

    @pytest.mark.parametrize("flag", ["-o", "--report"])
    @pytest.mark.parametrize("target", ["book", "evidence", "symlink-to-book", "hardlink-to-book",
                                        "relative-spelling"])
    def test_an_output_that_is_an_input_is_refused(
        self, runner: CliRunner, tmp_path: Path, flag: str, target: str
    ) -> None:
        """-o or --report naming an input (directly, via a symlink or a hard link) is refused."""
        book, ledger = self.setup_files(tmp_path)
        path = {"book": book, "evidence": ledger, "symlink-to-book": tmp_path / "link.vcf",
                "hardlink-to-book": tmp_path / "hard.vcf",
                "relative-spelling": tmp_path / "." / ".." / tmp_path.name / "book.vcf"}[target]
        if target == "symlink-to-book":
            path.symlink_to(book)
        if target == "hardlink-to-book":
            os.link(book, path)
        before = (book.read_bytes(), ledger.read_bytes())
        result = runner.invoke(main, ["sanitize", str(book), "--evidence", str(ledger), flag,
                                      str(path), "-q"])
        assert result.exit_code == 1
        assert "is an input file" in result.output
        assert (book.read_bytes(), ledger.read_bytes()) == before

    def test_an_output_that_is_the_ledger_is_refused(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        """-o naming the --ledger database is refused: the evidence ledger is an input too."""
        book, ledger = self.setup_files(tmp_path)
        db = tmp_path / "ledger.sqlite"
        assert runner.invoke(main, ["evidence", "import", str(ledger), "--ledger", str(db)]
                             ).exit_code == 0
        before = db.read_bytes()
        result = runner.invoke(main, ["sanitize", str(book), "--ledger", str(db), "-o", str(db),
                                      "-q"])
        assert result.exit_code == 1 and "is an input file" in result.output
        assert db.read_bytes() == before

    def test_report_and_output_may_not_be_the_same_file(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        """-o and --report naming one file is a usage error: one would replace the other."""
        book, ledger = self.setup_files(tmp_path)
        out = tmp_path / "out"
        result = runner.invoke(main, ["sanitize", str(book), "--evidence", str(ledger), "-o",
                                      str(out), "--report", str(out), "-q"])
        assert result.exit_code != 0
        assert not out.exists()


class TestSyncQuarantineBeforeDelete:
    @pytest.mark.radicale
    def test_a_foreign_card_is_on_disk_and_fsynced_before_its_delete_is_sent(
        self, radicale: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Against a real server: when DELETE (or an overwriting PUT) of a card we did not write
        leaves, its quarantine copy already exists, holds the card, and was fsynced."""
        from test_sync import Setup, card

        from contactguard import sync

        setup = Setup(radicale, tmp_path, monkeypatch)
        setup.run()
        leak = card("leak-1", "Lea Leak", "+491709999999", "NOTE:private\r\n")
        setup.server.put_card("phone1", setup.target_book, "leak", leak)
        edited = setup.target_cards()["anna-1.vcf"].replace("END:VCARD", "NOTE:edited\r\nEND:VCARD")
        setup.server.put_card("phone1", setup.target_book, "anna-1", edited)

        synced: list[str] = []
        real_fsync = os.fsync

        def recording_fsync(fd: int) -> None:
            real_fsync(fd)
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))

        monkeypatch.setattr(os, "fsync", recording_fsync)
        events: list[tuple[str, str, list[str]]] = []
        quarantine = tmp_path / "quarantine"

        class Recording(httpx.BaseTransport):
            def __init__(self) -> None:
                self.inner = httpx.HTTPTransport()

            def handle_request(self, request: httpx.Request) -> httpx.Response:
                if request.method in ("DELETE", "PUT"):
                    saved = [p.read_text() for p in quarantine.glob("*.vcf")] if \
                        quarantine.exists() else []
                    events.append((request.method, request.url.path, saved))
                return self.inner.handle_request(request)

            def close(self) -> None:
                self.inner.close()

        outcome = sync.run_sync(setup.config, transport=Recording())
        assert outcome.counts()["quarantined"] == 2
        delete = next(e for e in events if e[0] == "DELETE" and e[1].endswith("/leak.vcf"))
        assert any("NOTE:private" in text for text in delete[2])
        overwrite = next(e for e in events if e[0] == "PUT" and e[1].endswith("/anna-1.vcf"))
        assert any("NOTE:edited" in text for text in overwrite[2])
        files_synced = [p for p in synced if p.startswith(str(quarantine) + "/")]
        assert len(files_synced) == 2 and str(quarantine) in synced

    def test_a_quarantine_that_cannot_be_written_stops_the_delete(
        self, tmp_path: Path
    ) -> None:
        """If the quarantine copy cannot be written, the DELETE is never sent."""
        from contactguard.errors import SyncError
        from contactguard.sync import Action, SyncOutcome
        from contactguard.syncapply import Applier

        sent: list[str] = []

        class Target:
            def delete(self, href: str, etag: str | None) -> None:
                sent.append(href)

        blocker = tmp_path / "quarantine"
        blocker.write_text("a file where the folder should be")
        config = type("C", (), {"quarantine": blocker / "sub"})()
        job = Applier(config, Target(), {}, lambda cards, converged: None)  # type: ignore[arg-type]
        action = Action("delete", "leak", "/phone/leak.vcf", etag='"1"', quarantine="BEGIN:VCARD")
        with pytest.raises(SyncError, match="quarantine"):
            job._apply_one(action, SyncOutcome(None), {})  # type: ignore[arg-type]
        assert sent == []
