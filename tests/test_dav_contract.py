"""One CardDAV contract, run against two real servers started on 127.0.0.1: Radicale and Xandikos.

Both offer sync-collection (RFC 6578), so the incremental path runs against real servers; they
differ in what they send (Radicale answers sync-collection with address-data, Xandikos without;
Xandikos refuses an unknown token with 412, Radicale with 403).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from xandikos_server import XandikosServer

from contactguard.carddav import CardDAVClient, Credentials, HttpSession, PreconditionFailed
from contactguard.davsync import InvalidToken, incremental_listing, sync_collection
from contactguard.guards import GuardRefused
from contactguard.sync import load_config, run_sync

pytestmark = pytest.mark.radicale

ANNA, CARLA = "+491701234567", "+491723456789"
_names = itertools.count()


@pytest.fixture(scope="session")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XandikosServer]:
    """A real Xandikos server on 127.0.0.1, shared by the whole session."""
    server = XandikosServer(tmp_path_factory.mktemp("xandikos")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["radicale", "xandikos"])
def dav(request: pytest.FixtureRequest) -> Any:
    """Each contract test runs once per real server."""
    return request.getfixturevalue(request.param)


def card(uid: str, name: str, tel: str, extra: str = "") -> str:
    given, family = name.split()
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
        f"TEL;TYPE=CELL:{tel}\r\n{extra}END:VCARD\r\n"
    )


def group(uid: str, members: list[str], *, v4: bool = False) -> str:
    if v4:
        lines = [f"MEMBER:urn:uuid:{m}" for m in members]
        return (
            f"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:{uid}\r\nKIND:group\r\nFN:Team {uid}\r\n"
            + "".join(line + "\r\n" for line in lines)
            + "END:VCARD\r\n"
        )
    lines = [f"X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:{m}" for m in members]
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Team {uid}\r\nN:Team {uid};;;;\r\n"
        "X-ADDRESSBOOKSERVER-KIND:group\r\n"
        + "".join(line + "\r\n" for line in lines)
        + "END:VCARD\r\n"
    )


def auth_lines(server: Any, user: str, tmp: Path) -> str:
    """The config's login lines for ``user``: a password file, or none (Xandikos)."""
    if user not in server.users:
        return ""
    (tmp / f"{user}.pw").write_text(server.users[user] + "\n")
    (tmp / f"{user}.pw").chmod(0o600)  # secret files must be private
    return f'username = "{user}"\npassword_file = "{user}.pw"\n'


_sessions: list[HttpSession] = []


def dav_client(server: Any, url: str, user: str) -> CardDAVClient:
    password = server.users.get(user)
    credentials = Credentials(user, password) if password else Credentials()
    session = HttpSession(credentials=credentials, retries=0)
    _sessions.append(session)  # closed when the test ends
    return CardDAVClient(url, session)


def stored(server: Any, user: str, book: str) -> dict[str, str]:
    """file name → text of every card in a book, read over HTTP (not by the code under test)."""
    with server.client(user) as http:
        answer = http.request("PROPFIND", f"/{user}/{book}/", headers={"Depth": "1"})
        hrefs = sorted(
            {
                part.split("</", 1)[0]
                for part in answer.text.split("href>")[1::2]
                if part.split("</", 1)[0].endswith(".vcf")
            }
        )
        return {h.rsplit("/", 1)[1]: http.get(h).text for h in hrefs}


def delete_card(server: Any, user: str, book: str, name: str) -> None:
    with server.client(user) as http:
        http.delete(f"/{user}/{book}/{name}").raise_for_status()


