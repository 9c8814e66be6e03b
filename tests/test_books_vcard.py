"""vCard reading (2.1, 3.0, 4.0 as real exporters write them) and writing (3.0, 4.0)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from book_contract import BookReaderContract

from contactguard.books import ReadOptions, read_book, vcard
from contactguard.books.vcard import RawCard, parse_card, split_cards
from contactguard.errors import InputError
from contactguard.model import Contact, Field, Phone

FIXTURES = Path(__file__).parent / "fixtures" / "vcard"


def read_fixture(name: str) -> list[Contact]:
    with (FIXTURES / name).open("rb") as stream:
        return list(vcard.read(stream, name, ReadOptions()))


def read_bytes(data: bytes) -> list[Contact]:
    return list(vcard.read(io.BytesIO(data), "book", ReadOptions()))


def write_bytes(contacts: list[Contact], fmt: str = "vcard3") -> bytes:
    out = io.BytesIO()
    vcard.write(contacts, out, fmt)
    return out.getvalue()


def numbers(contact: Contact) -> list[str]:
    return [p.value for p in contact.phones]


class TestContract(BookReaderContract):
    FORMAT = "vcard"
    ONE_CONTACT = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna Beispiel\r\nN:Beispiel;Anna;;;\r\n"
        b"TEL;TYPE=CELL:+49 170 1234567\r\nEND:VCARD\r\n"
    )
    TWO_CONTACTS = ONE_CONTACT + (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bernd Brot\r\nTEL:+49 171 2223334\r\nEND:VCARD\r\n"
    )


class TestExporterQuirks:
    def test_apple_grouped_tel_label_becomes_type(self) -> None:
        """Apple's item1.X-ABLabel is added to the types of the item1.TEL it groups with."""
        (anna,) = read_fixture("apple-grouped-tel.vcf")
        assert anna.phones == (
            Phone("+49 170 1234567", ("pref", "mobile")),
            Phone("+49 30 9876543", ("praxis",)),
            Phone("030 1111111", ("home", "voice")),
        )

    def test_android_quoted_printable_soft_breaks(self) -> None:
        """Android 2.1 QP values with '=' soft breaks (even inside a UTF-8 sequence) decode."""
        (jorg,) = read_fixture("android-qp-softbreak.vcf")
        assert jorg.n == ("Müller", "Jörg", "", "", "")
        assert jorg.fn == "Jörg Müller-Lüdenscheidt von Krähenbühl"
        assert numbers(jorg) == ["+49 151 23456789", "0221 987654"]
        assert jorg.phones[0].types == ("cell", "pref")
        assert jorg.fields == (Field("NOTE", "Erste Zeile\nZweite Zeile mit ä"),)

    def test_tel_value_uri_kept_as_written(self) -> None:
        """A 4.0 TEL tel: URI keeps 'tel:' and ';ext=' for the phones module to handle."""
        (clara,) = read_fixture("tel-value-uri.vcf")
        assert clara.phones == (
            Phone("tel:+49-89-1234567;ext=42", ("work", "voice", "pref")),
            Phone("tel:+49-160-7654321", ("cell",)),
        )
        assert clara.uid == "urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1"

    def test_utf8_bom(self) -> None:
        """A UTF-8 byte-order mark before BEGIN:VCARD is skipped."""
        (zoe,) = read_fixture("utf8-bom.vcf")
        assert (zoe.fn, numbers(zoe), zoe.line) == ("Zoë Ärger", ["+49 176 5550101"], 1)

    def test_crlf_several_cards_several_numbers(self) -> None:
        """Several CRLF cards, blank lines between them and several TEL per card are all read."""
        contacts = read_fixture("crlf-multi.vcf")
        assert [c.fn for c in contacts] == ["Bernd Brot", "Dora Dreher", "Emil Erbse"]
        assert numbers(contacts[1]) == ["+49 172 3334445", "+49 40 5556667", "040 7778889"]
        assert contacts[1].phones[1].types == ("work", "voice")

    def test_base64_photo_is_skipped(self) -> None:
        """A folded base64 PHOTO is dropped and the TEL after it is still read."""
        (fritz,) = read_fixture("base64-photo.vcf")
        assert (fritz.fn, numbers(fritz), fritz.fields) == ("Fritz Foto", ["+49 174 5556667"], ())

    def test_base64_photo_v21_without_blank_line_or_indent(self) -> None:
        """2.1 base64 blocks end at the next property, with or without the blank line."""
        gerda, hanna = read_fixture("base64-photo-v21.vcf")
        assert numbers(gerda) == ["+49 175 6667778"]
        assert numbers(hanna) == ["+49 176 7778889"]
        assert gerda.error is None and hanna.error is None

    def test_cr_cr_lf_line_endings(self) -> None:
        """iOS 6's CR CR LF line endings read like CRLF, grouped EMAIL label included."""
        (ida,) = read_fixture("cr-cr-lf.vcf")
        assert numbers(ida) == ["(0170) 1234567"]
        assert ida.fields == (Field("EMAIL", "ida@example.org", ("internet", "pref", "other")),)

    def test_folded_lines(self) -> None:
        """Lines folded with a space or a tab are joined, also in the middle of a number."""
        (jakob,) = read_fixture("folded-lines.vcf")
        assert jakob.fn == "Jakob Jansen"
        assert numbers(jakob) == ["+49 177 8889990"]
        assert jakob.fields == (
            Field("NOTE", "Ein langer Hinweis, der über mehrere Zeilen gefaltet wurde."),
        )

    def test_comment_lines_and_mixed_case_begin(self) -> None:
        """'BEGIN:vCard' works, '#' lines are skipped unless they continue a QP value."""
        (karl,) = read_fixture("comments-mixed-case.vcf")
        assert (karl.fn, numbers(karl)) == ("Karl Kurz", ["+49 178 9990001"])
        assert karl.fields == (Field("NOTE", "Raute folgt ->#<- und geht weiter."),)

    def test_property_names_vobject_rejects_are_dropped(self) -> None:
        """X-MESSAGING/XMPP-ALL does not make the card unparseable; X- properties are skipped."""
        (lena,) = read_fixture("bad-property-name.vcf")
        assert (lena.error, lena.fn, numbers(lena), lena.fields) == (
            None,
            "Lena Lang",
            ["+49 179 1112223"],
            (),
        )

    def test_card_without_version(self) -> None:
        """A card without VERSION is read, its name coming from N."""
        (max_,) = read_fixture("no-version.vcf")
        assert (max_.display_name, numbers(max_)) == ("Max Meier", ["+49 152 2223334"])

    def test_missing_end_is_unparseable_and_the_next_card_is_read(self) -> None:
        """A card without END:VCARD is unparseable at its line; the next BEGIN starts a card."""
        nina, otto, paula = read_fixture("missing-end.vcf")
        assert (nina.fn, nina.line, nina.error) == ("Nina Nord", 1, None)
        assert (otto.line, otto.phones) == (6, ())
        assert otto.error is not None and "END:VCARD" in otto.error
        assert (paula.fn, paula.line, paula.error) == ("Paula Pol", 10, None)

    def test_shift_jis_charset(self) -> None:
        """Raw bytes in CHARSET=SHIFT_JIS are decoded in that charset."""
        (taro,) = read_fixture("shift-jis-charset.vcf")
        assert (taro.fn, taro.n[:2]) == ("山田 太郎", ("山田", "太郎"))
        assert numbers(taro) == ["03-1234-5678"]

    def test_windows_1252_bytes_with_and_without_charset(self) -> None:
        """Windows-1252 bytes decode per CHARSET, and without one instead of failing as UTF-8."""
        zoe, andre = read_fixture("windows-1252-raw.vcf")
        assert zoe.fn == "Zoë Doë"
        assert andre.fn == "André René"

    def test_quoted_parameter_values_with_colon_and_comma(self) -> None:
        """A ':' or ',' inside a quoted parameter value does not end the parameters."""
        (quirin,) = read_fixture("quoted-param-colon.vcf")
        assert quirin.phones == (Phone("+49 159 8889990", ("cell", "voice:main", "pref")),)
        assert quirin.fields == (Field("EMAIL", "quirin@example.org"),)

    def test_unescaped_commas_and_escaped_colons_are_kept(self) -> None:
        """'FN:Doe, John' keeps the text after the comma (vobject would cut it); '\\:' is ':'."""
        (anna,) = read_fixture("unescaped-comma.vcf")
        assert anna.fn == "Beispiel, Anna"
        assert anna.fields == (
            Field("NOTE", "Ruft an, wenn nötig, meist abends"),
            Field("URL", "https://example.org/anna", ("work",)),
        )

    def test_unindented_continuation_lines(self) -> None:
        """Android's multi-line 2.1 ADR (lines ending in '\\', not indented) is one address."""
        (rita,) = read_fixture("adr-continuation-v21.vcf")
        street = "c/o Rita Rot\nHinterhaus\nGartenweg 7"
        assert rita.fields == (
            Field("ADR", ("", "", street, "Bremen", "", "28195", "Deutschland"), ("home",)),
        )
        assert numbers(rita) == ["0421 123456"]

    def test_lone_cr_line_endings(self) -> None:
        """Old Mac files that end lines with a lone CR are read."""
        (sven,) = read_fixture("lone-cr.vcf")
        assert (sven.fn, numbers(sven)) == ("Sven Sand", ["+49 160 1231231"])

    def test_utf16_with_bom(self) -> None:
        """A UTF-16 file with a byte-order mark is transcoded and read."""
        (tina,) = read_fixture("utf16-bom.vcf")
        assert (tina.fn, numbers(tina)) == ("Tina Träger", ["+49 161 2342342"])

    def test_concatenated_exports_with_a_bom_in_the_middle(self) -> None:
        """A BOM in front of a later BEGIN:VCARD (files joined with cat) is skipped."""
        uwe, vera = read_fixture("concatenated-bom.vcf")
        assert (uwe.fn, vera.fn, vera.line) == ("Uwe Ufer", "Vera Vogel", 6)

    def test_encoding_8bit(self) -> None:
        """ENCODING=8BIT (Nokia, Sony Ericsson) is plain text, not base64."""
        (walter,) = read_fixture("encoding-8bit.vcf")
        assert (walter.fn, numbers(walter)) == ("Walter Weiß", ["+49 164 5675675"])

    def test_profile_line(self) -> None:
        """A PROFILE:VCard line (Lotus Notes) does not make the card unparseable."""
        (xaver,) = read_fixture("profile-line.vcf")
        assert (xaver.error, numbers(xaver)) == (None, ["+49 165 6786786"])


