from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from contactguard.errors import EvidenceError
from contactguard.evidence import webhooks
from contactguard.model import EvidenceEntry, EvidenceRecord

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
T = datetime(2026, 1, 1, tzinfo=timezone.utc)  # unix 1767225600, the fixtures' epoch


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(1767225600 + seconds, tz=timezone.utc)


def read(name: str, warnings: list[str] | None = None) -> list[EvidenceRecord]:
    warn = warnings.append if warnings is not None else None
    return list(webhooks.records(FIXTURES / name, warn=warn))


def src(name: str) -> str:
    return str(FIXTURES / name)


class TestSniff:
    def test_webhook_json(self) -> None:
        """A .json file starting like a Cloud API payload is a webhook archive."""
        path = FIXTURES / "inbound-text.json"
        assert webhooks.sniff(path, path.read_bytes()[:8192]) is True

    def test_named_payloads(self) -> None:
        """An SDK-style object of named payloads is recognised from its first bytes."""
        path = FIXTURES / "named-payloads.json"
        assert webhooks.sniff(path, path.read_bytes()[:8192]) is True

    def test_jsonl_archive(self) -> None:
        """A JSONL file of payloads is recognised by its first line."""
        path = FIXTURES / "template-then-reply.jsonl"
        assert webhooks.sniff(str(path), path.read_bytes()[:200]) is True

    def test_ledger_is_not_a_webhook(self) -> None:
        """A JSONL evidence ledger (phone and times, no entry) is left to the ledger reader."""
        head = b'{"phone": "+491701234567", "first_inbound_at": "2026-03-01"}\n'
        assert webhooks.sniff(Path("ledger.jsonl"), head) is False

    def test_other_extension(self) -> None:
        """Only .json, .jsonl and .ndjson files are claimed, whatever their content."""
        head = (FIXTURES / "inbound-text.json").read_bytes()
        assert webhooks.sniff(Path("payload.txt"), head) is False


class TestInbound:
    def test_text_message(self) -> None:
        """A customer's text message is inbound evidence for its sender at its timestamp."""
        assert read("inbound-text.json") == [
            EvidenceRecord(
                source=src("inbound-text.json"),
                phone="491701112233",
                user_id="DE.100000000000000001",
                first_inbound_at=at(3600),
                last_inbound_at=at(3600),
            )
        ]

    def test_timestamps_are_aware_utc(self) -> None:
        """Unix seconds become timezone-aware UTC datetimes."""
        (record,) = read("inbound-text.json")
        assert record.first_inbound_at == datetime(2026, 1, 1, 1, 0, tzinfo=timezone.utc)
        assert record.first_inbound_at is not None
        assert record.first_inbound_at.tzinfo == timezone.utc

    def test_context_from_is_not_a_sender(self) -> None:
        """context.from names the quoted message's author and the business's own from is no one."""
        assert [r.phone for r in read("reply-with-context.json")] == ["491705556677"]

    def test_placeholder_skipped_and_counted(self) -> None:
        """A placeholder such as <WHATSAPP_USER_PHONE_NUMBER> yields no record, only a warning."""
        warnings: list[str] = []
        assert read("placeholder.json", warnings) == []
        assert warnings == [
            f"{src('placeholder.json')}: skipped 1 event(s) without a usable number or user id "
            "(e.g. placeholders such as <WHATSAPP_USER_PHONE_NUMBER>)"
        ]

    def test_user_id_only(self) -> None:
        """A message with a business-scoped user id and no number yields a record without phone."""
        assert read("user-id-only.json") == [
            EvidenceRecord(
                source=src("user-id-only.json"),
                phone=None,
                user_id="DE.100000000000000006",
                first_inbound_at=at(20),
                last_inbound_at=at(20),
            )
        ]

    def test_unknown_types_are_not_evidence_but_counted(self) -> None:
        """An unknown message type, a welcome request and a group message are no evidence; the
        unknown type is counted as not understood."""
        unknown: list[tuple[str, int]] = []
        records = list(
            webhooks.records(
                FIXTURES / "unknown-types.json",
                not_understood=lambda what, n: unknown.append((what, n)),
            )
        )
        assert records == []
        assert unknown == [("webhook message type 'hologram'", 1)]


