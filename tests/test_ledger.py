from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import pytest

from contactguard.errors import EvidenceError
from contactguard.evidence import ledger
from contactguard.model import EvidenceRecord
from contactguard.timeparse import parse_timestamp

FIXTURES = Path(__file__).parent / "fixtures" / "evidence"
UTC = timezone.utc

Reader = Callable[[IO[bytes], str], Iterator[EvidenceRecord]]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class EvidenceReaderContract:
    """Generic expectations every evidence stream reader meets (subclass and fill in)."""

    READ: Reader
    ONE_RECORD: bytes  # one record for +491701234567, inbound first at 2026-03-01T08:15Z
    TWO_RECORDS: bytes  # two records on different lines
    GARBAGE: bytes  # something this reader must refuse

    def read(self, data: bytes, source: str = "ledger") -> list[EvidenceRecord]:
        return list(type(self).READ(io.BytesIO(data), source))

    def test_one_record(self) -> None:
        """A single record carries its number and its first inbound time in UTC."""
        (record,) = self.read(self.ONE_RECORD)
        assert (record.phone, record.first_inbound_at) == ("+491701234567", utc(2026, 3, 1, 8, 15))

    def test_provenance_on_every_record(self) -> None:
        """Every record names its source and line, in input order."""
        records = self.read(self.TWO_RECORDS, "in/ledger")
        lines = [int(r.source.rsplit(":", 1)[1]) for r in records]
        assert [r.source.rsplit(":", 1)[0] for r in records] == ["in/ledger", "in/ledger"]
        assert lines == sorted(lines)

    def test_empty_input_yields_nothing(self) -> None:
        """An empty source holds no statements; that is not an error."""
        assert self.read(b"") == []

    def test_utf8_bom(self) -> None:
        """A UTF-8 byte-order mark changes nothing."""
        assert self.read(b"\xef\xbb\xbf" + self.ONE_RECORD) == self.read(self.ONE_RECORD)

    def test_crlf_and_lf_read_alike(self) -> None:
        """CRLF and LF line endings give the same records."""
        lf = self.TWO_RECORDS.replace(b"\r\n", b"\n")
        assert self.read(lf.replace(b"\n", b"\r\n")) == self.read(lf)

    def test_text_stream_reads_like_bytes(self) -> None:
        """A text stream gives the same records as the bytes it holds."""
        text = io.StringIO(self.TWO_RECORDS.decode("utf-8"), newline="")
        assert list(type(self).READ(text, "ledger")) == self.read(self.TWO_RECORDS)

    def test_garbage_is_a_clear_error(self) -> None:
        """Input this reader cannot use is an EvidenceError naming the source."""
        with pytest.raises(EvidenceError, match=r"^ledger"):
            self.read(self.GARBAGE)

    def test_not_utf8_names_the_line(self) -> None:
        """Bytes that are not UTF-8 are an EvidenceError naming the line."""
        bad = self.TWO_RECORDS.rstrip(b"\r\n") + b"\n\xff\xfe\n"
        lines = bad.count(b"\n")
        with pytest.raises(EvidenceError, match=f"^ledger:{lines}: not UTF-8"):
            self.read(bad)


class TestCsvContract(EvidenceReaderContract):
    READ = staticmethod(ledger.read_csv)
    ONE_RECORD = b"phone,first_inbound_at\n+491701234567,2026-03-01T09:15+01:00\n"
    TWO_RECORDS = b"phone,first_inbound_at\r\n+491701234567,2026-03-01\r\n+4916012345678,\r\n"
    GARBAGE = b"\x00\x01binary\x02\n"


class TestJsonlContract(EvidenceReaderContract):
    READ = staticmethod(ledger.read_jsonl)
    ONE_RECORD = b'{"phone": "+491701234567", "first_inbound_at": "2026-03-01T08:15:00Z"}\n'
    TWO_RECORDS = b'{"phone": "+491701234567"}\r\n{"phone": "+4916012345678"}\r\n'
    GARBAGE = b"phone,first_inbound_at\n"


class TestSniffingReader(EvidenceReaderContract):
    READ = staticmethod(ledger.records)
    ONE_RECORD = TestJsonlContract.ONE_RECORD
    TWO_RECORDS = TestCsvContract.TWO_RECORDS
    GARBAGE = b"phone,first_inbound_at\n+49,2026-03-01\n"


def read_file(name: str) -> list[EvidenceRecord]:
    with (FIXTURES / name).open("rb") as stream:
        return list(ledger.records(stream, name))


