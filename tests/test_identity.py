"""One identity per person: keys seen together link, numbers never link, unmatched is reported."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from contactguard.evidence import Evidence, load_evidence
from contactguard.evidence.identity import Key, Statement, key_from_text, resolve
from contactguard.model import EvidenceEntry, EvidenceRecord

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def evidence(*records: EvidenceRecord) -> Evidence:
    found = Evidence()
    found.update(records)
    return found


def payload(value: dict[str, object]) -> str:
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "4930123456", "phone_number_id": "1102003"},
             **value}
    return json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]})


class TestLinking:
    def test_user_id_only_status_counts_for_the_linked_number(self) -> None:
        """A business message whose status names only recipient_user_id counts for the number
        that another record links to that user id: the later reply is business-initiated."""
        found = evidence(
            EvidenceRecord("hook:1", user_id="DE.4711", first_outbound_at=t(0)),
            EvidenceRecord("hook:2", phone="491701234567", user_id="DE.4711",
                           first_inbound_at=t(5)),
        )
        entry = found.lookup("+491701234567")
        assert entry is not None
        assert (entry.first_outbound_at, entry.initiated) == (t(0), False)
        assert found.unmatchable == 0

    def test_webhook_archive_with_contacts_link(self, tmp_path: Path) -> None:
        """In a real-shaped archive, a status with only recipient_user_id and a later reply
        from the number contacts[] tie to it: the person did not write first."""
        archive = tmp_path / "hooks.jsonl"
        archive.write_text(
            payload({"statuses": [{"id": "wamid.A", "status": "delivered",
                                   "timestamp": "1772355600",
                                   "recipient_user_id": "DE.998877665544"}]}) + "\n"
            + payload({"contacts": [{"profile": {"name": "Anna"}, "wa_id": "491701234567",
                                     "user_id": "DE.998877665544"}],
                       "messages": [{"from": "491701234567", "id": "wamid.B",
                                     "timestamp": "1772355900", "type": "text",
                                     "text": {"body": "Hallo"}}]}) + "\n"
        )
        entry = load_evidence([archive]).lookup("+491701234567")
        assert entry is not None and not entry.initiated

    def test_strong_keys_link_transitively(self) -> None:
        """A user id, a username and a LID seen together in pairs form one identity."""
        found = evidence(
            EvidenceRecord("a", user_id="US.1234", username="@Anna_B", first_outbound_at=t(1)),
            EvidenceRecord("b", username="anna_b", lid="9876543210@lid"),
            EvidenceRecord("c", phone="+12025550123", lid="9876543210@lid",
                           first_inbound_at=t(2)),
        )
        (identity,) = found.identities()
        assert identity.number == "+12025550123"
        assert {k.kind for k in identity.keys} == {"phone", "bsuid", "username", "lid"}
        assert identity.entry.initiated is False

    def test_two_numbers_are_never_joined(self) -> None:
        """A user id seen with two numbers (a number change) joins neither: its messages count
        for nobody, its business acts for both, and each number keeps its own evidence."""
        found = evidence(
            EvidenceRecord("old", phone="+491701111111", user_id="DE.55", first_inbound_at=t(0)),
            EvidenceRecord("new", phone="+491702222222", user_id="DE.55", first_outbound_at=t(9)),
            EvidenceRecord("uid-only", user_id="DE.55", first_inbound_at=t(-5),
                           first_outbound_at=t(3)),
        )
        old, new = found.lookup("+491701111111"), found.lookup("+491702222222")
        assert old is not None and new is not None
        assert (old.first_inbound_at, old.first_outbound_at) == (t(0), t(3))
        assert (new.first_inbound_at, new.first_outbound_at) == (None, t(3))
        assert old.initiated and not new.initiated  # the new number never wrote itself

    def test_number_change_drops_the_previous_holders_messages(self) -> None:
        """After user_changed_number, the old number's earlier messages no longer count for it;
        a message sent from it later does."""
        found = evidence(
            EvidenceRecord("hook:1", phone="+491701111111", first_inbound_at=t(0)),
            EvidenceRecord("hook:2", phone="+491701111111", number_left_at=t(10)),
        )
        entry = found.lookup("+491701111111")
        assert entry is not None and entry.first_inbound_at is None and not entry.initiated
        later = evidence(
            EvidenceRecord("hook:2", phone="+491701111111", number_left_at=t(10)),
            EvidenceRecord("hook:3", phone="+491701111111", first_inbound_at=t(20)),
        ).lookup("+491701111111")
        assert later is not None and later.initiated

    def test_a_name_beside_a_number_is_a_label_not_a_link(self) -> None:
        """Two people called Anna with different numbers stay two identities; a name alone is
        its own identity, matched by the book's display name."""
        found = evidence(
            EvidenceRecord("x", phone="+491701111111", name="Anna", first_inbound_at=t(0)),
            EvidenceRecord("y", phone="+491702222222", name="Anna", first_outbound_at=t(0)),
            EvidenceRecord("z", name="Anna", first_inbound_at=t(5)),
        )
        assert len(found.identities()) == 3
        assert found.names == {"Anna"}
        first = found.lookup("+491701111111")
        assert first is not None and first.initiated

    def test_whatsapp_variants_are_one_identity(self) -> None:
        """Mexico's 521 and 52 spellings of a number are one identity with both spellings."""
        found = evidence(
            EvidenceRecord("a", phone="5215541637145", first_inbound_at=t(0)),
            EvidenceRecord("b", phone="+525541637145", first_outbound_at=t(1)),
        )
        (identity,) = found.identities()
        assert identity.numbers == ("+5215541637145", "+525541637145")
        entry = found.lookup("+525541637145")
        assert entry is not None and entry.initiated


