"""Outputs never name inputs: every path a command writes is checked against every file it reads.

An input is the file actually read, after folders and globs are expanded and links resolved:
``-e ev/ -o ev/ledger.csv`` names an input as surely as ``-e ev/ledger.csv -o ev/ledger.csv``.
An output that is a special file (a FIFO, a device, a socket) or a folder is refused too, since
the atomic rename would replace it with a regular file; ``-`` (standard output) is the one
exception. The checks run before anything is read or written.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import ConfigError

__all__ = ["check_outputs", "expand_inputs"]

_GLOB_CHARS = frozenset("*?[")


def expand_inputs(sources: Iterable[str | Path]) -> Iterator[Path]:
    """The files behind ``sources``: a folder gives every file below it, a glob its matches,
    a URL or ``-`` nothing; a missing path itself (the reader will say it is missing)."""
    for source in sources:
        text = str(source)
        if text == "-" or text.lower().startswith(("http://", "https://")):
            continue
        path = Path(text)
        if path.is_dir():
            yield from _below(path)
        elif path.exists() or not (_GLOB_CHARS & set(text)):
            yield path
        else:
            for match in sorted(glob.glob(text, recursive=True)):  # noqa: PTH207 - str patterns
                found = Path(match)
                yield from _below(found) if found.is_dir() else (found,)


def _below(folder: Path) -> Iterator[Path]:
    # as the evidence reader walks a folder: links to folders are not followed (no loops)
    for root, _dirs, files in os.walk(folder):
        for name in files:
            yield Path(root, name)


def check_outputs(outputs: Iterable[tuple[str, str | Path]], inputs: Iterable[str | Path]) -> None:
    """Refuse an output that is an input, a special file, or another output's path.

    ``outputs`` are (what, path) pairs, ``what`` naming the option or config key for the
    message; ``inputs`` are files or sources (folders and globs are expanded here).
    """
    read = {}
    for path in expand_inputs(inputs):
        key = _identity(path)
        if key is not None:
            read[key] = path
    seen: dict[str, str] = {}
    for what, output in outputs:
        if str(output) == "-":
            continue
        path = Path(output)
        _refuse_special(what, path)
        key = _identity(path)
        if key is not None and key in read:
            raise ConfigError(
                f"{what} {output} is an input file of this run ({read[key]}); inputs are never "
                "written: write it somewhere else"
            )
        resolved = str(_resolve(path))
        if path.is_dir():  # a folder we write into (the quarantine) must hold no input
            inside = next((r for r in read.values() if _resolve(r).is_relative_to(resolved)), None)
            if inside is not None:
                raise ConfigError(
                    f"{what} {output} holds an input of this run ({inside}); give it a "
                    "folder of its own"
                )
        if resolved in seen:
            raise ConfigError(f"{what} and {seen[resolved]} name the same file {output}")
        seen[resolved] = what


def _refuse_special(what: str, path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # not there yet (or unreadable: writing says why)
    if stat.S_ISREG(mode) or (stat.S_ISDIR(mode) and what == "quarantine"):
        return
    kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, device or socket)"
    raise ConfigError(f"{what} {path} is {kind}; name a regular file ('-' for standard output)")


def _identity(path: Path) -> tuple[int, int] | str | None:
    """What makes two names the same file: (device, inode) when it exists, else the resolved
    path (so that a link to a missing file still matches)."""
    try:
        st = path.stat()
    except OSError:
        return str(_resolve(path))
    return (st.st_dev, st.st_ino)


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a link loop: compare the absolute name
        return path.absolute()