class TestCsv:
    def test_fixture(self) -> None:
        """A comma ledger with all columns and an extra one is read row by row."""
        assert read_file("ledger.csv") == [
            EvidenceRecord(
                source="ledger.csv:2",
                phone="+491701234567",
                first_inbound_at=utc(2026, 3, 1, 8, 15),
                first_outbound_at=utc(2026, 3, 1, 8, 20),
                last_inbound_at=utc(2026, 3, 5),
            ),
            EvidenceRecord(
                source="ledger.csv:3", phone="+5215541637145", first_inbound_at=utc(2026, 2, 10)
            ),
            EvidenceRecord(
                source="ledger.csv:4",
                phone="+4915112345678",
                first_inbound_at=utc(2026, 3, 2),
                first_outbound_at=utc(2026, 3, 1),
            ),
        ]

    def test_excel_semicolon_bom_crlf(self) -> None:
        """Excel's ';' CSV with BOM, CRLF, capitalised headers and a multi-line cell is read."""
        records = read_file("excel-de-semicolon-bom.csv")
        assert [(r.source, r.phone, r.opted_out_at) for r in records] == [
            ("excel-de-semicolon-bom.csv:2", "+491701234567", None),
            ("excel-de-semicolon-bom.csv:3", "+4915112345678", utc(2026, 2, 1)),
            ("excel-de-semicolon-bom.csv:5", "+4916012345678", None),
        ]

    def test_header_only(self) -> None:
        """A ledger with a header and no rows yields nothing."""
        assert read_file("header-only.csv") == []

    def test_blank_lines_are_skipped_and_counted(self) -> None:
        """Blank lines are skipped, and line numbers still match the file."""
        data = b"\nphone,first_inbound_at\n\n+491701234567,2026-03-01\n"
        (record,) = ledger.read_csv(io.BytesIO(data), "l.csv")
        assert record.source == "l.csv:4"

    def test_name_and_user_id_columns(self) -> None:
        """A row without a phone may carry a display name or a user id instead."""
        data = b"phone,first_inbound_at,name,user_id\n,2026-01-02,Anna,\n,2026-01-03,,US.1234\n"
        records = list(ledger.read_csv(io.BytesIO(data), "l.csv"))
        assert [(r.phone, r.name, r.user_id) for r in records] == [
            (None, "Anna", None),
            (None, None, "US.1234"),
        ]


class TestJsonl:
    def test_fixture(self) -> None:
        """JSONL lines become records; numbers, nulls, names and user ids are understood."""
        assert read_file("ledger.jsonl") == [
            EvidenceRecord(
                source="ledger.jsonl:1",
                phone="+491701234567",
                first_inbound_at=utc(2026, 3, 1, 8, 15),
            ),
            EvidenceRecord(
                source="ledger.jsonl:3", phone="+5215541637145", first_inbound_at=utc(2026, 2, 10)
            ),
            EvidenceRecord(
                source="ledger.jsonl:4", name="Anna Beispiel", first_inbound_at=utc(2026, 1, 2)
            ),
            EvidenceRecord(
                source="ledger.jsonl:5",
                user_id="US.13491208655302741918",
                first_inbound_at=utc(2026, 1, 3),
            ),
        ]


class TestErrors:
    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (
                b"number,first_inbound_at\n+491701234567,2026-03-01\n",
                "l.csv:1: the header has no phone column",
            ),
            (b"phone;opted_out_at\n", "l.csv:1: the header has no first_inbound_at column"),
            (
                b"phone,first_inbound_at\n+491701234567,2026-03-01\n,2026-03-01\n",
                "l.csv:3: no phone number",
            ),
            (
                b"phone,first_inbound_at\n<WHATSAPP_USER_PHONE_NUMBER>,2026-03-01\n",
                "l.csv:2: phone '<WHATSAPP_USER_PHONE_NUMBER>' is not a +E.164 number",
            ),
            (
                b"phone,first_inbound_at\n01701234567,2026-03-01\n",
                "l.csv:2: phone '01701234567' is not a +E.164 number",
            ),
            (
                b"phone,first_inbound_at\n+491701234567,01.03.2026\n",
                "l.csv:2: first_inbound_at: '01.03.2026' is not an ISO 8601",
            ),
            (
                b"phone,first_inbound_at,opted_out_at\n+491701234567,2026-03-01,2026-02-30\n",
                "l.csv:2: opted_out_at: '2026-02-30' is not a real date",
            ),
            (
                b'phone,first_inbound_at\n"+491701234567\x00,2026-03-01\n',
                "l.csv:2: ",
            ),
            (b'{"phone": "+491701234567"}\n{"phone": \n', "l.csv:2: not valid JSON"),
            (b'{"phone": "+491701234567"}\n\n["+49"]\n', "l.csv:3: expected a JSON object"),
            (b'{"first_inbound_at": "2026-03-01"}\n', "l.csv:1: no phone number"),
            (
                b'{"phone": "+491701234567", "first_inbound_at": 1772352000}\n',
                "l.csv:1: first_inbound_at must be a string, not 1772352000",
            ),
            (b'{"phone": true}\n', "l.csv:1: phone must be a string, not true"),
        ],
        ids=[
            "no-phone-header",
            "no-first-inbound-header",
            "empty-phone",
            "placeholder-phone",
            "national-phone",
            "german-date",
            "impossible-date",
            "nul-byte",
            "jsonl-bad-json",
            "jsonl-not-object",
            "jsonl-no-phone",
            "jsonl-epoch-time",
            "jsonl-bool-phone",
        ],
    )
    def test_bad_input_names_file_and_line(self, data: bytes, message: str) -> None:
        """Every bad ledger row is an EvidenceError that names file:line and what is wrong."""
        with pytest.raises(EvidenceError) as caught:
            list(ledger.records(io.BytesIO(data), "l.csv"))
        assert str(caught.value).startswith(message)


