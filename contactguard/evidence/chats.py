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

What counts as a message (fail closed: an allow-list, structure first, wording second): a line
``Name: text`` (colon and space) from a sender. On Android a line without ``Name: `` is a system
line. On iOS a text that starts with U+200E is a system line (iOS writes its notices under the
chat's name so) unless it is a placeholder of something the sender sent (media, document or
contact card omitted, ``<attached: …>``, a location, a deleted message): those count. Calls
(iOS, marked) are no messages, but a business call before the customer's first message is the
business reaching out. System lines in a wording no language table knows are counted
(``not_understood``); a file whose system lines are all unknown, or that has an unknown one
before its first message, is ``unidentified`` and yields no evidence. See ``LANGUAGES``.

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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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

# LANGUAGES: the wordings below cover English, German, Spanish, French, Portuguese, Italian,
# Dutch, Polish, Turkish, Russian, Indonesian, Hindi and Czech. Structure decides first (a line
# without "Name: " is a system line; on iOS a body that starts with U+200E is one), wording
# second: the tables only recognise placeholders a sender left (so they still count), calls
# (a business call before the customer's first message is the business reaching out), group
# events (a group is not evidence) and known notices; and they tell a file's language.
LANGUAGES = (
    "English", "German", "Spanish", "French", "Portuguese", "Italian", "Dutch", "Polish",
    "Turkish", "Russian", "Indonesian", "Hindi", "Czech",
)



def _rx(pattern: str) -> re.Pattern[str]:
    """A case-insensitive pattern in which Devanagari letters with a nukta match both of
    their Unicode spellings (precomposed, as exports write them, and decomposed)."""
    for composed, decomposed in (("\u095c", "\u0921\u093c"), ("\u095d", "\u0922\u093c")):
        pattern = pattern.replace(decomposed, f"(?:{decomposed}|{composed})")
    return re.compile(pattern, re.IGNORECASE)


