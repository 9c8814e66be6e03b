"""Write files so that a crash never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ._files import file_error
from ._text import shown_path
from .errors import InputError


@contextlib.contextmanager
def atomic_write(path: str | Path, *, public: bool = False) -> Iterator[BinaryIO]:
    """Yield a binary file; on success it replaces ``path`` in one rename, else it vanishes.

    The temporary file lives in the target's folder so that ``os.replace`` is atomic (same file
    system); it is fsynced before the rename so that a power loss cannot expose an empty file.
    It is 0600, since outputs hold personal data; ``public`` gives it the usual mode (0666 less
    the umask) for files meant to be shared, such as a QR code.
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
        if public:
            umask = os.umask(0o022)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
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


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``: ``os.write`` may write fewer than asked (a nearly
    full disk, a signal), and a quarantine written short would lose part of a card."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # no progress: nothing more will fit
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def write_new_durably(path: Path, data: bytes) -> None:
    """Create ``path`` (0600, never over an existing file) holding exactly ``data``, on disk.

    The file and its folder are fsynced and the length on disk is checked; on any failure the
    file is removed again (no partial file is left) and the OSError is raised. FileExistsError
    means the name is taken: nothing was written.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size != len(data):
            raise OSError(errno.EIO, f"{size} of {len(data)} bytes reached the disk")
        fsync_folder(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def fsync_folder(folder: Path) -> None:
    """fsync a folder, so that a file just created (or renamed) in it survives a power loss."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_folder(folder: Path) -> None:
    """Create ``folder`` (and parents) readable by the owner only (0700) when it is missing."""
    if folder.is_dir():
        return
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # mkdir's mode is cut by the umask
