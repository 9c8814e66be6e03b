"""A sync run's first PUTs one at a time against a few at a time (``concurrency``), side by side.

    .venv/bin/python benchmarks/bench_sync_puts.py [--server radicale|xandikos] [--cards 150]
        [--rtt 0.04] [--rounds 4] [--workers 4]

Generates ``--cards`` people who all wrote first, puts them into a source book on a local server
(started the way the tests start it, no setting changed), then times ``run_sync`` in this process
into an empty phone book, with ``concurrency = 1`` and ``concurrency = --workers`` alternately
(``--rounds`` each; the order flips every round so that neither always goes first). Almost all of
such a run is its ``--cards`` PUTs (each with ``If-None-Match: *``).

``--rtt`` adds that many seconds before every request the job sends (its httpx transport sleeps
first): the round trip to a server elsewhere, which a server on 127.0.0.1 does not have. With
``--rtt 0`` the figure is the server's own cost per PUT: Radicale takes a storage-wide lock and
fsyncs for each, Xandikos makes a Git commit for each, so PUTs in flight at once wait for each
other there; with a round trip, the PUTs in flight overlap their waits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_sync import start_server  # noqa: E402
from radicale_server import USERS, RadicaleServer  # noqa: E402

from contactguard.sync import run_sync  # noqa: E402


class Distant(httpx.HTTPTransport):
    """httpx's transport, each request sent ``rtt`` seconds late: a server across a network."""

    def __init__(self, rtt: float) -> None:
        super().__init__()
        self.rtt = rtt

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.rtt:
            time.sleep(self.rtt)
        return super().handle_request(request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("radicale", "xandikos"), default="radicale")
    parser.add_argument("--cards", type=int, default=150)
    parser.add_argument("--rtt", type=float, default=0.04,
                        help="seconds added before every request (default 0.04)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4, help="PUTs in flight (default 4)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cg-puts-") as tmp_name:
        tmp = Path(tmp_name)
        server = start_server(args.server, tmp)
        try:
            source = server.make_addressbook("it", "all")
            numbers = [f"+4915{100000000 + i}" for i in range(args.cards)]
            for i, number in enumerate(numbers):
                server.put_card("it", "all", f"p{i}", (
                    f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p-{i:05d}\r\nFN:Person {i}\r\n"
                    f"N:{i};Person;;;\r\nTEL;TYPE=CELL:{number}\r\nEND:VCARD\r\n"))
            logins = isinstance(server, RadicaleServer)
            for user in ("it", "phone1"):
                (tmp / f"{user}.pw").write_text(USERS[user])
                (tmp / f"{user}.pw").chmod(0o600)
            (tmp / "ledger.csv").write_text(
                "phone,first_inbound_at,first_outbound_at\n"
                + "".join(f"{n},2026-01-10,\n" for n in numbers))
            times: dict[int, list[float]] = {1: [], args.workers: []}
            for round_no in range(args.rounds):
                order = (1, args.workers) if round_no % 2 == 0 else (args.workers, 1)
                for workers in order:
                    book = f"w{workers}r{round_no}"
                    target = server.make_addressbook("phone1", book)
                    folder = tmp / book
                    folder.mkdir()
                    config = folder / "sync.toml"
                    config.write_text(
                        f'region = "DE"\nquarantine = "q/"\nconcurrency = {workers}\n'
                        f'[source]\nurl = "{source}"\n'
                        + ('username = "it"\npassword_file = "../it.pw"\n' if logins else "")
                        + f'[target]\nurl = "{target}"\n'
                        + ('username = "phone1"\npassword_file = "../phone1.pw"\n'
                           if logins else "")
                        + '[evidence]\nsources = ["../ledger.csv"]\n')
                    started = time.perf_counter()
                    outcome = run_sync(config, transport=Distant(args.rtt))
                    times[workers].append(time.perf_counter() - started)
                    assert outcome.counts()["created"] == args.cards, outcome.counts()
        finally:
            server.stop()
    one, many = statistics.median(times[1]), statistics.median(times[args.workers])
    rounds = {k: " ".join(f"{x:.2f}" for x in v) for k, v in times.items()}
    print(f"{args.cards} new cards into an empty phone book on {args.server}, "
          f"round trip {args.rtt * 1000:.0f} ms, median of {args.rounds} rounds")
    print(f"concurrency 1: {one:.2f} s [{rounds[1]}]")
    print(f"concurrency {args.workers}: {many:.2f} s [{rounds[args.workers]}] "
          f"= {many / one:.2f} x one at a time")


if __name__ == "__main__":
    main()
