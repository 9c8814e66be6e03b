"""Operator safety of the sync job against a real Radicale: no plausible mistake empties a phone,
and nothing removed is ever lost (durable quarantine, every property compared, guards, journal)."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from radicale_server import USERS, RadicaleServer
from test_sync import ANNA, CARLA, Setup, card

from contactguard import _atomic
from contactguard.cli import main
from contactguard.sync import load_config

pytestmark = pytest.mark.radicale


@pytest.fixture
def setup(radicale: RadicaleServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    return Setup(radicale, tmp_path, monkeypatch)


def sync(runner: CliRunner, setup: Setup, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(main, ["sync", "--config", str(setup.config), *args])


def leak(setup: Setup, name: str = "leak", extra: str = "NOTE:private\r\n") -> str:
    text = card(f"{name}-1", "Lea Leak", "+491709999999", extra)
    setup.server.put_card("phone1", setup.target_book, name, text)
    return text


def quarantined(setup: Setup) -> list[Path]:
    folder = setup.tmp / "quarantine"
    return sorted(folder.iterdir()) if folder.exists() else []


class TestDurableQuarantine:
    def test_a_short_write_still_saves_the_whole_card(
        self, setup: Setup, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """os.write writing a few bytes per call still leaves the complete card in quarantine."""
        setup.run()
        leak(setup, extra="NOTE:" + "x" * 300 + "\r\n")
        text = setup.target_cards()["leak.vcf"]
        real = os.write
        monkeypatch.setattr(_atomic.os, "write", lambda fd, data: real(fd, bytes(data[:7])))
        result = sync(runner, setup)
        assert result.exit_code == 0, result.output
        [saved] = quarantined(setup)
        assert saved.read_bytes() == text.encode()
        assert "leak.vcf" not in setup.target_cards()

    def test_a_full_disk_keeps_the_card_and_leaves_no_partial_file(
        self, setup: Setup, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """ENOSPC in the middle of the quarantine: exit 1 in one line, the card stays, no file."""
        setup.run()
        leak(setup)
        real = os.write

        quarantine: set[int] = set()

        def full(fd: int, data: bytes) -> int:
            if fd in quarantine:  # the disk filled up after the first 20 bytes of the card
                quarantine.discard(fd)  # the number may be reused by the journal
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if not bytes(data).startswith(b"BEGIN:VCARD"):
                return real(fd, data)  # the journal still has room
            quarantine.add(fd)
            return real(fd, bytes(data[:20]))

        monkeypatch.setattr(_atomic.os, "write", full)
        result = sync(runner, setup)
        assert result.exit_code == 1
        assert "No space left on device" in result.output
        assert "left on the phone" in result.output
        assert len(result.output.strip().splitlines()) == 1
        assert quarantined(setup) == []
        assert "leak.vcf" in setup.target_cards()
        journal = (setup.tmp / "sync.journal").read_text().splitlines()
        last = json.loads(journal[-1])
        assert (last["action"], last["uid"]) == ("kept", "leak-1")
        assert "No space left on device" in last["reason"]

    def test_a_real_small_tmpfs_fills_up_and_nothing_is_lost(
        self, setup: Setup, runner: CliRunner, tmp_path: Path
    ) -> None:
        """On a real 64 KiB tmpfs that is nearly full the big card is kept and no file is left."""
        mount = tmp_path / "small"
        mount.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        try:
            config = setup.config.read_text()
            setup.config.write_text(config.replace('"quarantine/"', f'"{mount}/q"'))
            setup.run()
            (mount / "filler").write_bytes(b"\0" * (60 * 1024))
            leak(setup, extra="NOTE:" + "y" * 20000 + "\r\n")
            result = sync(runner, setup)
            assert result.exit_code == 1, result.output
            assert "left on the phone" in result.output
            assert list((mount / "q").iterdir()) == []
            assert "leak.vcf" in setup.target_cards()
        finally:
            subprocess.run(["umount", str(mount)], check=True)

    def test_the_quarantine_folder_is_private_and_its_files_too(self, setup: Setup) -> None:
        """The quarantine folder is created 0700, each saved card 0600."""
        setup.run()
        leak(setup)
        setup.run()
        folder = setup.tmp / "quarantine"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        [saved] = quarantined(setup)
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600


PHONE_EDITS = {
    "photo": "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBD\r\n",
    "android-custom": "X-ANDROID-CUSTOM:vnd.android.cursor.item/nickname;Anni;1;;;;;;;;;;;;;\r\n",
    "apple-related-names": (
        "item1.X-ABRELATEDNAMES:Max Schmidt\r\nitem1.X-ABLabel:_$!<Spouse>!$_\r\n"
    ),
    "unknown-property": "BIRTHPLACE:Hamburg\r\n",
    "x-property-only": "X-PHONETIC-FIRST-NAME:Anna\r\n",
}


class TestEveryPropertyCounts:
    @pytest.mark.parametrize("added", list(PHONE_EDITS.values()), ids=list(PHONE_EDITS))
    def test_a_property_added_on_the_phone_is_quarantined_before_the_overwrite(
        self, setup: Setup, added: str
    ) -> None:
        """A card we wrote that gained a PHOTO, an X- or grouped property is saved first."""
        setup.run()
        href = "anna-1"
        ours = setup.target_cards()["anna-1.vcf"]
        edited = ours.replace("END:VCARD", added.rstrip("\r\n") + "\r\nEND:VCARD")
        setup.server.put_card("phone1", setup.target_book, href, edited)
        outcome = setup.run()
        assert (outcome.counts()["updated"], outcome.counts()["quarantined"]) == (1, 1)
        [saved] = quarantined(setup)
        first = added.split(":", 1)[0]
        assert first in saved.read_text()

    @pytest.mark.parametrize("added", list(PHONE_EDITS.values()), ids=list(PHONE_EDITS))
    def test_with_the_state_lost_such_a_card_is_not_adopted(self, setup: Setup, added: str) -> None:
        """Without the state file a card holding more than we would write is foreign, not ours."""
        setup.run()
        load_config(setup.config).state.unlink()
        ours = setup.target_cards()["anna-1.vcf"]
        edited = ours.replace("END:VCARD", added.rstrip("\r\n") + "\r\nEND:VCARD")
        setup.server.put_card("phone1", setup.target_book, "anna-1", edited)
        outcome = setup.run()
        assert outcome.counts()["quarantined"] == 1
        assert outcome.counts()["unchanged"] == 1  # Carla's card is adopted as it is


def many_leaks(setup: Setup, count: int) -> None:
    for i in range(count):
        setup.server.put_card(
            "phone1",
            setup.target_book,
            f"old{i}",
            card(f"old-{i}", "Olaf Alt", f"+4917100000{i:02d}"),
        )


class TestGuards:
    def test_an_empty_evidence_folder_stops_the_run(self, setup: Setup, runner: CliRunner) -> None:
        """Evidence that yields no identity (an unmounted share) refuses the run; --force goes."""
        setup.run()
        (setup.tmp / "share").mkdir()
        text = setup.config.read_text().replace('sources = ["ledger.csv"]', 'sources = ["share/"]')
        setup.config.write_text(text)
        before = setup.target_cards()
        result = sync(runner, setup)
        assert result.exit_code == 1
        assert "no identity at all" in result.output
        assert "delete" in result.output  # the plan it refused is shown
        assert setup.target_cards() == before
        forced = sync(runner, setup, "--force")
        assert forced.exit_code == 0, forced.output
        assert setup.target_cards() == {}

    def test_deleting_more_than_half_of_the_phone_stops_the_run(
        self, setup: Setup, runner: CliRunner
    ) -> None:
        """Eight of ten cards to delete is refused; a config share of 0.9 lets it through."""
        setup.run()
        many_leaks(setup, 8)
        before = setup.target_cards()
        result = sync(runner, setup)
        assert result.exit_code == 1
        assert "would delete 8 of the 10 cards" in result.output
        assert setup.target_cards() == before
        assert quarantined(setup) == []
        setup.write_config(extra="max_delete_share = 0.9\n")
        assert sync(runner, setup).exit_code == 0
        assert sorted(setup.target_cards()) == ["anna-1.vcf", "carla-1.vcf"]

    def test_a_handful_of_deletions_is_never_refused(self, setup: Setup) -> None:
        """Five deletions pass even when they are most of a small phone book."""
        setup.write_ledger([CARLA])
        many_leaks(setup, 5)
        outcome = setup.run()
        assert outcome.counts()["deleted"] == 5

    def test_force_in_the_config_lets_a_large_deletion_through(self, setup: Setup) -> None:
        """force = true in the config proceeds past the share guard, and says so."""
        setup.run()
        many_leaks(setup, 8)
        setup.write_config(extra="force = true\n")
        outcome = setup.run()
        assert outcome.counts()["deleted"] == 8
        assert any("would delete 8" in w for w in outcome.warnings)

    @pytest.mark.parametrize("slash", ["", "/"], ids=["without-slash", "with-slash"])
    def test_source_and_target_naming_one_collection_are_refused(
        self, setup: Setup, runner: CliRunner, slash: str
    ) -> None:
        """The company book as the target (trailing slash or not) is refused; nothing changes."""
        url = setup.source_url.rstrip("/") + slash
        source = (
            f'url = "{setup.source_url}"\nusername = "it"\npassword_env = "CG_SOURCE_PASSWORD"\n'
        )
        setup.config.write_text(
            'region = "DE"\nquarantine = "quarantine/"\n'
            f"[source]\n{source}"
            f'[target]\nurl = "{url}"\nusername = "it"\npassword_env = "CG_SOURCE_PASSWORD"\n'
            '[evidence]\nsources = ["ledger.csv"]\n'
        )
        before = setup.server.cards("it", setup.source_book)
        result = sync(runner, setup)
        assert result.exit_code == 1
        assert "same address book" in result.output
        assert setup.server.cards("it", setup.source_book) == before

    @pytest.mark.parametrize("region", ["XX", "Germany", "49"])
    def test_an_unknown_region_in_the_config_is_refused(self, setup: Setup, region: str) -> None:
        """A region phonenumbers does not know would remove everyone: a config error."""
        setup.config.write_text(setup.config.read_text().replace('"DE"', f'"{region}"'))
        result = CliRunner().invoke(main, ["sync", "--config", str(setup.config)])
        assert result.exit_code == 1
        assert "not a region phonenumbers knows" in result.output
        assert setup.target_cards() == {}


class TestOutputsNeverNameInputs:
    @pytest.mark.parametrize("key", ["report", "state", "lock", "journal"])
    @pytest.mark.parametrize("victim", ["book.vcf", "ledger.csv"])
    def test_a_config_output_naming_an_input_is_refused(
        self, setup: Setup, runner: CliRunner, key: str, victim: str
    ) -> None:
        """report, state, lock or journal naming the source book or the ledger is refused."""
        book = setup.tmp / "book.vcf"
        book.write_text(card("anna-1", "Anna Schmidt", "0170 1234567"))
        setup.write_config(source='path = "book.vcf"\n', extra=f'{key} = "./{victim}"\n')
        before = (book.read_bytes(), setup.ledger.read_bytes())
        result = sync(runner, setup)
        assert result.exit_code == 1
        assert "is an input file" in result.output
        assert (book.read_bytes(), setup.ledger.read_bytes()) == before
        assert setup.target_cards() == {}

    def test_the_source_cache_naming_the_ledger_is_refused(
        self, setup: Setup, runner: CliRunner
    ) -> None:
        """source_cache naming an evidence file (reached through a folder) is refused."""
        (setup.tmp / "ev").mkdir()
        setup.ledger.rename(setup.tmp / "ev" / "ledger.csv")
        text = setup.config.read_text().replace('["ledger.csv"]', '["ev/"]')
        setup.config.write_text('source_cache = "ev/ledger.csv"\n' + text)
        before = (setup.tmp / "ev" / "ledger.csv").read_bytes()
        result = sync(runner, setup)
        assert result.exit_code == 1, result.output
        assert "source_cache" in result.output and "is an input file" in result.output
        assert (setup.tmp / "ev" / "ledger.csv").read_bytes() == before


class TestTransport:
    def test_a_password_file_others_may_read_is_refused(
        self, setup: Setup, runner: CliRunner
    ) -> None:
        """Like ssh with a key, a group- or world-readable password file is refused."""
        (setup.tmp / "phone1.pw").chmod(0o644)
        result = sync(runner, setup)
        assert result.exit_code == 1
        assert "may be read by other users (mode 0644)" in result.output
        assert "chmod 600" in result.output
        assert USERS["phone1"] not in result.output

    def test_a_missing_ca_bundle_is_one_line(self, setup: Setup, runner: CliRunner) -> None:
        """A ca_bundle that does not exist is a one-line error naming the file."""
        text = setup.config.read_text().replace(
            'password_file = "phone1.pw"\n',
            'password_file = "phone1.pw"\nca_bundle = "no-ca.pem"\n',
        )
        setup.config.write_text(text)
        result = sync(runner, setup)
        assert result.exit_code == 1
        assert "ca_bundle" in result.output and "no-ca.pem" in result.output
        assert len(result.output.strip().splitlines()) == 1

    def test_a_ca_bundle_that_is_not_pem_is_one_line(self, setup: Setup, runner: CliRunner) -> None:
        """A ca_bundle holding no certificate is a one-line error, not a traceback."""
        (setup.tmp / "ca.pem").write_text("not a certificate\n")
        text = setup.config.read_text().replace(
            'password_file = "phone1.pw"\n', 'password_file = "phone1.pw"\nca_bundle = "ca.pem"\n'
        )
        setup.config.write_text(text)
        result = sync(runner, setup)
        assert result.exit_code == 1
        assert "ca_bundle" in result.output
        assert len(result.output.strip().splitlines()) == 1


class TestQuietJournalHistory:
    def test_quiet_prints_nothing_when_all_went_well(self, setup: Setup, runner: CliRunner) -> None:
        """sync --quiet on a good run prints nothing at all (cron mails nothing)."""
        result = sync(runner, setup, "--quiet")
        assert result.exit_code == 0
        assert result.output == ""
        assert len(setup.target_cards()) == 2

    def test_every_change_is_journaled_with_masked_numbers_and_shown_by_history(
        self, setup: Setup, runner: CliRunner
    ) -> None:
        """The journal holds one 0600 line per change; --history shows who left and why."""
        setup.run()
        leak(setup)
        setup.write_ledger([ANNA])
        assert sync(runner, setup, "-q").exit_code == 0
        journal = setup.tmp / "sync.journal"
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600
        entries = [json.loads(line) for line in journal.read_text().splitlines()]
        assert [(e["action"], e["uid"]) for e in entries] == [
            ("create", "anna-1"),
            ("create", "carla-1"),
            ("delete", "carla-1"),
            ("delete", "leak-1"),
        ]
        carla, lea = entries[2], entries[3]
        assert carla["reason"] == "no-evidence"
        assert carla["numbers"] == ["+49172*****89"]
        assert carla["quarantine"] is None
        assert lea["numbers"] == ["+49170*****99"]
        assert Path(lea["quarantine"]).read_text().startswith("BEGIN:VCARD")
        text = journal.read_text()
        assert CARLA not in text and "+491709999999" not in text
        history = sync(runner, setup, "--history")
        assert history.exit_code == 0
        lines = history.output.splitlines()
        assert len(lines) == 4
        assert "delete" in lines[2] and "<carla-1>" in lines[2] and "no-evidence" in lines[2]
        assert "quarantine: " in lines[3]

    def test_the_report_keeps_the_last_runs(self, setup: Setup) -> None:
        """With report_keep = 2 the last two runs' reports are kept, each 0600."""
        setup.write_config(extra="report_keep = 2\n")
        setup.run()
        setup.write_ledger([ANNA])
        setup.run()
        setup.run()
        report = load_config(setup.config).report
        assert report is not None
        kept = sorted(p.name for p in setup.tmp.glob("sync-report*.json"))
        assert kept == ["sync-report.1.json", "sync-report.json"]
        older = json.loads((setup.tmp / "sync-report.1.json").read_text())
        assert older["sync"]["counts"]["deleted"] == 1
        assert json.loads(report.read_text())["sync"]["counts"]["deleted"] == 0
        assert stat.S_IMODE(report.stat().st_mode) == 0o600