# The end-to-end encryption notice and the business notices. Anchored at the start of the
# text: a customer asking "are messages end-to-end encrypted?" is still a message.
_E2E = _rx(
    r"(?:messages (?:and calls are end-to-end|(?:you send )?to this (?:group|chat))"
    r"|nachrichten (?:und anrufe sind ende-zu-ende|, die du)"
    r"|los mensajes (?:y las llamadas están cifrados|que envías|de este)"
    r"|les messages (?:et les appels sont chiffrés|envoyés)"
    r"|as mensagens (?:e as chamadas|e chamadas|enviadas|que você envia)"
    r"|i messaggi (?:e le chiamate|inviati)|le chiamate e i messaggi"
    r"|berichten en (?:oproepen|gesprekken) zijn end-to-end"
    r"|wiadomości i połączenia są"
    r"|mesajlar ve aramalar uçtan uca"
    r"|сообщения и звонки защищены"
    r"|pesan dan panggilan terenkripsi"
    r"|मैसेजेस और कॉल्स|मैसेज और कॉल"
    r"|zprávy a hovory jsou"
    r"|this business (?:uses|is now using) a secure service"
    r"|this chat is with (?:a|the official) business account)",
)
# Group events. "[^:]*" before the verb: the line has no "Name:" in front of the event, so a
# message "Bob: I added milk" is never taken for one.
_GROUP_EVENT = _rx(
    r"[^:]*?(?:\bcreated (?:the |this )?group\b|\badded\b|\bwere added\b|\bremoved\b|\bleft$"
    r"|\bjoined using\b|\bchanged (?:the subject|the group|this group)|\bthis group\b"
    r"|\bGruppe|hinzugefügt|entfernt\.?$|beigetreten"
    r"|\bel grupo\b|\baño?adió\b|\bañadiste\b|\bte añadió\b|\beste grupo\b"
    r"|\ble groupe\b|\ba ajouté\b|\bavez ajouté\b|\bce groupe\b"
    r"|\bo grupo\b|\badicionou\b|\beste grupo\b"
    r"|\bil gruppo\b|\bha aggiunto\b|\bhai aggiunto\b|\bquesto gruppo\b"
    r"|\bgroep\b|toegevoegd|\bverwijderd\b|heeft de groep verlaten"
    r"|\bgrup[ęy]\b|\bdodał|\busunął|\bopuścił|\bdołączył"
    r"|\bgrubu?\b|\bekledi\b|\bçıkardı\b|\bayrıldı\b|\bkatıldı\b"
    r"|\bгрупп|\bдобавил|\bудалил|\bвышел|\bвышла|\bприсоединил"
    r"|\bgrup\b|\bmenambahkan\b|\bmengeluarkan\b|\bbergabung\b|\bkeluar\b"
    r"|ग्रुप|जोड़ा|हटाया"
    r"|\bskupin)",
)
# Other system events of one-to-one chats (blocks, security codes, number changes, timers,
# contact and business-account notices).
_OTHER_EVENT = _rx(
    r"[^:]*?(?:\bchanged (?:their|the) phone number\b|\bsecurity code\b|\bblocked this contact\b"
    r"|\bunblocked this contact\b|\bdisappearing messages\b|\bis a contact\b"
    r"|\bbusiness account\b|\bthis business\b|\bstandard account\b|\bmissed (?:voice|video) call"
    r"|Sicherheitscode|Sicherheitsnummer|blockiert|Blockierung|Telefonnummer geändert"
    r"|selbstlöschende|Unternehmenskonto|Geschäftskonto|Verpasster (?:Sprach|Video)anruf"
    r"|código de seguridad|bloqueaste|desbloqueaste|cuenta (?:de empresa|comercial)"
    r"|mensajes temporales|llamada (?:de voz |de video )?perdida"
    r"|code de sécurité|avez bloqué|avez débloqué|compte (?:professionnel|business)"
    r"|messages éphémères|appel (?:vocal|vidéo) manqué"
    r"|código de segurança|bloqueou|desbloqueou|conta comercial|mensagens temporárias"
    r"|chamada de (?:voz|vídeo) perdida"
    r"|codice di sicurezza|hai bloccato|hai sbloccato|account business|messaggi effimeri"
    r"|chiamata (?:vocale|video) persa"
    r"|beveiligingscode|geblokkeerd|gedeblokkeerd|zakelijk account|zelf-wissende"
    r"|kod zabezpieczeń|zablokował|odblokował|konto firmowe|znikające wiadomości"
    r"|güvenlik kodu|engelledi|engelini kaldırdı|işletme hesab|süreli mesaj"
    r"|код безопасности|заблокировал|разблокировал|бизнес-аккаунт|исчезающие сообщения"
    r"|kode keamanan|memblokir|membuka blokir|akun bisnis|pesan sementara"
    r"|सुरक्षा कोड|ब्लॉक|बिज़नेस अकाउंट|गायब होने वाले मैसेज"
    r"|bezpečnostní kód|zablokoval|firemní účet)",
)
# Calls, as iOS writes them (marked) under the caller's name: a call is not a written message,
# but a business call before the customer's first message is the business reaching out.
_CALL = _rx(
    r"(?:voice call|video call|sprachanruf|videoanruf|llamada de voz|videollamada"
    r"|appel vocal|appel vidéo|chamada de (?:voz|vídeo)|ligação de (?:voz|vídeo)"
    r"|chiamata vocale|videochiamata|spraakoproep|video-?oproep|videogesprek"
    r"|połączenie (?:głosowe|wideo)|rozmowa wideo|sesli arama|görüntülü arama"
    r"|аудиозвонок|видеозвонок|голосовой звонок|panggilan (?:suara|video)"
    r"|वॉइस कॉल|वीडियो कॉल|hlasový hovor|videohovor)",
)
# What a sender leaves behind for media, documents and contact cards when exporting without
# media: the sender did send something, so it counts for who wrote first.
_MEDIA_OMITTED = _rx(
    r"<(?:media omitted|medien ausgeschlossen|multimedia omitido|mídia oculta|médias omis"
    r"|media omessi|media weggelaten|pominięto multimedia|medya dahil edilmedi"
    r"|без медиафайлов|media tidak disertakan|मीडिया छोड़ दिया गया|média vynechány"
    r"|arquivo de mídia oculto)>"
    r"|.{0,200}?(?:\bomitted|weggelassen|omitid[oa]|\babsente?\b|manquante?|retirée?|\bomise?\b"
    r"|ocultad?[oa]|não revelad[oa]|omess[oa]|esclus[oa]|weggelaten|pominięt[oyae]"
    r"|dahil edilmedi|отсутствует|опущен|не добавлен[ао]?|tidak disertakan|छोड़ा गया"
    r"|छोड़ दिया गया|हटाई गई|हटाई गयी|हटाया गया|non inclus[oa]"
    r"|vynechán[oaýy]?)",
)
# The last words that can end a media placeholder: a cheap test before the pattern, which is
# tried only on the few messages that end so (every message of a chat passes here).
_OMITTED_ENDS = (
    "omitted", "weggelassen", "omitid", "absent", "manquant", "retiré", "omis", "ocult",
    "revelad", "omess", "esclus", "weggelaten", "pominięt", "edilmedi", "отсутствует", "опущен",
    "добавлен", "disertakan", "गया", "गई", "गयी", "vynechán", "inclus",
)


