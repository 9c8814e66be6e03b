"""What an evidence source yields, for `contactguard evidence inspect` (no book, no --me)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path

from ..errors import ContactguardError, EvidenceError
from ..model import EvidenceEntry
from . import Evidence, SourceContext, chats, expand, gather, head_of, kind_of

_PHONE_KINDS = {
    "android-backup": "Android WhatsApp backup (encrypted)",
    "android-msgstore": "Android WhatsApp message database (msgstore.db)",
    "ios-chatstorage": "iOS WhatsApp message database (ChatStorage.sqlite)",
}


def inspect_sources(
    sources: Iterable[str | Path],
    *,
    date_order: str | Mapping[str, str] | None = None,
    backup_key_file: str | None = None,
) -> Iterator[tuple[str, ContactguardError | None]]:
    """(text block, error or None) per source; a source that cannot be read does not stop the
    others, its block says why."""
    sources = list(sources)
    found = False
    for location, _explicit in expand(sources):
        found = True
        try:
            kind = kind_of(location, head_of(location))
            if kind is None:
                raise EvidenceError("not a known evidence source", file=location)
            if kind.name == "whatsapp-chat":
                yield _chat_block(chats.read_chat(
                    Path(location), date_order=chats.order_for(date_order, location)
                )), None
            elif kind.name in _PHONE_KINDS:
                yield _phone_block(location, kind.name, backup_key_file), None
            else:
                yield _records_block(location, kind.name), None
        except ContactguardError as exc:
            line = f" (line {exc.line})" if exc.line else ""
            yield f"{location}\n  cannot be read{line}: {exc.message}", exc
    if not found:
        names = ", ".join(str(source) for source in sources)
        error = EvidenceError("no evidence files in it (hidden files are not read)", file=names)
        yield f"{names}\n  {error.message}", error


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _span(entries: Iterable[EvidenceEntry]) -> str:
    """The dates line: from the first message to the last one the evidence knows of, in
    either direction. A business message counts at both ends: a source whose latest
    statement is the business writing (a status, an echo, a call) covers that day too, and
    without it a source of business messages alone would show no end."""
    firsts: list[datetime] = []
    lasts: list[datetime] = []
    for e in entries:
        firsts.extend(t for t in (e.first_inbound_at, e.first_outbound_at) if t is not None)
        lasts.extend(t for t in (e.last_inbound_at, e.first_inbound_at, e.first_outbound_at)
                     if t is not None)
    return f"  dates: {_when(min(firsts, default=None))} to {_when(max(lasts, default=None))}"


def _chat_block(s: chats.ChatSummary) -> str:
    lines = [
        s.source,
        f"  kind: WhatsApp chat export ({s.platform}, dates {s.date_order}, {s.clock} clock)",
        f"  messages: {s.messages} ({s.media_omitted} media placeholders), "
        f"{_when(s.first_at)} to {_when(s.last_at)}",
        "  group chat: " + ("yes (not evidence)" if s.is_group else "no"),
        "  senders: "
        + (
            ", ".join(
                f"{name} ({st.count})"
                for name, st in sorted(s.senders.items(), key=lambda kv: -kv[1].count)
            )
            or "none"
        ),
        f"  first message by: {s.first_sender or '-'}",
    ]
    if not s.language_known and not s.unidentified:
        lines.append("  language: not told by any line (read by structure only)")
    if s.calls:
        lines.append("  calls by: " + ", ".join(sorted(s.calls)))
    if s.not_understood:
        lines.append(f"  not understood (not evidence): {s.not_understood} system line(s) in "
                     "an unknown wording")
    if s.unidentified:
        lines.append(f"  not evidence: {s.unidentified}")
    for name, longer in s.ambiguous.items():
        lines.append(f"  sender {name!r} may be named {sorted(longer)[-1]!r}: not certain")
    if s.capped:
        lines.append("  at WhatsApp's export size cap: the first message shown proves nothing")
    lines.extend(f"  problem: {p}" for p in s.problems)
    return "\n".join(lines)


def _phone_block(location: str, kind: str, backup_key_file: str | None) -> str:
    from . import android, ios
    from .phonedb import Tally

    tally = Tally()
    warnings: list[str] = []
    evidence = Evidence()
    if kind == "ios-chatstorage":
        evidence.update(ios.read(location, warn=warnings.append, tally=tally))
    else:
        evidence.update(android.read(location, key_file=backup_key_file, tally=tally))
    entries = [identity.entry for identity in evidence.identities()]
    lines = [
        location,
        f"  kind: {_PHONE_KINDS[kind]}",
        f"  identities: {len(entries)} ({evidence.unmatchable} without a number), wrote first: "
        f"{sum(e.initiated for e in entries)}, business wrote first: "
        f"{sum((not e.initiated) and e.first_outbound_at is not None for e in entries)}",
        _span(entries),
    ]
    lines.extend(f"  {line}" for line in tally.lines())
    lines.extend(f"  note: {w}" for w in warnings)
    return "\n".join(lines)


def _records_block(location: str, kind: str) -> str:
    warnings: list[str] = []
    evidence = Evidence()
    context = SourceContext(warn=warnings.append, not_understood=evidence.note_not_understood)
    count = gather([location], context, evidence)  # a ledger file in bulk, like --evidence
    identities = evidence.identities()
    entries: list[EvidenceEntry] = [i.entry for i in identities]
    lines = [
        location,
        f"  kind: {kind}",
        f"  records: {count}, identities: {len(entries)} "
        f"({evidence.unmatchable} without a number: only a user id, username or LID)",
        f"  wrote first: {sum(e.initiated for e in entries)}, business wrote first: "
        f"{sum((not e.initiated) and e.first_outbound_at is not None for e in entries)}, "
        f"opted out: {sum(e.opted_out for e in entries)}",
        _span(entries),
    ]
    lines.extend(
        f"  not understood (not evidence): {count} × {what}"
        for what, count in sorted(evidence.not_understood.items())
    )
    lines.extend(f"  problem: {w}" for w in warnings)
    return "\n".join(lines)
