"""``Sanitizer.run``, the one loop: what it writes, its hooks (``on_decision``, ``on_progress``,
``relabel``, ``ParsedBook``), and the reference switch — a run with every fast path off writes
byte for byte the clean book and report a normal run writes, in one process or with workers."""

from __future__ import annotations

import io
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contactguard
from contactguard import (
    Contact,
    ParsedBook,
    Policy,
    Run,
    Sanitizer,
    _workers,
    fastpaths,
    read_book,
    write_book,
)
from contactguard.books import ReadOptions
from contactguard.errors import InputError
from contactguard.evidence import Evidence
from contactguard.model import EvidenceRecord, Field, Phone, Reason

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)
ROOT = Path(__file__).parent.parent
SAMPLES = ROOT / "samples"

# numbers that books and evidence share often: DE mobiles, a national DE spelling, an MX pair
POOL = ["+4915123456701", "+4917098765402", "+4916090123404", "+525541637145",
        "+5215541637145", "+4930123456"]
SPELLINGS = st.sampled_from(POOL).flatmap(lambda n: st.sampled_from(
    [n, "00" + n[1:], n[:3] + " " + n[3:6] + " " + n[6:], "0" + n[3:] if n[:3] == "+49" else n]))
# numbers no evidence names, valid (+49 15x…) or not (too short, letters, national without 0)
STRANGERS = st.integers(10_000_000, 99_999_999).map(lambda n: f"+49151{n}") | st.sampled_from(
    ["12", "0800", "abc", "+49", "0151 234", "(0)30 1234"])
NAMES = st.sampled_from(["Anna", "Ben", "Carla Díaz", "Dilek", "+49 151 23456701", "", "Ömer"])
when = st.integers(min_value=0, max_value=800).map(lambda d: NOW - timedelta(days=d))

contacts = st.builds(
    Contact,
    source=st.just("book"),
    line=st.just(1),
    fn=NAMES,
    phones=st.lists(st.builds(Phone, value=SPELLINGS | STRANGERS), max_size=3).map(tuple),
    fields=st.lists(st.builds(Field, name=st.sampled_from(["ORG", "EMAIL", "NOTE"]),
                              value=st.sampled_from(["ACME", "a@b.de", "x"])),
                    max_size=2).map(tuple),
)
# evidence by number (every spelling WhatsApp uses) and by a chat export's display name
records = st.builds(
    EvidenceRecord,
    source=st.sampled_from(["ledger.csv:2", "chat.txt"]),
    phone=st.sampled_from([n[1:] for n in POOL] + POOL),
    first_inbound_at=st.none() | when,
    first_outbound_at=st.none() | when,
    last_inbound_at=st.none() | when,
    opted_out_at=st.none() | when,
) | st.builds(EvidenceRecord, source=st.just("chat.txt"), name=NAMES.filter(bool),
              first_inbound_at=when)


def _evidence(found: list[EvidenceRecord]) -> Evidence:
    evidence = Evidence()
    for record in found:
        evidence.add(record)
    return evidence


def _outputs(sanitizer: Sanitizer, book: Path, jobs: int) -> tuple[bytes, bytes]:
    """The clean book and the JSON report a run writes (the report's time of writing, the
    one field that differs between two runs, left out), or the error it stops with."""
    out, report = io.BytesIO(), io.BytesIO()
    try:
        sanitizer.run([book], jobs=jobs, output=out, report=report)
    except InputError as exc:  # a book the writer made unreadable (no phone column, …)
        return b"error", str(exc).encode()
    return out.getvalue(), re.sub(rb'\n  "generated_at": "[^"]*",', b"", report.getvalue())


@contextmanager
def _pieces(size: int) -> Iterator[None]:
    """Within the block, a book of any size is cut into pieces of ``size`` bytes for workers."""
    with mock.patch.object(_workers, "PARALLEL_MIN_BYTES", 0), \
            mock.patch.object(_workers, "CHUNK_BYTES", size):
        yield


