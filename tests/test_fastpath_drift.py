"""The fast number path checks itself against the installed phonenumbers before first use, and
steps aside when a phonenumbers release no longer agrees with it."""

from __future__ import annotations

from collections.abc import Iterator

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactguard import phones


def _reset() -> None:
    """Forget the check, the built fast paths and phonenumbers' cached answers."""
    phones.fast_path_agrees.cache_clear()
    phones._FAST.clear()
    phones._slow_cached.cache_clear()


@pytest.fixture
def fresh() -> Iterator[None]:
    _reset()
    yield
    _reset()


class TestSelfCheck:
    def test_agrees_with_installed_phonenumbers(self, fresh: None) -> None:
        """With the phonenumbers the tests run against, the check passes and the fast path
        decides plain numbers itself."""
        assert phones.fast_path_agrees()
        assert phones._fast_for("DE")("0170 1234567") == "+491701234567"

    def test_sample_exercises_the_fast_path(self) -> None:
        """Every number of the built-in sample is one the fast path decides itself (a sample it
        left to phonenumbers would check nothing)."""
        for region, texts in phones._SAMPLE:
            fast = phones._build_fast(region)
            assert [t for t in texts if fast(t) is phones._UNSURE] == [], region
        assert {None, "DE"} <= {region for region, _ in phones._SAMPLE}

    def test_steps_aside_when_phonenumbers_disagrees(
        self, fresh: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A phonenumbers whose rules changed (here: German mobile numbers no longer valid)
        makes every number go to phonenumbers: the results follow it, not the old metadata
        reading."""
        real = phonenumbers.is_valid_number

        def changed(number: phonenumbers.PhoneNumber) -> bool:
            if number.country_code == 49 and str(number.national_number).startswith("17"):
                return False
            return bool(real(number))

        monkeypatch.setattr(phonenumbers, "is_valid_number", changed)
        assert not phones.fast_path_agrees()
        assert phones._fast_for("DE")("0170 1234567") is phones._UNSURE
        assert phones.normalize("0170 1234567", "DE") is None
        assert phones.normalizer("DE")("+49 170 1234567") is None
        assert phones.normalizer("DE")("030 12345678") == "+493012345678"

    @settings(max_examples=30, deadline=None)
    @given(region=st.sampled_from([r for r, _ in phones._SAMPLE]), index=st.integers(0, 50))
    def test_any_sample_disagreement_steps_aside(self, region: str | None, index: int) -> None:
        """Whichever number of the sample phonenumbers answers differently, the check fails
        and the fast path answers nothing itself."""
        texts = dict(phones._SAMPLE)[region]
        wrong = texts[index % len(texts)]
        real = phones._slow_normalize

        def slow(text: str, where: str | None) -> str | None:
            found = real(text, where)
            if text == wrong and where == region:
                return None if found is not None else "+4930123456"
            return found

        _reset()
        try:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(phones, "_slow_normalize", slow)
                assert not phones.fast_path_agrees()
                assert phones._fast_for(region)(wrong) is phones._UNSURE
        finally:
            _reset()