def _omitted(body: str) -> bool:
    """Whether a message body is a placeholder of media the sender sent."""
    if body[:1] == "<":
        return _MEDIA_OMITTED.fullmatch(body) is not None
    last = body[body.rfind(" ") + 1 :].lower()
    return last.startswith(_OMITTED_ENDS) and _MEDIA_OMITTED.fullmatch(body) is not None


_DELETED = _rx(
    r"(?:this message was deleted|you deleted this message|diese nachricht wurde gelöscht"
    r"|du hast diese nachricht gelöscht|se eliminó este mensaje|eliminaste este mensaje"
    r"|ce message a été supprimé|vous avez supprimé ce message|mensagem apagada"
    r"|apagou esta mensagem|essa mensagem foi apagada|questo messaggio è stato eliminato"
    r"|hai eliminato questo messaggio|dit bericht is verwijderd|je hebt dit bericht verwijderd"
    r"|ta wiadomość została usunięta|usunięto tę wiadomość|bu mesaj silindi"
    r"|данное сообщение удалено|вы удалили данное сообщение|сообщение удалено"
    r"|pesan ini telah dihapus|anda menghapus pesan ini|यह मैसेज डिलीट कर दिया गया"
    r"|आपने यह मैसेज डिलीट किया|यह मैसेज डिलीट कर दिया गया है|tato zpráva byla smazána"
    r"|smazali jste tuto zprávu|pesan ini dihapus|esta mensagem foi apagada"
    r"|waiting for this message)\.?",
)
# A shared location (any language): "Location: https://maps.google.com/?q=…".
_LOCATION = re.compile(r"[^:]{1,40}: https?://\S+")
_ATTACHED = _rx(
    r"<(?:attached|anhang|adjunto|pièce jointe|anexado|allegato|bijlage|załącznik|ek"
    r"|вложение|lampiran|संलग्न|příloha)\s*:.*>"
    r"|.*\((?:file attached|datei angehängt|archivo adjunto|fichier joint|arquivo anexado"
    r"|file allegato|bestand bijgevoegd|załączony plik|dosya ekli|файл прикреплен"
    r"|file terlampir|फ़ाइल संलग्न|soubor byl přiložen|файл добавлен)\)",
)
_QUOTES = frozenset('"“”„«»')
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_PHONE_RUN = rf"\+[\d \u00a0\u202f().{_DASHES}-]{{6,}}\d"
# A sender shown as a number (any dash or space WhatsApp uses), or as "~ Name" with a number
# before or after it (a profile name shown beside an unsaved number).
_PHONE_SENDER = re.compile(
    rf"(?:~\s*(?P<n1>[^~+]+?)\s*)?(?P<num>{_PHONE_RUN})(?:\s*~\s*(?P<n2>[^~]+))?"
)
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
    """A sender's running count and the raw timestamps of their first and last message, the
    position of the first, and the longer names the sender's lines all allow (a saved name
    with ": " in it cannot be told from the message text)."""

    __slots__ = ("count", "first", "first_entry", "last", "longer")

    def __init__(self, raw: _Raw, entry: int, longer: frozenset[str]) -> None:
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
        self.calls: dict[str, tuple[int, _Raw]] = {}  # sender → (position, time) of 1st call
        self.recognised = 0  # lines whose wording a language table knows
        self.system_lines = 0
        self.unknown_system = 0  # system lines in a wording no table knows
        self.unknown_before_first = 0  # ... of them before the first message
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
        found = self._classify(match["rest"], raw, number)
        if found is not None:
            self._message(found[0], raw, found[1])

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

    def _system(self, clean: str, number: int) -> None:
        """Count a system line; one in a wording no table knows is noted, never evidence."""
        self.system_lines += 1
        if _GROUP_EVENT.match(clean):
            self.group_event = True
            self.recognised += 1
        elif _E2E.match(clean) or _OTHER_EVENT.match(clean) or _CALL.search(clean):
            self.recognised += 1
        else:
            self.unknown_system += 1
            if self.first is None:
                self.unknown_before_first += 1
            self.notes.add("a system line in a wording this reader does not know: not evidence",
                           number)

    def _classify(
        self, rest: str, raw: _Raw, number: int
    ) -> tuple[str, frozenset[str]] | None:
        """The sender of a real message (and the longer names its line allows), or None for a
        system line or a call. Structure first: no "Name: " → system; on iOS a body that starts
        with U+200E is a system line unless it is a placeholder of something the sender sent."""
        clean = _MARKS.sub("", rest).strip()
        if _E2E.match(clean):
            self._system(clean, number)
            return None
        # WhatsApp writes "Name: text": a colon with a space (or the line's end) after it; a
        # colon inside a time or a URL ("at 12:30") is no sender
        colon = rest.find(": ")
        if colon < 0 and rest.rstrip().endswith(":"):
            colon = len(rest.rstrip()) - 1
        name = _clean_name(rest[:colon]) if colon > 0 else ""
        if (
            not name
            or len(name) > _MAX_NAME
            # 'Anna changed the subject from "Q: A" to …': a colon inside a quoted group name
            or (_QUOTES & set(name) and (_GROUP_EVENT.match(clean) or _OTHER_EVENT.match(clean)))
        ):
            self._system(clean, number)
            return None  # no "Name:" in front: a system line
        body_raw = rest[colon + 1 :]
        body = _MARKS.sub("", body_raw).strip()
        if _E2E.match(body):
            # iOS writes the chat's name in front of the notice
            self._system(body, number)
            return None
        # iOS marks system texts after the chat's name with U+200E; its placeholders too
        # (on Android a system line has no "Name: " at all, so a marked body is a message)
        marked = self.platform == "ios" and body_raw.lstrip(" ")[:1] in ("\u200e", "\u200f")
        short = len(body) <= 300
        if short and _omitted(body):
            self.media_omitted += 1
            self.recognised += 1
        elif _ATTACHED.fullmatch(body):
            self.attachments += 1
            self.recognised += 1
        elif marked:
            if short and (_DELETED.fullmatch(body) or _LOCATION.fullmatch(body)):
                self.recognised += 1
            elif short and _CALL.search(body) and not _GROUP_EVENT.match(body):
                self.recognised += 1
                self.calls.setdefault(name, (self.entries, raw))
                return None  # a call is not a written message
            else:
                self._system(body, number)
                return None
        return name, _longer_names(rest, colon)

    def _message(self, sender: str, raw: _Raw, longer: frozenset[str]) -> None:
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
            first_at=_moment(self.first[1], order) if self.first else None,
            last_at=_moment(self.last, order) if self.last else None,
            is_group=is_group,
            capped=capped,
            problems=notes.result(),
            calls={name: (pos, _moment(raw, order)) for name, (pos, raw) in self.calls.items()},
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


