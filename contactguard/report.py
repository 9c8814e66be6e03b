"""The audit report: one entry per input contact with its decision and reason.

Numbers that were stripped are masked (``+49170*****67``) so that the report does not become a
new copy of the third-party data the run removed; kept numbers appear in E.164 with the evidence
sources that justified them.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from . import fastpaths, phones
from .model import Decision, Reason
from .policy import Policy

REPORT_VERSION = 1


# A phone number inside a name: 6 or more digits, maybe a leading + or (, and spaces, dots,
# dashes, slashes or parentheses between them. A contact saved under its number shows it as
# its name; a removed person's number is masked there as in the number list.
_NUMBER_IN_NAME = re.compile(r"[+(]?\d(?:[\s().\-/]{0,3}\d){5,}")


def masked_name(name: str, kept: Collection[str] = ()) -> str:
    """``name`` with each phone number in it masked as reports mask numbers, except one of the
    ``kept`` numbers (E.164), which reports show in full anyway."""
    if not _NUMBER_IN_NAME.search(name):
        return name

    def mask(found: re.Match[str]) -> str:
        text = found.group()
        digits = "".join(c for c in text if c.isdigit())
        if any(number[1:] == digits or number.endswith(digits[-9:]) for number in kept):
            return text
        return phones.mask("+" + digits if text.startswith("+") else text)

    return _NUMBER_IN_NAME.sub(mask, name)


def contact_entry(decision: Decision, *, mask: bool = True) -> dict[str, Any]:
    """The report entry of one decision."""
    numbers = []
    for n in decision.numbers:
        shown = n.e164 or n.raw
        entry: dict[str, Any] = {
            "number": shown if n.kept or not mask else phones.mask(shown),
            "decision": "kept" if n.kept else "stripped",
            "reason": n.reason.value,
        }
        if n.sources:
            entry["evidence"] = list(n.sources)
        numbers.append(entry)
    name = decision.contact.display_name
    if mask and name:
        name = masked_name(name, {n.e164 for n in decision.numbers if n.kept and n.e164})
    item: dict[str, Any] = {
        "source": decision.contact.where,
        "name": name,
        "decision": "kept" if decision.kept else "removed",
        "reason": decision.reason.value,
        "numbers": numbers,
    }
    if decision.merged_into:
        item["merged_into"] = decision.merged_into
    if decision.detail:
        item["detail"] = decision.detail
    return item


def header(summary: Any, policy: Policy, *, unmatched: bool = True) -> dict[str, Any]:
    """The report's head: version, time, inputs, policy, counts and (unless ``unmatched`` is
    false: a writer that streams them) the unmatched evidence."""
    head = {
        "version": REPORT_VERSION,
        "generated_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "inputs": list(summary.inputs),
        "policy": {
            "region": policy.region,
            "fields": sorted(policy.allowed_fields),
            "max_age_days": policy.max_age.total_seconds() / 86400 if policy.max_age else None,
            "match_ar_without_9": policy.match_ar_without_9,
        },
        "summary": summary.as_dict(),
    }
    if unmatched:
        # evidence that did no work: identities no book contact matched, keys masked
        head["unmatched_evidence"] = list(getattr(summary, "evidence_unmatched", ()))
    return head


def build_report(decisions: Iterable[Decision], summary: Any, policy: Policy) -> dict[str, Any]:
    """The whole report as a dict (held in memory; the CLI streams it instead)."""
    report = header(summary, policy)
    report["contacts"] = [contact_entry(d) for d in decisions]
    return report


# ``entry_json`` writes what json.dumps(contact_entry(d), ensure_ascii=False) writes, from
# templates: the fixed parts are precomputed and only book data goes through json's C string
# encoder (a dict and a json.dumps per contact were a quarter of a large run).
_encode = json.encoder.encode_basestring  # the encoder json.dumps(ensure_ascii=False) uses
_NUMBER_TAIL = {
    (kept, reason): f', "decision": "{"kept" if kept else "stripped"}", '
    f'"reason": {_encode(reason.value)}'
    for kept in (True, False)
    for reason in Reason
}
_STRIPPED_TAIL = {reason: _NUMBER_TAIL[False, reason] + "}" for reason in Reason}
_CONTACT_MIDDLE = {
    (kept, reason): f', "decision": "{"kept" if kept else "removed"}", '
    f'"reason": {_encode(reason.value)}, "numbers": ['
    for kept in (True, False)
    for reason in Reason
}


_SOURCE_HEADS: dict[str, str] = {}


def entry_json(decision: Decision) -> str:
    """``json.dumps(contact_entry(decision), ensure_ascii=False)``, faster."""
    encode, mask = _encode, phones.mask
    numbers = []
    for n in decision.numbers:
        if n.sources or n.kept:
            shown = n.e164 or n.raw
            text = '{"number": ' + encode(shown if n.kept else mask(shown))
            text += _NUMBER_TAIL[n.kept, n.reason]
            if n.sources:
                text += ', "evidence": [' + ", ".join(map(encode, n.sources)) + "]"
            numbers.append(text + "}")
        else:  # the common entry: a stripped number without evidence
            numbers.append(_stripped(n.e164, n.raw, _STRIPPED_TAIL[n.reason]))
    text = (
        _contact_head(decision)
        + _CONTACT_MIDDLE[decision.kept, decision.reason] + ", ".join(numbers) + "]"
    )
    if decision.merged_into:
        text += ', "merged_into": ' + encode(decision.merged_into)
    if decision.detail:
        text += ', "detail": ' + encode(decision.detail)
    return text + "}"


def _reference_entry(decision: Decision) -> str:
    """What ``entry_json`` stands in for: the entry through ``json.dumps`` (reference mode)."""
    return json.dumps(contact_entry(decision), ensure_ascii=False)


def _stripped(e164: str | None, raw: str, tail: str) -> str:
    """The JSON entry of a stripped number without evidence, up to ``tail`` (its decision and
    reason, rendered): its masked form (of ``e164``, else of the number as written)."""
    if e164 is not None and e164[:1] == "+" and e164.isascii() and e164[1:].isdigit():
        # phones.mask's common case, inline: "+", the country code and three digits shown,
        # stars, the last two digits (nothing in it for JSON to escape)
        shown = (_SHOWN or _learn_shown()).get(e164[1:4])
        if shown is not None:
            hidden = len(e164) - shown - 2
            if hidden > 0:
                return f'{{"number": "{e164[:shown]}{"*" * hidden}{e164[-2:]}"{tail}'
    return '{"number": ' + _encode(phones.mask(e164 or raw)) + tail


# E.164 number's first three digits → how many leading characters phones.mask shows of it
_SHOWN: dict[str, int] = {}


def _learn_shown() -> dict[str, int]:
    """``_SHOWN``, learnt from ``phones.mask`` itself on first use (two probes of different
    lengths per lead): the leads where it shows "+", the country code and three digits and
    stars the rest but the last two. Numbers of any other lead are left to ``phones.mask``."""
    table = _SHOWN
    for lead in map(str, range(100, 1000)):
        seen = set()
        for probe in (f"+{lead}2345678901", f"+{lead}23456789"):
            masked = phones.mask(probe)
            shown = masked.find("*")
            if shown < 5 or masked != probe[:shown] + "*" * (len(probe) - shown - 2) + probe[-2:]:
                break
            seen.add(shown)
        else:
            if len(seen) == 1:
                table[lead] = seen.pop()
    return table


RemovedEntry = Callable[[str, int, str, Reason, "list[str]"], str]


def removed_entries(
    details: Mapping[Reason, str],
) -> tuple[Callable[[str], str], Callable[[str], str], RemovedEntry]:
    """The renderers of a contact removed without evidence for any number, as ``entry_json``
    writes its Decision (what the quick path renders most of a large book with): an invalid
    number's entry (from the number as written), a valid number's entry (from its E.164 form),
    and the contact's entry from its source, line, name, reason and those number entries.
    ``details`` gives the detail each reason's entry carries (``policy.removed_detail``)."""
    invalid_tail = _STRIPPED_TAIL[Reason.INVALID_NUMBER]
    valid_tail = _STRIPPED_TAIL[Reason.NO_EVIDENCE]
    middles = {
        reason: _CONTACT_MIDDLE[False, reason].replace("%", "%%")
        + "%s]"
        + (', "detail": ' + _encode(details[reason]).replace("%", "%%")
           if details.get(reason) else "")
        + "}"
        for reason in Reason
    }
    entry_head, encode, mask = _entry_head, _encode, phones.mask
    shown_of = (_SHOWN or _learn_shown()).get

    def invalid(raw: str) -> str:
        return '{"number": ' + encode(mask(raw)) + invalid_tail

    def valid(e164: str) -> str:
        # as _stripped: a normalised number is "+digits"
        shown = shown_of(e164[1:4])
        if shown is not None and e164[:1] == "+" and e164.isascii() and e164[1:].isdigit():
            hidden = len(e164) - shown - 2
            if hidden > 0:
                return f'{{"number": "{e164[:shown]}{"*" * hidden}{e164[-2:]}"{valid_tail}'
        return '{"number": ' + encode(mask(e164)) + valid_tail

    heads = _SOURCE_HEADS

    def entry(source: str, line: int, name: str, reason: Reason, numbers: list[str]) -> str:
        head = heads.get(source)
        if head is None:
            return entry_head(source, line, name) + middles[reason] % ", ".join(numbers)
        return (f'{head}{line}", "name": {encode(masked_name(name))}'
                + middles[reason] % ", ".join(numbers))

    return invalid, valid, entry


