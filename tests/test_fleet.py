"""Many phones in one run (``sync --config-dir``, ``[[target]]``), against a real Radicale.

Also: a target that refuses single cards (413, 415, 507), a server without sync-collection,
and group cards - each with fixtures of their own and a hypothesis generator.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import re
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from radicale_server import USERS, RadicaleServer, free_port

from contactguard.cardkind import is_group_card
from contactguard.cli import main
from contactguard.errors import ConfigError
from contactguard.fleet import FLEET_LOCK, load_folder, run_fleet
from contactguard.sync import load_config, run_sync
from contactguard.syncconfig import load_configs

ANNA, CARLA = "+491701234567", "+491723456789"
_ids = itertools.count()


def card(uid: str, name: str, tel: str, extra: str = "") -> str:
    given_name, family = name.split()
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{family};{given_name};;;\r\n"
        f"TEL;TYPE=CELL:{tel}\r\n{extra}END:VCARD\r\n"
    )


class Fleet:
    """A source book on Radicale, ``phones`` empty phone books, one config per phone in a folder."""

    def __init__(self, server: RadicaleServer, tmp: Path, phones: int = 3) -> None:
        n = next(_ids)
        self.server, self.folder = server, tmp / "fleet"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.source = f"fleetsrc{n}"
        self.source_url = server.make_addressbook("it", self.source)
        for uid, name, tel in (
            ("anna-1", "Anna Schmidt", "0170 1234567"),
            ("bernd-1", "Bernd Keller", "0171 2345678"),
            ("carla-1", "Carla Weber", "0172 3456789"),
        ):
            server.put_card("it", self.source, uid, card(uid, name, tel))
        (self.folder / "ledger.csv").write_text(
            "phone,first_inbound_at,first_outbound_at\n"
            + "".join(f"{p},2026-01-10,\n" for p in (ANNA, CARLA))
        )
        (self.folder / "it.pw").write_text(USERS["it"])
        (self.folder / "it.pw").chmod(0o600)  # secret files must be private
        (self.folder / "phone1.pw").write_text(USERS["phone1"])
        (self.folder / "phone1.pw").chmod(0o600)  # secret files must be private
        self.books = [f"fleet{n}p{i}" for i in range(phones)]
        for i, book in enumerate(self.books):
            url = server.make_addressbook("phone1", book)
            (self.folder / f"phone{i}.toml").write_text(self.config(url))

    def config(self, target_url: str, *, password_file: str = "phone1.pw") -> str:
        return (
            'region = "DE"\nquarantine = "quarantine/"\nretries = 0\n'
            f'[source]\nurl = "{self.source_url}"\nusername = "it"\npassword_file = "it.pw"\n'
            f'[target]\nurl = "{target_url}"\nusername = "phone1"\n'
            f'password_file = "{password_file}"\n'
            '[evidence]\nsources = ["ledger.csv"]\n'
        )

    def phone(self, i: int) -> list[str]:
        return sorted(self.server.cards("phone1", self.books[i]))

    def run(self, jobs: int = 2, **kwargs: object):  # type: ignore[no-untyped-def]
        configs, failures = load_folder(self.folder)
        return run_fleet(
            configs, jobs=jobs, failures=failures, lock=self.folder / FLEET_LOCK, **kwargs
        )  # type: ignore[arg-type]


@pytest.fixture
def fleet(radicale: RadicaleServer, tmp_path: Path) -> Fleet:
    return Fleet(radicale, tmp_path)


class Rejecting(httpx.HTTPTransport):
    """The real server, except that PUTs of the named UIDs get the given status."""

    def __init__(self, refuse: dict[str, int], *, no_sync: bool = False) -> None:
        super().__init__()
        self.refuse = refuse
        self.no_sync = no_sync
        self.sync_reports = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            uid = re.search(rb"UID:([^\r\n]+)", request.content)
            status = self.refuse.get(uid.group(1).decode() if uid else "")
            if status is not None:
                return httpx.Response(status, request=request)
        if request.method == "REPORT" and b"sync-collection" in request.content:
            self.sync_reports += 1
            if self.no_sync:
                return httpx.Response(501, request=request)
        return super().handle_request(request)


class TestFleetRun:
    def test_every_phone_gets_its_allowed_cards_and_the_source_is_read_once(
        self, fleet: Fleet
    ) -> None:
        """Three phones, one source fetch; each phone holds exactly the two allowed people."""
        outcome = fleet.run(jobs=3)
        assert outcome.ok and [r.label for r in outcome.results] == [
            "phone0.toml",
            "phone1.toml",
            "phone2.toml",
        ]
        for i in range(3):
            assert fleet.phone(i) == ["anna-1.vcf", "carla-1.vcf"]
        (requests,) = outcome.sources.values()
        assert sum(requests.values()) == 1  # one sync-collection with every card's text
        report = json.loads((fleet.folder / "phone1-report.json").read_text())
        assert report["sync"]["name"] == "phone1.toml"
        assert len(report["contacts"]) == 3

    def test_a_no_op_fleet_run_costs_one_request_per_collection(self, fleet: Fleet) -> None:
        """Nothing changed: one small REPORT to the source and one per phone, nothing written."""
        fleet.run()
        outcome = fleet.run()
        assert list(outcome.sources.values()) == [{"REPORT": 1}]
        for result in outcome.results:
            assert result.outcome is not None
            assert result.outcome.requests == {"target": {"REPORT": 1}}

    def test_the_fleet_gives_each_phone_what_its_single_run_gives(
        self, fleet: Fleet, tmp_path: Path
    ) -> None:
        """Per-phone evidence and policy apply to the shared book as in a one-phone run."""
        (fleet.folder / "only-anna.csv").write_text(
            f"phone,first_inbound_at,first_outbound_at\n{ANNA},2026-01-10,\n"
        )
        config = fleet.folder / "phone2.toml"
        config.write_text(
            config.read_text().replace('"ledger.csv"', '"only-anna.csv"')
            + '[policy]\nkeep_fields = ["ORG"]\n'
        )
        fleet.server.put_card(
            "it",
            fleet.source,
            "anna-1",
            card("anna-1", "Anna Schmidt", "0170 1234567", "ORG:Schmidt AG\r\n"),
        )
        fleet.run()
        assert fleet.phone(2) == ["anna-1.vcf"]
        phone2 = fleet.server.cards("phone1", fleet.books[2])["anna-1.vcf"]
        phone0 = fleet.server.cards("phone1", fleet.books[0])["anna-1.vcf"]
        assert "ORG:Schmidt AG" in phone2 and "ORG" not in phone0
        # the same config run alone writes the same card
        single = fleet.server.make_addressbook("phone1", f"{fleet.books[2]}-single")
        alone = tmp_path / "alone"
        alone.mkdir()
        for name in ("only-anna.csv", "it.pw", "phone1.pw"):
            (alone / name).write_text((fleet.folder / name).read_text())
            (alone / name).chmod(0o600)
        (alone / "single.toml").write_text(
            config.read_text().replace(fleet.server.url + f"/phone1/{fleet.books[2]}/", single)
        )
        run_sync(alone / "single.toml")
        assert fleet.server.cards("phone1", f"{fleet.books[2]}-single") == {"anna-1.vcf": phone2}

    def test_wrong_password_and_server_down_fail_alone(self, fleet: Fleet) -> None:
        """One phone with a wrong password, one unreachable: the third is synced; both named."""
        (fleet.folder / "wrong.pw").write_text("not-the-password")
        (fleet.folder / "wrong.pw").chmod(0o600)
        (fleet.folder / "phone0.toml").write_text(
            fleet.config(fleet.source_url.replace("/it/", "/phone1/"), password_file="wrong.pw")
        )
        (fleet.folder / "phone1.toml").write_text(
            fleet.config(f"http://127.0.0.1:{free_port()}/phone1/x/")
        )
        outcome = fleet.run()
        assert [(r.label, r.ok) for r in outcome.results] == [
            ("phone0.toml", False),
            ("phone1.toml", False),
            ("phone2.toml", True),
        ]
        assert "HTTP 401" in (outcome.results[0].error or "")
        assert "cannot connect" in (outcome.results[1].error or "")
        assert "not-the-password" not in outcome.summary_line()
        assert fleet.phone(2) == ["anna-1.vcf", "carla-1.vcf"]
        assert "phone0.toml, phone1.toml" in outcome.summary_line()

    def test_a_broken_config_fails_its_own_targets_only(self, fleet: Fleet) -> None:
        """A config that is not valid TOML is reported by name; the other phones are synced."""
        (fleet.folder / "phone1.toml").write_text("this is [not toml")
        outcome = fleet.run()
        assert [(r.label, r.ok) for r in outcome.results] == [
            ("phone1.toml", False),
            ("phone0.toml", True),
            ("phone2.toml", True),
        ]
        assert "not valid TOML" in (outcome.results[0].error or "")

    def test_a_source_down_fails_every_phone_that_names_it(self, fleet: Fleet) -> None:
        """When the shared source cannot be read, each of its phones fails; nothing is written."""
        for i in range(3):
            path = fleet.folder / f"phone{i}.toml"
            path.write_text(
                path.read_text().replace(fleet.source_url, f"http://127.0.0.1:{free_port()}/it/")
            )
        outcome = fleet.run()
        assert not outcome.ok and all(
            "source could not be read" in (r.error or "") for r in outcome.results
        )
        assert all(fleet.phone(i) == [] for i in range(3))

    def test_two_configs_for_one_phone_are_refused(self, fleet: Fleet) -> None:
        """A second config naming the same phone book fails instead of fighting the first."""
        (fleet.folder / "phone9.toml").write_text((fleet.folder / "phone0.toml").read_text())
        outcome = fleet.run()
        bad = [r for r in outcome.results if not r.ok]
        assert [r.label for r in bad] == ["phone9.toml"]
        assert "same phone book as phone0.toml" in (bad[0].error or "")

    def test_the_lock_covers_the_whole_run(self, fleet: Fleet, runner: CliRunner) -> None:
        """While another run holds the folder's lock, a fleet run changes nothing and says so."""
        with (fleet.folder / FLEET_LOCK).open("a") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            result = runner.invoke(main, ["sync", "--config-dir", str(fleet.folder)])
        assert result.exit_code == 1
        assert "another sync run over these configs" in result.output
        assert fleet.phone(0) == []

    @settings(
        max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(broken=st.lists(st.booleans(), min_size=3, max_size=3))
    def test_any_set_of_broken_phones_fails_exactly_those(
        self,
        radicale: RadicaleServer,
        tmp_path_factory: pytest.TempPathFactory,
        broken: list[bool],
    ) -> None:
        """Whichever phones are down, exactly those fail and every other one is synced."""
        fleet = Fleet(radicale, tmp_path_factory.mktemp("fleet"))
        for i, down in enumerate(broken):
            if down:
                (fleet.folder / f"phone{i}.toml").write_text(
                    fleet.config(f"http://127.0.0.1:{free_port()}/p/")
                )
        outcome = fleet.run(jobs=3)
        assert [not r.ok for r in outcome.results] == broken
        assert outcome.ok == (not any(broken))
        for i, down in enumerate(broken):
            if not down:
                assert fleet.phone(i) == ["anna-1.vcf", "carla-1.vcf"]


class TestFleetCli:
    def test_exit_status_says_whether_all_succeeded(self, fleet: Fleet, runner: CliRunner) -> None:
        """Exit 0 and one line per phone when all succeed; exit 1 naming the failed phone."""
        ok = runner.invoke(main, ["sync", "--config-dir", str(fleet.folder)])
        assert ok.exit_code == 0, ok.output
        assert all(f"phone{i}.toml" in ok.output for i in range(3))
        assert "3 of 3 targets synced" in ok.output
        (fleet.folder / "phone1.toml").write_text(
            fleet.config(f"http://127.0.0.1:{free_port()}/p/")
        )
        bad = runner.invoke(main, ["sync", "--config-dir", str(fleet.folder), "--jobs", "1"])
        assert bad.exit_code == 1
        assert "1 of 3 targets failed: phone1.toml" in bad.output
        assert "Traceback" not in bad.output

    def test_a_dry_run_shows_each_plan_and_changes_nothing(
        self, fleet: Fleet, runner: CliRunner
    ) -> None:
        """--dry-run prints every phone's plan and writes no card, state, report or cache."""
        result = runner.invoke(main, ["sync", "--config-dir", str(fleet.folder), "--dry-run"])
        assert result.exit_code == 0, result.output
        assert result.output.count("would have created 2") == 3
        assert result.output.count("create ") >= 6
        assert all(fleet.phone(i) == [] for i in range(3))
        written = [p.name for p in fleet.folder.iterdir() if p.suffix in (".json", ".sqlite")]
        assert written == []

    def test_config_and_config_dir_are_exclusive(self, runner: CliRunner) -> None:
        """Exactly one of --config and --config-dir is needed."""
        result = runner.invoke(main, ["sync"])
        assert result.exit_code == 2 and "--config FILE or --config-dir DIR" in result.output

    def test_a_config_with_several_targets_syncs_each(
        self, fleet: Fleet, runner: CliRunner
    ) -> None:
        """[[target]] entries in one file are synced like a folder, each named in the summary."""
        text = fleet.config("unused")
        head = text.split("[target]")[0]
        tail = "[evidence]" + text.split("[evidence]")[1]
        entries = "".join(
            f'[[target]]\nname = "p{i}"\nurl = "{fleet.server.url}/phone1/{book}/"\n'
            'username = "phone1"\npassword_file = "phone1.pw"\n'
            for i, book in enumerate(fleet.books[:2])
        )
        config = fleet.folder / "branches.toml"
        config.write_text(head + tail + entries)
        result = runner.invoke(main, ["sync", "--config", str(config)])
        assert result.exit_code == 0, result.output
        assert "branches.toml[p0]" in result.output and "branches.toml[p1]" in result.output
        assert fleet.phone(0) == fleet.phone(1) == ["anna-1.vcf", "carla-1.vcf"]
        assert (fleet.folder / "branches-p0.state.json").exists()


class TestTargetsConfig:
    def _write(self, tmp_path: Path, targets: str, top: str = "") -> Path:
        config = tmp_path / "multi.toml"
        config.write_text(
            f'quarantine = "q/"\n{top}[source]\npath = "b.vcf"\n'
            '[evidence]\nsources = ["l.csv"]\n' + targets
        )
        return config

    def test_each_target_gets_its_own_state_report_and_lock(self, tmp_path: Path) -> None:
        """Two [[target]]s share the source and evidence; state, report, lock carry the name."""
        config = self._write(
            tmp_path,
            '[[target]]\nname = "berlin"\nurl = "https://dav.example.com/b/"\n'
            '[[target]]\nname = "munich"\nurl = "https://dav.example.com/m/"\n'
            'quarantine = "q-munich/"\n[target.policy]\nkeep_fields = ["ORG"]\n',
        )
        berlin, munich = load_configs(config)
        assert (berlin.name, munich.name) == ("berlin", "munich")
        assert berlin.state.name == "multi-berlin.state.json"
        assert munich.lock.name == "multi-munich.lock"
        assert munich.quarantine.name == "q-munich" and berlin.quarantine.name == "q"
        assert munich.keep_fields == {"ORG"} and berlin.keep_fields == frozenset()
        assert berlin.source == munich.source
        assert munich.label == "multi.toml[munich]"

    @pytest.mark.parametrize(
        ("targets", "message"),
        [
            ('[[target]]\nurl = "https://d.example.com/b/"\n', "needs name"),
            (
                '[[target]]\nname = "a"\nurl = "https://d.example.com/b/"\n'
                '[[target]]\nname = "a"\nurl = "https://d.example.com/c/"\n',
                "used twice",
            ),
            ('[[target]]\nname = "a b"\nurl = "https://d.example.com/b/"\n', "needs name"),
            (
                '[[target]]\nname = "a"\npassword = "x"\nurl = "https://d.example.com/b/"\n',
                "never put a secret",
            ),
        ],
        ids=["no-name", "same-name", "bad-name", "literal-password"],
    )
    def test_bad_targets_are_config_errors(
        self, tmp_path: Path, targets: str, message: str
    ) -> None:
        """A nameless, twice-named or secret-holding [[target]] names the file and the target."""
        with pytest.raises(ConfigError, match=message) as caught:
            load_configs(self._write(tmp_path, targets))
        assert "multi.toml" in str(caught.value)

    def test_a_several_target_config_is_not_read_as_one(self, tmp_path: Path) -> None:
        """load_config refuses a [[target]] file with a pointer to the command that runs it."""
        config = self._write(tmp_path, '[[target]]\nname = "a"\nurl = "https://d.example.com/b/"\n')
        with pytest.raises(ConfigError, match="several"):
            load_config(config)


class TestRejectedCards:
    @pytest.mark.parametrize("status", [413, 415, 507])
    def test_a_card_the_phone_refuses_is_reported_and_the_run_goes_on(
        self, fleet: Fleet, status: int
    ) -> None:
        """The refused card is skipped with the status named; the other card is written."""
        config = fleet.folder / "phone0.toml"
        outcome = run_sync(config, transport=Rejecting({"anna-1": status}))
        assert outcome.counts()["created"] == 1
        assert [(s["uid"], f"HTTP {status}" in s["reason"]) for s in outcome.skipped] == [
            ("anna-1", True)
        ]
        assert fleet.phone(0) == ["carla-1.vcf"]
        report = json.loads((fleet.folder / "phone0-report.json").read_text())
        assert report["sync"]["skipped"][0]["uid"] == "anna-1"
        again = run_sync(config)  # the next run tries again
        assert again.counts()["created"] == 1 and fleet.phone(0) == ["anna-1.vcf", "carla-1.vcf"]

    @settings(
        max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        refuse=st.dictionaries(
            st.sampled_from(["anna-1", "carla-1"]), st.sampled_from([413, 415, 507])
        )
    )
    def test_any_refused_subset_is_skipped_exactly(
        self,
        radicale: RadicaleServer,
        tmp_path_factory: pytest.TempPathFactory,
        refuse: dict[str, int],
    ) -> None:
        """Whichever cards the phone refuses, exactly those are skipped and the rest written."""
        fleet = Fleet(radicale, tmp_path_factory.mktemp("rej"), phones=1)
        outcome = run_sync(fleet.folder / "phone0.toml", transport=Rejecting(refuse))
        assert sorted(s["uid"] for s in outcome.skipped) == sorted(refuse)
        assert fleet.phone(0) == sorted(
            f"{u}.vcf" for u in ("anna-1", "carla-1") if u not in refuse
        )


class TestWithoutSyncCollection:
    def test_a_server_without_sync_collection_is_listed_as_before_and_not_asked_again(
        self, fleet: Fleet
    ) -> None:
        """Refused once, sync-collection is remembered as absent; a no-op is one listing each."""
        config = fleet.folder / "phone0.toml"
        transport = Rejecting({}, no_sync=True)
        first = run_sync(config, transport=transport)
        assert first.counts()["created"] == 2
        asked = transport.sync_reports
        assert asked == 2  # once per collection, then remembered
        second = run_sync(config, transport=transport)
        assert transport.sync_reports == asked
        assert second.requests == {"source": {"REPORT": 1}, "target": {"REPORT": 1}}
        assert json.loads(load_config(config).state.read_text())["sync"] == {"offered": False}


GROUP_KINDS = ["X-ADDRESSBOOKSERVER-KIND", "KIND"]


def _fold(line: str, cuts: list[int], eol: str) -> str:
    """Fold a content line at the given offsets (RFC 6350 §3.2: CRLF + one space)."""
    out, last = [], 0
    for cut in sorted({c for c in cuts if 0 < c < len(line)}):
        out.append(line[last:cut])
        last = cut
    out.append(line[last:])
    return f"{eol} ".join(out)


class TestGroupCards:
    @pytest.mark.parametrize(
        "line",
        [
            "X-ADDRESSBOOKSERVER-KIND:group",
            "KIND:group",
            "kind:GROUP",
            "item1.X-ADDRESSBOOKSERVER-KIND:group",
            "KIND;VALUE=text:group",
        ],
        ids=["apple", "vcard4", "lower-case", "grouped", "parameter"],
    )
    def test_group_markers_are_recognised(self, line: str) -> None:
        """Apple's and vCard 4's group markers, in any case, prefixed or with a parameter."""
        assert is_group_card(f"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Team\r\n{line}\r\nEND:VCARD\r\n")

    @pytest.mark.parametrize(
        "line",
        [
            "KIND:individual",
            "KIND:org",
            "NOTE:KIND:group",
            "X-KIND:group",
            "KIND:groupie",
            "FN:kind group",
        ],
        ids=["individual", "org", "in-a-note", "other-x-name", "longer-value", "in-a-name"],
    )
    def test_people_and_look_alikes_are_not_groups(self, line: str) -> None:
        """Individuals, organisations and text that merely mentions a group are people."""
        assert not is_group_card(f"BEGIN:VCARD\r\nVERSION:4.0\r\n{line}\r\nEND:VCARD\r\n")

    @settings(max_examples=300)
    @given(
        name=st.sampled_from(GROUP_KINDS),
        case=st.lists(st.booleans(), min_size=40, max_size=40),
        prefix=st.sampled_from(["", "item1.", "G2."]),
        param=st.sampled_from(["", ";VALUE=text", ";x-foo=bar"]),
        value=st.sampled_from(["group", "Group", "GROUP", "group "]),
        cuts=st.lists(st.integers(1, 60), max_size=3),
        eol=st.sampled_from(["\r\n", "\n"]),
        member=st.booleans(),
    )
    def test_any_spelling_and_folding_of_a_group_marker_is_recognised(
        self,
        name: str,
        case: list[bool],
        prefix: str,
        param: str,
        value: str,
        cuts: list[int],
        eol: str,
        member: bool,
    ) -> None:
        """Group markers in any letter case, with prefix, parameter and folding, are groups."""
        name = "".join(c.lower() if flip else c for c, flip in zip(name, case, strict=False))
        line = _fold(f"{prefix}{name}{param}:{value}", cuts, eol)
        extra = f"MEMBER:urn:uuid:1{eol}" if member else ""
        text = f"BEGIN:VCARD{eol}VERSION:4.0{eol}FN:Team{eol}{line}{eol}{extra}END:VCARD{eol}"
        assert is_group_card(text)

    @settings(max_examples=300)
    @given(
        value=st.sampled_from(["individual", "org", "location", "groups", "application"]),
        cuts=st.lists(st.integers(1, 30), max_size=2),
        note=st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30),
    )
    def test_any_other_kind_is_a_person(self, value: str, cuts: list[int], note: str) -> None:
        """KIND values other than group, folded anyhow, with any note text, are not groups."""
        line = _fold(f"KIND:{value}", cuts, "\r\n")
        text = f"BEGIN:VCARD\r\nVERSION:4.0\r\n{line}\r\nNOTE:{note}\r\nEND:VCARD\r\n"
        assert not is_group_card(text)


