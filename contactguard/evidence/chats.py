"""WhatsApp chat exports: who wrote the first message of a one-to-one chat.

An export is the ``.txt`` of one chat, or the ``.zip`` WhatsApp shares (Android:
``WhatsApp Chat with NAME.txt`` inside, iOS: ``_chat.txt``; media files beside it). The zip is
read in place, never extracted. Both line shapes are understood::

    31.12.20, 23:59 - Anna: text                 Android
    [31.12.20, 23:59:59] Anna: text              iOS

in the date orders and separators of the locales WhatsApp exports in (``12/31/20, 11:59 PM``,
``31/12/2020 à 23:59``, ``2020-12-31, 11:59 p.m.`` …), 12-hour clocks with ``AM``/``a.m.``/
``a. m.`` after a space, a no-break space or the narrow no-break space U+202F, the invisible
marks (U+200E, U+200F, BOMs) WhatsApp scatters over lines, CRLF, multi-line messages and
system lines.

The file is streamed: memory holds a few numbers per sender, not the messages, so a 1 GB
export reads in constant memory. Day/month order cannot be known before the end of the file, so
the raw date fields of each sender's first and last message are kept and resolved at the end:
a first field above 12 means DMY, a second field above 12 means MDY, a 4-digit first field means
YMD. When every date fits both DMY and MDY, the order under which the dates never go backwards
is taken if there is exactly one; otherwise the file is an EvidenceError that says to pass
``--date-order``. Nothing is guessed.

What counts as a message: a line ``Name: text`` from a sender, including the placeholders a
sender leaves behind (``<Media omitted>``, ``image omitted``, ``<attached: …>``, "This message
was deleted"): that sender did send something, so it counts for who wrote first. System lines
never count: lines without a sender (``X created group``, ``You deleted this message``), the
end-to-end encryption notice (iOS puts the chat's name in front of it), and, on iOS, texts marked
with U+200E after a name that are group events or missed calls.

Timestamps: the export holds local wall-clock times without a zone. They are returned as aware
datetimes in UTC *with the local time taken as UTC* (23:59 local → 23:59Z). Within one chat
this keeps the order of messages, which is what "who wrote first" needs; comparisons with
other sources are off by the phone's UTC offset.

WhatsApp cuts an export to its newest ~40,000 messages (~10,000 when media are included)
without saying so; an export that size is ``capped`` and yields no evidence, nor does a group.
"""

from __future__ import annotations

import calendar
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, NamedTuple

from .._zip import SafeZip, ZipLimitError, open_zip
from ..errors import ConfigError, EvidenceError
from ..model import EvidenceRecord
from ..phones import evidence_key

__all__ = [
    "DATE_ORDERS",
    "ChatSummary",
    "SenderStats",
    "detect_me",
    "read_chat",
    "records",
    "sniff",
]

DATE_ORDERS = ("DMY", "MDY", "YMD")

# WhatsApp's FAQ "How to export your chat history": 40,000 messages without media, 10,000 with.
# The exact count varies by app version, so an export within 5 % of the cap counts as capped
# (fail closed: a capped export is only a loss of evidence, a missed cap is a wrong decision).
_CAP_TEXT = 40_000
_CAP_MEDIA = 10_000
_CAP_MARGIN = 0.95

# Zip limits: a chat .txt is text; over 2 GB or compressed more than 100:1 it is not a chat.
_MAX_CHAT_BYTES = 2 * 1024**3
_MAX_RATIO = 100
_RATIO_MIN_BYTES = 1024**2  # small entries cannot hurt, whatever their ratio
_SNIFF_BYTES = 4096

_MAX_LINE = 64 * 1024  # longer physical lines are read in pieces, never whole
_MAX_NAME = 100  # a "Name:" longer than this is message text, not a sender
_MAX_NOTES = 20