class TestLedgerColumns:
    def test_csv_rows_link_by_lid_and_username(self, tmp_path: Path) -> None:
        """A CSV ledger's username and LID columns link a number-less row to a number."""
        ledger = tmp_path / "crm.csv"
        ledger.write_text("phone,first_inbound_at,first_outbound_at,username,lid\n"
                          ",,2026-03-01,@anna,123456789@lid\n"
                          "+491701234567,2026-03-02,,,123456789@lid\n")
        found = load_evidence([ledger])
        entry = found.lookup("+491701234567")
        assert entry is not None and not entry.initiated
        (identity,) = found.identities()
        assert {k.kind for k in identity.keys} == {"phone", "username", "lid"}


class TestUnmatched:
    def test_unmatched_lists_what_no_contact_looked_up(self) -> None:
        """Identities never found by lookup or by_name, and number-less ones, are unmatched."""
        found = evidence(
            EvidenceRecord("a", phone="+491701111111", first_inbound_at=t(0)),
            EvidenceRecord("b", phone="+491702222222", first_inbound_at=t(0)),
            EvidenceRecord("c", user_id="US.77", first_inbound_at=t(0)),
            EvidenceRecord("d", name="Berta", first_inbound_at=t(0)),
        )
        assert found.lookup("+491701111111") is not None
        assert found.by_name("Berta") is not None
        unmatched = found.unmatched()
        assert [i.keys for i in unmatched] == [
            (Key("bsuid", "US.77"),),
            (Key("phone", "+491702222222"),),
        ]
        assert unmatched[1].masked_keys() == ["phone:+49170*****22"]


class TestKeysFromText:
    def test_every_spelling(self) -> None:
        """A key typed by a person: any number spelling, user id, LID, @username or a name."""
        assert key_from_text("+49 (170) 123-4567") == [Key("phone", "+491701234567")]
        assert key_from_text("0049 170 1234567") == [Key("phone", "+491701234567")]
        assert key_from_text("+49\u2011170\u20111234567") == [Key("phone", "+491701234567")]
        assert key_from_text("DE.123456") == [Key("bsuid", "DE.123456")]
        assert key_from_text("12345678@lid") == [Key("lid", "12345678@lid")]
        assert key_from_text("@Anna_B") == [Key("username", "anna_b")]
        assert key_from_text("Anna Beispiel") == [Key("name", "Anna Beispiel")]


@st.composite
def statements(draw: st.DrawFn) -> list[EvidenceRecord]:
    numbers = ["+491701111111", "+491702222222", "+5215541637145", "+525541637145"]
    uids = ["DE.1", "DE.2", "DE.3"]
    out = []
    for i in range(draw(st.integers(1, 12))):
        phone = draw(st.sampled_from([None, *numbers]))
        uid = draw(st.sampled_from([None, *uids]))
        if phone is None and uid is None:
            uid = uids[0]
        kind = draw(st.sampled_from(["in", "out", "left"]))
        moment = t(draw(st.integers(0, 50)))
        out.append(EvidenceRecord(
            f"s:{i}", phone=phone, user_id=uid,
            first_inbound_at=moment if kind == "in" else None,
            first_outbound_at=moment if kind == "out" else None,
            number_left_at=moment if kind == "left" and phone else None,
        ))
    return out


