"""Format sniffing and dispatch in contactguard.books: which reader gets a book; clear errors."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from contactguard import books
from contactguard.books import ReadOptions, read_book, sniff, write_book
from contactguard.errors import InputError
from contactguard.model import Contact, Take

VCARD = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna Beispiel\r\nTEL:+49 170 1234567\r\nEND:VCARD\r\n"
CSV = b"Name,Phone\r\nAnna Beispiel,+49 170 1234567\r\n"


@pytest.fixture
def fake_vcard(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Replace the vCard reader by one that records what it was given (the format is tested
    in its own module; here only the dispatch matters)."""
    seen: list[bytes] = []

    def read(
        stream: BinaryIO, source: str, options: ReadOptions, *, take: Take | None = None
    ) -> Iterator[Contact]:
        seen.append(stream.read())
        yield Contact(source=source, line=1, fn="from vcard")

    monkeypatch.setitem(books.READERS, "vcard", read)
    return seen


class TestSniff:
    @pytest.mark.parametrize(
        ("head", "expected"),
        [
            (VCARD, "vcard"),
            (b"\xef\xbb\xbf" + VCARD, "vcard"),
            (b"\r\n\r\nbegin:vcard\nversion:2.1\n", "vcard"),
            ("BEGIN:VCARD\r\n".encode("utf-16"), "vcard"),
            (CSV, "csv"),
            (b"Vorname;Nachname;Mobiltelefon\r\n", "csv"),
            (b"Name\tMobile\n", "csv"),
            ("Vorname;Telefon geschäftlich\r\n".encode("utf-16"), "csv"),
            ("Vorname;Telefon geschäftlich\r\n".encode("cp1252"), "csv"),
            (b"just some text\n", None),
            (b"\x00\x01\x02\x7f\n", None),
        ],
        ids=[
            "vcard",
            "vcard-bom",
            "vcard-lowercase-leading-blank",
            "vcard-utf16",
            "csv-comma",
            "csv-semicolon",
            "csv-tab",
            "csv-utf16",
            "csv-cp1252",
            "text",
            "binary",
        ],
    )
    def test_sniff(self, head: bytes, expected: str | None) -> None:
        """The format is told from the first bytes alone, whatever the encoding."""
        assert sniff(head) == expected


class TestDispatch:
    def test_vcard_goes_to_the_vcard_reader(self, fake_vcard: list[bytes]) -> None:
        """A vCard is handed to the vCard reader with all of its bytes, head included."""
        contacts = list(read_book(io.BytesIO(VCARD), name="book.vcf"))
        assert [(c.source, c.fn) for c in contacts] == [("book.vcf", "from vcard")]
        assert fake_vcard == [VCARD]

    def test_csv_goes_to_the_csv_reader(self, fake_vcard: list[bytes]) -> None:
        """A CSV is handed to the CSV reader, not the vCard one."""
        (contact,) = read_book(io.BytesIO(CSV), name="book.csv")
        assert (contact.source, contact.fn) == ("book.csv", "Anna Beispiel")
        assert fake_vcard == []

    def test_input_format_overrides_sniffing(self, fake_vcard: list[bytes]) -> None:
        """--input-format reads a file the sniffer cannot place (a one-column CSV)."""
        data = b"Phone\n+49 170 1234567\n"
        with pytest.raises(InputError, match="--input-format"):
            list(read_book(io.BytesIO(data), name="numbers.txt"))
        (contact,) = read_book(io.BytesIO(data), ReadOptions(input_format="csv"), name="n.txt")
        assert contact.phones[0].value == "+49 170 1234567"

    def test_input_format_wins_over_content(self, fake_vcard: list[bytes]) -> None:
        """An explicit --input-format is obeyed even when the content looks like another format."""
        list(read_book(io.BytesIO(CSV), ReadOptions(input_format="vcard"), name="x"))
        assert fake_vcard == [CSV]

    def test_unknown_input_format(self) -> None:
        """An unknown --input-format value is an InputError, not a KeyError."""
        with pytest.raises(InputError, match="unknown input format"):
            list(read_book(io.BytesIO(CSV), ReadOptions(input_format="ldif"), name="x"))

    def test_file_path(self, tmp_path: Path) -> None:
        """A path is opened, read and reported as given."""
        path = tmp_path / "book.csv"
        path.write_bytes(CSV)
        (contact,) = read_book(path)
        assert contact.where == f"{path}:2"

    def test_stream_without_a_name(self) -> None:
        """A file object without a name is reported as <stream>."""
        (contact,) = read_book(io.BytesIO(CSV))
        assert contact.source == "<stream>"

    def test_dash_reads_standard_input(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """ "-" reads standard input (a pipe: no seeking) and is reported as "-"."""

        class Stdin:
            buffer = io.BytesIO(CSV)

        monkeypatch.setattr(sys, "stdin", Stdin())
        (contact,) = read_book("-")
        assert (contact.source, contact.line, contact.fn) == ("-", 2, "Anna Beispiel")


class TestErrors:
    @pytest.mark.parametrize(
        "data",
        [b"", b"\r\n \n", b"\xef\xbb\xbf", b"\xff\xfe"],
        ids=["empty", "blank-lines", "utf8-bom-only", "utf16-bom-only"],
    )
    def test_empty_file(self, tmp_path: Path, data: bytes) -> None:
        """An empty file is an InputError naming the file."""
        path = tmp_path / "empty.csv"
        path.write_bytes(data)
        with pytest.raises(InputError, match="empty") as caught:
            list(read_book(path))
        assert caught.value.file == str(path)

    def test_garbage(self, tmp_path: Path) -> None:
        """A file that is no address book is an InputError naming the file and the flag to try."""
        path = tmp_path / "photo.jpg"
        path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01")
        with pytest.raises(InputError, match=r"not an address book.*--input-format") as caught:
            list(read_book(path))
        assert caught.value.file == str(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is an InputError naming the file."""
        path = tmp_path / "nope.vcf"
        with pytest.raises(InputError, match="no such file") as caught:
            list(read_book(path))
        assert caught.value.file == str(path)

    def test_folder(self, tmp_path: Path) -> None:
        """A folder given as a book is an InputError, not an IsADirectoryError."""
        with pytest.raises(InputError, match="folder"):
            list(read_book(tmp_path))

    def test_unknown_output_format(self) -> None:
        """Writing an unknown format is refused before anything is written."""
        out = io.BytesIO()
        with pytest.raises(ValueError, match="vcard3, vcard4, csv"):
            write_book([], out, "xlsx")
        assert out.getvalue() == b""
