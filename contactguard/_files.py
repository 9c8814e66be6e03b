"""The one place that turns an operating-system or encoding error on a named file into a
one-line ContactguardError (an InputError unless the caller names another class).

    with named_file(path, "the password file"):
        secret = Path(path).read_text(encoding="utf-8")

A missing file, a folder where a file was expected, a permission problem, or text that is not
UTF-8 then reads ``PATH: the password file is not UTF-8 text (byte 0xff at offset 3)`` rather
than a traceback; the original error stays available as ``__cause__``.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

from ._text import shown_path
from .errors import ContactguardError, InputError

__all__ = ["file_error", "named_file"]


def file_error(
    path: str | Path,
    exc: OSError | UnicodeError,
    what: str = "the file",
    error: type[ContactguardError] = InputError,
) -> ContactguardError:
    """The one-line error for ``exc`` raised on ``path`` (``what`` names its role)."""
    name = shown_path(path)
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start : exc.start + 1]
        message = f"{what} is not UTF-8 text (byte 0x{bad.hex()} at offset {exc.start})"
    elif isinstance(exc, UnicodeError):
        reason = getattr(exc, "reason", None) or type(exc).__name__
        message = f"{what} holds characters that cannot be used here ({reason})"
    elif isinstance(exc, FileNotFoundError):
        message = f"{what} does not exist"
    elif isinstance(exc, IsADirectoryError) or exc.errno == errno.EISDIR:
        message = f"{what} names a folder, not a file"
    elif isinstance(exc, NotADirectoryError):
        message = f"{what}: a part of the path is not a folder"
    elif isinstance(exc, PermissionError):
        message = f"{what} cannot be accessed (permission denied)"
    else:
        reason = exc.strerror or type(exc).__name__
        message = f"{what} cannot be used ({reason})"
    return error(message, file=name)


@contextlib.contextmanager
def named_file(
    path: str | Path, what: str = "the file", error: type[ContactguardError] = InputError
) -> Iterator[None]:
    """Turn an OSError or UnicodeError raised inside the block into ``file_error``."""
    try:
        yield
    except (OSError, UnicodeError) as exc:
        raise file_error(path, exc, what, error) from exc