class Fixture:
    """A source book with three people, an empty phone book, a ledger and a config."""

    def __init__(self, server: Any, tmp: Path) -> None:
        n = next(_names)
        self.server, self.tmp = server, tmp
        self.source_book, self.target_book = f"src{n}", f"phone{n}"
        self.source_url = server.make_addressbook("it", self.source_book)
        self.target_url = server.make_addressbook("phone1", self.target_book)
        self.put_source("anna", card("anna-1", "Anna Schmidt", "0170 1234567"))
        self.put_source("bernd", card("bernd-1", "Bernd Keller", "0171 2345678"))
        self.put_source("carla", card("carla-1", "Carla Weber", "0172 3456789"))
        (tmp / "ledger.csv").write_text(
            "phone,first_inbound_at,first_outbound_at\n"
            + "".join(f"{p},2026-01-10,\n" for p in (ANNA, CARLA))
        )
        self.config = tmp / "sync.toml"
        self.config.write_text(self.config_text(self.target_url))

    def config_text(self, target_url: str, *, name: str = "") -> str:
        return (
            'region = "DE"\nquarantine = "quarantine/"\nretries = 0\n'
            f'[source]\nurl = "{self.source_url}"\n{auth_lines(self.server, "it", self.tmp)}'
            f'[target]\nurl = "{target_url}"\n{auth_lines(self.server, "phone1", self.tmp)}'
            '[evidence]\nsources = ["ledger.csv"]\n'
        )

    def put_source(self, name: str, text: str) -> None:
        self.server.put_card("it", self.source_book, name, text)

    def phone(self) -> dict[str, str]:
        return stored(self.server, "phone1", self.target_book)


@pytest.fixture
def fx(dav: Any, tmp_path: Path) -> Iterator[Fixture]:
    yield Fixture(dav, tmp_path)
    while _sessions:
        _sessions.pop().close()


class TestClientContract:
    def test_listing_fetch_all_and_multiget_agree(self, fx: Fixture) -> None:
        """The listing, a fetch of every card and a multiget name the same cards and ETags."""
        client = dav_client(fx.server, fx.source_url, "it")
        listing = client.listing()
        assert sorted(h.rsplit("/", 1)[1] for h in listing) == [
            "anna.vcf",
            "bernd.vcf",
            "carla.vcf",
        ]
        every = {c.href: c for c in client.fetch_all()}
        assert {h: c.etag for h, c in every.items()} == listing
        fetched = {c.href: c for c in client.multiget(sorted(listing))}
        assert {h: c.etag for h, c in fetched.items()} == listing
        assert all("BEGIN:VCARD" in (c.data or "") for c in fetched.values())

    def test_writes_honour_etags(self, fx: Fixture) -> None:
        """A second create of one href and an update with a stale ETag both fail with 412."""
        client = dav_client(fx.server, fx.target_url, "phone1")
        href = client.href_for("x-1")
        etag = client.put(href, card("x-1", "Xaver Maier", "0170 9999999").encode(), None)
        with pytest.raises(PreconditionFailed):
            client.put(href, card("x-1", "Xaver Maier", "0170 9999999").encode(), None)
        current = client.listing()[href]
        assert etag is None or etag == current
        with pytest.raises(PreconditionFailed):
            client.put(href, card("x-1", "Xaver Maier", "0170 8888888").encode(), "stale")
        client.delete(href, current)
        assert client.listing() == {}

    def test_sync_collection_reports_exactly_the_changes_since_a_token(self, fx: Fixture) -> None:
        """After one add, one change and one removal, the token's delta names just those."""
        client = dav_client(fx.server, fx.source_url, "it")
        first = sync_collection(client, "")
        assert first is not None and len(first.changed) == 3 and not first.removed
        fx.put_source("dora", card("dora-1", "Dora Lang", "0173 4567890"))
        fx.put_source("anna", card("anna-1", "Anna Schmidt", "0170 1234567", "ORG:X\r\n"))
        delete_card(fx.server, "it", fx.source_book, "bernd.vcf")
        delta = sync_collection(client, first.token)
        assert delta is not None
        assert sorted(h.rsplit("/", 1)[1] for h in delta.changed) == ["anna.vcf", "dora.vcf"]
        assert [h.rsplit("/", 1)[1] for h in delta.removed] == ["bernd.vcf"]
        again = sync_collection(client, delta.token)
        assert again is not None and not again.changed and not again.removed

    def test_an_unknown_token_is_refused_and_costs_a_full_listing(self, fx: Fixture) -> None:
        """The server refuses a made-up token; the incremental listing then lists every card."""
        client = dav_client(fx.server, fx.source_url, "it")
        with pytest.raises(InvalidToken):
            sync_collection(client, "http://example.com/made-up-token/1")
        full = dav_client(fx.server, fx.source_url, "it").listing()
        got = incremental_listing(client, {}, "made-up", client.url)
        assert got is not None and got.cards == full and got.token

    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        token=st.one_of(
            st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60),
            st.builds(
                lambda n: f"http://radicale.org/ns/sync/{n:064x}", st.integers(0, 2**256 - 1)
            ),
            st.builds(lambda n: f"{n:040x}", st.integers(0, 2**160 - 1)),
        )
    )
    def test_any_made_up_token_is_refused_and_listed_in_full(self, fx: Fixture, token: str) -> None:
        """Tokens in either server's shape or none at all are refused; the listing is complete."""
        client = dav_client(fx.server, fx.source_url, "it")
        client.collection = client.url
        with pytest.raises(InvalidToken):
            sync_collection(client, token)
        got = incremental_listing(client, {"/gone.vcf": "x"}, token, client.url)
        assert got is not None and len(got.cards) == 3 and "/gone.vcf" not in got.cards


