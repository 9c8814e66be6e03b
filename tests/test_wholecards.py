"""The whole-card reader (``WholeCardReader.read_segment``) against the line reader.

``vcard.read`` matches most cards whole with expressions built from the heads the line-by-line
reader has judged light, and hands everything else to that reader. These tests hold the two to
the same contacts, line numbers, errors and InputError messages: on every fixture, on the
benchmark's generated books, and on random books made of awkward lines, with the learnt heads
cleared and kept, and with the file cut into small segments.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.targets import Taken, read_taking, read_vcard, same_when_taking
from test_fastpath import FIELD_HINTS, VCARD_FILES, _make_book_module

from contactguard.books import ReadOptions, vcard
from contactguard.errors import ContactguardError
from contactguard.model import Contact

ROOT = Path(__file__).parent.parent


class _Cold:
    """The Reader the tests of this module read with."""

    reader = vcard.Reader()


@pytest.fixture(autouse=True)
def _cold() -> Iterator[None]:
    """Each test starts with a Reader that has learnt nothing."""
    _Cold.reader = vcard.Reader()
    yield


def _by_lines(data: bytes, fields: frozenset[str] | None) -> list[Contact] | str:
    return read_vcard(data, fields, whole=False, reader=_Cold.reader)


def _whole(data: bytes, fields: frozenset[str] | None) -> list[Contact] | str:
    return read_vcard(data, fields, whole=True, reader=_Cold.reader)


def _assert_same(data: bytes, fields: frozenset[str] | None) -> None:
    expected = _by_lines(data, fields)
    assert _whole(data, fields) == expected  # learning as it goes
    assert _whole(data, fields) == expected  # with what it learnt
    # the cards read whole offered to take
    assert same_when_taking(data, fields, reader=_Cold.reader)


def _whole_count(data: bytes, fields: frozenset[str] | None) -> int:
    """How many cards of ``data`` the whole-card expression reads (the rest go line by line):
    ``take`` is offered exactly those."""
    offered = 0

    def take(line: int, name: str, numbers: list[str]) -> bool:
        nonlocal offered
        offered += 1
        return False

    list(_Cold.reader.read(io.BytesIO(data), "book", ReadOptions(fields=fields), take=take))
    return offered


@pytest.mark.parametrize("path", VCARD_FILES, ids=lambda p: str(p.relative_to(ROOT)))
@pytest.mark.parametrize("fields", FIELD_HINTS, ids=["all-fields", "no-fields", "org-email"])
def test_fixture(path: Path, fields: frozenset[str] | None) -> None:
    _assert_same(path.read_bytes(), fields)


@pytest.mark.parametrize("fmt", ["vcard21", "vcard30", "vcard40"])
def test_generated_book(fmt: str) -> None:
    """The benchmark's books read the same, cut into segments of any size, and a 3.0 book
    almost all whole once its heads are learnt."""
    data = b"".join(_make_book_module().book_chunks(fmt, 600))
    _assert_same(data, frozenset())
    if fmt == "vcard30":
        assert _whole_count(data, frozenset()) > 550
    for segment in (1, 200, 4096):
        _Cold.reader.segment = segment
        _assert_same(data, frozenset())
        _assert_same(data.replace(b"\n", b"\r\n"), frozenset({"EMAIL"}))


# Lines a card may hold: plain ones the expressions take, and each thing the line-by-line
# reader treats differently (escapes, encodings, quoted parameters, lower case, folded lines,
# a folded line that ends the card, comments, blank lines, nested cards).
_LINES = [
    "VERSION:3.0", "VERSION:2.1", "PRODID:-//Apple Inc.//iPhone OS 17.4//EN", "REV:2024-01-01",
    "N:Weiß;Zoë;;;", "N:a;b;c;d;e", "N:a;b;c;d;e;f", "N:Doe\\,Jr;John", "n:klein;anna;;;",
    "N;CHARSET=UTF-8:Ost;Ute;;;", "N;LANGUAGE=de:Nord;Nina;;;",
    "FN:Zoë Weiß", "FN:", "FN:  Anna  ", "FN:Jo\\,hn", "FN:a;b", "fn:lower case",
    "FN;ENCODING=QUOTED-PRINTABLE:Z=C3=B6e", "FN;QUOTED-PRINTABLE:B=C3=BCro",
    "TEL;type=CELL;type=VOICE:0176 4461358", "TEL:+49 171 89537385", "TEL: 030 1234567 ",
    "TEL:", "tel;type=cell:0170 1234567", "TEL;TYPE=cell,voice:+44 7907 611250",
    "TEL;PREF=1:0521 9269475", "TEL;TYPE=\"cell\":0170 7654321", "TEL;VALUE=uri:tel:+4930123",
    "TEL;ENCODING=b:MDE3MA==", "TEL:0170\\,1", "TEL:0170;1", "TEL;X-FOO:0170 1112223",
    "item1.TEL;type=pref:+49 171 1234567", "item1.X-ABLabel:_$!<Mobile>!$_",
    "item1.X-ABLabel:Büro Nord", "item2.TEL:0176 8858054", "ITEM2.X-ABLABEL:Werkstatt",
    "item2.X-ABLabel:a\\b", "X-ABLabel:no group", "item3.X-ABLabel:_$!<HomeFAX>!$_",
    "UID:8c5f2187b75f0d06", "UID:", "UID:a,b", "uid:lower",
    "EMAIL;type=INTERNET:zoe@example.org", "EMAIL:a\\x@example.org", "EMAIL:a\\,b@example.org",
    "ORG:Bäckerei Sonnenschein;", "NOTE:Line one\\nline two", "NOTE:trailing \\",
    "TITLE:Chef", "ADR;TYPE=work:;;Hauptstr. 1;Berlin;;10115;DE", "BDAY:1990-01-01",
    "X-ANDROID-CUSTOM:vnd.android.cursor.item/nickname;Zo;1", "X-:empty x",
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD", " /9j/4AAQSkZJRgABAQ",
    "\tAAAQABAAD", " END:VCARD", " BEGIN:VCARD", "PHOTO;ENCODING=QUOTED-PRINTABLE:=41=42",
    "KEY:abc", "item4.LOGO;VALUE=uri:http://example.org/logo.png", "SOUND;TYPE=\"x\":y",
    "LABEL:Hauptstr. 1", "CATEGORIES:a,b", "", "   ", "garbage without colon", "# comment",
    ":no head", "TEL", "BEGIN:VCARD", "END:VCARD ", "end:vcard", "Begin:VCard",
    "\ufeffBEGIN:VCARD", "AGENT:BEGIN:VCARD", "N:Ünï;Cödé;;;", "FN:日本語 名前",
    "TEL;TYPE=\u212aEY:0170 1", "\u017fOUND:x",
]
_PLAIN = [line for line in _LINES[:26] if "\\" not in line]


def _random_book(rng: random.Random) -> bytes:
    cards = []
    for _ in range(rng.randint(0, 12)):
        pool = _LINES if rng.random() < 0.5 else _PLAIN
        body = [rng.choice(pool) for _ in range(rng.randint(0, 9))]
        end = rng.choice(["END:VCARD"] * 8 + ["", "END:VCARD ", "end:vcard"])
        between = rng.choice([""] * 6 + ["", "\n", "junk line", "\ufeff"])
        begin = rng.choice(["BEGIN:VCARD"] * 8 + ["begin:vcard", "\ufeffBEGIN:VCARD",
                                                   " BEGIN:VCARD", "BEGIN:VCARD "])
        cards.append("\n".join(filter(None, [between, begin, *body, end])))
    text = "\n".join(cards) + rng.choice(["\n", "", "\n\n"])
    eol = rng.choice(["\n", "\r\n", "\r\n", "\r"])
    data = text.replace("\n", eol).encode("utf-8")
    if rng.random() < 0.1 and data:
        at = rng.randrange(len(data))
        data = data[:at] + rng.choice([b"\xff", b"\r", b"\xc3", b"\r\r\n"]) + data[at:]
    return data


@pytest.mark.parametrize("seed", range(12))
def test_random_books(seed: int) -> None:
    rng = random.Random(seed)
    for round_ in range(60):
        data = _random_book(rng)
        fields = rng.choice(FIELD_HINTS)
        if round_ % 7 == 0:  # forget the heads now and then
            _Cold.reader = vcard.Reader()
        _Cold.reader.segment = rng.choice([1, 64, 1 << 19])
        expected = _by_lines(data, fields)
        assert _whole(data, fields) == expected, data


def test_awkward_lines_are_not_read_whole() -> None:
    """A card with a line the line-by-line reader does not read light is never matched whole,
    even after every light head was learnt."""
    plain = "BEGIN:VCARD\nVERSION:3.0\nN:Weiß;Zoë;;;\nFN:Zoë Weiß\nTEL:0176 4461358\nEND:VCARD\n"
    learnt = plain * 3
    photo = "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ\n /9j/4AAQ\n"
    for line in _LINES + [photo + line for line in _LINES]:
        card = plain.replace("FN:Zoë Weiß\n", f"FN:Zoë Weiß\n{line}\n")
        data = (learnt + card).encode("utf-8")
        _assert_same(data, frozenset())
        cards = list(vcard.lines.card_lines(io.BytesIO(card.encode()), "b"))
        if len(cards) != 1 or cards[0][2] is not None or cards[0][1] != card.split("\n")[1:-2]:
            continue  # a line that ends or begins a card
        if vcard.LightReader().card(cards[0][1], "b", 1, frozenset()) is None:
            assert _whole_count(data, frozenset()) == 3, line
        else:
            assert _whole_count(data, frozenset()) == 4, line


def test_limits_go_line_by_line() -> None:
    """Cards past _card_limits' thresholds (lines, size) are left to the line-by-line reader,
    which refuses or reads them as before."""
    tels = "".join(f"TEL:0170 {i:07d}\n" for i in range(150))
    many = f"BEGIN:VCARD\nFN:Many\n{tels}END:VCARD\n"
    photo = "PHOTO;ENCODING=b;TYPE=JPEG:" + "A" * 70_000
    big = f"BEGIN:VCARD\nFN:Big\n{photo}\nTEL:0170 1234567\nEND:VCARD\n"
    plain = "BEGIN:VCARD\nFN:Plain\nTEL:0170 7654321\nEND:VCARD\n"
    long_note = f"BEGIN:VCARD\nFN:Long\nNOTE:{'x' * 300_000}\nTEL:0170 1\nEND:VCARD\n"
    note = "BEGIN:VCARD\nFN:Note\nNOTE:short\nEND:VCARD\n"  # NOTE is a head met
    data = (note + plain + many + plain + big + plain + long_note + plain).encode()
    _assert_same(data, frozenset())
    contacts = _whole(data, frozenset())
    assert isinstance(contacts, list)
    assert [c.line for c in contacts] == [1, 5, 9, 162, 166, 171, 175, 180]
    assert contacts[2].error is not None and "150 TEL lines" in contacts[2].error
    assert contacts[4].error is None and contacts[4].phones[0].value == "0170 1234567"
    assert contacts[6].error is not None and "a text line longer than" in contacts[6].error


@pytest.mark.parametrize("data", [b"", b"\n\n", b"no vcard here\n", b"\xef\xbb\xbf\n",
                                  b"BEGIN:VCARD\nFN:x\n", b"END:VCARD\n"])
def test_errors_are_the_same(data: bytes) -> None:
    _assert_same(data, frozenset())


def test_apple_labels() -> None:
    """A group's X-ABLabel joins its TEL's types once, wherever the label line stands."""
    card = ("BEGIN:VCARD\nFN:Zoë\nitem1.X-ABLabel:_$!<Mobile>!$_\nitem1.TEL;type=mobile:0170 1\n"
            "item2.TEL;type=pref:0170 2\nitem2.X-ABLabel:Büro\nITEM3.TEL:0170 3\n"
            "item3.X-ABLabel:Büro\nEND:VCARD\n")
    data = (card * 3).encode()
    _assert_same(data, frozenset())
    assert _whole_count(data, frozenset()) == 3
    contact = _whole(data, frozenset())[0]
    assert isinstance(contact, Contact)
    assert [p.types for p in contact.phones] == [("mobile",), ("pref", "büro"), ("büro",)]


def test_take_is_offered_the_cards_read_whole() -> None:
    """``take`` gets each whole card's line, display name (from N when FN is empty) and non-empty
    numbers as written; a card it takes is not yielded, one it declines is, and a card read
    line by line (here the first, whose heads are new) is never offered."""
    cards = [
        "BEGIN:VCARD\nVERSION:3.0\nN:Weiß;Zoë;;Dr.;\nFN:\nTEL;type=CELL:0170 1234567\nTEL:\n"
        "END:VCARD\n",
        "BEGIN:VCARD\nVERSION:3.0\nN:Nguyen;Hakan;;;\nFN:Hakan N.\nTEL;type=CELL: +49 171 2 \n"
        "END:VCARD\n",
        "BEGIN:VCARD\nVERSION:3.0\nN:Rossi;Paul;;;\nFN:\nEND:VCARD\n",
    ]
    data = "".join(cards * 2).encode()
    result = read_taking(data, frozenset(), reader=_Cold.reader)
    assert result[0] == _by_lines(data, frozenset())[0]  # line by line: learning its heads
    assert [type(item) for item in result] == [Contact, Contact, Taken, Contact, Taken, Contact]
    assert result[2] == Taken(14, "Paul Rossi", ())
    assert result[4] == Taken(26, "Hakan N.", ("+49 171 2",))
    assert same_when_taking(data, frozenset(), reader=_Cold.reader)


def test_take_gets_the_first_n_and_the_first_fn_with_a_value() -> None:
    """As the Contact has them: the first N even when empty, the first FN that is not blank
    (take is offered TEL, FN and N values by an expression of its own)."""
    learn = "BEGIN:VCARD\nFN:A\nN:A;;;;\nTEL:1\nEND:VCARD\n"
    cards = [
        "BEGIN:VCARD\nN:\nN:Rossi;Paul;;;\nFN:\nTEL:0170 1\nTEL: \nEND:VCARD\n",
        "BEGIN:VCARD\nFN: \nFN:Bob\nN:Rossi;Paul;;;\nTEL:0170 2\nEND:VCARD\n",
        "BEGIN:VCARD\nFN:\nTEL:\nN:Rossi;Paul;;;\nEND:VCARD\n",  # empty values before N
    ]
    data = (learn + "".join(cards)).encode()
    taken: list[Taken] = []

    def take(line: int, name: str, numbers: list[str]) -> bool:
        taken.append(Taken(line, name, tuple(numbers)))
        return True

    options = ReadOptions(fields=frozenset())
    yielded = list(_Cold.reader.read(io.BytesIO(data), "book", options, take=take))
    assert [c.line for c in yielded] == [1]  # the first card, read line by line
    assert taken == [
        Taken(6, "", ("0170 1",)), Taken(13, "Bob", ("0170 2",)), Taken(19, "Paul Rossi", ()),
    ]
    assert same_when_taking(data, frozenset(), reader=_Cold.reader)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_large_photos(eol: bytes) -> None:
    """Cards larger than a segment are read whole or line by line as they come, and so is the
    rest of a file where no card starts for more than ``segment_cap`` bytes; chunk ends fall
    anywhere, also inside "BEGIN:VCARD"."""
    _Cold.reader = vcard.Reader(chunk=7, segment=4096, segment_cap=64 * 1024)
    plain = "BEGIN:VCARD\nN:Ost;Ute;;;\nFN:Ute Ost\nTEL:0170 7654321\nEND:VCARD\n"

    def photo(size: int) -> str:
        folded = "\n ".join("QUJD" * 18 for _ in range(size // 72))
        head = "BEGIN:VCARD\nFN:Photo\nPHOTO;ENCODING=b;TYPE=JPEG:"
        return f"{head}{folded}\nTEL:0170 1\nEND:VCARD\n"

    book = plain * 3 + photo(20_000) + plain * 3 + photo(100_000) + plain * 3
    data = book.encode().replace(b"\n", eol)
    _assert_same(data, frozenset())
    assert len(_whole(data, frozenset())) == 11
    assert _whole_count(data, frozenset()) >= 6  # up to the photo past the cap


def test_threads_share_what_was_learnt() -> None:
    """Books read in several threads at once (an MDM script) learn heads into the same tables
    without errors and read as one thread reads them."""
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(3)
    books = [_random_book(rng) for _ in range(40)]
    expected = [_by_lines(book, frozenset()) for book in books]
    _Cold.reader = vcard.Reader()
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda book: _whole(book, frozenset()), books * 5))
    assert got == expected * 5


@pytest.mark.parametrize("seed", range(4))
def test_read_segment_is_the_line_reader(seed: int) -> None:
    """The whole-card reader's entry, given a segment, yields the line reader's contacts (or
    raises its error) and returns how many lines the segment ends."""
    rng = random.Random(100 + seed)
    reader = _Cold.reader
    for _ in range(40):
        data = _random_book(rng)
        fields = rng.choice(FIELD_HINTS)
        got: list[Contact] = []
        try:
            segment = reader.whole.read_segment(data, "book", fields, 1, True)
            while True:
                got.append(next(segment))
        except StopIteration as stop:
            assert got == _by_lines(data, fields), data
            assert stop.value == vcard.lines.line_ends(data), data
        except ContactguardError as exc:
            assert str(exc) == _by_lines(data, fields), data
