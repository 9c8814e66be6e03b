"""WhatsApp chat exports: parsing every locale and platform, and who wrote first."""

from __future__ import annotations

import dataclasses
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from contactguard.errors import EvidenceError
from contactguard.evidence import chats
from contactguard.evidence.chats import (
    ChatSummary,
    SenderStats,
    detect_me,
    read_chat,
    read_exports,
    records,
    sniff,
)
from contactguard.model import EvidenceEntry, EvidenceRecord

CHATS = Path(__file__).parent / "fixtures" / "chats"
NNBSP = "\u202f"


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


# (fixture locale, date order, Android clock, iOS clock, customer)
LOCALES = [
    ("en-us", "MDY", "12h", "12h", "Lena Park"),
    ("en-gb", "DMY", "24h", "24h", "Oliver Hughes"),
    ("de", "DMY", "24h", "24h", "Jonas Weber"),
    ("es", "DMY", "24h", "12h", "Lucía Gómez"),
    ("fr", "DMY", "24h", "24h", "Camille Martin"),
    ("pt-br", "DMY", "24h", "24h", "Ana Souza"),
    ("it", "DMY", "24h", "24h", "Giulia Rossi"),
    ("en-ca", "YMD", "12h", "12h", "Emma Tremblay"),
]
CASES = [
    pytest.param(
        platform,
        locale,
        order,
        clock_a if platform == "android" else clock_i,
        customer,
        id=f"{platform}-{locale}",
    )
    for locale, order, clock_a, clock_i, customer in LOCALES
    for platform in ("android", "ios")
]


def expected_summary(
    path: Path, platform: str, order: str, clock: str, customer: str
) -> ChatSummary:
    """The summary every locale fixture shares: the customer writes first, then the shop."""
    ios = platform == "ios"
    first = at(2024, 1, 31, 18, 45, 12 if ios else 0)
    return ChatSummary(
        source=str(path),
        platform=platform,
        date_order=order,
        clock=clock,
        messages=5,
        media_omitted=1,
        senders={
            customer: SenderStats(3, first, at(2024, 2, 1, 9, 11, 2 if ios else 0)),
            "Acme Bikes": SenderStats(
                2, at(2024, 1, 31, 18, 47, 3 if ios else 0), at(2024, 2, 1, 9, 30)
            ),
        },
        first_sender=customer,
        first_at=first,
        last_at=at(2024, 2, 1, 9, 30),
        is_group=False,
        capped=False,
        problems=(),
    )


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


class TestLocales:
    @pytest.mark.parametrize(("platform", "locale", "order", "clock", "customer"), CASES)
    def test_locale_and_platform(
        self, platform: str, locale: str, order: str, clock: str, customer: str
    ) -> None:
        """Each locale's export on each platform yields the same senders, times and first writer."""
        path = CHATS / f"{platform}-{locale}.txt"
        actual = read_chat(path)
        assert actual == expected_summary(path, platform, order, clock, customer)

    def test_narrow_no_break_space_before_pm(self) -> None:
        """U+202F before PM is read as a 12-hour clock: 6:45 PM is 18:45."""
        raw = (CHATS / "android-en-us.txt").read_bytes()
        assert f"6:45{NNBSP}PM".encode() in raw
        actual = read_chat(CHATS / "android-en-us.txt").first_at
        assert actual == at(2024, 1, 31, 18, 45)

    def test_time_with_trailing_dot_and_year_first(self) -> None:
        """'2024/03/14, 10:00. - ' (a dot after the time) is read as year-month-day."""
        summary = read_chat(CHATS / "android-yyyy-mm-dd-trailing-dot.txt")
        actual = (summary.date_order, summary.first_sender, summary.first_at)
        assert actual == ("YMD", "Kenji Mori", at(2024, 3, 14, 10, 0))

    def test_impossible_twelve_hour_time(self, tmp_path: Path) -> None:
        """'13:37 p.m.' is read as 13:37 with a problem note, not a crash."""
        path = write(
            tmp_path,
            "odd.txt",
            "[31/10/22 11:37:00 a.m.] Rui Costa: Olá\n[31/10/22 13:37:00 p.m.] Acme Bikes: Olá!\n",
        )
        summary = read_chat(path)
        actual = (summary.senders["Acme Bikes"].first_at, summary.problems)
        expected = (
            at(2022, 10, 31, 13, 37),
            ("line 2: 13:37 p.m. is not a 12-hour time; read as a 24-hour time",),
        )
        assert actual == expected