_NO_NAMES: frozenset[str] = frozenset()


def _longer_names(rest: str, colon: int) -> frozenset[str]:
    """The names a line's sender could have if its name went on past the first ": " (a saved
    contact "Anna: Work" writes "Anna: Work: hi"), up to the length a name may have."""
    start = colon + 1
    nxt = rest.find(": ", start)
    if nxt < 0 or nxt > _MAX_NAME:  # nearly every line: no second ": " near the start
        return _NO_NAMES
    found: list[str] = []
    while True:
        nxt = rest.find(": ", start)
        if nxt < 0 or nxt > _MAX_NAME:
            return frozenset(found)
        name = _clean_name(rest[:nxt])
        if name:
            found.append(name)
        start = nxt + 1


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

    ``date_order`` ("DMY", "MDY" or "YMD") is used when the dates cannot tell (detection comes
    first; ``--date-order``). Raises
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


def sender_keys(sender: str) -> tuple[str | None, str | None]:
    """(number key, name) of a sender as an export shows it: "+49 170 1234567" (any dash or
    space) is a number; "~ Anna +49 170…" or "+49 170… ~ Anna" a number with a profile name;
    anything else a display name."""
    match = _PHONE_SENDER.fullmatch(sender)
    if match is not None:
        digits = re.sub(r"\D", "", match["num"])
        key = evidence_key("+" + digits)
        if key is not None:
            label = (match["n1"] or match["n2"] or "").strip() or None
            return key, label
    return None, sender


