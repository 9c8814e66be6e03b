"""CSV address books: the export shapes real tools write, errors, and the Google-style writer."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest
from book_contract import BookReaderContract
from fuzz.targets import Taken, read_taking, same_when_taking
from test_fastpath import _make_book_module

from contactguard.books import ReadOptions, read_book, write_book
from contactguard.books import csv as books_csv
from contactguard.errors import InputError
from contactguard.model import Contact, Field, Phone

CSV_FIXTURES = Path(__file__).parent / "fixtures" / "csv"


def read_fixture(name: str, **options: tuple[str, ...]) -> list[Contact]:
    return list(read_book(CSV_FIXTURES / name, ReadOptions(**options)))  # type: ignore[arg-type]


def read_bytes(data: bytes, **options: tuple[str, ...]) -> list[Contact]:
    return list(read_book(io.BytesIO(data), ReadOptions(**options), name="book"))  # type: ignore[arg-type]


def phones(contact: Contact) -> list[tuple[str, tuple[str, ...]]]:
    return [(p.value, p.types) for p in contact.phones]


def written(contacts: list[Contact]) -> bytes:
    out = io.BytesIO()
    write_book(contacts, out, "csv")
    return out.getvalue()


class TestContract(BookReaderContract):
    FORMAT = "csv"
    ONE_CONTACT = b"Name,Phone\r\nAnna Beispiel,+49 170 1234567\r\n"
    TWO_CONTACTS = b"Name,Mobile\r\nAnna Beispiel,+49 170 1234567\r\nBernd Muster,0221 555123\r\n"


class TestShapes:
    def test_google_legacy_type_value(self) -> None:
        """Google's older export: typed phones, ` ::: ` split, faxes and pagers skipped."""
        anna, bernd = read_fixture("google-legacy-type-value.csv")
        assert (anna.line, anna.fn, anna.n[:2]) == (2, "Anna Beispiel", ("Beispiel", "Anna"))
        assert phones(anna) == [
            ("+49 170 1234567", ("cell",)),
            ("+49 171 7654321", ("cell",)),
            ("030 1112223", ("work",)),
        ]
        assert anna.fields == (
            Field("EMAIL", "anna@example.org", ("home",)),
            Field("ORG", ("Beispiel GmbH", "Einkauf")),
            Field("TITLE", "Buyer"),
            Field("NOTE", "Met at the fair"),
        )
        assert phones(bernd) == [("0221 555123", ("home",))]

    def test_google_label_value(self) -> None:
        """Google's newer export: `Phone n - Label`, custom labels kept as types."""
        anna, carla = read_fixture("google-label-value.csv")
        assert anna.display_name == "Dr. Anna Beispiel"
        assert phones(anna) == [
            ("+49 170 1234567", ("cell",)),
            ("+49 171 7654321", ("cell",)),
            ("0711 2223334", ("kita",)),
        ]
        emails = [f.value for f in anna.fields if f.name == "EMAIL"]
        assert emails == ["anna@example.org", "a.beispiel@example.com"]
        assert Field("ORG", ("Beispiel GmbH",)) in anna.fields
        assert (carla.display_name, carla.phones, carla.line) == ("Carla Nummernlos", (), 3)

    def test_outlook_english(self) -> None:
        """Outlook's English export: quoted cells, phone types from the column, no fax or pager."""
        anna, bob = read_fixture("outlook-en-comma-utf8.csv")
        assert anna.display_name == "Anna Beispiel"
        assert phones(anna) == [
            ("+49 30 1234567", ("work",)),
            ("(030) 7654321", ("home",)),
            ("+49 170 1234567", ("cell",)),
        ]
        assert Field("EMAIL", "anna@example.org") in anna.fields
        assert Field("NOTE", 'Prefers "WhatsApp"') in anna.fields
        assert (bob.display_name, phones(bob)) == ("Mr. Bob Example", [("+1 202 555 0143", ())])

    def test_outlook_german_utf16(self) -> None:
        """Outlook's German "Unicode" export (UTF-16 LE with BOM, `;`) reads with its umlauts."""
        (juergen,) = read_fixture("outlook-de-semicolon-utf16le-bom.csv")
        assert (juergen.line, juergen.display_name) == (2, "Herr Jürgen Größer")
        assert phones(juergen) == [
            ("030 1234567", ("work",)),
            ("030 7654321", ("home",)),
            ("0170 1234567", ("cell",)),
        ]
        assert Field("ORG", ("Bäckerei Größer",)) in juergen.fields
        assert Field("EMAIL", "juergen@example.de") in juergen.fields

    def test_outlook_german_cp1252(self) -> None:
        """A legacy cp1252 ("ANSI") export is recognised and its umlauts decoded."""
        juergen, zoe = read_fixture("outlook-de-cp1252.csv")
        assert juergen.display_name == "Jürgen Größer"
        assert phones(juergen) == [("030 1234567", ("work",)), ("0170 1234567", ("cell",))]
        assert Field("NOTE", "Grüße an Frau Müller") in juergen.fields
        assert (zoe.display_name, phones(zoe)) == ("Zoë Ärmel", [("0171 2345678", ("cell",))])

    def test_thunderbird(self) -> None:
        """Thunderbird's export (trailing comma, Display Name) reads, Fax and Pager skipped."""
        anna, only = read_fixture("thunderbird-export.csv")
        assert anna.fn == "Anna Beispiel"
        assert phones(anna) == [("+49 30 1234567", ("work",)), ("+49 170 1234567", ("cell",))]
        assert (only.fn, phones(only)) == ("Only Display", [("0221 555123", ("home",))])

    def test_apple_exporter_labels(self) -> None:
        """Headers such as `Phone : mobile` are detected by keyword and give the type."""
        (anna,) = read_fixture("apple-exporter-labels.csv")
        assert anna.display_name == "Anna Beispiel"
        assert phones(anna) == [("+49 170 1234567", ("cell",)), ("+49 30 7654321", ("home",))]

    def test_tab_delimited(self) -> None:
        """A tab-separated file is sniffed from its header line."""
        (anna,) = read_fixture("generic-tab-delimited.csv")
        assert (anna.fn, phones(anna)) == ("Anna Beispiel", [("+49 170 1234567", ("cell",))])

    def test_excel_sep_line(self) -> None:
        """Excel's `sep=;` first line sets the delimiter and counts as a line."""
        (anna,) = read_fixture("excel-sep-line.csv")
        assert (anna.line, anna.fn) == (3, "Anna Beispiel")
        assert phones(anna) == [("030 1234567", ()), ("0170 1234567", ("cell",))]

    def test_generic_override_columns(self) -> None:
        """--phone-column and --name-column name the columns no keyword reveals."""
        anna, bernd = read_fixture(
            "generic-override-columns.csv", phone_columns=("durchwahl",), name_columns=("Kunde",)
        )
        assert (anna.fn, phones(anna)) == ("Anna Beispiel", [("+49 170 1234567", ())])
        assert (bernd.fn, phones(bernd)) == ("Bernd Muster", [("0221 555123", ())])

    def test_generic_without_override_asks_for_phone_column(self) -> None:
        """A header without any phone-like column is an error that names --phone-column."""
        with pytest.raises(InputError, match="--phone-column") as caught:
            read_fixture("generic-override-columns.csv")
        assert (caught.value.file, caught.value.line) == (
            str(CSV_FIXTURES / "generic-override-columns.csv"),
            1,
        )

    def test_override_names_a_missing_column(self) -> None:
        """An override naming no column of the header is an error listing the columns."""
        with pytest.raises(InputError, match=r"'Telefon'.*--phone-column.*'kunde'"):
            read_fixture("generic-override-columns.csv", phone_columns=("Telefon",))

    def test_multiline_cell_line_numbers(self) -> None:
        """Rows with quoted multi-line cells report the exact line each row starts on."""
        contacts = read_fixture("multiline-quoted-cell.csv")
        assert [(c.line, c.fn) for c in contacts] == [
            (2, "Anna Beispiel"),
            (3, "Bernd Muster"),
            (7, "Carla Quote"),
        ]
        assert Field("NOTE", "first line\nsecond line\n\nfourth line") in contacts[1].fields