class TestSniff:
    @pytest.mark.parametrize(
        ("location", "head", "expected"),
        [
            ("x.txt", b"\xef\xbb\xbfPhone;First_Inbound_At\r\n", True),
            ("ledger.csv", b"number,when\n", True),
            ("ledger.csv", b"", True),
            ("chat.txt", b"31.12.20, 23:59 - Anna: Hallo\n", False),
            ("x.jsonl", b'{"phone": "+491701234567"}\n', False),
            ("l.db", b"SQLite format 3\x00\x10\x00\x01\x01\x00@  \x00\x00\x00\x02\r,;\n", False),
        ],
        ids=["header", "csv-suffix", "empty-csv", "chat-export", "jsonl", "binary-with-cr"],
    )
    def test_csv(self, location: str, head: bytes, expected: bool) -> None:
        """A CSV ledger is recognised by its phone column or its .csv name."""
        assert ledger.sniff_csv(location, head) == expected

    @pytest.mark.parametrize(
        ("location", "head", "expected"),
        [
            ("x.jsonl", b'{"phone": "+491701234567", "first_inbound_at": "2026-03-01"}\n', True),
            ("x.log", b'{"first_inbound_at": "2026", "phone": "+4917' + b"0" * 20, True),
            ("x.jsonl", b'{"object": "whatsapp_business_account", "entry": []}\n', False),
            ("x.jsonl", b"", True),
            ("x.json", b"", False),
            ("x.csv", b"phone,first_inbound_at\n", False),
        ],
        ids=["ledger", "cut-short", "webhook", "empty-jsonl", "empty-json", "csv"],
    )
    def test_jsonl(self, location: str, head: bytes, expected: bool) -> None:
        """A JSONL ledger is an object per line with a phone key and no webhook keys."""
        assert ledger.sniff_jsonl(location, head) == expected


class TestTimestamps:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-03-01", utc(2026, 3, 1)),
            ("2026-03-01T09:15", utc(2026, 3, 1, 9, 15)),
            ("2026-03-01 09:15:30", utc(2026, 3, 1, 9, 15, 30)),
            ("2026-03-01T09:15:00Z", utc(2026, 3, 1, 9, 15)),
            ("2026-03-01t09:15:00z", utc(2026, 3, 1, 9, 15)),
            ("2026-03-01 09:15:00+01:00", utc(2026, 3, 1, 8, 15)),
            ("2026-03-01T09:15:00-0230", utc(2026, 3, 1, 11, 45)),
            ("2026-03-01T00:30+01", utc(2026, 2, 28, 23, 30)),
            ("2026-03-01T09:15:00.123456789Z", utc(2026, 3, 1, 9, 15, 0, 123456)),
        ],
        ids=["date", "naive-minutes", "naive-space", "z", "lowercase", "offset", "neg", "hh", "ns"],
    )
    def test_parsed_to_utc(self, text: str, expected: datetime) -> None:
        """ISO 8601 dates and date-times become aware UTC; naive means UTC, a date midnight."""
        actual = parse_timestamp(text)
        assert (actual, actual.tzinfo) == (expected, UTC)

    @pytest.mark.parametrize(
        "text", ["01.03.2026", "2026-3-1", "2026-03-01T25:00", "2026-03-01T09:15+25:00", "", "x"]
    )
    def test_rejected(self, text: str) -> None:
        """Anything else is a ValueError quoting the text."""
        with pytest.raises(ValueError, match=re.escape(repr(text))):
            parse_timestamp(text)