# Invisible marks WhatsApp puts anywhere: LRM/RLM, BOM (also mid-file), bidi embeddings around
# phone numbers (U+202A…U+202E) and isolates (U+2066…U+2069).
_MARK_CLASS = "\u200e\u200f\ufeff\u202a-\u202e\u2066-\u2069"
_MARKS = re.compile(f"[{_MARK_CLASS}]")
_MARK_CHARS = "\u200e\u200f\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_M = f"[{_MARK_CLASS}]*"
_SP = "[ \u00a0\u202f]"  # space, no-break space, narrow no-break space (before AM/PM)

_DATE = r"(?P<a>\d{1,4})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2,4})"
_TIME = r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2}))?\.?"  # "13:01." in some locales
_AMPM = rf"(?:{_SP}*(?P<ampm>[AaPp]\.?{_SP}?[Mm]\.?|vorm\.|nachm\.))?"
_STAMP = rf"{_DATE},?{_SP}+(?:à{_SP}+)?{_TIME}{_AMPM}"
_ANDROID = re.compile(rf"{_M}{_STAMP}{_SP}*[-–]{_SP}+(?P<rest>.*)")
_IOS = re.compile(rf"{_M}\[{_M}{_STAMP}{_M}\]{_SP}*(?P<rest>.*)")

# The end-to-end encryption notice, in the languages this module supports. Anchored at the start
# of the text: a customer asking "are messages end-to-end encrypted?" is still a message.
_E2E = re.compile(
    r"(?:messages (?:and calls are end-to-end|(?:you send )?to this (?:group|chat))"
    r"|nachrichten (?:und anrufe sind ende-zu-ende|, die du)"
    r"|los mensajes (?:y las llamadas están cifrados|que envías|de este)"
    r"|les messages (?:et les appels sont chiffrés|envoyés)"
    r"|as mensagens (?:e as chamadas|enviadas|que você envia)"
    r"|i messaggi (?:e le chiamate|inviati)|le chiamate e i messaggi"
    r"|this business (?:uses|is now using) a secure service"
    r"|this chat is with (?:a|the official) business account)",
    re.IGNORECASE,
)
# Group events. "[^:]*" before the verb: the line has no "Name:" in front of the event, so a
# message "Bob: I added milk" is never taken for one.
_GROUP_EVENT = re.compile(
    r"[^:]*?(?:\bcreated (?:the |this )?group\b|\badded\b|\bwere added\b|\bremoved\b|\bleft$"
    r"|\bjoined using\b|\bchanged (?:the subject|the group|this group)|\bthis group\b"
    r"|\bGruppe\b|hinzugefügt|entfernt\.?$|beigetreten"
    r"|\bel grupo\b|\baño?adió\b|\bañadiste\b|\bte añadió\b|\beste grupo\b"
    r"|\ble groupe\b|\ba ajouté\b|\bavez ajouté\b|\bce groupe\b"
    r"|\bo grupo\b|\badicionou\b|\beste grupo\b"
    r"|\bil gruppo\b|\bha aggiunto\b|\bhai aggiunto\b|\bquesto gruppo\b)",
    re.IGNORECASE,
)
# Other system events that can carry a colon or, on iOS, a name in front.
_OTHER_EVENT = re.compile(
    r"[^:]*?(?:\bchanged (?:their|the) phone number\b|\bsecurity code\b|\bblocked this contact\b"
    r"|\bmissed (?:voice|video|group) call\b|\bdisappearing messages\b"
    r"|Sicherheitscode|Verpasster (?:Sprach|Video)anruf|llamada (?:de voz |de video )?perdida"
    r"|appel (?:vocal|vidéo) manqué|chamada de (?:voz|vídeo) perdida"
    r"|chiamata (?:vocale|video) persa)",
    re.IGNORECASE,
)
_MEDIA_OMITTED = re.compile(
    r"<(?:media omitted|medien ausgeschlossen|multimedia omitido|mídia oculta|médias omis"
    r"|media omessi)>"
    r"|(?:image|video|audio|sticker|gif|document|contact card) omitted"
    r"|(?:bild|video|audio|sticker|gif|dokument) weggelassen"
    r"|(?:imagen|video|audio|sticker|gif|documento) omitid[oa]"
    r"|(?:image|vidéo|audio|autocollant|gif|document) absente?"
    r"|(?:imagem|vídeo|áudio|figurinha|gif|documento) ocultad[oa]"
    r"|(?:immagine|video|audio|sticker|gif|documento) omess[oa]",
    re.IGNORECASE,
)
_ATTACHED = re.compile(
    r"<(?:attached|anhang|adjunto|pièce jointe|anexado|allegato)\s*:.*>"
    r"|.*\((?:file attached|datei angehängt|archivo adjunto|fichier joint|arquivo anexado"
    r"|file allegato)\)",
    re.IGNORECASE,
)
_QUOTES = frozenset('"“”„«»')
_PHONE_SENDER = re.compile(r"\+[\d \u00a0\u202f().-]+")
_CHAT_ENTRY = re.compile(r"(?:_chat\.txt|.*whatsapp.*\.txt)", re.IGNORECASE)


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