class TestMapping:
    CARD = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//x//EN\r\nREV:2024-01-01T00:00:00Z\r\n"
        "UID:abc-1\r\nFN:Anna Beispiel\r\nN:Beispiel;Anna;Maria,Luise;Dr.;\r\n"
        "ORG:Beispiel GmbH;Vertrieb\\; Nord\r\nTITLE:Leiterin\r\nEMAIL;TYPE=work:a@example.org\r\n"
        "ADR;TYPE=work:;;Hauptstr. 1;Berlin;;10115;DE\r\nBDAY:1980-02-03\r\n"
        "NICKNAME:Anni\r\nNOTE:\r\nX-SKYPE:anna.b\r\nTEL;TYPE=CELL:+49 170 1234567\r\n"
        "END:VCARD\r\n"
    )

    def test_properties_map_to_contact(self) -> None:
        """FN, N (5 parts), UID, TEL and other properties map to the Contact; X-, meta skipped."""
        (anna,) = read_bytes(self.CARD.encode())
        assert anna == Contact(
            source="book",
            line=1,
            fn="Anna Beispiel",
            n=("Beispiel", "Anna", "Maria,Luise", "Dr.", ""),
            uid="abc-1",
            phones=(Phone("+49 170 1234567", ("cell",)),),
            fields=(
                Field("ORG", ("Beispiel GmbH", "Vertrieb; Nord")),
                Field("TITLE", "Leiterin"),
                Field("EMAIL", "a@example.org", ("work",)),
                Field("ADR", ("", "", "Hauptstr. 1", "Berlin", "", "10115", "DE"), ("work",)),
                Field("BDAY", "1980-02-03"),
                Field("NICKNAME", "Anni"),
            ),
        )


