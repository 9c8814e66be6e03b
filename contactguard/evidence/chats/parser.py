"""Classification: one pass over an export's lines, a few fields per sender, and the summary
(who wrote, how often, first and last, who wrote first, what could not be understood)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ...errors import EvidenceError
from .grammar import (
    ANDROID,
    DATE_ORDERS,
    IOS,
    MARK_CHARS,
    MARKS,
    MAX_NAME,
    Raw,
    clean_name,
    date_of,
    longer_names,
    moment,
)
from .wordings import (
    ATTACHED,
    CALL,
    DELETED,
    E2E,
    GROUP_EVENT,
    LANGUAGES,
    LOCATION,
    OTHER_EVENT,
    QUOTES,
    omitted,
)

# WhatsApp's FAQ "How to export your chat history": 40,000 messages without media, 10,000 with.
# The exact count varies by app version, so an export within 5 % of the cap counts as capped
# (fail closed: a capped export is only a loss of evidence, a missed cap is a wrong decision).
_CAP_TEXT = 40_000
_CAP_MEDIA = 10_000
_CAP_MARGIN = 0.95


_MAX_NOTES = 20


@dataclass(frozen=True)
class SenderStats:
    """The real messages of one sender: how many, the first and the last (file order)."""

    count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class ChatSummary:
    """What one chat export says, without its messages: senders, counts, who wrote first."""

    source: str  # the path as given
    platform: str  # "android" | "ios"
    date_order: str  # "DMY" | "MDY" | "YMD"
    clock: str  # "24h" | "12h"
    messages: int  # real messages from senders (placeholders included, system lines not)
    media_omitted: int
    senders: dict[str, SenderStats]  # in order of their first message; names without marks
    first_sender: str | None  # the sender of the first real message
    first_at: datetime | None  # the first and the last real message
    last_at: datetime | None
    is_group: bool
    capped: bool  # at WhatsApp's export cap: the oldest messages may be missing
    problems: tuple[str, ...]
    # sender → time of their first call, when it came before the other party's first message
    # would matter (see ``records``): kept as (position in the file, time)
    calls: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    # sender → the longer names all their lines allow ("Anna" when every line reads
    # "Anna: Work: …"): such a sender cannot be named for sure
    ambiguous: dict[str, frozenset[str]] = field(default_factory=dict)
    first_entries: dict[str, int] = field(default_factory=dict, compare=False)  # 1st msg pos
    not_understood: int = 0  # system lines in a wording no language table knows
    language_known: bool = True  # some line's wording told the language (else structure only)
    unidentified: str | None = None  # why the file's language or layout is not known



class _Tally:
    """A sender's running count and the raw timestamps of their first and last message, the
    position of the first, and the longer names the sender's lines all allow (a saved name
    with ": " in it cannot be told from the message text)."""

    __slots__ = ("count", "first", "first_entry", "last", "longer")

    def __init__(self, raw: Raw, entry: int, longer: frozenset[str]) -> None:
        self.count = 1
        self.first = raw
        self.first_entry = entry
        self.last = raw
        self.longer = longer


class _Notes:
    """Problems found, one line per kind with a count, so a bad 1 GB file stays small."""

    def __init__(self) -> None:
        self._seen: dict[str, list[int]] = {}  # text -> [count, first line]

    def add(self, text: str, line: int | None = None) -> None:
        entry = self._seen.get(text)
        if entry is not None:
            entry[0] += 1
        elif len(self._seen) < _MAX_NOTES:
            self._seen[text] = [1, line or 0]

    def result(self) -> tuple[str, ...]:
        out = []
        for text, (count, line) in self._seen.items():
            if not line:
                out.append(text)
            elif count == 1:
                out.append(f"line {line}: {text}")
            else:
                out.append(f"lines {line} and {count - 1} more: {text}")
        return tuple(out)


class Parser:
    """One pass over the lines of an export, keeping a few fields per sender."""

    def __init__(self, source: str, date_order: str | None) -> None:
        self.source = source
        self.forced = date_order
        self.notes = _Notes()
        self.platform: str | None = None
        self.twelve_hour = False
        self.entries = 0  # every dated line, system lines included (what the cap counts)
        self.messages = 0
        self.media_omitted = 0
        self.attachments = 0
        self.group_event = False
        self.preamble = 0
        self.senders: dict[str, _Tally] = {}
        self.calls: dict[str, tuple[int, Raw]] = {}  # sender → (position, time) of 1st call
        self.recognised = 0  # lines whose wording a language table knows
        self.system_lines = 0
        self.unknown_system = 0  # system lines in a wording no table knows
        self.unknown_before_first = 0  # ... of them before the first message
        self.first: tuple[str, Raw] | None = None
        self.last: Raw | None = None
        # day/month order evidence: per order, first line whose date does not fit it
        self.misfit: dict[str, int] = {}
        self.backwards: dict[str, int] = dict.fromkeys(DATE_ORDERS, 0)
        self.previous: dict[str, tuple[int, int, int]] = {}
        self.day_month_differ = False
        self.year_first_lines = 0  # counted per run of lines with the same date
        self.short_lines = 0
        self.dotted_lines = 0  # short dates written d.m.y / m.d.y with dots
        self.last_fields: tuple[int, int, int, bool] | None = None
        self.last_fits = False

    def feed(self, lines: Iterable[tuple[str, bool]]) -> None:
        """Read (text, starts a physical line?) pieces; continuation pieces are skipped."""
        for number, (text, line_start) in enumerate(lines, 1):
            if not line_start:
                continue
            self._line(text.rstrip("\r\n"), number)

    def _line(self, text: str, number: int) -> None:
        start = text.lstrip(MARK_CHARS)[:1]
        match = None
        if start.isdigit() or start == "[":  # cheap test first: most continuation lines fail it
            platform = "android"
            match = ANDROID.fullmatch(text)
            if match is None:
                platform = "ios"
                match = IOS.fullmatch(text)
            if match is None and MARKS.search(text):
                clean = MARKS.sub("", text)
                platform = "android"
                match = ANDROID.fullmatch(clean)
                if match is None:
                    platform = "ios"
                    match = IOS.fullmatch(clean)
        if match is None:
            # a continuation line of a multi-line message, or text before the first message
            if self.entries == 0 and MARKS.sub("", text).strip():
                self.preamble += 1
            return
        raw = self._stamp(match, number)
        if raw is None:
            return
        self.entries += 1
        if self.platform is None:
            self.platform = platform
        found = self._classify(match["rest"], raw, number)
        if found is not None:
            self._message(found[0], raw, found[1])

    def _stamp(self, match: re.Match[str], number: int) -> Raw | None:
        hour, minute = int(match["h"]), int(match["mi"])
        second = int(match["s"] or 0)
        ampm = match["ampm"]
        if ampm:
            self.twelve_hour = True
            pm = ampm[0] in "pPn"  # p.m., PM, nachm.
            if 1 <= hour <= 12:
                hour = hour % 12 + (12 if pm else 0)
            elif hour > 12:
                self.notes.add(
                    f"{match['h']}:{match['mi']} {ampm} is not a 12-hour time; "
                    "read as a 24-hour time",
                    number,
                )
            elif pm:  # "00:30 PM"
                hour = 12
        if hour > 23 or minute > 59 or second > 59:
            self.notes.add("the time is out of range; line ignored", number)
            return None
        a_text = match["a"]
        fields = (int(a_text), int(match["b"]), int(match["c"]), len(a_text) == 4)
        raw = Raw(*fields, hour, minute, second)
        if fields == self.last_fields:
            # the same day as the line before (most lines): same fit, nothing goes backwards
            return raw if self.last_fits else None
        self.last_fields = fields
        days = {order: date_of(raw, order) for order in DATE_ORDERS}
        self.last_fits = any(days.values())
        if not self.last_fits:
            self.notes.add("not a date in any day/month order; line ignored", number)
            return None
        if raw.year_first:
            self.year_first_lines += 1
        else:
            self.short_lines += 1
            self.dotted_lines += match["sep"] == "."
            self.day_month_differ = self.day_month_differ or raw.a != raw.b
        for order, day in days.items():
            if day is None:
                self.misfit.setdefault(order, number)
                continue
            before = self.previous.get(order)
            if before is not None and day < before:
                self.backwards[order] += 1
            self.previous[order] = day
        return raw

    def _system(self, clean: str, number: int) -> None:
        """Count a system line; one in a wording no table knows is noted, never evidence."""
        self.system_lines += 1
        if GROUP_EVENT.match(clean):
            self.group_event = True
            self.recognised += 1
        elif E2E.match(clean) or OTHER_EVENT.match(clean) or CALL.search(clean):
            self.recognised += 1
        else:
            self.unknown_system += 1
            if self.first is None:
                self.unknown_before_first += 1
            self.notes.add("a system line in a wording this reader does not know: not evidence",
                           number)

    def _classify(
        self, rest: str, raw: Raw, number: int
    ) -> tuple[str, frozenset[str]] | None:
        """The sender of a real message (and the longer names its line allows), or None for a
        system line or a call. Structure first: no "Name: " → system; on iOS a body that starts
        with U+200E is a system line unless it is a placeholder of something the sender sent."""
        clean = MARKS.sub("", rest).strip()
        if E2E.match(clean):
            self._system(clean, number)
            return None
        # WhatsApp writes "Name: text": a colon with a space (or the line's end) after it; a
        # colon inside a time or a URL ("at 12:30") is no sender
        colon = rest.find(": ")
        if colon < 0 and rest.rstrip().endswith(":"):
            colon = len(rest.rstrip()) - 1
        name = clean_name(rest[:colon]) if colon > 0 else ""
        if (
            not name
            or len(name) > MAX_NAME
            # 'Anna changed the subject from "Q: A" to …': a colon inside a quoted group name
            or (QUOTES & set(name) and (GROUP_EVENT.match(clean) or OTHER_EVENT.match(clean)))
        ):
            self._system(clean, number)
            return None  # no "Name:" in front: a system line
        body_raw = rest[colon + 1 :]
        body = MARKS.sub("", body_raw).strip()
        if E2E.match(body):
            # iOS writes the chat's name in front of the notice
            self._system(body, number)
            return None
        # iOS marks system texts after the chat's name with U+200E; its placeholders too
        # (on Android a system line has no "Name: " at all, so a marked body is a message)
        marked = self.platform == "ios" and body_raw.lstrip(" ")[:1] in ("\u200e", "\u200f")
        short = len(body) <= 300
        if short and omitted(body):
            self.media_omitted += 1
            self.recognised += 1
        elif ATTACHED.fullmatch(body):
            self.attachments += 1
            self.recognised += 1
        elif marked:
            if short and (DELETED.fullmatch(body) or LOCATION.fullmatch(body)):
                self.recognised += 1
            elif short and CALL.search(body) and not GROUP_EVENT.match(body):
                self.recognised += 1
                self.calls.setdefault(name, (self.entries, raw))
                return None  # a call is not a written message
            else:
                self._system(body, number)
                return None
        return name, longer_names(rest, colon)

    def _message(self, sender: str, raw: Raw, longer: frozenset[str]) -> None:
        self.messages += 1
        tally = self.senders.get(sender)
        if tally is None:
            self.senders[sender] = _Tally(raw, self.entries, longer)
        else:
            tally.count += 1
            tally.last = raw
            if tally.longer:
                tally.longer &= longer
        if self.first is None:
            self.first = (sender, raw)
        self.last = raw

    def summary(self, has_media_files: bool) -> ChatSummary:
        if self.platform is None:
            raise EvidenceError(
                "not a WhatsApp chat export: no line starts with a date and time", file=self.source
            )
        order = self._order()
        notes = self.notes
        if self.preamble:
            notes.add(f"{self.preamble} line(s) before the first message ignored")
        if self.year_first_lines and self.short_lines:
            notes.add("year-first and day/month dates are mixed in one file")
        if self.backwards[order]:
            notes.add(f"{self.backwards[order]} message(s) dated before the message above them")
        senders = {
            name: SenderStats(tally.count, moment(tally.first, order), moment(tally.last, order))
            for name, tally in self.senders.items()
        }
        is_group = len(senders) > 2 or self.group_event
        with_media = has_media_files or self.attachments > 0
        cap = _CAP_MEDIA if with_media else _CAP_TEXT
        capped = self.entries >= cap * _CAP_MARGIN
        if is_group:
            notes.add(f"group chat ({len(senders)} senders): not evidence of who wrote first")
        if capped:
            notes.add(
                f"{self.entries} messages: at WhatsApp's export cap (about {cap:,}"
                f"{' with media' if with_media else ''}), so the oldest messages may be missing "
                "and the first one shown proves nothing"
            )
        if not senders:
            notes.add("no message from any sender")
        unidentified = None
        if self.unknown_system and not self.recognised:
            unidentified = (
                f"{self.unknown_system} system line(s) and none in a language this reader "
                f"knows ({', '.join(LANGUAGES)}): the export cannot be read safely"
            )
        elif self.unknown_before_first:
            unidentified = (
                f"{self.unknown_before_first} system line(s) before the first message in a "
                "wording this reader does not know (it may be a group's creation)"
            )
        return ChatSummary(
            source=self.source,
            platform=self.platform,
            date_order=order,
            clock="12h" if self.twelve_hour else "24h",
            messages=self.messages,
            media_omitted=self.media_omitted,
            senders=senders,
            first_sender=self.first[0] if self.first else None,
            first_at=moment(self.first[1], order) if self.first else None,
            last_at=moment(self.last, order) if self.last else None,
            is_group=is_group,
            capped=capped,
            problems=notes.result(),
            calls={name: (pos, moment(raw, order)) for name, (pos, raw) in self.calls.items()},
            ambiguous={
                name: tally.longer for name, tally in self.senders.items() if tally.longer
            },
            first_entries={name: tally.first_entry for name, tally in self.senders.items()},
            not_understood=self.unknown_system,
            language_known=self.recognised > 0,
            unidentified=unidentified,
        )

    def _order(self) -> str:
        """The day/month order of the file: detected from its dates first; ``--date-order``
        only where the dates cannot tell (and never against a date that does not fit it)."""
        detected = self._detect()
        if detected is not None:
            if self.forced is not None and self.forced != detected:
                self.notes.add(
                    f"the dates show day/month order {detected}; --date-order {self.forced} "
                    "not used for this file"
                )
            return detected
        if self.forced is not None:
            misfit = self.misfit.get(self.forced)
            if misfit is not None:
                raise EvidenceError(
                    f"this date does not fit --date-order {self.forced}",
                    file=self.source,
                    line=misfit,
                )
            return self.forced
        raise EvidenceError(
            "cannot tell day/month order (no day above 12 in any date); "
            "pass --date-order DMY|MDY|YMD (or FILE=ORDER for this file)",
            file=self.source,
        )

    def _detect(self) -> str | None:
        """The order the dates themselves prove, or None when they fit several."""
        if not self.short_lines:
            return "YMD"
        fitting = [order for order in ("DMY", "MDY") if order not in self.misfit]
        if not fitting and "YMD" not in self.misfit:
            fitting = ["YMD"]
        if len(fitting) == 1:
            return fitting[0]
        if not fitting:
            raise EvidenceError(
                "the dates fit no single day/month order; this file mixes layouts",
                file=self.source,
            )
        if not self.day_month_differ:
            return "DMY"  # every date has day == month: both orders read the same dates
        if self.dotted_lines == self.short_lines and "DMY" in fitting:
            # Dotted short dates are day-first in every locale WhatsApp exports them in
            # (German, Russian, Turkish, Polish, Nordic...); US month-first dates use slashes.
            self.notes.add("day/month order DMY taken from the dotted dates")
            return "DMY"
        chronological = [order for order in fitting if self.backwards[order] == 0]
        if len(chronological) == 1:
            self.notes.add(
                f"day/month order {chronological[0]} taken from the order of the messages "
                "(no day above 12)"
            )
            return chronological[0]
        return None

