"""The phone's own WhatsApp databases as evidence: Android msgstore.db (current and old schema),
its encrypted .crypt14/.crypt15 backups, and iOS ChatStorage.sqlite (directly or in a backup)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phone_databases import (
    ChatStorage,
    Msgstore,
    OldMsgstore,
    contacts_v2,
    crypt15_aes_key,
    encrypt_backup,
    finder_backup,
    java_byte_array,
)

from contactguard.cli import main
from contactguard.errors import EvidenceError
from contactguard.evidence import iter_records, kind_of, load_evidence
from contactguard.evidence.android import read as read_android
from contactguard.evidence.ios import BUSINESS_DOMAIN, PERSONAL_DOMAIN
from contactguard.evidence.ios import read as read_ios
from contactguard.evidence.phonedb import Tally
from contactguard.evidence.store import Ledger

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=timezone.utc)
ROOT_KEY = bytes(range(32))  # a made-up 64-digit key: 000102…1f
ANNA, BERT, CARL, DORA, EMIL = "491701234501", "491701234502", "491701234503", "491701234504", \
    "491701234505"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def by_number(records: list) -> dict:  # type: ignore[type-arg]
    return {(r.phone or r.lid).removeprefix("+"): r for r in records}


def sample_msgstore(path: Path) -> Path:
    """Anna wrote first; Bert was written to first; Carl was called first; a group, a status,
    a LID chat mapped to Dora and one without a mapping, a broadcast to Emil."""
    db = Msgstore(path)
    anna = db.chat(db.jid(ANNA))
    db.message(anna, False, at(0))
    db.message(anna, True, at(5))
    db.message(anna, False, at(60), message_type=1)  # an image: her last message
    bert_jid = db.jid(BERT)
    bert = db.chat(bert_jid)
    db.message(bert, True, at(10))
    db.message(bert, False, at(20))
    carl_jid = db.jid(CARL)
    carl = db.chat(carl_jid)
    db.call(carl_jid, True, at(1))  # the business called before Carl wrote
    db.message(carl, False, at(30))
    group = db.chat(db.jid("491701234599-1600000000", "g.us"))
    db.message(group, False, at(0))
    db.call(bert_jid, True, at(-30), group_jid_row=1)  # a group call: not about Bert alone
    status = db.chat(db.jid("status", "broadcast"))
    db.message(status, False, at(0))
    dora_phone = db.jid(DORA)
    dora_lid = db.jid("123456789012345", "lid")
    db.map_lid(dora_lid, dora_phone)
    dora = db.chat(dora_lid)
    db.message(dora, False, at(40))
    stranger = db.chat(db.jid("987654321098765", "lid"))
    db.message(stranger, False, at(41))
    emil_jid = db.jid(EMIL)
    broadcast = db.chat(db.jid("1700000000", "broadcast"))
    sent = db.message(broadcast, True, at(2))
    db.receipt(sent, emil_jid)
    emil = db.chat(emil_jid)
    db.message(emil, False, at(50))  # Emil answers the broadcast: not first
    return db.close()


class TestAndroidCurrentSchema:
    def test_who_wrote_first_per_chat(self, tmp_path: Path) -> None:
        """Each 1:1 chat yields its first and last customer message and first business one."""
        records = by_number(list(read_android(str(sample_msgstore(tmp_path / "msgstore.db")))))
        anna = records[ANNA]
        assert (anna.first_inbound_at, anna.first_outbound_at, anna.last_inbound_at) == (
            at(0), at(5), at(60))
        assert records[BERT].first_outbound_at == at(10)
        assert records[BERT].first_inbound_at == at(20)

    def test_business_call_before_first_message_is_business_first(self, tmp_path: Path) -> None:
        """A call the business placed before the customer's first message: not inbound-first."""
        evidence = load_evidence(sample_msgstore(tmp_path / "msgstore.db"))
        carl = evidence.lookup("+" + CARL)
        assert carl is not None and carl.first_outbound_at == at(1) and not carl.initiated

    def test_group_call_is_not_about_the_person(self, tmp_path: Path) -> None:
        """A group call is not the business calling one participant."""
        evidence = load_evidence(sample_msgstore(tmp_path / "msgstore.db"))
        assert evidence.lookup("+" + BERT).first_outbound_at == at(10)  # type: ignore[union-attr]

    def test_lid_chat_resolves_through_jid_map(self, tmp_path: Path) -> None:
        """A chat kept under a LID is the person of the phone jid that jid_map names: one record
        carries both keys."""
        records = by_number(list(read_android(str(sample_msgstore(tmp_path / "m.db")))))
        assert records[DORA].lid == "123456789012345@lid"
        evidence = load_evidence(tmp_path / "m.db")
        dora = evidence.lookup("+" + DORA)
        assert dora is not None and dora.initiated

    def test_unmapped_lid_is_an_identity_without_a_number(self, tmp_path: Path) -> None:
        """A LID chat with no jid_map entry is kept as a LID, matched to no number."""
        records = by_number(list(read_android(str(sample_msgstore(tmp_path / "m.db")))))
        stranger = records["987654321098765@lid"]
        assert stranger.phone is None and stranger.first_inbound_at == at(41)
        evidence = load_evidence(tmp_path / "m.db")
        assert evidence.unmatchable == 1
        assert all(i.number is not None or "987654321098765@lid" in {k.value for k in i.keys}
                   for i in evidence.identities())

    def test_unmapped_lid_groups_and_status_are_counted_not_evidence(self, tmp_path: Path) -> None:
        """Groups, status updates and a LID with no number yield nothing and are counted."""
        tally = Tally()
        records = list(read_android(str(sample_msgstore(tmp_path / "m.db")), tally=tally))
        assert sorted(r.phone for r in records if r.phone) == sorted(
            "+" + n for n in (ANNA, BERT, CARL, DORA, EMIL))
        assert [r.lid for r in records if not r.phone] == ["987654321098765@lid"]
        assert tally.chats["group chats"] == 1
        assert tally.chats["status updates"] == 1
        assert tally.chats["broadcast lists"] == 1
        assert tally.chats["1:1 chats with a LID and no number (identities without a number)"] == 1
        assert tally.chats["1:1 chats with a LID mapped to a number"] == 1
        assert tally.business_calls == 1

    def test_broadcast_message_counts_as_business_first(self, tmp_path: Path) -> None:
        """A broadcast-list message the person received is the business writing first."""
        evidence = load_evidence(sample_msgstore(tmp_path / "msgstore.db"))
        emil = evidence.lookup("+" + EMIL)
        assert emil is not None and emil.first_outbound_at == at(2) and not emil.initiated

    def test_not_evidence_is_counted_as_not_understood(self, tmp_path: Path) -> None:
        """Groups, status updates and broadcast lists are counted as not understood."""
        evidence = load_evidence(sample_msgstore(tmp_path / "msgstore.db"))
        assert evidence.not_understood["phone database: group chats"] == 1
        assert evidence.not_understood["phone database: status updates"] == 1
        assert evidence.not_understood["phone database: broadcast lists"] == 1
        assert evidence.warnings == []

    def test_system_notice_is_neither_side(self, tmp_path: Path) -> None:
        """WhatsApp's notice at the top of a chat is not the business writing first."""
        db = Msgstore(tmp_path / "msgstore.db")
        chat = db.chat(db.jid(ANNA))
        db.message(chat, True, at(0), message_type=7, text=None)
        db.message(chat, False, at(1))
        tally = Tally()
        (record,) = read_android(str(db.close()), tally=tally)
        assert record.first_inbound_at == at(1) and record.first_outbound_at is None
        assert tally.system_messages == 1

    @pytest.mark.parametrize("message_type", [7, 8, 10, 11, 15, 64, 99, 1000],
                             ids=["notice", "call", "missed-call", "waiting", "deleted",
                                  "admin-deleted", "unknown", "future"])
    def test_only_recognised_customer_messages_count(self, tmp_path: Path,
                                                     message_type: int) -> None:
        """A customer 'message' of a type that is not a written message is not evidence."""
        db = Msgstore(tmp_path / "msgstore.db")
        chat = db.chat(db.jid(ANNA))
        db.message(chat, False, at(0), message_type=message_type)
        db.message(chat, True, at(1))
        db.message(chat, False, at(2))
        (record,) = read_android(str(db.close()))
        assert record.first_inbound_at == at(2)
        assert load_evidence(tmp_path / "msgstore.db").lookup("+" + ANNA).initiated is False  # type: ignore[union-attr]

    def test_undated_messages_are_counted_not_used(self, tmp_path: Path) -> None:
        """A message with time 0 is a placeholder: counted, never the first message."""
        db = Msgstore(tmp_path / "msgstore.db")
        chat = db.chat(db.jid(ANNA))
        db.message(chat, False, datetime(1970, 1, 1, tzinfo=timezone.utc))
        db.message(chat, True, at(1))
        tally = Tally()
        (record,) = read_android(str(db.close()), tally=tally)
        assert record.first_inbound_at is None and tally.undated == 1

    def test_chat_ids_beyond_the_packed_key_are_chats_of_unknown_kind(self,
                                                                    tmp_path: Path) -> None:
        """A chat id so large that chat * 8 leaves SQLite's integers, or one that is text, is
        counted as a chat of unknown kind, not a crash and not evidence."""
        db = Msgstore(tmp_path / "msgstore.db")
        chat = db.chat(db.jid(ANNA))
        db.message(chat, False, at(0))
        row = db.message(chat, False, at(1))
        db.db.execute("UPDATE message SET chat_row_id = ? WHERE _id = ?", (2**62, row))
        db.db.execute("INSERT INTO message (chat_row_id, from_me, key_id, timestamp, "
                      "message_type) VALUES ('x', 0, 'x', ?, 0)", (int(at(2).timestamp() * 1000),))
        tally = Tally()
        (record,) = read_android(str(db.close()), tally=tally)
        assert record.first_inbound_at == at(0) and record.last_inbound_at == at(0)
        assert tally.chats["chats of unknown kind"] >= 1

    def test_database_is_opened_read_only(self, tmp_path: Path) -> None:
        """Reading leaves the database byte for byte as it was, and no file beside it."""
        path = sample_msgstore(tmp_path / "msgstore.db")
        before = digest(path)
        load_evidence(path)
        assert digest(path) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["msgstore.db"]


