"""Fuzz targets shared by the hypothesis properties (tests/test_fuzz_properties.py) and the
atheris harnesses in this folder: each takes raw bytes and checks contactguard's promises.

- Reading any bytes raises nothing but a ContactguardError with a message (or yields contacts
  and per-card `unparseable` decisions).
- The clean book written from them holds only numbers with inbound-first evidence that is not
  opted out and not expired, and no field outside the allowed set; it parses back as a valid
  vCard or CSV with the same numbers; the summary accounts for every input card.
"""

from __future__ import annotations

import io
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

from contactguard import read_book
from contactguard.books import ReadOptions, write_book
from contactguard.errors import ContactguardError
from contactguard.evidence import Evidence, load_evidence
from contactguard.model import EvidenceRecord
from contactguard.pipeline import Sanitizer
from contactguard.policy import Policy

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MAX_AGE = timedelta(days=365)
KEEP = frozenset({"ORG", "EMAIL"})


def _evidence() -> Evidence:
    """Every state a number can be in, for numbers that fuzzed books are likely to contain."""
    day = timedelta(days=1)
    evidence = Evidence()
    states: list[dict[str, Any]] = [
        {"first_inbound_at": NOW - 10 * day},  # wrote first: kept
        {"first_inbound_at": NOW - 10 * day, "first_outbound_at": NOW - 20 * day},  # business
        {"first_inbound_at": NOW - 10 * day, "opted_out_at": NOW - 5 * day},  # opted out
        {"first_inbound_at": NOW - 900 * day},  # expired
        {"first_outbound_at": NOW - 10 * day},  # only outbound
    ]
    for prefix in ("+49151234567", "+49170123456", "+49171234567", "+49172345678"):
        for digit in range(10):
            evidence.add(EvidenceRecord("fuzz", phone=f"{prefix}{digit}", **states[digit % 5]))
    return evidence


EVIDENCE = _evidence()
POLICY = Policy(region="DE", keep_fields=KEEP, max_age=MAX_AGE, now=NOW)


class _Book(io.BytesIO):
    name = "book"


def check_book(data: bytes, fmt: str = "vcard3", input_format: str | None = None) -> None:
    """Run the whole pipeline over ``data``; raise AssertionError if a promise is broken."""
    if input_format != "csv":
        _whole_cards_as_lines(data)
    if input_format != "vcard":
        assert same_when_taking(data, KEEP, "csv"), "take is not given what the row holds"
    options = ReadOptions(input_format=input_format)
    try:
        contacts = list(read_book(_Book(data), options, name="book"))
    except ContactguardError as exc:
        assert str(exc).strip(), "an error without a message"
        return
    sanitizer = Sanitizer(EVIDENCE, POLICY, options)
    decisions = list(sanitizer.decisions([_Book(data)]))
    summary = sanitizer.summary
    assert len(decisions) == len(contacts) == summary.contacts_in
    assert summary.contacts_kept + summary.contacts_removed == summary.contacts_in
    for contact, decision in zip(contacts, decisions, strict=True):
        if contact.error is not None:
            assert decision.reason.value == "unparseable" and contact.error.strip()
    out = io.BytesIO()
    write_book(sanitizer.clean, out, fmt)
    if not sanitizer.clean:
        return
    back = list(read_book(io.BytesIO(out.getvalue()), name="clean"))
    assert len(back) == len(sanitizer.clean), "the clean book does not parse back card for card"
    for written, read in zip(sanitizer.clean, back, strict=True):
        assert read.error is None, read.error
        assert {f.name for f in read.fields} <= KEEP, read.fields
        numbers = [p.value.removeprefix("tel:") for p in read.phones]
        assert numbers == [p.value for p in written.phones], (numbers, written.phones)
        for number in numbers:
            entry = EVIDENCE.lookup(number)
            assert entry is not None, f"{number} has no evidence"
            assert entry.initiated and not entry.opted_out and not entry.expired(NOW, MAX_AGE)


