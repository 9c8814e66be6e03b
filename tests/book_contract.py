"""Generic expectations every address-book reader meets (vdirsyncer-style contract tests).

A format's test module subclasses ``BookReaderContract`` and supplies ``FORMAT`` and two small
books as bytes: ``ONE_CONTACT`` (one contact named Anna Beispiel with the number +49 170 1234567)
and ``TWO_CONTACTS`` (two contacts, each with at least one number).
"""

from __future__ import annotations

import io

import pytest

from contactguard.books import ReadOptions, read_book
from contactguard.errors import InputError


class BookReaderContract:
    FORMAT: str
    ONE_CONTACT: bytes
    TWO_CONTACTS: bytes

    def read(self, data: bytes, sniff: bool = True) -> list:
        options = ReadOptions(input_format=None if sniff else self.FORMAT)
        return list(read_book(io.BytesIO(data), options, name="book"))

    def test_sniffed(self) -> None:
        """The format is recognised from the content alone."""
        assert len(self.read(self.ONE_CONTACT, sniff=True)) == 1

    def test_one_contact_name_and_number(self) -> None:
        """The name and the number of a simple contact are read."""
        (contact,) = self.read(self.ONE_CONTACT)
        assert contact.display_name == "Anna Beispiel"
        digits = ["".join(ch for ch in p.value if ch.isdigit()) for p in contact.phones]
        assert any(d.endswith("1701234567") for d in digits)

    def test_provenance_on_every_contact(self) -> None:
        """Every contact remembers its source and the line it starts on, in input order."""
        contacts = self.read(self.TWO_CONTACTS)
        assert len(contacts) == 2
        assert all(c.source == "book" for c in contacts)
        assert contacts[0].line < contacts[1].line

    def test_utf8_bom(self) -> None:
        """A UTF-8 byte-order mark in front of the file changes nothing."""
        assert self.read(b"\xef\xbb\xbf" + self.ONE_CONTACT) == self.read(self.ONE_CONTACT)

    def test_crlf_and_lf_read_alike(self) -> None:
        """CRLF and LF line endings give the same contacts."""
        lf = self.ONE_CONTACT.replace(b"\r\n", b"\n")
        crlf = lf.replace(b"\n", b"\r\n")
        strip = lambda cs: [(c.display_name, c.phones) for c in cs]  # noqa: E731
        assert strip(self.read(lf)) == strip(self.read(crlf))

    def test_empty_input_is_a_clear_error(self) -> None:
        """An empty file is an InputError naming the file, not an empty book."""
        with pytest.raises(InputError, match="book"):
            self.read(b"")

    def test_garbage_is_a_clear_error(self) -> None:
        """Bytes that are no address book give an InputError, never a traceback."""
        with pytest.raises(InputError):
            self.read(b"\x00\x01\x02 this is not an address book \x7f\n")
