"""Write files so that a crash never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ._files import file_error
from ._text import shown_path
from .errors import InputError


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """Yield a binary file; on success it replaces ``path`` in one rename, else it vanishes.

    The temporary file lives in the target's folder so that ``os.replace`` is atomic (same file
    system); it is fsynced before the rename so that a power loss cannot expose an empty file.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path()
    if target.is_dir():
        raise InputError("names a folder; give a file name to write", file=shown_path(target))
    if not folder.is_dir():
        raise InputError(f"cannot write here: no folder {shown_path(folder)}",
                         file=shown_path(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise file_error(target, exc, "the output") from exc
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        try:
            Path(tmp).replace(target)
        except OSError as exc:  # a folder appeared there meanwhile, a read-only file system
            raise file_error(target, exc, "the output") from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def refuse_overwriting_inputs(output: str | Path, inputs: Iterable[str | Path]) -> None:
    """Refuse an output path that is one of the inputs: inputs are never modified."""
    out = Path(output)
    if not out.exists():
        return
    for source in inputs:
        if str(source) == "-":
            continue
        with contextlib.suppress(OSError):
            if out.samefile(source):
                raise InputError(
                    "is an input file; write the clean book somewhere else", file=str(output)
                )
