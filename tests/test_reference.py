"""The readers' fast paths against reference mode (``fastpaths``): the same contacts out.

Reference mode (``CONTACTGUARD_REFERENCE=1`` or ``fastpaths.reference()``) reads every vCard
card through the repair step and vobject, takes the CSV reader's reference paths and sends every
number to phonenumbers. Hypothesis makes books in the shapes real exporters write — vCard 2.1
(Android, quoted-printable, bare types), 3.0 (Apple item groups and labels, Google, folded
photos), 4.0 (tel: URIs, quoted TYPE lists), Google, Outlook (English and German) and
Thunderbird CSV — and each is read both ways, whole and in pieces.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactguard import fastpaths, phones
from contactguard.books import ReadOptions, chunks, read_book, vcard, write_book
from contactguard.books import csv as books_csv
from contactguard.errors import ContactguardError
from contactguard.model import Contact, Phone

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FIELDS = st.sampled_from([None, frozenset(), frozenset({"ORG", "EMAIL"})])

_given = st.sampled_from(["Anna", "Zoë", "Jürgen", "Hakan", "Małgorzata", "李", "O'Neil", ""])
_family = st.sampled_from(
    ["Beispiel", "Weiß", "Nguyen", "Rossi", "Doe, Jr", "Müller-Lüdenscheid", ""]
)
_number = st.sampled_from([
    "+49 170 1234567", "0170 1234567", "+49 (0) 30 1234567", "0049 171 2345678", "030/123456",
    "+44 7907 611250", "+1 (415) 555-2671", "+52 1 55 1234 5678", "+7 912 345-67-89",
    "+49-170-12", "n/a", "", " +49 151 23456789 ", "tel:+49-30-1234567;ext=12", "0800 3301000",
])
_types_21 = st.sampled_from(["", ";CELL", ";HOME", ";WORK;VOICE", ";CELL;PREF", ";X-CUSTOM"])
_types_30 = st.sampled_from([
    "", ";type=CELL", ";TYPE=cell,voice", ";type=CELL;type=VOICE;type=pref", ";TYPE=HOME",
    ";TYPE=\"cell\"", ";PREF=1",
])
_label = st.sampled_from(["_$!<Mobile>!$_", "_$!<Home>!$_", "Büro", "Werkstatt", "a\\b"])
_extra = st.sampled_from([
    "EMAIL;TYPE=INTERNET:anna@example.org", "ORG:Bäckerei Sonnenschein;Verkauf",
    "NOTE:Line one\\nline two", "NOTE:Komma, unescaped", "TITLE:Chef", "BDAY:1990-01-01",
    "ADR;TYPE=work:;;Hauptstr. 1;Berlin;;10115;DE", "URL:https\\://example.org",
    "X-ANDROID-CUSTOM:vnd.android.cursor.item/nickname;Zo;1", "CATEGORIES:a,b",
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD\n /9j/4AAQSkZJRgABAQ\n AAAQABAAD",
    "REV:2024-01-01T00:00:00Z", "PRODID:-//Apple Inc.//iPhone OS 17.4//EN",
])


@st.composite
def vcard_books(draw: st.DrawFn) -> bytes:
    """A vCard book of one exporter's version: 2.1, 3.0 or 4.0 cards in their real shapes."""
    version = draw(st.sampled_from(["2.1", "3.0", "4.0"]))
    cards = []
    for index in range(draw(st.integers(1, 8))):
        given, family = draw(_given), draw(_family)
        lines = ["BEGIN:VCARD", f"VERSION:{version}"]
        if version == "2.1" and draw(st.booleans()):
            encoded = "".join(f"={b:02X}" for b in f"{family};{given};;;".encode())
            lines.append(f"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:{encoded}")
        else:
            lines.append(f"N:{family.replace(',', chr(92) + ',')};{given};;;")
        if draw(st.booleans()):
            lines.append(f"FN:{given} {family}".replace(",", "\\,"))
        for slot in range(draw(st.integers(0, 3))):
            number = draw(_number)
            if version == "2.1":
                lines.append(f"TEL{draw(_types_21)}:{number}")
            elif version == "3.0" and draw(st.booleans()):
                lines.append(f"item{slot + 1}.TEL{draw(_types_30)}:{number}")
                lines.append(f"item{slot + 1}.X-ABLabel:{draw(_label)}")
            elif version == "4.0":
                uri = "tel:" + number.replace(" ", "-") if number else number
                lines.append(f'TEL;VALUE=uri;TYPE="cell,voice":{uri}')
            else:
                lines.append(f"TEL{draw(_types_30)}:{number}")
        lines += draw(st.lists(_extra, max_size=3))
        if draw(st.booleans()):
            lines.append(f"UID:urn:uuid:4fbe8971-0bc3-424c-9c26-{index:012d}")
        lines.append("END:VCARD")
        cards.append("\n".join(lines))
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    return ("\n".join(cards) + "\n").replace("\n", eol).encode("utf-8")


