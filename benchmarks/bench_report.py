"""Side-by-side benchmark: the HTML audit report against the JSON report of the same run.

    .venv/bin/python benchmarks/bench_report.py            # a 1,000,000-card book, ~5 minutes
    .venv/bin/python benchmarks/bench_report.py --quick    # a 100,000-card book

Target: ``sanitize BOOK --report r.html`` takes at most 3 times ``sanitize BOOK --report
r.json`` (same book, evidence and options; ``--dry-run``, so only the report is written). Both
run as subprocesses, exactly as a user runs them, alternating, best of ``--runs`` each; peak
memory is the process tree's largest resident set. Inputs are generated into benchmarks/out/
(gitignored) by make_book.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_sanitize import CLI, OUT, ensure, timed  # noqa: E402

TARGET = 3.0


def run(book: Path, ledger: Path, suffix: str) -> tuple[float, int]:
    return timed([str(CLI), "sanitize", str(book), "--evidence", str(ledger), "--region", "DE",
                  "--dry-run", "-q", "--report", str(OUT / f"bench-report{suffix}")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 100,000-card book")
    parser.add_argument("--runs", type=int, default=2, help="runs of each report (best counts)")
    args = parser.parse_args()
    size = 100_000 if args.quick else 1_000_000
    OUT.mkdir(exist_ok=True)
    book = ensure("vcard30", size, f"book-{size}.vcf")
    ledger = ensure("ledger", size // 100, f"ledger-{size}.csv")
    times: dict[str, list[float]] = {".json": [], ".html": []}
    peaks: dict[str, int] = {".json": 0, ".html": 0}
    for _ in range(args.runs):
        for suffix in times:
            seconds, peak = run(book, ledger, suffix)
            times[suffix].append(seconds)
            peaks[suffix] = max(peaks[suffix], peak)
    json_s, html_s = min(times[".json"]), min(times[".html"])
    ratio = html_s / json_s
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"{size:,} cards: JSON report {json_s:.1f} s ({peaks['.json'] // 1024} MB), "
          f"HTML report {html_s:.1f} s ({peaks['.html'] // 1024} MB): "
          f"{ratio:.2f}x, target <= {TARGET:g}x  {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
