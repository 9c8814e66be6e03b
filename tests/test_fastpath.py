"""Differential tests: the fast paths give exactly what the full parsers give."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import random
import sys
from collections.abc import Iterable
from dataclasses import fields, replace
from datetime import datetime, timezone
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from contactguard import model, phones, report
from contactguard.books import ReadOptions, read_book, vcard
from contactguard.books.vcard import LightReader, parse_card
from contactguard.books.vcard.lines import build, card_lines
from contactguard.evidence import Evidence
from contactguard.model import Contact, EvidenceRecord, Reason
from contactguard.policy import Policy, decide, normalize_numbers, quick_decision

TESTS = Path(__file__).parent
ROOT = TESTS.parent
VCARD_FILES = sorted(
    {*TESTS.rglob("*.vcf"), *(ROOT / "samples").glob("*.vcf")}, key=lambda p: str(p)
)
FIELD_HINTS = [None, frozenset(), frozenset({"ORG", "EMAIL"})]
_LIGHT = LightReader()


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
    for line, body, error in card_lines(io.BytesIO(data), "book.vcf"):
        full = parse_card(build("book.vcf", line, body, error, plain=False))
        if error is not None:
            continue
        fast = _LIGHT.card(body, "book.vcf", line, fields)
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
            assert _LIGHT.card(prop.split(b"\n"), "b", 1, frozenset()) is None, prop
        assert _LIGHT.card([b"ORG:Firma"], "b", 1, frozenset({"ORG"})) is None
        assert _LIGHT.card([b"ORG:Firma"], "b", 1, None) is None
        assert _LIGHT.card([b"ORG:Firma"], "b", 1, frozenset()) == Contact("b", 1)


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


def _differ(
    spellings: Iterable[tuple[str, str | None]],
) -> tuple[int, list[tuple[str, str | None]]]:
    """How many spellings the fast path was sure of, and those where it disagrees with
    phonenumbers."""
    checked, mismatches = 0, []
    for text, region in spellings:
        fast = phones._fast_normalize(text, region)
        if fast is phones._UNSURE:
            continue
        checked += 1
        if fast != phones._slow_normalize(text, region):
            mismatches.append((text, region))
    return checked, mismatches


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
        checked, mismatches = _differ((t, r) for t, r in _random_spellings(20_000) if t)
        assert mismatches == []
        assert checked > 5_000

    def test_tel_uris_and_shared_country_codes(self) -> None:
        """tel: URIs of global numbers and numbers of shared country codes (+1, +44, +7, ...)
        read fast equal phonenumbers, spelt as examples of every region and at random."""
        rng = random.Random(3)
        shared = [str(code) for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
                  if len(regions) > 1]
        spellings = [(text, region) for text, region in _example_spellings()
                     if text.startswith("+")]
        spellings += [(f"+{rng.choice(shared)} {rng.randrange(10**(n - 1), 10**n)}",
                       rng.choice(["DE", "US", None]))
                      for n in (rng.randint(3, 13) for _ in range(20_000))]
        spellings += [("tel:" + text.replace(" ", rng.choice(["-", "", "."])), region)
                      for text, region in spellings[::3]]
        checked, mismatches = _differ(spellings)
        assert mismatches == []
        assert checked > 10_000

    def test_unusual_spellings_are_left_to_phonenumbers(self) -> None:
        """Letters, extensions, tel: URIs with parameters and non-geographic codes take the
        full path."""
        for text in ("0800 FLOWERS", "030 1234567 ext. 12", "tel:+49-30-1234567;ext=1",
                     "tel:030-1234567", "+800 1234 5678"):
            assert phones._fast_normalize(text, "DE") is phones._UNSURE


class TestFastPipeline:
    def test_constructors_equal_the_classes(self) -> None:
        """The fast constructors fill every field and equal the dataclasses' own __init__."""
        phone = model.new_phone("+49 170", ("cell",))
        contact = model.new_contact("b", 3, "Anna", ("A", "", "", "", ""), "u", (phone,), (), None)
        number = model.new_number_decision("0170", "+49170", False, Reason.NO_EVIDENCE, ("l:2",))
        decision = model.new_decision(contact, False, Reason.NO_EVIDENCE, (number,), None, "x", "d")
        assert phone == model.Phone("+49 170", ("cell",))
        assert contact == Contact("b", 3, "Anna", ("A", "", "", "", ""), "u", (phone,), (), None)
        assert number == model.NumberDecision("0170", "+49170", False, Reason.NO_EVIDENCE, ("l:2",))
        expected = model.Decision(contact, False, Reason.NO_EVIDENCE, (number,), None, "x", "d")
        assert decision == expected
        for built in (phone, contact, number, decision):
            assert [f.name for f in fields(built)] == list(type(built).__slots__)
            assert all(hasattr(built, f.name) for f in fields(built))

    def test_report_entries(self) -> None:
        """Every report entry written from templates is json.dumps of contact_entry."""
        names = ["Anna", 'Quote " and \\ back', "Zoë \u2028 \x01", ""]
        numbers = [
            model.NumberDecision("0170 1234567", "+491701234567", kept, reason, sources)
            for kept in (True, False)
            for reason in Reason
            for sources in ((), ("ledger.csv:2", 'chat "x".txt'))
        ] + [model.NumberDecision("n/a ²", None, False, Reason.INVALID_NUMBER)]
        # stripped E.164 numbers of every length of country code, short and long (the inline
        # mask), and one that is not "+digits"
        numbers += [
            model.NumberDecision(e164, e164, False, Reason.NO_EVIDENCE)
            for e164 in ("+4930123", "+49301234", "+12025550143", "+1202", "+88612345678",
                         "+8861234", "+35312345", "+9991234567", "+49 30 1234567", "+४९३०१२३४५६")
        ]
        for e164 in numbers[-10:]:
            decision = model.Decision(Contact("a.vcf", 1), False, Reason.NO_EVIDENCE, (e164,))
            assert report.entry_json(decision) == json.dumps(
                report.contact_entry(decision), ensure_ascii=False
            )
        for i, name in enumerate(names):
            contact = Contact("bücher/a.vcf", i + 1, fn=name)
            for count in range(4):
                chosen = tuple(numbers[i + count * 7 : i + count * 7 + count])
                for merged, detail in ((None, ""), ("a.vcf:3", 'a "detail"\n')):
                    decision = model.Decision(contact, bool(count % 2), Reason.NO_EVIDENCE,
                                              chosen, merged_into=merged, detail=detail)
                    assert report.entry_json(decision) == json.dumps(
                        report.contact_entry(decision), ensure_ascii=False
                    )

    def test_mask(self) -> None:
        """The E.164 shortcut of mask() gives what the country code split gives."""
        rng = random.Random(7)
        for _ in range(20_000):
            number = "+" + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 16)))
            digits = number[1:]
            split = phones._split_country_code(digits)
            if split is not None:
                code, national = split
                shown = 5 if len(national) > 5 else 2
                hidden = "*" * max(len(national) - shown, 0)
                head = national[:3] if len(national) > 5 else ""
                assert phones.mask(number) == f"+{code}{head}{hidden}{national[-2:]}", number

    def test_mask_of_text(self) -> None:
        """The ASCII shortcut of mask() for numbers that are not E.164 gives what the general
        character loop gives."""
        rng = random.Random(8)
        pool = "0123456789 +-/().extn a"
        for _ in range(20_000):
            text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 24)))
            if text.startswith("+") and text[1:].isdigit():
                continue  # E.164: test_mask
            assert phones.mask(text) == phones._mask_text(text), text
        for text in ["", "1", "12", "a1b", "n/a", "030 1234567 ext. 12", "١٢٣٤٥", "²³4"]:
            assert phones.mask(text) == phones._mask_text(text), text

    def test_evidence_index(self) -> None:
        """lookup (one dict look-up) equals merging the entries of every variant."""
        rng = random.Random(11)
        keys = ["+5215541637145", "+525541637145", "+551187654321", "+5511987654321",
                "+5491123456789", "+541123456789", "+491701234567", "+5511923456789"]
        numbers = keys + ["+52" + str(rng.randrange(10**9, 10**10)) for _ in range(50)]
        for ar in (False, True):
            evidence = Evidence(ar_without_9=ar)
            records = []
            for i, key in enumerate(keys):
                day = datetime(2024, 1, 1 + i, tzinfo=timezone.utc)
                records.append(EvidenceRecord(f"l:{i}", phone=key, first_inbound_at=day,
                                              first_outbound_at=day if i % 3 else None))
            evidence.update(records)

            def merged(
                number: str, ar: bool = ar, records: list[EvidenceRecord] = records
            ) -> model.EvidenceEntry | None:
                same = phones.variants(number, ar_without_9=ar)
                found = [model.EvidenceEntry.from_record(r) for r in records if r.phone in same]
                if not found:
                    return None
                entry = found[0]
                for other in found[1:]:
                    entry = entry.merge(other)
                return entry

            for number in numbers:
                assert evidence.lookup(number) == merged(number), number
                # what the pipeline asks for a normalised ("+digits") number
                assert evidence.number_index().get(number) == evidence.lookup(number), number

    def test_quick_decisions(self) -> None:
        """The shortcut decision equals decide() whenever it answers, and answers for most cards."""
        make_book = _make_book_module()
        data = b"".join(make_book.book_chunks("vcard30", 2000))
        ledger = io.StringIO()
        writer = csv.writer(ledger)
        writer.writerows(make_book.ledger_rows(300, 2000))
        evidence = Evidence()
        for i, row in enumerate(ledger.getvalue().splitlines()):
            phone, inbound, outbound, _last, opted = row.split(",")
            evidence.add(EvidenceRecord(
                f"l:{i}", phone=phone,
                first_inbound_at=datetime.fromisoformat(inbound.replace("Z", "+00:00")),
                first_outbound_at=datetime.fromisoformat(outbound.replace("Z", "+00:00"))
                if outbound else None,
                opted_out_at=datetime.fromisoformat(opted + "T00:00:00+00:00") if opted else None,
            ))
        quick = 0
        for region in ("DE", None):
            policy_ = Policy(region=region)
            now = policy_.clock()
            normalize = phones.normalizer(region)
            for contact in read_book(io.BytesIO(data), ReadOptions(fields=frozenset()), name="b"):
                full = decide(contact, normalize_numbers(contact, region), evidence, policy_, now)
                fast = quick_decision(contact, normalize, evidence.lookup, region)
                # the pipeline passes the index's get (normalize gives "+digits" only)
                assert quick_decision(contact, normalize, evidence.number_index().get,
                                      region) == fast
                if fast is not None:
                    quick += 1
                    assert fast == full
        assert quick > 3000