class TestSyncContract:
    def test_first_run_fills_the_phone_and_a_no_op_costs_one_request_per_collection(
        self, fx: Fixture
    ) -> None:
        """Two allowed cards land on the phone; a second run sends one small REPORT per book."""
        first = run_sync(fx.config)
        assert first.counts()["created"] == 2
        assert sorted(fx.phone()) == ["anna-1.vcf", "carla-1.vcf"]
        second = run_sync(fx.config)
        assert second.requests == {"source": {"REPORT": 1}, "target": {"REPORT": 1}}
        third = run_sync(fx.config)
        assert third.requests == {"source": {"REPORT": 1}, "target": {"REPORT": 1}}
        state = json.loads(load_config(fx.config).state.read_text())
        assert state["sync"]["token"]  # both servers offer sync-collection

    def test_a_changed_source_card_costs_requests_for_the_change_only(self, fx: Fixture) -> None:
        """One changed source card: at most a delta and one multiget, and it reaches the phone."""
        run_sync(fx.config)
        fx.put_source("carla", card("carla-1", "Carla Weber-Lang", "0172 3456789"))
        outcome = run_sync(fx.config)
        assert sum(outcome.requests["source"].values()) <= 2
        assert outcome.counts()["updated"] == 1
        assert "Weber-Lang" in fx.phone()["carla-1.vcf"]

    def test_a_card_added_on_the_phone_is_seen_by_the_delta(self, fx: Fixture) -> None:
        """A card someone put on the phone after a run is quarantined and deleted by the next."""
        run_sync(fx.config)
        run_sync(fx.config)
        fx.server.put_card("phone1", fx.target_book, "zoe", card("zoe-1", "Zoe Roth", "0175 1"))
        outcome = run_sync(fx.config)
        assert outcome.counts()["deleted"] == 1 and outcome.counts()["quarantined"] == 1
        assert sorted(fx.phone()) == ["anna-1.vcf", "carla-1.vcf"]

    def test_an_invalid_token_in_the_state_falls_back_to_a_full_listing(self, fx: Fixture) -> None:
        """A token the server no longer knows costs a full listing; nothing is lost or rewritten."""
        run_sync(fx.config)
        _expire_phone_token(fx)
        outcome = run_sync(fx.config)
        assert outcome.counts()["unchanged"] == 2
        assert outcome.requests["target"].get("PUT", 0) == 0
        assert _state(fx)["sync"]["token"] != EXPIRED_TOKEN

    def test_group_cards_are_never_synced_and_are_counted(self, fx: Fixture) -> None:
        """An Apple group and a vCard 4 group in the source stay off the phone, counted."""
        fx.put_source("team", group("team-1", ["anna-1", "carla-1"]))
        fx.put_source("team4", group("team-4", ["anna-1"], v4=True))
        outcome = run_sync(fx.config)
        assert outcome.plan.groups == 2
        assert sorted(fx.phone()) == ["anna-1.vcf", "carla-1.vcf"]
        report = json.loads(load_config(fx.config).report.read_text())  # type: ignore[union-attr]
        assert report["sync"]["groups"] == 2