_CSV_SHAPES = {
    "google": (
        ",", "utf-8",
        ["Name", "Given Name", "Family Name", "Organization 1 - Name", "E-mail 1 - Type",
         "E-mail 1 - Value", "Phone 1 - Type", "Phone 1 - Value", "Phone 2 - Type",
         "Phone 2 - Value"],
    ),
    "outlook": (
        ",", "utf-8",
        ["Title", "First Name", "Middle Name", "Last Name", "Suffix", "Company",
         "Business Phone", "Home Phone", "Mobile Phone", "E-mail Address", "Notes"],
    ),
    "outlook-de": (
        ";", "cp1252",
        ["Vorname", "Nachname", "Firma", "Telefon geschäftlich", "Mobiltelefon",
         "Fax geschäftlich", "Notizen"],
    ),
    "thunderbird": (
        ",", "utf-8",
        ["First Name", "Last Name", "Display Name", "Nickname", "Primary Email", "Work Phone",
         "Home Phone", "Mobile Number", "Organization", "Notes", ""],
    ),
}
_cell = st.sampled_from(["", "Anna", "Weiß", "Bäckerei", "* Mobile", "Work", "Home Fax",
                         "+49 170 1234567 ::: +49 171 7654321", "'=1+2", "line one\nline two",
                         "a, b", 'say "hi"', "0170 1234567", "+44 7907 611250"])


@st.composite
def csv_books(draw: st.DrawFn) -> bytes:
    """A CSV book in one exporter's shape (delimiter, encoding, header), rows of any cells."""
    shape = draw(st.sampled_from(sorted(_CSV_SHAPES)))
    delimiter, encoding, header = _CSV_SHAPES[shape]
    rows = [header]
    for _ in range(draw(st.integers(1, 12))):
        width = len(header) - draw(st.sampled_from([0, 0, 0, 1]))  # a short row now and then
        rows.append([draw(_cell) for _ in range(width)])
    out = io.StringIO()
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    writer = csv.writer(out, delimiter=delimiter, lineterminator=eol)
    writer.writerows(rows)
    return out.getvalue().encode(encoding, errors="replace")


def _wanted(contacts: list[Contact], fields: frozenset[str] | None) -> list[Contact]:
    """The contacts with only the fields the caller asked for (a reader may drop the rest)."""
    if fields is None:
        return contacts
    return [replace(c, fields=tuple(f for f in c.fields if f.name in fields)) for c in contacts]


def _read(data: bytes, fields: frozenset[str] | None, fmt: str | None) -> list[Contact] | str:
    """The book's contacts (only the wanted fields), or the message of its error."""
    try:
        options = ReadOptions(input_format=fmt, fields=fields)
        return _wanted(list(read_book(io.BytesIO(data), options, name="book")), fields)
    except ContactguardError as exc:
        return str(exc)


def _pieces(path: Path, fields: frozenset[str] | None, size: int) -> list[Contact] | str | None:
    """The book read in pieces as the pipeline reads them (a piece that fails to read: the
    rest in one piece), or None when it would not be cut."""
    options = ReadOptions(fields=fields)
    plan = chunks.plan(path, "book", options, size)
    if plan is None:
        return None
    contacts: list[Contact] = []
    try:
        for cut in replace(plan, min_chunk=1).chunks():
            try:
                contacts += chunks.read_chunk(plan, cut, options)
            except ContactguardError:
                rest = chunks.Chunk(cut.start, None, cut.first_line, True)
                contacts += chunks.read_chunk(plan, rest, options)
                break
    except ContactguardError as exc:
        return str(exc)
    return _wanted(contacts, fields)


@SETTINGS
@given(book=vcard_books(), fields=FIELDS)
def test_vcard_tiers_read_what_vobject_reads(book: bytes, fields: frozenset[str] | None) -> None:
    """The whole-card, light and line readers give the contacts reference mode gives."""
    fast = vcard.Reader(segment=_segment_for(book))
    options = ReadOptions(fields=fields)
    got = _wanted(list(fast.read(io.BytesIO(book), "book", options)), fields)
    assert _wanted(list(fast.read(io.BytesIO(book), "book", options)), fields) == got  # learnt
    with fastpaths.reference():
        expected = _read(book, fields, "vcard")
    assert got == expected


