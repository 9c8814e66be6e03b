"""Differential tests: the fast paths give exactly what the full parsers give (issue 5)."""

from __future__ import annotations

import importlib.util
import io
import random
import sys
from dataclasses import replace
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from contactguard import phones
from contactguard.books.vcard import _build, _card_lines, _light_card, parse_card
from contactguard.model import Contact

TESTS = Path(__file__).parent
ROOT = TESTS.parent
VCARD_FILES = sorted(
    {*TESTS.rglob("*.vcf"), *(ROOT / "samples").glob("*.vcf")}, key=lambda p: str(p)
)
FIELD_HINTS = [None, frozenset(), frozenset({"ORG", "EMAIL"})]


def _make_book_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_book", ROOT / "benchmarks" / "make_book.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_book", module)
    spec.loader.exec_module(module)
    return module


def _compare(data: bytes, fields: frozenset[str] | None) -> tuple[int, list[str]]:
    """(cards read light, mismatches) of every card of a file."""
    light, mismatches = 0, []
    for line, body, error in _card_lines(io.BytesIO(data), "book.vcf"):
        full = parse_card(_build("book.vcf", line, body, error))
        if error is not None:
            continue
        fast = _light_card(body, "book.vcf", line, fields)
        if fast is None:
            continue
        light += 1
        wanted = tuple(f for f in full.fields if fields is None or f.name in fields)
        if fast != replace(full, fields=wanted):
            mismatches.append(f"line {line}: {fast!r} != {full!r}")
    return light, mismatches


class TestLightCards:
    @pytest.mark.parametrize("path", VCARD_FILES, ids=lambda p: str(p.relative_to(ROOT)))
    @pytest.mark.parametrize("fields", FIELD_HINTS, ids=["all-fields", "no-fields", "org-email"])
    def test_fixture(self, path: Path, fields: frozenset[str] | None) -> None:
        """Every card the fast path reads is the Contact vobject's parse gives (wanted fields)."""
        _light, mismatches = _compare(path.read_bytes(), fields)
        assert mismatches == []

    @pytest.mark.parametrize("fmt", ["vcard21", "vcard30", "vcard40"])
    def test_generated_book(self, fmt: str) -> None:
        """The benchmark's generated books read the same, and mostly without vobject."""
        make_book = _make_book_module()
        data = b"".join(make_book.book_chunks(fmt, 400))
        light, mismatches = _compare(data, frozenset())
        assert mismatches == []
        assert light > 200

    def test_unusual_cards_fall_back(self) -> None:
        """Escapes, encodings, quoted parameters and wanted fields go to the full parser."""
        cards = [
            b"FN:Doe\\, John",
            b"FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller",
            b'TEL;TYPE="cell,voice":+49 170 1234567',
            b"TEL;QUOTED-PRINTABLE:+49 170 1234567",
            b"FN:Anna\n NOTE",
            b"GEO:1;2",
        ]
        for prop in cards:
            assert _light_card(prop.split(b"\n"), "b", 1, frozenset()) is None, prop
        assert _light_card([b"ORG:Firma"], "b", 1, frozenset({"ORG"})) is None
        assert _light_card([b"ORG:Firma"], "b", 1, None) is None
        assert _light_card([b"ORG:Firma"], "b", 1, frozenset()) == Contact("b", 1)


def _example_spellings() -> list[tuple[str, str | None]]:
    rng = random.Random(5)
    found: list[tuple[str, str | None]] = []
    kinds = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for attempt in range(3):
                number = phonenumbers.PhoneNumber()
                number.merge_from(example)
                if attempt:  # a changed digit, a missing or an extra one: often invalid
                    digits = str(example.national_number)
                    i = rng.randrange(len(digits))
                    digits = digits[:i] + str(rng.randrange(10)) + digits[i + 1 :]
                    digits = digits[:-1] if attempt == 2 else digits + "5"
                    number.national_number = int(digits)
                for fmt in (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL,
                            PhoneNumberFormat.NATIONAL):
                    text = phonenumbers.format_number(number, fmt)
                    found += [(text, region), (text, "DE"), (text, None)]
    return found


def _random_spellings(count: int) -> list[tuple[str, str | None]]:
    rng = random.Random(1)
    codes = [str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE]
    regions = ["DE", "AT", "CH", "US", "GB", "FR", "IT", "BR", "MX", "AR", "IN", "RU", None]
    heads = ["", "0", "+0", "00", "+", "011"]
    found = []
    for _ in range(count):
        head = rng.choice(heads)
        if head in ("+", "00", "011"):
            head += rng.choice(codes)
        text = head
        for _digit in range(rng.randint(1, 14)):
            if rng.random() < 0.2:
                text += rng.choice([" ", "-", "/", ".", "(", ")", " (0)"])
            text += rng.choice("0123456789")
        found.append((text.strip(), rng.choice(regions)))
    return found


class TestFastNumbers:
    def test_examples_of_every_region(self) -> None:
        """For phonenumbers' example numbers of every region (and near misses) in E.164,
        international and national spelling, the fast path equals phonenumbers."""
        mismatches = [
            (text, region)
            for text, region in _example_spellings()
            if (fast := phones._fast_normalize(text, region)) is not phones._UNSURE
            and fast != phones._slow_normalize(text, region)
        ]
        assert mismatches == []

    def test_random_spellings(self) -> None:
        """Random digits, separators, prefixes and regions: the fast path equals phonenumbers."""
        checked, mismatches = 0, []
        for text, region in _random_spellings(20_000):
            if not text:
                continue
            fast = phones._fast_normalize(text, region)
            if fast is phones._UNSURE:
                continue
            checked += 1
            if fast != phones._slow_normalize(text, region):
                mismatches.append((text, region))
        assert mismatches == []
        assert checked > 5_000

    def test_unusual_spellings_are_left_to_phonenumbers(self) -> None:
        """Letters, extensions, tel: URIs and shared country codes take the full path."""
        for text in ("0800 FLOWERS", "030 1234567 ext. 12", "tel:+49-30-1234567",
                     "+1 415 555 0123", "+44 20 7946 0958"):
            assert phones._fast_normalize(text, "DE") is phones._UNSURE
