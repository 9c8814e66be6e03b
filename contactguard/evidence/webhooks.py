"""WhatsApp Cloud API webhook archives: who wrote first, as Meta's webhooks told the business.

A webhook logger stores the payloads Meta POSTs to the business's endpoint. Accepted files:

- ``.jsonl`` / ``.ndjson``: one payload per line, read line by line (blank lines skipped; a
  line that is an object but not a payload, e.g. a logger's header, is ignored);
- ``.json``: one payload, a list of payloads, or an object mapping names to payloads (the way
  several SDKs keep their test fixtures). A ``.json`` that turns out to hold one payload per line
  is read as JSONL.

A payload is ``{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": …}]}]}``.
What each part of ``value`` says (and what it does NOT say):

- ``messages[]``: evidence is counted by allow-list. Inbound for ``from`` at ``timestamp``
  (unix seconds) only for the types a customer can send unprompted: ``text``, ``image``,
  ``video``, ``audio``, ``document``, ``sticker``, ``location``, ``contacts``, ``order`` (a
  click-to-WhatsApp ``referral`` rides on one of them). A reply kind (``button``,
  ``interactive``, ``reaction``) or a message whose ``context`` quotes a message (``id``) that
  its sender did not write, or asks about a product (``referred_product``), can only answer
  something the business sent: it is recorded as *outbound* at its time (the business wrote
  before it), never inbound. Any other type (``unsupported``, new ones): not evidence, counted
  as not understood. Never inbound either: a ``from`` equal to the business's own number in any
  WhatsApp spelling (``metadata.display_phone_number``, Brazil with/without the ninth digit,
  Mexico with/without the 1) or ``phone_number_id``, ``system`` messages (see below),
  ``request_welcome`` (the customer opened the chat but wrote nothing), and messages in groups
  (``group_id``; group chats are not evidence).
- ``statuses[]``: sent/delivered/read/failed/… exist only for messages the business sent, so
  each one is outbound for ``recipient_id`` — a ``failed`` one too: the business tried to write.
  In a group, the outbound evidence is for the participant (``recipient_participant_id``).
- ``message_echoes[]`` (field ``smb_message_echoes``): the business's own messages sent from the
  WhatsApp Business app → outbound for the customer (``to``; if a producer wrote the business
  number into ``to``, the other side), never inbound.
- ``history[]`` (field ``history``, Coexistence: the WhatsApp Business app's past 1:1 chats,
  sent once after onboarding in phases and chunks): ``threads[].messages[]``, each thread named
  by the customer's ``id``. A message ``from`` the business's own number is outbound for the
  thread's customer (any type: the business wrote). A message ``from`` the thread's customer is
  judged as a live message is: inbound only for the allow-listed types, outbound for a reply
  kind or a quote of the business, else not understood. A message whose ``from`` is neither is
  not understood. ``errors[]`` instead of threads (the business declined to share its history)
  is a warning: that history is not evidence of anything.
- ``state_sync[]`` (field ``smb_app_state_sync``): the app's contact list (``contact`` with
  ``phone_number`` and names; ``action`` add/edit/remove). A contact list says nothing about who
  wrote first: not evidence here; ``contactguard check --app-contacts`` audits it
  (``evidence.appcontacts``).
- ``user_preferences[]`` with value ``stop`` → ``opted_out_at``. ``resume`` and ``signup`` are
  not messages and record nothing: a resume does not lift an opt-out, a newer message does.
- ``calls[]``: a ``BUSINESS_INITIATED`` call is the business reaching out → outbound for the
  customer. A ``USER_INITIATED`` call records nothing: the evidence the policy asks for is that
  the person *wrote* first, and a call is not a written message (fail closed).
- ``system`` message ``user_changed_number`` (``from`` old number, ``system.wa_id`` /
  ``new_wa_id`` new one): a record for the old number with ``number_left_at`` (its inbound
  evidence until then was the previous holder's and no longer counts for it), nothing for the
  new number (a number can be recycled; only the person's own messages from the new number
  count). A warning names both (masked).
- ``contacts[]`` tie a ``wa_id`` to its business-scoped ``user_id`` (``CC.digits``), its
  ``parent_user_id`` and ``username``; they are put on the records of that ``wa_id``, and a
  status or message naming only the user id gets the number, so the identity links (also
  ``from_user_id``, ``recipient_user_id``, ``to_user_id``). A message with only a user id
  yields a record with ``phone=None``.

Numbers that are not numbers (``<WHATSAPP_USER_PHONE_NUMBER>`` in SDK examples) are skipped and
counted in one warning per file. Unknown fields and change fields are ignored;
what cannot be read at all is an EvidenceError naming the file (and the line, for JSONL).
Every record's source is ``"file:line"`` (JSONL), ``"file"`` or ``"file#name"`` (JSON).
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, cast

from ..errors import EvidenceError
from ..model import EvidenceRecord
from ..phones import evidence_key, mask, plain_number, variants
from .ledger import bounded_lines

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_VALUES",
    "payloads",
    "read_json",
    "read_jsonl",
    "records",
    "sniff",
]

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024  # one .json file or one JSONL line
MAX_DEPTH = 200  # real payloads nest about 10 deep; json's C parser recurses per level
# Parsed JSON costs up to ~60 bytes of memory per value ("{}," is 3 bytes): memory is bounded by
# the number of values, not the file size. Real payloads hold about one value per 40 bytes.
MAX_VALUES = 3_000_000

_BUSINESS_ACCOUNT = "whatsapp_business_account"
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_JSON_SUFFIXES = (".json", *_JSONL_SUFFIXES)
_HEAD_WEBHOOK = re.compile(r'"object"\s*:\s*"whatsapp_business_account"|"entry"\s*:\s*\[')
_USER_ID = re.compile(r"[A-Z]{2}(?:\.[A-Za-z0-9]+)+")  # "US.13491208655302741918"
_NOT_WRITTEN_BY_CUSTOMER = frozenset({"system", "request_welcome"})
# What a customer can send unprompted: the allow-list. Anything else is not evidence.
_UNPROMPTED_TYPES = frozenset(
    {"text", "image", "video", "audio", "document", "sticker", "location", "contacts", "order"}
)
# What can only answer a business message: a quick-reply button, an interactive reply (button,
# list, flow), a reaction. They prove that the business wrote before them.
_REPLY_TYPES = frozenset({"button", "interactive", "reaction"})
_OPT_OUT = "stop"
_NOTHING: dict[str, str] = {}  # read-only: what a payload's contacts[] say of an unnamed wa_id
_BUSINESS_INITIATED = "BUSINESS_INITIATED"
_UTF8_BOM = b"\xef\xbb\xbf"

# For the nesting check, on bytes: JSON strings may hold brackets; "{}" count like "[]".
_ESCAPES = ((b"\\\\", b""), (b'\\"', b""))  # an escaped backslash, then an escaped quote
_BRACKET_TABLE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET_OR_QUOTE = bytes(b for b in range(256) if b not in b'"[]{}')
_STRING = re.compile(rb'"[^"]*(?:"|\Z)')  # unterminated: to the end, so no byte is seen twice

Warn = Callable[[str], None]
Unknown = Callable[[str, int], None]


def _ignore(what: str, count: int) -> None:
    """The default ``not_understood``: nobody asked to hear about it."""


def sniff(path: Path | str, head: bytes) -> bool:
    """A ``.json``/``.jsonl``/``.ndjson`` file whose first bytes look like a webhook payload."""
    if not str(path).lower().endswith(_JSON_SUFFIXES):
        return False
    text = head.removeprefix(_UTF8_BOM).decode("utf-8", errors="replace").lstrip()
    return text.startswith(("{", "[")) and bool(_HEAD_WEBHOOK.search(text))


def records(
    path: Path | str, *, warn: Warn | None = None, not_understood: Unknown = _ignore
) -> Iterator[EvidenceRecord]:
    """The records of a webhook archive file; ``warn`` hears about skipped events."""
    source = str(path)
    counter = _Counter()
    for where, payload in payloads(path):
        yield from _payload(payload, where, counter, warn, not_understood)
    counter.report(source, warn)


def payloads(path: Path | str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(source "file:line" / "file" / "file#name", payload) for every payload of an archive:
    the one walk of the file that ``records`` reads evidence from, also for readers of other
    parts of a payload (the app's contact list of ``smb_app_state_sync``)."""
    source = str(path)
    try:
        stream = Path(path).open("rb")  # noqa: SIM115 - closed when the generator ends
    except OSError as exc:
        raise EvidenceError(f"cannot open: {exc.strerror}", file=source) from exc
    with stream:
        if source.lower().endswith(_JSONL_SUFFIXES):
            yield from _jsonl_payloads(stream, source)
        else:
            yield from _json_payloads(stream, source)