def _contact_head(decision: Decision) -> str:
    """An entry's start: its source, line and name (a kept number in it shown, as
    ``contact_entry`` shows it)."""
    contact = decision.contact
    # a merged duplicate is removed, yet its numbers are kept (in the contact it merged into)
    kept = {n.e164 for n in decision.numbers if n.kept and n.e164}
    return _entry_head(contact.source, contact.line, contact.display_name, kept)


def _entry_head(source: str, line: int, name: str, kept: Collection[str] = ()) -> str:
    # '{"source": "<source>:' per book, encoded once (json escapes character by character)
    try:
        head = _SOURCE_HEADS[source]
    except KeyError:
        if len(_SOURCE_HEADS) > 256:
            _SOURCE_HEADS.clear()
        head = _SOURCE_HEADS[source] = '{"source": ' + _encode(source)[:-1] + ":"
    return f'{head}{line}", "name": {_encode(masked_name(name, kept))}'


# the spooled entries: one per line, indented as the header is
_FIRST, _NEXT, _SEPARATOR = b"\n    ", b",\n    ", ",\n    "


def join_entries(entries: list[str]) -> bytes:
    """Entries as a report writer's ``add_entries`` takes them."""
    return _SEPARATOR.join(entries).encode("utf-8")


class ReportWriter:
    """Stream contact entries to a spool file as decisions come; ``finish`` writes the report
    with the summary first. Memory stays flat however large the book."""

    _BATCH = 512  # entries joined per write to the spool

    def __init__(self) -> None:
        # UTF-8 bytes, encoded once: ``finish`` copies them as they are (no re-encoding)
        self._spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._count = 0
        self._pending: list[str] = []
        self._entry = entry_json if fastpaths.enabled() else _reference_entry

    def add(self, decision: Decision) -> None:
        pending = self._pending
        pending.append(self._entry(decision))
        if len(pending) >= self._BATCH:
            self._flush()

    def add_entries(self, data: bytes, count: int) -> None:
        """Add ``count`` entries made by ``join_entries`` (the engine's quick path, in a worker
        process or in this one), in order."""
        if count:
            self._flush()
            self._write(data, count)

    def _flush(self) -> None:
        if self._pending:
            self._write(join_entries(self._pending), len(self._pending))
            self._pending.clear()

    def _write(self, data: bytes, count: int) -> None:
        self._spool.write((_FIRST if not self._count else _NEXT) + data)
        self._count += count

    def close(self) -> None:
        """Drop the spooled entries (a run that fails before ``finish``)."""
        self._spool.close()

    def finish(self, stream: IO[bytes], summary: Any, policy: Policy) -> None:
        self._flush()
        head = json.dumps(header(summary, policy, unmatched=False), ensure_ascii=False, indent=2)
        stream.write((head[:-2] + ',\n  "unmatched_evidence": [').encode("utf-8"))
        # one line per identity, as the contacts: a ledger's unmatched people can be a million,
        # made one at a time (``pipeline.UnmatchedEvidence``) and encoded in C
        batch: list[str] = []
        written = False
        for entry in getattr(summary, "evidence_unmatched", ()):
            batch.append(json.dumps(entry, ensure_ascii=False))
            if len(batch) >= self._BATCH:
                stream.write((_NEXT if written else _FIRST) + join_entries(batch))
                written, batch = True, []
        if batch:
            stream.write((_NEXT if written else _FIRST) + join_entries(batch))
            written = True
        stream.write(b"\n  ],\n  \"contacts\": [" if written else b'],\n  "contacts": [')
        self._spool.seek(0)
        shutil.copyfileobj(self._spool, stream, 1 << 20)
        stream.write(b"\n  ]\n}\n" if self._count else b"]\n}\n")
        self._spool.close()


def write_report(
    path: str | Path, decisions: Iterable[Decision], summary: Any, policy: Policy
) -> None:
    """Write a JSON report for already collected decisions (atomically)."""
    from ._atomic import atomic_write

    writer = ReportWriter()
    for decision in decisions:
        writer.add(decision)
    with atomic_write(path) as stream:
        writer.finish(stream, summary, policy)