class TestReferenceMode:
    @pytest.mark.skipif(sys.platform != "linux", reason="the workers fork (Linux only)")
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(book=st.lists(contacts, min_size=1, max_size=14), found=st.lists(records, max_size=10),
           region=st.sampled_from(["DE", None]), fmt=st.sampled_from(["vcard3", "csv"]),
           piece=st.integers(1, 400))
    def test_reference_mode_writes_the_same_bytes(
        self, book: list[Contact], found: list[EvidenceRecord], region: str | None, fmt: str,
        piece: int,
    ) -> None:
        """With every fast path off, a run writes byte for byte the clean book and JSON report
        that a normal run writes with jobs=1 and with jobs=2 (workers reading pieces)."""
        evidence = _evidence(found)
        policy = Policy(region=region, keep_fields=frozenset({"ORG"}), now=NOW)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"book.{'csv' if fmt == 'csv' else 'vcf'}"
            with path.open("wb") as stream:
                write_book(book, stream, fmt)
            runs = {}
            for jobs in (1, 2):
                with _pieces(piece):
                    runs[jobs] = _outputs(Sanitizer(evidence, policy), path, jobs)
            with fastpaths.reference():
                runs[0] = _outputs(Sanitizer(evidence, policy), path, 2)
        assert runs[0] == runs[1] == runs[2]

    def test_reference_mode_takes_no_fast_path(self) -> None:
        """In reference mode the quick decision, the quick path's batches, the workers and the
        report's fast entries are never used, and the run still decides every contact."""
        book = SAMPLES / "company-book.vcf"
        evidence = contactguard.load_evidence([SAMPLES / "ledger.csv"])
        expected = _outputs(Sanitizer(evidence, Policy(region="DE", now=NOW)), book, 1)

        def refused(*args: object, **kwargs: object) -> None:
            raise AssertionError("a fast path was used in reference mode")

        with fastpaths.reference(), _pieces(64), \
                mock.patch("contactguard.policy.quick_decision", refused), \
                mock.patch.object(_workers, "quick_items", refused), \
                mock.patch.object(_workers, "parallel", refused), \
                mock.patch("contactguard.report.entry_json", refused):
            got = _outputs(Sanitizer(evidence, Policy(region="DE", now=NOW)), book, 2)
        assert got == expected

    def test_the_environment_switches_reference_mode_on_for_the_cli(self, tmp_path: Path) -> None:
        """CONTACTGUARD_REFERENCE=1 reaches the command line: the same files, every fast path
        off."""
        import subprocess

        written = []
        for reference in ("0", "1"):
            out, report = tmp_path / f"clean{reference}.vcf", tmp_path / f"r{reference}.json"
            subprocess.run(
                [sys.executable, "-m", "contactguard", "sanitize", str(SAMPLES / "crm-export.csv"),
                 "-e", str(SAMPLES / "ledger.csv"), "-r", "DE", "-o", str(out), "--report",
                 str(report), "-q"],
                check=True, env={"PATH": "/usr/bin:/bin", fastpaths.ENVIRONMENT: reference})
            entries = json.loads(report.read_text(encoding="utf-8"))["contacts"]
            written.append((out.read_bytes(), entries))
        assert written[0] == written[1]


