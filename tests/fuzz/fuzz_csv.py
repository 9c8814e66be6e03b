"""Coverage-guided fuzzing of CSV book reading, the policy and the clean book (atheris).

    python tests/fuzz/fuzz_csv.py -atheris_runs=100000
"""

from __future__ import annotations

from _harness import run


def target(data: bytes) -> None:
    from fuzz.targets import check_book

    fmt = ("vcard3", "vcard4", "csv")[data[0] % 3] if data else "csv"
    check_book(data[1:], fmt, input_format="csv")


if __name__ == "__main__":
    run(target, ("csv",))