class TestReading:
    def test_blank_lines_skipped_and_counted(self) -> None:
        """Blank lines and rows of empty cells are skipped but still count for line numbers."""
        data = b"\r\nName,Phone\r\n\r\n,\r\nAnna,1\r\n"
        (anna,) = read_bytes(data)
        assert (anna.line, anna.fn) == (5, "Anna")

    def test_row_without_name_or_number_is_a_contact(self) -> None:
        """A row with neither name nor number still becomes a contact (reported as no-number)."""
        (empty,) = read_bytes(b"Name,Phone,Notes\nAnna,,x\n")
        assert (empty.fn, empty.phones) == ("Anna", ())
        (nameless,) = read_bytes(b"Name,Phone,Notes\n,,just a note\n")
        assert (nameless.display_name, nameless.phones, nameless.line) == ("", (), 2)

    def test_short_rows_are_padded(self) -> None:
        """A row with fewer cells than the header reads its missing cells as empty."""
        (anna,) = read_bytes(b"Name,Notes,Phone\nAnna\n")
        assert (anna.fn, anna.phones, anna.fields) == ("Anna", (), ())

    def test_utf16_big_endian(self) -> None:
        """UTF-16 BE with a BOM reads like UTF-8."""
        data = "Name;Mobiltelefon\r\nJürgen;0170 1234567\r\n".encode("utf-16")
        big = b"\xfe\xff" + "Name;Mobiltelefon\r\nJürgen;0170 1234567\r\n".encode("utf-16-be")
        assert read_bytes(big) == read_bytes(data)
        assert read_bytes(big)[0].fn == "Jürgen"

    def test_utf16_without_bom(self) -> None:
        """UTF-16 LE without a BOM is recognised from its NUL bytes instead of being rejected."""
        data = "Name,Phone\r\nJürgen,0170 1234567\r\n".encode("utf-16-le")
        (juergen,) = read_bytes(data)
        assert (juergen.fn, phones(juergen)) == ("Jürgen", [("0170 1234567", ())])

    def test_utf8_beyond_the_head_is_decoded(self) -> None:
        """Multi-byte UTF-8 split across read chunks decodes correctly."""
        rows = "".join(f"Zoë {i},0170 {i:07d}\n" for i in range(20000))
        contacts = read_bytes(("Name,Phone\n" + rows).encode())
        assert (len(contacts), contacts[-1].fn, contacts[-1].line) == (20000, "Zoë 19999", 20001)

    def test_neutralised_cells_read_back(self) -> None:
        """A leading ' that a writer put before = + - @ is removed again; other quotes stay."""
        (anna,) = read_bytes(b"Name,Phone,Notes\n'=Anna,'+49 170 1234567,'tis\n")
        assert (anna.fn, phones(anna)[0][0]) == ("=Anna", "+49 170 1234567")
        assert anna.fields == (Field("NOTE", "'tis"),)

    def test_streams_without_reading_everything(self) -> None:
        """The first contact arrives before the rest of a large input is read."""
        data = b"Name,Phone\n" + b"Anna,0170 1234567\n" * 200_000
        stream = io.BytesIO(data)
        contacts = read_book(stream, ReadOptions(), name="big")
        assert next(contacts).fn == "Anna"
        assert stream.tell() < len(data) // 4


