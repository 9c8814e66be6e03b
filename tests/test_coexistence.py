"""Coexistence webhooks: the WhatsApp Business app's past chats (``history``), its own messages
(``smb_message_echoes``) and its contact list (``smb_app_state_sync``)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactguard.evidence import load_evidence

BUSINESS = "4930123456"
ANNA, BERT, CARL = "491701234501", "491701234502", "491701234503"
T = 1_750_000_000


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(T + seconds, tz=timezone.utc)


def payload(field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": field, "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": BUSINESS, "phone_number_id": "106540352242922"},
            **value,
        }}]}],
    }


def message(sender: str, seconds: int, kind: str = "text", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"from": sender, "id": f"wamid.H{seconds}",
                            "timestamp": str(T + seconds), "type": kind,
                            "history_context": {"status": "READ"}, **extra}
    if kind == "text":
        body["text"] = {"body": "made-up text"}
    return body


def history(*threads: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return payload("history", {"history": [{
        "metadata": {"phase": 1, "chunk_order": 1, "progress": 100},
        "threads": [{"id": customer, "messages": messages} for customer, messages in threads],
    }]})


def write(tmp_path: Path, *payloads: dict[str, Any]) -> Path:
    path = tmp_path / "hooks.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in payloads))
    return path


class TestHistory:
    def test_customer_first_and_business_first_threads(self, tmp_path: Path) -> None:
        """In history threads the sender decides the side: the customer's own message is
        inbound, the business's number outbound for the thread's customer."""
        path = write(tmp_path, history(
            (ANNA, [message(ANNA, 0), message(BUSINESS, 60), message(ANNA, 120, "image")]),
            (BERT, [message(BUSINESS, 10), message(BERT, 20)]),
        ))
        evidence = load_evidence(path)
        anna = evidence.lookup("+" + ANNA)
        assert anna is not None and anna.initiated
        assert (anna.first_inbound_at, anna.first_outbound_at, anna.last_inbound_at) == (
            at(0), at(60), at(120))
        bert = evidence.lookup("+" + BERT)
        assert bert is not None and not bert.initiated and bert.first_outbound_at == at(10)

    def test_reply_kinds_and_unknown_types_are_not_inbound(self, tmp_path: Path) -> None:
        """A reaction or button reply in history is the business having written; an unknown
        type is counted, not trusted."""
        path = write(tmp_path, history(
            (ANNA, [message(ANNA, 0, "reaction"), message(ANNA, 5)]),
            (BERT, [message(BERT, 0, "unsupported"), message(BUSINESS, 5), message(BERT, 9)]),
        ))
        evidence = load_evidence(path)
        assert evidence.lookup("+" + ANNA).initiated is False  # type: ignore[union-attr]
        assert evidence.lookup("+" + BERT).initiated is False  # type: ignore[union-attr]
        assert evidence.not_understood["webhook history: message type 'unsupported'"] == 1

    def test_sender_of_neither_side_is_not_evidence(self, tmp_path: Path) -> None:
        """A message in Anna's thread from a third number is not understood, never inbound."""
        path = write(tmp_path, history((ANNA, [message(CARL, 0)])))
        evidence = load_evidence(path)
        assert evidence.lookup("+" + ANNA) is None and evidence.lookup("+" + CARL) is None
        assert sum(evidence.not_understood.values()) == 1

    def test_declined_history_warns(self, tmp_path: Path) -> None:
        """A history webhook saying the business declined to share is a warning, no evidence."""
        path = write(tmp_path, payload("history", {"history": [{"errors": [{
            "code": 2593109, "title": "History sharing declined by business"}]}]}))
        evidence = load_evidence(path)
        assert len(evidence) == 0
        assert any("declined" in w for w in evidence.warnings)

    def test_echo_after_history_keeps_the_customer_first(self, tmp_path: Path) -> None:
        """A later echo of the business's message does not undo an earlier customer message."""
        echo = payload("smb_message_echoes", {"message_echoes": [{
            "from": BUSINESS, "to": ANNA, "id": "wamid.E", "timestamp": str(T + 500),
            "type": "text", "text": {"body": "made-up"}}]})
        evidence = load_evidence(write(tmp_path, history((ANNA, [message(ANNA, 0)])), echo))
        anna = evidence.lookup("+" + ANNA)
        assert anna is not None and anna.initiated and anna.first_outbound_at == at(500)

    def test_app_contact_list_is_not_evidence(self, tmp_path: Path) -> None:
        """smb_app_state_sync contacts say nothing about who wrote first."""
        sync = payload("smb_app_state_sync", {"state_sync": [{
            "type": "contact", "action": "add", "metadata": {"timestamp": str(T)},
            "contact": {"full_name": "Anna Example", "first_name": "Anna",
                        "phone_number": ANNA}}]})
        evidence = load_evidence(write(tmp_path, sync))
        assert len(evidence) == 0


KINDS = st.sampled_from(["text", "image", "reaction", "button", "unsupported", "system"])


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(st.tuples(st.sampled_from([ANNA, BUSINESS, CARL]),
                                 st.integers(0, 1000), KINDS), max_size=12))
def test_history_inbound_only_from_the_customer_by_allow_list(
    tmp_path_factory: Any, events: list[tuple[str, int, str]]
) -> None:
    """Whatever a thread holds, the first inbound time is that of the customer's first
    allow-listed message, and the business's messages only ever count as outbound."""
    folder = tmp_path_factory.mktemp("h")
    path = write(folder, history((ANNA, [message(s, t, k) for s, t, k in events])))
    evidence = load_evidence(path)
    anna = evidence.lookup("+" + ANNA)
    inbound = [t for s, t, k in events if s == ANNA and k in ("text", "image")]
    outbound = [t for s, t, k in events
                if (s == BUSINESS and k != "system") or (s == ANNA and k in ("reaction", "button"))]
    if not inbound and not outbound:
        assert anna is None
        return
    assert anna is not None
    assert anna.first_inbound_at == (at(min(inbound)) if inbound else None)
    assert anna.first_outbound_at == (at(min(outbound)) if outbound else None)
    assert evidence.lookup("+" + CARL) is None