class TestSplitCards:
    def test_start_lines_and_repaired_text(self) -> None:
        """Each RawCard has its BEGIN line and clean text: soft breaks decoded, BEGIN upper-case."""
        with (FIXTURES / "android-qp-softbreak.vcf").open("rb") as stream:
            (raw,) = split_cards(stream, "a.vcf")
        assert (raw.source, raw.line, raw.error) == ("a.vcf", 1, None)
        assert raw.text.startswith("BEGIN:VCARD\r\nVERSION:2.1\r\nN:Müller;Jörg;;;\r\n")
        assert "QUOTED-PRINTABLE" not in raw.text
        assert raw.text.endswith("END:VCARD\r\n")

    def test_line_numbers_are_physical_lines(self) -> None:
        """Start lines count physical lines, folded continuation and blank lines included."""
        data = (
            b"BEGIN:VCARD\nFN:A\n very long\nEND:VCARD\n\n\n"
            b"BEGIN:VCARD\r\nFN:B\r\nEND:VCARD\r\nBEGIN:VCARD\rFN:C\rEND:VCARD\r"
        )
        raws = list(split_cards(io.BytesIO(data), "b"))
        assert [r.line for r in raws] == [1, 7, 10]

    def test_crlf_split_across_read_chunks(self) -> None:
        """A CRLF cut in two by the reader's chunk boundary is still one line ending."""
        card = b"BEGIN:VCARD\r\nFN:X\r\nTEL:+49 170 1234567\r\nEND:VCARD\r\n"
        first = b"BEGIN:VCARD\r\nNOTE:" + b"x" * (65536 - 19) + b"\r\nEND:VCARD\r\n"
        assert first[65535:65537] == b"\r\n"
        raws = list(split_cards(io.BytesIO(first + card), "b"))
        assert [r.line for r in raws] == [1, 4]
        assert all(r.error is None for r in raws)

    def test_streams_in_chunks(self) -> None:
        """The file is read in bounded chunks, never all at once."""

        sizes: list[int] = []

        class Recording(io.BytesIO):
            def read(self, size: int | None = -1) -> bytes:
                sizes.append(-1 if size is None else size)
                return super().read(size)

        stream = Recording(TestContract.TWO_CONTACTS * 5000)
        assert len(list(split_cards(stream, "b"))) == 10000
        assert all(0 < size <= 1 << 16 for size in sizes)


