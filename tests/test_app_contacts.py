"""`contactguard check --app-contacts`: the contacts the WhatsApp Business app holds on the phone,
from Coexistence smb_app_state_sync webhooks, Android's wa.db (also encrypted) and iOS's
ContactsV2.sqlite (also from a Finder backup)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phone_databases import crypt15_aes_key, encrypt_backup, finder_backup

from contactguard.cli import main
from contactguard.errors import EvidenceError
from contactguard.evidence.appcontacts import read_app_contacts
from contactguard.evidence.ios import BUSINESS_DOMAIN

BUSINESS = "4930123456"
ANNA, BERT, CARL = "491701234501", "491701234502", "491701234503"
T = 1_750_000_000
ROOT_KEY = bytes(range(32))


def sync(action: str, number: str, name: str, seconds: int) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "smb_app_state_sync", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": BUSINESS, "phone_number_id": "106540352242922"},
            "state_sync": [{"type": "contact", "action": action,
                            "contact": {"full_name": name, "first_name": name.split()[0],
                                        "phone_number": number},
                            "metadata": {"timestamp": str(T + seconds)}}],
        }}]}],
    }


def archive(tmp_path: Path, *events: dict[str, Any]) -> Path:
    path = tmp_path / "sync.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def ledger(tmp_path: Path, *numbers: str) -> Path:
    path = tmp_path / "ledger.csv"
    path.write_text("phone,first_inbound_at\n" + "".join(f"+{n},2025-01-01\n" for n in numbers))
    return path


def wa_db(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE wa_contacts (_id INTEGER PRIMARY KEY AUTOINCREMENT, jid TEXT NOT NULL, "
        "is_whatsapp_user BOOLEAN NOT NULL, status TEXT, status_timestamp INTEGER, number TEXT, "
        "raw_contact_id INTEGER, display_name TEXT, phone_type INTEGER, phone_label TEXT, "
        "given_name TEXT, family_name TEXT, wa_name TEXT, sort_name TEXT, nickname TEXT, "
        "company TEXT, title TEXT)"
    )
    rows = [
        (f"{ANNA}@s.whatsapp.net", 1, f"+{ANNA}", 11, "Anna Example"),
        (f"{CARL}@s.whatsapp.net", 1, f"+{CARL}", 12, "Carl Example"),
        ("491701234599-1600000000@g.us", 0, None, None, "A group"),
        (f"{BERT}@s.whatsapp.net", 1, None, None, None),  # known to WhatsApp, not saved
    ]
    db.executemany("INSERT INTO wa_contacts (jid, is_whatsapp_user, number, raw_contact_id, "
                   "display_name) VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    return path


def contacts_v2(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE ZWAADDRESSBOOKCONTACT (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, "
               "Z_OPT INTEGER, ZFULLNAME VARCHAR, ZGIVENNAME VARCHAR, ZPHONENUMBER VARCHAR, "
               "ZPHONENUMBERLABEL VARCHAR, ZWHATSAPPID VARCHAR, ZIDENTIFIER VARCHAR)")
    db.executemany("INSERT INTO ZWAADDRESSBOOKCONTACT (Z_PK, ZFULLNAME, ZPHONENUMBER, ZWHATSAPPID) "
                   "VALUES (?, ?, ?, ?)",
                   [(1, "Anna Example", "+49 170 1234501", f"{ANNA}@s.whatsapp.net"),
                    (2, "Carl Example", "+49 170 1234503", f"{CARL}@s.whatsapp.net")])
    db.commit()
    db.close()
    return path


class TestReaders:
    def test_state_sync_newest_action_wins(self, tmp_path: Path) -> None:
        """Additions, edits and removals: the newest action per number decides."""
        path = archive(tmp_path, sync("add", ANNA, "Anna Example", 0),
                       sync("add", BERT, "Bert Example", 1), sync("remove", BERT, "Bert", 5),
                       sync("add", CARL, "Carl", 2), sync("edit", CARL, "Carl Example", 9))
        contacts = read_app_contacts(str(path))
        assert sorted((c.fn, c.phones[0].value) for c in contacts) == [
            ("Anna Example", "+" + ANNA), ("Carl Example", "+" + CARL)]
        assert all(c.source == str(path) and c.line > 0 for c in contacts)

    def test_wa_db_saved_people_only(self, tmp_path: Path) -> None:
        """wa.db: saved 1:1 contacts; groups and unsaved WhatsApp users are skipped."""
        contacts = read_app_contacts(str(wa_db(tmp_path / "wa.db")))
        assert sorted(c.phones[0].value for c in contacts) == ["+" + ANNA, "+" + CARL]

    def test_encrypted_wa_db(self, tmp_path: Path) -> None:
        """wa.db.crypt15 opens with the backup key."""
        plain = wa_db(tmp_path / "wa.db")
        path = tmp_path / "wa.db.crypt15"
        path.write_bytes(encrypt_backup(plain.read_bytes(), crypt15_aes_key(ROOT_KEY)))
        key = tmp_path / "key.txt"
        key.write_text(ROOT_KEY.hex())
        assert len(read_app_contacts(str(path), key_file=str(key))) == 2

    def test_ios_contacts_from_a_backup_folder(self, tmp_path: Path) -> None:
        """ContactsV2.sqlite is found in a Finder backup's WhatsApp Business domain."""
        store = contacts_v2(tmp_path / "ContactsV2.sqlite")
        backup = finder_backup(tmp_path / "backup", None, domain=BUSINESS_DOMAIN)
        db = sqlite3.connect(backup / "Manifest.db")
        import hashlib

        file_id = hashlib.sha1(f"{BUSINESS_DOMAIN}-ContactsV2.sqlite".encode()).hexdigest()
        db.execute("INSERT INTO Files VALUES (?, ?, 'ContactsV2.sqlite', 1, NULL)",
                   (file_id, BUSINESS_DOMAIN))
        db.commit()
        db.close()
        (backup / file_id[:2]).mkdir()
        (backup / file_id[:2] / file_id).write_bytes(store.read_bytes())
        contacts = read_app_contacts(str(backup))
        assert sorted(c.phones[0].value for c in contacts) == ["+" + ANNA, "+" + CARL]

    def test_not_a_contact_list(self, tmp_path: Path) -> None:
        """A file that holds no app contacts is a clear error."""
        path = tmp_path / "other.db"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE notes (body TEXT)")
        db.commit()
        db.close()
        with pytest.raises(EvidenceError, match="not the app's contacts"):
            read_app_contacts(str(path))
        text = tmp_path / "hooks.jsonl"
        text.write_text(json.dumps({"object": "whatsapp_business_account", "entry": []}) + "\n")
        with pytest.raises(EvidenceError, match="no smb_app_state_sync contacts"):
            read_app_contacts(str(text))