class TestFleetContract:
    def test_a_folder_of_phones_reads_the_source_once_and_a_broken_phone_fails_alone(
        self, fx: Fixture, tmp_path: Path
    ) -> None:
        """Three phones share one source fetch; a phone whose server is down fails on its own."""
        from contactguard.fleet import load_folder, run_fleet

        folder = tmp_path / "fleet"
        folder.mkdir()
        for name in ("a", "b"):
            url = fx.server.make_addressbook("phone1", f"{fx.target_book}{name}")
            (folder / f"{name}.toml").write_text(
                fx.config_text(url).replace("ledger.csv", "../ledger.csv")
            )
        (folder / "c.toml").write_text(
            fx.config_text("http://127.0.0.1:9/phone/").replace("ledger.csv", "../ledger.csv")
        )
        for pw in tmp_path.glob("*.pw"):
            (folder / pw.name).write_text(pw.read_text())
            (folder / pw.name).chmod(0o600)
        configs, failures = load_folder(folder)
        outcome = run_fleet(configs, jobs=3, failures=failures, lock=folder / ".lock")
        assert [(r.label, r.ok) for r in outcome.results] == [
            ("a.toml", True),
            ("b.toml", True),
            ("c.toml", False),
        ]
        assert (
            "c.toml" in outcome.summary_line() and "2 of 3 targets synced" in outcome.summary_line()
        )
        created = [r.outcome.counts()["created"] for r in outcome.results if r.outcome]
        assert created == [2, 2]
        (source_requests,) = outcome.sources.values()
        assert sum(source_requests.values()) <= 2  # one fetch for all three phones
        again = run_fleet(configs, jobs=3, lock=folder / ".lock")
        (source_requests,) = again.sources.values()
        assert source_requests == {"REPORT": 1}
        for result in again.results[:2]:
            assert result.outcome is not None
            assert result.outcome.requests == {"target": {"REPORT": 1}}
            assert result.outcome.plan.reused  # nothing changed: no phone decided again

    def test_a_fleet_reuses_per_phone_and_decides_again_where_evidence_changed(
        self, fx: Fixture, tmp_path: Path
    ) -> None:
        """Two phones with their own ledgers: after one ledger changes, only that phone decides
        again; the shared source is fetched once and parsed only for it."""
        from contactguard.fleet import load_folder, run_fleet

        folder = tmp_path / "fleet"
        folder.mkdir()
        for name in ("a", "b"):
            url = fx.server.make_addressbook("phone1", f"{fx.target_book}{name}")
            (folder / f"{name}.csv").write_text((tmp_path / "ledger.csv").read_text())
            (folder / f"{name}.toml").write_text(
                fx.config_text(url).replace("ledger.csv", f"{name}.csv")
            )
        for pw in tmp_path.glob("*.pw"):
            (folder / pw.name).write_text(pw.read_text())
            (folder / pw.name).chmod(0o600)
        configs, _ = load_folder(folder)
        first = run_fleet(configs, jobs=2, lock=folder / ".lock")
        created = [r.outcome.counts()["created"] for r in first.results if r.outcome]
        assert first.ok and created == [2, 2]
        ledger = folder / "b.csv"
        ledger.write_text(ledger.read_text() + "+491712345678,2026-01-11,\n")
        again = run_fleet(configs, jobs=2, lock=folder / ".lock")
        outcomes = [r.outcome for r in again.results]
        assert outcomes[0] is not None and outcomes[1] is not None
        assert outcomes[0].plan.reused and not outcomes[1].plan.reused
        assert outcomes[1].counts()["created"] == 1
        (source_requests,) = again.sources.values()
        assert source_requests == {"REPORT": 1}


def _state(fx: Fixture) -> dict[str, Any]:
    return dict(json.loads(load_config(fx.config).state.read_text()))


EXPIRED_TOKEN = "http://example.com/expired/1"


def _expire_phone_token(fx: Fixture) -> None:
    """Put a sync token the server never gave out into the phone's state."""
    state_file = load_config(fx.config).state
    state = json.loads(state_file.read_text())
    state["sync"]["token"] = EXPIRED_TOKEN
    state_file.write_text(json.dumps(state))