class TestFieldsHint:
    @pytest.mark.parametrize("path", sorted(CSV_FIXTURES.glob("*.csv")), ids=lambda p: p.name)
    @pytest.mark.parametrize(
        "fields",
        [frozenset(), frozenset({"EMAIL"}), frozenset({"ORG", "TITLE", "NOTE"})],
        ids=["no-fields", "email", "org-title-note"],
    )
    def test_only_wanted_fields(self, path: Path, fields: frozenset[str]) -> None:
        """With ReadOptions.fields the reader gives exactly the wanted share of every field."""
        options = ReadOptions(phone_columns=("Durchwahl",)) if "override" in path.name else None
        everything = list(read_book(path, options))
        hinted = list(read_book(path, replace(options or ReadOptions(), fields=fields)))
        wanted = [
            replace(c, fields=tuple(f for f in c.fields if f.name in fields)) for c in everything
        ]
        assert hinted == wanted

    def test_row_of_unwanted_cells_is_still_a_contact(self) -> None:
        """A row whose only content is a field nobody wants still becomes a (nameless) contact."""
        data = io.BytesIO(b"Name,Phone,Notes\n,,just a note\n")
        (row,) = read_book(data, ReadOptions(fields=frozenset()), name="book")
        assert (row.line, row.fn, row.phones, row.fields) == (2, "", (), ())