class TestOutbound:
    def test_statuses(self) -> None:
        """Every status (sent, delivered, read, failed) is outbound evidence for its recipient."""
        expected = [
            ("491702223344", at(60)),
            ("491702223344", at(61)),
            ("491702223344", at(120)),
            ("491703334455", at(300)),
        ]
        records = read("statuses.json")
        assert [(r.phone, r.first_outbound_at) for r in records] == expected
        assert [r.first_inbound_at for r in records] == [None] * 4

    def test_reply_after_template(self) -> None:
        """A customer replying to a business template merges into business-initiated evidence."""
        source = src("template-then-reply.jsonl")
        records = read("template-then-reply.jsonl")
        assert records == [
            EvidenceRecord(source=f"{source}:1", phone="5215512345678", first_outbound_at=T),
            EvidenceRecord(source=f"{source}:2", phone="5215512345678", first_outbound_at=at(5)),
            # a quick-reply button answers the template: it proves the business wrote, and is
            # no evidence of the customer writing first
            EvidenceRecord(source=f"{source}:3", phone="5215512345678", first_outbound_at=at(900)),
        ]
        merged = EvidenceEntry.from_record(records[0])
        for record in records[1:]:
            merged = merged.merge(EvidenceEntry.from_record(record))
        assert (merged.first_outbound_at, merged.first_inbound_at, merged.initiated) == (
            T,
            None,
            False,
        )

    def test_message_echoes_are_outbound(self) -> None:
        """A business's own message echoed by smb_message_echoes is outbound for its recipient."""
        assert read("message-echoes.json") == [
            EvidenceRecord(
                source=src("message-echoes.json"),
                phone="491704445566",
                user_id="DE.100000000000000004",
                first_outbound_at=at(7200),
            )
        ]

    def test_calls(self) -> None:
        """A business-initiated call is outbound; a user-initiated call is no evidence at all."""
        assert [(r.phone, r.first_outbound_at, r.first_inbound_at) for r in read("calls.json")] == [
            ("491701234000", at(60), None)
        ]


class TestSystemAndPreferences:
    def test_user_changed_number(self) -> None:
        """A number change records only that the old number was left (its earlier inbound
        evidence no longer counts for it), nothing for the new one, and warns."""
        warnings: list[str] = []
        assert read("user-changed-number.json", warnings) == [
            EvidenceRecord(
                source=src("user-changed-number.json"), phone="+491706667788",
                number_left_at=at(30),
            )
        ]
        assert warnings == [
            f"{src('user-changed-number.json')}: +49170*****88 changed number to +49170*****99; "
            "evidence for the old number is not carried over"
        ]

    def test_marketing_stop(self) -> None:
        """A marketing stop is an opt-out for that wa_id; a resume is not inbound evidence."""
        assert read("user-preferences.json") == [
            EvidenceRecord(
                source=src("user-preferences.json"), phone="491708889900", opted_out_at=at(40)
            )
        ]