def read_vcard(
    data: bytes, fields: frozenset[str] | None, *, whole: bool, reader: Any = None
) -> list[Any] | str:
    """The contacts a vCard ``Reader`` (the module's one unless given) gives for ``data``
    (``whole``), or its line reader, or the message of the error either raises."""
    from contactguard.books import vcard

    reader = reader or vcard.READER
    try:
        if whole:
            return list(reader.read(io.BytesIO(data), "book", ReadOptions(fields=fields)))
        chunks = vcard.lines.byte_chunks(io.BytesIO(data))
        return list(reader.lines.read(chunks, "book", fields, 1, True))
    except ContactguardError as exc:
        return str(exc)


def read_taking(
    data: bytes, fields: frozenset[str] | None, fmt: str = "vcard", reader: Any = None
) -> Any:
    """The book read with a ``take`` that takes every other contact it is offered: the
    contacts yielded, and in the place of each one taken what take was given, as ``Taken``.
    A vCard book through ``vcard.read``; a CSV book as the parallel pipeline reads a piece of
    it (``chunks.read_chunk``), or None when the pipeline would not cut it."""
    from contactguard.books import chunks, vcard

    out: list[Any] = []

    def take(line: int, name: str, numbers: list[str]) -> bool:
        if len(out) % 2:
            return False
        out.append(Taken(line, name, tuple(numbers)))
        return True

    options = ReadOptions(input_format=None if fmt == "vcard" else "csv", fields=fields)
    try:
        if fmt == "vcard":
            read = (reader or vcard.READER).read
            out.extend(read(io.BytesIO(data), "book", options, take=take))
            return out
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "book"
            path.write_bytes(data)
            plan = chunks.plan(path, "book", options)
            if plan is None:
                return None
            whole = chunks.Chunk(plan.start, None, plan.first_line, True)
            out.extend(chunks.read_chunk(plan, whole, options, take))
            return out
    except ContactguardError as exc:
        return str(exc)


class Taken(NamedTuple):
    line: int
    name: str
    numbers: tuple[str, ...]

    @classmethod
    def of(cls, contact: Any) -> Taken | None:
        """What ``take`` is given for a card (None: it is never offered, having an error)."""
        if contact.error is not None:
            return None
        return cls(contact.line, contact.display_name, tuple(p.value for p in contact.phones))


def same_when_taking(
    data: bytes, fields: frozenset[str] | None, fmt: str = "vcard", reader: Any = None
) -> bool:
    """``read_taking`` is what reading the book gives, with a contact in its place wherever
    take took one (given its line, display name and numbers)."""
    taking = read_taking(data, fields, fmt, reader)
    if fmt == "vcard":
        expected = read_vcard(data, fields, whole=False, reader=reader)
    elif taking is None:
        return True  # not read in pieces
    else:
        try:
            options = ReadOptions(input_format="csv", fields=fields)
            expected = list(read_book(io.BytesIO(data), options, name="book"))
        except ContactguardError as exc:
            expected = str(exc)
    if isinstance(taking, str) or isinstance(expected, str):
        return bool(taking == expected)
    return len(taking) == len(expected) and all(
        got == (Taken.of(want) if isinstance(got, Taken) else want)
        for got, want in zip(taking, expected, strict=True)
    )


def _whole_cards_as_lines(data: bytes) -> None:
    """The vCard reader, which matches most cards whole, gives exactly what its line-by-line
    reader gives: the same contacts, lines and errors, or the same InputError; and
    what it offers ``take`` is what those contacts hold."""
    for fields in (KEEP, frozenset()):
        same = read_vcard(data, fields, whole=True) == read_vcard(data, fields, whole=False)
        assert same, "the whole-card reader differs"
        assert same_when_taking(data, fields), "take is not given what the card holds"


def check_evidence(data: bytes, suffix: str) -> None:
    """Load ``data`` as an evidence file named ``*suffix``: only a ContactguardError may escape."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"WhatsApp Chat with Anna{suffix}"
        path.write_bytes(data)
        try:
            load_evidence([path], me="Shop")
        except ContactguardError as exc:
            assert str(exc).strip(), "an error without a message"


def seeds(kind: str) -> list[bytes]:
    """The fixture files of one kind (vcard, csv, chats, webhooks, evidence) as fuzzing seeds."""
    return [p.read_bytes() for p in sorted((FIXTURES / kind).iterdir()) if p.is_file()]