class _Raw(NamedTuple):
    """A timestamp before the day/month order is known: the three date fields as written."""

    a: int
    b: int
    c: int
    year_first: bool  # the first field has 4 digits: always year-month-day
    hour: int
    minute: int
    second: int


class _Tally:
    """A sender's running count and the raw timestamps of their first and last message."""

    __slots__ = ("count", "first", "last")

    def __init__(self, raw: _Raw) -> None:
        self.count = 1
        self.first = raw
        self.last = raw


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


class _Parser:
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
        self.first: tuple[str, _Raw] | None = None
        self.last: _Raw | None = None
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
        start = text.lstrip(_MARK_CHARS)[:1]
        match = None
        if start.isdigit() or start == "[":  # cheap test first: most continuation lines fail it
            platform = "android"
            match = _ANDROID.fullmatch(text)
            if match is None:
                platform = "ios"
                match = _IOS.fullmatch(text)
            if match is None and _MARKS.search(text):
                clean = _MARKS.sub("", text)
                platform = "android"
                match = _ANDROID.fullmatch(clean)
                if match is None:
                    platform = "ios"
                    match = _IOS.fullmatch(clean)
        if match is None:
            # a continuation line of a multi-line message, or text before the first message
            if self.entries == 0 and _MARKS.sub("", text).strip():
                self.preamble += 1
            return
        raw = self._stamp(match, number)
        if raw is None:
            return
        self.entries += 1
        if self.platform is None:
            self.platform = platform
        sender = self._classify(match["rest"])
        if sender is not None:
            self._message(sender, raw)

    def _stamp(self, match: re.Match[str], number: int) -> _Raw | None:
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
        raw = _Raw(*fields, hour, minute, second)
        if fields == self.last_fields:
            # the same day as the line before (most lines): same fit, nothing goes backwards
            return raw if self.last_fits else None
        self.last_fields = fields
        days = {order: _date(raw, order) for order in DATE_ORDERS}
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

    def _classify(self, rest: str) -> str | None:
        """The sender of a real message, or None for a system line (noting group events)."""
        clean = _MARKS.sub("", rest).strip()
        if _E2E.match(clean):
            self.group_event = self.group_event or _GROUP_EVENT.match(clean) is not None
            return None
        colon = rest.find(":")
        name = _clean_name(rest[:colon]) if colon > 0 else ""
        if (
            not name
            or len(name) > _MAX_NAME
            # 'Anna changed the subject from "Q: A" to …': a colon inside a quoted group name
            or (_QUOTES & set(name) and (_GROUP_EVENT.match(clean) or _OTHER_EVENT.match(clean)))
        ):
            self.group_event = self.group_event or _GROUP_EVENT.match(clean) is not None
            return None  # no "Name:" in front: a system line
        body_raw = rest[colon + 1 :]
        body = _MARKS.sub("", body_raw).strip()
        if _E2E.match(body):
            # iOS writes the chat's name in front of the notice
            self.group_event = self.group_event or _GROUP_EVENT.match(body) is not None
            return None
        # iOS marks system texts after the chat's name with U+200E; its media placeholders too
        marked = body_raw.lstrip(" ")[:1] in ("\u200e", "\u200f")
        if _MEDIA_OMITTED.fullmatch(body):
            self.media_omitted += 1
        elif _ATTACHED.fullmatch(body):
            self.attachments += 1
        elif marked and _GROUP_EVENT.match(body):
            self.group_event = True
            return None
        elif marked and _OTHER_EVENT.match(body):
            return None
        return name

    def _message(self, sender: str, raw: _Raw) -> None:
        self.messages += 1
        tally = self.senders.get(sender)
        if tally is None:
            self.senders[sender] = _Tally(raw)
        else:
            tally.count += 1
            tally.last = raw
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
            name: SenderStats(tally.count, _moment(tally.first, order), _moment(tally.last, order))
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
        return ChatSummary(
            source=self.source,
            platform=self.platform,
            date_order=order,
            clock="12h" if self.twelve_hour else "24h",
            messages=self.messages,
            media_omitted=self.media_omitted,
            senders=senders,
            first_sender=self.first[0] if self.first else None,
            first_at=_moment(self.first[1], order) if self.first else None,
            last_at=_moment(self.last, order) if self.last else None,
            is_group=is_group,
            capped=capped,
            problems=notes.result(),
        )

    def _order(self) -> str:
        """The day/month order of the file: forced, or the one its dates allow."""
        if self.forced is not None:
            misfit = self.misfit.get(self.forced)
            if misfit is not None:
                raise EvidenceError(
                    f"this date does not fit --date-order {self.forced}",
                    file=self.source,
                    line=misfit,
                )
            return self.forced
        if not self.short_lines:
            return "YMD"
        fitting = [order for order in ("DMY", "MDY") if order not in self.misfit]
        if not fitting and "YMD" not in self.misfit:
            fitting = ["YMD"]
        if len(fitting) == 1:
            return fitting[0]
        if not fitting:
            raise EvidenceError(
                "the dates fit no single day/month order; pass --date-order DMY|MDY|YMD",
                file=self.source,
            )
        if not self.day_month_differ:
            return "DMY"  # every date has day == month: both orders read the same dates
        if self.dotted_lines == self.short_lines and "DMY" in fitting:
            # Dotted short dates are day-first in every locale WhatsApp exports them in
            # (German, Russian, Turkish, Polish, Nordic...); US month-first dates use slashes.
            self.notes.add("day/month order DMY taken from the dotted dates; pass --date-order "
                           "to override")
            return "DMY"
        chronological = [order for order in fitting if self.backwards[order] == 0]
        if len(chronological) == 1:
            self.notes.add(
                f"day/month order {chronological[0]} taken from the order of the messages "
                "(no day above 12); pass --date-order to override"
            )
            return chronological[0]
        raise EvidenceError(
            "cannot tell day/month order (no day above 12 in any date); "
            "pass --date-order DMY|MDY|YMD",
            file=self.source,
        )


