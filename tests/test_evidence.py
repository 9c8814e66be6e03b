from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from contactguard.errors import EvidenceError
from contactguard.evidence import SOURCE_KINDS, Evidence, kind_of, load_evidence
from contactguard.model import EvidenceEntry, EvidenceRecord

FIXTURES = Path(__file__).parent / "fixtures" / "evidence"
UTC = timezone.utc


def day(n: int) -> datetime:
    return datetime(2026, 3, n, tzinfo=UTC)


def evidence(*records: EvidenceRecord, ar_without_9: bool = False) -> Evidence:
    merged = Evidence(ar_without_9=ar_without_9)
    merged.update(records)
    return merged


def inbound(phone: str, at: int = 1, source: str = "s:1") -> EvidenceRecord:
    return EvidenceRecord(source=source, phone=phone, first_inbound_at=day(at))


class TestSemantics:
    def test_customer_wrote_first(self) -> None:
        """An inbound message before any outbound one means the person initiated."""
        merged = evidence(
            EvidenceRecord("s:1", phone="+491701234567", first_inbound_at=day(1)),
            EvidenceRecord("s:2", phone="+491701234567", first_outbound_at=day(2)),
        )
        entry = merged.lookup("+491701234567")
        assert entry is not None
        assert (entry.initiated, entry.sources) == (True, ("s:1", "s:2"))

    def test_business_first_then_reply(self) -> None:
        """A customer replying to a business-first message did not initiate."""
        merged = evidence(
            EvidenceRecord("s:1", phone="+491701234567", first_outbound_at=day(1)),
            EvidenceRecord("s:2", phone="491701234567", first_inbound_at=day(2)),
        )
        entry = merged.lookup("+491701234567")
        assert entry is not None
        assert entry.initiated is False

    def test_opted_out_then_wrote_again(self) -> None:
        """An opt-out is lifted by a newer inbound message from a later source."""
        opted = evidence(
            inbound("+491701234567", 1),
            EvidenceRecord("s:2", phone="+491701234567", opted_out_at=day(3)),
        )
        wrote_again = evidence(
            inbound("+491701234567", 1),
            EvidenceRecord("s:2", phone="+491701234567", opted_out_at=day(3)),
            EvidenceRecord("s:3", phone="+491701234567", last_inbound_at=day(5)),
        )
        before, after = opted.lookup("+491701234567"), wrote_again.lookup("+491701234567")
        assert (before and before.opted_out, after and after.opted_out) == (True, False)

    def test_unknown_number(self) -> None:
        """A number without evidence has no entry."""
        assert evidence(inbound("+491701234567")).lookup("+4915112345678") is None


class TestVariantsInLookup:
    def test_mexico_wa_id_matches_book_number(self) -> None:
        """Evidence under WhatsApp's 521 form matches the book's valid +52 number."""
        merged = evidence(inbound("5215541637145"))
        assert merged.lookup("+525541637145") == EvidenceEntry.from_record(
            inbound("+5215541637145")
        )

    def test_brazil_old_account_matches_nine_digit_mobile(self) -> None:
        """Evidence from an 8-digit Brazilian mobile account matches the 9-digit book number."""
        assert evidence(inbound("551187654321")).lookup("+5511987654321") is not None

    def test_brazil_landline_never_matches_mobile(self) -> None:
        """Evidence for an 8-digit landline says nothing about a mobile with a ninth digit."""
        assert evidence(inbound("+551123456789")).lookup("+5511923456789") is None

    def test_argentina_only_when_opted_in(self) -> None:
        """Argentine 54 evidence matches a 549 book number only with ar_without_9."""
        record = inbound("+541123456789")
        assert evidence(record).lookup("+5491123456789") is None
        assert evidence(record, ar_without_9=True).lookup("+5491123456789") is not None

    def test_variants_are_merged(self) -> None:
        """Evidence under both forms of one identity is merged: outbound on one beats inbound."""
        merged = evidence(
            inbound("+5215541637145", 2, "a:1"),
            EvidenceRecord("b:1", phone="+525541637145", first_outbound_at=day(1)),
        )
        entry = merged.lookup("+525541637145")
        assert entry is not None
        assert (entry.initiated, sorted(entry.sources)) == (False, ["a:1", "b:1"])