def _report(fx: Fixture) -> dict[str, Any]:
    path = load_config(fx.config).report
    assert path is not None
    return dict(json.loads(path.read_text()))


def _decided(report: dict[str, Any]) -> list[tuple[str, bool]]:
    """(card, decision) of every entry a report holds: what its decisions were."""
    return sorted((c["source"], c["decision"]) for c in report["contacts"])


class TestReuse:
    """A run with nothing new to decide costs one listing per collection and no parsing; any
    change it depends on (source, phone, evidence, policy, time) makes it decide again."""

    def test_an_unchanged_run_reuses_the_last_decisions_and_report(self, fx: Fixture) -> None:
        """After a converged run, the next is reused: one REPORT per book, same report body."""
        first = run_sync(fx.config)
        assert not first.plan.reused and first.counts()["created"] == 2
        before = _report(fx)
        second = run_sync(fx.config)
        assert second.plan.reused
        assert second.requests == {"source": {"REPORT": 1}, "target": {"REPORT": 1}}
        assert second.counts() == {
            "created": 0, "updated": 0, "deleted": 0, "quarantined": 0, "skipped": 0,
            "unchanged": 2,
        }
        after = _report(fx)
        assert _decided(after) == _decided(before) and len(after["contacts"]) == 3
        assert after["sync"]["reused"] is True and after["sync"]["counts"]["unchanged"] == 2
        assert second.plan.summary.contacts_in == 3 and second.plan.summary.contacts_kept == 2
        assert _state(fx)["memo"]["source"]

    @pytest.mark.parametrize("region", ["DE", None])
    def test_a_reused_run_imports_no_engine(self, fx: Fixture, region: str | None) -> None:
        """A reused CLI run imports neither the engine nor, without a region to check,
        phonenumbers; a run that decides does (the check can fail)."""
        if region is None:
            fx.config.write_text(fx.config_text(fx.target_url).replace('region = "DE"\n', ""))
        engine = ["contactguard.pipeline", "contactguard.policy", "contactguard.books",
                  "contactguard.evidence", "contactguard.report", "contactguard.fleet"]
        probe = (
            "import json, sys\n"
            "from contactguard.cli import main\n"
            f"main(['sync', '--config', {str(fx.config)!r}, '--quiet'], standalone_mode=False)\n"
            f"print(json.dumps([m for m in {[*engine, 'phonenumbers']!r} if m in sys.modules]))\n"
        )

        def loaded() -> list[str]:
            done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                  check=True, cwd=fx.tmp)
            found: list[str] = json.loads(done.stdout.splitlines()[-1])
            return found

        assert set(loaded()) >= {"contactguard.pipeline", "phonenumbers"}  # decided
        assert _report(fx)["sync"]["reused"] is False
        reused = loaded()
        assert _report(fx)["sync"]["reused"] is True
        assert reused == ([] if region is None else ["phonenumbers"])

    def test_a_change_on_the_source_only_is_decided_and_synced(self, fx: Fixture) -> None:
        """An edited source card ends the reuse: it is decided again and reaches the phone."""
        run_sync(fx.config)
        assert run_sync(fx.config).plan.reused
        fx.put_source("anna", card("anna-1", "Anna Schmidt-Otto", "0170 1234567"))
        changed = run_sync(fx.config)
        assert not changed.plan.reused and changed.counts()["updated"] == 1
        assert "Schmidt-Otto" in fx.phone()["anna-1.vcf"]
        assert run_sync(fx.config).plan.reused

    def test_a_card_added_on_the_phone_ends_the_reuse(self, fx: Fixture) -> None:
        """A card someone put on the phone is seen, quarantined and deleted, never reused past."""
        run_sync(fx.config)
        fx.server.put_card("phone1", fx.target_book, "zoe", card("zoe-1", "Zoe Roth", "0175 1"))
        outcome = run_sync(fx.config)
        assert not outcome.plan.reused
        assert outcome.counts()["deleted"] == 1 and outcome.counts()["quarantined"] == 1
        assert sorted(fx.phone()) == ["anna-1.vcf", "carla-1.vcf"]

    def test_a_card_edited_on_the_phone_ends_the_reuse(self, fx: Fixture) -> None:
        """A card edited on the phone (new ETag) is quarantined and written back."""
        run_sync(fx.config)
        edited = fx.phone()["anna-1.vcf"].replace("END:VCARD", "NOTE:mine\r\nEND:VCARD")
        fx.server.put_card("phone1", fx.target_book, "anna-1", edited)
        outcome = run_sync(fx.config)
        assert not outcome.plan.reused and outcome.counts()["quarantined"] == 1
        assert "NOTE:mine" not in fx.phone()["anna-1.vcf"]

    def test_changed_evidence_is_decided_again(self, fx: Fixture) -> None:
        """Bernd writing first (a new ledger row) ends the reuse and puts him on the phone."""
        run_sync(fx.config)
        ledger = fx.tmp / "ledger.csv"
        ledger.write_text(ledger.read_text() + "+491712345678,2026-01-11,\n")
        outcome = run_sync(fx.config)
        assert not outcome.plan.reused and outcome.counts()["created"] == 1
        assert sorted(fx.phone()) == ["anna-1.vcf", "bernd-1.vcf", "carla-1.vcf"]

    def test_changed_policy_is_decided_again(self, fx: Fixture) -> None:
        """A config that keeps a field more ends the reuse and rewrites the cards."""
        fx.put_source("anna", card("anna-1", "Anna Schmidt", "0170 1234567", "ORG:Acme\r\n"))
        run_sync(fx.config)
        assert "ORG" not in fx.phone()["anna-1.vcf"]
        fx.config.write_text(fx.config.read_text() + '[policy]\nkeep_fields = ["ORG"]\n')
        outcome = run_sync(fx.config)
        assert not outcome.plan.reused and outcome.counts()["updated"] == 1
        assert "ORG:Acme" in fx.phone()["anna-1.vcf"]

    def test_evidence_that_ages_out_ends_the_reuse_on_time(self, fx: Fixture) -> None:
        """With max_age, a run before Anna's evidence ages out is reused, one after is not."""
        from datetime import datetime, timezone

        fx.config.write_text(fx.config.read_text() + '[policy]\nmax_age = "30d"\n')
        (fx.tmp / "ledger.csv").write_text(
            "phone,first_inbound_at,first_outbound_at\n"
            f"{ANNA},2026-01-01,\n{CARLA},2026-01-20,\n"
        )
        start = datetime(2026, 1, 25, tzinfo=timezone.utc)
        assert run_sync(fx.config, now=start).counts()["created"] == 2
        assert _state(fx)["memo"]["expires"].startswith("2026-01-31")
        assert run_sync(fx.config, now=datetime(2026, 1, 30, tzinfo=timezone.utc)).plan.reused
        later = run_sync(fx.config, now=datetime(2026, 2, 1, tzinfo=timezone.utc))
        assert not later.plan.reused and later.counts()["deleted"] == 1
        assert sorted(fx.phone()) == ["carla-1.vcf"]

    def test_an_invalid_token_still_reuses_after_a_full_listing(self, fx: Fixture) -> None:
        """A phone token the server refuses costs a full listing; the phone is as written, so
        the run is still reused and a new token kept."""
        run_sync(fx.config)
        _expire_phone_token(fx)
        outcome = run_sync(fx.config)
        assert outcome.plan.reused and outcome.counts()["unchanged"] == 2
        assert _state(fx)["sync"]["token"] != EXPIRED_TOKEN

    def test_a_dry_run_and_a_lost_report_are_never_reused(self, fx: Fixture) -> None:
        """A dry run always decides (it shows the plan); a missing report makes a full run."""
        run_sync(fx.config)
        assert not run_sync(fx.config, dry_run=True).plan.reused
        report = load_config(fx.config).report
        assert report is not None
        report.unlink()
        outcome = run_sync(fx.config)
        assert not outcome.plan.reused and len(_report(fx)["contacts"]) == 3