def records(
    summary: ChatSummary, me: str, *, me_elsewhere: bool = False
) -> Iterator[EvidenceRecord]:
    """The evidence of a one-to-one export about the other party (nothing for groups, caps,
    exports whose language or layout is not known, or a party whose name is not certain).

    The other party's first message is ``first_inbound_at`` and their last ``last_inbound_at``.
    If ``me`` wrote the first real message, or called before the other party's first message,
    ``first_outbound_at`` is set too, never later than their first (out-of-order timestamps must
    not turn a business-first chat around); if they wrote first it stays unset, because both
    messages may carry the same minute. Raises EvidenceError when ``me`` is not a sender of this
    chat — unless ``me_elsewhere`` says the business name was confirmed in another export and
    this chat has a single sender: a customer who wrote and got no answer (yet) did write first.
    """
    if summary.is_group or summary.capped or summary.unidentified:
        return
    if (
        (me_elsewhere or _business_call(summary, me) is not None)
        and len(summary.senders) == 1
        and not _has_sender(summary, me)
    ):
        mine = None
        other = next(iter(summary.senders))
    else:
        mine = _find_me(summary, me)
        others = [name for name in summary.senders if name != mine]
        if not others:
            return  # only I wrote: nothing is known of the other party's number or name
        other = others[0]
    if other in summary.ambiguous:
        return  # "Anna" or "Anna: Work"? a name that may go on past ": " is not certain
    theirs = summary.senders[other]
    their_position = summary.first_entries.get(other, 0)
    first_outbound = None
    if mine is not None and summary.first_sender != other:
        first_outbound = min(summary.senders[mine].first_at, theirs.first_at)
    call = _business_call(summary, mine or me)
    if call is not None and call[0] < their_position:
        # the business called before the customer's first message: it reached out first
        first_outbound = min(call[1], theirs.first_at, first_outbound or call[1])
    phone, label = sender_keys(other)
    yield EvidenceRecord(
        source=summary.source,
        phone=phone,
        name=label,
        first_inbound_at=theirs.first_at,
        first_outbound_at=first_outbound,
        last_inbound_at=theirs.last_at,
    )


def _business_call(summary: ChatSummary, me: str) -> tuple[int, datetime] | None:
    wanted = _clean_name(me).casefold()
    for name, call in summary.calls.items():
        if name.casefold() == wanted or _same_number(name, me):
            return call
    return None


def _same_number(a: str, b: str) -> bool:
    """Whether two senders are the same number in any WhatsApp spelling."""
    from ..phones import variants

    key_a, key_b = sender_keys(a)[0], sender_keys(b)[0]
    if key_a is None or key_b is None:
        return False
    return bool(variants(key_a, ar_without_9=True) & variants(key_b, ar_without_9=True))


