"""The line grammar of chat exports: the timestamp shapes of Android and iOS in every locale's
date order and clock, the invisible marks, raw dates resolved once the day/month order is known,
sender names, and the file read in bounded pieces."""

from __future__ import annotations

import calendar
import io
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import IO, NamedTuple

DATE_ORDERS = ("DMY", "MDY", "YMD")

_MAX_LINE = 64 * 1024  # longer physical lines are read in pieces, never whole
MAX_NAME = 100  # a "Name:" longer than this is message text, not a sender
_MAX_NOTES = 20

# Invisible marks WhatsApp puts anywhere: LRM/RLM, BOM (also mid-file), bidi embeddings around
# phone numbers (U+202A…U+202E) and isolates (U+2066…U+2069).
_MARK_CLASS = "\u200e\u200f\ufeff\u202a-\u202e\u2066-\u2069"
MARKS = re.compile(f"[{_MARK_CLASS}]")
MARK_CHARS = "\u200e\u200f\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_M = f"[{_MARK_CLASS}]*"
_SP = "[ \u00a0\u202f]"  # space, no-break space, narrow no-break space (before AM/PM)

_DATE = r"(?P<a>\d{1,4})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2,4})"
_TIME = r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2}))?\.?"  # "13:01." in some locales
_AMPM = rf"(?:{_SP}*(?P<ampm>[AaPp]\.?{_SP}?[Mm]\.?|vorm\.|nachm\.))?"
_STAMP = rf"{_DATE},?{_SP}+(?:à{_SP}+)?{_TIME}{_AMPM}"
ANDROID = re.compile(rf"{_M}{_STAMP}{_SP}*[-–]{_SP}+(?P<rest>.*)")
IOS = re.compile(rf"{_M}\[{_M}{_STAMP}{_M}\]{_SP}*(?P<rest>.*)")


class Raw(NamedTuple):
    """A timestamp before the day/month order is known: the three date fields as written."""

    a: int
    b: int
    c: int
    year_first: bool  # the first field has 4 digits: always year-month-day
    hour: int
    minute: int
    second: int



_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def date_of(raw: Raw, order: str) -> tuple[int, int, int] | None:
    """(year, month, day) of ``raw`` read in ``order``, or None if that is no calendar date."""
    if raw.year_first or order == "YMD":
        year, month, day = raw.a, raw.b, raw.c
    elif order == "DMY":
        day, month, year = raw.a, raw.b, raw.c
    else:
        month, day, year = raw.a, raw.b, raw.c
    if year < 100 and not raw.year_first:  # "0000-01-01" is year 0: no date
        year += 2000  # WhatsApp dates from 2009: a 2-digit year is 20xx
    if not 1 <= month <= 12 or not 1 <= year <= 9999:
        return None
    if not 1 <= day <= _DAYS[month] and not (month == 2 and day == 29 and calendar.isleap(year)):
        return None
    return year, month, day


def moment(raw: Raw, order: str) -> datetime:
    found = date_of(raw, order)
    if found is None:  # _order() only returns orders every kept line fits
        raise AssertionError(raw)
    return datetime(*found, raw.hour, raw.minute, raw.second, tzinfo=timezone.utc)


_NO_NAMES: frozenset[str] = frozenset()


def longer_names(rest: str, colon: int) -> frozenset[str]:
    """The names a line's sender could have if its name went on past the first ": " (a saved
    contact "Anna: Work" writes "Anna: Work: hi"), up to the length a name may have."""
    start = colon + 1
    nxt = rest.find(": ", start)
    if nxt < 0 or nxt > MAX_NAME:  # nearly every line: no second ": " near the start
        return _NO_NAMES
    found: list[str] = []
    while True:
        nxt = rest.find(": ", start)
        if nxt < 0 or nxt > MAX_NAME:
            return frozenset(found)
        name = clean_name(rest[:nxt])
        if name:
            found.append(name)
        start = nxt + 1


def clean_name(text: str) -> str:
    return " ".join(MARKS.sub("", text).split())


def pieces(stream: IO[str]) -> Iterator[tuple[str, bool]]:
    """Lines of at most _MAX_LINE characters, each with whether it starts a physical line."""
    start = True
    while True:
        piece = stream.readline(_MAX_LINE)
        if not piece:
            return
        yield piece, start
        start = piece.endswith("\n")


def text_of(binary: IO[bytes]) -> io.TextIOWrapper:
    # newline=None: CRLF and CR become "\n"; U+2028 inside a message is not a line break
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline=None)