_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _date(raw: _Raw, order: str) -> tuple[int, int, int] | None:
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


def _moment(raw: _Raw, order: str) -> datetime:
    found = _date(raw, order)
    if found is None:  # _order() only returns orders every kept line fits
        raise AssertionError(raw)
    return datetime(*found, raw.hour, raw.minute, raw.second, tzinfo=timezone.utc)


def _clean_name(text: str) -> str:
    return " ".join(_MARKS.sub("", text).split())


def _pieces(stream: IO[str]) -> Iterator[tuple[str, bool]]:
    """Lines of at most _MAX_LINE characters, each with whether it starts a physical line."""
    start = True
    while True:
        piece = stream.readline(_MAX_LINE)
        if not piece:
            return
        yield piece, start
        start = piece.endswith("\n")


def _text(binary: IO[bytes]) -> io.TextIOWrapper:
    # newline=None: CRLF and CR become "\n"; U+2028 inside a message is not a line break
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline=None)


def read_chat(path: Path, *, date_order: str | None = None) -> ChatSummary:
    """Summarise one chat export (``.txt`` or ``.zip``), streaming it.

    ``date_order`` ("DMY", "MDY" or "YMD") overrides detection (``--date-order``). Raises
    EvidenceError naming the file when it is not a chat export, when its day/month order cannot
    be told, or when a zip is unsafe (entry over 2 GB, or compressed more than 100:1).
    """
    if date_order is not None and date_order not in DATE_ORDERS:
        raise ConfigError(
            f"--date-order must be one of {', '.join(DATE_ORDERS)}, not {date_order!r}"
        )
    source = str(path)
    parser = _Parser(source, date_order)
    try:
        with path.open("rb") as binary:
            is_zip = binary.read(4) == b"PK\x03\x04"
        if is_zip:
            return _read_zip(path, parser)
        with path.open("rb") as binary, _text(binary) as text:
            parser.feed(_pieces(text))
    except OSError as exc:
        raise EvidenceError(f"cannot read: {exc.strerror or exc}", file=source) from exc
    return parser.summary(has_media_files=False)