class TestIdentities:
    def test_names_and_user_ids(self) -> None:
        """Name-only records are kept by name, user-id-only records are counted as unmatchable."""
        merged = evidence(
            inbound("+491701234567"),
            EvidenceRecord("c:1", name=" Anna Beispiel ", first_inbound_at=day(1)),
            EvidenceRecord("w:1", user_id="US.1234", first_inbound_at=day(1)),
            EvidenceRecord("w:2", user_id="US.1234", first_inbound_at=day(2)),
        )
        entry = merged.by_name("Anna Beispiel")
        assert (len(merged), merged.names, merged.unmatchable) == (1, {"Anna Beispiel"}, 1)
        assert entry is not None
        assert entry.sources == ("c:1",)
        assert merged.by_user_id("US.1234") is not None

    def test_phone_wins_over_name(self) -> None:
        """A record with a number and a name is evidence for the number only."""
        merged = evidence(EvidenceRecord("c:1", phone="+491701234567", name="Anna"))
        assert (list(dict(merged)), merged.names) == (["+491701234567"], frozenset())

    def test_bad_phone_in_record_is_an_error(self) -> None:
        """A record whose phone is no evidence number is an EvidenceError naming its source."""
        with pytest.raises(EvidenceError, match=r"^chat\.txt:7: phone 'Anna'"):
            evidence(EvidenceRecord("chat.txt:7", phone="Anna"))

    def test_record_without_identity_is_an_error(self) -> None:
        """A record with no phone, name or user id is an EvidenceError naming its source."""
        with pytest.raises(EvidenceError, match=r"^x:1: a record with no phone"):
            evidence(EvidenceRecord("x:1", first_inbound_at=day(1)))


class TestLoad:
    def test_same_source_twice_changes_nothing(self) -> None:
        """Merging is idempotent: loading a ledger twice gives the same entries as once."""
        once = load_evidence([FIXTURES / "ledger.csv", FIXTURES / "ledger.jsonl"])
        twice = load_evidence([FIXTURES / "ledger.csv", FIXTURES / "ledger.jsonl"] * 2)
        assert (list(twice), twice.names, twice.unmatchable) == (
            list(once),
            once.names,
            once.unmatchable,
        )

    def test_kinds_are_sniffed(self) -> None:
        """CSV and JSONL ledgers are told apart by content, not by name."""
        heads = {
            name: (FIXTURES / name).read_bytes()[:200]
            for name in ("ledger.csv", "ledger.jsonl", "excel-de-semicolon-bom.csv")
        }
        kinds = {
            name: getattr(kind_of("x.txt", head), "name", None) for name, head in heads.items()
        }
        assert kinds == {
            "ledger.csv": "csv-ledger",
            "ledger.jsonl": "jsonl-ledger",
            "excel-de-semicolon-bom.csv": "csv-ledger",
        }

    def test_registry_names_are_unique(self) -> None:
        """Every source kind has its own name (new source kinds add entries to the same table)."""
        names = [kind.name for kind in SOURCE_KINDS]
        assert len(names) == len(set(names))

    def test_single_path_and_str(self) -> None:
        """A single path or string is one source, not a list of characters."""
        assert len(load_evidence(str(FIXTURES / "ledger.csv"))) == 3
        assert len(load_evidence(FIXTURES / "ledger.csv")) == 3

    def test_folder(self, tmp_path: Path) -> None:
        """A folder yields the files below it, sorted; hidden and unknown files are skipped."""
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "2.csv").write_bytes(
            b"phone,first_inbound_at\n+491701234567,2026-03-02\n"
        )
        (tmp_path / "1.jsonl").write_bytes(
            b'{"phone": "+491701234567", "first_inbound_at": "2026-03-01"}\n'
        )
        (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
        (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
        merged = load_evidence([tmp_path])
        entry = merged.lookup("+491701234567")
        assert entry is not None
        assert entry.sources == (f"{tmp_path}/1.jsonl:1", f"{tmp_path}/b/2.csv:2")
        assert merged.warnings == [f"{tmp_path}/photo.jpg: skipped, not a known evidence source"]

    def test_glob(self, tmp_path: Path) -> None:
        """A glob pattern is expanded in sorted order."""
        for n in (2, 1):
            (tmp_path / f"l{n}.csv").write_bytes(b"phone,first_inbound_at\n+49170123456%d,\n" % n)
        assert [key for key, _ in load_evidence([f"{tmp_path}/l*.csv"])] == [
            "+491701234561",
            "+491701234562",
        ]

    def test_header_only_ledger_is_fine(self) -> None:
        """An evidence file that exists but holds no rows loads as empty evidence."""
        assert len(load_evidence([FIXTURES / "header-only.csv"])) == 0

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("missing.csv", "missing.csv: no such file or folder"),
            ("nothing-*.csv", "nothing-*.csv: no file matches this pattern"),
            ("notes.txt", "notes.txt: not a known evidence source"),
            ("bad.csv", "bad.csv:3: phone 'n/a' is not a +E.164 number"),
        ],
        ids=["missing", "empty-glob", "unknown-kind", "bad-row"],
    )
    def test_errors_name_the_source(self, tmp_path: Path, name: str, message: str) -> None:
        """A missing path, an empty glob, an unknown file and a bad row are EvidenceErrors."""
        (tmp_path / "notes.txt").write_bytes(b"call Anna back about the cake order\n")
        (tmp_path / "bad.csv").write_bytes(b"phone,first_inbound_at\n+491701234567,\nn/a,\n")
        with pytest.raises(EvidenceError) as caught:
            load_evidence([tmp_path / name])
        assert str(caught.value).startswith(f"{tmp_path}/{message}")