class TestRun:
    def _sanitizer(self) -> Sanitizer:
        evidence = contactguard.load_evidence([SAMPLES / "ledger.csv"])
        return Sanitizer(evidence, Policy(region="DE", now=NOW))

    def test_run_returns_its_own_clean_book_and_counts(self) -> None:
        """Two runs of one Sanitizer each return their own Run; the last one is also what
        ``clean`` and ``summary`` show."""
        sanitizer = self._sanitizer()
        first = sanitizer.run([SAMPLES / "company-book.vcf"])
        second = sanitizer.run([SAMPLES / "crm-export.csv"])
        assert isinstance(first, Run) and first is not second
        assert first.summary.inputs != second.summary.inputs
        assert first.summary.contacts_in == sum(1 for _ in read_book(SAMPLES / "company-book.vcf"))
        assert sanitizer.summary is second.summary and sanitizer.clean is second.clean
        assert first.summary.contacts_kept == len(first.clean) > 0

    def test_on_decision_sees_every_contact_in_order(self) -> None:
        """``on_decision`` is called once per contact of the book, in input order, with the
        decisions ``decisions()`` yields."""
        book = SAMPLES / "company-book.vcf"
        seen: list[object] = []
        self._sanitizer().run([book], on_decision=seen.append)
        assert seen == list(self._sanitizer().decisions([book]))

    def test_on_progress_counts_every_contact(self) -> None:
        """The counts ``on_progress`` is given add up to the contacts read, batches or not."""
        book = SAMPLES / "crm-export.csv"
        for on_decision in (None, lambda decision: None):
            counts: list[int] = []
            run = self._sanitizer().run([book], report=io.BytesIO(), on_decision=on_decision,
                                        on_progress=lambda n, *where, seen=counts: seen.append(n))
            assert sum(counts) == run.summary.contacts_in > 0

    def test_output_and_report_are_written(self, tmp_path: Path) -> None:
        """``output`` gets the clean book in ``format`` and ``report`` the audit report, HTML
        for a .html name."""
        run = self._sanitizer().run([SAMPLES / "company-book.vcf"], output=tmp_path / "c.csv",
                                    format="csv", report=tmp_path / "r.html")
        assert (tmp_path / "c.csv").read_text(encoding="utf-8").count("\n") == len(run.clean) + 1
        assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    def test_a_parsed_book_decides_as_its_file(self) -> None:
        """Contacts read elsewhere, given as a ParsedBook, get the decisions and clean book of
        the file they were read from; the run names the book by its label."""
        book = SAMPLES / "company-book.vcf"
        parsed = ParsedBook("phone contacts", list(read_book(book, ReadOptions())))
        from_file = self._sanitizer().run([book], on_decision=(files := []).append)
        from_list = self._sanitizer().run([parsed], on_decision=(lists := []).append)
        assert files == lists and from_file.clean == from_list.clean
        assert from_list.summary.inputs == ["phone contacts"]

    @pytest.mark.parametrize("report", [False, True])
    def test_relabel_names_every_contact(self, report: bool) -> None:
        """``relabel`` decides what the report names each contact by (the sync job's card
        URLs), on the quick path too; the decisions are otherwise the same."""
        book = SAMPLES / "company-book.vcf"

        def relabel(contact: Contact) -> Contact:
            return replace(contact, source="https://dav.example/card", line=contact.line + 1000)

        out = io.BytesIO()
        seen: list[object] = []
        run = self._sanitizer().run([book], report=out if report else None,
                                    on_decision=None if report else seen.append,
                                    relabel=relabel)
        plain = list(self._sanitizer().decisions([book]))
        if report:
            entries = json.loads(out.getvalue())["contacts"]
            assert [e["source"] for e in entries] == [
                f"https://dav.example/card:{d.contact.line + 1000}" for d in plain]
        else:
            assert [(d.reason, d.contact.line) for d in seen] == [  # type: ignore[attr-defined]
                (d.reason, d.contact.line + 1000) for d in plain]
        assert run.clean and all(c.source == "https://dav.example/card" for c in run.clean)

    def test_places_name_a_joined_book_on_the_quick_path_and_full_only_decides_the_rest(
        self,
    ) -> None:
        """``places`` names every contact of a joined book by the part it came from, as a
        ``relabel`` run does in reference mode (report byte for byte, clean book); with
        ``full_only`` ``on_decision`` sees exactly the decisions that are not a quick removal."""
        book = SAMPLES / "company-book.vcf"

        def places(line: int) -> tuple[str, int]:
            return f"https://dav.example/{line // 7}.vcf", line % 7 + 1

        def relabel(contact: Contact) -> Contact:
            source, line = places(contact.line)
            return replace(contact, source=source, line=line)

        quick, seen = io.BytesIO(), []
        run = self._sanitizer().run([book], report=quick, places=places, full_only=True,
                                    on_decision=seen.append)
        reference, every = io.BytesIO(), []
        with fastpaths.reference():
            slow = self._sanitizer().run([book], report=reference, relabel=relabel,
                                         on_decision=every.append)
        assert quick.getvalue() == reference.getvalue()
        assert run.clean == slow.clean and run.summary == slow.summary
        quick_removals = {Reason.NO_EVIDENCE, Reason.INVALID_NUMBER, Reason.NO_NUMBER}
        assert seen and seen == [d for d in every if d.kept or d.reason not in quick_removals
                                 or d.contact.error is not None]

    def test_the_quick_path_is_private(self) -> None:
        """The public API is ``contactguard.__all__``: no ``stream``, ``Rendered`` or
        ``decide_contacts`` on the Sanitizer or in the pipeline module."""
        from contactguard import pipeline

        assert not {"stream", "decide_contacts"} & set(dir(Sanitizer))
        assert not hasattr(pipeline, "Rendered")
        assert {"ParsedBook", "Run", "Sanitizer"} <= set(contactguard.__all__)


class TestWhatReferenceModeFound:
    """Two places where a fast path differed from the reference, found by the test above."""

    def _both(self, book: list[Contact], found: list[EvidenceRecord]) -> list[tuple[bytes, bytes]]:
        evidence = _evidence(found)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "book.vcf"
            with path.open("wb") as stream:
                write_book(book, stream, "vcard3")
            runs = [_outputs(Sanitizer(evidence, Policy(region="DE", now=NOW)), path, 1)]
            with fastpaths.reference():
                runs.append(_outputs(Sanitizer(evidence, Policy(region="DE", now=NOW)), path, 1))
        return runs

    def test_a_kept_number_in_the_name_is_shown_as_contact_entry_shows_it(self) -> None:
        """A contact saved under its own number, kept: the report's fast entry shows the name
        unmasked, as ``contact_entry`` does (the number is in the report in full anyway)."""
        book = [Contact("book", 1, fn="+49 151 23456701", phones=(Phone("+4915123456701"),))]
        found = [EvidenceRecord("ledger.csv:2", phone="4915123456701", first_inbound_at=NOW)]
        fast, reference = self._both(book, found)
        assert fast == reference
        assert b'"name": "+49 151 23456701"' in fast[1]

    def test_name_evidence_for_a_contact_without_numbers_stays_unmatched(self) -> None:
        """The quick path asks for evidence under a name only where ``decide`` does (a contact
        with numbers), so a chat under the name of a contact without numbers is unmatched in
        both modes."""
        book = [Contact("book", 1, fn="Anna"), Contact("book", 6, fn="Ben",
                                                       phones=(Phone("+4917098765402"),))]
        found = [EvidenceRecord("chat.txt", name="Anna", first_inbound_at=NOW)]
        fast, reference = self._both(book, found)
        assert fast == reference
        assert json.loads(fast[1])["summary"]["evidence"]["unmatched"] == 1