class TestAndroidOldSchema:
    def test_old_schema_directions_groups_and_notices(self, tmp_path: Path) -> None:
        """The old messages table: key_from_me, status 6 notices, @g.us and broadcasts skipped."""
        db = OldMsgstore(tmp_path / "msgstore.db")
        db.message(f"{ANNA}@s.whatsapp.net", True, at(0), status=6)  # a notice
        db.message(f"{ANNA}@s.whatsapp.net", False, at(1))
        db.message(f"{ANNA}@s.whatsapp.net", True, at(2))
        db.message(f"{BERT}@s.whatsapp.net", True, at(3), wa_type="1")
        db.message(f"{BERT}@s.whatsapp.net", False, at(4))
        db.message("491701234599-1600000000@g.us", False, at(0))
        db.message("status@broadcast", False, at(0))
        tally = Tally()
        records = by_number(list(read_android(str(db.close()), tally=tally)))
        assert records[ANNA].first_inbound_at == at(1)
        assert records[ANNA].first_outbound_at == at(2)
        assert records[BERT].first_outbound_at == at(3)
        assert set(records) == {ANNA, BERT}
        assert tally.chats["group chats"] == 1 and tally.chats["status updates"] == 1
        assert tally.system_messages == 1

    def test_old_schema_unknown_type_is_not_evidence(self, tmp_path: Path) -> None:
        """An old-schema customer row of an unknown media type is counted, not used."""
        db = OldMsgstore(tmp_path / "msgstore.db")
        db.message(f"{ANNA}@s.whatsapp.net", False, at(0), wa_type="99")
        tally = Tally()
        assert list(read_android(str(db.close()), tally=tally)) == []
        assert tally.unrecognised == 1