# one step of a change sequence: (what, which person)
_STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["edit source", "drop source", "add evidence", "drop evidence", "add on phone",
             "edit on phone", "nothing"]
        ),
        st.sampled_from(["anna", "bernd", "carla", "dora"]),
    ),
    min_size=1,
    max_size=4,
)
_PEOPLE = {
    "anna": ("anna-1", "Anna Schmidt", "0170 1234567", ANNA),
    "bernd": ("bernd-1", "Bernd Keller", "0171 2345678", "+491712345678"),
    "carla": ("carla-1", "Carla Weber", "0172 3456789", CARLA),
    "dora": ("dora-1", "Dora Lang", "0173 4567890", "+491734567890"),
}


@pytest.mark.parametrize("dav", ["radicale"], indirect=True)
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=_STEPS)
@example(steps=[("drop evidence", "anna"), ("drop evidence", "carla"), ("add evidence", "dora")])
def test_incremental_runs_end_where_a_fresh_full_run_ends(
    dav: Any, tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, str]]
) -> None:
    """After any sequence of changes, each incremental (or reused) run leaves the phone holding
    exactly what a first run into an empty phone book writes; with no evidence left at all,
    the run is refused and the phone left as it was."""
    tmp = tmp_path_factory.mktemp("seq")
    fx = Fixture(dav, tmp)
    allowed = {"anna", "carla"}
    try:
        run_sync(fx.config)
        for number, (what, who) in enumerate(steps):
            uid, name, tel, _ = _PEOPLE[who]
            if what == "edit source":
                fx.put_source(who, card(uid, name, tel, f"NOTE:step {number}\r\n"))
            elif what == "drop source" and who in ("anna", "bernd", "carla"):
                with contextlib.suppress(Exception):
                    delete_card(dav, "it", fx.source_book, f"{who}.vcf")
            elif what in ("add evidence", "drop evidence"):
                (allowed.add if what == "add evidence" else allowed.discard)(who)
                fx.tmp.joinpath("ledger.csv").write_text(
                    "phone,first_inbound_at,first_outbound_at\n"
                    + "".join(f"{_PEOPLE[p][3]},2026-01-10,\n" for p in sorted(allowed))
                )
            elif what == "add on phone":
                dav.put_card("phone1", fx.target_book, f"x{number}", card(f"x-{number}", name, tel))
            elif what == "edit on phone":
                on_phone = fx.phone()
                if on_phone:
                    file, text = sorted(on_phone.items())[0]
                    edited = text.replace("END:VCARD", f"NOTE:phone {number}\r\nEND:VCARD")
                    dav.put_card("phone1", fx.target_book, file[: -len(".vcf")], edited)
            if not allowed:  # no evidence at all: the guard refuses the run, nothing changes
                before = fx.phone()
                with pytest.raises(GuardRefused, match="no identity at all"):
                    run_sync(fx.config)
                assert fx.phone() == before
                continue
            run_sync(fx.config)
            fresh_book = f"{fx.target_book}f{number}"
            fresh_url = dav.make_addressbook("phone1", fresh_book)
            fresh = tmp / f"fresh{number}"
            fresh.mkdir()
            for file in ("ledger.csv", "it.pw", "phone1.pw"):
                if (tmp / file).exists():
                    (fresh / file).write_text((tmp / file).read_text())
                    (fresh / file).chmod(0o600)
            (fresh / "sync.toml").write_text(fx.config_text(fresh_url))
            run_sync(fresh / "sync.toml")
            assert fx.phone() == stored(dav, "phone1", fresh_book)
    finally:
        while _sessions:
            _sessions.pop().close()