class TestMessages:
    def test_multiline_messages_and_system_lines(self) -> None:
        """Continuation lines (blank ones too) belong to their message; system lines have none."""
        path = CHATS / "android-multiline-system.txt"
        summary = read_chat(path)
        actual = (summary.messages, summary.senders, summary.first_sender, summary.is_group)
        expected = (
            4,
            {
                "Priya Shah": SenderStats(2, at(2024, 3, 5, 14, 2), at(2024, 3, 16, 10, 15)),
                "Acme Bikes": SenderStats(2, at(2024, 3, 5, 14, 5), at(2024, 3, 5, 14, 6)),
            },
            "Priya Shah",
            False,
        )
        assert actual == expected

    def test_placeholder_counts_for_who_wrote_first(self, tmp_path: Path) -> None:
        """A sender's '<Media omitted>' is a message by that sender, so it decides who was first."""
        path = write(
            tmp_path,
            "media-first.txt",
            "31/01/2024, 18:40 - Ana Souza: <Media omitted>\n"
            "31/01/2024, 18:41 - Acme Bikes: Hello!\n",
        )
        summary = read_chat(path)
        actual = (summary.first_sender, summary.media_omitted, summary.messages)
        assert actual == ("Ana Souza", 1, 2)

    def test_system_lines_never_count_as_first(self, tmp_path: Path) -> None:
        """Encryption notices and sender-less placeholders before a message do not decide."""
        path = write(
            tmp_path,
            "system-first.txt",
            "31/01/2024, 18:30 - Messages and calls are end-to-end encrypted. Tap to learn more.\n"
            "31/01/2024, 18:31 - You deleted this message\n"
            "31/01/2024, 18:32 - <Media omitted>\n"
            "31/01/2024, 18:40 - Acme Bikes: Hello, your bike is ready\n"
            "31/01/2024, 18:41 - Ana Souza: Thanks!\n",
        )
        summary = read_chat(path)
        actual = (summary.first_sender, summary.messages, list(summary.senders))
        assert actual == ("Acme Bikes", 2, ["Acme Bikes", "Ana Souza"])

    def test_long_line_without_newline(self, tmp_path: Path) -> None:
        """A 1 MB physical line is read in pieces and stays one message."""
        path = write(
            tmp_path,
            "long.txt",
            "31/01/2024, 18:40 - Ana Souza: " + "x" * 1_000_000 + "\n"
            "31/01/2024, 18:41 - Acme Bikes: ok\n",
        )
        actual = read_chat(path).messages
        assert actual == 2

    def test_not_a_chat(self, tmp_path: Path) -> None:
        """A text without any dated line is an EvidenceError naming the file."""
        path = write(tmp_path, "notes.txt", "shopping list\nmilk\n")
        with pytest.raises(EvidenceError) as info:
            read_chat(path)
        assert info.value.file == str(path)


