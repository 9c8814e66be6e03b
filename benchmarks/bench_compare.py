"""Two commits of contactguard side by side: the same sanitize runs, interleaved, best of N.

    .venv/bin/python benchmarks/bench_compare.py OLD            # OLD against the working tree
    .venv/bin/python benchmarks/bench_compare.py OLD NEW -n 5   # two commits, five rounds

A restructuring must not cost speed, and this machine's speed drifts from minute to minute, so
two separate benchmark runs cannot tell 5 % apart. Here each round runs the CLI of the old and
of the new source tree one right after the other on the same books (the 100k vCard, Google and
Outlook books of ``bench_sanitize.py``, generated into benchmarks/out/ when missing), with the
default workers and with ``--jobs 1``. It prints the best wall time and the best CPU time (the
process and its workers: steadier on a busy machine) of each, their ratios, and whether both
trees wrote the same clean book and the same report entries and counts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from measure import OUT, ensure  # noqa: E402

CLI = Path(sys.executable).with_name("contactguard")
BOOKS = (("vCard 100k", "vcard30", "book-100k.vcf"), ("Google 100k", "google", "google-100k.csv"),
         ("Outlook 100k", "outlook", "outlook-100k.csv"))


def tree(rev: str | None, into: Path) -> Path:
    """The package of ``rev`` (None: the working tree) as a folder PYTHONPATH can point at."""
    if rev is None:
        return ROOT
    folder = into / rev.replace("/", "_")
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "contactguard"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(folder / "contactguard")],
                   check=True)
    return folder


def run(folder: Path, book: Path, ledger: Path, jobs: str, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one sanitize run with the package in ``folder``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(folder)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(CLI), "sanitize", str(book), "--evidence", str(ledger), "--region", "DE",
                    "-o", str(out / "clean.vcf"), "--report", str(out / "report.json"), "-q",
                    *(["--jobs", jobs] if jobs else [])], check=True, env=env,
                   capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def same(old: Path, new: Path) -> bool:
    """Whether two runs wrote the same clean book and the same report entries and counts."""
    if (old / "clean.vcf").read_bytes() != (new / "clean.vcf").read_bytes():
        return False
    a, b = (json.loads((d / "report.json").read_text(encoding="utf-8")) for d in (old, new))
    return bool(a["contacts"] == b["contacts"] and a["summary"] == b["summary"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="the commit to compare against (e.g. main, HEAD~3)")
    parser.add_argument("new", nargs="?", help="the commit to compare (default: working tree)")
    parser.add_argument("-n", "--rounds", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    ledger = ensure("ledger", 1000, "ledger.csv")
    books = [(label, ensure(fmt, 100_000, name)) for label, fmt, name in BOOKS]
    with tempfile.TemporaryDirectory() as temp:
        scratch = Path(temp)
        trees = {"old": tree(args.old, scratch), "new": tree(args.new, scratch)}
        outs = {side: scratch / f"out-{side}" for side in trees}
        for folder in outs.values():
            folder.mkdir()
        print(f"old {args.old}, new {args.new or 'working tree'}; best of {args.rounds}")
        ok = True
        for label, book in books:
            for jobs in ("", "1"):
                wall = dict.fromkeys(trees, float("inf"))
                cpu = dict.fromkeys(trees, float("inf"))
                for _ in range(args.rounds):
                    for side, folder in trees.items():
                        took, used = run(folder, book, ledger, jobs, outs[side])
                        wall[side], cpu[side] = min(wall[side], took), min(cpu[side], used)
                equal = same(outs["old"], outs["new"])
                ok = ok and equal
                mode = "--jobs 1" if jobs else "workers"
                print(f"{label:13} {mode:8}  wall {wall['old']:.2f} s → {wall['new']:.2f} s "
                      f"({wall['new'] / wall['old']:.3f}×)  CPU {cpu['old']:.2f} s → "
                      f"{cpu['new']:.2f} s ({cpu['new'] / cpu['old']:.3f}×)  "
                      f"{'same output' if equal else 'DIFFERENT'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