# the quick path against the reference: numbers shared between cards (merges), cards without a
# number, an invalid number; each number's evidence: wrote first, business wrote first, or none
_NUMBERS = ["0170 1234567", "0171 2345678", "0172 3456789", "0173 4567890", "12"]
_E164 = {n: "+49" + n.replace(" ", "")[1:] for n in _NUMBERS if n != "12"}
_EVIDENCE = st.dictionaries(
    st.sampled_from(sorted(_E164.values())), st.sampled_from(["inbound", "business"])
)
_BOOK = st.lists(
    st.tuples(st.sampled_from(["Anna Schmidt", "Bernd Keller", "Carla Weber"]),
              st.lists(st.sampled_from(_NUMBERS), min_size=0, max_size=2)),
    min_size=1,
    max_size=6,
)


def _ledger(evidence: dict[str, str]) -> str:
    rows = {"inbound": "2026-01-10,", "business": "2026-02-10,2026-02-01"}
    return "phone,first_inbound_at,first_outbound_at\n" + "".join(
        f"{number},{rows[state]}\n" for number, state in sorted(evidence.items())
    )


def _seen(outcome: Any, report: Path) -> tuple[object, ...]:
    """What a run decided and did, blind to its timing and its phone's URL."""
    data = json.loads(report.read_text())
    journal = sorted((e.action, e.uid, e.numbers, e.reason) for e in outcome.journal)
    return data["contacts"], data["summary"], outcome.counts(), journal


