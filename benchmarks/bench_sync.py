"""contactguard sync against vdirsyncer 0.21, side by side, on one server (Radicale or Xandikos).

    .venv/bin/python benchmarks/bench_sync.py [--server radicale|xandikos] [--cards 8000]
        [--kept-share 0.05] [--repeat 3]

Generates its own book (``--cards`` vCard 3.0 cards with UID, FN, N, one or two numbers, some
ORG/EMAIL), uploads it to the address book ``/it/all/`` (Radicale: in one request; Xandikos, which
takes no whole-collection PUT: one PUT per card, untimed), writes an evidence ledger in which
``--kept-share`` of the people wrote first, lists the book once untimed (Radicale builds its item
cache on the first listing; neither tool should pay for it), then measures, in one run,
``--repeat`` rounds of:

1. vdirsyncer pull of ``/it/all/`` into a local folder (first sync; folder and status emptied),
2. ``contactguard sync`` of ``/it/all/`` into the phone's address book ``/phone1/whatsapp/``
   (first run: empty phone book, no state, no source cache — every allowed contact is created),
3. vdirsyncer no-op re-sync,
4. ``contactguard sync`` no-op run,
5. ``--changes`` source cards edited (a new name each), then vdirsyncer's sync,
6. ``contactguard sync`` of the same changes.

Each figure is the median of its rounds. Targets: 2 <= 0.7 x 1, 4 <= 0.3 x 3 and 6 <= 0.3 x 5,
and a no-op run sends one request per collection and no PUT or DELETE.

Two more figures put those ratios in context (printed, not targets):

- **like for like**: step 2 writes ~300 cards to the phone over CardDAV (Radicale's cost per PUT),
  while vdirsyncer's pull writes local files. ``contactguard sync --dry-run`` into the empty phone
  (fetch, parse, decide; no cache, no PUT) is timed beside it in every round;
- **server floor**: the cheapest standard question "has the source changed?" — one
  ``sync-collection`` REPORT with a current token, timed in-process with httpx — as a share of
  vdirsyncer's no-op. No client can answer the no-op or the after-changes case for less.

Both servers are started the way the test suite starts them (``tests/radicale_server.py``,
``tests/xandikos_server.py``): Radicale with htpasswd logins, Xandikos without logins (it leaves
them to a proxy), so against Xandikos neither tool sends credentials.

Counting requests must not slow what is timed, so Radicale runs at log level ``warning`` (Xandikos
writes its one access-log line per request to its log file, as in the tests) and:

- contactguard's requests are counted on the client side, in the timed runs themselves: its HTTP
  session counts every request it sends, and the JSON report carries the counts;
- vdirsyncer's are counted in separate, untimed runs (a fresh pull, then a no-op) with
  ``-v debug``, whose output names every request as ``debug: METHOD URL``.

vdirsyncer is a benchmark-only dependency, installed into ``benchmarks/.venv-vdirsyncer``
(gitignored) on first use with ``python -m venv`` + ``pip install 'vdirsyncer==0.21.*'``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from radicale_server import USERS, RadicaleServer, ServerProcess  # noqa: E402
from xandikos_server import XandikosServer  # noqa: E402

VDIR_VENV = HERE / ".venv-vdirsyncer"
VDIRSYNCER = VDIR_VENV / "bin" / "vdirsyncer"
CONTACTGUARD = [sys.executable, "-m", "contactguard"]
_VDIR_REQUEST = re.compile(
    r"^debug: (GET|PUT|DELETE|PROPFIND|REPORT|MKCOL|OPTIONS|HEAD) https?://", re.MULTILINE
)

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


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Wall-clock seconds of one command (which must succeed)."""
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def vdirsyncer_requests(argv: list[str]) -> Counter[str]:
    """The requests one (untimed) vdirsyncer run sends, from its debug output."""
    result = subprocess.run([*argv[:1], "-v", "debug", *argv[1:]], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"vdirsyncer failed:\n{result.stdout}\n{result.stderr}")
    return Counter(m.group(1) for m in _VDIR_REQUEST.finditer(result.stdout + result.stderr))


