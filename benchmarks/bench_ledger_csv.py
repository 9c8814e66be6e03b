"""A 1,000,000-row CSV ledger: read and imported, side by side with a bare ``csv.reader`` pass.

    .venv/bin/python benchmarks/bench_ledger_csv.py               # 1M rows (~1 min to build)
    .venv/bin/python benchmarks/bench_ledger_csv.py --rows 200000

Builds benchmarks/out/ledger-<rows>.csv once: made-up numbers, every row a first inbound time
(``…Z``), two in three a first outbound time (``+01:00``), every other a last inbound date,
every tenth a LID, every hundredth a user ID. Then, best of ``--runs``, in CPU seconds:

- a bare ``csv.reader`` pass over the file (the baseline: C speed);
- ``iter_records`` of it (what ``sanitize -e ledger.csv`` reads), in this process;
- ``contactguard evidence import`` of it into a new SQLite ledger, as a user runs it
  (a subprocess: CPU seconds from its resource usage, peak resident memory).

Targets: reading <= 5 x the bare pass; ``evidence import`` <= 10 x.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from measure import timed

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


def bare(path: Path) -> int:
    with path.open(newline="") as stream:
        return sum(1 for _ in csv.reader(stream)) - 1


def ours(path: Path) -> int:
    from contactguard.evidence import iter_records

    return sum(1 for _ in iter_records(str(path)))


def cpu(function, path: Path) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    start = time.process_time()
    count = function(path)
    return time.process_time() - start, count


def imported(path: Path) -> tuple[float, int]:
    """CPU seconds and peak RSS (KiB) of ``evidence import`` into a new ledger."""
    target = OUT / "imported.sqlite"
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    return timed([str(CLI), "evidence", "import", str(path), "--ledger", str(target)], cpu=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"ledger-{args.rows}.csv"
    if not path.exists():
        print(f"building {path.name} ...", file=sys.stderr)
        build(path, args.rows)
    base = min(cpu(bare, path)[0] for _ in range(args.runs))
    reads = [cpu(ours, path) for _ in range(args.runs)]
    read = min(seconds for seconds, _ in reads)
    assert all(count == args.rows for _, count in reads), reads
    imports = [imported(path) for _ in range(args.runs)]
    load, peak = min(s for s, _ in imports), max(p for _, p in imports)
    size = os.path.getsize(path) / 1e6
    print(f"CSV ledger, {args.rows:,} rows ({size:.0f} MB), CPU seconds, best of {args.runs}")
    print(f"  bare csv.reader pass  {base:7.2f} s")
    print(f"  iter_records          {read:7.2f} s  {read / base:5.1f} x   target <= 5 x: "
          f"{'PASS' if read <= 5 * base else 'FAIL'}")
    print(f"  evidence import       {load:7.2f} s  {load / base:5.1f} x   target <= 10 x: "
          f"{'PASS' if load <= 10 * base else 'FAIL'}   peak {peak / 1024:.0f} MB")


if __name__ == "__main__":
    main()