class TestLines:
    def test_line_ends_cr_lf_crlf_mixed(self) -> None:
        """CR, LF and CRLF each end one line, as spreadsheet apps and readline count them."""
        data = b"Name,Phone\rAnna,1\nBernd,2\r\nCarla,3\r\r\nDora,4"
        assert [(c.line, c.fn) for c in read_bytes(data)] == [
            (2, "Anna"),
            (3, "Bernd"),
            (4, "Carla"),
            (6, "Dora"),
        ]

    @pytest.mark.parametrize("cut", [(1 << 16) - 1, 1 << 16, (1 << 16) + (1 << 18) - 1])
    def test_crlf_across_a_read_block(self, cut: int) -> None:
        """A CRLF split between two read blocks is one line end, wherever the blocks meet."""
        row, head = b"Anna,0170 1234567\r\n", b"Name,Phone\r\n"
        body = head + row * ((cut - len(head)) // len(row) - 1)
        filler = b"Bernd," + b"1" * (cut - len(body) - 6) + b"\r\n"  # its CR is byte `cut`
        contacts = read_bytes(body + filler + row * 40)
        assert [c.line for c in contacts] == list(range(2, 2 + len(contacts)))
        assert contacts[-41].fn == "Bernd"

    def test_quoted_cell_across_read_blocks(self) -> None:
        """A quoted multi-line cell that spans a block boundary reads whole, lines still exact."""
        rows = "".join(f'Zoë {i},"0170\r\n{i:07d}"\r\n' for i in range(30_000))
        contacts = read_bytes(("Name,Phone\r\n" + rows).encode())
        assert [c.line for c in contacts] == list(range(2, 60_002, 2))
        assert contacts[-1].phones[0].value == "0170\r\n0029999"

    @pytest.mark.parametrize("end", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"])
    def test_unicode_line_separators_are_cell_content(self, end: str) -> None:
        """VT, FF, FS, NEL, LS and PS inside a cell end neither the cell nor the line."""
        data = f"Name,Phone\nAn{end}na,1\nBernd,2\n".encode()
        assert [(c.line, c.fn) for c in read_bytes(data)] == [(2, f"An{end}na"), (3, "Bernd")]

    def test_cells_beyond_the_header(self) -> None:
        """Cells beyond the header's columns are nobody's; a row of only such cells is kept."""
        data = b"Given Name,Phone\nAnna,1,Family?\n,,extra\n"
        anna, extra = read_bytes(data)
        assert anna.n == ("", "Anna", "", "", "")
        assert (extra.line, extra.fn, extra.n, extra.phones) == (3, "", (), ())

    def test_longest_line_allowed(self) -> None:
        """A line of max_line - 1 characters reads; one of max_line is refused with its line."""

        def lines(data: bytes) -> list[str]:
            text = books_csv.text.Text(io.BytesIO(data), "book", max_line=1000)
            return [line for block in text.blocks() for line in block]

        ok = b"Name,Phone\nAnna,1\n" + b"B" * 997 + b",2\n"
        assert len(lines(ok)) == 3
        with pytest.raises(InputError, match="line longer than 1,000 characters") as caught:
            lines(b"Name,Phone\nAnna,1\nCarla,3\n" + b"B" * 998 + b",2\n")
        assert caught.value.line == 4
        assert books_csv.text.MAX_LINE == 16 * 1024 * 1024  # what read() refuses


class TestErrors:
    def test_unterminated_quote(self) -> None:
        """A quote that is never closed is an InputError naming the row's first line."""
        with pytest.raises(InputError, match="unterminated quote") as caught:
            read_bytes(b'Name,Phone\nAnna,1\n"Bernd,2\nCarla,3\n')
        assert (caught.value.file, caught.value.line) == ("book", 3)

    def test_text_after_closing_quote(self) -> None:
        """Text after a closing quote is a malformed row, reported with its line."""
        with pytest.raises(InputError, match="malformed CSV row") as caught:
            read_bytes(b'Name,Phone\n"Anna"x,1\n')
        assert caught.value.line == 2

    def test_nul_byte(self) -> None:
        """A NUL byte in a UTF-8 file is an InputError naming the line, not a silent cell."""
        with pytest.raises(InputError, match="NUL") as caught:
            read_bytes(b"Name,Phone\nAnna,1\nBe\x00rnd,2\n")
        assert (caught.value.file, caught.value.line) == ("book", 3)

    def test_nul_byte_far_into_the_file(self) -> None:
        """A NUL byte beyond the sniffed head is found on its exact line."""
        data = b"Name,Phone\n" + b"Anna,1\n" * 20000 + b"Bernd,\x002\n"
        with pytest.raises(InputError, match="NUL") as caught:
            read_bytes(data)
        assert caught.value.line == 20002

    def test_undecodable_row(self) -> None:
        """A stray cp1252 byte far into a UTF-8 file names its line and says what to do."""
        data = b"Name,Phone\n" + b"Anna,1\n" * 20000 + b"J\xfcrgen,2\n"
        with pytest.raises(InputError, match="save the file as UTF-8") as caught:
            read_bytes(data)
        assert caught.value.line == 20002

    @pytest.mark.parametrize(
        ("encoding", "end"),
        [("utf-16", "\r\n"), ("utf-16-be", "\n"), ("utf-8", "\r")],
        ids=["utf16-crlf", "utf16be-bomless-lf", "utf8-cr"],
    )
    def test_undecodable_line_in_any_encoding(self, encoding: str, end: str) -> None:
        """The line of an undecodable character is exact in UTF-16 and with CR line ends."""
        text = f"Name,Phone{end}" + f"Anna,1{end}" * 30_000 + "Bernd,"
        bad = {"utf-16": b"\x00\xd8,\x00", "utf-16-be": b"\xd8\x00\x00,", "utf-8": b"\xff,"}
        with pytest.raises(InputError, match="cannot be decoded") as caught:
            read_bytes(text.encode(encoding) + bad[encoding] + "2".encode(encoding))
        assert caught.value.line == 30_002

    def test_no_phone_column(self) -> None:
        """A CSV with no phone-like column says to pass --phone-column."""
        with pytest.raises(InputError, match="pass --phone-column"):
            read_bytes(b"Display Name,Primary Email\nJohn Doe,john@doe.invalid\n")

    def test_fax_only_is_no_phone_column(self) -> None:
        """Fax and pager columns do not count as phone columns."""
        with pytest.raises(InputError, match="--phone-column"):
            read_bytes(b"Name,Business Fax,Pager\nAnna,1,2\n")

    def test_headerless_data(self) -> None:
        """A first row that is data, not a header, is reported as a missing header."""
        with pytest.raises(InputError, match="no header row"):
            read_bytes(b"0170 1234567,Anna\n0171 7654321,Bernd\n")


ANNA = Contact(
    source="in",
    line=2,
    fn="Anna Beispiel",
    n=("Beispiel", "Anna", "", "", ""),
    phones=(Phone("+4917012345678", ("cell",)), Phone("+49301234567", ("work",))),
    fields=(
        Field("EMAIL", "anna@example.org", ("work",)),
        Field("ORG", ("Beispiel GmbH", "Einkauf")),
        Field("NOTE", "line one\nline two"),
    ),
)
BERND = Contact(source="in", line=3, fn="Bernd Muster", phones=(Phone("+492215551234"),))


class TestWriting:
    def test_google_header_and_crlf(self) -> None:
        """The header is Google's, sized for the widest contact, and lines end in CRLF."""
        data = written([ANNA, BERND])
        header, first, second = data.decode().split("\r\n")[:3]
        assert header == (
            "Name,Given Name,Family Name,Phone 1 - Type,Phone 1 - Value,Phone 2 - Type,"
            "Phone 2 - Value,E-mail 1 - Type,E-mail 1 - Value,Organization 1 - Name,"
            "Organization 1 - Department,Notes"
        )
        assert first.startswith("Anna Beispiel,Anna,Beispiel,Mobile,+4917012345678,Work,")
        assert second == "Bernd Muster,,,,+492215551234,,,,,,,"
        assert data.endswith(b"\r\n")

    def test_deterministic(self) -> None:
        """Two runs over the same contacts give byte-identical output."""
        assert written([ANNA, BERND]) == written([ANNA, BERND])

    def test_formula_injection_neutralised(self) -> None:
        """Cells starting with = + - @ tab or CR get a leading ' so spreadsheets show text."""
        evil = Contact(
            source="in",
            line=1,
            fn='=HYPERLINK("http://x")',
            n=("-Minus", "@At", "", "", ""),
            phones=(Phone("+4917012345678"), Phone("=1+2"), Phone("+49 30 123")),
            fields=(Field("NOTE", "\tcmd"), Field("ORG", ("+SUM(A1)",))),
        )
        (row,) = list(csv.reader(io.StringIO(written([evil]).decode())))[1:]
        assert row[:3] == ['\'=HYPERLINK("http://x")', "'@At", "'-Minus"]
        assert row[4] == "+4917012345678"  # E.164: a sign and digits only, see _safe_phone
        assert row[6] == "'=1+2"
        assert row[8] == "'+49 30 123"
        assert "'+SUM(A1)" in row
        assert "'\tcmd" in row
        dangerous = [c for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
        assert dangerous == ["+4917012345678"]

    def test_round_trip(self) -> None:
        """contactguard's own reader reads its CSV back to the same names, numbers and fields."""
        tricky = Contact(
            source="in",
            line=4,
            fn='=Tricky, "Quote"',
            phones=(Phone("+4917012345678", ("cell",)), Phone("+49 30 123", ("home",))),
            fields=(Field("NOTE", "-starts with minus"),),
        )
        back = read_bytes(written([ANNA, BERND, tricky]))
        assert [(c.display_name, c.phones, c.fields) for c in back] == [
            (c.display_name, c.phones, c.fields) for c in (ANNA, BERND, tricky)
        ]
        assert [c.line for c in back] == [2, 4, 5]  # Anna's note spans two lines

    def test_round_trip_of_a_fixture(self) -> None:
        """An Outlook export written as CSV and read back keeps every number and its type."""
        original = read_fixture("outlook-de-semicolon-utf16le-bom.csv")
        back = read_bytes(written(original))
        assert [phones(c) for c in back] == [phones(c) for c in original]
        assert [c.display_name for c in back] == [c.display_name for c in original]

    def test_empty_book(self) -> None:
        """Writing no contacts gives just the header."""
        assert written([]) == b"Name,Given Name,Family Name\r\n"

    def test_leaves_the_stream_open(self) -> None:
        """The writer does not close the caller's stream."""
        out = io.BytesIO()
        write_book([BERND], out, "csv")
        assert not out.closed


class TestTake:
    """The parallel pipeline's workers read CSV pieces with a ``take``: it is
    offered each row's line, display name and numbers, and a row it takes is not yielded."""

    @pytest.mark.parametrize("path", sorted(CSV_FIXTURES.glob("*.csv")), ids=lambda p: p.name)
    def test_fixtures(self, path: Path) -> None:
        assert same_when_taking(path.read_bytes(), frozenset(), "csv")

    @pytest.mark.parametrize("fmt", ["google", "outlook"])
    def test_generated_books(self, fmt: str) -> None:
        data = b"".join(_make_book_module().book_chunks(fmt, 400))
        taking = read_taking(data, frozenset(), "csv")
        assert sum(isinstance(item, Taken) for item in taking) == 200
        assert same_when_taking(data, frozenset(), "csv")

    def test_what_take_is_given(self) -> None:
        data = (
            "Name,Given Name,Family Name,Phone 1 - Type,Phone 1 - Value,Phone 2 - Type,"
            "Phone 2 - Value\r\n"
            ",Zoë,Weiß,* Mobile, 0170 1234567 ::: '+49 171 2,Fax,030 999\r\n"
            ",,,,,,\r\n"
            "Hakan,,,Work,,,\r\n"
            "'\tBob,,,,0171 7654321,,\r\n"  # a name that was neutralised, starting with a tab
        ).encode()
        taking = read_taking(data, frozenset(), "csv")
        assert taking[0] == Taken(2, "Zoë Weiß", ("0170 1234567", "+49 171 2"))
        assert isinstance(taking[1], Contact) and taking[1].line == 4  # declined: yielded
        assert taking[2] == Taken(5, "Bob", ("0171 7654321",))  # as Contact.display_name
        assert same_when_taking(data, frozenset(), "csv")
