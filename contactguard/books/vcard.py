"""Placeholder: being written (issue 2)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ..model import Contact


def read(stream: BinaryIO, source: str, options: object) -> Iterator[Contact]:
    raise NotImplementedError


def write(contacts: Iterable[Contact], stream: BinaryIO, fmt: str) -> None:
    raise NotImplementedError
