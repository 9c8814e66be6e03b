"""contactguard sync against vdirsyncer 0.21, side by side, on one Radicale server.

    .venv/bin/python benchmarks/bench_sync.py [--cards 8000] [--kept-share 0.05]

Generates its own book (``--cards`` vCard 3.0 cards with UID, FN, N, one or two numbers, some
ORG/EMAIL), uploads it to a Radicale address book ``/it/all/`` in one request, writes an evidence
ledger in which ``--kept-share`` of the people wrote first, then measures in one run:

1. vdirsyncer pull of ``/it/all/`` into a local folder (first sync),
2. vdirsyncer no-op re-sync,
3. ``contactguard sync`` of ``/it/all/`` into the phone's address book ``/phone1/whatsapp/``
   (first run: every allowed contact is created),
4. ``contactguard sync`` no-op run.

Targets (issue 4): 3 ≤ 1, 4 ≤ 2. Requests are counted on the server side (Radicale's log).
vdirsyncer is a benchmark-only dependency, installed into ``benchmarks/.venv-vdirsyncer``
(gitignored) on first use with ``python -m venv`` + ``pip install 'vdirsyncer==0.21.*'``.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from radicale_server import USERS, RadicaleServer  # noqa: E402

VDIR_VENV = HERE / ".venv-vdirsyncer"
VDIRSYNCER = VDIR_VENV / "bin" / "vdirsyncer"
CONTACTGUARD = [sys.executable, "-m", "contactguard"]
_REQUEST = re.compile(r"\] (GET|PUT|DELETE|PROPFIND|REPORT|MKCOL|OPTIONS|HEAD) request for")

GIVEN = ["Anna", "Bernd", "Carla", "Dieter", "Elif", "Frank", "Greta", "Hans", "Ines", "Jonas",
         "Kerstin", "Lukas", "Mia", "Nils", "Olga", "Paul", "Rita", "Stefan", "Tanja", "Uwe"]
FAMILY = ["Schmidt", "Keller", "Weber", "Braun", "Yilmaz", "Otto", "Lang", "Fischer", "Wagner",
          "Becker", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schulz", "Kraus"]


def make_book(cards: int, kept_share: float, seed: int = 4) -> tuple[bytes, str, int]:
    """(the vCard file, the evidence ledger CSV, how many people wrote first)."""
    rng = random.Random(seed)
    out, ledger, kept = [], ["phone,first_inbound_at,first_outbound_at"], 0
    for i in range(cards):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        mobile = f"+4915{rng.randrange(10**8, 10**9)}"
        lines = [
            "BEGIN:VCARD", "VERSION:3.0", f"UID:bench-{i:05d}", f"FN:{given} {family}",
            f"N:{family};{given};;;", f"TEL;TYPE=CELL:{mobile}",
        ]
        if rng.random() < 0.3:
            lines.append(f"TEL;TYPE=WORK:+4930{rng.randrange(10**6, 10**7)}")
        if rng.random() < 0.4:
            lines.append(f"EMAIL;TYPE=INTERNET:{given.lower()}.{i}@example.com")
        if rng.random() < 0.3:
            lines.append(f"ORG:{family} GmbH")
        lines.append("END:VCARD")
        out.append("\r\n".join(lines) + "\r\n")
        if rng.random() < kept_share:
            ledger.append(f"{mobile},2026-01-{rng.randrange(1, 28):02d},")
            kept += 1
        elif rng.random() < 0.2:  # business wrote first: evidence, but not inbound-first
            ledger.append(f"{mobile},2026-02-10,2026-02-01")
    return "".join(out).encode(), "\n".join(ledger) + "\n", kept


def ensure_vdirsyncer() -> None:
    if VDIRSYNCER.exists():
        return
    print("installing vdirsyncer 0.21 into benchmarks/.venv-vdirsyncer ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(VDIR_VENV)], check=True)
    subprocess.run([str(VDIR_VENV / "bin" / "pip"), "install", "-q", "vdirsyncer==0.21.*"],
                   check=True)


class Requests:
    """Counts requests per method from Radicale's log since the last call."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = 0

    def take(self) -> Counter[str]:
        time.sleep(0.2)  # let the server flush its log
        text = self.log.read_text(errors="replace")
        counts = Counter(m.group(1) for m in _REQUEST.finditer(text[self.offset:]))
        self.offset = len(text)
        return counts


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=8000)
    parser.add_argument("--kept-share", type=float, default=0.05,
                        help="share of people with inbound-first evidence (default 0.05)")
    args = parser.parse_args()
    ensure_vdirsyncer()

    import os

    with tempfile.TemporaryDirectory(prefix="cg-bench-") as tmp_name:
        tmp = Path(tmp_name)
        server = RadicaleServer(tmp / "radicale", log_level="info").start()
        try:
            book, ledger, kept = make_book(args.cards, args.kept_share)
            server.put_book("it", "all", book)
            server.make_addressbook("phone1", "whatsapp")
            requests = Requests(tmp / "radicale" / "radicale.log")
            requests.take()

            # --- vdirsyncer: pull the source into a local folder -----------------------------
            (tmp / "vdir").mkdir()
            (tmp / "vdirsyncer.conf").write_text(
                f'[general]\nstatus_path = "{tmp}/vdir-status/"\n\n'
                '[pair book]\na = "src"\nb = "local"\ncollections = null\n'
                'conflict_resolution = "a wins"\n\n'
                f'[storage src]\ntype = "carddav"\nurl = "{server.url}/it/all/"\n'
                f'username = "it"\npassword = "{USERS["it"]}"\nread_only = true\n\n'
                f'[storage local]\ntype = "filesystem"\npath = "{tmp}/vdir/"\n'
                'fileext = ".vcf"\n'
            )
            vdir = [str(VDIRSYNCER), "-c", str(tmp / "vdirsyncer.conf")]
            subprocess.run([*vdir, "discover"], check=True, capture_output=True)
            requests.take()
            vdir_pull = timed([*vdir, "sync"])
            vdir_pull_req = requests.take()
            vdir_noop = timed([*vdir, "sync"])
            vdir_noop_req = requests.take()
            pulled = len(list((tmp / "vdir").glob("*.vcf")))

            # --- contactguard sync: source → sanitize → phone --------------------------------
            (tmp / "ledger.csv").write_text(ledger)
            (tmp / "phone1.pw").write_text(USERS["phone1"])
            (tmp / "sync.toml").write_text(
                f'region = "DE"\nquarantine = "quarantine/"\n'
                f'[source]\nurl = "{server.url}/it/all/"\nusername = "it"\n'
                'password_env = "CG_SOURCE_PASSWORD"\n'
                f'[target]\nurl = "{server.url}/phone1/whatsapp/"\nusername = "phone1"\n'
                'password_file = "phone1.pw"\n'
                '[evidence]\nsources = ["ledger.csv"]\n'
            )
            env = {**os.environ, "CG_SOURCE_PASSWORD": USERS["it"]}
            cg = [*CONTACTGUARD, "sync", "--config", str(tmp / "sync.toml"), "--quiet"]
            cg_first = timed(cg, env)
            cg_first_req = requests.take()
            cg_noop = timed(cg, env)
            cg_noop_req = requests.take()
            on_phone = len(server.cards("phone1", "whatsapp"))
        finally:
            server.stop()

    def fmt(counts: Counter[str]) -> str:
        return " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"

    print(f"source: {args.cards} cards on Radicale 127.0.0.1; vdirsyncer pulled {pulled}; "
          f"{kept} wrote first ({args.kept_share:.1%}); phone holds {on_phone} after the sync")
    print(f"vdirsyncer pull            {vdir_pull:6.2f} s  requests: {fmt(vdir_pull_req)}")
    print(f"vdirsyncer no-op           {vdir_noop:6.2f} s  requests: {fmt(vdir_noop_req)}")
    print(f"contactguard sync first    {cg_first:6.2f} s  requests: {fmt(cg_first_req)}")
    print(f"contactguard sync no-op    {cg_noop:6.2f} s  requests: {fmt(cg_noop_req)}")
    ok = True
    for label, figure, peer, peer_label in (
        ("first run", cg_first, vdir_pull, "vdirsyncer pull"),
        ("no-op run", cg_noop, vdir_noop, "vdirsyncer no-op"),
    ):
        verdict = "PASS" if figure <= peer else "FAIL"
        ok = ok and figure <= peer
        print(f"{label}: {figure:.2f} s, ratio {figure / peer:.2f} (target <= 1.00 x "
              f"{peer_label} {peer:.2f} s) {verdict}")
    noop_writes = cg_noop_req["PUT"] + cg_noop_req["DELETE"]
    print(f"no-op writes: {noop_writes} (target 0) {'PASS' if noop_writes == 0 else 'FAIL'}")
    sys.exit(0 if ok and noop_writes == 0 else 1)


if __name__ == "__main__":
    main()
