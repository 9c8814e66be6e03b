"""Pausing Python's cycle collector while a large, acyclic structure is built."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cycle collector off, and on again after it if it was on.

    Building a million small objects (a ledger's identities) makes the collector walk every
    one of them again and again as they pile up: a third of the time, for structures that hold
    no cycles. Reference counting still frees everything; only cycles wait for the end of the
    block. Another thread's block may end first and turn it on again: that only costs time.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
