"""Run one fuzz target under atheris (coverage-guided), seeded with the fixture files.

Imported by the fuzz_*.py scripts; atheris is needed only here, never by the test suite.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # "fuzz.targets", as the test suite imports it


def run(target: Callable[[bytes], None], seed_kinds: tuple[str, ...]) -> None:
    """Fuzz ``target`` with atheris; libFuzzer flags (-atheris_runs=N, -max_len=N) pass through."""
    try:
        import atheris
    except ImportError:
        sys.exit("atheris is not installed: pip install atheris (see tests/fuzz/README.md)")
    with atheris.instrument_imports():
        import contactguard.books
        import contactguard.evidence
        import contactguard.pipeline  # noqa: F401
    from fuzz.targets import seeds

    corpus = Path(tempfile.mkdtemp(prefix="contactguard-fuzz-"))
    for kind in seed_kinds:
        for index, data in enumerate(seeds(kind)):
            (corpus / f"{kind}-{index}").write_bytes(b"\x00" + data)  # byte 0 picks options
    given = [arg for arg in sys.argv[1:] if not arg.startswith("-")]  # crash files to replay
    args = sys.argv if given else [sys.argv[0], str(corpus), *sys.argv[1:]]
    atheris.Setup(args, target)
    atheris.Fuzz()
