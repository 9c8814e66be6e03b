from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactguard import fastpaths
from contactguard.phones import evidence_key, mask, normalize, variants

PACKAGE = Path(__file__).parent.parent / "contactguard"


class TestNormalize:
    @pytest.mark.parametrize(
        ("raw", "region", "expected"),
        [
            ("0170 1234567", "DE", "+491701234567"),
            ("0170/123 45 67", "de", "+491701234567"),
            ("+49 (0)170 1234567", None, "+491701234567"),
            ("+49 (0) 170-123 45 67", "DE", "+491701234567"),
            ("0049 170 1234567", None, "+491701234567"),
            ("0049 170 1234567", "DE", "+491701234567"),
            ("0049 170 1234567", "US", "+491701234567"),
            ("+ 49 170 1234567", None, "+491701234567"),
            ("tel:+1-418-656-9254;ext=102", None, "+14186569254"),
            ("tel:0170-1234567;phone-context=+49", None, "+491701234567"),
            ("418-656-9254", "US", "+14186569254"),
            ("(418) 656-9254", "US", "+14186569254"),
            ("+52 55 4163 7145", None, "+525541637145"),
        ],
        ids=[
            "de-national",
            "de-slash-region-lowercase",
            "plus-49-bracket-0",
            "plus-49-bracket-0-with-region",
            "00-prefix-no-region",
            "00-prefix-de",
            "00-prefix-us-dials-011",
            "plus-then-space",
            "tel-uri-ext",
            "tel-uri-phone-context",
            "us-dashed",
            "us-brackets",
            "mx-e164",
        ],
    )
    def test_valid_numbers(self, raw: str, region: str | None, expected: str) -> None:
        """Every format a book writes for a valid number becomes the same E.164."""
        assert normalize(raw, region) == expected

    @pytest.mark.parametrize(
        ("raw", "region"),
        [
            ("123", "DE"),
            ("0170 12", "DE"),
            ("", "DE"),
            ("   ", None),
            ("n/a", "DE"),
            ("<WHATSAPP_USER_PHONE_NUMBER>", None),
            ("+5215541637145", None),
        ],
        ids=["too-short", "truncated", "empty", "blank", "text", "placeholder", "mx-wa-form"],
    )
    def test_invalid_is_none(self, raw: str, region: str | None) -> None:
        """A number phonenumbers calls invalid is None, never a guess."""
        assert normalize(raw, region) is None

    def test_national_without_region_is_none(self) -> None:
        """A national number cannot be placed without --region, so it is None."""
        assert normalize("0170 1234567", None) is None


class TestEvidenceKey:
    @pytest.mark.parametrize(
        ("phone", "expected"),
        [
            ("+491701234567", "+491701234567"),
            ("491701234567", "+491701234567"),
            ("5215541637145", "+5215541637145"),
            ("+52 1 55 4163 7145", "+5215541637145"),
            ("+49 (0)170 1234567", "+491701234567"),
            ("whatsapp:+14186569254", "+14186569254"),
            ("tel:+1-418-656-9254;ext=102", "+14186569254"),
            (" 551187654321 ", "+551187654321"),
        ],
        ids=["e164", "wa-id", "mx-wa-id-invalid", "spaced", "bracket-0", "scheme", "tel", "blank"],
    )
    def test_kept(self, phone: str, expected: str) -> None:
        """+E.164 and wa_id forms become "+digits", even when phonenumbers calls them invalid."""
        assert evidence_key(phone) == expected

    @pytest.mark.parametrize(
        "phone",
        [
            "<WHATSAPP_USER_PHONE_NUMBER>",
            "",
            "+49",
            "123456",
            "+4917012345678901",
            "01701234567",
            "+491701234567x",
            "US.13491208655302741918",
        ],
        ids=[
            "placeholder",
            "empty",
            "cc-only",
            "too-short",
            "too-long",
            "national",
            "letter",
            "uid",
        ],
    )
    def test_rejected(self, phone: str) -> None:
        """Placeholders, national numbers and wrong lengths are no evidence key."""
        assert evidence_key(phone) is None


