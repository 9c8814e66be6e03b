"""Time columns of a ledger read in bulk (``evidence.bulk``): a block's column of time cells
made into times at C speed when every set cell has one of the common shapes, else cell by cell
as the row reader reads them (``timeparse.parse_timestamp``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from itertools import repeat
from operator import itemgetter, sub

from ..timeparse import parse_timestamp

__all__ = ["NEVER", "cell_time", "time_column"]

_UTC = timezone.utc
_DAYS: dict[str, datetime] = {}
_DAYS_KEPT = 50_000
NEVER = datetime.min.replace(tzinfo=timezone.utc)  # earlier than any time read


def cell_time(text: str) -> datetime | None:
    """``parse_timestamp(text.strip())`` with the common shapes read by ``fromisoformat``
    (ValueError: not a time; the reference reading says what is wrong)."""
    size = len(text)
    try:
        if size == 20 and text[4::3] in ("--T::Z", "-- ::Z"):
            return datetime.fromisoformat(text)  # "Z" is UTC: Python 3.11 reads it
        if size == 10 and text[4::3] == "--":
            moment = _DAYS.get(text)
            if moment is None:
                moment = datetime.fromisoformat(text).replace(tzinfo=_UTC)
                if len(_DAYS) < _DAYS_KEPT:
                    _DAYS[text] = moment
            return moment
        if size == 25 and text[4::3] in ("--T::+:", "--T::-:", "-- ::+:", "-- ::-:") and (
                text[20:22] <= "23" and text[23:25] <= "59"):
            return datetime.fromisoformat(text).astimezone(_UTC)
        if size == 19 and text[4::3] in ("--T::", "-- ::"):
            return datetime.fromisoformat(text).replace(tzinfo=_UTC)
    except ValueError:  # a common shape with other characters (digits of another script)
        pass
    return _general(text)


def _day(text: str) -> datetime:
    """The date "YYYY-MM-DD" as midnight UTC (ValueError: not a date)."""
    return datetime.fromisoformat(text).replace(tzinfo=_UTC)


def time_column(cells: Sequence[str], default: datetime | None = None) -> list[datetime | None]:
    """A column of time cells ("" unset: ``default``) as times. When every set cell has one
    of the common shapes (told by slicing the joined column, at C speed), the column is read
    by one C call per cell (``fromisoformat``; a date once per distinct day; a UTC offset by
    subtracting it, once per distinct offset, rather than ``astimezone``); otherwise cell by
    cell (``cell_time``). A cell ``fromisoformat`` refuses (digits of another script) sends the
    column through ``parse_timestamp`` cell by cell: ValueError only for a cell it refuses."""
    try:
        return _shaped_column(cells, default)
    except ValueError:
        return [_general(t) if t else default for t in cells]


def _general(text: str) -> datetime | None:
    """A time cell as the row reader reads it (spaces: no time)."""
    text = text.strip()
    return parse_timestamp(text) if text else None


def _shaped_column(cells: Sequence[str],
                   default: datetime | None) -> list[datetime | None]:
    """``time_column``, with ValueError where a cell has a common shape but other characters."""
    present = list(filter(None, cells))
    if not present:
        return [default] * len(cells)
    size = len(present[0])
    count = len(present)
    joined = "\n".join(present)
    step = size + 1
    parsed: Iterator[datetime] | None = None
    # every set cell has ``size`` characters (a cell of a block without quotes has no line
    # break), and the separators of the shape are where they belong in every one
    if (len(joined) == step * count - 1 and joined[size::step] == "\n" * (count - 1)
            and size in (20, 25, 19, 10) and joined[4::step] == "-" * count
            and joined[7::step] == "-" * count):
        if size == 10:  # dates: each distinct one read once, kept in ``_DAYS``
            found = list(map(_DAYS.get, cells, repeat(default)))
            if found.count(default) == len(cells) - count:
                return found
            days = {day: _DAYS.get(day) or _day(day) for day in set(present)}
            if len(_DAYS) + len(days) <= _DAYS_KEPT:
                _DAYS.update(days)
            return list(map(days.get, cells, repeat(default)))
        if joined[10::step] == "T" * count and joined[13::step] == ":" * count and (
                joined[16::step] == ":" * count):
            parsed = _iso_times(size, present, joined, step)
    if parsed is None:
        when = cell_time
        return [when(t) if t else default for t in cells]
    if count == len(cells):
        return list(parsed)
    following = parsed.__next__
    return [following() if t else default for t in cells]


def _iso_times(size: int, present: list[str], joined: str, step: int) -> Iterator[datetime] | None:
    """The times of ``present`` ("YYYY-MM-DDTHH:MM:SS" then "Z", "±HH:MM" or nothing, each
    ``size`` characters, ``joined`` by line breaks), one C call per cell; None: not these."""
    fromiso = datetime.fromisoformat
    count = len(present)
    if size == 20:
        return map(fromiso, present) if joined[19::step] == "Z" * count else None
    if size == 19:  # no offset: UTC, as the reference takes it
        return map(fromiso, (joined.replace("\n", "Z\n") + "Z").split("\n"))
    # size 25: "±HH:MM" after the seconds (fromisoformat refuses hours of 24 or more)
    tail = present[0][19:]
    tails = ({tail} if all(joined[i::step] == tail[i - 19] * count for i in range(19, 25))
             else set(map(_TAIL, present)))
    shifts = {tail: _shift(tail) for tail in tails}
    if None in shifts.values():
        return None
    if len(tails) == 1:
        (tail, shift), = shifts.items()
        if not shift:
            return map(fromiso, present)  # "+00:00": read as UTC already
        # every cell ends in ``tail`` (and only the cells' ends before a line break do)
        walls = joined.replace(tail + "\n", "Z\n").split("\n")
        walls[-1] = walls[-1][:19] + "Z"
        return map(sub, map(fromiso, walls), repeat(shift))
    heads = map(_HEAD_UTC, map(_WALL, present), repeat("Z"))
    return map(sub, map(fromiso, heads), map(shifts.__getitem__, map(_TAIL, present)))


_TAIL = itemgetter(slice(19, None))
_WALL = itemgetter(slice(None, 19))
_HEAD_UTC = str.__add__


def _shift(tail: str) -> timedelta | None:
    """The UTC offset "±HH:MM" as the time to subtract, or None when the reference reading
    must judge it (not that shape, or out of range)."""
    if (tail[0] not in "+-" or tail[3] != ":" or not tail.isascii()
            or not (tail[1:3] + tail[4:]).isdigit()):
        return None
    hours, minutes = int(tail[1:3]), int(tail[4:])
    if hours > 23 or minutes > 59:
        return None
    shift = timedelta(hours=hours, minutes=minutes)
    return -shift if tail[0] == "-" else shift