class TestZip:
    def test_android_zip(self, tmp_path: Path) -> None:
        """An Android zip ('WhatsApp Chat with NAME.txt' beside media) reads like its .txt."""
        text = (CHATS / "android-en-us.txt").read_bytes()
        path = make_zip(
            tmp_path / "WhatsApp Chat with Lena Park.zip",
            {"WhatsApp Chat with Lena Park.txt": text, "IMG-20240201-WA0001.jpg": b"\xff\xd8"},
        )
        expected = expected_summary(path, "android", "MDY", "12h", "Lena Park")
        assert read_chat(path) == expected

    def test_ios_zip(self, tmp_path: Path) -> None:
        """An iOS zip ('_chat.txt' beside media) reads like its .txt."""
        text = (CHATS / "ios-de.txt").read_bytes()
        path = make_zip(
            tmp_path / "WhatsApp Chat - Jonas Weber.zip",
            {"_chat.txt": text, "00000004-PHOTO-2024-02-01-09-10-40.jpg": b"\xff\xd8"},
        )
        expected = expected_summary(path, "ios", "DMY", "24h", "Jonas Weber")
        assert read_chat(path) == expected

    def test_zips_are_sniffed(self, tmp_path: Path) -> None:
        """A zip holding a chat is a chat export; a zip without one is not."""
        chat = make_zip(tmp_path / "a.zip", {"_chat.txt": (CHATS / "ios-it.txt").read_bytes()})
        other = make_zip(tmp_path / "b.zip", {"photo.jpg": b"\xff\xd8"})
        actual = [sniff(p, p.read_bytes()[:8192]) for p in (chat, other)]
        assert actual == [True, False]

    def test_entry_climbing_out_is_ignored(self, tmp_path: Path) -> None:
        """An entry named '../…' is never read, even if it looks like a chat."""
        text = (CHATS / "android-en-gb.txt").read_bytes()
        path = make_zip(tmp_path / "evil.zip", {"../WhatsApp Chat with Eve.txt": text})
        with pytest.raises(EvidenceError, match=r"no chat \.txt inside this zip"):
            read_chat(path)

    def test_entry_climbing_out_beside_a_chat(self, tmp_path: Path) -> None:
        """With a '../' entry beside the real chat, the real chat is read."""
        text = (CHATS / "android-en-gb.txt").read_bytes()
        path = make_zip(tmp_path / "mixed.zip", {"../_chat.txt": b"x", "_chat.txt": text})
        actual = read_chat(path).first_sender
        assert actual == "Oliver Hughes"

    def test_zip_bomb_is_refused(self, tmp_path: Path) -> None:
        """A chat entry compressed more than 100:1 is refused before it is read."""
        line = b"31/01/2024, 18:40 - Ana Souza: hello\n"
        path = make_zip(tmp_path / "bomb.zip", {"_chat.txt": line * 100_000})
        with pytest.raises(EvidenceError, match="zip bomb"):
            read_chat(path)

    def test_oversized_entry_is_refused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A chat entry over the size limit (2 GB, lowered here) is refused."""
        monkeypatch.setattr(chats, "_MAX_CHAT_BYTES", 100)
        path = make_zip(tmp_path / "big.zip", {"_chat.txt": (CHATS / "ios-it.txt").read_bytes()})
        with pytest.raises(EvidenceError, match="refusing a chat over 2 GB"):
            read_chat(path)


class TestDateOrder:
    def test_ambiguous_order_is_an_error(self) -> None:
        """No day above 12 and both orders chronological: an error naming the file."""
        path = CHATS / "android-ambiguous-date-order.txt"
        with pytest.raises(EvidenceError, match="pass --date-order DMY\\|MDY\\|YMD") as info:
            read_chat(path)
        assert info.value.file == str(path)

    def test_override(self) -> None:
        """--date-order DMY reads 01/02/24 as the 1st of February."""
        summary = read_chat(CHATS / "android-ambiguous-date-order.txt", date_order="DMY")
        actual = (summary.date_order, summary.first_at, summary.last_at)
        assert actual == ("DMY", at(2024, 2, 1, 10, 0), at(2024, 6, 5, 12, 0))

    def test_detection_comes_before_the_option(self) -> None:
        """--date-order MDY on a file with 31/01 is not used: the dates prove DMY, and a note
        says the option was not used for this file."""
        path = CHATS / "android-en-gb.txt"
        summary = read_chat(path, date_order="MDY")
        assert summary.date_order == "DMY"
        assert any("--date-order MDY not used" in p for p in summary.problems)

    def test_message_order_decides(self, tmp_path: Path) -> None:
        """With no day above 12, the one order whose dates never go back is taken, with a note."""
        path = write(
            tmp_path,
            "chrono.txt",
            "02/01/24, 10:00 - Maya Stein: Hi\n"
            "03/01/24, 10:00 - Acme Bikes: Hello\n"
            "01/02/24, 10:00 - Maya Stein: Back again\n",
        )
        summary = read_chat(path)
        actual = (summary.date_order, summary.last_at, len(summary.problems))
        assert actual == ("DMY", at(2024, 2, 1, 10, 0), 1)

    def test_day_equals_month_needs_no_order(self, tmp_path: Path) -> None:
        """When every date has day == month, both orders read the same dates: no error."""
        path = write(tmp_path, "same.txt", "1/1/24, 10:00 - A: Hi\n2/2/24, 10:00 - B: Hello\n")
        actual = read_chat(path).last_at
        assert actual == at(2024, 2, 2, 10, 0)


class TestRecords:
    def test_customer_wrote_first(self) -> None:
        """The customer's first message is first_inbound_at and no outbound time is set."""
        path = CHATS / "android-en-gb.txt"
        actual = list(records(read_chat(path), "Acme Bikes"))
        expected = [
            EvidenceRecord(
                source=str(path),
                name="Oliver Hughes",
                first_inbound_at=at(2024, 1, 31, 18, 45),
                last_inbound_at=at(2024, 2, 1, 9, 11),
            )
        ]
        assert actual == expected

    def test_business_wrote_first(self) -> None:
        """A customer replying in the same minute to a business-first message did not initiate."""
        path = CHATS / "android-business-first.txt"
        (actual,) = records(read_chat(path), "Acme Bikes")
        expected = EvidenceRecord(
            source=str(path),
            name="Tom Becker",
            first_inbound_at=at(2024, 3, 14, 10, 0),
            first_outbound_at=at(2024, 3, 14, 10, 0),
            last_inbound_at=at(2024, 3, 15, 17, 42),
        )
        assert (actual, EvidenceEntry.from_record(actual).initiated) == (expected, False)

    def test_phone_number_sender_android(self) -> None:
        """A sender shown as '\u202a+49 170 1234567\u202c' is evidence for +491701234567."""
        path = CHATS / "android-phone-sender.txt"
        actual = list(records(read_chat(path), "Acme Bikes"))
        expected = [
            EvidenceRecord(
                source=str(path),
                phone="+491701234567",
                first_inbound_at=at(2024, 3, 14, 10, 0),
                last_inbound_at=at(2024, 3, 15, 8, 30),
            )
        ]
        assert actual == expected

    def test_phone_number_sender_ios(self) -> None:
        """An iOS sender shown as a number (after U+200E) is evidence for that number."""
        path = CHATS / "ios-phone-sender.txt"
        (actual,) = records(read_chat(path), "Acme Bikes")
        assert (actual.phone, actual.first_inbound_at) == (
            "+447700900123",
            at(2024, 3, 14, 10, 0, 5),
        )

    def test_me_is_matched_ignoring_case(self) -> None:
        """--me 'acme bikes' finds the sender 'Acme Bikes'."""
        (actual,) = records(read_chat(CHATS / "ios-fr.txt"), "acme bikes")
        assert actual.name == "Camille Martin"

    def test_unknown_me_says_to_pass_me(self) -> None:
        """A --me that is not a sender of the chat is an error that says to pass --me."""
        path = CHATS / "ios-fr.txt"
        with pytest.raises(EvidenceError, match="pass --me") as info:
            list(records(read_chat(path), "Velo Shop"))
        assert info.value.file == str(path)

    @pytest.mark.parametrize("name", ["android-group.txt", "ios-group.txt"])
    def test_group_yields_nothing(self, name: str) -> None:
        """A group chat (created-group line, even with two senders) is not evidence."""
        summary = read_chat(CHATS / name)
        actual = (summary.is_group, len(summary.senders), list(records(summary, "Acme Bikes")))
        assert actual == (True, 2, [])

    def test_many_senders_is_a_group(self, tmp_path: Path) -> None:
        """Three senders without any group event make a group."""
        path = write(
            tmp_path,
            "three.txt",
            "31/01/2024, 10:00 - A: hi\n31/01/2024, 10:01 - B: hi\n31/01/2024, 10:02 - C: hi\n",
        )
        actual = read_chat(path).is_group
        assert actual is True

    def test_capped_export_yields_nothing(self, tmp_path: Path) -> None:
        """An export of 40,000 messages is at WhatsApp's cap: no records, and a problem says why."""
        path = tmp_path / "capped.txt"
        with path.open("w", encoding="utf-8") as out:
            out.write("31/01/2024, 09:00 - Maya Stein: Hi\n")
            out.writelines(
                f"{1 + i % 28:02}/02/2024, 10:{i % 60:02} - Acme Bikes: reply {i}\n"
                for i in range(39_999)
            )
        summary = read_chat(path)
        actual = (summary.capped, summary.messages, list(records(summary, "Acme Bikes")))
        assert actual == (True, 40_000, [])
        assert any("export cap" in problem for problem in summary.problems)

    def test_capped_with_media(self, tmp_path: Path) -> None:
        """An export with attached media is capped at 10,000 messages."""
        line = "31/01/2024, 10:00 - Maya Stein: hi\n"
        text = "31/01/2024, 09:59 - Maya Stein: IMG-20240131-WA0001.jpg (file attached)\n"
        path = write(tmp_path, "media.txt", text + line * 9_999)
        actual = read_chat(path).capped
        assert actual is True


