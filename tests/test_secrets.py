"""Secrets and privacy: no password or token in any message, log line, report or exception
text; removed people's numbers are masked in reports; `evidence forget` leaves no trace.
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from contactguard.cli import main
from contactguard.errors import ContactguardError
from contactguard.evidence.remote import fetch_records
from contactguard.evidence.store import Ledger
from contactguard.model import EvidenceRecord

PASSWORD = "s3cr3t-Pa55word-xyzzy"  # made up for the test
TOKEN = "tok-0123456789abcdef-plugh"  # made up for the test
KEPT = "+4915123456701"
REMOVED = "+4915123456702"  # in the book, no evidence: removed
STRIPPED = "+4917098765403"  # a second number of a kept contact: stripped


def everything(exc: BaseException | None, *texts: str) -> str:
    """An exception's message, repr, causes and traceback, plus other captured text."""
    parts = list(texts)
    while exc is not None:
        parts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def failing(status: int) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=f"server says: {request.headers.get('authorization')}")
    return httpx.MockTransport(handler)


def broken(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


class TestNoSecretsInMessages:
    @pytest.mark.parametrize("transport", [failing(401), failing(403), failing(500),
                                           httpx.MockTransport(broken)],
                             ids=["401", "403", "500", "connect-error"])
    def test_remote_evidence_errors_never_show_the_token(
        self, transport: httpx.MockTransport, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A failing HTTPS evidence source names the URL, never the token or URL user info."""
        caplog.set_level(logging.DEBUG)
        url = f"https://user:{PASSWORD}@crm.example.com/inbound.csv?key={TOKEN}"
        with pytest.raises(ContactguardError) as caught:
            list(fetch_records(url, token=TOKEN, transport=transport, retries=1, backoff=0,
                               sleep=lambda s: None))
        text = everything(caught.value, caplog.text)
        assert "crm.example.com/inbound.csv" in str(caught.value)
        assert TOKEN not in text and PASSWORD not in text

    def test_a_token_is_never_sent_over_plain_http(self) -> None:
        """A bearer token and an http:// URL: refused before anything is sent."""
        sent: list[httpx.Request] = []
        def handler(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return httpx.Response(200)

        transport = httpx.MockTransport(handler)
        with pytest.raises(ContactguardError, match="plain http") as caught:
            list(fetch_records("http://crm.example.com/x.csv", token=TOKEN, transport=transport))
        assert sent == [] and TOKEN not in everything(caught.value)

    @pytest.mark.radicale
    @pytest.mark.parametrize("where", ["env", "file"])
    def test_a_failing_sync_never_shows_the_password(
        self, radicale: Any, tmp_path: Path, runner: CliRunner,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, where: str
    ) -> None:
        """`contactguard sync` with a wrong password fails clearly; the password appears nowhere."""
        caplog.set_level(logging.DEBUG)
        url = radicale.make_addressbook("phone1", f"secret-{where}")
        (tmp_path / "book.vcf").write_text(
            f"BEGIN:VCARD\r\nFN:Anna\r\nTEL:{KEPT}\r\nEND:VCARD\r\n")
        (tmp_path / "ledger.csv").write_text(f"phone,first_inbound_at\n{KEPT},2026-01-05\n")
        if where == "env":
            monkeypatch.setenv("CG_TARGET_PASSWORD", PASSWORD)
            secret = 'password_env = "CG_TARGET_PASSWORD"\n'
        else:
            (tmp_path / "pw").write_text(PASSWORD + "\n")
            (tmp_path / "pw").chmod(0o600)
            secret = 'password_file = "pw"\n'
        (tmp_path / "sync.toml").write_text(
            'region = "DE"\nquarantine = "q/"\nretries = 1\nbackoff = 0.01\nreport = "r.json"\n'
            '[source]\npath = "book.vcf"\n'
            f'[target]\nurl = "{url}"\nusername = "phone1"\n{secret}'
            '[evidence]\nsources = ["ledger.csv"]\n')
        result = runner.invoke(main, ["sync", "--config", str(tmp_path / "sync.toml")])
        assert result.exit_code == 1
        assert "401" in result.output or "auth" in result.output.lower()
        written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*")
                          if p.is_file() and p.name not in ("pw",))
        assert PASSWORD not in everything(result.exception, result.output, caplog.text, written)

    def test_credentials_repr_hides_secrets(self) -> None:
        """Credentials print as a redacted repr, so a debugger or log of locals shows no secret."""
        from contactguard.carddav import Credentials

        shown = repr(Credentials(username="u", password=PASSWORD, token=TOKEN))
        assert PASSWORD not in shown and TOKEN not in shown


class TestReportsMaskRemovedPeople:
    def run(self, runner: CliRunner, tmp_path: Path, report: str, *extra: str) -> str:
        book = tmp_path / "book.csv"
        with book.open("w", newline="", encoding="utf-8") as stream:
            csv.writer(stream).writerows([["Name", "Phone 1", "Phone 2"], ["Anna", KEPT, STRIPPED],
                                          ["Ben", REMOVED, ""]])
        ledger = tmp_path / "ledger.csv"
        ledger.write_text(f"phone,first_inbound_at\n{KEPT},2026-01-05\n")
        path = tmp_path / report
        result = runner.invoke(main, ["sanitize", str(book), "--evidence", str(ledger), "--region",
                                      "DE", "--dry-run", "--report", str(path), *extra])
        assert result.exit_code == 0, result.output
        return path.read_text(encoding="utf-8") + result.output

    @pytest.mark.parametrize("report", ["r.json", "r.html"])
    def test_removed_and_stripped_numbers_are_masked(
        self, runner: CliRunner, tmp_path: Path, report: str
    ) -> None:
        """Reports and --verbose show kept numbers in full, removed and stripped ones masked."""
        text = self.run(runner, tmp_path, report, "--verbose")
        assert KEPT in text
        for number in (REMOVED, STRIPPED):
            digits = number.lstrip("+")
            assert digits not in text.replace(" ", "")
            assert digits[-8:] not in text  # not even the subscriber part

    def test_json_report_masks_but_keeps_the_reason(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        """A masked number still carries its reason, so the report explains every removal."""
        data = json.loads(self.run(runner, tmp_path, "r.json", "-q"))
        ben = next(c for c in data["contacts"] if c["name"] == "Ben")
        assert ben["reason"] == "no-evidence" and "*" in ben["numbers"][0]["number"]


class TestForgetLeavesNoTrace:
    T = datetime(2026, 1, 5, tzinfo=timezone.utc)

    def ledger(self, path: Path) -> None:
        with Ledger(path) as db:
            db.import_records([EvidenceRecord(f"chat-{i}.txt", phone="+491701234567",
                                              first_inbound_at=self.T) for i in range(30)])
            db.import_records([EvidenceRecord("other.csv:2", phone="+491709999999",
                                              first_inbound_at=self.T)])

    def traces(self, path: Path) -> list[str]:
        found = []
        for candidate in path.parent.iterdir():
            if candidate.name.startswith(path.name) and b"491701234567" in candidate.read_bytes():
                found.append(candidate.name)
        return found

    def test_forget_in_wal_mode_leaves_no_trace_in_any_file(self, tmp_path: Path) -> None:
        """With the ledger in WAL mode (set by another tool), forget leaves no digits in the
        database, its -wal or its -shm file."""
        path = tmp_path / "l.sqlite"
        self.ledger(path)
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
        with Ledger(path, create=False) as db:
            db.import_records([EvidenceRecord("late.csv:2", phone="+491701234567",
                                              first_inbound_at=self.T)])
            assert self.traces(path)
            assert db.forget("+491701234567").identities == 1
            assert self.traces(path) == []  # while the connection is still open
        assert self.traces(path) == []

    def test_forget_while_another_reader_is_open(self, tmp_path: Path) -> None:
        """A reader holding the ledger open does not keep the forgotten number on disk."""
        path = tmp_path / "l.sqlite"
        self.ledger(path)
        reader = sqlite3.connect(path)
        try:
            reader.execute("SELECT count(*) FROM statement").fetchone()
            with Ledger(path, create=False) as db:
                assert db.forget("+491701234567").identities == 1
            assert self.traces(path) == []
        finally:
            reader.close()

    def test_forget_command_leaves_no_trace(self, tmp_path: Path, runner: CliRunner) -> None:
        """`contactguard evidence forget` leaves no byte of the number in the ledger's files."""
        path = tmp_path / "l.sqlite"
        self.ledger(path)
        result = runner.invoke(main, ["evidence", "forget", "+49 170 1234567", "--ledger",
                                      str(path)])
        assert result.exit_code == 0, result.output
        assert self.traces(path) == []
        assert not list(tmp_path.glob("l.sqlite-journal"))