class TestUnparseable:
    def test_bad_card_in_the_middle(self) -> None:
        """A broken card is reported with its line; the cards before and after are still read."""
        data = (FIXTURES / "missing-end.vcf").read_bytes()
        contacts = list(read_book(io.BytesIO(data), name="m.vcf"))
        assert [(c.where, c.error is None) for c in contacts] == [
            ("m.vcf:1", True),
            ("m.vcf:6", False),
            ("m.vcf:10", True),
        ]

    def test_vobject_failure_becomes_an_error_contact(self) -> None:
        """A card vobject rejects becomes a Contact with a short error, not an exception."""
        raw = RawCard("b", 7, "BEGIN:VCARD\r\nthis is no property\r\nEND:VCARD\r\n")
        contact = parse_card(raw)
        assert (contact.where, contact.phones) == ("b:7", ())
        assert contact.error is not None and contact.error.startswith("vobject cannot parse it")

    def test_error_raw_card_passes_through(self) -> None:
        """A RawCard already marked broken is not handed to vobject."""
        contact = parse_card(RawCard("b", 3, "BEGIN:VCARD\r\n", "missing END:VCARD"))
        assert (contact.line, contact.error) == (3, "missing END:VCARD")

    def test_no_card_at_all_is_an_input_error_with_line(self) -> None:
        """A file forced to be read as vCard that holds no BEGIN:VCARD names file and line."""
        options = ReadOptions(input_format="vcard")
        with pytest.raises(InputError) as info:
            list(read_book(io.BytesIO(b"\n\nname;phone\nAnna;+49170\n"), options, name="x.csv"))
        assert (info.value.file, info.value.line) == ("x.csv", 3)

    def test_blank_file_is_an_input_error(self) -> None:
        """A file of blank lines read directly is an InputError, not an empty book."""
        with pytest.raises(InputError, match="empty"):
            read_bytes(b"\r\n\r\n")


