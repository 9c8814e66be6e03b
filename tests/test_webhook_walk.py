"""One walk of a webhook archive serves ``records`` and ``payloads`` alike, and the evidence
inspector's one date span."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactguard.errors import EvidenceError
from contactguard.evidence import webhooks
from contactguard.evidence.inspect import inspect_sources

METADATA = {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"}


def message(number: str, moment: int) -> dict[str, object]:
    value = {"messaging_product": "whatsapp", "metadata": METADATA,
             "contacts": [{"profile": {"name": "A"}, "wa_id": number}],
             "messages": [{"from": number, "id": "wamid.1", "timestamp": str(moment),
                           "type": "text", "text": {"body": "hi"}}]}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}]}


def status(number: str, moment: int) -> dict[str, object]:
    value = {"messaging_product": "whatsapp", "metadata": METADATA,
             "statuses": [{"id": "wamid.2", "status": "delivered", "timestamp": str(moment),
                           "recipient_id": number}]}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}]}


def outcome(call: object) -> tuple[list[object], tuple[str, str | None, int | None] | None]:
    found: list[object] = []
    try:
        for item in call:  # type: ignore[attr-defined]
            found.append(item)
    except EvidenceError as exc:
        return found, (exc.message, exc.file, exc.line)
    return found, None


PAYLOAD = st.builds(lambda kind, n, t: (message if kind else status)(f"4915{n:09d}", t),
                    st.booleans(), st.integers(0, 50), st.integers(1_600_000_000, 1_800_000_000))
LINE = st.one_of(PAYLOAD.map(lambda p: json.dumps(p)),
                 st.sampled_from(["", "[]", '"text"', "{}", '{"logger": "v1"}', "{", "1"]))


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, max_size=8), suffix=st.sampled_from([".jsonl", ".json"]),
       limit=st.sampled_from([None, 200]))
def test_records_and_payloads_walk_the_same_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], suffix: str,
    limit: int | None,
) -> None:
    """For any archive (JSONL, or one payload per line in a .json, also over the size limit)
    ``records`` reads exactly the payloads ``payloads`` yields, and both end with the same
    error (a line that is not an object is an error for both)."""
    if limit is not None:
        monkeypatch.setattr(webhooks, "MAX_DOCUMENT_BYTES", limit)
    path = tmp_path / f"archive{suffix}"
    path.write_text("\n".join(lines) + "\n")
    payloads, payload_error = outcome(webhooks.payloads(path))
    records, record_error = outcome(webhooks.records(path))
    assert payload_error == record_error
    expected: list[object] = []
    for where, payload in payloads:
        expected.extend(webhooks._payload(payload, where, webhooks._Counter(), None,
                                          lambda what, n: None))
    assert records == expected


def test_a_big_json_of_one_payload_per_line_is_read_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A .json over the size limit that holds one payload per line is read as JSONL by both
    walks (memory: one line at a time)."""
    monkeypatch.setattr(webhooks, "MAX_DOCUMENT_BYTES", 600)
    path = tmp_path / "logger.json"
    path.write_text("\n".join(json.dumps(message(f"4915{i:09d}", 1_700_000_000 + i))
                              for i in range(5)) + "\n")
    assert path.stat().st_size > 600
    assert [where for where, _ in webhooks.payloads(path)] == [
        f"{path}:{line}" for line in range(1, 6)]
    assert len(list(webhooks.records(path))) == 5


def test_a_big_json_document_is_refused_by_both(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A .json over the size limit that is one document is refused by both walks with the
    message that says to store big archives as JSONL."""
    monkeypatch.setattr(webhooks, "MAX_DOCUMENT_BYTES", 600)
    path = tmp_path / "big.json"
    path.write_text(json.dumps([message(f"4915{i:09d}", 1_700_000_000) for i in range(5)],
                               indent=1))
    for walk in (webhooks.payloads, webhooks.records):
        with pytest.raises(EvidenceError, match="store big archives as JSONL"):
            list(walk(path))


def test_a_line_that_is_not_an_object_is_an_error_for_payloads_too(tmp_path: Path) -> None:
    """``payloads`` (the app's contact list reads it) no longer skips a line that is not an
    object: it names the line, as ``records`` does."""
    path = tmp_path / "archive.jsonl"
    path.write_text(json.dumps(message("491701234567", 1_700_000_000)) + "\n[1, 2]\n")
    with pytest.raises(EvidenceError) as caught:
        list(webhooks.payloads(path))
    assert caught.value.line == 2 and "not an array" in caught.value.message


def test_the_date_span_ends_at_a_business_message(tmp_path: Path) -> None:
    """An archive of statuses alone (the business writing) shows its dates from the first to
    the last status, not an open end; a later customer message moves the end."""
    path = tmp_path / "statuses.jsonl"
    path.write_text("\n".join(json.dumps(status(number, moment)) for number, moment in
                              (("491701234567", 1_700_000_000),
                               ("491701234568", 1_710_000_000))) + "\n")
    ((block, error),) = list(inspect_sources([path]))
    assert error is None
    assert "dates: 2023-11-14 22:13 to 2024-03-09 16:00" in block
    path.write_text(path.read_text() + json.dumps(message("491701234569", 1_720_000_000)) + "\n")
    ((block, _),) = list(inspect_sources([path]))
    assert "dates: 2023-11-14 22:13 to 2024-07-03 09:46" in block


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(alphabet="0123456789", max_size=17),
                      st.sampled_from(["5215541637145", "0491701234567", "1555010", "٤٩١٧٠١٢٣٤٥٦٧",
                                       "999123456789", "+491701234567", " 491701234567"])))
def test_a_wa_id_is_told_as_evidence_key_tells_it(text: str) -> None:
    """The wa_id short cuts (webhooks' number check, ``record_keys`` of a digits-only phone)
    decide exactly as ``evidence_key``: taken or not, and the same canonical key."""
    from contactguard.evidence.identity import Key, record_keys
    from contactguard.model import EvidenceRecord
    from contactguard.phones import evidence_key

    key = evidence_key(text)
    assert webhooks._is_number(text) == (key is not None)
    record = EvidenceRecord(source="x", phone=text)
    if key is None:
        with pytest.raises(EvidenceError):
            record_keys(record)
    else:
        assert record_keys(record) == (Key("phone", key),)
