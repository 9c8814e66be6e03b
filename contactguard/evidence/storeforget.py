"""Forgetting an identity in the SQLite ledger (``evidence.store``): rows deleted, the file
rebuilt, its WAL and journal emptied, the key's bytes verified gone."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EvidenceError
from .identity import Identity, Key, key_from_text, number_class
from .storeschema import alone_number, encode_keys

__all__ = ["FORGET_WAIT", "ForgetResult", "LedgerBusy", "LedgerForget", "names_identity"]

FORGET_WAIT = 10.0  # seconds ``forget`` waits for other users of the ledger by default


class LedgerBusy(EvidenceError):
    """Another program holds the ledger longer than ``forget`` may wait."""



@dataclass(frozen=True)
class ForgetResult:
    """What ``forget`` removed: identities, statements and the keys they held."""

    identities: int
    statements: int
    keys: tuple[Key, ...]


class LedgerForget:
    """The forgetting part of ``store.Ledger`` (a mixin: the ledger holds the connection)."""

    _db: sqlite3.Connection
    path: Path

    if TYPE_CHECKING:
        def _writable(self) -> None: ...

        def identities_named(self, wanted: list[Key]) -> list[Identity]: ...

    def forget(self, text: str, *, wait: float = FORGET_WAIT) -> ForgetResult:
        """Delete the whole identity ``text`` names (a number in any spelling, a user ID, a LID,
        a username or a display name): every statement, key and source, and leave no bytes of
        its keys in the file, its WAL or its journal.

        Waits up to ``wait`` seconds for other programs using the ledger, then raises
        ``LedgerBusy`` (nothing deleted, or deleted but not yet scrubbed: run it again).
        Forgetting a key the ledger does not hold still scrubs and verifies.
        """
        self._writable()
        wanted = key_from_text(text)
        if not wanted:
            raise EvidenceError(
                f"{text!r} is not a phone number, user id, LID, username or name"
            )
        deadline = time.monotonic() + wait
        self._db.execute(f"PRAGMA busy_timeout = {max(int(wait * 1000), 1)}")
        # in WAL mode, wait until no reader holds an old snapshot before deleting anything
        self._settle_wal(deadline, deleted=False)
        identities = self.identities_named(wanted)
        ids: set[int] = set()
        numbers: set[str] = set()
        keys: set[Key] = set(wanted)
        for identity in identities:
            keys.update(identity.keys)
            for statement in identity.statements:
                number = alone_number(statement.keys)
                if number is not None:
                    numbers.add(number)
                    continue
                row = self._db.execute(
                    "SELECT id FROM statement WHERE keys = ?", (encode_keys(statement.keys),)
                ).fetchone()
                if row is not None:
                    ids.add(int(row[0]))
        try:
            self._db.execute("BEGIN IMMEDIATE")
            deleted = self._db.executemany(
                "DELETE FROM statement WHERE id = ?", [(i,) for i in sorted(ids)]).rowcount
            deleted += self._db.executemany(
                "DELETE FROM number_alone WHERE number = ?", [(n,) for n in sorted(numbers)]
            ).rowcount
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise LedgerBusy(
                f"the ledger is busy ({exc}): another program used it for more than "
                f"{wait:g} s; nothing was deleted, try again when it is done",
                file=str(self.path),
            ) from exc
        self._scrub(deadline, sorted(keys), deleted=deleted > 0)
        return ForgetResult(len(identities), deleted, tuple(sorted(keys)))

    def _settle_wal(self, deadline: float, *, deleted: bool) -> None:
        """In WAL mode: checkpoint and truncate the log, retrying until ``deadline``."""
        mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            return
        while True:
            try:
                busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:
                busy = 1
            if not busy:
                return
            if time.monotonic() >= deadline:
                raise self._busy(deleted)
            time.sleep(0.05)

    def _busy(self, deleted: bool) -> LedgerBusy:
        if deleted:
            return LedgerBusy(
                "the ledger is busy: the identity was deleted, but another program still "
                "reads an older state of the file, so its old pages may remain; run forget "
                "again once that program is done",
                file=str(self.path),
            )
        return LedgerBusy(
            "the ledger is busy: another program is reading or writing it; nothing was "
            "deleted, try again when it is done",
            file=str(self.path),
        )

    def _scrub(self, deadline: float, keys: list[Key], *, deleted: bool) -> None:
        """Rebuild the file so no freed page keeps the keys, empty the WAL, then verify."""
        while True:
            try:
                self._settle_wal(deadline, deleted=deleted)
                self._db.execute("VACUUM")
                self._settle_wal(deadline, deleted=deleted)
            except sqlite3.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise self._busy(deleted) from exc
                time.sleep(0.05)
                continue
            left = _traces(self.path, keys)
            if not left:
                return
            # the file was rebuilt and the log emptied: bytes that remain are not going away
            raise EvidenceError(
                f"erasure could not be verified: {left} still holds the forgotten key's "
                "bytes (another entry or source may contain them); do not rely on this "
                "ledger being clean",
                file=str(self.path),
            )


def names_identity(identity: Identity, wanted: list[Key]) -> bool:
    """Whether ``identity`` is named by any of ``wanted`` (numbers by their WhatsApp variants,
    Argentina's 549/54 included: erasure errs on the side of removing)."""
    for key in wanted:
        if key.kind == "phone":
            target = number_class(key.value, ar_without_9=True)
            if any(
                number_class(k.value, ar_without_9=True) == target
                for k in identity.keys
                if k.kind == "phone"
            ):
                return True
        elif key in identity.keys:
            return True
    return False


def _traces(path: Path, keys: list[Key]) -> str | None:
    """The first of the ledger's files (main, -wal, -journal) that still holds a key's bytes."""
    needles = set()
    for key in keys:
        value = key.value.removeprefix("+").removesuffix("@lid")
        if value:
            needles.add(value.encode("utf-8"))
    for suffix in ("", "-wal", "-journal"):
        candidate = path.with_name(path.name + suffix)
        try:
            if _holds_any(candidate, needles):
                return candidate.name
        except FileNotFoundError:
            continue
        except OSError:
            return candidate.name
    return None


def _holds_any(path: Path, needles: set[bytes], block: int = 1 << 20) -> bool:
    """Whether the file holds any of ``needles``, read a block at a time (each block after
    the first starts with the last bytes of the one before, so a needle across two is found)."""
    if not needles:
        return False
    keep = max(map(len, needles)) - 1
    tail = b""
    with path.open("rb") as stream:
        while data := stream.read(block):
            window = tail + data
            if any(needle in window for needle in needles):
                return True
            tail = window[-keep:] if keep else b""
    return False