class TestWrite:
    ANNA = Contact(
        "in.vcf",
        1,
        fn="Anna Beispiel",
        n=("Beispiel", "Anna", "", "", ""),
        uid="anna-1",
        phones=(Phone("+4917012345678", ("cell",)), Phone("+493098765432", ("work", "pref"))),
        fields=(
            Field("ORG", ("Beispiel, GmbH", "Vertrieb; Nord")),
            Field("EMAIL", "anna@example.org", ("work",)),
            Field("NOTE", "Zeile 1\nZeile 2, mit Komma; und Semikolon \\ Backslash"),
            Field("ADR", ("", "", "Hauptstr. 1", "Berlin", "", "10115", "Deutschland"), ("home",)),
        ),
    )

    @pytest.mark.parametrize("fmt", ["vcard3", "vcard4"])
    def test_round_trip(self, fmt: str) -> None:
        """Writing then reading back gives the same name, numbers and fields."""
        (back,) = read_bytes(write_bytes([self.ANNA], fmt))
        assert (back.fn, back.n, back.uid) == (self.ANNA.fn, self.ANNA.n, self.ANNA.uid)
        assert [(p.value.removeprefix("tel:"), p.types) for p in back.phones] == [
            ("+4917012345678", ("cell",)),
            ("+493098765432", ("work", "pref")),
        ]
        assert sorted(back.fields, key=lambda f: f.name) == sorted(
            self.ANNA.fields, key=lambda f: f.name
        )

    def test_vcard3_shape(self) -> None:
        """3.0 output has VERSION, UID, FN, N and E.164 TEL with a TYPE, CRLF only."""
        out = write_bytes([self.ANNA], "vcard3")
        lines = out.split(b"\r\n")
        assert lines[:3] == [b"BEGIN:VCARD", b"VERSION:3.0", b"UID:anna-1"]
        assert b"FN:Anna Beispiel" in lines and b"N:Beispiel;Anna;;;" in lines
        assert b"TEL;TYPE=cell:+4917012345678" in lines
        assert b"TEL;TYPE=work,pref:+493098765432" in lines
        assert b"\n" not in out.replace(b"\r\n", b"") and out.endswith(b"END:VCARD\r\n")

    def test_vcard4_tel_is_a_uri(self) -> None:
        """4.0 output writes TEL as a tel: URI with VALUE=uri, and 'pref' as PREF=1."""
        lines = write_bytes([self.ANNA], "vcard4").split(b"\r\n")
        assert b"VERSION:4.0" in lines
        assert b"TEL;TYPE=cell;VALUE=uri:tel:+4917012345678" in lines
        assert b"TEL;PREF=1;TYPE=work;VALUE=uri:tel:+493098765432" in lines

    @pytest.mark.parametrize("fmt", ["vcard3", "vcard4"])
    def test_name_cannot_inject_a_property(self, fmt: str) -> None:
        """A name with a line break and 'TEL:' stays one FN value and adds no TEL."""
        eve = Contact(
            "x",
            1,
            fn="Eve\nTEL:+4915112345678",
            n=("Eve\r\nTEL:+4915112345679", "", "", "", ""),
            phones=(Phone("+4917099999999", ("cell", 'x"\nTEL:+4915100000000')),),
            fields=(Field("NOTE", "a\rTEL:+4915100000001\u2028TEL:+4915100000002"),),
        )
        out = write_bytes([eve], fmt)
        (back,) = read_bytes(out)
        assert [p.value.removeprefix("tel:") for p in back.phones] == ["+4917099999999"]
        assert back.fn == "Eve\nTEL:+4915112345678"
        starts = [line[:3].upper() for line in out.split(b"\r\n")]
        assert starts.count(b"TEL") == 1

    def test_deterministic(self) -> None:
        """The same contacts give byte-identical output."""
        contacts = [self.ANNA, Contact("x", 9, phones=(Phone("+4915112345678"),))]
        assert write_bytes(contacts) == write_bytes(list(contacts))

    def test_derived_uid_is_stable(self) -> None:
        """A contact without UID gets one derived from its numbers, the same on every run."""
        a = Contact("a", 1, fn="A", phones=(Phone("+4915112345678"), Phone("+4930123456")))
        b = Contact("b", 5, fn="A", phones=(Phone("+4930123456"), Phone("+4915112345678")))
        (back_a,) = read_bytes(write_bytes([a]))
        (back_b,) = read_bytes(write_bytes([b]))
        assert back_a.uid == back_b.uid == vcard.derived_uid(a)
        assert back_a.uid != vcard.derived_uid(Contact("c", 1, phones=(Phone("+4930999"),)))

    def test_n_and_fn_are_always_present(self) -> None:
        """Without N it is derived from FN; without any name the number becomes FN."""
        out = write_bytes([Contact("x", 1, phones=(Phone("+4915112345678"),))])
        assert b"\r\nFN:+4915112345678\r\n" in out and b"\r\nN:;+4915112345678;;;\r\n" in out
        named = write_bytes([Contact("x", 1, fn="Bea", phones=(Phone("+4915112345678"),))])
        assert b"\r\nN:;Bea;;;\r\n" in named

    def test_folded_at_75_octets(self) -> None:
        """Long lines are folded at 75 octets without splitting a UTF-8 character."""
        contact = Contact("x", 1, fn="Jörg " * 40, phones=(Phone("+4915112345678"),))
        out = write_bytes([contact], "vcard4")
        assert max(len(line) for line in out.split(b"\r\n")) <= 75
        for line in out.split(b"\r\n"):
            line.decode("utf-8")  # every physical line is valid UTF-8 on its own
        (back,) = read_bytes(out)
        assert back.fn == contact.fn.strip()

    def test_only_fields_present_are_written(self) -> None:
        """A minimised contact gives only VERSION, UID, FN, N and TEL."""
        out = write_bytes([Contact("x", 1, fn="Bea", phones=(Phone("+4915112345678"),))])
        names = [line.split(b":")[0].split(b";")[0] for line in out.split(b"\r\n") if line]
        assert names == [b"BEGIN", b"VERSION", b"UID", b"FN", b"N", b"TEL", b"END"]

    def test_unknown_format_is_rejected(self) -> None:
        """Only vcard3 and vcard4 are vCard output formats."""
        with pytest.raises(ValueError, match="vcard3"):
            write_bytes([self.ANNA], "vcard2")


def test_import_does_not_load_vobject() -> None:
    """Importing the vCard module leaves vobject unloaded, so --help starts fast."""
    code = "import sys, contactguard.books.vcard; print('vobject' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.vcf")))
def test_plain_line_shortcut_changes_nothing(name: str) -> None:
    """Passing clean lines through unrepaired gives the same contacts as repairing every line
    (the line reader without the light reader, so every card is repaired and parsed)."""
    data = (FIXTURES / name).read_bytes()

    def read(plain: bool) -> list[Contact]:
        chunks = vcard.lines.byte_chunks(io.BytesIO(data))
        return list(vcard.LineReader(None, plain=plain).read(chunks, name, None, 1, True))

    assert read(True) == read(False) == read_fixture(name)
