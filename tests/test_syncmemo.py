"""The memo that lets a sync run reuse the last decisions: each thing it fingerprints changes
the fingerprint, and nothing else does."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactguard.evidence import load_evidence
from contactguard.syncconfig import load_config
from contactguard.syncmemo import (
    Memo,
    config_hash,
    expiry,
    inputs_hash,
    listing_hash,
    phone_as_written,
    summary_from,
    summary_json,
)

CONFIG = (
    'region = "DE"\nquarantine = "q/"\n[source]\npath = "book.vcf"\n'
    '[target]\nurl = "http://127.0.0.1:1/phone/"\n[evidence]\nsources = ["ev/"]\n'
    '[policy]\nkeep_fields = ["ORG", "EMAIL", "NOTE", "TITLE", "URL"]\n'
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "book.vcf").write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A B\r\nEND:VCARD\r\n")
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "a.csv").write_text("phone,first_inbound_at\n+4915123456701,2026-01-05\n")
    (tmp_path / "sync.toml").write_text(CONFIG)
    return tmp_path


def test_the_config_hash_is_the_same_in_every_process(folder: Path) -> None:
    """Sets in the config (keep_fields) hash alike whatever the process's string hashing."""
    code = (
        "import sys; from contactguard.syncconfig import load_config; "
        "from contactguard.syncmemo import config_hash; "
        "print(config_hash(load_config(sys.argv[1])))"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", code, str(folder / "sync.toml")],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(seen) == 1
    assert seen == {config_hash(load_config(folder / "sync.toml")) + "\n"}


def test_a_changed_policy_changes_the_config_hash(folder: Path) -> None:
    """Another max_age is another config."""
    before = config_hash(load_config(folder / "sync.toml"))
    (folder / "sync.toml").write_text(CONFIG + 'max_age = "30d"\n')
    assert config_hash(load_config(folder / "sync.toml")) != before


def test_inputs_hash_sees_an_edited_and_an_added_evidence_file(folder: Path) -> None:
    """An edit to an evidence file, or a new file in an evidence folder, changes the inputs."""
    config = load_config(folder / "sync.toml")
    first = inputs_hash(config)
    assert first is not None and inputs_hash(config) == first
    (folder / "ev" / "a.csv").write_text("phone,first_inbound_at\n+4915123456702,2026-01-05\n")
    second = inputs_hash(config)
    assert second != first
    (folder / "ev" / "b.csv").write_text("phone,first_inbound_at\n")
    assert inputs_hash(config) not in (first, second)


def test_remote_evidence_is_never_fingerprinted(folder: Path) -> None:
    """Evidence behind an https URL cannot be told unchanged without fetching it: no memo."""
    (folder / "sync.toml").write_text(
        CONFIG.replace('sources = ["ev/"]', 'sources = ["ev/", "https://crm.example/in.csv"]')
    )
    assert inputs_hash(load_config(folder / "sync.toml")) is None


def test_a_listing_with_a_card_without_etag_has_no_hash() -> None:
    """A card without ETag cannot be told unchanged, so such a listing never matches."""
    same = listing_hash({"/b.vcf": "2", "/a.vcf": "1"})
    assert listing_hash({"/a.vcf": "1", "/b.vcf": "2"}) == same
    assert listing_hash({"/a.vcf": "1", "/b.vcf": None}) is None


@given(
    cards=st.dictionaries(st.sampled_from(["/a", "/b", "/c", "/d"]), st.sampled_from(["1", "2"])),
    listing=st.dictionaries(
        st.sampled_from(["/a", "/b", "/c", "/d"]), st.sampled_from(["1", "2", None])
    ),
)
def test_the_phone_is_as_written_only_when_hrefs_and_etags_all_match(
    cards: dict[str, str], listing: dict[str, str | None]
) -> None:
    """Any card more, less or with another ETag on the phone means it is not as written."""
    state = {href: {"etag": etag} for href, etag in cards.items()}
    assert phone_as_written(listing, state) == (listing == cards)


def test_expiry_is_the_first_moment_fresh_evidence_ages_out(tmp_path: Path) -> None:
    """With max_age 30 days, the earliest fresh inbound message + 30 days; stale ones and
    business-first ones do not count; without max_age, nothing expires."""
    ledger = tmp_path / "l.csv"
    ledger.write_text(
        "phone,first_inbound_at,first_outbound_at\n"
        "+4915123456701,2026-01-10,\n"  # fresh: ages out on 2026-02-09
        "+4915123456702,2026-01-20,\n"
        "+4915123456703,2025-06-01,\n"  # stale already
    )
    evidence = load_evidence([ledger])
    now = datetime(2026, 1, 25, tzinfo=timezone.utc)
    found = expiry(evidence, timedelta(days=30), now)
    assert found is not None and found.startswith("2026-02-09")
    assert expiry(evidence, None, now) is None
    assert expiry(evidence, timedelta(days=1), now) is None  # every message is stale by then


@given(days=st.integers(0, 400), max_age=st.integers(1, 200))
@settings(max_examples=40)
def test_no_decision_flips_before_the_expiry(days: int, max_age: int) -> None:
    """Hypothesis: for any clock and max age, no person's evidence goes stale before the memo
    expires (checked against the entry's own rule)."""
    from contactguard.evidence import Evidence
    from contactguard.model import EvidenceRecord

    evidence = Evidence()
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for n in range(5):
        evidence.add(
            EvidenceRecord(
                source="ledger.csv",
                phone=f"+49151234567{n:02d}",
                first_inbound_at=base + timedelta(days=37 * n),
            )
        )
    age = timedelta(days=max_age)
    now = base + timedelta(days=days)
    ends = expiry(evidence, age, now)
    for identity in evidence.identities():
        entry = identity.entry
        if entry.expired(now, age):
            continue  # already stale: time cannot bring it back
        flips = (entry.last_inbound_at or entry.first_inbound_at) + age  # type: ignore[operator]
        assert ends is not None and datetime.fromisoformat(ends) <= flips


def test_a_memo_of_another_shape_is_none() -> None:
    """A memo with a key missing, a wrong type or extra keys is as good as none."""
    good = Memo("c", "i", "s", None, 3, 0, {"contacts_in": 1}).as_json()
    assert Memo.load(good) == Memo("c", "i", "s", None, 3, 0, {"contacts_in": 1})
    assert Memo.load({**good, "more": 1}) is None
    assert Memo.load({k: v for k, v in good.items() if k != "source"}) is None
    assert Memo.load({**good, "evidence": "3"}) is None
    assert Memo.load({**good, "evidence": True}) is None
    assert Memo.load([good]) is None


def test_an_unreadable_expiry_counts_as_expired() -> None:
    """A memo whose expiry cannot be read is expired: the run decides again."""
    memo = Memo("c", "i", "s", "not a time", 3, 0, {})
    assert memo.expired(datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_the_summary_counts_survive_the_memo() -> None:
    """A reused run tells the same counts as the run it reuses."""
    from contactguard.summary import Summary

    summary = Summary(contacts_in=3, contacts_kept=2, contacts_removed=1, numbers_in=4)
    summary.reasons["inbound_first"] += 2
    summary.inputs.append("https://dav.example/it/all/")
    back = summary_from(summary_json(summary))
    assert (back.contacts_in, back.contacts_kept, back.contacts_removed) == (3, 2, 1)
    assert back.reasons == summary.reasons and back.inputs == summary.inputs