class TestDetectMe:
    def test_the_sender_in_every_chat(self) -> None:
        """The shop is the one sender common to all one-to-one exports; groups are ignored."""
        names = ["android-en-gb.txt", "ios-de.txt", "android-fr.txt", "android-group.txt"]
        actual = detect_me([read_chat(CHATS / name) for name in names])
        assert actual == "Acme Bikes"

    def test_one_chat_is_not_enough(self) -> None:
        """With one export both senders are common, so nobody is detected."""
        actual = detect_me([read_chat(CHATS / "android-en-gb.txt")])
        assert actual is None

    def test_nobody_in_common(self, tmp_path: Path) -> None:
        """When no sender is in every export, nobody is detected."""
        other = write(
            tmp_path, "other.txt", "31/01/2024, 10:00 - A: hi\n31/01/2024, 10:01 - B: yo\n"
        )
        actual = detect_me([read_chat(CHATS / "android-en-gb.txt"), read_chat(other)])
        assert actual is None


class TestSniff:
    @pytest.mark.parametrize("name", sorted(p.name for p in CHATS.glob("*.txt")))
    def test_fixtures_are_chats(self, name: str) -> None:
        """Every chat fixture is recognised from its first bytes."""
        path = CHATS / name
        assert sniff(path, path.read_bytes()[:8192]) is True

    @pytest.mark.parametrize(
        "head",
        [b"", b"phone,first_inbound_at\n+491701234567,2026-03-01\n", b'{"object": "whatsapp"}\n'],
        ids=["empty", "csv-ledger", "json"],
    )
    def test_other_files_are_not(self, head: bytes, tmp_path: Path) -> None:
        """Ledgers, JSON and empty files are not chat exports."""
        assert sniff(tmp_path / "x", head) is False


