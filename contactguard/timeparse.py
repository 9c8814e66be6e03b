"""ISO 8601 timestamps as evidence ledgers write them, to timezone-aware UTC datetimes.

Python 3.10's ``datetime.fromisoformat`` rejects a trailing ``Z`` and ``+0100`` offsets, so the
accepted subset is spelt out here, the same on every supported Python:

    2026-03-01                      a date: midnight UTC of that day
    2026-03-01T09:15                no offset: taken as UTC (ledgers are written by machines
    2026-03-01 09:15:00             that log UTC; say so with "Z" to be explicit)
    2026-03-01T09:15:00.123Z        "Z", "+01:00", "+0100" or "+01": converted to UTC
    2026-03-01 09:15:00+01:00
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from . import fastpaths

__all__ = ["parse_timestamp", "parse_timestamp_reference"]

_ISO = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:
        [T\ ]
        (?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?
        \ ?
        (?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?
    )?
    """,
    re.VERBOSE | re.IGNORECASE,
)


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime; ValueError says what is wrong.

    The shapes machines write (``2026-03-01``, ``2026-03-01T09:15:00Z``, ``…+01:00``, without
    offset, ``T`` or space) are read by ``datetime.fromisoformat``; anything else, and anything
    that refuses, goes through ``parse_timestamp_reference``, which gives the same datetime or
    says what is wrong. Dates (which repeat) are answered from a bounded memo. In reference
    mode (``fastpaths``) every text goes through ``parse_timestamp_reference``.
    """
    if not fastpaths.enabled():
        return parse_timestamp_reference(text)
    moment = _DAYS.get(text)
    if moment is not None:
        return moment
    try:
        moment = _fast(text)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        return parse_timestamp_reference(text)
    if len(text) == 10 and len(_DAYS) < _DAYS_KEPT:
        _DAYS[text] = moment
    return moment


_DAYS: dict[str, datetime] = {}
_DAYS_KEPT = 50_000  # more than a century of days; a few MB at most


# The shapes read fast; ASCII digits only (a str pattern's \d would take any script's digits).
_FAST_SHAPE = re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)?)?", re.ASCII)


def _fast(text: str) -> datetime | None:
    """``text`` in one of the common exact shapes, or None (the reference decides then)."""
    if _FAST_SHAPE.fullmatch(text) is None:
        return None
    # "+00:00" rather than "Z" (which Python 3.10 does not take) or .replace(tzinfo=…) (slow)
    if text[-1] == "Z":
        return datetime.fromisoformat(text[:-1] + "+00:00")
    if len(text) == 25:  # an offset: in range as the reference wants it
        if text[-5:-3] > "23" or text[-2:] > "59":
            return None
        return datetime.fromisoformat(text).astimezone(timezone.utc)
    if len(text) == 10:
        return datetime.fromisoformat(text + "T00:00:00+00:00")
    return datetime.fromisoformat(text + "+00:00")


def parse_timestamp_reference(text: str) -> datetime:
    """``parse_timestamp`` by the general pattern alone (the reference the fast reading must
    equal; every error message comes from here)."""
    match = _ISO.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{_shown(text)} is not an ISO 8601 date or date-time "
            "(e.g. 2026-03-01 or 2026-03-01T09:15:00+01:00)"
        )
    parts = match.groupdict()
    fraction = (parts["fraction"] or "").ljust(6, "0")[:6]
    try:
        moment = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int(fraction),
            tzinfo=_offset(parts["offset"]),
        )
    except ValueError as exc:
        raise ValueError(f"{_shown(text)} is not a real date or time ({exc})") from exc
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 is before the first representable UTC
        raise ValueError(f"{_shown(text)} is out of the range of dates (years 1 to 9999)") from exc


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short: a hostile cell may be megabytes long."""
    return repr(text) if len(text) <= 60 else repr(text[:60]) + "…"


def _offset(text: str | None) -> timezone:
    if text is None or text.upper() == "Z":
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"UTC offset {_shown(text)} is out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