class TestAndroidOldSchemaBroadcasts:
    def test_broadcast_list_message_is_the_business_writing_first(self, tmp_path: Path) -> None:
        """An old-schema broadcast the customer received (receipts) makes their answer a reply."""
        db = OldMsgstore(tmp_path / "msgstore.db")
        sent = db.message("1600000000@broadcast", True, at(2))
        db.receipt("1600000000@broadcast", sent, f"{ANNA}@s.whatsapp.net", at(3))
        db.message(f"{ANNA}@s.whatsapp.net", False, at(10))  # Anna answers the broadcast
        db.message(f"{BERT}@s.whatsapp.net", False, at(11))  # Bert was not on the list
        tally = Tally()
        records = by_number(list(read_android(str(db.close()), tally=tally)))
        assert records[ANNA].first_outbound_at == at(2)
        assert records[ANNA].first_inbound_at == at(10)
        assert records[BERT].first_outbound_at is None
        assert tally.chats["broadcast lists"] == 1
        assert tally.notes == []

    def test_notice_on_a_list_and_foreign_recipients_are_not_outbound(
        self, tmp_path: Path
    ) -> None:
        """A notice on the list is nobody's message; a recipient that is no number is skipped."""
        db = OldMsgstore(tmp_path / "msgstore.db")
        notice = db.message("1600000000@broadcast", True, at(1), status=6)
        db.receipt("1600000000@broadcast", notice, f"{ANNA}@s.whatsapp.net", at(1))
        sent = db.message("1600000000@broadcast", True, at(5))
        db.receipt("1600000000@broadcast", sent, "491701234599-1600000000@g.us", at(6))
        db.message(f"{ANNA}@s.whatsapp.net", False, at(10))
        records = by_number(list(read_android(str(db.close()))))
        assert set(records) == {ANNA}
        assert records[ANNA].first_outbound_at is None

    def test_without_receipts_table_a_note_says_so(self, tmp_path: Path) -> None:
        """An old database without receipts: its broadcasts are named in a note, not guessed."""
        db = OldMsgstore(tmp_path / "msgstore.db")
        db.drop_receipts()
        db.message("1600000000@broadcast", True, at(2))
        db.message(f"{ANNA}@s.whatsapp.net", False, at(10))
        tally = Tally()
        records = by_number(list(read_android(str(db.close()), tally=tally)))
        assert records[ANNA].first_outbound_at is None
        assert any("no receipts table" in note for note in tally.notes)

    @settings(max_examples=30, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(events=st.lists(
        st.tuples(st.sampled_from(["in", "out", "list"]), st.sampled_from([ANNA, BERT, CARL]),
                  st.integers(0, 500), st.booleans()),
        max_size=25))
    def test_reader_matches_a_model_of_lists_and_chats(
        self, tmp_path_factory: pytest.TempPathFactory,
        events: list[tuple[str, str, int, bool]],
    ) -> None:
        """Generated chats and list messages: first outbound = the earliest own or list message
        with a receipt for that person; first inbound = the earliest customer message."""
        db = OldMsgstore(tmp_path_factory.mktemp("old") / "msgstore.db")
        first_in: dict[str, datetime] = {}
        first_out: dict[str, datetime] = {}
        for what, who, minute, received in events:
            when = at(minute)
            if what == "list":
                key = db.message("1600000000@broadcast", True, when)
                if received:
                    db.receipt("1600000000@broadcast", key, f"{who}@s.whatsapp.net", when)
                    first_out[who] = min(first_out.get(who, when), when)
            else:
                db.message(f"{who}@s.whatsapp.net", what == "out", when)
                seen = first_out if what == "out" else first_in
                seen[who] = min(seen.get(who, when), when)
        records = by_number(list(read_android(str(db.close()))))
        assert set(records) == set(first_in) | set(first_out)
        for who, got in records.items():
            assert got.first_inbound_at == first_in.get(who)
            assert got.first_outbound_at == first_out.get(who)


class TestNotWhatsApp:
    def test_foreign_sqlite_is_never_adopted_as_ledger(self, tmp_path: Path) -> None:
        """A SQLite file of another program is refused as a ledger and left untouched."""
        path = tmp_path / "other.db"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE notes (id INTEGER, body TEXT)")
        db.commit()
        db.close()
        before = digest(path)
        with pytest.raises(EvidenceError, match="not a contactguard"):
            load_evidence(path)
        with pytest.raises(EvidenceError, match="not a contactguard"):
            Ledger(path)
        assert digest(path) == before

    def test_msgstore_as_ledger_is_refused(self, tmp_path: Path, runner: CliRunner) -> None:
        """`evidence import --ledger msgstore.db` refuses and leaves the phone's file as it was."""
        path = sample_msgstore(tmp_path / "msgstore.db")
        before = digest(path)
        other = tmp_path / "ledger.csv"
        other.write_text("phone,first_inbound_at\n+491701234501,2025-01-01\n")
        result = runner.invoke(main, ["evidence", "import", str(other), "--ledger", str(path)])
        assert result.exit_code == 1 and "not a contactguard" in result.output
        result = runner.invoke(main, ["evidence", "import", str(path), "--ledger", str(path)])
        assert result.exit_code == 1 and "inputs are never written" in result.output
        assert digest(path) == before

    @settings(max_examples=30, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(names=st.lists(st.sampled_from(["message", "chat", "jid", "messages", "ZWAMESSAGE",
                                           "ZWACHATSESSION", "notes", "jid_map"]),
                          min_size=1, max_size=4, unique=True),
           columns=st.lists(st.sampled_from(["_id", "user", "server", "from_me", "timestamp",
                                             "key_remote_jid", "Z_PK", "body"]),
                            min_size=1, max_size=3, unique=True))
    def test_sqlite_with_other_tables_is_a_clear_error(
        self, tmp_path_factory: pytest.TempPathFactory, names: list[str], columns: list[str]
    ) -> None:
        """SQLite files whose tables only look like WhatsApp's: a clear EvidenceError, untouched."""
        path = tmp_path_factory.mktemp("db") / "x.db"
        db = sqlite3.connect(path)
        for name in names:
            db.execute(f"CREATE TABLE {name} ({', '.join(columns)})")
        db.commit()
        db.close()
        before = digest(path)
        with pytest.raises(EvidenceError):
            list(iter_records([path]))
        assert digest(path) == before


DORA_LID, EMIL_LID, STRANGER_LID = "123456789012345@lid", "223456789012345@lid", \
    "987654321098765@lid"


class TestIOSLids:
    def chats(self, path: Path) -> Path:
        """Dora's chat kept under her LID (and her old phone session names it), Emil's LID
        chat, a stranger's LID chat."""
        db = ChatStorage(path)
        db.session(f"{DORA}@s.whatsapp.net", identifier=DORA_LID)  # no messages: a link only
        dora = db.session(DORA_LID)
        db.message(dora, False, at(5))
        emil = db.session(EMIL_LID)
        db.message(emil, True, at(1))
        db.message(emil, False, at(6))
        stranger = db.session(STRANGER_LID)
        db.message(stranger, False, at(7))
        return db.close()

    def test_lid_session_resolves_through_the_session_identifier(self, tmp_path: Path) -> None:
        """A LID that a phone session names as its identifier is that number, LID kept."""
        tally = Tally()
        records = by_number(list(read_ios(str(self.chats(tmp_path / "ChatStorage.sqlite")),
                                          tally=tally)))
        assert records[DORA].lid == DORA_LID and records[DORA].first_inbound_at == at(5)
        assert records[STRANGER_LID].phone is None
        assert records[EMIL_LID].phone is None
        assert tally.chats["1:1 chats with a LID mapped to a number"] == 1

    def test_contacts_database_beside_links_more_lids(self, tmp_path: Path) -> None:
        """ContactsV2.sqlite next to the chats links Emil's LID to his number."""
        path = self.chats(tmp_path / "ChatStorage.sqlite")
        contacts_v2(tmp_path / "ContactsV2.sqlite", [(EMIL_LID, f"{EMIL}@s.whatsapp.net"),
                                                     (None, f"{ANNA}@s.whatsapp.net")])
        evidence = load_evidence(path)
        emil = evidence.lookup("+" + EMIL)
        assert emil is not None and emil.initiated is False  # the business wrote first
        dora = evidence.lookup("+" + DORA)
        assert dora is not None and dora.initiated
        assert evidence.lookup("+" + ANNA) is None  # a contact is not evidence

    def test_lid_linked_to_two_numbers_is_not_guessed(self, tmp_path: Path) -> None:
        """A LID the app links to two numbers stays an identity without a number."""
        path = self.chats(tmp_path / "ChatStorage.sqlite")
        contacts_v2(tmp_path / "ContactsV2.sqlite", [(DORA_LID, f"{ANNA}@s.whatsapp.net")])
        tally = Tally()
        records = by_number(list(read_ios(str(path), tally=tally)))
        assert records[DORA_LID].phone is None
        assert DORA not in records and ANNA not in records
        assert any("more than one number" in note for note in tally.notes)

    def test_backup_reads_the_same_apps_contacts(self, tmp_path: Path) -> None:
        """In a Finder backup the contacts database of the chats' own app links the LIDs."""
        chats = self.chats(tmp_path / "ChatStorage.sqlite")
        contacts = contacts_v2(tmp_path / "ContactsV2.sqlite",
                               [(EMIL_LID, f"{EMIL}@s.whatsapp.net")])
        personal = contacts_v2(tmp_path / "personal.sqlite",
                               [(STRANGER_LID, f"{ANNA}@s.whatsapp.net")])
        folder = finder_backup(tmp_path / "backup", chats, domain=BUSINESS_DOMAIN,
                               contacts=contacts)
        finder_backup(folder, None, domain=PERSONAL_DOMAIN, contacts=personal)
        records = by_number(list(read_ios(str(folder))))
        assert records[EMIL].lid == EMIL_LID
        assert ANNA not in records  # the personal app's contacts were not used

    @settings(max_examples=30, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(links=st.lists(st.tuples(st.sampled_from([DORA_LID, EMIL_LID, STRANGER_LID]),
                                    st.sampled_from([ANNA, BERT, CARL]),
                                    st.booleans()), max_size=6))
    def test_resolution_matches_a_model(self, tmp_path_factory: pytest.TempPathFactory,
                                        links: list[tuple[str, str, bool]]) -> None:
        """Generated links (sessions or contacts): a LID with exactly one linked number gets
        it, every other LID stays without a number."""
        folder = tmp_path_factory.mktemp("lids")
        db = ChatStorage(folder / "ChatStorage.sqlite")
        rows = []
        for lid, number, in_session in links:
            if in_session:
                db.session(f"{number}@s.whatsapp.net", identifier=lid)
            else:
                rows.append((lid, f"{number}@s.whatsapp.net"))
        for lid in (DORA_LID, EMIL_LID, STRANGER_LID):
            db.message(db.session(lid), False, at(1))
        db.close()
        contacts_v2(folder / "ContactsV2.sqlite", rows)
        records = list(read_ios(str(folder / "ChatStorage.sqlite")))
        got = {r.lid: r.phone for r in records}
        for lid in (DORA_LID, EMIL_LID, STRANGER_LID):
            numbers = {number for other, number, _ in links if other == lid}
            assert got[lid] == ("+" + next(iter(numbers)) if len(numbers) == 1 else None)


class TestIOS:
    def build(self, path: Path) -> Path:
        db = ChatStorage(path)
        anna = db.session(f"{ANNA}@s.whatsapp.net")
        db.message(anna, True, at(0), message_type=6, group_event=2)  # a notice
        db.message(anna, False, at(1))
        db.message(anna, True, at(2))
        db.message(anna, False, at(9), message_type=1)
        bert = db.session(f"{BERT}@s.whatsapp.net")
        db.message(bert, True, at(3))
        db.message(bert, False, at(4))
        group = db.session("491701234599-1600000000@g.us", session_type=1)
        db.message(group, False, at(0))
        lid = db.session("987654321098765@lid")
        db.message(lid, False, at(0))
        return db.close()

    def test_chatstorage_directions_and_apple_epoch(self, tmp_path: Path) -> None:
        """ZISFROMME gives the side, ZMESSAGEDATE counts seconds from 2001; groups are skipped."""
        path = self.build(tmp_path / "ChatStorage.sqlite")
        assert kind_of(str(path), path.read_bytes()[:100]).name == "ios-chatstorage"  # type: ignore[union-attr]
        evidence = load_evidence(path)
        anna = evidence.lookup("+" + ANNA)
        assert anna is not None and anna.initiated
        assert (anna.first_inbound_at, anna.first_outbound_at, anna.last_inbound_at) == (
            at(1), at(2), at(9))
        assert evidence.lookup("+" + BERT).initiated is False  # type: ignore[union-attr]
        assert len(evidence) == 2
        assert evidence.not_understood["phone database: group chats"] == 1
        assert evidence.unmatchable == 1  # the LID session

    def test_finder_backup_business_domain(self, tmp_path: Path) -> None:
        """A Finder backup folder is read through Manifest.db: the Business app's database."""
        store = self.build(tmp_path / "ChatStorage.sqlite")
        backup = finder_backup(tmp_path / "backup", store, domain=BUSINESS_DOMAIN)
        evidence = load_evidence(backup)
        assert evidence.lookup("+" + ANNA).initiated  # type: ignore[union-attr]

    def test_backup_inside_a_folder_is_one_source(self, tmp_path: Path) -> None:
        """A backup folder inside an evidence folder is read as one source, not file by file."""
        store = self.build(tmp_path / "ChatStorage.sqlite")
        finder_backup(tmp_path / "evidence" / "iphone", store, domain=BUSINESS_DOMAIN)
        evidence = load_evidence(tmp_path / "evidence")
        assert len(evidence) == 2
        assert not any("skipped" in w for w in evidence.warnings)

    def test_personal_app_backup_is_read_with_a_warning(self, tmp_path: Path) -> None:
        """A backup with only the personal app's database is read, and says so."""
        store = self.build(tmp_path / "ChatStorage.sqlite")
        backup = finder_backup(tmp_path / "backup", store, domain=PERSONAL_DOMAIN)
        evidence = load_evidence(backup)
        assert len(evidence) == 2
        assert any("personal WhatsApp" in w for w in evidence.warnings)

    def test_encrypted_backup_is_a_clear_error(self, tmp_path: Path) -> None:
        """An encrypted Finder backup: an error that says to make an unencrypted one."""
        backup = finder_backup(tmp_path / "backup", None, domain=BUSINESS_DOMAIN, encrypted=True)
        with pytest.raises(EvidenceError, match="unencrypted backup"):
            load_evidence(backup)

    def test_backup_without_whatsapp(self, tmp_path: Path) -> None:
        """A backup with no WhatsApp database says so."""
        backup = finder_backup(tmp_path / "backup", None, domain=BUSINESS_DOMAIN)
        with pytest.raises(EvidenceError, match="no WhatsApp ChatStorage"):
            load_evidence(backup)


# -- encrypted Android backups ----------------------------------------------------------------


def crypt15(tmp_path: Path, **options: bool) -> Path:
    plain = sample_msgstore(tmp_path / "plain.db")
    path = tmp_path / "msgstore.db.crypt15"
    path.write_bytes(encrypt_backup(plain.read_bytes(), crypt15_aes_key(ROOT_KEY), **options))
    plain.unlink()
    return path


def key_file(tmp_path: Path, text: str = ROOT_KEY.hex()) -> Path:
    path = tmp_path / "key.txt"
    path.write_text(text)
    return path


class TestCrypt15:
    def test_decrypts_with_the_64_digit_key(self, tmp_path: Path) -> None:
        """A .crypt15 backup made with a made-up key reads as the plain database does."""
        path = crypt15(tmp_path)
        evidence = load_evidence(path, backup_key_file=str(key_file(tmp_path)))
        assert evidence.lookup("+" + ANNA).initiated  # type: ignore[union-attr]
        assert len(evidence) == 5

    def test_key_as_the_app_shows_it(self, tmp_path: Path) -> None:
        """The key may be written in groups of four, upper case, over several lines."""
        hex_key = ROOT_KEY.hex().upper()
        grouped = " ".join(hex_key[i : i + 4] for i in range(0, 64, 4))
        path = crypt15(tmp_path)
        evidence = load_evidence(path, backup_key_file=str(key_file(tmp_path, grouped + "\n")))
        assert len(evidence) == 5

    def test_key_from_the_environment(self, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --backup-key-file the key comes from CONTACTGUARD_BACKUP_KEY."""
        monkeypatch.setenv("CONTACTGUARD_BACKUP_KEY", ROOT_KEY.hex())
        assert len(load_evidence(crypt15(tmp_path))) == 5

    def test_app_key_file(self, tmp_path: Path) -> None:
        """The app's encrypted_backup.key (a serialised byte[32]) is accepted too."""
        path = tmp_path / "encrypted_backup.key"
        path.write_bytes(java_byte_array(ROOT_KEY))
        assert len(load_evidence(crypt15(tmp_path), backup_key_file=str(path))) == 5

    def test_backup_without_checksum_or_feature_flag(self, tmp_path: Path) -> None:
        """Backups without the trailing MD5 or the feature-table byte are read too."""
        path = crypt15(tmp_path, checksum=False, feature_flag=False)
        assert len(load_evidence(path, backup_key_file=str(key_file(tmp_path)))) == 5

    def test_missing_key(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """No key at all: the error names the option and the variable."""
        monkeypatch.delenv("CONTACTGUARD_BACKUP_KEY", raising=False)
        with pytest.raises(EvidenceError, match="--backup-key-file"):
            load_evidence(crypt15(tmp_path))

    def test_wrong_key_is_a_clear_error_without_the_key(self, tmp_path: Path,
                                                        runner: CliRunner) -> None:
        """A wrong key: one line, exit 1, no traceback, and the key is not echoed."""
        path = crypt15(tmp_path)
        wrong = "ab" * 32
        book = tmp_path / "book.vcf"
        book.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nTEL:+491701234501\r\nEND:VCARD\r\n")
        result = runner.invoke(main, ["sanitize", str(book), "-e", str(path), "--backup-key-file",
                                      str(key_file(tmp_path, wrong)), "--dry-run"])
        assert result.exit_code == 1
        assert "not the key of this backup" in result.output
        assert wrong not in result.output and "Traceback" not in result.output

    def test_truncated_backup(self, tmp_path: Path) -> None:
        """A backup cut short is reported as such."""
        path = crypt15(tmp_path)
        path.write_bytes(path.read_bytes()[:-1000])
        with pytest.raises(EvidenceError, match=r"cut short|damaged"):
            load_evidence(path, backup_key_file=str(key_file(tmp_path)))

    def test_not_a_backup(self, tmp_path: Path) -> None:
        """A file named .crypt15 that is not a backup: the header cannot be read."""
        path = tmp_path / "msgstore.db.crypt15"
        path.write_bytes(b"PK\x03\x04 not a backup at all" * 10)
        with pytest.raises(EvidenceError, match="header"):
            load_evidence(path, backup_key_file=str(key_file(tmp_path)))

    def test_backup_of_another_database(self, tmp_path: Path) -> None:
        """A sound backup of a database that holds no messages (wa.db, say): a clear error."""
        other = tmp_path / "wa.db"
        db = sqlite3.connect(other)
        db.execute("CREATE TABLE wa_contacts (_id INTEGER, jid TEXT)")
        db.commit()
        db.close()
        path = tmp_path / "wa.db.crypt15"
        path.write_bytes(encrypt_backup(other.read_bytes(), crypt15_aes_key(ROOT_KEY)))
        with pytest.raises(EvidenceError, match="not WhatsApp's message database"):
            load_evidence(path, backup_key_file=str(key_file(tmp_path)))

    def test_bad_key_file(self, tmp_path: Path) -> None:
        """A key file that holds neither 64 hex digits nor the app's key: a clear error."""
        with pytest.raises(EvidenceError, match="64 hexadecimal digits"):
            load_evidence(crypt15(tmp_path), backup_key_file=str(key_file(tmp_path, "12345")))

    def test_decrypted_copy_is_private_and_removed(self, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        """The decrypted database exists only as a 0600 temporary file while it is read."""
        import tempfile

        private = tmp_path / "tmp"
        private.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(private))
        path = crypt15(tmp_path)
        records = read_android(str(path), key_file=str(key_file(tmp_path)))
        next(records)
        (copy,) = private.iterdir()
        assert copy.stat().st_mode & 0o777 == 0o600
        list(records)
        assert list(private.iterdir()) == []

    def test_decrypted_copy_is_removed_after_an_error(self, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """A backup that fails half-way leaves no decrypted bytes behind."""
        import tempfile

        private = tmp_path / "tmp"
        private.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(private))
        path = crypt15(tmp_path)
        path.write_bytes(path.read_bytes()[:-100])
        with pytest.raises(EvidenceError):
            load_evidence(path, backup_key_file=str(key_file(tmp_path)))
        assert list(private.iterdir()) == []

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def test_any_cut_or_flipped_byte_is_a_clear_error(
        self, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
    ) -> None:
        """A backup cut anywhere, or with any byte changed, is an EvidenceError, never read."""
        folder = tmp_path_factory.mktemp("cut")
        path = crypt15(folder)
        body = path.read_bytes()
        if data.draw(st.booleans(), label="cut"):
            body = body[: data.draw(st.integers(0, len(body) - 1), label="length")]
        else:
            where = data.draw(st.integers(0, len(body) - 1), label="where")
            body = body[:where] + bytes([body[where] ^ data.draw(st.integers(1, 255))]) \
                + body[where + 1 :]
        path.write_bytes(body)
        try:
            evidence = load_evidence(path, backup_key_file=str(key_file(folder)))
        except EvidenceError:
            return
        # a flipped byte in the unauthenticated header fields (app version, key type) or in the
        # MD5 checksum itself changes nothing that is read: the same evidence comes out
        assert len(evidence) == 5

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(key=st.binary(min_size=32, max_size=32).filter(lambda k: k != ROOT_KEY))
    def test_any_other_key_is_refused(self, tmp_path_factory: pytest.TempPathFactory,
                                      key: bytes) -> None:
        """Every key but the backup's own is refused with the wrong-key error."""
        folder = tmp_path_factory.mktemp("key")
        with pytest.raises(EvidenceError, match=r"not the key of this backup|damaged"):
            load_evidence(crypt15(folder), backup_key_file=str(key_file(folder, key.hex())))

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=st.binary(max_size=600))
    def test_random_bytes_named_crypt15(self, tmp_path_factory: pytest.TempPathFactory,
                                        body: bytes) -> None:
        """Any bytes named .crypt15 are an EvidenceError, never a crash."""
        folder = tmp_path_factory.mktemp("junk")
        path = folder / "msgstore.db.crypt15"
        path.write_bytes(body)
        with pytest.raises(EvidenceError):
            load_evidence(path, backup_key_file=str(key_file(folder)))


class TestCrypt14:
    def key14(self, tmp_path: Path, aes: bytes) -> Path:
        body = b"\x00\x01" + b"\x02" + b"\x11" * 32 + b"\x22" * 16 + b"\x33" * 32 + b"\x00" * 16
        path = tmp_path / "key"
        path.write_bytes(java_byte_array(body + aes))
        return path

    def test_crypt14_with_the_key_file(self, tmp_path: Path) -> None:
        """A .crypt14 backup opens with the app's 'key' file (its last 32 bytes)."""
        aes = bytes(range(100, 132))
        plain = sample_msgstore(tmp_path / "plain.db")
        path = tmp_path / "msgstore.db.crypt14"
        path.write_bytes(encrypt_backup(plain.read_bytes(), aes, kind="crypt14"))
        evidence = load_evidence(path, backup_key_file=str(self.key14(tmp_path, aes)))
        assert len(evidence) == 5

    def test_crypt14_with_a_64_digit_key(self, tmp_path: Path) -> None:
        """A .crypt14 backup given the 64-digit key: the error says which key it needs."""
        plain = sample_msgstore(tmp_path / "plain.db")
        path = tmp_path / "msgstore.db.crypt14"
        path.write_bytes(encrypt_backup(plain.read_bytes(), ROOT_KEY, kind="crypt14"))
        with pytest.raises(EvidenceError, match="'key' file"):
            load_evidence(path, backup_key_file=str(key_file(tmp_path)))

    def test_crypt15_with_a_crypt14_key_file(self, tmp_path: Path) -> None:
        """A .crypt15 backup given a crypt14 key file: the error asks for the 64-digit key."""
        with pytest.raises(EvidenceError, match="64-digit key"):
            load_evidence(crypt15(tmp_path),
                          backup_key_file=str(self.key14(tmp_path, b"\x01" * 32)))


class TestAnotherImplementation:
    """Files written by wa-crypt-tools (a GPL tool, used only here) read with our decryption."""

    def test_crypt15_written_by_wa_crypt_tools(self, tmp_path: Path) -> None:
        """wa-crypt-tools' .crypt15 and its encrypted_backup.key file open here."""
        import zlib

        wa_db15 = pytest.importorskip("wa_crypt_tools.lib.db.db15")
        wa_key15 = pytest.importorskip("wa_crypt_tools.lib.key.key15")
        wa_props = pytest.importorskip("wa_crypt_tools.lib.props")
        plain = sample_msgstore(tmp_path / "plain.db").read_bytes()
        key = wa_key15.Key15(keyarray=ROOT_KEY)
        database = wa_db15.Database15(key=key, iv=b"\x05" * 16)
        path = tmp_path / "msgstore.db.crypt15"
        path.write_bytes(database.encrypt(key, wa_props.Props(), zlib.compress(plain, 1)))
        (tmp_path / "encrypted_backup.key").write_bytes(key.dump())
        for key_path in (key_file(tmp_path), tmp_path / "encrypted_backup.key"):
            assert len(load_evidence(path, backup_key_file=str(key_path))) == 5

    def test_crypt14_written_by_wa_crypt_tools(self, tmp_path: Path) -> None:
        """wa-crypt-tools' .crypt14 and its 'key' file open here."""
        import zlib

        wa_db14 = pytest.importorskip("wa_crypt_tools.lib.db.db14")
        wa_key14 = pytest.importorskip("wa_crypt_tools.lib.key.key14")
        wa_props = pytest.importorskip("wa_crypt_tools.lib.props")
        plain = sample_msgstore(tmp_path / "plain.db").read_bytes()
        key = wa_key14.Key14(key=bytes(range(50, 82)))
        database = wa_db14.Database14(key=key, iv=b"\x06" * 16)
        path = tmp_path / "msgstore.db.crypt14"
        path.write_bytes(database.encrypt(key, wa_props.Props(), zlib.compress(plain, 1)))
        (tmp_path / "key").write_bytes(key.dump())
        assert len(load_evidence(path, backup_key_file=str(tmp_path / "key"))) == 5

    def test_our_hkdf_matches_the_reference(self) -> None:
        """The crypt15 AES key equals HKDF written out by hand and wa-crypt-tools' own."""
        from contactguard.evidence.backupcrypt import BackupKey

        ours = BackupKey("crypt15", ROOT_KEY, "test").aes_key()
        assert ours == crypt15_aes_key(ROOT_KEY)
        wa_key15 = pytest.importorskip("wa_crypt_tools.lib.key.key15")
        assert ours == wa_key15.Key15(keyarray=ROOT_KEY).get()


# -- the command line ---------------------------------------------------------------------------


class TestCommands:
    def test_sanitize_with_an_encrypted_backup(self, tmp_path: Path, runner: CliRunner) -> None:
        """sanitize keeps the one who wrote first, reading a .crypt15 with --backup-key-file."""
        path = crypt15(tmp_path)
        book = tmp_path / "book.vcf"
        book.write_text(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna\r\nTEL:+491701234501\r\nEND:VCARD\r\n"
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bert\r\nTEL:+491701234502\r\nEND:VCARD\r\n"
        )
        out = tmp_path / "clean.vcf"
        result = runner.invoke(main, ["sanitize", str(book), "-e", str(path), "--backup-key-file",
                                      str(key_file(tmp_path)), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert "Anna" in out.read_text() and "Bert" not in out.read_text()

    def test_import_and_inspect(self, tmp_path: Path, runner: CliRunner,
                                monkeypatch: pytest.MonkeyPatch) -> None:
        """evidence import and inspect read a backup with the key from the environment."""
        monkeypatch.setenv("CONTACTGUARD_BACKUP_KEY", ROOT_KEY.hex())
        path = crypt15(tmp_path)
        ledger = tmp_path / "ledger.sqlite"
        result = runner.invoke(main, ["evidence", "import", str(path), "--ledger", str(ledger)])
        assert result.exit_code == 0, result.output
        assert "6 entries added" in result.output  # 5 numbers and a LID
        assert "1 × phone database: group chats" in result.output
        result = runner.invoke(main, ["evidence", "inspect", str(path)])
        assert result.exit_code == 0, result.output
        assert "Android WhatsApp backup" in result.output
        assert "1 group chats" in result.output
        assert "identities: 6 (1 without a number)" in result.output

    def test_output_onto_the_key_file_is_refused(self, tmp_path: Path,
                                                 runner: CliRunner) -> None:
        """The clean book is never written over the key file."""
        path = crypt15(tmp_path)
        key = key_file(tmp_path)
        book = tmp_path / "book.vcf"
        book.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nTEL:+491701234501\r\nEND:VCARD\r\n")
        result = runner.invoke(main, ["sanitize", str(book), "-e", str(path),
                                      "--backup-key-file", str(key), "-o", str(key)])
        assert result.exit_code != 0
        assert key.read_text() == ROOT_KEY.hex()


# -- a reference model of the rule --------------------------------------------------------------

KINDS = st.sampled_from([0, 1, 2, 7, 9, 15, 20, 99])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chats=st.lists(st.lists(st.tuples(st.booleans(), st.integers(0, 500), KINDS), max_size=8),
                      min_size=1, max_size=6),
       calls=st.lists(st.tuples(st.integers(0, 5), st.booleans(), st.integers(0, 500)),
                      max_size=4))
def test_reader_matches_a_message_by_message_model(tmp_path_factory: pytest.TempPathFactory,
                                                   chats: list, calls: list) -> None:  # type: ignore[type-arg]
    """The SQL aggregates give what walking each message by the allow-list would give."""
    path = tmp_path_factory.mktemp("model") / "msgstore.db"
    db = Msgstore(path)
    jids = []
    expected: dict[str, list] = {}  # type: ignore[type-arg]
    for index, messages in enumerate(chats):
        number = f"4917012346{index:02d}"
        jid = db.jid(number)
        jids.append((jid, number))
        chat = db.chat(jid)
        seen = expected.setdefault(number, [None, None, None])
        for from_me, minute, kind in messages:
            db.message(chat, from_me, at(minute), message_type=kind)
            if from_me and kind != 7:
                seen[1] = min(filter(None, [seen[1], at(minute)]))
            if not from_me and kind in (0, 1, 2, 9, 20):
                seen[0] = min(filter(None, [seen[0], at(minute)]))
                seen[2] = max(filter(None, [seen[2], at(minute)]))
    for index, from_me, minute in calls:
        if index < len(jids):
            db.call(jids[index][0], from_me, at(minute))
            if from_me:
                seen = expected[jids[index][1]]
                seen[1] = min(filter(None, [seen[1], at(minute)]))
    got = {r.phone.removeprefix("+"): [r.first_inbound_at, r.first_outbound_at, r.last_inbound_at]
           for r in read_android(str(db.close()))}
    assert got == {n: v for n, v in expected.items() if v[0] is not None or v[1] is not None}
    assert os.path.exists(path)
