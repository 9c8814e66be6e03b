"""One person in a large ledger (``evidence show -n``, ``evidence forget``): found through
the key index, resolved from only the statements that can belong to them. Held to resolving
the whole ledger, on generated ledgers whose user IDs and LIDs link several numbers."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_ledger_v3 import MOMENTS, spell

from contactguard.errors import EvidenceError
from contactguard.evidence.identity import Identity, key_from_text, resolve
from contactguard.evidence.store import Ledger, names_identity
from contactguard.evidence.storeforget import _holds_any
from contactguard.model import EvidenceRecord

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# Mexico's two spellings are one WhatsApp number; Argentina's 549/54 are one for erasure
POOL = ["+491701234567", "+5215541637145", "+525541637146", "+5491123456789", "+15550100123"]
KINDS = [("phone",), ("phone",), ("phone", "user_id"), ("phone", "lid"), ("phone", "username"),
         ("user_id",), ("lid",), ("user_id", "username"), ("lid", "user_id"), ("name",),
         ("phone", "name"), ("user_id", "name")]


@st.composite
def ledger_records(draw: st.DrawFn) -> list[EvidenceRecord]:
    """Records whose keys are drawn apart: a user ID or LID may come with several numbers
    (shared), numbers in several spellings, names alone and beside other keys."""
    people = st.integers(0, 3)
    out = []
    for line in range(draw(st.integers(1, 16))):
        kinds = draw(st.sampled_from(KINDS))
        values = {"phone": spell(POOL[draw(st.integers(0, len(POOL) - 1))],
                                 draw(st.integers(0, 3))),
                  "user_id": f"DE.{700 + draw(people)}", "lid": f"{10**14 + draw(people)}@lid",
                  "username": f"user_{draw(people)}", "name": f"Person {draw(people)}"}
        out.append(EvidenceRecord(
            f"ledger.csv:{line + 2}", **{k: values[k] for k in kinds},
            first_inbound_at=draw(MOMENTS), first_outbound_at=draw(MOMENTS),
            last_inbound_at=draw(MOMENTS), opted_out_at=draw(MOMENTS),
            number_left_at=draw(MOMENTS)))
    return out


PROBES = ([spell(n, i) for n in POOL for i in range(2)]
          + ["+525541637145", "+541123456789"]  # the other spellings of two of them
          + [f"DE.{700 + i}" for i in range(4)] + [f"{10**14 + i}@lid" for i in range(4)]
          + [f"@user_{i}" for i in range(4)] + [f"Person {i}" for i in range(4)])


def whole(db: Ledger, text: str) -> list[Identity]:
    """The identities ``text`` names, resolved from the whole ledger."""
    wanted = key_from_text(text)
    return [i for i in resolve(db.statements(), ar_without_9=True) if names_identity(i, wanted)]


@SETTINGS
@given(records=ledger_records())
@example(records=[
    EvidenceRecord("a.csv:2", phone="+491701234567", lid="100000000000000@lid"),
    EvidenceRecord("a.csv:3", phone="+15550100123", lid="100000000000000@lid"),
    EvidenceRecord("a.csv:4", lid="100000000000000@lid", user_id="DE.700"),
    EvidenceRecord("a.csv:5", phone="+15550100123"),
])
def test_one_person_resolves_as_from_the_whole_ledger(
        tmp_path_factory: pytest.TempPathFactory, records: list[EvidenceRecord]) -> None:
    """For every number (any spelling), user ID, LID, username and name, the identities the
    ledger resolves from that person's part of it are those of the whole ledger, statements,
    entries and sources in the same order; ``evidence show -n`` shows the same; and the
    people known by a name alone are counted as the whole ledger counts them."""
    path = tmp_path_factory.mktemp("people") / "ledger.sqlite"
    with Ledger(path) as db:
        db.import_records(records)
    with Ledger(path, readonly=True) as db:
        for text in PROBES:
            assert db.identities_named(key_from_text(text)) == whole(db, text), text
            shown = [(e.kind, e.key, e.entry, e.keys) for e in db.entries(text)]
            assert shown == [(e.kind, e.key, e.entry, e.keys) for e in db.entries()
                             if e.keys in {i.keys for i in whole(db, text)}], text
        assert db.name_only_count() == sum(1 for e in db.entries() if e.kind == "name")


@SETTINGS
@given(records=ledger_records(), probe=st.sampled_from(PROBES))
def test_forget_removes_the_statements_of_the_whole_ledgers_identities(
        tmp_path_factory: pytest.TempPathFactory, records: list[EvidenceRecord],
        probe: str) -> None:
    """``forget`` removes exactly the statements of the identities the whole ledger resolves
    for the key, and nothing else."""
    folder = tmp_path_factory.mktemp("forget")
    path = folder / "ledger.sqlite"
    with Ledger(path) as db:
        db.import_records(records)
        before = db.statements()
        named = whole(db, probe)
        gone = {s.keys for i in named for s in i.statements}
        try:
            result = db.forget(probe, wait=1)
        except EvidenceError as exc:  # another person's statement holds the same bytes (a
            assert "could not be verified" in exc.message  # shared name): said, not hidden
        else:
            assert (result.identities, result.statements) == (len(named), len(gone))
        assert [s.keys for s in db.statements()] == [s.keys for s in before
                                                      if s.keys not in gone]


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), needle=st.binary(min_size=1, max_size=12),
       at=st.integers(0, 300), block=st.integers(1, 40), put=st.booleans())
def test_a_trace_across_blocks_is_found(tmp_path_factory: pytest.TempPathFactory,
                                        data: bytes, needle: bytes, at: int, block: int,
                                        put: bool) -> None:
    """The erasure check reads a file a block at a time and still finds bytes that straddle
    two blocks: it answers as ``needle in`` the whole file."""
    if put:
        data = data[:at] + needle + data[at:]
    path = tmp_path_factory.mktemp("traces") / "f"
    path.write_bytes(data)
    assert _holds_any(path, {needle, b"\xff" * 13}, block=block) == (
        needle in data or b"\xff" * 13 in data)
    shutil.rmtree(path.parent)