@pytest.mark.parametrize("dav", ["radicale"], indirect=True)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(book=_BOOK, before=_EVIDENCE, after=_EVIDENCE, edit=st.integers(0, 5))
@example(  # a card we wrote loses its evidence: its deletion's reason comes from the quick path
    book=[("Anna Schmidt", ["0170 1234567"]), ("Bernd Keller", ["0171 2345678", "0170 1234567"]),
          ("Carla Weber", ["0172 3456789"])],
    before={ANNA: "inbound", CARLA: "inbound"},
    after={CARLA: "business"},
    edit=1,
)
def test_the_quick_path_syncs_and_reports_as_the_reference(
    dav: Any,
    tmp_path_factory: pytest.TempPathFactory,
    book: list[tuple[str, list[str]]],
    before: dict[str, str],
    after: dict[str, str],
    edit: int,
) -> None:
    """A sync decided on the engine's quick path leaves the phone, the report and the journal
    (reasons and masked numbers of every deletion) exactly as a run in reference mode, on a
    first run and after the evidence and a source card change."""
    from contactguard import fastpaths

    tmp = tmp_path_factory.mktemp("quick")
    fx = Fixture(dav, tmp)
    try:
        for name in ("anna", "bernd", "carla"):
            delete_card(dav, "it", fx.source_book, f"{name}.vcf")
        for i, (name, numbers) in enumerate(book):
            tels = "".join(f"TEL;TYPE=CELL:{n}\r\n" for n in numbers)
            given, family = name.split()
            fx.put_source(f"p{i}", f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p-{i}\r\nFN:{name}\r\n"
                                   f"N:{family};{given};;;\r\n{tels}END:VCARD\r\n")
        phones = {}
        for mode in ("quick", "reference"):
            folder = tmp / mode
            folder.mkdir()
            for file in ("it.pw", "phone1.pw"):
                if (tmp / file).exists():
                    (folder / file).write_text((tmp / file).read_text())
                    (folder / file).chmod(0o600)
            phones[mode] = f"{fx.target_book}{mode[0]}"
            url = dav.make_addressbook("phone1", phones[mode])
            # one ledger for both: the report names the evidence file
            (folder / "sync.toml").write_text(
                fx.config_text(url).replace('"ledger.csv"', f'"{tmp / "ledger.csv"}"'))
        (tmp / "ledger.csv").write_text(_ledger(before))
        seen: dict[str, list[tuple[object, ...]]] = {"quick": [], "reference": []}
        for step in range(2):
            if step == 1:
                (tmp / "ledger.csv").write_text(_ledger(after))
                i = edit % len(book)
                name = book[i][0]
                fx.put_source(f"p{i}", f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p-{i}\r\n"
                                       f"FN:{name} Neu\r\nN:Neu;{name};;;\r\n"
                                       f"TEL:{_NUMBERS[edit % 4]}\r\nEND:VCARD\r\n")
            for mode in seen:
                with fastpaths.reference(mode == "reference"):
                    outcome = run_sync(tmp / mode / "sync.toml", force=True)
                seen[mode].append(_seen(outcome, tmp / mode / "sync-report.json"))
            assert seen["quick"][step] == seen["reference"][step]
            assert stored(dav, "phone1", phones["quick"]) == stored(
                dav, "phone1", phones["reference"])
    finally:
        while _sessions:
            _sessions.pop().close()
