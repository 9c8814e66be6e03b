"""The one switch for every fast path: the reference mode.

contactguard's speed comes from fast paths that each stand in for a slower, obviously correct
reference: the light vCard reader for vobject, the segment reader for the line reader, the
vCard writer's shortcut for vobject's serialiser, the CSV reader's column fast paths, the
ledger files' block reader for the row-by-row reader, the number fast path for phonenumbers,
the quick decision for the full policy, the report's pre-rendered entries for ``json.dumps``,
the worker processes for one process. Each fast path asks :func:`enabled` before it is used,
and takes the reference road when it says no.

Reference mode is switched on for a process by the environment variable
``CONTACTGUARD_REFERENCE=1`` (it reaches worker processes and subprocesses), or for a block of
code by :func:`reference`. The differential tests and the benchmarks use it to hold every fast
path to the reference: a run in reference mode must write byte for byte the same clean book
and report as a run without it, only slower.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

ENVIRONMENT = "CONTACTGUARD_REFERENCE"

_reference = os.environ.get(ENVIRONMENT, "") not in ("", "0")


def enabled() -> bool:
    """Whether the fast paths may be used (False in reference mode)."""
    return not _reference


@contextmanager
def reference(on: bool = True) -> Iterator[None]:
    """Within the block, every fast path is off (or on again, with ``on=False``).

    The switch is process-wide, not per thread: it is meant for tests and benchmarks, which
    run one thing at a time. Worker processes forked inside the block inherit it.
    """
    global _reference
    before = _reference
    _reference = on
    try:
        yield
    finally:
        _reference = before
