"""The parallel pipeline: a book cut into pieces and decided by worker processes gives
exactly what reading it in one process gives — decisions, report, clean book, counts, errors."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from contactguard import _workers, fastpaths, phones
from contactguard.books import ReadOptions, chunks, read_book
from contactguard.cli import main
from contactguard.errors import InputError
from contactguard.evidence import Evidence, load_evidence
from contactguard.model import Contact, EvidenceRecord
from contactguard.pipeline import Sanitizer
from contactguard.policy import Policy

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the workers fork (Linux only)")

TESTS = Path(__file__).parent
ROOT = TESTS.parent
BOOKS = sorted(
    {*TESTS.glob("fixtures/**/*.vcf"), *TESTS.glob("fixtures/csv/*.csv"),
     *(ROOT / "samples").glob("*.vcf"), *(ROOT / "samples").glob("*.csv")},
    key=str,
)
NOW = "2026-06-01T00:00:00+00:00"


def _evidence(book: Path) -> Evidence:
    """Inbound-first evidence for every other valid number of the book (and the samples')."""
    evidence = load_evidence(
        [ROOT / "samples" / "ledger.csv", ROOT / "samples" / "chats"], me="Musterladen"
    )
    try:
        contacts = list(read_book(book))
    except InputError:
        return evidence
    from contactguard import phones

    at = _parse("2026-01-01T10:00:00+00:00")
    for index, contact in enumerate(contacts):
        for phone in contact.phones[::2] if index % 2 else ():
            e164 = phones.normalize(phone.value, "DE")
            if e164 is not None:
                evidence.add(EvidenceRecord(f"test:{index}", phone=e164, first_inbound_at=at,
                                            last_inbound_at=at))
    return evidence


def _run(book: Path, evidence: Evidence, *, jobs: int | None, chunk_bytes: int = 1,
         entries: bool = True, region: str | None = "DE") -> tuple[Any, ...]:
    """(report contacts, summary, clean book, batch sizes) of a run, or the error it raised.
    ``jobs=None`` is the reference: every fast path off (a Decision for every contact, its
    entry through json.dumps). Books of any size are cut into pieces of ``chunk_bytes``."""
    policy = Policy(region=region, now=_parse(NOW))
    sanitizer = Sanitizer(evidence, policy, ReadOptions(fields=policy.keep_fields))
    out = io.BytesIO()
    batches: list[int] = []
    try:
        with _pieces(chunk_bytes), fastpaths.reference(jobs is None):
            run = sanitizer.run(
                [book], jobs=jobs or 1, report=out if entries else None,
                on_progress=lambda count, source, line: batches.append(count))
    except InputError as exc:
        return ("error", str(exc))
    contacts = json.loads(out.getvalue())["contacts"] if entries else None
    clean = [(c.fn, c.phones, c.where) for c in run.clean]
    counts = run.summary
    summary = {**counts.as_dict(), "hint_region": counts.invalid_without_region}
    return contacts, summary, clean, batches


@contextlib.contextmanager
def _pieces(chunk_bytes: int) -> Iterator[None]:
    """Within the block a run cuts a book of any size into pieces of ``chunk_bytes``."""
    with mock.patch.object(_workers, "PARALLEL_MIN_BYTES", 0), \
            mock.patch.object(_workers, "CHUNK_BYTES", chunk_bytes):
        yield


def _parse(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


@pytest.mark.parametrize("book", BOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fixture_reads_the_same_in_pieces(book: Path) -> None:
    """Pieces of one card or row each (chunk_bytes=1): the most cuts a book can have."""
    evidence = _evidence(book)
    alone = _run(book, evidence, jobs=None)
    assert _run(book, evidence, jobs=2)[:3] == alone[:3]
    # one process, quick decisions rendered as a worker renders them
    assert _run(book, evidence, jobs=1)[:3] == alone[:3]


def test_samples_are_read_in_pieces_by_workers() -> None:
    """The parallel path is really taken: workers send batches of quick decisions; some
    contacts (those with evidence, by number or by chat name) come back to be decided here."""
    book = ROOT / "samples" / "company-book.vcf"
    kinds: set[type] = set()
    settle = _workers.settle

    def seen(run: Any, items: Any) -> Any:
        items = list(items)
        kinds.update(map(type, items))
        return settle(run, items)

    with mock.patch.object(_workers, "settle", seen):
        result = _run(book, _evidence(book), jobs=2)
    assert kinds == {_workers.Rendered, Contact}
    assert result[1]["reasons"]["inbound-first"] > 0
    assert result[1]["reasons"]["ambiguous-number"] > 0  # chat evidence under a name


def test_several_books_merge_across_pieces_as_in_one_process() -> None:
    """The samples' two books share people: a contact kept in the CSV merges into the vCard's
    one, in a run where both books are read in pieces by workers."""
    books = [ROOT / "samples" / "company-book.vcf", ROOT / "samples" / "crm-export.csv"]
    evidence = _evidence(books[0])
    policy = Policy(region="DE", now=_parse(NOW))
    runs = []
    for jobs in (1, 2):
        sanitizer = Sanitizer(evidence, policy, ReadOptions(fields=policy.keep_fields))
        out = io.BytesIO()
        with _pieces(1):
            run = sanitizer.run(books, jobs=jobs, report=out)
        report = json.loads(out.getvalue())
        runs.append((report["contacts"], report["summary"], run.clean))
    assert runs[0] == runs[1]
    assert runs[0][1]["merged"] > 0


@pytest.mark.parametrize("name", ["crm-export.csv", "company-book.vcf"])
@pytest.mark.parametrize("region", ["DE", None])
def test_without_report_entries_the_counts_are_the_same(name: str, region: str | None) -> None:
    """A run that writes no JSON report counts the common decisions without rendering them."""
    book = ROOT / "samples" / name
    evidence = _evidence(book)
    alone = _run(book, evidence, jobs=None, region=region)
    for jobs in (1, 2):
        assert _run(book, evidence, jobs=jobs, entries=False, region=region)[1:3] == alone[1:3]
    # without a region the national numbers are invalid, and counted for the hint
    assert (alone[1]["hint_region"] > 0) == (region is None)


def _generated(tmp_path: Path, fmt: str, cards: int) -> Path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import make_book
    finally:
        sys.path.pop(0)
    path = tmp_path / f"book.{'csv' if fmt in ('google', 'outlook') else 'vcf'}"
    make_book.write_book(fmt, cards, path)
    return path


@pytest.mark.parametrize("fmt", ["vcard21", "vcard30", "vcard40", "google", "outlook"])
@pytest.mark.parametrize("region", ["DE", None])
def test_generated_books(tmp_path: Path, fmt: str, region: str | None) -> None:
    """The benchmark's books (QP names, photos, Apple groups, multi-value cells) in 2 KB pieces;
    without a region, national numbers are invalid and counted as such."""
    book = _generated(tmp_path, fmt, 600)
    evidence = _evidence(book)
    alone = _run(book, evidence, jobs=None, region=region)
    assert _run(book, evidence, jobs=2, chunk_bytes=2048, region=region)[:3] == alone[:3]
    assert _run(book, evidence, jobs=1, region=region)[:3] == alone[:3]
    assert alone[1]["contacts_in"] == 600


@pytest.mark.parametrize("fmt", ["vcard30", "google"])
def test_batches_stay_small_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """A book read in one process comes in batches of at most BATCH entries (memory stays
    flat): a full batch declines the next contact offered, which is then decided from its
    Contact; the results are those of ``decisions()``."""
    monkeypatch.setattr(_workers, "BATCH", 7)
    book = _generated(tmp_path, fmt, 600)
    # evidence for one contact in ten: runs of quick decisions longer than a batch
    evidence = load_evidence([ROOT / "samples" / "ledger.csv"])
    at = _parse("2026-01-01T10:00:00+00:00")
    for index, contact in enumerate(read_book(book)):
        e164 = phones.normalize(contact.phones[0].value, "DE") if contact.phones else None
        if index % 10 == 0 and e164 is not None:
            evidence.add(EvidenceRecord(f"test:{index}", phone=e164, first_inbound_at=at,
                                        last_inbound_at=at))
    policy = Policy(region="DE", now=_parse(NOW))
    sanitizer = Sanitizer(evidence, policy, ReadOptions(fields=policy.keep_fields))
    counts: list[int] = []
    sanitizer.run([book], report=io.BytesIO(), on_progress=lambda n, *where: counts.append(n))
    assert max(counts) == 7 and sum(n for n in counts if n > 1) > 450
    assert _run(book, evidence, jobs=1)[:3] == _run(book, evidence, jobs=None)[:3]


class TestCuts:
    def _cuts(self, path: Path, size: int = 1, block: int = chunks.BLOCK,
              min_chunk: int = chunks.MIN_CHUNK) -> list[chunks.Chunk]:
        plan = chunks.plan(path, path.name, ReadOptions(), size)
        assert plan is not None
        return list(replace(plan, block=block, min_chunk=min_chunk).chunks())

    def test_vcard_pieces_start_at_cards_on_their_line(self, tmp_path: Path) -> None:
        book = tmp_path / "book.vcf"
        cards = [f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:P{i}\r\nTEL:+4917012345{i:02d}\r\n"
                 "END:VCARD\r\n" for i in range(5)]
        book.write_bytes(("".join(cards)).encode())
        cuts = self._cuts(book)
        data = book.read_bytes()
        assert [c.first_line for c in cuts] == [1, 6, 11, 16, 21]
        assert all(data[c.start:].startswith(b"BEGIN:VCARD\r\n") for c in cuts)
        assert [c.last for c in cuts] == [False] * 4 + [True]
        assert cuts[-1].end is None

    @pytest.mark.parametrize("eol", ["\n", "\r\n"])
    def test_line_numbers_across_blocks(self, tmp_path: Path, eol: str) -> None:
        """Cuts in blocks far smaller than the book (several per block, blocks that end inside
        a card): each piece's first line is the file's; a lone CR stops the cutting there and
        the rest is one piece."""
        cards = [f"BEGIN:VCARD{eol}VERSION:3.0{eol}FN:P{i}{eol}" + f"NOTE:x{eol}" * (i % 4)
                 + f"END:VCARD{eol}" for i in range(40)]
        cards[30] = cards[30].replace(f"FN:P30{eol}", "FN:P30\rNOTE:lone CR" + eol)
        book = tmp_path / "book.vcf"
        book.write_bytes("".join(cards).encode())
        data = book.read_bytes()
        cuts = self._cuts(book, size=64, block=200, min_chunk=1)
        assert len(cuts) > 10
        for cut in cuts:
            assert data[cut.start:].startswith(b"BEGIN:VCARD")
            assert cut.first_line == len(data[: cut.start].decode().splitlines()) + 1
        lone = data.index(b"\r" + b"NOTE")
        assert cuts[-1].start < lone and cuts[-1].end is None and cuts[-1].last
        assert cuts[-2].end is not None and cuts[-2].end <= lone
        plan = chunks.plan(book, book.name, ReadOptions(), 64)
        assert plan is not None
        pieces = [(c.line, c.display_name, c.phones, c.error)
                  for cut in cuts for c in chunks.read_chunk(plan, cut, ReadOptions())]
        assert pieces == [(c.line, c.display_name, c.phones, c.error) for c in read_book(book)]
        evidence = _evidence(book)
        alone = _run(book, evidence, jobs=None)
        assert _run(book, evidence, jobs=2, chunk_bytes=64)[:3] == alone[:3]

    def test_csv_is_not_cut_inside_a_quoted_cell(self, tmp_path: Path) -> None:
        book = tmp_path / "book.csv"
        book.write_text('Name,Phone,Notes\r\nA,+4917011111,"one\r\ntwo\r\nthree"\r\n'
                        'B,+4917022222,plain\r\n', encoding="utf-8")
        cuts = self._cuts(book)
        assert [c.first_line for c in cuts] == [2, 5]  # after the header; B's row on line 5

    def test_a_stray_quote_falls_back_to_one_process(self, tmp_path: Path) -> None:
        """A quote inside an unquoted cell throws the quote count off: a cut may land inside a
        later quoted cell; that piece then fails to read and the rest is read here, the same."""
        rows = ["Name,Phone,Notes", 'O"Brien,+4917011111,x']
        rows += [f'P{i},+491701234{i:03d},"line one\nline two"' for i in range(40)]
        book = tmp_path / "book.csv"
        book.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
        evidence = _evidence(book)
        alone = _run(book, evidence, jobs=None)
        assert _run(book, evidence, jobs=2, chunk_bytes=64)[:3] == alone[:3]

    @pytest.mark.parametrize(("name", "data"), [
        ("utf16.csv", "Name,Phone\r\nA,+4917011111\r\n".encode("utf-16")),
        ("stdin-like.vcf", None),
    ])
    def test_files_that_are_not_cut(self, tmp_path: Path, name: str, data: bytes | None) -> None:
        if data is None:
            assert chunks.plan("-", "-", ReadOptions()) is None
            return
        (tmp_path / name).write_bytes(data)
        assert chunks.plan(tmp_path / name, name, ReadOptions()) is None

    def test_lone_cr_lines_are_one_piece(self) -> None:
        cuts = self._cuts(TESTS / "fixtures" / "vcard" / "lone-cr.vcf")
        assert len(cuts) == 1 and cuts[0].start == 0 and cuts[0].last


_real_work = _workers._work


def _dying_work(chunk: chunks.Chunk) -> Any:
    """A worker killed on a piece in the middle of the book (out of memory, a signal)."""
    import os

    if 40_000 < chunk.start < 50_000:
        os._exit(9)
    return _real_work(chunk)


def test_a_killed_worker_costs_time_not_contacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a worker dies, the parent reads the rest of the book itself: same results."""
    book = _generated(tmp_path, "vcard30", 600)
    evidence = _evidence(book)
    alone = _run(book, evidence, jobs=None)
    plan = chunks.plan(book, "b", ReadOptions(), 4096)
    assert plan is not None and any(40_000 < c.start < 50_000 for c in plan.chunks())
    monkeypatch.setattr(_workers, "_work", _dying_work)
    assert _run(book, evidence, jobs=2, chunk_bytes=4096)[:3] == alone[:3]


class TestErrors:
    """Errors name the same file and line as reading in one process does."""

    def test_unterminated_quote_in_a_later_piece(self, tmp_path: Path) -> None:
        rows = ["Name,Phone"] + [f"P{i},+491701234{i:03d}" for i in range(50)]
        rows.insert(30, 'Broken,"+4917099999')
        book = tmp_path / "book.csv"
        book.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
        evidence = _evidence(book)
        alone = _run(book, evidence, jobs=None)
        assert alone[0] == "error" and "book.csv:31:" in alone[1]
        assert _run(book, evidence, jobs=2, chunk_bytes=40) == alone
        assert _run(book, evidence, jobs=1) == alone

    def test_a_header_without_numbers_is_reported_as_in_one_process(
        self, tmp_path: Path
    ) -> None:
        book = tmp_path / "book.csv"
        book.write_text("Name,City\r\n" + "".join(f"P{i},Berlin\r\n" for i in range(500)),
                        encoding="utf-8")
        alone = _run(book, Evidence(), jobs=None)
        assert alone[0] == "error" and "--phone-column" in alone[1]
        assert _run(book, Evidence(), jobs=2, chunk_bytes=256) == alone
        assert _run(book, Evidence(), jobs=1) == alone

    def test_undecodable_byte_in_a_later_piece(self, tmp_path: Path) -> None:
        rows = [b"Name,Phone"] + [b"P%d,+49170123%04d" % (i, i) for i in range(6000)]
        # Latin-1 past the 64 KiB the encoding is chosen by, in a file that starts as UTF-8
        rows[5000] = b"Gr\xfc\xdfe,+4917012345"
        book = tmp_path / "book.csv"
        book.write_bytes(b"\r\n".join(rows) + b"\r\n")
        evidence = Evidence()
        alone = _run(book, evidence, jobs=None)
        assert alone[0] == "error" and "book.csv:5001:" in alone[1]
        assert _run(book, evidence, jobs=2, chunk_bytes=4096) == alone
        assert _run(book, evidence, jobs=1) == alone


class TestCommandLine:
    def test_jobs_give_the_same_files(self, tmp_path: Path) -> None:
        """``--jobs 2`` on a book over the parallel threshold writes the bytes ``--jobs 1``
        writes (the report's time stamp aside)."""
        from click.testing import CliRunner

        book = _generated(tmp_path, "vcard30", 18_000)
        assert book.stat().st_size > 4 << 20
        ledger = tmp_path / "ledger.csv"
        ledger.write_text("phone,first_inbound_at\r\n" + "".join(
            f"{c.phones[0].value},2026-01-01T10:00:00Z\r\n"
            for i, c in enumerate(read_book(book)) if i % 50 == 0 and c.phones
            and c.phones[0].value.startswith("+49 1")), encoding="utf-8")
        outputs = {}
        # --verbose prints every Decision: its entries are written from them, the reference
        for jobs, flag in (("1", "-q"), ("2", "-q"), ("1", "-v")):
            out, report = tmp_path / f"clean{jobs}.vcf", tmp_path / f"report{jobs}.json"
            result = CliRunner().invoke(main, [
                "sanitize", str(book), "--evidence", str(ledger), "--region", "DE",
                "-o", str(out), "--report", str(report), "--jobs", jobs, flag])
            assert result.exit_code == 0, result.output
            data = json.loads(report.read_text(encoding="utf-8"))
            del data["generated_at"]
            outputs[jobs + flag] = (out.read_bytes(), data)
        assert outputs["1-q"] == outputs["2-q"] == outputs["1-v"]
        assert outputs["1-q"][1]["summary"]["contacts_kept"] > 20
