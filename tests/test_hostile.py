"""Hostile and broken input: every case ends in a clear ContactguardError or a per-card
`unparseable` decision, never a traceback, a hang or memory that grows with the input.

Sizes are chosen so that the whole module runs in a few seconds; where the issue names a bigger
input (a 100 MB line, a 1 GB chat export) the test streams a generated input of that size or
measures that cost per byte stays flat, and says so in its docstring.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from contactguard import read_book
from contactguard.errors import ConfigError, ContactguardError, EvidenceError, InputError
from contactguard.evidence import chats, load_evidence
from contactguard.options import parse_max_age
from contactguard.timeparse import parse_timestamp

CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{fn}\r\nTEL:+4915123456701\r\nEND:VCARD\r\n"
LEDGER_HEADER = "phone,first_inbound_at,last_inbound_at\n"


def peak_rss_mb(code: str, *args: str) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter; return its peak RSS in MB and its stdout.

    VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would report the forking
    test process's own peak.
    """
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc (Linux)")
    script = textwrap.dedent(code) + textwrap.dedent("""
        import re
        with open("/proc/self/status") as status:
            peak = re.search(r"VmHWM:\\s+(\\d+) kB", status.read())
        print("RSS", int(peak.group(1)) / 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out, _, rss = done.stdout.rpartition("RSS ")
    return float(rss), out


class TestDates:
    def test_year_zero_in_a_ledger_is_a_clear_error(self, tmp_path: Path) -> None:
        """A ledger date in year 0 is an EvidenceError naming file and line."""
        path = tmp_path / "l.csv"
        path.write_text(LEDGER_HEADER + "+4915123456701,0000-01-01,\n")
        with pytest.raises(EvidenceError, match=r"l\.csv:2: .*year 0 is out of range"):
            load_evidence([path])

    @pytest.mark.parametrize("text", ["0001-01-01T00:00+01:00", "9999-12-31T23:59-01:00"],
                             ids=["before-year-1-in-utc", "after-9999-in-utc"])
    def test_dates_that_overflow_in_utc_are_a_value_error(self, text: str) -> None:
        """A date outside years 1..9999 once in UTC is a ValueError, not an OverflowError."""
        with pytest.raises(ValueError, match="out of the range of dates"):
            parse_timestamp(text)

    def test_overflowing_date_in_a_ledger_names_the_line(self, tmp_path: Path) -> None:
        """An overflowing ledger date becomes an EvidenceError with file and line."""
        path = tmp_path / "l.csv"
        path.write_text(LEDGER_HEADER + "+4915123456701,2026-01-01,\n"
                        "+4915123456702,0001-01-01T00:00+05:00,\n")
        with pytest.raises(EvidenceError, match=r"l\.csv:3: "):
            load_evidence([path])

    def test_far_future_dates_load_without_error(self, tmp_path: Path) -> None:
        """Dates in the far future are read as written (clock skew is not an error)."""
        path = tmp_path / "l.csv"
        path.write_text(LEDGER_HEADER + "+4915123456701,9999-12-31,9999-12-31T23:59:59Z\n")
        assert len(load_evidence([path])) == 1

    @pytest.mark.parametrize("age", ["inf", "1e12d", "-inf", "nan"])
    def test_absurd_max_age_is_a_config_error(self, age: str) -> None:
        """A maximum age no timedelta can hold is a ConfigError, not an OverflowError."""
        with pytest.raises(ConfigError, match="max age"):
            parse_max_age(age)


class _Repeat(io.RawIOBase):
    """A read-only stream of ``head``, then ``size`` bytes of ``fill``, then ``tail``: no disk."""

    def __init__(self, head: bytes, fill: bytes, size: int, tail: bytes) -> None:
        self._parts: Iterator[bytes] = iter(
            [head, *([fill * (1 << 20)] * (size >> 20)), fill * (size % (1 << 20)), tail])
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            self._pending = memoryview(next(self._parts, b""))
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]  # a memoryview: no copy of the rest
        return size


def card(fn: str = "Anna", extra: str = "") -> bytes:
    return ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:" + fn + "\r\n" + extra
            + "TEL:+4915123456701\r\nEND:VCARD\r\n").encode()


def errors_of(data: bytes | io.RawIOBase) -> list[str | None]:
    stream = io.BufferedReader(data) if isinstance(data, io.RawIOBase) else io.BytesIO(data)
    return [c.error for c in read_book(stream, name="book.vcf")]


class TestVcardLimits:
    def test_a_100_mb_line_inside_a_card_makes_only_that_card_unparseable(self) -> None:
        """A single 100 MB line (streamed, never on disk) breaks its card alone, in linear time."""
        stream = _Repeat(card("Ben") + b"BEGIN:VCARD\r\nFN:", b"A", 100 << 20,
                         b"\r\nTEL:+4915123456702\r\nEND:VCARD\r\n" + card("Cleo"))
        found = errors_of(stream)
        assert found[0] is None and found[2] is None
        assert found[1] is not None and "a line longer than 16,777,216 bytes" in found[1]

    def test_a_long_line_costs_linear_time(self) -> None:
        """A 64 MB line takes about 8x the time of an 8 MB one, not 64x (no quadratic split)."""
        import time

        def seconds(size: int) -> float:
            start = time.perf_counter()
            errors_of(_Repeat(b"BEGIN:VCARD\r\nNOTE:", b"x", size, b"\r\nEND:VCARD\r\n"))
            return time.perf_counter() - start

        small, large = seconds(8 << 20), seconds(64 << 20)
        assert large < 20 * max(small, 0.01)

    def test_memory_stays_flat_on_a_100_mb_line(self) -> None:
        """Peak memory while reading a 100 MB line stays far below the line's size."""
        rss, out = peak_rss_mb("""
            import io, sys
            sys.path.insert(0, sys.argv[1])
            from test_hostile import _Repeat, errors_of
            end = b"\\r\\nEND:VCARD\\r\\n"
            print(errors_of(_Repeat(b"BEGIN:VCARD\\r\\nFN:", b"A", 100 << 20, end)))
        """, str(Path(__file__).parent))
        assert "a line longer than" in out
        assert rss < 160, rss

    def test_a_card_with_100000_tel_lines_is_unparseable(self) -> None:
        """A card with 100,000 TEL lines is refused with the count; the next card still reads."""
        tels = "TEL:+4915123456701\r\n" * 100_000
        found = errors_of(card("Many", tels) + card("Ben"))
        assert found == ["100,001 TEL lines in one card (the limit is 100)", None]

    def test_100_tel_lines_are_still_a_card(self) -> None:
        """A card at the TEL limit is read normally."""
        tels = "".join(f"TEL:+49151234567{i:02d}\r\n" for i in range(99))
        (contact,) = read_book(io.BytesIO(card("Many", tels)), name="b.vcf")
        assert contact.error is None and len(contact.phones) == 100

    def test_a_folded_text_property_over_256_kib_is_unparseable(self) -> None:
        """A NOTE folded into 300 KB of continuation lines is refused before vobject sees it."""
        note = "NOTE:" + "\r\n ".join(["x" * 70] * 4500) + "\r\n"
        found = errors_of(card("Anna", note) + card("Ben"))
        assert found == ["a property longer than 262,144 characters", None]

    def test_a_long_unfolded_photo_is_fine(self) -> None:
        """A 2 MB base64 photo on one line is a binary payload: dropped, the card is kept."""
        photo = "PHOTO;ENCODING=b;TYPE=JPEG:" + "A" * (2 << 20) + "\r\n"
        assert errors_of(card("Anna", photo)) == [None]

    def test_a_card_larger_than_32_mb_is_unparseable(self) -> None:
        """A card of 40 MB of folded photo lines is refused, and memory is not held for it."""
        body = (b" " + b"A" * 73 + b"\r\n") * ((40 << 20) // 76)
        stream = _Repeat(b"BEGIN:VCARD\r\nFN:Big\r\nPHOTO;ENCODING=b:AAAA\r\n" + body, b"", 0,
                         b"TEL:+4915123456701\r\nEND:VCARD\r\n" + card("Ben"))
        assert errors_of(stream) == ["a card larger than 33,554,432 bytes", None]

    @pytest.mark.parametrize("data", [
        b"BEGIN:VCARD\r\nFN:A\x00nna\r\nTEL:+4915123456701\r\nEND:VCARD\r\n",
        b"BEGIN:VCARD\r\nFN:\xff\xfe\xc3\r\nTEL:+4915123456701\r\nEND:VCARD\r\n",
        "BEGIN:VCARD\r\nFN:Jürgen\r\n".encode()
        + "N:Jürgen;;;;\r\nTEL:+4915123456701\r\nEND:VCARD\r\n".encode("cp1252"),
        b"\xef\xbb\xbfBEGIN:VCARD\r\nFN;CHARSET=x-unknown:\xe4\r\nTEL:+4915123456701\r\nEND:VCARD\r\n",
        b"BEGIN:VCARD\r\nFN;ENCODING=QUOTED-PRINTABLE:=FF=FE=\r\n=00\r\nTEL:+4915123456701\r\nEND:VCARD",
        # found by atheris: a NUL inside a CHARSET name made bytes.decode raise ValueError
        b"BEGIN:VCARD\r\nNOTE;CHARSET=UT\x01\x00\x00\x00F-8;ENCODING=QUOTED-PRINTABLE:x=C3=A4\r\n"
        b"FN:Anna\r\nTEL:+4915123456701\r\nEND:VCARD\r\n",
    ], ids=["nul", "invalid-utf8", "mixed-utf8-cp1252", "unknown-charset", "qp-garbage",
            "nul-in-charset-name"])
    def test_bad_bytes_are_read_and_cleaned(self, data: bytes) -> None:
        """NUL bytes, invalid UTF-8 and mixed encodings read, and the written card holds no NUL."""
        from contactguard.books import write_book

        (contact,) = read_book(io.BytesIO(data), name="b.vcf")
        assert contact.error is None
        out = io.BytesIO()
        write_book([contact], out, "vcard3")
        assert b"\x00" not in out.getvalue()
        (back,) = read_book(io.BytesIO(out.getvalue()), name="out.vcf")
        assert back.error is None and back.phones == contact.phones

    @pytest.mark.parametrize(
        "data", [b"\x00" * 64, b"\xff\xfe" + b"\x00" * 63, b"\x89PNG\r\n\x1a\n" * 8],
        ids=["nul-only", "utf16-bom-nuls", "binary"])
    def test_a_binary_file_is_a_clear_input_error(self, data: bytes) -> None:
        """A file of NULs or binary data is an InputError, not a crash."""
        with pytest.raises(InputError):
            list(read_book(io.BytesIO(data), name="b.vcf"))


class TestCsvLimits:
    def test_10000_columns_are_read(self) -> None:
        """A CSV with 10,000 columns reads quickly; the phone column is still found."""
        header = ",".join(["Name", "Phone", *(f"c{i}" for i in range(10_000))])
        row = ",".join(["Anna", "+4915123456701", *(["x"] * 10_000)])
        contacts = list(read_book(io.BytesIO(f"{header}\n{row}\n".encode()), name="b.csv"))
        assert [c.phones[0].value for c in contacts] == ["+4915123456701"]

    def test_10000_columns_without_a_phone_column_name_a_few(self) -> None:
        """Without a phone column the error shows a dozen header names, not 10,000."""
        header = ",".join(f"c{i}" for i in range(10_000))
        with pytest.raises(InputError, match="--phone-column") as caught:
            list(read_book(io.BytesIO(f"{header}\nx\n".encode()), name="b.csv"))
        assert len(str(caught.value)) < 400

    def test_unterminated_quote_names_the_row(self) -> None:
        """A quote that is never closed is an InputError naming the line the row starts on."""
        data = b'Name,Phone\nAnna,+4915123456701\nBen,"+49151\nCleo,+4915123456703\n'
        with pytest.raises(InputError, match=r"b\.csv:3: .*unterminated quote"):
            list(read_book(io.BytesIO(data), name="b.csv"))

    def test_a_100_mb_line_is_refused_without_holding_it(self) -> None:
        """A 100 MB CSV line is an InputError and peak memory stays far below its size."""
        rss, out = peak_rss_mb("""
            import io, sys
            sys.path.insert(0, sys.argv[1])
            from test_hostile import _Repeat
            from contactguard import read_book
            from contactguard.errors import InputError
            head = b"Name,Phone\\nAnna,+4915123456701\\n"
            stream = io.BufferedReader(_Repeat(head, b"A", 100 << 20, b"\\n"))
            try:
                list(read_book(stream, name="b.csv"))
            except InputError as exc:
                print(exc)
        """, str(Path(__file__).parent))
        assert "b.csv:3: line longer than 16,777,216 characters" in out
        assert rss < 200, rss

    def test_nul_byte_is_a_clear_error(self) -> None:
        """A NUL byte in a UTF-8 CSV is an InputError naming the line."""
        with pytest.raises(InputError, match=r"b\.csv:2: contains a NUL byte"):
            list(read_book(io.BytesIO(b"Name,Phone\nAn\x00na,+4915123456701\n"), name="b.csv"))


def chat_zip(path: Path, name: str, text: str | bytes, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr(name, text)
    return path


CHAT = "12/31/20, 23:59 - +49 151 23456701: hi\n12/31/20, 23:59 - Shop: hello\n"


class TestChatExports:
    def test_a_zip_bomb_is_refused_without_extracting(self, tmp_path: Path) -> None:
        """A chat entry compressed over 100:1 is refused by its header; nothing lands on disk."""
        path = chat_zip(tmp_path / "bomb.zip", "WhatsApp Chat with Anna.txt",
                        CHAT + " " * (50 << 20))
        with pytest.raises(EvidenceError, match="likely zip bomb"):
            load_evidence([path], me="Shop")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]

    def test_an_entry_declared_over_2_gb_is_refused(self, tmp_path: Path) -> None:
        """A chat entry whose central directory says 3 GB is refused before a byte is inflated."""
        path = chat_zip(tmp_path / "big.zip", "WhatsApp Chat with Anna.txt", CHAT * 20_000)
        data = bytearray(path.read_bytes())
        central = data.rfind(b"PK\x01\x02")
        data[central + 24:central + 28] = (3 * 1024**3).to_bytes(4, "little")
        path.write_bytes(bytes(data))
        with pytest.raises(EvidenceError, match="refusing a chat over 2 GB"):
            chats.read_chat(path)

    def test_an_entry_lying_about_its_size_is_an_error(self, tmp_path: Path) -> None:
        """An entry that inflates past its declared size fails the CRC check: EvidenceError."""
        path = chat_zip(tmp_path / "lie.zip", "WhatsApp Chat with Anna.txt", CHAT * 1000)
        data = bytearray(path.read_bytes())
        size = len((CHAT * 1000).encode())
        small = (size // 2).to_bytes(4, "little")
        for offset in (22, data.rfind(b"PK\x01\x02") + 24):  # local header, central directory
            data[offset:offset + 4] = small
        path.write_bytes(bytes(data))
        with pytest.raises(ContactguardError):
            load_evidence([path], me="Shop")

    @pytest.mark.parametrize("name", ["../WhatsApp Chat with Anna.txt", "/etc/WhatsApp Chat.txt",
                                      "..\\..\\WhatsApp Chat with Anna.txt"],
                             ids=["dotdot", "absolute", "backslash-dotdot"])
    def test_entries_that_climb_out_are_never_read(self, tmp_path: Path, name: str) -> None:
        """A zip whose only chat entry climbs out of the archive is no evidence; nothing written."""
        path = chat_zip(tmp_path / "slip.zip", name, CHAT)
        with pytest.raises(EvidenceError, match=r"slip\.zip"):
            load_evidence([path], me="Shop")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["slip.zip"]

    def test_a_big_export_is_streamed_in_flat_memory(self, tmp_path: Path) -> None:
        """A 40 MB export (multi-line messages, one 8 MB line) reads in memory far below its size.

        Stands in for the 1 GB export of the issue: cost per byte is constant, so memory at 40 MB
        proves memory at 1 GB.
        """
        path = tmp_path / "WhatsApp Chat with Anna.txt"
        with path.open("w", encoding="utf-8") as out:
            out.write(CHAT)
            block = ("12/31/20, 23:59 - Shop: " + "long text\n" * 3000) * 10
            for _ in range(110):
                out.write(block)
            out.write("12/31/20, 23:59 - Shop: " + "y" * (8 << 20) + "\n")
        assert path.stat().st_size > 39 << 20
        rss, out_text = peak_rss_mb("""
            import sys
            from contactguard.evidence import load_evidence
            evidence = load_evidence([sys.argv[1]], me="Shop")
            print(len(evidence))
        """, str(path))
        assert out_text.strip() == "1"
        assert rss < 100, rss

    def test_invalid_utf8_in_a_chat_is_replaced(self, tmp_path: Path) -> None:
        """Invalid UTF-8 in a chat export is read with replacement characters, not a crash."""
        path = tmp_path / "WhatsApp Chat with Anna.txt"
        path.write_bytes(CHAT.encode() + b"12/31/20, 23:59 - Shop: \xff\xfe\x00\n")
        assert len(load_evidence([path], me="Shop")) == 1

    def test_year_zero_and_far_future_chat_dates(self, tmp_path: Path) -> None:
        """A chat line dated year 0000 is ignored with a note; one in 2099 reads as written."""
        from contactguard.evidence.chats import read_chat

        path = tmp_path / "WhatsApp Chat with Anna.txt"
        path.write_text("2099-12-31, 23:59 - +49 151 23456701: hi\n"
                        "0000-01-01, 10:00 - Shop: hello\n", encoding="utf-8")
        summary = read_chat(path)
        assert summary.first_at is not None and summary.first_at.year == 2099
        assert any("not a date" in p for p in summary.problems)


class TestJsonEvidence:
    def write(self, tmp_path: Path, name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    def test_deep_nesting_is_refused(self, tmp_path: Path) -> None:
        """JSON nested 100,000 deep is an EvidenceError (no RecursionError)."""
        path = self.write(tmp_path, "w.json", '{"object":"whatsapp_business_account","entry":['
                          + "[" * 100_000 + "]" * 100_000 + "]}")
        with pytest.raises(EvidenceError, match="nested deeper than 200"):
            load_evidence([path])

    def test_deep_nesting_in_a_jsonl_ledger_is_refused(self, tmp_path: Path) -> None:
        """A JSONL ledger line nested 100,000 deep is an EvidenceError (no RecursionError)."""
        path = self.write(tmp_path, "l.jsonl", '{"phone": "+4915123456701", "x": '
                          + "[" * 100_000 + "]" * 100_000 + "}\n")
        with pytest.raises(EvidenceError, match=r"l\.jsonl:1"):
            load_evidence([path])

    def test_millions_of_values_are_refused_before_parsing(self, tmp_path: Path) -> None:
        """A .json of 4 million tiny objects is refused by its value count, in flat memory."""
        path = self.write(tmp_path, "w.json", '{"object":"whatsapp_business_account","entry":['
                          + ",".join(["{}"] * 4_000_000) + "]}")
        rss, out = peak_rss_mb("""
            import sys
            from contactguard.evidence import load_evidence
            from contactguard.errors import EvidenceError
            try:
                load_evidence([sys.argv[1]])
            except EvidenceError as exc:
                print(exc)
        """, str(path))
        assert "JSON values in one document" in out
        assert rss < 120, rss

    def test_a_long_ledger_line_is_refused_without_holding_it(self, tmp_path: Path) -> None:
        """A 50 MB JSONL ledger line is refused with its line number; the message stays short."""
        path = self.write(tmp_path, "l.jsonl", '{"phone": "+4915123456701"}\n{"phone": "'
                          + "9" * (50 << 20) + '"}\n')
        with pytest.raises(EvidenceError, match=r"l\.jsonl:2: line longer than") as caught:
            load_evidence([path])
        assert len(str(caught.value)) < 200

    def test_a_huge_bad_value_is_quoted_short(self, tmp_path: Path) -> None:
        """A 500 KB date cell is named in the error, cut to a few dozen characters."""
        row = "+4915123456701," + "x" * 500_000 + ",\n"
        path = self.write(tmp_path, "l.csv", LEDGER_HEADER + row)
        with pytest.raises(EvidenceError) as caught:
            load_evidence([path])
        assert len(str(caught.value)) < 300

    def test_invalid_utf8_in_a_ledger_names_the_line(self, tmp_path: Path) -> None:
        """Invalid UTF-8 in a ledger is an EvidenceError naming the line."""
        path = tmp_path / "l.csv"
        path.write_bytes(LEDGER_HEADER.encode() + b"+4915123456701,2026-01-01,\n\xff\xfe,\n")
        with pytest.raises(EvidenceError, match=r"l\.csv:3: not UTF-8"):
            load_evidence([path])

    def test_a_nul_byte_in_a_ledger_is_an_error(self, tmp_path: Path) -> None:
        """A NUL byte in a ledger's phone cell is an EvidenceError, not a crash."""
        path = tmp_path / "l.csv"
        path.write_bytes(LEDGER_HEADER.encode() + b"+49151\x0023456701,2026-01-01,\n")
        with pytest.raises(EvidenceError, match=r"l\.csv:2"):
            load_evidence([path])

    def test_unix_timestamps_out_of_range_are_skipped(self, tmp_path: Path) -> None:
        """Webhook timestamps beyond year 9999, negative or NaN are skipped with a warning."""
        payload = {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
            "messages": [{"from": "4915123456701", "timestamp": t, "type": "text"}
                         for t in ("99999999999999", "-5", "NaN", "1e400", 10**30)]}}]}]}
        path = self.write(tmp_path, "w.json", json.dumps(payload))
        evidence = load_evidence([path])
        assert len(evidence) == 0
        assert any("without a valid unix timestamp" in w for w in evidence.warnings)
