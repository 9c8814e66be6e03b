"""The sync job against a real Radicale server: no mocked CardDAV here."""

from __future__ import annotations

import fcntl
import itertools
import json
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from radicale_server import USERS, RadicaleServer, free_port

from contactguard.cli import main
from contactguard.errors import ConfigError
from contactguard.sync import SyncJob, load_config, run_sync

pytestmark = pytest.mark.radicale

NOW_LEDGER = "phone,first_inbound_at,first_outbound_at\n"
ANNA = "+491701234567"
CARLA = "+491723456789"


def card(uid: str, name: str, tel: str, extra: str = "") -> str:
    family, given = name.split()[1], name.split()[0]
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
        f"TEL;TYPE=CELL:{tel}\r\n{extra}END:VCARD\r\n"
    )


_books = itertools.count()


class Setup:
    """A source book, an empty phone book, a ledger and a config, unique per test."""

    def __init__(self, server: RadicaleServer, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        n = next(_books)
        self.server = server
        self.tmp = tmp
        self.source_book, self.target_book = f"all{n}", f"phone{n}"
        self.source_url = server.make_addressbook("it", self.source_book)
        self.target_url = server.make_addressbook("phone1", self.target_book)
        server.put_card(
            "it",
            self.source_book,
            "anna",
            card("anna-1", "Anna Schmidt", "0170 1234567", "EMAIL:anna@example.com\r\n"),
        )
        server.put_card(
            "it", self.source_book, "bernd", card("bernd-1", "Bernd Keller", "0171 2345678")
        )
        server.put_card(
            "it",
            self.source_book,
            "carla",
            card("carla-1", "Carla Weber", "0172 3456789", "ORG:Weber GmbH\r\n"),
        )
        self.ledger = tmp / "ledger.csv"
        self.write_ledger([ANNA, CARLA])
        monkeypatch.setenv("CG_SOURCE_PASSWORD", USERS["it"])
        (tmp / "phone1.pw").write_text(USERS["phone1"] + "\n")
        self.config = tmp / "sync.toml"
        self.write_config()

    def write_ledger(self, numbers: list[str]) -> None:
        self.ledger.write_text(NOW_LEDGER + "".join(f"{n},2026-01-10,\n" for n in numbers))

    def write_config(
        self, *, target_url: str | None = None, extra: str = "", source: str | None = None
    ) -> None:
        source = source or (
            f'url = "{self.source_url}"\nusername = "it"\npassword_env = "CG_SOURCE_PASSWORD"\n'
        )
        self.config.write_text(
            'region = "DE"\nquarantine = "quarantine/"\nretries = 2\nbackoff = 0.01\n'
            f"{extra}"
            f"[source]\n{source}"
            f'[target]\nurl = "{target_url or self.target_url}"\nusername = "phone1"\n'
            'password_file = "phone1.pw"\n'
            '[evidence]\nsources = ["ledger.csv"]\n'
            '[policy]\nkeep_fields = ["ORG"]\n'
        )

    def target_cards(self) -> dict[str, str]:
        return self.server.cards("phone1", self.target_book)

    def run(self, **kwargs: object):  # type: ignore[no-untyped-def]
        return run_sync(self.config, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def setup(radicale: RadicaleServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    return Setup(radicale, tmp_path, monkeypatch)


class TestFirstAndSecondRun:
    def test_first_sync_fills_an_empty_target_with_the_allowed_minimised_cards(
        self, setup: Setup
    ) -> None:
        """A first run creates exactly the inbound-first contacts, minimised, with their UIDs."""
        outcome = setup.run()
        cards = setup.target_cards()
        assert outcome.counts()["created"] == 2
        assert sorted(cards) == ["anna-1.vcf", "carla-1.vcf"]
        assert "anna@example.com" not in cards["anna-1.vcf"]
        assert ANNA in cards["anna-1.vcf"]
        assert "ORG:Weber GmbH" in cards["carla-1.vcf"]

    def test_second_run_is_a_no_op_with_one_listing_per_collection(self, setup: Setup) -> None:
        """A second run sends one listing per collection and the source fetch: no PUT or DELETE."""
        setup.run()
        outcome = setup.run()
        assert outcome.counts() == {
            "created": 0,
            "updated": 0,
            "deleted": 0,
            "quarantined": 0,
            "skipped": 0,
            "unchanged": 2,
        }
        # the listing is an addressbook-query REPORT; the cached source needs no fetch
        assert outcome.requests == {"source": {"REPORT": 1}, "target": {"REPORT": 1}}

    def test_lost_state_file_is_recovered_by_canonical_comparison(self, setup: Setup) -> None:
        """Without the state file, cards that already hold the right content are adopted."""
        setup.run()
        load_config(setup.config).state.unlink()
        outcome = setup.run()
        assert outcome.requests["target"].get("PUT", 0) == 0
        assert outcome.counts()["unchanged"] == 2
        state = json.loads(load_config(setup.config).state.read_text())["cards"]
        assert {href.rsplit("/", 1)[1]: c["uid"] for href, c in state.items()} == {
            "anna-1.vcf": "anna-1",
            "carla-1.vcf": "carla-1",
        }
        assert setup.run().requests["target"] == {"REPORT": 1}

    def test_a_source_file_works_like_a_carddav_source(self, setup: Setup, tmp_path: Path) -> None:
        """A book file as [source] path syncs the same cards."""
        book = tmp_path / "book.vcf"
        book.write_text(card("anna-1", "Anna Schmidt", "0170 1234567"))
        setup.write_config(source='path = "book.vcf"\n')
        outcome = setup.run()
        assert outcome.counts()["created"] == 1
        assert "source" not in outcome.requests

    def test_the_source_is_never_written(self, setup: Setup) -> None:
        """Only PROPFIND and REPORT ever reach the source."""
        outcome = setup.run()
        assert set(outcome.requests["source"]) <= {"PROPFIND", "REPORT"}


class TestRemovals:
    def test_a_contact_that_loses_its_evidence_is_deleted_without_quarantine(
        self, setup: Setup
    ) -> None:
        """A card we wrote whose person no longer qualifies is deleted without quarantine."""
        setup.run()
        setup.write_ledger([ANNA])
        outcome = setup.run()
        assert outcome.counts()["deleted"] == 1
        assert outcome.counts()["quarantined"] == 0
        assert sorted(setup.target_cards()) == ["anna-1.vcf"]

    def test_a_card_added_on_the_phone_is_quarantined_then_deleted(self, setup: Setup) -> None:
        """A foreign card the policy does not allow is saved to the quarantine, then deleted."""
        setup.run()
        leak = card("leak-1", "Lea Leak", "+491709999999", "NOTE:private\r\n")
        setup.server.put_card("phone1", setup.target_book, "leak", leak)
        outcome = setup.run()
        assert outcome.counts()["deleted"] == 1
        assert outcome.counts()["quarantined"] == 1
        saved = list((setup.tmp / "quarantine").iterdir())
        assert len(saved) == 1
        assert "NOTE:private" in saved[0].read_text()
        assert "leak.vcf" not in setup.target_cards()

    def test_a_card_edited_on_the_phone_is_quarantined_then_overwritten(self, setup: Setup) -> None:
        """An allowed card changed on the phone is saved first, then rewritten clean."""
        setup.run()
        edited = card("anna-1", "Anna Schmidt", ANNA, "EMAIL:leak@example.com\r\n")
        setup.server.put_card("phone1", setup.target_book, "anna-1", edited)
        outcome = setup.run()
        assert (outcome.counts()["updated"], outcome.counts()["quarantined"]) == (1, 1)
        assert "leak@example.com" not in setup.target_cards()["anna-1.vcf"]


class TestConcurrency:
    def test_a_card_changed_between_plan_and_apply_is_skipped_and_the_next_run_converges(
        self, setup: Setup
    ) -> None:
        """A 412 on one card skips and reports it; the next run takes the change into account."""
        setup.run()
        setup.write_ledger([ANNA])  # Carla must go
        with SyncJob(load_config(setup.config)) as job:
            plan = job.plan()
            setup.server.put_card(
                "phone1",
                setup.target_book,
                "carla-1",
                card("carla-1", "Carla Weber", CARLA, "NOTE:edited\r\n"),
            )
            outcome = job.apply(plan)
        assert outcome.counts()["deleted"] == 0
        assert [s["uid"] for s in outcome.skipped] == ["carla-1"]
        assert "412" in outcome.skipped[0]["reason"]
        again = setup.run()
        assert (again.counts()["deleted"], again.counts()["quarantined"]) == (1, 1)
        assert sorted(setup.target_cards()) == ["anna-1.vcf"]

    def test_an_overlapping_run_exits_with_a_clear_message(
        self, setup: Setup, runner: CliRunner
    ) -> None:
        """While one run holds the lock a second one stops at once and says why."""
        lock = load_config(setup.config).lock
        with lock.open("a+") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            result = runner.invoke(main, ["sync", "--config", str(setup.config)])
        assert result.exit_code == 1
        assert "another sync run" in result.output
        assert setup.target_cards() == {}


class TestFailures:
    def test_wrong_password_exits_1_and_writes_nothing(
        self, setup: Setup, runner: CliRunner
    ) -> None:
        """A refused login is one clear line, exit 1, and the target stays untouched."""
        (setup.tmp / "phone1.pw").write_text("not-the-password\n")
        result = runner.invoke(main, ["sync", "--config", str(setup.config)])
        assert result.exit_code == 1
        assert "refused the login (HTTP 401)" in result.output
        assert "not-the-password" not in result.output
        assert setup.target_cards() == {}

    def test_server_down_is_a_clear_error_after_bounded_retries(
        self, setup: Setup, runner: CliRunner
    ) -> None:
        """An unreachable server gives up after the configured retries with one clear line."""
        setup.write_config(
            target_url=f"http://127.0.0.1:{free_port()}/phone1/book/", source='path = "book.vcf"\n'
        )
        (setup.tmp / "book.vcf").write_text(card("anna-1", "Anna Schmidt", "0170 1234567"))
        result = runner.invoke(main, ["sync", "--config", str(setup.config)])
        assert result.exit_code == 1
        assert "cannot connect (gave up after 3 attempts)" in result.output
        assert len(result.output.strip().splitlines()) == 1

    def test_secrets_never_appear_in_output_report_or_state(
        self, setup: Setup, runner: CliRunner
    ) -> None:
        """Neither password shows up in what the job prints or writes."""
        setup.server.put_card(
            "phone1", setup.target_book, "leak", card("leak-1", "Lea Leak", "+4917099")
        )
        result = runner.invoke(main, ["sync", "--config", str(setup.config)])
        assert result.exit_code == 0, result.output
        config = load_config(setup.config)
        written = result.output + config.report.read_text() + config.state.read_text()  # type: ignore[union-attr]
        for secret in (USERS["it"], USERS["phone1"]):
            assert secret not in written


class TestDryRun:
    def test_dry_run_shows_the_plan_and_changes_nothing(
        self, setup: Setup, runner: CliRunner
    ) -> None:
        """--dry-run prints the plan but writes no card, no state, no quarantine and no report."""
        setup.server.put_card(
            "phone1", setup.target_book, "leak", card("leak-1", "Lea Leak", "+4917099")
        )
        before = setup.target_cards()
        result = runner.invoke(main, ["sync", "--config", str(setup.config), "--dry-run"])
        assert result.exit_code == 0, result.output
        assert "create" in result.output and "delete" in result.output
        assert "would have created 2" in result.output
        assert setup.target_cards() == before
        config = load_config(setup.config)
        assert not config.state.exists()
        assert not config.quarantine.exists()
        assert not config.report.exists()  # type: ignore[union-attr]


class TestReport:
    def test_the_json_report_has_the_decisions_and_the_sync_section(self, setup: Setup) -> None:
        """The report holds one entry per source contact and the counts and actions of the run."""
        setup.run()
        report = json.loads(load_config(setup.config).report.read_text())  # type: ignore[union-attr]
        assert len(report["contacts"]) == 3
        assert report["sync"]["counts"]["created"] == 2
        assert {a["uid"] for a in report["sync"]["actions"]} == {"anna-1", "carla-1"}


class TestConfig:
    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ('password = "hunter2"\n', "never put a secret in the config"),
            ('colour = "blue"\n', "unknown key 'colour'"),
            ('timeout = "soon"\n', "timeout must be a non-negative number"),
            ("concurrency = 50\n", "concurrency must be a whole number from 1 to 8"),
            ("source_cache = 3\n", "source_cache must be true, false or a file name"),
        ],
        ids=["literal-password", "unknown-key", "bad-timeout", "impolite-concurrency", "bad-cache"],
    )
    def test_bad_config_is_a_config_error(self, tmp_path: Path, extra: str, message: str) -> None:
        """A wrong key or value names the file and the key."""
        config = tmp_path / "sync.toml"
        config.write_text(
            f'quarantine = "q/"\n{extra}[source]\npath = "b.vcf"\n'
            '[target]\nurl = "https://dav.example.com/p/"\n[evidence]\nsources = ["l.csv"]\n'
        )
        with pytest.raises(ConfigError, match=message):
            load_config(config)

    def test_missing_password_variable_is_exit_1(
        self, setup: Setup, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An unset password_env variable is named in a one-line error."""
        monkeypatch.delenv("CG_SOURCE_PASSWORD")
        result = runner.invoke(main, ["sync", "--config", str(setup.config)])
        assert result.exit_code == 1
        assert "CG_SOURCE_PASSWORD is not set" in result.output

    def test_relative_paths_are_relative_to_the_config_file(self, setup: Setup) -> None:
        """Quarantine, state and evidence paths resolve next to the config file."""
        config = load_config(setup.config)
        assert config.quarantine == setup.tmp / "quarantine"
        assert config.evidence_sources == (str(setup.tmp / "ledger.csv"),)


class TestSourceCache:
    """The local copy of the source: fetch only what changed, decide everything every run."""

    def cache(self, setup: Setup) -> Path:
        path = load_config(setup.config).source_cache
        assert path is not None
        return path

    def cached_hrefs(self, setup: Setup) -> list[str]:
        with sqlite3.connect(self.cache(setup)) as db:
            return sorted(h.rsplit("/", 1)[1] for (h,) in db.execute("SELECT href FROM cards"))

    def test_a_first_run_fetches_the_whole_source_in_one_request(self, setup: Setup) -> None:
        """An empty cache is filled by one addressbook-query, created readable by the owner only."""
        outcome = setup.run()
        assert outcome.requests["source"] == {"REPORT": 1}
        assert self.cached_hrefs(setup) == ["anna.vcf", "bernd.vcf", "carla.vcf"]
        assert stat.S_IMODE(self.cache(setup).stat().st_mode) == 0o600

    def test_a_no_op_run_sends_no_multiget(self, setup: Setup) -> None:
        """With nothing changed the source gets its listing only: no card is downloaded."""
        setup.run()
        assert setup.run().requests["source"] == {"REPORT": 1}

    def test_a_card_changed_on_the_source_is_fetched_again(self, setup: Setup) -> None:
        """A new ETag on the source fetches that card (listing + one multiget) and syncs it."""
        setup.run()
        setup.server.put_card(
            "it", setup.source_book, "bernd", card("bernd-1", "Bernd Keller", "0170 1234567")
        )
        outcome = setup.run()
        assert outcome.requests["source"] == {"REPORT": 2}
        # Bernd now has Anna's number: merged into her card, so nothing new on the phone
        assert outcome.counts()["created"] == 0
        report = json.loads(load_config(setup.config).report.read_text())  # type: ignore[union-attr]
        reasons = {c["source"].split("/")[-1]: c["reason"] for c in report["contacts"]}
        assert reasons["bernd.vcf:1"] == "merged-duplicate"

    def test_changed_evidence_changes_the_outcome_without_fetching(self, setup: Setup) -> None:
        """A ledger change deletes a contact from the phone while the source is only listed."""
        setup.run()
        setup.write_ledger([ANNA])
        outcome = setup.run()
        assert outcome.requests["source"] == {"REPORT": 1}
        assert outcome.counts()["deleted"] == 1
        assert sorted(setup.target_cards()) == ["anna-1.vcf"]

    def test_a_card_deleted_on_the_source_leaves_the_cache_and_the_phone(
        self, setup: Setup
    ) -> None:
        """A card gone from the source is forgotten by the cache and deleted on the phone."""
        setup.run()
        with setup.server.client("it") as http:
            http.delete(f"/it/{setup.source_book}/carla.vcf").raise_for_status()
        outcome = setup.run()
        assert outcome.counts()["deleted"] == 1
        assert self.cached_hrefs(setup) == ["anna.vcf", "bernd.vcf"]
        assert sorted(setup.target_cards()) == ["anna-1.vcf"]

    @pytest.mark.parametrize("damage", ["corrupt", "missing", "other-source"])
    def test_a_corrupt_or_missing_cache_is_rebuilt(self, setup: Setup, damage: str) -> None:
        """An unreadable, missing or foreign cache is rebuilt by one full fetch; nothing changes."""
        setup.run()
        path = self.cache(setup)
        if damage == "corrupt":
            path.write_bytes(b"this is not a database" * 100)
        elif damage == "missing":
            path.unlink()
        else:
            with sqlite3.connect(path) as db:
                db.execute("UPDATE meta SET value = 'https://elsewhere/' WHERE key = 'source'")
        outcome = setup.run()
        assert outcome.requests["source"] == {"REPORT": 1}
        assert outcome.counts()["unchanged"] == 2
        assert self.cached_hrefs(setup) == ["anna.vcf", "bernd.vcf", "carla.vcf"]

    def test_the_cache_can_be_switched_off(self, setup: Setup) -> None:
        """source_cache = false keeps no copy: every run fetches the whole source."""
        setup.write_config(extra="source_cache = false\n")
        setup.run()
        outcome = setup.run()
        assert load_config(setup.config).source_cache is None
        assert not list(setup.tmp.glob("*.sqlite"))
        assert outcome.requests["source"] == {"REPORT": 1}
        assert outcome.counts()["unchanged"] == 2

    def test_the_report_names_each_contact_by_its_card_url(self, setup: Setup) -> None:
        """Report provenance is <source-url><href>:<line in the card>, not a joined book's line."""
        setup.run()
        report = json.loads(load_config(setup.config).report.read_text())  # type: ignore[union-attr]
        origin = setup.source_url.split("/it/")[0]
        assert sorted(c["source"] for c in report["contacts"]) == [
            f"{origin}/it/{setup.source_book}/{name}.vcf:1" for name in ("anna", "bernd", "carla")
        ]