def _segment_for(book: bytes) -> int:
    """A segment size that cuts this book into a few segments (and sometimes none)."""
    return max(len(book) // 3, 1)


@SETTINGS
@given(book=csv_books(), fields=FIELDS)
def test_csv_reader_reads_what_its_reference_reads(
    book: bytes, fields: frozenset[str] | None
) -> None:
    """The CSV reader's fast paths (one column per name part, splitlines) change nothing."""
    got = _read(book, fields, "csv")
    with fastpaths.reference():
        assert _read(book, fields, "csv") == got


@SETTINGS
@given(book=st.one_of(vcard_books(), csv_books()), fields=FIELDS, size=st.integers(1, 400))
def test_pieces_read_what_reference_mode_reads_whole(
    tmp_path_factory: pytest.TempPathFactory, book: bytes, fields: frozenset[str] | None,
    size: int,
) -> None:
    """A book cut into pieces for workers (fast readers) gives what one reference read gives."""
    path = tmp_path_factory.mktemp("pieces") / "book"
    path.write_bytes(book)
    got = _pieces(path, fields, size)
    if got is None:
        return  # read whole by the pipeline
    with fastpaths.reference():
        assert got == _read(book, fields, None)


def test_reference_mode_reads_no_card_light() -> None:
    """In reference mode the Reader learns no heads and takes nothing whole: every card went
    through vobject; out of it, the same book is read light and whole."""
    book = b"BEGIN:VCARD\nVERSION:3.0\nFN:Anna\nTEL:0170 1234567\nEND:VCARD\n" * 3
    reader = vcard.Reader()
    offered: list[int] = []

    def take(line: int, name: str, numbers: list[str]) -> bool:
        offered.append(line)
        return False

    options = ReadOptions(fields=frozenset())
    with fastpaths.reference():
        reference = list(reader.read(io.BytesIO(book), "b", options, take=take))
    assert reader.light.kinds(frozenset()) == {} and offered == []
    assert list(reader.read(io.BytesIO(book), "b", options, take=take)) == reference
    assert reader.light.kinds(frozenset()) != {} and offered == [6, 11]


def test_reference_mode_sends_every_number_to_phonenumbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Plain spellings skip phonenumbers on the fast path; in reference mode none does, and
    the answers are the same."""
    calls: list[str] = []
    real = phonenumbers.parse

    def counting(text: str, *args: object, **kwargs: object) -> phonenumbers.PhoneNumber:
        calls.append(text)
        return real(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(phonenumbers, "parse", counting)
    spellings = ["+49 170 1234567", "0170 7654321", "030 12345678", "+44 7907 611250"]
    phones.normalize(spellings[0], "DE")  # the fast path is built (and checked) once
    calls.clear()
    fast = [phones.normalize(s, "DE") for s in spellings]
    assert len(calls) < len(spellings)
    calls.clear()
    with fastpaths.reference():
        assert [phones.normalize(s, "DE") for s in spellings] == fast
        assert len(calls) >= len(spellings)
        assert [phones.normalizer("DE")(s) for s in spellings] == fast


def test_reference_mode_csv_plan_joins_name_parts() -> None:
    """In reference mode the CSV plan reads name parts by the general join, not by index."""
    header = ["Given Name", "Family Name", "Phone 1 - Value"]
    plan = books_csv.columns.Plan.from_header(header, ReadOptions(), "b", 1)
    assert plan.name_cells
    with fastpaths.reference():
        assert not books_csv.columns.Plan.from_header(header, ReadOptions(), "b", 1).name_cells


def test_reference_mode_writes_through_vobject() -> None:
    """The vCard writer's plain path and vobject write the same bytes; the environment
    variable reaches a new process (as the benchmark's full parse uses it)."""
    contacts = [Contact("b", 1, fn="Anna Beispiel", n=("Beispiel", "Anna", "", "", ""),
                        uid="u1", phones=(Phone("+49 170 1234567", ("cell",)),))]
    fast, slow = io.BytesIO(), io.BytesIO()
    write_book(contacts, fast)
    with fastpaths.reference():
        write_book(contacts, slow)
    assert fast.getvalue() == slow.getvalue()
    code = "from contactguard import fastpaths; print(fastpaths.enabled())"
    env = {**os.environ, fastpaths.ENVIRONMENT: "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