class TestFileModes:
    def test_state_report_lock_and_cache_are_private(self, setup: Setup) -> None:
        """Everything a run writes that names people (or its lock) is created 0600."""
        setup.run()
        config = load_config(setup.config)
        for path in (config.state, config.report, config.lock, config.source_cache,
                     config.journal):  # fmt: skip
            assert path is not None
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


class TestServersThatRewriteCards:
    def run_on_rewriting_server(self, setup: Setup, stamp: str) -> None:
        """One run where PUT answers without an ETag and the server stores the card with
        ``stamp`` added."""
        from contactguard.carddav import CardDAVClient

        real = CardDAVClient.put

        def put(client: CardDAVClient, href: str, data: bytes, etag: str | None) -> None:
            real(client, href, data, etag)
            name = href.rsplit("/", 1)[1].removesuffix(".vcf")
            stored = data.decode().replace("END:VCARD", stamp + "\r\nEND:VCARD")
            setup.server.put_card("phone1", setup.target_book, name, stored)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(CardDAVClient, "put", put)
            setup.run()

    def test_a_server_stamp_is_read_back_once_and_not_taken_for_a_phone_edit(
        self, setup: Setup
    ) -> None:
        """A server that adds its own X- property is read back after the PUT: no loop."""
        self.run_on_rewriting_server(setup, "X-SERVER-STAMP:42")
        again = setup.run()
        assert again.counts()["quarantined"] == 0
        assert again.counts()["unchanged"] == 2
        assert again.requests["target"] == {"REPORT": 1}

    def test_a_stored_card_that_says_something_else_is_not_adopted(self, setup: Setup) -> None:
        """A card stored with another content than we wrote is compared (and saved) next run."""
        self.run_on_rewriting_server(setup, "EMAIL:someone@example.com")
        again = setup.run()
        assert again.counts()["quarantined"] == 2
        assert again.counts()["updated"] == 2