class TestPlainWriter:
    def test_same_bytes_as_vobject(self) -> None:
        """Every card the plain writer writes is byte for byte what vobject writes: contacts of
        every fixture, of a generated book, and made of awkward characters."""
        contacts: list[Contact] = []
        for path in VCARD_FILES:
            for line, body, error in card_lines(io.BytesIO(path.read_bytes()), "b.vcf"):
                contacts.append(parse_card(build("b.vcf", line, body, error)))
        make_book = _make_book_module()
        data = b"".join(make_book.book_chunks("vcard30", 300))
        contacts += list(read_book(io.BytesIO(data), ReadOptions(fields=frozenset()), name="b"))
        # CSV rows have no UID: the written one is derived from the numbers
        csv_data = b"".join(make_book.book_chunks("google", 300))
        rows = list(read_book(io.BytesIO(csv_data), ReadOptions(fields=frozenset()), name="c"))
        assert all(row.uid is None for row in rows)
        contacts += rows
        rng = random.Random(9)
        pool = ["Anna", "Zoë", " ", "-", ",", ";", ":", "\\", '"', "\n", "\x1c", "\u2028", "é",
                "tel:", "+49 170 123", "0", "ß", "\t", "x" * 80, "Bü", "ro"]
        safe = ["Anna", "Zoë", " ", "-", "é", "tel:", "+49 170 123", "0", "ß", "x" * 80, "Bü",
                "ro", "日本語", "Ünï"]
        for i in range(3000):
            chars = pool if i % 2 else safe

            def text(k: int, chars: list[str] = chars) -> str:
                return "".join(rng.choice(chars) for _ in range(rng.randint(0, k)))
            phones_ = tuple(model.Phone(text(3), tuple(text(2) for _ in range(rng.randint(0, 3))))
                            for _ in range(rng.randint(0, 3)))
            contacts.append(Contact("b", 1, fn=text(3), n=tuple(text(2) for _ in range(5)),
                                    uid=text(2) or None, phones=phones_))
        plain = 0
        for contact in contacts:
            fast = vcard.writer.plain_serialize(contact)
            if fast is not None:
                plain += 1
                assert fast == vcard.writer.serialize(contact, "3.0"), contact
        assert plain > 500