def contactguard_requests(report: Path) -> Counter[str]:
    """The requests the last contactguard run sent (counted by its HTTP session), all endpoints."""
    sent = json.loads(report.read_text())["sync"]["requests"]
    return Counter({f"{where}:{k}": v for where, counts in sent.items() for k, v in counts.items()})


def login(server: ServerProcess, user: str) -> tuple[str, str] | None:
    """httpx ``auth`` for ``user`` on ``server``: none on Xandikos, which has no logins."""
    return (user, USERS[user]) if isinstance(server, RadicaleServer) else None


def upload_book(server: ServerProcess, book: bytes) -> None:
    """The whole book into ``/it/all/`` (untimed set-up)."""
    if isinstance(server, RadicaleServer):
        server.put_book("it", "all", book)
        return
    # Xandikos commits every PUT to the collection's Git repository, rewriting a tree that grows
    # with the book (8,000 PUTs: well over ten minutes). So the server is stopped, the cards are
    # committed to the repository its MKCOL made in one commit, as its own PUT does one, and the
    # server is started again on the same storage and port.
    from dulwich.index import index_entry_from_stat
    from dulwich.objects import Blob
    from dulwich.repo import Repo

    assert isinstance(server, XandikosServer)
    server.make_addressbook("it", "all")
    server.stop()
    folder = server.folder / "data" / "it" / "all"
    repo = Repo(str(folder))
    index = repo.open_index()
    for i, card in enumerate(book.decode().split("BEGIN:VCARD")[1:]):
        name, data = f"bench-{i:05d}.vcf", ("BEGIN:VCARD" + card).encode()
        (folder / name).write_bytes(data)
        blob = Blob.from_string(data)
        repo.object_store.add_object(blob)
        index[name.encode()] = index_entry_from_stat(os.lstat(folder / name), blob.id)
    index.write()
    repo.get_worktree().commit(message=b"benchmark book", tree=index.commit(repo.object_store))
    repo.close()
    server.start()


def count_cards(server: ServerProcess, user: str, book: str) -> int:
    """How many cards ``/<user>/<book>/`` holds, from a depth-1 PROPFIND."""
    with httpx.Client(base_url=server.url, auth=login(server, user), timeout=600) as http:
        listing = http.request("PROPFIND", f"/{user}/{book}/", headers={"Depth": "1"}).text
    return len(set(re.findall(r"<[^>]*href>([^<]+\.vcf)</", listing)))