class TestCheck:
    def test_offenders_on_the_phone_exit_3(self, tmp_path: Path, runner: CliRunner) -> None:
        """A contact the app holds without inbound-first evidence is reported, number masked."""
        path = archive(tmp_path, sync("add", ANNA, "Anna Example", 0),
                       sync("add", CARL, "Carl Example", 1))
        result = runner.invoke(main, ["check", "--app-contacts", str(path),
                                      "-e", str(ledger(tmp_path, ANNA))])
        assert result.exit_code == 3, result.output
        assert "Carl Example" in result.output and "Anna Example" not in result.output
        assert CARL not in result.output  # a removed person's number is masked

    def test_clean_phone_exit_0(self, tmp_path: Path, runner: CliRunner) -> None:
        """Every contact the app holds wrote first: clean, exit 0."""
        path = wa_db(tmp_path / "wa.db")
        result = runner.invoke(main, ["check", "--app-contacts", str(path),
                                      "-e", str(ledger(tmp_path, ANNA, CARL))])
        assert result.exit_code == 0, result.output
        assert "clean (2 contacts" in result.output

    def test_book_and_app_contacts_together(self, tmp_path: Path, runner: CliRunner) -> None:
        """A clean book does not hide an offender in the app's own list."""
        book = tmp_path / "book.vcf"
        book.write_text(f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna\r\nTEL:+{ANNA}\r\nEND:VCARD\r\n")
        path = archive(tmp_path, sync("add", CARL, "Carl Example", 1))
        result = runner.invoke(main, ["check", str(book), "--app-contacts", str(path), "--json",
                                      "-e", str(ledger(tmp_path, ANNA))])
        assert result.exit_code == 3
        report = json.loads(result.stdout)
        assert report["inputs"] == [str(book), str(path)]
        assert [f["name"] for f in report["findings"]] == ["Carl Example"]

    def test_nothing_to_check(self, runner: CliRunner, tmp_path: Path) -> None:
        """Neither a book nor --app-contacts: a usage error."""
        result = runner.invoke(main, ["check", "-e", str(ledger(tmp_path, ANNA))])
        assert result.exit_code == 2 and "nothing to check" in result.output

    def test_bad_source_exit_1(self, runner: CliRunner, tmp_path: Path) -> None:
        """An unreadable --app-contacts source: one line, exit 1."""
        bad = tmp_path / "x.txt"
        bad.write_text("hello")
        result = runner.invoke(main, ["check", "--app-contacts", str(bad),
                                      "-e", str(ledger(tmp_path, ANNA))])
        assert result.exit_code == 1 and "not a list of the app's contacts" in result.output


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(st.tuples(st.sampled_from(["add", "edit", "remove"]),
                                 st.sampled_from([ANNA, BERT, CARL]), st.integers(0, 50)),
                       min_size=1, max_size=15))
def test_state_sync_matches_a_replay(tmp_path_factory: Any,
                                     events: list[tuple[str, str, int]]) -> None:
    """The contacts held are those whose newest event (time, then file order) is not a removal."""
    folder = tmp_path_factory.mktemp("s")
    path = archive(folder, *(sync(a, n, "Some One", t) for a, n, t in events))
    newest: dict[str, tuple[int, int, str]] = {}
    for order, (action, number, when) in enumerate(events):
        if number not in newest or (when, order) > newest[number][:2]:
            newest[number] = (when, order, action)
    expected = sorted("+" + n for n, (_w, _o, a) in newest.items() if a != "remove")
    assert sorted(c.phones[0].value for c in read_app_contacts(str(path))) == expected