class TestArchives:
    def test_malformed_jsonl_line(self) -> None:
        """A line that is not JSON is an error naming the file and its line."""
        with pytest.raises(EvidenceError) as caught:
            read("malformed-line.jsonl")
        assert (caught.value.file, caught.value.line) == (src("malformed-line.jsonl"), 3)

    def test_jsonl_line_not_an_object(self) -> None:
        """A JSONL line holding an array is an error naming file and line."""
        stream = io.BytesIO(b"\n[1, 2]\n")
        with pytest.raises(EvidenceError) as caught:
            list(webhooks.read_jsonl(stream, "hooks.jsonl"))
        assert str(caught.value) == (
            "hooks.jsonl:2: expected a JSON object (a webhook payload), not an array"
        )

    def test_named_payloads(self) -> None:
        """Each payload of a named-payload object is read, with the name in the source."""
        source = src("named-payloads.json")
        assert [(r.source, r.phone) for r in read("named-payloads.json")] == [
            (f"{source}#anna_text", "491701112233"),
            (f"{source}#ben_statuses", "491702223344"),
            (f"{source}#ben_statuses", "491702223344"),
            (f"{source}#ben_statuses", "491702223344"),
            (f"{source}#ben_statuses", "491703334455"),
        ]

    def test_list_of_payloads(self) -> None:
        """A .json array of payloads is read payload by payload."""
        records = read("list-of-payloads.json")
        assert [(r.phone, r.first_inbound_at, r.first_outbound_at) for r in records] == [
            ("491701112233", at(3600), None),
            ("491704445566", None, at(7200)),
        ]

    def test_json_holding_jsonl(self) -> None:
        """A .json file with one payload per line is read as JSONL, sources with line numbers."""
        data = (FIXTURES / "template-then-reply.jsonl").read_bytes()
        records = list(webhooks.read_json(io.BytesIO(data), "hooks.json"))
        assert [r.source for r in records] == ["hooks.json:1", "hooks.json:2", "hooks.json:3"]

    def test_json_not_json(self) -> None:
        """A .json file that is not JSON is an error naming the file."""
        with pytest.raises(EvidenceError) as caught:
            list(webhooks.read_json(io.BytesIO(b"hello"), "hooks.json"))
        assert (caught.value.file, caught.value.line) == ("hooks.json", None)

    def test_json_not_a_webhook(self) -> None:
        """A JSON document without any webhook payload is an error naming the file."""
        with pytest.raises(EvidenceError) as caught:
            list(webhooks.read_json(io.BytesIO(b'{"phone": "+491701234567"}'), "x.json"))
        assert caught.value.file == "x.json"

    def test_deep_nesting(self) -> None:
        """JSON nested far deeper than any payload is a clear EvidenceError, not RecursionError."""
        data = b'{"object": "whatsapp_business_account", "entry": ' + b"[" * 100_000
        data += b"]" * 100_000 + b"}"
        with pytest.raises(EvidenceError) as caught:
            list(webhooks.read_json(io.BytesIO(data), "deep.json"))
        assert str(caught.value) == (
            "deep.json: JSON nested deeper than 200 levels; not a webhook payload"
        )

    def test_deep_unknown_field_within_limit(self) -> None:
        """An unknown field nested 190 levels deep is within the limit and simply ignored."""
        payload = json.loads((FIXTURES / "inbound-text.json").read_text())
        payload["future"] = json.loads("[" * 190 + "]" * 190)
        records = list(webhooks.read_json(io.BytesIO(json.dumps(payload).encode()), "d.json"))
        assert [r.phone for r in records] == ["491701112233"]

    def test_brackets_in_strings_do_not_count(self) -> None:
        """Brackets inside JSON strings do not count as nesting."""
        payload = json.loads((FIXTURES / "inbound-text.json").read_text())
        payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = '\\"[' * 500
        records = list(webhooks.read_json(io.BytesIO(json.dumps(payload).encode()), "b.json"))
        assert [r.phone for r in records] == ["491701112233"]

    def test_document_too_large(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A document over the size limit is refused with an EvidenceError."""
        monkeypatch.setattr(webhooks, "MAX_DOCUMENT_BYTES", 100)
        data = (FIXTURES / "inbound-text.json").read_bytes()
        with pytest.raises(EvidenceError) as caught:
            list(webhooks.read_json(io.BytesIO(data), "big.json"))
        assert caught.value.file == "big.json"

    def test_bad_timestamp_skipped(self) -> None:
        """An event without a usable timestamp is skipped and counted, not guessed."""
        payload = json.loads((FIXTURES / "inbound-text.json").read_text())
        payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "yesterday"
        warnings: list[str] = []
        stream = io.BytesIO(json.dumps(payload).encode())
        found = list(webhooks.read_json(stream, "t.json", warn=warnings.append))
        # only contacts[]'s link of number and user id remains: no time, no evidence
        assert [(r.first_inbound_at, r.first_outbound_at, r.user_id is not None) for r in found] \
            == [(None, None, True)]
        assert warnings == ["t.json: skipped 1 event(s) without a valid unix timestamp"]
