"""The evidence ledger as a file: CSV or JSONL, one row per statement about one identity.

CSV: a header row (names case-insensitive), then one row per identity; ``,``, ``;`` or tab as
delimiter (chosen by which one splits the header into the known columns); UTF-8 with or without
a BOM; extra columns are ignored::

    phone,first_inbound_at,first_outbound_at,last_inbound_at,opted_out_at
    +491701234567,2026-03-01T09:15:00+01:00,,,
    5215541637145,2026-02-10,2026-02-11,,

JSONL: one object per line with the same keys (unknown keys ignored, blank lines skipped)::

    {"phone": "+491701234567", "first_inbound_at": "2026-03-01T09:15:00Z"}

Columns:

- ``phone`` (CSV header: required): +E.164 or a WhatsApp ``wa_id`` (digits only, international);
  stored as the canonical "+digits" key of ``phones.evidence_key``.
- ``first_inbound_at`` (CSV header: required), ``first_outbound_at``, ``last_inbound_at``,
  ``opted_out_at``: ISO 8601 dates or date-times (see ``contactguard.timeparse``: a date means
  midnight UTC, a date-time without offset is UTC). An empty cell or ``null`` is unset.
- ``name``, ``user_id``, ``parent_user_id``, ``username``, ``lid`` (optional): the other keys
  of the same person (see ``evidence.identity``); a row whose phone is empty may carry any of
  them instead. Keys on one row are one person.

A row that cannot be read is an EvidenceError naming file and line: the ledger is evidence for a
compliance decision, so a bad row is never skipped silently.

Readers take a file object (binary or text) and a display name for messages and provenance; they
never open files, so a remote source can feed them bytes.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain
from typing import IO

from .. import fastpaths
from ..errors import EvidenceError
from ..model import EvidenceRecord
from ..phones import evidence_key, plain_number
from ..timeparse import parse_timestamp

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "read_csv",
    "read_jsonl",
    "records",
    "sniff_csv",
    "sniff_jsonl",
]

REQUIRED_COLUMNS = ("phone", "first_inbound_at")
TIME_COLUMNS = ("first_inbound_at", "first_outbound_at", "last_inbound_at", "opted_out_at")
OPTIONAL_COLUMNS = (
    "first_outbound_at", "last_inbound_at", "opted_out_at", "name", "user_id", "parent_user_id",
    "username", "lid",
)
KNOWN_COLUMNS = frozenset(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
_DELIMITERS = (",", ";", "\t")
BOM = "\ufeff"
MAX_LINE = 1024 * 1024  # a ledger row is well under 1 KB; a longer line is not a ledger

# A Cloud API webhook payload also starts with "{", but never has a top-level "phone" key.
_JSON_PHONE_KEY = re.compile(r'"phone"\s*:')
_WEBHOOK_KEYS = frozenset({"entry", "object"})

_Fail = Callable[[str], EvidenceError]


def records(stream: IO[bytes] | IO[str], source: str) -> Iterator[EvidenceRecord]:
    """The records of a CSV or JSONL ledger (told apart by the first non-blank line)."""
    lines = _text_lines(stream, source)
    skipped, first = first_content_line(lines)
    if first is None:
        return
    rest = chain([first], lines)
    if first.lstrip().startswith("{"):
        yield from _jsonl(rest, source, skipped)
    else:
        yield from _csv(rest, source, skipped)


def read_csv(stream: IO[bytes] | IO[str], source: str) -> Iterator[EvidenceRecord]:
    """The records of a CSV ledger; ``source`` names it in messages and in ``record.source``."""
    lines = _text_lines(stream, source)
    skipped, first = first_content_line(lines)
    if first is not None:
        yield from _csv(chain([first], lines), source, skipped)


def read_jsonl(stream: IO[bytes] | IO[str], source: str) -> Iterator[EvidenceRecord]:
    """The records of a JSONL ledger; ``source`` names it in messages and in ``record.source``."""
    yield from _jsonl(_text_lines(stream, source), source, 0)


def sniff_csv(location: str, head: bytes) -> bool:
    """A CSV ledger: a header with a ``phone`` column, or any ``.csv`` file that is not JSON.

    Claiming every ``.csv`` (an empty one too: it holds no rows, which is fine) lets the reader
    say which required column is missing instead of "not a known evidence source".
    """
    first = _head_line(head)
    if first.startswith(("{", "[")):
        return False
    if any("phone" in _header_names(first, delimiter) for delimiter in _DELIMITERS):
        return True
    return location.lower().endswith(".csv")


def sniff_jsonl(location: str, head: bytes) -> bool:
    """A JSONL ledger: the first line is an object with a ``phone`` key and no webhook keys."""
    first = _head_line(head)
    if not first:
        return location.lower().endswith((".jsonl", ".ndjson"))  # empty: no rows, fine
    if not first.startswith("{"):
        return False
    try:
        value = json.loads(first)
    except (ValueError, RecursionError):  # json's C parser recurses once per nesting level
        # the head may cut a long first line short: judge by the keys that are visible
        return bool(_JSON_PHONE_KEY.search(first)) and '"entry"' not in first
    return isinstance(value, dict) and "phone" in value and not _WEBHOOK_KEYS & value.keys()


def _csv(
    lines: Iterator[str], source: str, offset: int, *, reference: bool | None = None
) -> Iterator[EvidenceRecord]:
    """CSV rows after ``offset`` blank lines; ``lines`` starts with the header line.

    ``reference`` reads every row through ``row_record`` (the plain reading the fast one is
    tested against)."""
    header_line = next(lines)
    header_lineno = offset + 1
    delimiter, names = pick_delimiter(header_line)
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        raise EvidenceError(
            f"the header has no {' and no '.join(missing)} column; a ledger needs "
            f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)})",
            file=source,
            line=header_lineno,
        )
    twice = sorted({name for name in names if name in KNOWN_COLUMNS and names.count(name) > 1})
    if twice:  # which of the two holds the truth cannot be told: refuse rather than pick one
        raise EvidenceError(
            f"the header names the column {', '.join(twice)} twice", file=source,
            line=header_lineno,
        )
    index = {name: names.index(name) for name in KNOWN_COLUMNS if name in names}
    if reference is None:
        reference = not fastpaths.enabled()
    if not reference:
        yield from _csv_rows(lines, delimiter, index, source, header_lineno)
        return
    reader = csv.reader(lines, delimiter=delimiter)
    consumed = header_lineno  # physical lines read so far, header included
    while True:
        line = consumed + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise EvidenceError(f"not valid CSV: {exc}", file=source, line=line) from exc
        consumed = header_lineno + reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        values = {name: row[i] for name, i in index.items() if i < len(row)}
        yield row_record(values, source, line)


_ABSENT = sys.maxsize  # the index of a column the header does not name: never a cell


def _csv_rows(
    lines: Iterator[str], delimiter: str, index: Mapping[str, int], source: str,
    header_lineno: int,
) -> Iterator[EvidenceRecord]:
    """The rows of ``reader`` as records: the loop of ``_csv(reference=True)`` with the common
    row (a valid number and ISO times, or other keys) read inline. Whatever the inline reading
    does not take as it is (a bad number or time, a row without keys) goes to ``row_record``,
    which says what is wrong with file and line, exactly as the reference does."""
    i_phone, i_name, i_user, i_parent, i_username, i_lid, i_in, i_out, i_last, i_opt = (
        index.get(column, _ABSENT) for column in (
            "phone", "name", "user_id", "parent_user_id", "username", "lid",
            "first_inbound_at", "first_outbound_at", "last_inbound_at", "opted_out_at"))
    reader = csv.reader(lines, delimiter=delimiter)
    plain = plain_number
    parse = parse_timestamp
    record = EvidenceRecord
    consumed = header_lineno  # physical lines read so far, header included
    while True:
        line = consumed + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise EvidenceError(f"not valid CSV: {exc}", file=source, line=line) from exc
        consumed = header_lineno + reader.line_num
        size = len(row)
        raw = row[i_phone].strip() if i_phone < size else ""
        try:
            if raw:
                number = raw if raw[0] == "+" else "+" + raw
                if not plain(number):
                    raise _Unsure
                phone: str | None = number
            else:
                phone = None
            name = (row[i_name].strip() if i_name < size else "") or None
            user_id = (row[i_user].strip() if i_user < size else "") or None
            parent = (row[i_parent].strip() if i_parent < size else "") or None
            username = (row[i_username].strip() if i_username < size else "") or None
            lid = (row[i_lid].strip() if i_lid < size else "") or None
            if not (phone or name or user_id or parent or username or lid):
                if not any(cell.strip() for cell in row):
                    continue  # a blank row
                raise _Unsure
            text = row[i_in].strip() if i_in < size else ""
            first_in = parse(text) if text else None
            text = row[i_out].strip() if i_out < size else ""
            first_out = parse(text) if text else None
            text = row[i_last].strip() if i_last < size else ""
            last_in = parse(text) if text else None
            text = row[i_opt].strip() if i_opt < size else ""
            opted = parse(text) if text else None
        except (_Unsure, ValueError):
            values = {column: row[i] for column, i in index.items() if i < size}
            yield row_record(values, source, line)
            continue
        yield record(f"{source}:{line}", phone, name, user_id, first_in, first_out, last_in,
                     opted, parent, username, lid)


class _Unsure(Exception):
    """The inline reading of a row leaves it to the reference reading."""


class _DuplicateKey(ValueError):
    """A JSON object names a key twice (json.loads would keep the last one silently)."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"the object names the key {key!r} twice")
            seen.add(key)
    return value


