"""End to end: a folder of chat exports and a webhook archive decide who stays in the book."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from contactguard import Reason, sanitize
from contactguard.cli import main

NNBSP = "\u202f"  # WhatsApp puts a narrow no-break space before AM/PM
LRM = "\u200e"  # iOS marks system lines and attachments with a left-to-right mark

ANDROID_CUSTOMER_FIRST = (
    f"3/14/26, 9:58{NNBSP}AM - Messages and calls are end-to-end encrypted. No one outside of this "
    "chat, not even WhatsApp, can read or listen to them. Tap to learn more.\n"
    f"3/14/26, 9:58{NNBSP}AM - Jonas Weber: Hi, do you repair e-bikes too?\n"
    f"3/14/26, 10:02{NNBSP}AM - Rad & Tat: Yes! Bring it in any weekday.\n"
    f"3/20/26, 4:15{NNBSP}PM - Jonas Weber: <Media omitted>\n"
    f"3/20/26, 4:16{NNBSP}PM - Jonas Weber: This is the noise\nit makes when braking\n"
)
ANDROID_BUSINESS_FIRST = (
    f"4/20/26, 11:00{NNBSP}AM - Rad & Tat: Hello Tom, your spare part has arrived.\n"
    f"4/20/26, 11:30{NNBSP}AM - Tom Becker: Great, thanks!\n"
)
IOS_PHONE_SENDER = (
    f"[14.03.26, 10:00:12] Rad & Tat: {LRM}Nachrichten und Anrufe sind "
    "Ende-zu-Ende-verschlüsselt.\r\n"
    f"[14.03.26, 10:00:12] {LRM}\u202a+49 170 1234567\u202c: "
    "Hallo, ist das Lastenrad noch zu haben?\r\n"
    "[14.03.26, 10:03:40] Rad & Tat: Ja, ist noch da.\r\n"
)
MARIA = (
    "05/05/2026, 08:00 - Maria Lopez: Hola, ¿tienen cascos?\n05/05/2026, 08:10 - Rad & Tat: Sí\n"
)
PETRA = (
    "06.05.26, 18:00 - Petra Klein: Hallo, wann habt ihr offen?\n"
    "06.05.26, 18:05 - Rad & Tat: 9-18 Uhr\n"
)
GROUP = (
    "07.05.26, 09:00 - Rad & Tat created group “Radtour”\n"
    "07.05.26, 09:01 - Rad & Tat: Willkommen!\n"
    "07.05.26, 09:02 - Ute Sommer: Danke!\n"
    "07.05.26, 09:03 - Jan Berg: Hallo zusammen\n"
)


def payload(value: dict) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "4930555000",
                                "phone_number_id": "77",
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


HOOKS = [
    # Anna wrote first through the Cloud API
    payload(
        {
            "contacts": [{"wa_id": "491701112233", "profile": {"name": "Anna"}}],
            "messages": [
                {
                    "from": "491701112233",
                    "id": "w1",
                    "timestamp": "1767229200",
                    "type": "text",
                    "text": {"body": "Hallo"},
                }
            ],
        }
    ),
    # Carl got a template first (status "sent"), then replied
    payload(
        {
            "statuses": [
                {
                    "id": "w2",
                    "recipient_id": "491709998877",
                    "status": "sent",
                    "timestamp": "1767200000",
                }
            ]
        }
    ),
    payload(
        {
            "messages": [
                {
                    "from": "491709998877",
                    "id": "w3",
                    "timestamp": "1767210000",
                    "type": "text",
                    "text": {"body": "Ok, danke"},
                }
            ]
        }
    ),
]

BOOK = """BEGIN:VCARD
VERSION:3.0
FN:Jonas Weber
N:Weber;Jonas;;;
TEL;TYPE=CELL:0151 20304050
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Tom Becker
N:Becker;Tom;;;
TEL;TYPE=CELL:0151 60708090
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Lastenrad Anfrage
TEL;TYPE=CELL:+49 170 1234567
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Anna Beispiel
TEL;TYPE=CELL:0170 1112233
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Carl Schulz
TEL;TYPE=CELL:0170 9998877
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Maria Lopez
TEL;TYPE=CELL:0152 11112222
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Maria Lopez
TEL;TYPE=CELL:0152 33334444
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Petra Klein
TEL;TYPE=CELL:0160 5556667
TEL;TYPE=WORK:030 5556667
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Ute Sommer
TEL;TYPE=CELL:0171 4445556
END:VCARD
"""


@pytest.fixture
def world(tmp_path: Path) -> Path:
    chats = tmp_path / "exports"
    chats.mkdir()
    (chats / "WhatsApp Chat with Jonas Weber.txt").write_text(
        ANDROID_CUSTOMER_FIRST, encoding="utf-8"
    )
    (chats / "WhatsApp Chat with Tom Becker.txt").write_text(
        ANDROID_BUSINESS_FIRST, encoding="utf-8"
    )
    with zipfile.ZipFile(chats / "WhatsApp Chat - +49 170 1234567.zip", "w") as archive:
        archive.writestr("_chat.txt", IOS_PHONE_SENDER.encode("utf-8"))
        archive.writestr(
            "00000003-PHOTO-2026-03-14-10-00-12.jpg", b"\xff\xd8\xff\xe0 not really a photo"
        )
    (chats / "WhatsApp Chat with Maria Lopez.txt").write_text(MARIA, encoding="utf-8")
    (chats / "WhatsApp Chat with Petra Klein.txt").write_text(PETRA, encoding="utf-8")
    (chats / "WhatsApp Chat with Radtour.txt").write_text(GROUP, encoding="utf-8")
    (tmp_path / "hooks.jsonl").write_text("".join(json.dumps(p) + "\n" for p in HOOKS))
    (tmp_path / "book.vcf").write_bytes(BOOK.replace("\n", "\r\n").encode())
    return tmp_path


class TestEndToEnd:
    def test_only_people_who_wrote_first_remain(self, world: Path) -> None:
        """Customers who wrote first stay; the business-first, ambiguous and unknown are removed."""
        result = sanitize(
            [world / "book.vcf"], evidence=[world / "exports", world / "hooks.jsonl"], region="DE"
        )
        assert [(c.fn, [p.value for p in c.phones]) for c in result.contacts] == [
            ("Jonas Weber", ["+4915120304050"]),
            ("Lastenrad Anfrage", ["+491701234567"]),
            ("Anna Beispiel", ["+491701112233"]),
        ]
        assert [(d.contact.fn, d.reason) for d in result.decisions if not d.kept] == [
            ("Tom Becker", Reason.BUSINESS_INITIATED),
            ("Carl Schulz", Reason.BUSINESS_INITIATED),
            ("Maria Lopez", Reason.AMBIGUOUS_NAME),
            ("Maria Lopez", Reason.AMBIGUOUS_NAME),
            ("Petra Klein", Reason.AMBIGUOUS_NUMBER),
            ("Ute Sommer", Reason.NO_EVIDENCE),
        ]

    def test_cli_with_ledger_import(self, world: Path, runner: CliRunner) -> None:
        """Importing the exports into a ledger and sanitizing from it gives the same clean book."""
        ledger = str(world / "ledger.sqlite")
        imported = runner.invoke(
            main,
            [
                "evidence",
                "import",
                str(world / "exports"),
                str(world / "hooks.jsonl"),
                "--ledger",
                ledger,
            ],
        )
        assert imported.exit_code == 0, imported.output
        assert "group chat skipped" in imported.stderr
        out = world / "clean.vcf"
        result = runner.invoke(
            main,
            [
                "sanitize",
                str(world / "book.vcf"),
                "--ledger",
                ledger,
                "--region",
                "DE",
                "-o",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        text = out.read_text()
        assert text.count("BEGIN:VCARD") == 3
        for kept in ("+4915120304050", "+491701234567", "+491701112233"):
            assert kept in text

    def test_business_side_must_be_known(self, world: Path, runner: CliRunner) -> None:
        """A single export cannot tell who the business is: the error says to pass --me."""
        one = world / "exports" / "WhatsApp Chat with Tom Becker.txt"
        result = runner.invoke(main, ["sanitize", str(world / "book.vcf"), "--evidence", str(one)])
        assert result.exit_code == 1
        assert "--me" in result.stderr
        named = runner.invoke(
            main,
            [
                "sanitize",
                str(world / "book.vcf"),
                "--evidence",
                str(one),
                "--me",
                "Rad & Tat",
                "--region",
                "DE",
                "-q",
            ],
        )
        assert named.exit_code == 0, named.output
        assert named.stdout == ""

    def test_inspect_needs_no_book(self, world: Path, runner: CliRunner) -> None:
        """`evidence inspect` shows platform, senders and the first writer of each export."""
        result = runner.invoke(main, ["evidence", "inspect", str(world / "exports")])
        assert result.exit_code == 0, result.output
        assert "first message by: Jonas Weber" in result.stdout
        assert "ios" in result.stdout and "group chat: yes" in result.stdout
