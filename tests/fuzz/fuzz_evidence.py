"""Coverage-guided fuzzing of every evidence reader (atheris): chat exports (.txt and .zip),
webhook archives (.json, .jsonl) and ledgers (.csv, .jsonl). The first byte picks the file name.

    python tests/fuzz/fuzz_evidence.py -atheris_runs=100000
"""

from __future__ import annotations

from _harness import run

SUFFIXES = (".txt", ".zip", ".json", ".jsonl", ".csv")


def target(data: bytes) -> None:
    from fuzz.targets import check_evidence

    suffix = SUFFIXES[data[0] % len(SUFFIXES)] if data else ".txt"
    check_evidence(data[1:], suffix)


if __name__ == "__main__":
    run(target, ("chats", "webhooks", "evidence"))