# A key's closing quote and its colon. Outside strings every match ends a key; inside one a
# quote is escaped, so matches there only add: when an object of plain values has as many
# keys as matches, no key was named twice.
KEY_END = re.compile(r'"\s*:')


def _jsonl(
    lines: Iterable[str], source: str, offset: int, *, reference: bool | None = None
) -> Iterator[EvidenceRecord]:
    """JSONL rows after ``offset`` blank lines. A line is parsed by ``json.loads`` alone when
    that shows no key named twice (see ``KEY_END``) and its row read inline; anything else
    (and everything with ``reference``) goes through the duplicate-key hook and ``row_record``."""
    if reference is None:
        reference = not fastpaths.enabled()
    for lineno, text in enumerate(lines, start=offset + 1):
        if not text.strip():
            continue
        if not reference:
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                value = None  # the reference parse says what is wrong
            if (isinstance(value, dict) and len(KEY_END.findall(text)) == len(value)
                    and not any(isinstance(v, (dict, list)) for v in value.values())):
                fast = _fast_record(value, source, lineno)
                yield row_record(value, source, lineno) if fast is None else fast
                continue
        try:
            value = json.loads(text, object_pairs_hook=_unique_keys)
        except _DuplicateKey as exc:  # as a CSV header naming a column twice: refused
            raise EvidenceError(str(exc), file=source, line=lineno) from None
        except ValueError as exc:
            raise EvidenceError(f"not valid JSON: {exc}", file=source, line=lineno) from exc
        except RecursionError as exc:  # json's C parser recurses once per nesting level
            raise EvidenceError("JSON nested too deeply", file=source, line=lineno) from exc
        if not isinstance(value, dict):
            raise EvidenceError(
                f"expected a JSON object per line, found {type(value).__name__}",
                file=source,
                line=lineno,
            )
        yield row_record(value, source, lineno)


