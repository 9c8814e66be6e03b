"""Exceptions raised by contactguard.

Every error a user can cause is a ContactguardError with a message that names the file (and the
line, where there is one) and, where it helps, the flag to try. The CLI turns them into a one-line
message and exit status 1; nothing else reaches the user as a traceback.

    ContactguardError
     ├── InputError        an address book cannot be read (missing, empty, not a book, encoding)
     ├── EvidenceError     an evidence source cannot be read (bad row, unknown kind, bad date)
     ├── SyncError         the CardDAV sync job failed (auth, server down, lock held)
     └── ConfigError       a sync config or an option value is wrong

Third-party errors (vobject, sqlite3, httpx, csv, json) are translated at the boundary with
``raise ... from exc`` so that the original stays available to Python callers.
"""

from __future__ import annotations


class ContactguardError(Exception):
    """Base class: anything contactguard raises on purpose."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class InputError(ContactguardError):
    """An address book cannot be read: missing, empty, not a book, or in an unreadable encoding."""


class EvidenceError(ContactguardError):
    """An evidence source cannot be read: unknown kind, a bad row, an undecidable date format."""


class SyncError(ContactguardError):
    """The sync job failed: authentication, an unreachable server, a held lock."""


class ConfigError(ContactguardError):
    """A configuration file or an option value is wrong."""
