"""Options to objects in one place: the command line, ``sanitize()`` and the sync job build their
Policy, ReadOptions and Sanitizer from plain values through ``contactguard.options``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactguard import sanitize
from contactguard.errors import ConfigError
from contactguard.evidence.store import Ledger
from contactguard.options import (
    EvidenceOptions,
    RunOptions,
    is_contactguard_ledger,
    parse_max_age,
    sanitizer,
)

SAMPLES = Path(__file__).parent.parent / "samples"


class TestRunOptions:
    def test_the_policy_takes_every_value(self) -> None:
        """Region, fields, "6m" and the Argentine flag arrive in the Policy, its one owner."""
        policy = RunOptions(region="de", keep_fields=("org",), max_age="6m",
                            match_ar_without_9=True).policy()
        assert policy.region == "DE" and policy.keep_fields == frozenset({"ORG"})
        assert policy.max_age == timedelta(days=180) and policy.match_ar_without_9

    def test_read_options_may_skip_fields_the_policy_drops(self) -> None:
        """With only_kept_fields the readers are told the kept fields; without, every field."""
        options = RunOptions(keep_fields=("EMAIL",), input_format="csv", phone_columns=("Tel",))
        assert options.read_options().fields is None
        assert options.read_options(only_kept_fields=True).fields == frozenset({"EMAIL"})
        assert options.read_options().phone_columns == ("Tel",)

    @given(st.text(st.characters(blacklist_categories=("Nd",)), max_size=8)
           | st.sampled_from(["-1d", "-0.5y", "1e400d", "nan", "inf", "6 months", "1yy"]))
    def test_a_max_age_that_is_no_duration_is_refused(self, text: str) -> None:
        """No digits, a negative, an endless or an unknown unit: a ConfigError, not a policy."""
        with pytest.raises(ConfigError, match="max age"):
            RunOptions(max_age=text).policy()

    def test_sanitize_and_the_options_agree(self) -> None:
        """``sanitize()`` is a run of the Sanitizer the options build: same counts."""
        book, ledger = SAMPLES / "company-book.vcf", SAMPLES / "ledger.csv"
        options = RunOptions(region="DE", max_age="1y")
        built = sanitizer(options, EvidenceOptions((ledger,))).run([book])
        result = sanitize(book, [ledger], region="DE", max_age="1y")
        assert result.summary.as_dict() == built.summary.as_dict()
        assert parse_max_age("1y") == result.policy.max_age


class TestEvidenceOptions:
    def test_a_large_ledger_is_asked_about_the_books_numbers(self, tmp_path: Path) -> None:
        """A contactguard ledger far larger than the book is asked, not read whole: the
        evidence holds only the book's people, and the decisions are the same."""
        ledger = tmp_path / "ledger.db"
        with Ledger(ledger) as db:
            from contactguard.evidence import SourceContext, iter_records

            db.import_records(iter_records([SAMPLES / "ledger.csv"], SourceContext()))
            db.import_records(
                iter_records([_many_people(tmp_path)], SourceContext()))
        assert is_contactguard_ledger(str(ledger))
        assert not is_contactguard_ledger(str(SAMPLES / "ledger.csv"))
        book = tmp_path / "one.vcf"
        book.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nTEL:+491701234567\r\nEND:VCARD\r\n",
                        encoding="utf-8")
        options = RunOptions(region="DE")
        asked = EvidenceOptions(ledger=str(ledger)).load([str(book)], options)
        whole = EvidenceOptions(ledger=str(ledger)).load((), options)
        assert len(asked) < len(whole)
        runs = [sanitizer(options, evidence).run([book]) for evidence in (asked, whole)]
        assert runs[0].summary.reasons == runs[1].summary.reasons


def _many_people(folder: Path) -> Path:
    path = folder / "many.csv"
    rows = [f"+4915{n:09d},2026-01-0{1 + n % 9}T10:00:00Z" for n in range(3000)]
    path.write_text("phone,first_inbound_at\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path
