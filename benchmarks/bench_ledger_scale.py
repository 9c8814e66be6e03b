"""`sanitize --ledger` of a 100-card book against a 1,000,000-identity SQLite ledger.

    .venv/bin/python benchmarks/bench_ledger_scale.py            # builds the ledger once (~1 min)
    .venv/bin/python benchmarks/bench_ledger_scale.py --whole    # also the whole-ledger read

Builds benchmarks/out/ledger-1m.sqlite with ``evidence import`` semantics (``Ledger.import_records``
of one million made-up records: numbers, every tenth with a LID, every hundredth with a user ID)
and a 100-card vCard book, half of whose numbers the ledger knows. Then runs the CLI as a user
does, side by side, best of three, with peak resident memory:

- ``sanitize book.vcf --ledger ledger-1m.sqlite``: the ledger is asked about the book's numbers;
- ``--whole``: the same book on standard input, which makes the ledger be read whole (the way
  every run read it before), once.

Targets: the first ≤ 1 s and ≤ 100 MB.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from measure import timed, write_small_book

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CLI = Path(sys.executable).parent / "contactguard"
IDENTITIES = 1_000_000


def build_ledger(path: Path) -> None:
    from contactguard.evidence.store import Ledger
    from contactguard.model import EvidenceRecord

    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)

    def records():  # type: ignore[no-untyped-def]
        for i in range(IDENTITIES):
            yield EvidenceRecord(
                source=f"crm.csv:{i + 2}",
                phone=f"+4915{i:09d}",
                lid=f"{10**14 + i}@lid" if i % 10 == 0 else None,
                user_id=f"DE.{10**12 + i}" if i % 100 == 0 else None,
                first_inbound_at=t0 + timedelta(minutes=i % 100_000),
                first_outbound_at=t0 + timedelta(minutes=(i * 7) % 100_000) if i % 3 else None,
            )

    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with Ledger(tmp) as db:
        db.import_records(records())
    tmp.rename(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--whole", action="store_true",
                        help="also time the whole-ledger read (minutes, gigabytes)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    ledger = OUT / "ledger-1m.sqlite"
    if not ledger.exists():
        print("building ledger-1m.sqlite ...", file=sys.stderr)
        start = time.perf_counter()
        build_ledger(ledger)
        print(f"  {time.perf_counter() - start:.0f} s, {ledger.stat().st_size / 1e6:.0f} MB",
              file=sys.stderr)
    book = OUT / "book-100.vcf"
    write_small_book(book)
    clean = OUT / "clean-100.vcf"
    command = [str(CLI), "sanitize", str(book), "--ledger", str(ledger), "-o", str(clean),
               "--report", str(OUT / "report-100.json"), "-q"]
    results = [timed(command, poll=0.005) for _ in range(args.runs)]
    seconds, peak = min(t for t, _ in results), max(r for _, r in results)
    kept = clean.read_text().count("BEGIN:VCARD")
    print(f"sanitize --ledger: 100-card book, {IDENTITIES:,}-identity ledger "
          f"({ledger.stat().st_size / 1e6:.0f} MB), best of {args.runs}")
    print(f"  asked about the book      {seconds:6.2f} s  peak {peak / 1024:5.0f} MB  "
          f"{kept} kept   targets <= 1 s, <= 100 MB: "
          f"{'PASS' if seconds <= 1 and peak <= 100 * 1024 else 'FAIL'}")
    if args.whole:
        whole = [str(CLI), "sanitize", "-", "--ledger", str(ledger), "-o", str(clean), "-q"]
        seconds, peak = timed(whole, stdin=book, poll=0.005)
        print(f"  read whole (book on stdin) {seconds:6.2f} s  peak {peak / 1024:5.0f} MB")


if __name__ == "__main__":
    main()
