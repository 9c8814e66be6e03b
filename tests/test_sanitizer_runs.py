"""A Sanitizer is configuration: each run counts its own books, and the policy alone decides
how evidence matches (Argentine numbers with and without the 9)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from contactguard import Policy, Reason, Sanitizer, load_evidence, sanitize
from contactguard.evidence import Evidence
from contactguard.model import EvidenceRecord
from contactguard.report import build_report

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)

# Buenos Aires mobile as WhatsApp sees it (+549 11 …) and as a chat may record it (+54 11 …)
BOOK_AR = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Lucía Gómez\r\nTEL:+54 9 11 2345-6789\r\nEND:VCARD\r\n"
LEDGER_AR = "phone,first_inbound_at\n+541123456789,2026-10-02T09:30:00Z\n"


def _card(name: str, number: str) -> str:
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nTEL:{number}\r\nEND:VCARD\r\n"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


class TestArgentineMatchingHasOneOwner:
    def test_policy_flag_matches_evidence_loaded_without_it(self, tmp_path: Path) -> None:
        """Policy(match_ar_without_9=True) keeps a 549 contact whose chat recorded 54, as the
        report says it does, whatever load_evidence was told."""
        book = _write(tmp_path, "book.vcf", BOOK_AR)
        evidence = load_evidence([_write(tmp_path, "ledger.csv", LEDGER_AR)])
        sanitizer = Sanitizer(evidence, Policy(match_ar_without_9=True, now=NOW))
        decisions = list(sanitizer.decisions([book]))
        assert [(d.kept, d.reason) for d in decisions] == [(True, Reason.INBOUND_FIRST)]
        report = build_report(decisions, sanitizer.summary, sanitizer.policy)
        assert report["policy"]["match_ar_without_9"] is True
        assert sanitizer.summary.evidence_unmatched == []

    def test_policy_without_flag_wins_over_evidence_built_with_it(self, tmp_path: Path) -> None:
        """Evidence built to match 549/54 does not match them under a policy that says not."""
        book = _write(tmp_path, "book.vcf", BOOK_AR)
        evidence = Evidence(ar_without_9=True)
        evidence.add(EvidenceRecord("chat", phone="+541123456789", first_inbound_at=NOW))
        sanitizer = Sanitizer(evidence, Policy(now=NOW))
        decisions = list(sanitizer.decisions([book]))
        assert [(d.kept, d.reason) for d in decisions] == [(False, Reason.NO_EVIDENCE)]
        assert len(sanitizer.summary.evidence_unmatched) == 1

    def test_sanitize_and_cli_agree(self, tmp_path: Path) -> None:
        """sanitize(match_ar_without_9=True) keeps the contact the Sanitizer keeps."""
        book = _write(tmp_path, "book.vcf", BOOK_AR)
        ledger = _write(tmp_path, "ledger.csv", LEDGER_AR)
        assert [c.fn for c in sanitize(book, [ledger], match_ar_without_9=True).contacts] == [
            "Lucía Gómez"
        ]
        assert sanitize(book, [ledger]).contacts == []


class TestSanitizerIsReusable:
    def test_second_run_counts_only_itself(self, tmp_path: Path) -> None:
        """Running the same Sanitizer twice gives the same counts, and nothing merged."""
        book = _write(tmp_path, "book.vcf", _card("Ana Pérez", "+34612345678"))
        ledger = _write(tmp_path, "ledger.csv", "phone,first_inbound_at\n+34612345678,2026-10-01\n")
        sanitizer = Sanitizer(load_evidence([ledger]), Policy(now=NOW))
        first = list(sanitizer.decisions([book]))
        first_summary = sanitizer.summary.as_dict()
        second = list(sanitizer.decisions([book]))
        assert [d.reason for d in first] == [d.reason for d in second] == [Reason.INBOUND_FIRST]
        assert sanitizer.summary.as_dict() == first_summary
        assert sanitizer.summary.contacts_in == 1
        assert sanitizer.summary.merged == 0
        assert len(sanitizer.clean) == 1

    def test_unmatched_evidence_is_per_run(self, tmp_path: Path) -> None:
        """Evidence matched by an earlier run is unmatched again in a run whose book lacks it."""
        ledger = _write(tmp_path, "ledger.csv", "phone,first_inbound_at\n+34612345678,2026-10-01\n")
        with_her = _write(tmp_path, "a.vcf", _card("Ana Pérez", "+34612345678"))
        without = _write(tmp_path, "b.vcf", _card("Otro", "+34699999999"))
        sanitizer = Sanitizer(load_evidence([ledger]), Policy(now=NOW))
        list(sanitizer.decisions([with_her]))
        assert sanitizer.summary.evidence_unmatched == []
        list(sanitizer.decisions([without]))
        assert len(sanitizer.summary.evidence_unmatched) == 1

    def test_two_threads_share_one_sanitizer(self, tmp_path: Path) -> None:
        """Two threads running one Sanitizer over different books each get their own result."""
        numbers = [f"+3461234{i:04d}" for i in range(40)]
        ledger = _write(tmp_path, "ledger.csv", "phone,first_inbound_at\n" + "".join(
            f"{n},2026-10-01\n" for n in numbers[::2]))
        books = {
            "even": _write(tmp_path, "even.vcf", "".join(_card(f"E{i}", n) for i, n in
                                                        enumerate(numbers[::2]))),
            "odd": _write(tmp_path, "odd.vcf", "".join(_card(f"O{i}", n) for i, n in
                                                      enumerate(numbers[1::2] * 3))),
        }
        sanitizer = Sanitizer(load_evidence([ledger]), Policy(now=NOW))
        results: dict[str, tuple[int, int, int, int]] = {}
        start = threading.Barrier(2)

        def run(name: str) -> None:
            start.wait()
            for _ in range(5):
                list(sanitizer.decisions([books[name]]))
            summary = sanitizer.summary
            results[name] = (summary.contacts_in, summary.contacts_kept, summary.merged,
                             len(summary.evidence_unmatched))

        threads = [threading.Thread(target=run, args=(name,)) for name in books]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == {"even": (20, 20, 0, 0), "odd": (60, 0, 0, 20)}

    @settings(max_examples=25, deadline=None)
    @given(runs=st.integers(2, 4), cards=st.lists(st.integers(0, 9), min_size=1, max_size=8))
    def test_any_number_of_runs_counts_like_one(self, runs: int, cards: list[int]) -> None:
        """However often a Sanitizer runs over a book (duplicates included), each run's counts
        equal a fresh Sanitizer's."""
        import io

        book = "".join(_card(f"P{i}", f"+3461200000{n}") for i, n in enumerate(cards)).encode()
        evidence = Evidence()
        evidence.add(EvidenceRecord("l", phone="+34612000003", first_inbound_at=NOW))
        evidence.add(EvidenceRecord("l", phone="+34612000005", first_inbound_at=NOW))
        fresh = Sanitizer(evidence, Policy(now=NOW))
        list(fresh.decisions([io.BytesIO(book)]))
        reused = Sanitizer(evidence, Policy(now=NOW))
        for _ in range(runs):
            list(reused.decisions([io.BytesIO(book)]))
        assert reused.summary.as_dict() == fresh.summary.as_dict()
        assert reused.clean == fresh.clean