def test_summary_is_frozen() -> None:
    """A summary cannot be changed after reading."""
    summary = read_chat(CHATS / "android-it.txt")
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.messages = 0  # type: ignore[misc]


class TestReadExports:
    def test_dotted_short_dates_are_day_first(self, tmp_path: Path) -> None:
        """A chat whose dotted dates never show a day above 12 is read day-first, with a note."""
        path = tmp_path / "chat.txt"
        path.write_text(
            "06.05.26, 18:00 - Petra Klein: Hallo\n06.05.26, 18:05 - Laden: Hi\n", encoding="utf-8"
        )
        summary = read_chat(path)
        assert (summary.date_order, summary.first_at) == (
            "DMY",
            datetime(2026, 5, 6, 18, 0, tzinfo=timezone.utc),
        )
        assert any("dotted" in p for p in summary.problems)

    def test_unanswered_customer_chat_counts_when_me_is_confirmed(self, tmp_path: Path) -> None:
        """An unanswered customer wrote first, once --me is seen in another export."""
        (tmp_path / "a.txt").write_text("13.05.26, 09:00 - Ina Roth: Hallo?\n", encoding="utf-8")
        (tmp_path / "b.txt").write_text(
            "13.05.26, 10:00 - Kai Lenz: Hi\n13.05.26, 10:01 - Laden: Hallo\n", encoding="utf-8"
        )
        records = list(read_exports([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], me="Laden"))
        assert [(r.name, r.first_outbound_at is None) for r in records] == [
            ("Ina Roth", True),
            ("Kai Lenz", True),
        ]

    def test_misspelt_me_is_an_error(self, tmp_path: Path) -> None:
        """A --me that no export shows is an error naming --me, not evidence for the business."""
        (tmp_path / "a.txt").write_text("13.05.26, 09:00 - Ina Roth: Hallo?\n", encoding="utf-8")
        with pytest.raises(EvidenceError, match="--me"):
            list(read_exports([str(tmp_path / "a.txt")], me="Ladn"))