def _fast_record(values: Mapping[str, object], source: str, line: int) -> EvidenceRecord | None:
    """``row_record`` of a row whose values are all text (or null) in the common shapes, or None
    when ``row_record`` must read it (a wrong value: it says what is wrong)."""
    cells = [values.get(column) for column in _FAST_COLUMNS]
    if not all(cell is None or type(cell) is str for cell in cells):
        return None
    raw, name, user_id, parent, username, lid, *times = (
        cell.strip() if isinstance(cell, str) else "" for cell in cells
    )
    phone = None
    if raw:
        phone = raw if raw[0] == "+" else "+" + raw
        if not plain_number(phone):
            return None
    if not (phone or name or user_id or parent or username or lid):
        return None
    try:
        first_in, first_out, last_in, opted = (parse_timestamp(t) if t else None for t in times)
    except ValueError:
        return None
    return EvidenceRecord(f"{source}:{line}", phone, name or None, user_id or None, first_in,
                          first_out, last_in, opted, parent or None, username or None,
                          lid or None)


_FAST_COLUMNS = ("phone", "name", "user_id", "parent_user_id", "username", "lid", *TIME_COLUMNS)


def row_record(values: Mapping[str, object], source: str, line: int) -> EvidenceRecord:
    """One ledger row as a record; EvidenceError saying which value is wrong."""

    def fail(message: str) -> EvidenceError:
        return EvidenceError(message, file=source, line=line)

    raw_phone = _text(values.get("phone"), "phone", fail, allow_int=True)
    phone = None
    if raw_phone:
        phone = evidence_key(raw_phone)
        if phone is None:
            raise fail(
                f"phone {raw_phone!r} is not a +E.164 number or a WhatsApp wa_id "
                "(digits only, starting with the country code)"
            )
    name = _text(values.get("name"), "name", fail)
    user_id = _text(values.get("user_id"), "user_id", fail)
    others = {
        column: _text(values.get(column), column, fail) or None
        for column in ("parent_user_id", "username", "lid")
    }
    if not (phone or name or user_id or any(others.values())):
        raise fail("no phone number (the phone value is empty or missing)")
    times = {}
    for column in TIME_COLUMNS:
        text = _text(values.get(column), column, fail)
        if text:
            try:
                times[column] = parse_timestamp(text)
            except ValueError as exc:
                raise fail(f"{column}: {exc}") from exc
    return EvidenceRecord(
        source=f"{source}:{line}",
        phone=phone,
        name=name or None,
        user_id=user_id or None,
        parent_user_id=others["parent_user_id"],
        username=others["username"],
        lid=others["lid"],
        first_inbound_at=times.get("first_inbound_at"),
        first_outbound_at=times.get("first_outbound_at"),
        last_inbound_at=times.get("last_inbound_at"),
        opted_out_at=times.get("opted_out_at"),
    )