def _read_zip(path: Path, parser: _Parser) -> ChatSummary:
    source = parser.source
    try:
        with open_zip(path) as archive:
            entry, others = _chat_entry(archive, source)
            if entry.file_size > _MAX_CHAT_BYTES:
                raise EvidenceError(
                    f"{entry.filename} is {entry.file_size:,} bytes uncompressed; refusing a "
                    "chat over 2 GB",
                    file=source,
                )
            ratio = entry.file_size / max(entry.compress_size, 1)
            if entry.file_size > _RATIO_MIN_BYTES and ratio > _MAX_RATIO:
                raise EvidenceError(
                    f"{entry.filename} is compressed {ratio:.0f}:1; refusing a likely zip bomb",
                    file=source,
                )
            # the opener counts while it inflates: sizes the directory under-states stop it
            with archive.open(entry) as member, _text(member) as text:
                parser.feed(_pieces(text))
    except ZipLimitError as exc:
        raise EvidenceError(f"cannot read the zip: {exc}", file=source) from exc
    return parser.summary(has_media_files=others > 0)


def _chat_entry(archive: SafeZip, source: str) -> tuple[zipfile.ZipInfo, int]:
    """The chat .txt inside an export zip, and how many other files (media) lie beside it."""
    files = [
        info
        for info in archive.infolist()
        if not info.is_dir()
        and _safe_name(info.filename)
        and not info.filename.startswith("__MACOSX/")
    ]
    texts = [info for info in files if info.filename.lower().endswith(".txt")]
    named = [info for info in texts if _CHAT_ENTRY.fullmatch(PurePosixPath(info.filename).name)]
    chosen = named or texts
    if not chosen:
        raise EvidenceError("no chat .txt inside this zip", file=source)
    if len(chosen) > 1:
        raise EvidenceError(
            f"{len(chosen)} chat .txt files inside this zip; pass one export per zip", file=source
        )
    return chosen[0], len(files) - 1