def photo_card(uid: str, name: str, tel: str, kilobytes: int) -> str:
    """A card with a base64 JPEG-like photo of about ``kilobytes`` KiB, folded at 75 octets."""
    blob = ("/9j/4AAQSkZJRgABAQ" + "A" * (kilobytes * 1024))[: kilobytes * 1024]
    folded = "\r\n ".join(blob[i : i + 74] for i in range(0, len(blob), 74))
    return card(uid, name, tel, f"PHOTO;ENCODING=b;TYPE=JPEG:{folded}\r\n")


class TestLargePhotos:
    def test_photos_are_fetched_in_bounded_batches_and_never_kept(
        self, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Large photos are fetched a few cards at a time; neither cache nor phone keeps them."""
        from contactguard import davsync

        monkeypatch.setattr(davsync, "FETCH_BYTES", 700 * 1024)
        for uid, name, tel in (
            ("anna-1", "Anna Schmidt", "0170 1234567"),
            ("bernd-1", "Bernd Keller", "0171 2345678"),
            ("carla-1", "Carla Weber", "0172 3456789"),
        ):
            fleet.server.put_card("it", fleet.source, uid, photo_card(uid, name, tel, 300))
        config = fleet.folder / "phone0.toml"
        outcome = run_sync(config)
        # the whole book would exceed the budget: one refused try, a listing, then multigets
        # that split until each answer holds at most two 300 KiB cards
        assert outcome.requests["source"]["REPORT"] >= 4
        assert fleet.phone(0) == ["anna-1.vcf", "carla-1.vcf"]
        assert "PHOTO" not in "".join(fleet.server.cards("phone1", fleet.books[0]).values())
        cache = load_config(config).source_cache
        assert cache is not None and cache.stat().st_size < 100 * 1024

    @settings(max_examples=200)
    @given(
        sizes=st.lists(st.integers(0, 5000), max_size=30),
        budget=st.integers(1, 8000),
        most=st.integers(1, 5),
    )
    def test_batches_respect_the_byte_budget_and_the_count(
        self, sizes: list[int], budget: int, most: int
    ) -> None:
        """Every card is fetched once, in order; a batch exceeds the budget only as a lone card."""
        from contactguard.davsync import _batches

        hrefs = [f"/b/{i}.vcf" for i in range(len(sizes))]
        batches = list(_batches(hrefs, dict(zip(hrefs, sizes, strict=True)), budget, most))
        assert [h for b in batches for h in b] == hrefs
        for batch in batches:
            weight = sum(sizes[int(h[3:-4])] for h in batch)
            assert len(batch) <= most and (weight <= budget or len(batch) == 1)


class TestSlim:
    @settings(max_examples=300)
    @given(
        prop=st.sampled_from(["PHOTO", "LOGO", "SOUND", "KEY", "photo", "item2.PHOTO"]),
        params=st.sampled_from(["", ";ENCODING=b;TYPE=JPEG", ";VALUE=uri"]),
        blob=st.text("ABCDEFGHabcdefgh0123456789+/=", min_size=1, max_size=400),
        width=st.integers(10, 75),
        eol=st.sampled_from(["\r\n", "\n"]),
    )
    def test_a_bulky_property_goes_with_all_its_folded_lines(
        self, prop: str, params: str, blob: str, width: int, eol: str
    ) -> None:
        """Whatever the folding, the photo is gone and every other line of the card is kept."""
        from contactguard.cardkind import slim

        folded = f"{eol} ".join(blob[i : i + width] for i in range(0, len(blob), width))
        head = f"BEGIN:VCARD{eol}VERSION:3.0{eol}UID:u1{eol}FN:Anna{eol}"
        tail = f"TEL:+491701234567{eol}NOTE:a photo of{eol} the team{eol}END:VCARD{eol}"
        text = f"{head}{prop}{params}:{folded}{eol}{tail}"
        assert slim(text) == head + tail
        assert slim(text, frozenset({prop.rsplit(".", 1)[-1].upper()})) == text