def _text(value: object, column: str, fail: _Fail, *, allow_int: bool = False) -> str:
    """A cell as stripped text ("" for empty/null); JSON may give a wa_id as a number."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    shown = json.dumps(value)
    shown = shown if len(shown) <= 80 else shown[:80] + "…"
    raise fail(f"{column} must be a string, not {shown}")


def _text_lines(stream: IO[bytes] | IO[str], source: str) -> Iterator[str]:
    """Lines of text (ends kept, BOM removed) from a binary or text stream, read lazily."""
    if isinstance(stream.read(0), str):
        text_lines: Iterator[str] = bounded_lines(stream, source)  # type: ignore[assignment]
    else:
        text_lines = _decode(bounded_lines(stream, source), source)  # type: ignore[arg-type]
    first = next(text_lines, None)
    if first is None:
        return
    yield first.removeprefix(BOM)
    yield from text_lines


def bounded_lines(
    stream: IO[bytes] | IO[str], source: str, limit: int = MAX_LINE, what: str = "a ledger row"
) -> Iterator[bytes | str]:
    """The physical lines of a stream, refusing one longer than ``limit`` (memory stays flat):
    a longer line is an EvidenceError naming the line, never read whole."""
    lineno = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        lineno += 1
        newline = b"\n" if isinstance(line, bytes) else "\n"
        if len(line) > limit and not line.endswith(newline):  # type: ignore[arg-type]
            raise EvidenceError(
                f"line longer than {limit:,} characters: not {what}", file=source, line=lineno
            )
        yield line


def _decode(raw_lines: Iterator[bytes], source: str) -> Iterator[str]:
    # Splitting bytes on b"\n" before decoding is safe in UTF-8: 0x0A never occurs inside a
    # multi-byte sequence, and it lets a decoding error name its line.
    decoder = codecs.getincrementaldecoder("utf-8")()
    for lineno, raw in enumerate(raw_lines, start=1):
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError as exc:
            raise EvidenceError(
                f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line); "
                "save the ledger as UTF-8",
                file=source,
                line=lineno,
            ) from exc
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise EvidenceError("not UTF-8 text (truncated at the end)", file=source) from exc


def first_content_line(lines: Iterator[str]) -> tuple[int, str | None]:
    """(number of blank lines skipped, the first non-blank line or None)."""
    skipped = 0
    for line in lines:
        if line.strip():
            return skipped, line
        skipped += 1
    return skipped, None


def pick_delimiter(header: str) -> tuple[str, list[str]]:
    """The delimiter that splits the header into the most known columns, and the names."""
    best = max(
        _DELIMITERS,
        key=lambda d: len(KNOWN_COLUMNS.intersection(_header_names(header, d))),
    )
    return best, _header_names(header, best)


def _header_names(header: str, delimiter: str) -> list[str]:
    try:
        cells = next(csv.reader([header], delimiter=delimiter), [])
    except csv.Error:  # a stray CR inside the line (binary data, old Mac line ends): no header
        return []
    return [cell.strip().lstrip(BOM).strip().lower() for cell in cells]


def _head_line(head: bytes) -> str:
    text = head.decode("utf-8", errors="replace").lstrip(BOM + " \t\r\n")
    lines = text.splitlines()
    return lines[0].strip() if lines else ""