def read_jsonl(
    stream: IO[bytes], source: str, *, warn: Warn | None = None,
    not_understood: Unknown = _ignore,
) -> Iterator[EvidenceRecord]:
    """The records of a JSONL archive (one payload per line), read line by line."""
    counter = _Counter()
    for where, payload in _jsonl_payloads(stream, source):
        yield from _payload(payload, where, counter, warn, not_understood)
    counter.report(source, warn)


def read_json(
    stream: IO[bytes], source: str, *, warn: Warn | None = None,
    not_understood: Unknown = _ignore,
) -> Iterator[EvidenceRecord]:
    """The records of a ``.json`` file: a payload, a list of them, or named payloads (or one
    payload per line, as some loggers write into a ``.json``)."""
    counter = _Counter()
    for where, payload in _json_payloads(stream, source):
        yield from _payload(payload, where, counter, warn, not_understood)
    counter.report(source, warn)


def _jsonl_payloads(stream: IO[bytes], source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The payloads of a stream holding one per line (memory: one line at a time). A line
    that is not an object is an error; an object that is not a payload (a logger's header)
    is skipped."""
    lines = bounded_lines(stream, source, MAX_DOCUMENT_BYTES, "a webhook payload")
    for lineno, line in enumerate(lines, 1):
        raw = cast(bytes, line)  # a binary stream gives bytes lines
        if lineno == 1:
            raw = raw.removeprefix(_UTF8_BOM)
        if not raw.strip():
            continue
        value = _parse(raw, source, lineno)
        if not isinstance(value, dict):
            raise EvidenceError(
                f"expected a JSON object (a webhook payload), not {_kind(value)}",
                file=source,
                line=lineno,
            )
        if _is_payload(value):
            yield f"{source}:{lineno}", value


def _json_payloads(stream: IO[bytes], source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The payloads of a ``.json`` file. One document is read whole, up to
    ``MAX_DOCUMENT_BYTES``. A file of one payload per line ("Extra data" after the first) is
    read as JSONL, line by line, whatever its size; a larger file that is not is refused."""
    data = stream.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        if not _first_line_is_document(data):
            raise EvidenceError(
                f"larger than {MAX_DOCUMENT_BYTES} bytes; store big archives as JSONL "
                "(one payload per line)",
                file=source,
            )
        del data
        stream.seek(0)
        yield from _jsonl_payloads(stream, source)
        return
    data = data.removeprefix(_UTF8_BOM)
    try:
        value = _parse(data, source, None)
    except EvidenceError as exc:
        # A logger may write one payload per line into a file called .json.
        if isinstance(exc.__cause__, json.JSONDecodeError) and exc.__cause__.msg == "Extra data":
            yield from _jsonl_payloads(io.BytesIO(data), source)
            return
        raise
    yield from _payloads(value, source)


def _first_line_is_document(data: bytes) -> bool:
    """Whether the first non-blank line of ``data`` is a whole JSON object (the file holds
    one payload per line) rather than the start of one large document."""
    start = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end == -1 else end
        line = data[start:end]
        if line.strip():
            try:
                return isinstance(json.loads(line), dict)
            except (ValueError, RecursionError):
                return False
        start = end + 1
    return False


# -- parsing -----------------------------------------------------------------------------------


def _parse(data: bytes, source: str, line: int | None) -> Any:
    # an upper bound of the values (separators inside strings count too), at C speed
    brackets = data.count(b"[") + data.count(b"{")
    if data.count(b",") + brackets > MAX_VALUES:
        raise EvidenceError(
            f"more than {MAX_VALUES:,} JSON values in one document; store big archives as "
            "JSONL (one payload per line)",
            file=source,
            line=line,
        )
    # no deeper than the number of opening brackets: most payloads need no nesting check
    if brackets > MAX_DEPTH and _nesting_exceeds(data, MAX_DEPTH):
        raise EvidenceError(
            f"JSON nested deeper than {MAX_DEPTH} levels; not a webhook payload",
            file=source,
            line=line,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EvidenceError(
            f"not UTF-8 ({exc.reason} at byte {exc.start})", file=source, line=line
        ) from exc
    try:
        return json.loads(text)
    except RecursionError as exc:  # belt and braces: _nesting_exceeds should have caught it
        raise EvidenceError("JSON nested too deeply", file=source, line=line) from exc
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise EvidenceError(f"not valid JSON ({exc})", file=source, line=line) from exc


def _nesting_exceeds(data: bytes, limit: int) -> bool:
    """Whether brackets nest deeper than ``limit``, checked without recursion at C speed.

    Escapes and then strings are removed (they may hold brackets), every bracket becomes ``[``
    or ``]``. Each pass deletes the innermost ``[]`` pairs, lowering the depth by exactly one; a
    run of more ``[`` than the depth still allowed proves the limit exceeded early. Unbalanced
    brackets stop the loop and are left to json.loads to report.
    """
    for escape, replacement in _ESCAPES:
        data = data.replace(escape, replacement)
    brackets = _STRING.sub(b"", data.translate(_BRACKET_TABLE, _NOT_BRACKET_OR_QUOTE))
    for done in range(limit):
        if not brackets:
            return False
        if b"[" * (limit - done + 1) in brackets:
            return True
        reduced = brackets.replace(b"[]", b"")
        if len(reduced) == len(brackets):
            return False
        brackets = reduced
    return bool(brackets)


def _is_payload(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("entry"), list)
        and value.get("object", _BUSINESS_ACCOUNT) == _BUSINESS_ACCOUNT
    )


def _payloads(value: object, source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(source, payload) for each payload of a ``.json`` document; error if it has none."""
    found: list[tuple[str, dict[str, Any]]] = []
    if _is_payload(value):
        assert isinstance(value, dict)
        found.append((source, value))
    elif isinstance(value, list):
        found.extend((source, item) for item in value if _is_payload(item))
    elif isinstance(value, dict):
        found.extend(
            (f"{source}#{name}", item) for name, item in value.items() if _is_payload(item)
        )
    if not found:
        raise EvidenceError(
            "not a WhatsApp Cloud API webhook archive (expected an object with "
            '"object": "whatsapp_business_account" and "entry", a list of them, or named ones)',
            file=source,
        )
    yield from found


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "null" if value is None else "a number"


# -- semantics ---------------------------------------------------------------------------------


@dataclass
class _Counter:
    """Events skipped because they name no usable number or user id, or no valid time, and
    messages that are not evidence because their type is not known (counted, never trusted)."""

    no_identity: int = 0
    no_time: int = 0

    def report(self, source: str, warn: Warn | None) -> None:
        if warn is None:
            return
        if self.no_identity:
            warn(
                f"{source}: skipped {self.no_identity} event(s) without a usable number or "
                "user id (e.g. placeholders such as <WHATSAPP_USER_PHONE_NUMBER>)"
            )
        if self.no_time:
            warn(f"{source}: skipped {self.no_time} event(s) without a valid unix timestamp")


@dataclass(frozen=True)
class _Business:
    """The business's own identifiers from ``value.metadata``: its number in every WhatsApp
    spelling (``phones.variants``: Brazil's ninth digit, Mexico's 1, Argentina's 9) and its
    phone number id, as digits."""

    ids: frozenset[str]

    @classmethod
    def of(cls, metadata: Mapping[str, Any]) -> _Business:
        """The business of a payload (every payload of an archive names the same one or a
        few: they are made once per pair of identifiers)."""
        return _business(_text(metadata.get("display_phone_number")),
                         _text(metadata.get("phone_number_id")))

    def owns(self, number: str) -> bool:
        digits = _digits(number)
        return bool(digits) and digits in self.ids


def _payload(
    payload: Mapping[str, Any], source: str, counter: _Counter, warn: Warn | None,
    unknown: Unknown,
) -> Iterator[EvidenceRecord]:
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if isinstance(value, dict):
                yield from _value(value, source, counter, warn, unknown)


@functools.lru_cache(maxsize=256)
def _business(display_number: str, number_id: str) -> _Business:
    ids = set()
    for text in (display_number, number_id):
        digits = _digits(text)
        if not digits:
            continue
        ids.add(digits)
        key = evidence_key(digits)
        if key is not None:
            ids.update(v[1:] for v in variants(key, ar_without_9=True))
    return _Business(frozenset(ids))


def _replies_to_business(message: Mapping[str, Any], business: _Business) -> bool:
    """Whether a message can only exist as an answer to something the business sent: a reply
    kind (quick-reply button, interactive reply, reaction), or a ``context`` that quotes a
    message (``id``) not written by the sender, or asks about a product the business showed."""
    kind = _text(message.get("type"))
    if kind in _REPLY_TYPES:
        return True
    context = message.get("context")
    if not isinstance(context, dict):
        return False
    if isinstance(context.get("referred_product"), dict):
        return True
    if not _text(context.get("id")):
        return False  # only "forwarded" / "frequently_forwarded": no earlier message implied
    quoted = _text(context.get("from"))
    sender = _text(message.get("from"))
    # quoting one's own earlier message proves nothing about the business; a quote of the
    # business (or of an author the payload does not name) does
    return not (quoted and sender and _digits(quoted) == _digits(sender)
                and not business.owns(quoted))


def _value(
    value: Mapping[str, Any], source: str, counter: _Counter, warn: Warn | None, unknown: Unknown
) -> Iterator[EvidenceRecord]:
    metadata = value.get("metadata")
    business = _Business.of(metadata if isinstance(metadata, dict) else {})
    # contacts[] tie a wa_id to its business-scoped user id, parent id and username
    by_wa_id: dict[str, dict[str, str]] = {}
    by_user_id: dict[str, str] = {}
    for contact in _dicts(value.get("contacts")):
        profile = contact.get("profile")
        profile = profile if isinstance(profile, dict) else {}
        ids = {
            "wa_id": _text(contact.get("wa_id")),
            "user_id": _text(contact.get("user_id")),
            "parent_user_id": _text(contact.get("parent_user_id")),
            "username": _text(contact.get("username")) or _text(profile.get("username")),
        }
        if ids["wa_id"]:
            by_wa_id[ids["wa_id"]] = ids
        if ids["user_id"] and ids["wa_id"]:
            by_user_id[ids["user_id"]] = ids["wa_id"]

    linked: set[str] = set()  # numbers whose record carried their user id

    def record(
        phone: str, user_id: str, moment: object, *, parent: str = "", username: str = "",
        **times: bool,
    ) -> Iterator[EvidenceRecord]:
        """One record when the event names someone and has a time; else it is counted."""
        if phone and business.owns(phone):
            return  # the business's own number: nobody to record
        if not phone and user_id in by_user_id:
            phone = by_user_id[user_id]  # contacts[] of this payload name the number
        known = by_wa_id.get(phone, _NOTHING)
        key_phone = phone if phone and _is_number(phone) else None
        uid = user_id or known.get("user_id", "")
        uid = uid if uid and _USER_ID.fullmatch(uid) else ""
        parent = parent or known.get("parent_user_id", "")
        parent = parent if parent and _USER_ID.fullmatch(parent) else ""
        username = username or known.get("username", "")
        if key_phone is None and not uid:
            counter.no_identity += 1
            return
        at = _timestamp(moment)
        if at is None:
            counter.no_time += 1
            return
        if key_phone is not None and uid:
            linked.add(key_phone)
        yield EvidenceRecord(
            source=source,
            phone=key_phone,
            user_id=uid or None,
            parent_user_id=parent or None,
            username=username or None,
            first_inbound_at=at if times.get("inbound") else None,
            last_inbound_at=at if times.get("inbound") else None,
            first_outbound_at=at if times.get("outbound") else None,
            opted_out_at=at if times.get("opted_out") else None,
        )

    for message in _dicts(value.get("messages")):
        sender = _text(message.get("from"))
        kind = _text(message.get("type"))
        if kind == "system":
            yield from _number_change(message, source, warn, business)
        if kind in _NOT_WRITTEN_BY_CUSTOMER or "group_id" in message:
            continue
        sender_uid = _text(message.get("from_user_id"))
        parent = _text(message.get("from_parent_user_id"))
        if _replies_to_business(message, business):
            # an answer proves that the business wrote before it: outbound, not inbound
            yield from record(sender, sender_uid, message.get("timestamp"), parent=parent,
                              outbound=True)
            continue
        if kind not in _UNPROMPTED_TYPES:
            unknown(f"webhook message type {kind or '(none)'!r}", 1)
            continue
        # A "from" that is the business's own number is skipped by record().
        yield from record(sender, sender_uid, message.get("timestamp"), parent=parent,
                          inbound=True)

    for status in _dicts(value.get("statuses")):
        if _text(status.get("recipient_type")) == "group":
            phone = _text(status.get("recipient_participant_id"))
            uid = _text(status.get("recipient_participant_user_id"))
        else:
            phone = _text(status.get("recipient_id"))
            uid = _text(status.get("recipient_user_id"))
        yield from record(phone, uid, status.get("timestamp"),
                          parent=_text(status.get("recipient_parent_user_id")), outbound=True)

    for echo in _dicts(value.get("message_echoes")):
        to, sender = _text(echo.get("to")), _text(echo.get("from"))
        if to and business.owns(to):
            customer, uid = sender, _text(echo.get("from_user_id"))
        else:
            customer, uid = to, _text(echo.get("to_user_id"))
        yield from record(customer, uid, echo.get("timestamp"), outbound=True)

    for chunk in _dicts(value.get("history")):
        if any(True for _ in _dicts(chunk.get("errors"))) and warn is not None:
            warn(f"{source}: the business declined to share its chat history (history "
                 "webhook with errors): no evidence from it")
        for thread in _dicts(chunk.get("threads")):
            customer = _text(thread.get("id"))
            for message in _dicts(thread.get("messages")):
                yield from _history_message(message, customer, business, record, unknown)

    for preference in _dicts(value.get("user_preferences")):
        if _text(preference.get("value")).lower() != _OPT_OUT:
            continue  # resume / signup: not a message, and not a lifted opt-out either
        yield from record(
            _text(preference.get("wa_id")),
            _text(preference.get("user_id")),
            preference.get("timestamp"),
            opted_out=True,
        )

    for call in _dicts(value.get("calls")):
        # Only the business reaching out counts; a user-initiated call is not a written
        # message, so it is no evidence that the person wrote first (module docstring).
        if _text(call.get("direction")).upper() != _BUSINESS_INITIATED:
            continue
        to, sender = _text(call.get("to")), _text(call.get("from"))
        customer = sender if to and business.owns(to) else to
        yield from record(
            customer, _text(call.get("to_user_id")), call.get("timestamp"), outbound=True
        )

    # contacts[] link keys even when no event of this payload carried them (an unknown type):
    # one record without times, so a status naming only the user id elsewhere finds the number
    for wa_id, ids in by_wa_id.items():
        uid = ids["user_id"] if ids["user_id"] and _USER_ID.fullmatch(ids["user_id"]) else ""
        if uid and wa_id not in linked and evidence_key(wa_id) is not None and not (
            business.owns(wa_id)
        ):
            parent = ids["parent_user_id"] if _USER_ID.fullmatch(ids["parent_user_id"]) else ""
            yield EvidenceRecord(source=source, phone=wa_id, user_id=uid,
                                 parent_user_id=parent or None,
                                 username=ids["username"] or None)


def _history_message(
    message: Mapping[str, Any],
    customer: str,
    business: _Business,
    record: Callable[..., Iterator[EvidenceRecord]],
    unknown: Unknown,
) -> Iterator[EvidenceRecord]:
    """One past message of a Coexistence ``history`` thread with ``customer``."""
    sender = _text(message.get("from"))
    kind = _text(message.get("type"))
    moment = message.get("timestamp")
    if kind in _NOT_WRITTEN_BY_CUSTOMER:
        unknown("webhook history: system message", 1)
    elif sender and business.owns(sender):
        yield from record(customer, "", moment, outbound=True)  # the business wrote
    elif sender and customer and _digits(sender) == _digits(customer):
        if _replies_to_business(message, business):
            yield from record(customer, "", moment, outbound=True)
        elif kind in _UNPROMPTED_TYPES:
            yield from record(customer, "", moment, inbound=True)
        else:
            unknown(f"webhook history: message type {kind or '(none)'!r}", 1)
    else:
        unknown("webhook history: message from neither the business nor the thread's customer", 1)


def _number_change(
    message: Mapping[str, Any], source: str, warn: Warn | None, business: _Business
) -> Iterator[EvidenceRecord]:
    """``user_changed_number``: the old number's inbound evidence up to now was its previous
    holder's (``number_left_at``); nothing moves to the new number."""
    system = message.get("system")
    if not isinstance(system, dict) or _text(system.get("type")) != "user_changed_number":
        return
    old = _text(message.get("from"))
    at = _timestamp(message.get("timestamp"))
    old_key = evidence_key(old) if old else None
    if old_key is not None and at is not None and not business.owns(old):
        yield EvidenceRecord(source=source, phone=old_key, number_left_at=at)
    _warn_number_change(message, source, warn)


def _warn_number_change(message: Mapping[str, Any], source: str, warn: Warn | None) -> None:
    system = message.get("system")
    if warn is None or not isinstance(system, dict):
        return
    if _text(system.get("type")) != "user_changed_number":
        return
    old = _text(message.get("from"))
    new = _text(system.get("wa_id")) or _text(system.get("new_wa_id"))
    old_key, new_key = evidence_key(old) if old else None, evidence_key(new) if new else None
    warn(
        f"{source}: {mask(old_key) if old_key else 'a customer'} changed number to "
        f"{mask(new_key) if new_key else 'another number'}; evidence for the old number is not "
        "carried over"
    )


# -- small helpers -----------------------------------------------------------------------------


def _dicts(value: object) -> list[dict[str, Any]]:
    """The objects of a JSON array; anything else (missing, wrong type) gives none."""
    if type(value) is list:  # json.loads makes plain lists
        return [item for item in value if type(item) is dict]
    return []


def _text(value: object) -> str:
    """A string field, stripped; JSON numbers are accepted (some loggers write wa_ids so)."""
    if type(value) is str or isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _is_number(text: str) -> bool:
    """Whether ``evidence_key`` takes ``text``; a wa_id (ASCII digits) told by
    ``plain_number``, which decides as ``evidence_key`` does, without its parse."""
    if text.isdigit() and text.isascii() and plain_number("+" + text):
        return True
    return evidence_key(text) is not None


def _digits(text: str) -> str:
    if text.isdigit() and text.isascii():
        return text  # the common case, told at C speed
    return "".join(ch for ch in text if ch.isascii() and ch.isdigit())


def _timestamp(value: object) -> datetime | None:
    """Unix seconds (string or number, as the Cloud API writes them) as aware UTC, or None."""
    if type(value) is str and value.isdigit() and value.isascii():
        try:  # the Cloud API's own spelling: "1735689600"
            return datetime.fromtimestamp(int(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip()) if "." in value else int(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or value != value or value < 0:  # value != value: NaN
        return None
    try:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