class TestProperties:
    @settings(max_examples=300, deadline=None)
    @given(statements())
    def test_inbound_only_from_records_of_the_number_or_its_sole_user_ids(
        self, records: list[EvidenceRecord]
    ) -> None:
        """Kept evidence for a number always rests on an inbound record naming that number, or
        naming only user ids never seen with another number; and no business act of any record
        sharing a key with the number is later ignored."""
        found = evidence(*records)
        for number in ("+491701111111", "+491702222222", "+525541637145"):
            entry = found.lookup(number)
            if entry is None or not entry.initiated:
                continue
            same = {number, "+5215541637145"} if number.startswith("+52") else {number}
            uid_numbers: dict[str, set[str]] = {}
            for r in records:
                if r.user_id and r.phone:
                    key = r.phone if not r.phone.startswith("+52") else "+525541637145"
                    uid_numbers.setdefault(r.user_id, set()).add(key)
            mine = [r for r in records if r.phone in same or (
                r.phone is None and uid_numbers.get(r.user_id or "") == {
                    "+525541637145" if number.startswith("+52") else number})]
            assert any(r.first_inbound_at == entry.first_inbound_at for r in mine)
            touching = [r for r in records if r.phone in same or (
                r.phone is None and any(
                    (n in same or (n == "+525541637145" and number.startswith("+52")))
                    for n in uid_numbers.get(r.user_id or "", set())))]
            for r in touching:
                if r.first_outbound_at is not None:
                    assert entry.first_inbound_at < r.first_outbound_at

    def test_resolve_is_order_independent(self) -> None:
        """The same statements in another order give the same identities."""
        stmts = [
            Statement((Key("bsuid", "DE.1"), Key("phone", "+491701111111")),
                      EvidenceEntry(first_inbound_at=t(1), sources=("a",))),
            Statement((Key("bsuid", "DE.1"),), EvidenceEntry(first_outbound_at=t(0),
                                                              sources=("b",))),
        ]
        forward = resolve(stmts)
        backward = resolve(list(reversed(stmts)))
        assert [(i.keys, i.entry.first_inbound_at, i.entry.first_outbound_at) for i in forward] \
            == [(i.keys, i.entry.first_inbound_at, i.entry.first_outbound_at) for i in backward]


class TestReport:
    def test_unmatched_evidence_in_summary_json_and_html(self, tmp_path: Path) -> None:
        """Evidence no contact matched, and an identity without a number, are counted in the
        summary and listed masked in the JSON and HTML reports (never in full)."""
        from click.testing import CliRunner

        from contactguard.cli import main

        book = tmp_path / "b.vcf"
        book.write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna\r\nTEL:+491701234567\r\n"
                         b"END:VCARD\r\n")
        ledger = tmp_path / "e.csv"
        ledger.write_text("phone,first_inbound_at,user_id\n+491701234567,2026-03-01,\n"
                          "+491709876543,2026-03-01,\n,2026-03-01,US.12345678\n")
        runner = CliRunner()
        result = runner.invoke(main, ["sanitize", str(book), "-e", str(ledger), "--dry-run",
                                      "--report", str(tmp_path / "r.json")])
        assert result.exit_code == 0, result.output
        assert "2 evidence identities matched no contact" in result.stderr
        data = json.loads((tmp_path / "r.json").read_text())
        assert data["summary"]["evidence"]["unmatched"] == 2
        assert data["summary"]["evidence"]["without_phone_number"] == 1
        assert [item["keys"] for item in data["unmatched_evidence"]] == [
            ["bsuid:US.******78"], ["phone:+49170*****43"]]
        html = tmp_path / "r.html"
        result = runner.invoke(main, ["sanitize", str(book), "-e", str(ledger), "--dry-run",
                                      "--report", str(html)])
        text = html.read_text()
        assert "Evidence that matched no contact" in text and "+49170*****43" in text
        for full in ("491709876543", "US.12345678"):
            assert full not in text and full not in (tmp_path / "r.json").read_text()

    def test_many_unmatched_identities_are_listed_one_per_line(self, tmp_path: Path) -> None:
        """More unmatched identities than one write batch: the summary holds them as a sequence
        equal to their entries, and the JSON report lists exactly those, one per line."""
        from contactguard import Policy, Sanitizer, load_evidence
        from contactguard.pipeline import unmatched_entry

        book = tmp_path / "b.vcf"
        book.write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna\r\nTEL:+491701234567\r\n"
                         b"END:VCARD\r\n")
        ledger = tmp_path / "e.csv"
        rows = [f"+4915{n:09d},2026-03-01T10:00:00Z,{'' if n % 7 else f'{n}@lid'}"
                for n in range(1300)]
        ledger.write_text("phone,first_inbound_at,lid\n" + "\n".join(rows) + "\n")
        evidence = load_evidence([str(ledger)])
        report = tmp_path / "r.json"
        run = Sanitizer(evidence, Policy()).run([str(book)], report=report)
        listed = run.summary.evidence_unmatched
        assert len(listed) == 1300
        assert listed == [unmatched_entry(i) for i in evidence.identities()]
        assert listed[5:7] == list(listed)[5:7] and listed[-1] == list(listed)[-1]
        text = report.read_text()
        assert json.loads(text)["unmatched_evidence"] == list(listed)
        assert text.count('\n    {"keys": ') == 1300

