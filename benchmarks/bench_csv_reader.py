"""CSV reader alone against a bare ``csv.reader`` pass over the same 100,000-row files.

    .venv/bin/python benchmarks/bench_csv_reader.py            # Google and Outlook, best of 5
    .venv/bin/python benchmarks/bench_csv_reader.py --cpu      # CPU seconds: on a busy machine
    .venv/bin/python benchmarks/bench_csv_reader.py --profile  # also cProfile one Google read

Reads each book four ways in this process: bare ``csv.reader`` (the baseline of target 2), our
reader with every field (``ReadOptions()``), our reader with the fields ``contactguard
sanitize`` asks for by default (``ReadOptions(fields=frozenset())``: FN, N, TEL only), and the
same in reference mode (``fastpaths.reference()``: the reader's reference paths). Inputs are
generated into benchmarks/out/ like bench_sanitize.py does.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from measure import OUT, ensure  # noqa: E402

CPU = False

from contactguard import fastpaths  # noqa: E402
from contactguard.books import ReadOptions, read_book  # noqa: E402


def csv_pass(path: Path) -> int:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return sum(1 for _row in csv.reader(stream))


def ours(path: Path, options: ReadOptions) -> int:
    return sum(1 for _contact in read_book(path, options))


def best(run: Callable[[], int], repeat: int) -> float:
    """Best of ``repeat`` runs, in CPU seconds of this process with --cpu, else wall seconds."""
    clock = time.process_time if CPU else time.perf_counter
    times = []
    for _ in range(repeat):
        start = clock()
        run()
        times.append(clock() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--cpu", action="store_true",
                        help="CPU time of this process instead of wall time (on a busy machine)")
    args = parser.parse_args()
    global CPU
    CPU = args.cpu
    OUT.mkdir(exist_ok=True)
    books = (("Google", ensure("google", 100_000, "google-100k.csv")),
             ("Outlook", ensure("outlook", 100_000, "outlook-100k.csv")))
    for name, path in books:
        base = best(lambda p=path: csv_pass(p), args.repeat)  # type: ignore[misc]
        full = best(lambda p=path: ours(p, ReadOptions()), args.repeat)  # type: ignore[misc]
        lean = best(lambda p=path: ours(p, ReadOptions(fields=frozenset())),  # type: ignore[misc]
                    args.repeat)
        with fastpaths.reference():  # the reader's reference paths (and nothing else differs)
            slow = best(lambda p=path: ours(p, ReadOptions(fields=frozenset())),  # type: ignore[misc]
                        args.repeat)
        print(f"{name:<8} csv.reader {base:6.3f}s   reader all fields {full:6.3f}s "
              f"({full / base:5.2f}x)   reader FN/N/TEL {lean:6.3f}s ({lean / base:5.2f}x)   "
              f"reference mode FN/N/TEL {slow:6.3f}s ({slow / lean:5.2f}x the fast reader)",
              flush=True)
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(ours, books[0][1], ReadOptions(fields=frozenset()))
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