def server_floor(server: ServerProcess) -> float:
    """Seconds of one ``sync-collection`` REPORT on the source with a current token (median of
    3): what the server spends telling that nothing changed."""
    prop = (
        b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:">'
        b"<d:prop><d:sync-token/></d:prop></d:propfind>"
    )
    headers = {"Depth": "0", "Content-Type": "application/xml; charset=utf-8"}
    with httpx.Client(base_url=server.url, auth=login(server, "it"), timeout=600) as http:
        answer = http.request("PROPFIND", "/it/all/", headers=headers, content=prop)
        token = re.search(r"sync-token>([^<]+)<", answer.text)
        assert token is not None
        body = (
            '<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:">'
            f"<d:sync-token>{token.group(1)}</d:sync-token><d:sync-level>1</d:sync-level>"
            "<d:prop><d:getetag/></d:prop></d:sync-collection>"
        ).encode()
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            http.request("REPORT", "/it/all/", headers=headers, content=body).raise_for_status()
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def fmt(counts: Counter[str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("radicale", "xandikos"), default="radicale",
                        help="the CardDAV server both tools sync against (default radicale)")
    parser.add_argument("--cards", type=int, default=8000)
    parser.add_argument("--kept-share", type=float, default=0.05,
                        help="share of people with inbound-first evidence (default 0.05)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds; each figure is the median (default 3)")
    parser.add_argument("--changes", type=int, default=10,
                        help="source cards edited before the incremental runs (default 10)")
    args = parser.parse_args()
    ensure_vdirsyncer()

    with tempfile.TemporaryDirectory(prefix="cg-bench-") as tmp_name:
        tmp = Path(tmp_name)
        server: RadicaleServer | XandikosServer
        if args.server == "radicale":
            server = RadicaleServer(tmp / "radicale", log_level="warning").start()
        else:
            server = XandikosServer(tmp / "xandikos").start()
        try:
            book, ledger, kept = make_book(args.cards, args.kept_share)
            upload_book(server, book)
            with httpx.Client(base_url=server.url, auth=login(server, "it"), timeout=600) as http:
                # warm-up, untimed: Radicale fills its item cache on the first listing
                http.request("PROPFIND", "/it/all/", headers={"Depth": "1"}).raise_for_status()

            # --- vdirsyncer: the source into a local folder ----------------------------------
            vdir_folder, vdir_status = tmp / "vdir", tmp / "vdir-status"
            src_login = (
                f'username = "it"\npassword = "{USERS["it"]}"\n' if login(server, "it") else ""
            )
            (tmp / "vdirsyncer.conf").write_text(
                f'[general]\nstatus_path = "{vdir_status}/"\n\n'
                '[pair book]\na = "src"\nb = "local"\ncollections = null\n'
                'conflict_resolution = "a wins"\n\n'
                f'[storage src]\ntype = "carddav"\nurl = "{server.url}/it/all/"\n'
                f'{src_login}read_only = true\n\n'
                f'[storage local]\ntype = "filesystem"\npath = "{vdir_folder}/"\n'
                'fileext = ".vcf"\n'
            )
            vdir = [str(VDIRSYNCER), "-c", str(tmp / "vdirsyncer.conf")]

            def vdir_fresh() -> None:
                shutil.rmtree(vdir_folder, ignore_errors=True)
                shutil.rmtree(vdir_status, ignore_errors=True)
                vdir_folder.mkdir()
                subprocess.run([*vdir, "discover"], check=True, capture_output=True)

            # --- contactguard sync: source → sanitize → phone --------------------------------
            (tmp / "ledger.csv").write_text(ledger)
            (tmp / "phone1.pw").write_text(USERS["phone1"])
            (tmp / "phone1.pw").chmod(0o600)  # contactguard refuses a secret others may read
            config = tmp / "sync.toml"
            logins = login(server, "it") is not None
            config.write_text(
                f'region = "DE"\nquarantine = "quarantine/"\n'
                f'[source]\nurl = "{server.url}/it/all/"\n'
                + ('username = "it"\npassword_env = "CG_SOURCE_PASSWORD"\n' if logins else "")
                + f'[target]\nurl = "{server.url}/phone1/whatsapp/"\n'
                + ('username = "phone1"\npassword_file = "phone1.pw"\n' if logins else "")
                + '[evidence]\nsources = ["ledger.csv"]\n'
            )
            env = {**os.environ, "CG_SOURCE_PASSWORD": USERS["it"]}
            cg = [*CONTACTGUARD, "sync", "--config", str(config), "--quiet"]
            report = tmp / "sync-report.json"

            def cg_fresh() -> None:
                server.make_addressbook("phone1", "whatsapp")
                for name in ("sync.state.json", "sync.source-cache.sqlite", "sync-report.json"):
                    (tmp / name).unlink(missing_ok=True)

            cards = book.decode().split("BEGIN:VCARD")[1:]
            rng = random.Random(6578)

            def edit_source(round_no: int) -> None:
                with httpx.Client(base_url=server.url, auth=login(server, "it"),
                                  timeout=60) as http:
                    listing = http.request("PROPFIND", "/it/all/", headers={"Depth": "1"}).text
                    hrefs = sorted(set(re.findall(r"<[^>]*href>([^<]+\.vcf)</", listing)))
                    for href in rng.sample(hrefs, args.changes):
                        text = "BEGIN:VCARD" + rng.choice(cards)
                        uid = http.get(href).text.split("UID:", 1)[1].split("\r\n", 1)[0]
                        text = re.sub(r"UID:[^\r\n]+", f"UID:{uid}", text, count=1)
                        text = re.sub(r"FN:([^\r\n]+)", rf"FN:\1 r{round_no}", text, count=1)
                        http.put(href, content=text.encode(),
                                 headers={"Content-Type": "text/vcard"}).raise_for_status()

            times: dict[str, list[float]] = {
                k: [] for k in ("vp", "cd", "cf", "vn", "cn", "vc", "cc", "floor")
            }
            for round_no in range(args.repeat):
                vdir_fresh()
                times["vp"].append(timed([*vdir, "sync"]))
                cg_fresh()
                times["cd"].append(timed([*cg, "--dry-run"], env))
                times["cf"].append(timed(cg, env))
                cg_first_req = contactguard_requests(report)
                times["vn"].append(timed([*vdir, "sync"]))
                times["cn"].append(timed(cg, env))
                cg_noop_req = contactguard_requests(report)
                cg_noop_reused = json.loads(report.read_text())["sync"].get("reused")
                times["floor"].append(server_floor(server))
                edit_source(round_no)
                times["vc"].append(timed([*vdir, "sync"]))
                times["cc"].append(timed(cg, env))
                cg_change_req = contactguard_requests(report)
            pulled = len(list(vdir_folder.glob("*.vcf")))
            on_phone = count_cards(server, "phone1", "whatsapp")

            # --- vdirsyncer's requests, counted in untimed runs ------------------------------
            vdir_fresh()
            vdir_pull_req = vdirsyncer_requests([*vdir, "sync"])
            vdir_noop_req = vdirsyncer_requests([*vdir, "sync"])
        finally:
            server.stop()

    med = {k: statistics.median(v) for k, v in times.items()}
    rounds = {k: " ".join(f"{x:.2f}" for x in v) for k, v in times.items()}
    where = "Radicale 127.0.0.1 (log level warning)" if args.server == "radicale" else (
        "Xandikos 127.0.0.1 (no logins)")
    print(f"source: {args.cards} cards on {where}; vdirsyncer "
          f"pulled {pulled}; {kept} wrote first ({args.kept_share:.1%}); phone holds {on_phone}; "
          f"median of {args.repeat} rounds")
    print(f"vdirsyncer pull          {med['vp']:6.2f} s  [{rounds['vp']}]  "
          f"requests: {fmt(vdir_pull_req)}")
    print(f"vdirsyncer no-op         {med['vn']:6.2f} s  [{rounds['vn']}]  "
          f"requests: {fmt(vdir_noop_req)}")
    print(f"vdirsyncer {args.changes} changes    {med['vc']:6.2f} s  [{rounds['vc']}]")
    ok = True
    for label, key, peer, peer_label, counts, target in (
        ("contactguard first run", "cf", "vp", "vdirsyncer pull", cg_first_req, 0.7),
        ("contactguard no-op run", "cn", "vn", "vdirsyncer no-op", cg_noop_req, 0.3),
        (f"contactguard after {args.changes} changes", "cc", "vc",
         f"vdirsyncer after {args.changes} changes", cg_change_req, 0.3),
    ):
        figure, base = med[key], med[peer]
        passed = figure <= target * base
        ok = ok and passed
        print(f"{label}: {figure:.2f} s [{rounds[key]}], ratio {figure / base:.2f} "
              f"(target <= {target:.2f} x {peer_label} {base:.2f} s) "
              f"{'PASS' if passed else 'FAIL'}; requests: {fmt(counts)}")
    print(f"like for like: contactguard first run --dry-run (fetch, parse, decide; no PUT) "
          f"{med['cd']:.2f} s [{rounds['cd']}], "
          f"ratio {med['cd'] / med['vp']:.2f} x vdirsyncer pull")
    print(f"server floor: one sync-collection REPORT on the source {med['floor']:.2f} s "
          f"[{rounds['floor']}] = {med['floor'] / med['vn']:.2f} x vdirsyncer no-op, "
          f"{med['floor'] / med['vc']:.2f} x vdirsyncer after {args.changes} changes")
    print(f"contactguard no-op run reused the last decisions: {cg_noop_reused}")
    listings = {k: v for k, v in cg_noop_req.items() if not k.endswith((":PUT", ":DELETE"))}
    one_each = sorted(listings.values()) == [1, 1] and len(cg_noop_req) == 2
    print(f"contactguard no-op requests: {fmt(cg_noop_req)} (target: one listing per collection, "
          f"no PUT or DELETE) {'PASS' if one_each else 'FAIL'}")
    sys.exit(0 if ok and one_each else 1)


if __name__ == "__main__":
    main()
