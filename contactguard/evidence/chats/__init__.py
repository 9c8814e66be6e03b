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

The modules: ``grammar`` (line shapes, dates, names), ``wordings`` (the system-line tables per
language), ``parser`` (one pass over the lines: classification and the summary) and this one
(files and zips, the business side across exports, the evidence records).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath

from ..._zip import SafeZip, ZipLimitError, open_zip
from ...errors import ConfigError, EvidenceError
from ...model import EvidenceRecord
from ...phones import evidence_key
from .grammar import ANDROID, DATE_ORDERS, IOS, MARKS, clean_name, pieces, text_of
from .parser import ChatSummary, Parser, SenderStats
from .wordings import LANGUAGES, PHONE_SENDER

__all__ = [
    "DATE_ORDERS",
    "LANGUAGES",
    "ChatSummary",
    "SenderStats",
    "detect_me",
    "read_chat",
    "records",
    "sniff",
]


# Zip limits: a chat .txt is text; over 2 GB or compressed more than 100:1 it is not a chat.
_MAX_CHAT_BYTES = 2 * 1024**3
_MAX_RATIO = 100
_RATIO_MIN_BYTES = 1024**2  # small entries cannot hurt, whatever their ratio
_SNIFF_BYTES = 4096
_CHAT_ENTRY = re.compile(r"(?:_chat\.txt|.*whatsapp.*\.txt)", re.IGNORECASE)


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
    parser = Parser(source, date_order)
    try:
        with path.open("rb") as binary:
            is_zip = binary.read(4) == b"PK\x03\x04"
        if is_zip:
            return _read_zip(path, parser)
        with path.open("rb") as binary, text_of(binary) as text:
            parser.feed(pieces(text))
    except OSError as exc:
        raise EvidenceError(f"cannot read: {exc.strerror or exc}", file=source) from exc
    return parser.summary(has_media_files=False)


def _read_zip(path: Path, parser: Parser) -> ChatSummary:
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
            with archive.open(entry) as member, text_of(member) as text:
                parser.feed(pieces(text))
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
        clean = MARKS.sub("", line).strip()
        if clean:
            return (ANDROID.fullmatch(clean) or IOS.fullmatch(clean)) is not None
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
    match = PHONE_SENDER.fullmatch(sender)
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
    wanted = clean_name(me).casefold()
    for name, call in summary.calls.items():
        if name.casefold() == wanted or _same_number(name, me):
            return call
    return None


def _same_number(a: str, b: str) -> bool:
    """Whether two senders are the same number in any WhatsApp spelling."""
    from ...phones import variants

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
    wanted = clean_name(me).casefold()
    return any(
        name.casefold() == wanted
        or wanted in (n.casefold() for n in summary.ambiguous.get(name, ()))
        or _same_number(name, me)
        for name in summary.senders
    )


def _find_me(summary: ChatSummary, me: str) -> str:
    """The sender that is the business: its name exactly, or case-folded, or a name that went
    on past ": " (a business called "Shop: Berlin"), or its number in any WhatsApp spelling."""
    wanted = clean_name(me)
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
