"""A sync run's PUTs a few at a time (``concurrency``) against a real Radicale: every failure is
still the one card's (412, 413/415/507) or stops the run cleanly (the server gone mid-run), with
the state and the journal holding exactly what reached the phone."""

from __future__ import annotations

import itertools
import json
import re
import threading
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from radicale_server import USERS, RadicaleServer

from contactguard.errors import SyncError
from contactguard.sync import load_config, run_sync

pytestmark = pytest.mark.radicale

PEOPLE = 12  # allowed people: more PUTs than the workers, so several are in flight at once
_ids = itertools.count()


def card(i: int) -> str:
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p-{i:02d}\r\nFN:Person {i}\r\nN:{i};Person;;;\r\n"
        f"TEL;TYPE=CELL:+4917012345{i:02d}\r\nEND:VCARD\r\n"
    )


class Phone:
    """A source of PEOPLE allowed people, an empty phone book, a config with ``concurrency``."""

    def __init__(self, server: RadicaleServer, tmp: Path, concurrency: int = 4) -> None:
        n = next(_ids)
        self.server, self.tmp = server, tmp
        self.book = f"conc{n}"
        source = server.make_addressbook("it", f"concsrc{n}")
        for i in range(PEOPLE):
            server.put_card("it", f"concsrc{n}", f"p{i}", card(i))
        target = server.make_addressbook("phone1", self.book)
        (tmp / "ledger.csv").write_text(
            "phone,first_inbound_at,first_outbound_at\n"
            + "".join(f"+4917012345{i:02d},2026-01-10,\n" for i in range(PEOPLE))
        )
        for user in ("it", "phone1"):
            (tmp / f"{user}.pw").write_text(USERS[user])
            (tmp / f"{user}.pw").chmod(0o600)
        self.config = tmp / "sync.toml"
        self.config.write_text(
            f'region = "DE"\nquarantine = "quarantine/"\nretries = 0\n'
            f"concurrency = {concurrency}\njournal = \"journal.jsonl\"\n"
            f'[source]\nurl = "{source}"\nusername = "it"\npassword_file = "it.pw"\n'
            f'[target]\nurl = "{target}"\nusername = "phone1"\npassword_file = "phone1.pw"\n'
            '[evidence]\nsources = ["ledger.csv"]\n'
        )

    def on_phone(self) -> list[str]:
        return sorted(self.server.cards("phone1", self.book))

    def state(self) -> list[str]:
        cards = json.loads(load_config(self.config).state.read_text())["cards"]
        return sorted(href.rsplit("/", 1)[1] for href in cards)

    def journal(self) -> list[tuple[str, str]]:
        path = self.tmp / "journal.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []  # no change, no file
        return sorted((e["action"], e["uid"]) for e in map(json.loads, lines))


class Refusing(httpx.HTTPTransport):
    """The real server, except that PUTs of the named UIDs get the given status, and (``gone``)
    every request after that many PUTs fails to connect: the server went away."""

    def __init__(self, refuse: dict[str, int], gone: int | None = None) -> None:
        super().__init__()
        self.refuse, self.gone = refuse, gone
        self.puts = 0
        self._count = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            with self._count:
                self.puts += 1
                late = self.gone is not None and self.puts > self.gone
            if late:
                raise httpx.ConnectError("connection refused", request=request)
            uid = re.search(rb"UID:([^\r\n]+)", request.content)
            status = self.refuse.get(uid.group(1).decode() if uid else "")
            if status is not None:
                return httpx.Response(status, request=request)
        elif self.gone is not None and self.puts > self.gone:
            raise httpx.ConnectError("connection refused", request=request)
        return super().handle_request(request)


@pytest.fixture
def phone(radicale: RadicaleServer, tmp_path: Path) -> Phone:
    return Phone(radicale, tmp_path)


def test_a_412_on_one_card_skips_it_and_the_others_are_written(phone: Phone) -> None:
    """Among four PUTs in flight, a card answered 412 is skipped and named; every other card is
    written, recorded and journalled; the next run writes the skipped one."""
    outcome = run_sync(phone.config, transport=Refusing({"p-05": 412}))
    assert [(s["uid"], "HTTP 412" in s["reason"]) for s in outcome.skipped] == [("p-05", True)]
    written = [f"p-{i:02d}.vcf" for i in range(PEOPLE) if i != 5]
    assert phone.on_phone() == written == phone.state()
    assert phone.journal() == [("create", f"p-{i:02d}") for i in range(PEOPLE) if i != 5]
    again = run_sync(phone.config)
    assert again.counts()["created"] == 1 and len(phone.on_phone()) == PEOPLE


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    refuse=st.dictionaries(
        st.sampled_from([f"p-{i:02d}" for i in range(PEOPLE)]), st.sampled_from([413, 415, 507])
    ),
    workers=st.integers(2, 8),
)
def test_any_refused_cards_are_skipped_exactly_whatever_the_workers(
    radicale: RadicaleServer,
    tmp_path_factory: pytest.TempPathFactory,
    refuse: dict[str, int],
    workers: int,
) -> None:
    """Whichever cards the phone refuses (413, 415, 507) with 2-8 PUTs in flight, exactly those
    are skipped, each with its status, and every other card is written, in the state and the
    journal once."""
    phone = Phone(radicale, tmp_path_factory.mktemp("refused"), concurrency=workers)
    outcome = run_sync(phone.config, transport=Refusing(refuse))
    assert sorted(
        (s["uid"], f"HTTP {refuse.get(s['uid'])}" in s["reason"]) for s in outcome.skipped
    ) == sorted((uid, True) for uid in refuse)
    written = [f"p-{i:02d}" for i in range(PEOPLE) if f"p-{i:02d}" not in refuse]
    assert phone.on_phone() == [f"{u}.vcf" for u in written] == phone.state()
    assert phone.journal() == [("create", u) for u in written]


@pytest.mark.parametrize("gone", [0, 3, 7])
def test_a_server_gone_mid_run_stops_it_with_state_and_journal_as_the_phone(
    phone: Phone, gone: int
) -> None:
    """The server goes away after ``gone`` PUTs, with more in flight: the run stops with a clear
    error, the state and the journal hold exactly the cards that reached the phone, and the next
    run writes the rest without writing any card twice."""
    with pytest.raises(SyncError, match="cannot connect"):
        run_sync(phone.config, transport=Refusing({}, gone=gone))
    on_phone = phone.on_phone()
    assert len(on_phone) <= gone
    assert phone.state() == on_phone
    assert phone.journal() == [("create", name[: -len(".vcf")]) for name in on_phone]
    again = run_sync(phone.config)
    assert again.counts()["created"] == PEOPLE - len(on_phone)
    assert again.requests["target"].get("PUT", 0) == PEOPLE - len(on_phone)
    assert len(phone.on_phone()) == PEOPLE