class TestVariants:
    def test_mexico_e164_to_whatsapp(self) -> None:
        """A Mexican E.164 number also matches WhatsApp's 521 form."""
        assert variants("+525541637145") == {"+525541637145", "+5215541637145"}

    def test_mexico_whatsapp_to_e164(self) -> None:
        """WhatsApp's invalid 521 form matches the valid E.164 number."""
        assert variants("+5215541637145") == {"+5215541637145", "+525541637145"}

    def test_brazil_mobile_with_ninth_digit(self) -> None:
        """A Brazilian 9-digit mobile also matches the old 8-digit account."""
        assert variants("+5511987654321") == {"+5511987654321", "+551187654321"}

    def test_brazil_mobile_without_ninth_digit(self) -> None:
        """An old 8-digit Brazilian mobile matches the 9-digit number."""
        assert variants("+551187654321") == {"+551187654321", "+5511987654321"}

    def test_brazil_landline_has_no_variant(self) -> None:
        """An 8-digit Brazilian landline (2–5) never matches a mobile."""
        assert variants("+551123456789") == {"+551123456789"}

    def test_brazil_mobile_does_not_reach_landline(self) -> None:
        """Dropping the 9 of a mobile whose next digit is 2–5 would name a landline: no variant."""
        assert variants("+5511923456789") == {"+5511923456789"}

    def test_argentina_off_by_default(self) -> None:
        """Argentine 549 and 54 are different identities unless opted in."""
        assert variants("+5491123456789") == {"+5491123456789"}
        assert variants("+541123456789") == {"+541123456789"}

    def test_argentina_opted_in(self) -> None:
        """With ar_without_9, Argentine 549 and 54 match in both directions."""
        pair = {"+5491123456789", "+541123456789"}
        assert variants("+5491123456789", ar_without_9=True) == pair
        assert variants("+541123456789", ar_without_9=True) == pair

    def test_other_countries_exact(self) -> None:
        """Numbers of other countries only match themselves."""
        assert variants("+491701234567") == {"+491701234567"}
        assert variants("+14186569254", ar_without_9=True) == {"+14186569254"}

    def test_not_plus_digits_is_itself(self) -> None:
        """Something that is not "+digits" is returned alone rather than guessed at."""
        assert variants("0170 1234567") == {"0170 1234567"}

    @given(st.from_regex(r"\+(52|55|54)[1-9][0-9]{8,10}", fullmatch=True), st.booleans())
    def test_symmetric(self, number: str, ar_without_9: bool) -> None:
        """Equivalence is symmetric: every variant has the same variant set."""
        found = variants(number, ar_without_9=ar_without_9)
        assert all(variants(v, ar_without_9=ar_without_9) == found for v in found)

    @given(
        st.one_of(
            st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
            # shaped like the numbers that have variants: Mexico 52/521, Brazil's mobiles with
            # and without the ninth digit, Argentina 54/549
            st.from_regex(r"\+521?[2-9][0-9]{9}", fullmatch=True),
            st.from_regex(r"\+55[1-9]{2}9?[6-9][0-9]{7}", fullmatch=True),
            st.from_regex(r"\+549?[1-3][0-9]{9}", fullmatch=True),
            st.text(max_size=16),
        ),
        st.booleans(),
    )
    def test_the_quick_answer_is_the_full_one(self, number: str, ar_without_9: bool) -> None:
        """The shortcut for numbers of countries without variants answers what the full
        computation (reference mode) answers, for any text."""
        quick = variants(number, ar_without_9=ar_without_9)
        with fastpaths.reference():
            assert variants(number, ar_without_9=ar_without_9) == quick


class TestMask:
    @pytest.mark.parametrize(
        ("number", "expected"),
        [
            ("+491701234567", "+49170*****67"),
            ("+14186569254", "+1418*****54"),
            ("+5215541637145", "+52155******45"),
            ("+6834002", "+683**02"),
            ("0170 123 45 67", "**** *** ** 67"),
            ("+49 170 1234567", "+** *** *****67"),
            ("n/a", "n/a"),
        ],
        ids=["de", "us", "mx-wa", "short", "raw-national", "raw-spaced", "no-digits"],
    )
    def test_mask(self, number: str, expected: str) -> None:
        """Country code, three digits and the last two stay; raw strings keep only the last two."""
        assert mask(number) == expected


class TestIsolation:
    def test_only_phones_imports_phonenumbers(self) -> None:
        """phonenumbers is imported by contactguard/phones.py and nowhere else in the package."""
        importers = set()
        for path in PACKAGE.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                if any(n.split(".")[0] == "phonenumbers" for n in names):
                    importers.add(path.relative_to(PACKAGE).as_posix())
        assert importers == {"phones.py"}