def read_exports(
    paths: Sequence[str],
    *,
    me: str | None = None,
    date_order: str | Mapping[str, str] | None = None,
    warn: Callable[[str], None] = lambda message: None,
    not_understood: Callable[[str, int], None] = lambda what, count: None,
) -> Iterator[EvidenceRecord]:
    """The evidence of several exports read together (the business side is found across them).

    Group chats and exports at WhatsApp's size cap yield nothing and a warning. Without ``me``,
    the business is the one sender common to every one-to-one export; if there is none, an
    EvidenceError says to pass ``--me``.
    """
    summaries = [read_chat(Path(p), date_order=order_for(date_order, p)) for p in paths]
    usable = []
    for summary in summaries:
        if summary.is_group:
            warn(f"{summary.source}: group chat skipped: a group chat is not evidence of who "
                 "wrote first to the business")
        elif summary.capped:
            warn(f"{summary.source}: skipped: at WhatsApp's export size cap ({summary.messages} "
                 "messages) the oldest messages are cut, so the first one shown proves nothing")
        elif summary.unidentified:
            warn(f"{summary.source}: skipped, not evidence: {summary.unidentified}")
        elif summary.senders:
            usable.append(summary)
            if not summary.language_known:
                warn(f"{summary.source}: no line tells the export's language (no encryption "
                     "notice, no known placeholder): read by its structure only")
        if summary.not_understood:
            not_understood("chat export system line in an unknown wording",
                           summary.not_understood)
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
        mine = _find_me(summary, business) if _has_sender(summary, business) else None
        for name, longer in summary.ambiguous.items():
            if name != mine:
                warn(
                    f"{summary.source}: skipped, not evidence: the sender shown as {name!r} "
                    f"may be named {sorted(longer)[-1]!r} (a name with ': ' cannot be told "
                    "from the message)"
                )
        yield from records(summary, business, me_elsewhere=confirmed)


def order_for(date_order: str | Mapping[str, str] | None, path: str) -> str | None:
    """The ``--date-order`` that applies to ``path``: one order for every file, or FILE=ORDER
    entries (the file as given, its name, or a folder or glob it came from), "" the default."""
    if date_order is None or isinstance(date_order, str):
        return date_order
    given = Path(path)
    for name, order in date_order.items():
        if name and (name in (path, given.name) or _within(given, name)):
            return order
    return date_order.get("")


def _within(path: Path, name: str) -> bool:
    import fnmatch

    if fnmatch.fnmatch(str(path), name):
        return True
    try:
        return Path(name).is_dir() and path.resolve().is_relative_to(Path(name).resolve())
    except OSError:
        return False


def _has_sender(summary: ChatSummary, me: str) -> bool:
    wanted = _clean_name(me).casefold()
    return any(
        name.casefold() == wanted
        or wanted in (n.casefold() for n in summary.ambiguous.get(name, ()))
        or _same_number(name, me)
        for name in summary.senders
    )


def _find_me(summary: ChatSummary, me: str) -> str:
    """The sender that is the business: its name exactly, or case-folded, or a name that went
    on past ": " (a business called "Shop: Berlin"), or its number in any WhatsApp spelling."""
    wanted = _clean_name(me)
    if wanted in summary.senders:
        return wanted
    folded = [name for name in summary.senders if name.casefold() == wanted.casefold()]
    if len(folded) == 1:
        return folded[0]
    longer = [
        name
        for name in summary.senders
        if wanted.casefold() in (n.casefold() for n in summary.ambiguous.get(name, ()))
    ]
    if len(longer) == 1:
        return longer[0]
    numbers = [name for name in summary.senders if _same_number(name, me)]
    if len(numbers) == 1:
        return numbers[0]
    shown = ", ".join(repr(name) for name in summary.senders) or "none"
    raise EvidenceError(
        f"{me!r} is not a sender of this chat (senders: {shown}); pass --me with the name "
        "your own messages show",
        file=summary.source,
    )
