"""contactguard sync against vdirsyncer 0.21, side by side, on one server (Radicale or Xandikos).

    .venv/bin/python benchmarks/bench_sync.py [--server radicale|xandikos] [--cards 8000]
        [--kept-share 0.05] [--repeat 3] [--pair-first-rounds 1] [--pair-first-cap 900]
        [--before OTHER-CHECKOUT/.venv/bin/python]

Generates its own book (``--cards`` vCard 3.0 cards with UID, FN, N, one or two numbers, some
ORG/EMAIL), uploads it to the address book ``/it/all/`` (Radicale: in one request; Xandikos, which
takes no whole-collection PUT: one commit to its storage, untimed), writes an evidence ledger in
which ``--kept-share`` of the people wrote first, lists the book once untimed (Radicale builds its
item cache on the first listing; neither tool should pay for it), then measures three jobs.

**The baseline the targets are judged on: vdirsyncer syncing the company book into a phone's
address book on the same server** (a CardDAV → CardDAV pair, ``/it/all/`` → ``/phone1/vdir/``,
``conflict_resolution = "a wins"``): the job an admin would give vdirsyncer instead of
contactguard. vdirsyncer copies every card, so its first sync PUTs all ``--cards`` cards, and every
later sync lists both collections in full.

- **P1 pair first sync** (empty phone book, empty status): ``--pair-first-rounds`` rounds (default
  1: on Radicale 8,000 PUTs take minutes). A round still running after ``--pair-first-cap``
  seconds is stopped and counted as the cap (the figure is then a lower bound, printed with ">",
  and the ratio against it an upper bound); the phone book is then filled on the server side and
  one untimed sync records vdirsyncer's status, so that P2 and P3 start from a synced pair.
- **P2 pair no-op** and **P3 pair after ``--changes`` changed source cards**: every round.

Context, kept beside it (not the targets' baseline): **vdirsyncer pull of ``/it/all/`` into a
local folder** (L1 first pull into an empty folder, L2 no-op, L3 after the same changes). That is
a lower bound of vdirsyncer's own cost (it fetches the book but writes local files, no PUT); the
ratios against it are printed too.

contactguard (``contactguard sync`` of ``/it/all/`` into ``/phone1/whatsapp/``, which holds only
the allowed people), every round:

- **C1 first run**: empty phone book, no state, no source cache — every allowed contact created;
- **C2 no-op run**; **C3 after the ``--changes`` changed source cards** (the same edits the pair
  and the pull see: edited once per round, before L3, P3 and C3).

Each figure is the median of its rounds. Targets (against the pair): C1 <= 0.7 x P1, C2 <= 0.3 x
P2, C3 <= 0.3 x P3, and a no-op run sends one request per collection and no PUT or DELETE.

Two more figures put those ratios in context (printed, not targets):

- **like for like**: ``contactguard sync --dry-run`` into the empty phone (fetch, parse, decide;
  no cache, no PUT), against the local-folder pull L1;
- **server floor**: the cheapest standard question "has the source changed?" — one
  ``sync-collection`` REPORT with a current token, timed in-process with httpx — as a share of
  the no-op and after-changes baselines. No client can answer those cases for less.

Both servers are started the way the test suite starts them (``tests/radicale_server.py``,
``tests/xandikos_server.py``, no setting changed): Radicale with htpasswd logins, Xandikos without
logins (it leaves them to a proxy), so against Xandikos neither tool sends credentials.

Counting requests must not slow what is timed, so Radicale runs at log level ``warning`` (Xandikos
writes its one access-log line per request to its log file, as in the tests) and:

- contactguard's requests are counted on the client side, in the timed runs themselves: its HTTP
  session counts every request it sends, and the JSON report carries the counts;
- vdirsyncer's are counted in separate, untimed runs (pull: a fresh pull, then a no-op; pair: a
  no-op) with ``-v debug``, whose output names every request as ``debug: METHOD URL``.

``--before PYTHON`` times a second contactguard (the one that Python imports: another
checkout's venv) in the same rounds, right after each C figure, into its own phone book
``/phone1/before/`` with its own state (B1-B3): before and after side by side.

The load average is printed before and after (the machine may be shared: ratios are measured side
by side, so contention weighs on both tools). ``PYTHONPATH`` pointing at another checkout times
that checkout's contactguard (its path is printed).

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


def start_server(kind: str, folder: Path) -> RadicaleServer | XandikosServer:
    """``kind`` ("radicale" or "xandikos") started in ``folder`` as the tests start it
    (Radicale at log level ``warning``: counting requests must not slow what is timed)."""
    if kind == "radicale":
        return RadicaleServer(folder / "radicale", log_level="warning").start()
    return XandikosServer(folder / "xandikos").start()


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


def timed(
    argv: list[str],
    env: dict[str, str] | None = None,
    cap: float | None = None,
    cwd: Path | None = None,
) -> float:
    """Wall-clock seconds of one command (which must succeed); ``cap``: stopped after that many
    seconds, and ``inf`` returned."""
    started = time.perf_counter()
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=cap, cwd=cwd
        )
    except subprocess.TimeoutExpired:
        return float("inf")
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


def upload_book(server: ServerProcess, book: bytes, user: str = "it", name: str = "all") -> None:
    """The whole book into ``/<user>/<name>/``, replacing what it held (untimed set-up)."""
    if isinstance(server, RadicaleServer):
        # as ``put_book``, with a timeout for a large book on a busy machine
        with httpx.Client(base_url=server.url, auth=login(server, user), timeout=900) as http:
            http.request("PROPFIND", f"/{user}/", headers={"Depth": "0"})
            http.put(f"/{user}/{name}/", content=book,
                     headers={"Content-Type": "text/vcard"}).raise_for_status()
        return
    # Xandikos commits every PUT to the collection's Git repository, rewriting a tree that grows
    # with the book (8,000 PUTs: well over ten minutes). So the server is stopped, the cards are
    # committed to the repository its MKCOL made in one commit, as its own PUT does one, and the
    # server is started again on the same storage and port.
    from dulwich.index import index_entry_from_stat
    from dulwich.objects import Blob
    from dulwich.repo import Repo

    assert isinstance(server, XandikosServer)
    server.make_addressbook(user, name)
    server.stop()
    folder = server.folder / "data" / user / name
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


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def vdir_config(path: Path, status: Path, source: str, src_login: str, other: str) -> list[str]:
    """A vdirsyncer config of one pair from the source (read only, "a wins") to ``other`` (a
    storage section's body); the argv prefix that runs it."""
    path.write_text(
        f'[general]\nstatus_path = "{status}/"\n\n'
        '[pair book]\na = "src"\nb = "dst"\ncollections = null\n'
        'conflict_resolution = "a wins"\n\n'
        f'[storage src]\ntype = "carddav"\nurl = "{source}"\n{src_login}read_only = true\n\n'
        f"[storage dst]\n{other}"
    )
    return [str(VDIRSYNCER), "-c", str(path)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("radicale", "xandikos"), default="radicale",
                        help="the CardDAV server both tools sync against (default radicale)")
    parser.add_argument("--cards", type=int, default=8000)
    parser.add_argument("--kept-share", type=float, default=0.05,
                        help="share of people with inbound-first evidence (default 0.05)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds; each figure is the median (default 3)")
    parser.add_argument("--pair-first-rounds", type=int, default=1,
                        help="rounds of vdirsyncer's first pair sync (every card PUT; default 1)")
    parser.add_argument("--pair-first-cap", type=float, default=900.0,
                        help="seconds after which a first pair sync is stopped (default 900)")
    parser.add_argument("--changes", type=int, default=10,
                        help="source cards edited before the incremental runs (default 10)")
    parser.add_argument("--before", metavar="PYTHON",
                        help="also time the contactguard this Python imports (another checkout's "
                             "venv) in the same rounds, into its own phone book (B1-B3)")
    args = parser.parse_args()
    ensure_vdirsyncer()
    load_before = loadavg()
    started_all = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="cg-bench-") as tmp_name:
        tmp = Path(tmp_name)
        server = start_server(args.server, tmp)
        try:
            book, ledger, kept = make_book(args.cards, args.kept_share)
            upload_book(server, book)
            with httpx.Client(base_url=server.url, auth=login(server, "it"), timeout=600) as http:
                # warm-up, untimed: Radicale fills its item cache on the first listing
                http.request("PROPFIND", "/it/all/", headers={"Depth": "1"}).raise_for_status()

            # --- vdirsyncer: the source into a phone's book (the baseline), a local folder ----
            def login_lines(user: str) -> str:
                return (f'username = "{user}"\npassword = "{USERS[user]}"\n'
                        if login(server, user) else "")

            source_url = f"{server.url}/it/all/"
            vdir_folder, vdir_status = tmp / "vdir", tmp / "vdir-status"
            vdir = vdir_config(
                tmp / "vdir-local.conf", vdir_status, source_url, login_lines("it"),
                f'type = "filesystem"\npath = "{vdir_folder}/"\nfileext = ".vcf"\n',
            )
            pair_status = tmp / "pair-status"
            pair = vdir_config(
                tmp / "vdir-pair.conf", pair_status, source_url, login_lines("it"),
                f'type = "carddav"\nurl = "{server.url}/phone1/vdir/"\n{login_lines("phone1")}',
            )

            def vdir_fresh() -> None:
                shutil.rmtree(vdir_folder, ignore_errors=True)
                shutil.rmtree(vdir_status, ignore_errors=True)
                vdir_folder.mkdir()
                subprocess.run([*vdir, "discover"], check=True, capture_output=True)

            def pair_fresh() -> None:
                shutil.rmtree(pair_status, ignore_errors=True)
                server.make_addressbook("phone1", "vdir")
                subprocess.run([*pair, "discover"], check=True, capture_output=True)

            # --- contactguard sync: source → sanitize → phone --------------------------------
            env = {**os.environ, "CG_SOURCE_PASSWORD": USERS["it"]}
            logins = login(server, "it") is not None

            def contactguard(python: str, folder: Path, book: str) -> tuple[list[str], str]:
                """The argv of one contactguard's sync into ``/phone1/<book>/`` (its config,
                ledger, state and report in ``folder``), and the path it imports."""
                folder.mkdir(exist_ok=True)
                (folder / "ledger.csv").write_text(ledger)
                (folder / "phone1.pw").write_text(USERS["phone1"])
                (folder / "phone1.pw").chmod(0o600)  # a secret others may read is refused
                (folder / "sync.toml").write_text(
                    f'region = "DE"\nquarantine = "quarantine/"\n'
                    f'[source]\nurl = "{source_url}"\n'
                    + ('username = "it"\npassword_env = "CG_SOURCE_PASSWORD"\n' if logins else "")
                    + f'[target]\nurl = "{server.url}/phone1/{book}/"\n'
                    + ('username = "phone1"\npassword_file = "phone1.pw"\n' if logins else "")
                    + '[evidence]\nsources = ["ledger.csv"]\n'
                )
                # run from ``folder``: a checkout as the working folder would be imported first
                path = subprocess.run(
                    [python, "-c", "import contactguard; print(contactguard.__file__)"],
                    capture_output=True, text=True, env=env, check=True, cwd=folder,
                ).stdout.strip()
                return [python, "-m", "contactguard", "sync", "--config",
                        str(folder / "sync.toml"), "--quiet"], path

            cg, cg_path = contactguard(CONTACTGUARD[0], tmp, "whatsapp")
            report = tmp / "sync-report.json"
            old: list[str] = []
            old_path = ""
            if args.before:
                old, old_path = contactguard(args.before, tmp / "before", "before")

            def cg_fresh() -> None:
                for folder, book in ((tmp, "whatsapp"), (tmp / "before", "before"))[
                        : 2 if old else 1]:
                    server.make_addressbook("phone1", book)
                    for name in ("sync.state.json", "sync.source-cache.sqlite",
                                 "sync-report.json"):
                        (folder / name).unlink(missing_ok=True)

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
                k: [] for k in ("p1", "p2", "p3", "l1", "l2", "l3", "cd", "c1", "c2", "c3",
                                "b1", "b2", "b3", "floor")
            }
            # P1, first: the source is still the generated book (a capped round is refilled
            # from it on the server side)
            for _ in range(args.pair_first_rounds):
                pair_fresh()
                times["p1"].append(timed([*pair, "sync"], cap=args.pair_first_cap))
            pair_cards = count_cards(server, "phone1", "vdir")
            if times["p1"][-1] == float("inf"):
                pair_fresh()
                upload_book(server, book, "phone1", "vdir")
                subprocess.run([*pair, "sync"], check=True, capture_output=True)
            pair_noop_req = vdirsyncer_requests([*pair, "sync"])
            for round_no in range(args.repeat):
                vdir_fresh()
                times["l1"].append(timed([*vdir, "sync"]))
                cg_fresh()
                times["cd"].append(timed([*cg, "--dry-run"], env, cwd=tmp))
                times["c1"].append(timed(cg, env, cwd=tmp))
                cg_first_req = contactguard_requests(report)
                if old:
                    times["b1"].append(timed(old, env, cwd=tmp))
                times["p2"].append(timed([*pair, "sync"]))
                times["l2"].append(timed([*vdir, "sync"]))
                times["c2"].append(timed(cg, env, cwd=tmp))
                cg_noop_req = contactguard_requests(report)
                if old:
                    times["b2"].append(timed(old, env, cwd=tmp))
                cg_noop_reused = json.loads(report.read_text())["sync"].get("reused")
                times["floor"].append(server_floor(server))
                edit_source(round_no)
                times["p3"].append(timed([*pair, "sync"]))
                times["l3"].append(timed([*vdir, "sync"]))
                times["c3"].append(timed(cg, env, cwd=tmp))
                cg_change_req = contactguard_requests(report)
                if old:
                    times["b3"].append(timed(old, env, cwd=tmp))
            pulled = len(list(vdir_folder.glob("*.vcf")))
            on_phone = count_cards(server, "phone1", "whatsapp")

            # --- vdirsyncer's requests, counted in untimed runs ------------------------------
            vdir_fresh()
            vdir_pull_req = vdirsyncer_requests([*vdir, "sync"])
            vdir_noop_req = vdirsyncer_requests([*vdir, "sync"])
        finally:
            server.stop()

    med = {k: statistics.median(v) for k, v in times.items() if v}
    rounds = {
        k: " ".join(">cap" if x == float("inf") else f"{x:.2f}" for x in v)
        for k, v in times.items()
    }
    capped = med["p1"] == float("inf")
    if capped:  # every first pair sync was stopped: the cap is a lower bound of its time
        med["p1"] = args.pair_first_cap
    where = "Radicale 127.0.0.1 (log level warning)" if args.server == "radicale" else (
        "Xandikos 127.0.0.1 (no logins)")
    print(f"source: {args.cards} cards on {where}; contactguard from {cg_path}")
    print(f"vdirsyncer pulled {pulled} into a folder and {pair_cards} into the phone's book "
          f"{'(stopped at the cap) ' if capped else ''}"
          f"in its first pair sync; {kept} wrote first ({args.kept_share:.1%}); contactguard's "
          f"phone holds {on_phone}; median of {args.repeat} rounds "
          f"({args.pair_first_rounds} for the first pair sync)")
    print(f"load average before {load_before}, after {loadavg()}; "
          f"benchmark {time.perf_counter() - started_all:.0f} s")
    lt = ">" if capped else ""
    print("baseline: vdirsyncer, company book -> phone's book on the same server (CardDAV pair)")
    print(f"  P1 first sync (PUT every card) {lt}{med['p1']:6.2f} s  [{rounds['p1']}]")
    print(f"  P2 no-op                       {med['p2']:6.2f} s  [{rounds['p2']}]  "
          f"requests: {fmt(pair_noop_req)}")
    print(f"  P3 after {args.changes} changes             {med['p3']:6.2f} s  [{rounds['p3']}]")
    print("context: vdirsyncer, company book -> local folder (its fetch alone, no PUT)")
    print(f"  L1 pull into an empty folder   {med['l1']:6.2f} s  [{rounds['l1']}]  "
          f"requests: {fmt(vdir_pull_req)}")
    print(f"  L2 no-op                       {med['l2']:6.2f} s  [{rounds['l2']}]  "
          f"requests: {fmt(vdir_noop_req)}")
    print(f"  L3 after {args.changes} changes             {med['l3']:6.2f} s  [{rounds['l3']}]")
    ok = True
    le = "<=" if capped else ""
    for label, key, pair_key, local_key, counts, target in (
        ("C1 contactguard first run", "c1", "p1", "l1", cg_first_req, 0.7),
        ("C2 contactguard no-op run", "c2", "p2", "l2", cg_noop_req, 0.3),
        (f"C3 contactguard after {args.changes} changes", "c3", "p3", "l3", cg_change_req, 0.3),
    ):
        figure, base, local = med[key], med[pair_key], med[local_key]
        passed = figure <= target * base
        ok = ok and passed
        bound = le if pair_key == "p1" else ""
        print(f"{label}: {figure:.2f} s [{rounds[key]}]; ratio {bound}{figure / base:.2f} x "
              f"{pair_key.upper()} (target <= {target:.2f}) {'PASS' if passed else 'FAIL'}; "
              f"{figure / local:.2f} x {local_key.upper()} (context); requests: {fmt(counts)}")
    if old:
        print(f"before (contactguard from {old_path}), same rounds, into its own phone book:")
        for label, key, pair_key, local_key in (
            ("B1 first run", "b1", "p1", "l1"), ("B2 no-op run", "b2", "p2", "l2"),
            (f"B3 after {args.changes} changes", "b3", "p3", "l3"),
        ):
            figure = med[key]
            bound = le if pair_key == "p1" else ""
            print(f"  {label}: {figure:.2f} s [{rounds[key]}]; ratio {bound}"
                  f"{figure / med[pair_key]:.2f} x {pair_key.upper()}, "
                  f"{figure / med[local_key]:.2f} x {local_key.upper()}")
    print(f"like for like: contactguard first run --dry-run (fetch, parse, decide; no PUT) "
          f"{med['cd']:.2f} s [{rounds['cd']}], ratio {med['cd'] / med['l1']:.2f} x L1")
    print(f"server floor: one sync-collection REPORT on the source {med['floor']:.2f} s "
          f"[{rounds['floor']}] = {med['floor'] / med['p2']:.2f} x P2, "
          f"{med['floor'] / med['p3']:.2f} x P3, {med['floor'] / med['l2']:.2f} x L2, "
          f"{med['floor'] / med['l3']:.2f} x L3")
    print(f"contactguard no-op run reused the last decisions: {cg_noop_reused}")
    listings = {k: v for k, v in cg_noop_req.items() if not k.endswith((":PUT", ":DELETE"))}
    one_each = sorted(listings.values()) == [1, 1] and len(cg_noop_req) == 2
    print(f"contactguard no-op requests: {fmt(cg_noop_req)} (target: one listing per collection, "
          f"no PUT or DELETE) {'PASS' if one_each else 'FAIL'}")
    sys.exit(0 if ok and one_each else 1)


if __name__ == "__main__":
    main()