def _safe_name(name: str) -> bool:
    """False for entry names that climb out of the archive (``../``) or are absolute."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return bool(parts) and ".." not in parts and not name.startswith(("/", "\\"))


def sniff(path: Path, head: bytes) -> bool:
    """Whether ``path`` is a chat export: a zip with a chat .txt, or text in a chat line shape."""
    if head.startswith(b"PK\x03\x04"):
        try:
            with open_zip(path) as archive:
                entry, _ = _chat_entry(archive, str(path))
                with archive.open(entry) as member:
                    head = member.read(_SNIFF_BYTES)
        except (OSError, EvidenceError, ZipLimitError):
            return False
    lines = head.decode("utf-8", errors="replace").splitlines()
    for line in lines:
        clean = _MARKS.sub("", line).strip()
        if clean:
            return (_ANDROID.fullmatch(clean) or _IOS.fullmatch(clean)) is not None
    return False


def detect_me(summaries: Sequence[ChatSummary]) -> str | None:
    """The one sender present in every one-to-one export, or None if there are none or several."""
    common: set[str] | None = None
    for summary in summaries:
        if summary.is_group:
            continue
        names = set(summary.senders)
        common = names if common is None else common & names
    if common is None or len(common) != 1:
        return None
    return next(iter(common))


def records(
    summary: ChatSummary, me: str, *, me_elsewhere: bool = False
) -> Iterator[EvidenceRecord]:
    """The evidence of a one-to-one export about the other party (nothing for groups or caps).

    The other party's first message is ``first_inbound_at`` and their last ``last_inbound_at``.
    If ``me`` wrote the first real message, ``first_outbound_at`` is set too, never later than
    their first (out-of-order timestamps must not turn a business-first chat around); if they
    wrote first it stays unset, because both messages may carry the same minute. Raises
    EvidenceError when ``me`` is not a sender of this chat — unless ``me_elsewhere`` says the
    business name was confirmed in another export and this chat has a single sender: a customer
    who wrote and got no answer (yet) did write first.
    """
    if summary.is_group or summary.capped:
        return
    if me_elsewhere and len(summary.senders) == 1 and not _has_sender(summary, me):
        mine = None
        other = next(iter(summary.senders))
    else:
        mine = _find_me(summary, me)
        others = [name for name in summary.senders if name != mine]
        if not others:
            return  # only I wrote: nothing is known of the other party's number or name
        other = others[0]
    theirs = summary.senders[other]
    first_outbound = None
    if mine is not None and summary.first_sender != other:
        first_outbound = min(summary.senders[mine].first_at, theirs.first_at)
    phone = evidence_key(other) if _PHONE_SENDER.fullmatch(other) else None
    yield EvidenceRecord(
        source=summary.source,
        phone=phone,
        name=None if phone else other,
        first_inbound_at=theirs.first_at,
        first_outbound_at=first_outbound,
        last_inbound_at=theirs.last_at,
    )


def read_exports(
    paths: Sequence[str],
    *,
    me: str | None = None,
    date_order: str | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> Iterator[EvidenceRecord]:
    """The evidence of several exports read together (the business side is found across them).

    Group chats and exports at WhatsApp's size cap yield nothing and a warning. Without ``me``,
    the business is the one sender common to every one-to-one export; if there is none, an
    EvidenceError says to pass ``--me``.
    """
    summaries = [read_chat(Path(p), date_order=date_order) for p in paths]
    usable = []
    for summary in summaries:
        if summary.is_group:
            warn(f"{summary.source}: group chat skipped: a group chat is not evidence of who "
                 "wrote first to the business")
        elif summary.capped:
            warn(f"{summary.source}: skipped: at WhatsApp's export size cap ({summary.messages} "
                 "messages) the oldest messages are cut, so the first one shown proves nothing")
        elif summary.senders:
            usable.append(summary)
    if not usable:
        return
    business = me or detect_me(usable)
    if business is None:
        raise EvidenceError(
            "cannot tell which sender is the business (no single sender is common to every "
            "chat export); pass --me NAME with the name your own messages show",
            file=usable[0].source,
        )
    confirmed = any(_has_sender(s, business) for s in usable)
    for summary in usable:
        yield from records(summary, business, me_elsewhere=confirmed)


def _has_sender(summary: ChatSummary, me: str) -> bool:
    wanted = _clean_name(me).casefold()
    return any(name.casefold() == wanted for name in summary.senders)


def _find_me(summary: ChatSummary, me: str) -> str:
    wanted = _clean_name(me)
    if wanted in summary.senders:
        return wanted
    folded = [name for name in summary.senders if name.casefold() == wanted.casefold()]
    if len(folded) == 1:
        return folded[0]
    shown = ", ".join(repr(name) for name in summary.senders) or "none"
    raise EvidenceError(
        f"{me!r} is not a sender of this chat (senders: {shown}); pass --me with the name "
        "your own messages show",
        file=summary.source,
    )
