"""Evidence at scale, side by side in one run: a 1,000,000-row CSV ledger (read, imported,
``sanitize -e``, ``sanitize --ledger``) against a bare ``csv.reader`` pass over it, and a
1,000,000-event webhook archive against a bare ``json.loads``-per-line pass.

    .venv/bin/python benchmarks/bench_ledger_csv.py                 # 1M rows, 1M events
    .venv/bin/python benchmarks/bench_ledger_csv.py --rows 200000 --events 200000
    .venv/bin/python benchmarks/bench_ledger_csv.py --reference     # + the reference reading

Builds once in benchmarks/out/: ``ledger-<rows>.csv`` (made-up numbers, every row a first
inbound time ``…Z``, two in three a first outbound time ``+01:00``, every other a last inbound
date, every tenth a LID, every hundredth a user ID), ``webhooks-<events>.jsonl`` (one payload
per line: two in three an inbound text message with its contact, one in three a delivered
status; every number twice) and a 100-card vCard book, half of whose numbers the ledger knows.
Then, best of ``--runs`` (3), in CPU seconds; the bare pass, the reading and the import in
rounds, so that each ratio compares runs made within seconds of each other:

- the bare passes (C speed: the baselines);
- reading the ledger into merged evidence (``load_evidence``, what ``sanitize -e`` reads;
  in this process) and, with ``--reference``, the same with the fast paths off;
- the command line as a user runs it (a subprocess: CPU seconds of its resource usage, peak
  resident memory): ``evidence import`` into a new SQLite ledger; into copies of the imported
  ledger, the same file again and the file under another name (merged: no target);
  ``sanitize book -e ledger.csv``,
  ``sanitize book --ledger`` of the imported ledger (wall seconds: its target is wall time);
  ``evidence show -n`` and ``evidence forget`` of one person of it (wall: show's target, ours,
  is that of ``sanitize --ledger``; forget rebuilds the file, so it has none);
- reading the webhook archive (``load_evidence``).

Targets: reading <= 5 x the bare csv pass; ``evidence import`` <= 10 x; ``sanitize --ledger``
and ``evidence show -n`` <= 1 s and <= 100 MB; the webhook archive <= 5 x the bare json pass.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from measure import timed, write_small_book

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CLI = Path(sys.executable).parent / "contactguard"


def build(path: Path, rows: int) -> None:
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as out:
        out.write("phone,first_inbound_at,first_outbound_at,last_inbound_at,opted_out_at,"
                  "lid,user_id\n")
        for i in range(rows):
            first_in = (start + timedelta(seconds=i * 37 % 30_000_000)).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
            first_out = (start + timedelta(seconds=i * 53 % 30_000_000)).strftime(
                "%Y-%m-%dT%H:%M:%S+01:00") if i % 3 else ""
            last_in = (start + timedelta(days=i % 700)).strftime("%Y-%m-%d") if i % 2 else ""
            lid = f"{10**14 + i}@lid" if i % 10 == 0 else ""
            user_id = f"DE.{10**12 + i}" if i % 100 == 0 else ""
            out.write(f"+4915{i:09d},{first_in},{first_out},{last_in},,{lid},{user_id}\n")
    tmp.rename(path)


def build_webhooks(path: Path, events: int) -> None:
    """One Cloud API payload per line, in the shapes Meta sends (made-up ids and numbers)."""
    metadata = {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"}
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as out:
        for i in range(events):
            number = f"4915{i % max(events // 2, 1):09d}"
            moment = str(1735689600 + i * 17)
            if i % 3:
                value = {
                    "messaging_product": "whatsapp", "metadata": metadata,
                    "contacts": [{"profile": {"name": f"Person {i}"}, "wa_id": number}],
                    "messages": [{"from": number, "id": f"wamid.HBgLMTY1MDM4Nzk0{i:012d}",
                                  "timestamp": moment, "type": "text",
                                  "text": {"body": "Hello, do you have this in blue?"}}],
                }
            else:
                value = {
                    "messaging_product": "whatsapp", "metadata": metadata,
                    "statuses": [{"id": f"wamid.HBgLMTY1MDM4Nzk0{i:012d}", "status": "delivered",
                                  "timestamp": moment, "recipient_id": number,
                                  "conversation": {"id": "CONVERSATION_ID",
                                                   "origin": {"type": "service"}},
                                  "pricing": {"billable": True, "pricing_model": "CBP",
                                              "category": "service"}}],
                }
            payload = {"object": "whatsapp_business_account", "entry": [
                {"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}]}
            out.write(json.dumps(payload, separators=(",", ":")) + "\n")
    tmp.rename(path)


def bare_csv(path: Path) -> int:
    with path.open(newline="") as stream:
        return sum(1 for _ in csv.reader(stream)) - 1


def bare_json(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for line in stream if json.loads(line))


def ours(path: Path) -> int:
    from contactguard.evidence import load_evidence

    load_evidence(str(path))
    return 0


def reference(path: Path) -> int:
    from contactguard import fastpaths

    with fastpaths.reference():
        return ours(path)


def cpu(function: Callable[[Path], int], path: Path, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        function(path)
        best = min(best, time.process_time() - start)
    return best


def copied(source: Path, target: Path) -> Path:
    """``target`` made a copy of the ledger ``source`` (a merge changes it)."""
    shutil.copyfile(source, fresh(target))
    return target


def fresh(target: Path) -> Path:
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm"),
                     Path(f"{target}-journal")):
        leftover.unlink(missing_ok=True)
    return target


def ratio_line(name: str, seconds: float, base: float, target: float | None,
               peak: int | None = None) -> str:
    line = f"  {name:28} {seconds:7.2f} s  {seconds / base:5.1f} x"
    if target is not None:
        line += f"   target <= {target:g} x: {'PASS' if seconds <= target * base else 'FAIL'}"
    if peak is not None:
        line += f"   peak {peak / 1024:.0f} MB"
    return line


def wall_line(name: str, runs: list[tuple[float, int]], *, targeted: bool) -> str:
    """The best wall time and the peak of ``runs``, judged against <= 1 s and <= 100 MB
    (``targeted``) or not (``forget`` rewrites the file: no target)."""
    seconds, peak = min(s for s, _ in runs), max(p for _, p in runs)
    if targeted:
        verdict = "PASS" if seconds <= 1 and peak <= 100 * 1024 else "FAIL"
        said = f"targets <= 1 s, <= 100 MB: {verdict}"
    else:
        said = "(rewrites the file)"
    return f"  {name:28} {seconds:7.2f} s (wall)   {said}   peak {peak / 1024:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reference", action="store_true",
                        help="also read the ledger with the fast paths off (slow)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    ledger = OUT / f"ledger-{args.rows}.csv"
    if not ledger.exists():
        print(f"building {ledger.name} ...", file=sys.stderr)
        build(ledger, args.rows)
    archive = OUT / f"webhooks-{args.events}.jsonl"
    if not archive.exists():
        print(f"building {archive.name} ...", file=sys.stderr)
        build_webhooks(archive, args.events)
    book = OUT / "book-100.vcf"
    write_small_book(book)

    # the baseline and the two ratios with targets, round by round (a shared machine's speed
    # drifts: each round's three are measured within seconds of each other)
    sqlite = OUT / "imported.sqlite"
    bares, reads, imports = [], [], []
    for _ in range(args.runs):
        bares.append(cpu(bare_csv, ledger, 1))
        reads.append(cpu(ours, ledger, 1))
        imports.append(timed([str(CLI), "evidence", "import", str(ledger), "--ledger",
                              str(fresh(sqlite))], cpu=True))
    base, read = min(bares), min(reads)
    rounds = ", ".join(f"{r / b:.1f}/{i / b:.1f}"
                       for b, r, (i, _) in zip(bares, reads, imports, strict=True))
    slow = cpu(reference, ledger, 1) if args.reference else None
    script = ("import sys; from contactguard.evidence import load_evidence; "
              "load_evidence(sys.argv[1])")
    _, read_peak = timed([sys.executable, "-c", script, str(ledger)], cpu=True)
    # into a ledger holding it already (merged, not loaded): the same file again (a nightly
    # import of the whole export: nothing changes), and the file under another name (every
    # statement gets a second source: every row is rewritten), each into a copy of the import
    again = [timed([str(CLI), "evidence", "import", str(ledger), "--ledger",
                    str(copied(sqlite, OUT / "again.sqlite"))], cpu=True)
             for _ in range(args.runs)]
    renamed = OUT / f"renamed-{args.rows}.csv"
    shutil.copyfile(ledger, renamed)
    other = [timed([str(CLI), "evidence", "import", str(renamed), "--ledger",
                    str(copied(sqlite, OUT / "again.sqlite"))], cpu=True)
             for _ in range(args.runs)]
    # one person of the imported ledger: shown, and forgotten (from a copy); a number with a
    # LID (row 10, so its identity has two statements)
    person = "+4915000000010"
    shown = [timed([str(CLI), "evidence", "show", "--ledger", str(sqlite), "-n", person],
                   poll=0.005) for _ in range(args.runs)]
    forgotten = [timed([str(CLI), "evidence", "forget", person, "--ledger",
                        str(copied(sqlite, OUT / "again.sqlite"))], poll=0.005)
                 for _ in range(args.runs)]
    clean, report = OUT / "clean-100.vcf", OUT / "report-100.json"
    direct = [timed([str(CLI), "sanitize", str(book), "-e", str(ledger), "-o", str(clean),
                     "--report", str(report), "-q"], cpu=True) for _ in range(args.runs)]
    asked = [timed([str(CLI), "sanitize", str(book), "--ledger", str(sqlite), "-o", str(clean),
                    "--report", str(report), "-q"], poll=0.005) for _ in range(args.runs)]
    hook_base = cpu(bare_json, archive, args.runs)
    hooks = cpu(ours, archive, args.runs)
    _, hooks_peak = timed([sys.executable, "-c", script, str(archive)], cpu=True)

    size = os.path.getsize(ledger) / 1e6
    print(f"CSV ledger, {args.rows:,} rows ({size:.0f} MB), CPU seconds, best of {args.runs}")
    print(f"  {'bare csv.reader pass':28} {base:7.2f} s")
    print(ratio_line("read (load_evidence)", read, base, 5, read_peak))
    if slow is not None:
        print(ratio_line("read, reference mode", slow, base, None))
    load, peak = min(s for s, _ in imports), max(p for _, p in imports)
    print(ratio_line("evidence import", load, base, 10, peak))
    print(f"  {'(each round: read/import)':28} {rounds}")
    seconds, peak = min(s for s, _ in again), max(p for _, p in again)
    print(ratio_line("import again, same file", seconds, base, None, peak))
    seconds, peak = min(s for s, _ in other), max(p for _, p in other)
    print(ratio_line("import again, other name", seconds, base, None, peak))
    print(wall_line("evidence show -n, one person", shown, targeted=True))
    print(wall_line("evidence forget, one person", forgotten, targeted=False))
    seconds, peak = min(s for s, _ in direct), max(p for _, p in direct)
    print(ratio_line("sanitize 100 cards -e", seconds, base, None, peak))
    print(wall_line("sanitize 100 cards --ledger", asked, targeted=True))
    size = os.path.getsize(archive) / 1e6
    print(f"webhook archive, {args.events:,} events ({size:.0f} MB), CPU seconds")
    print(f"  {'bare json.loads per line':28} {hook_base:7.2f} s")
    print(ratio_line("read (load_evidence)", hooks, hook_base, 5, hooks_peak))


if __name__ == "__main__":
    main()
