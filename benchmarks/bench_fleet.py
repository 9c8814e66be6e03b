"""One fleet run against one single-target run per phone, side by side, on one Radicale server.

    .venv/bin/python benchmarks/bench_fleet.py [--cards 8000] [--phones 50] [--per-phone 20]

Generates a company book of ``--cards`` cards (the generator of bench_sync.py), uploads it to
``/it/all/`` on a Radicale started on 127.0.0.1, and gives each of ``--phones`` phones its own
address book ``/phone1/pNN/``, its own config in one folder and its own ledger in which
``--per-phone`` people of the book wrote first. Then, in one run:

1. **singles**: ``contactguard sync --config pNN.toml`` once per phone, one after the other
   (first runs: empty phone books, no state, no source cache - each run fetches and parses the
   whole book, as one scheduled job per phone does today);
2. **fleet**: the phone books, states and caches emptied again, one
   ``contactguard sync --config-dir fleet/`` (first run: the book is fetched and parsed once);
3. **fleet no-op**: the same command again, with nothing changed anywhere.

Targets: fleet <= 0.25 x the singles' total; the no-op sends at most 2 requests to the source
and 2 per phone, and no PUT or DELETE (requests are counted by contactguard's own HTTP session:
the per-phone JSON reports and the fleet summary line).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from bench_sync import make_book  # noqa: E402
from radicale_server import USERS, RadicaleServer  # noqa: E402

CONTACTGUARD = [sys.executable, "-m", "contactguard"]
_MOBILE = re.compile(r"^TEL;TYPE=CELL:(\+\d+)\r$", re.MULTILINE)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[2:6])} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=8000)
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--per-phone", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cg-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        server = RadicaleServer(tmp / "radicale", log_level="warning").start()
        try:
            book, _, _ = make_book(args.cards, 0.0)
            mobiles = _MOBILE.findall(book.decode())
            with httpx.Client(base_url=server.url, auth=("it", USERS["it"]), timeout=600) as http:
                http.request("PROPFIND", "/it/", headers={"Depth": "0"})
                http.put("/it/all/", content=book,
                         headers={"Content-Type": "text/vcard"}).raise_for_status()
                # warm-up, untimed: Radicale fills its item cache on the first listing
                http.request("PROPFIND", "/it/all/", headers={"Depth": "1"}).raise_for_status()
            folder = tmp / "fleet"
            folder.mkdir()
            (folder / "phone1.pw").write_text(USERS["phone1"])
            (folder / "phone1.pw").chmod(0o600)  # secret files must be private
            rng = random.Random(19)
            names = [f"p{i:02d}" for i in range(args.phones)]
            for name in names:
                allowed = rng.sample(mobiles, args.per_phone)
                (folder / f"{name}.csv").write_text(
                    "phone,first_inbound_at,first_outbound_at\n"
                    + "".join(f"{m},2026-01-10,\n" for m in allowed)
                )
                (folder / f"{name}.toml").write_text(
                    'region = "DE"\nquarantine = "quarantine/"\n'
                    f'[source]\nurl = "{server.url}/it/all/"\nusername = "it"\n'
                    'password_env = "CG_SOURCE_PASSWORD"\n'
                    f'[target]\nurl = "{server.url}/phone1/{name}/"\nusername = "phone1"\n'
                    'password_file = "phone1.pw"\n'
                    f'[evidence]\nsources = ["{name}.csv"]\n'
                )
            env = {**os.environ, "CG_SOURCE_PASSWORD": USERS["it"]}

            def fresh() -> None:
                for name in names:
                    server.make_addressbook("phone1", name)
                    for suffix in (".state.json", ".source-cache.sqlite", "-report.json"):
                        (folder / f"{name}{suffix}").unlink(missing_ok=True)
                shutil.rmtree(folder / "quarantine", ignore_errors=True)

            fresh()
            singles = 0.0
            for name in names:
                seconds, _ = timed(
                    [*CONTACTGUARD, "sync", "--config", str(folder / f"{name}.toml"), "--quiet"],
                    env,
                )
                singles += seconds
            on_phones_singles = sum(len(server.cards("phone1", n)) for n in names)
            fresh()
            fleet_cmd = [*CONTACTGUARD, "sync", "--config-dir", str(folder), "--quiet",
                         "--jobs", str(args.jobs)]
            fleet, _ = timed(fleet_cmd, env)
            on_phones_fleet = sum(len(server.cards("phone1", n)) for n in names)
            # without --quiet: the summary line names the source's requests (quiet prints nothing)
            noop, summary = timed([c for c in fleet_cmd if c != "--quiet"], env)
            per_phone = [
                json.loads((folder / f"{n}-report.json").read_text())["sync"]["requests"]
                for n in names
            ]
        finally:
            server.stop()

    source = re.search(r"\((\d+) requests\)", summary)
    source_requests = int(source.group(1)) if source else -1
    phone_max = max(sum(r.get("target", {}).values()) for r in per_phone)
    writes = sum(r.get("target", {}).get(m, 0) for r in per_phone for m in ("PUT", "DELETE"))
    ratio = fleet / singles
    print(f"book: {args.cards} cards on Radicale 127.0.0.1; {args.phones} phones x "
          f"{args.per_phone} allowed; cards on the phones: singles {on_phones_singles}, "
          f"fleet {on_phones_fleet}")
    each = singles / args.phones
    print(f"{args.phones} single runs      {singles:7.2f} s total ({each:.2f} s each)")
    passed = ratio <= 0.25 and on_phones_fleet == on_phones_singles
    print(f"one fleet run (--jobs {args.jobs}) {fleet:7.2f} s, ratio {ratio:.3f} "
          f"(target <= 0.25) {'PASS' if passed else 'FAIL'}")
    noop_ok = 0 <= source_requests <= 2 and phone_max <= 2 and writes == 0
    print(f"fleet no-op run         {noop:7.2f} s; source requests {source_requests}, at most "
          f"{phone_max} per phone, {writes} writes (target: <= 2, <= 2, 0) "
          f"{'PASS' if noop_ok else 'FAIL'}")
    sys.exit(0 if passed and noop_ok else 1)


if __name__ == "__main__":
    main()
