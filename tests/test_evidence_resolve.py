"""Linking evidence into identities: the short path for numbers seen alone against ``resolve``
over every statement (reference mode)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from contactguard import fastpaths
from contactguard.evidence import Evidence
from contactguard.model import EvidenceRecord

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)

# numbers of countries without WhatsApp variants, and pairs that are variants of each other:
# Mexico 52/521, a Brazilian mobile with and without the ninth digit, Argentina 54/549
NUMBERS = (
    "+491701234567", "+491709876543", "+447700900123", "+14155550123",
    "+525541637145", "+5215541637145", "+5511987654321", "+551187654321",
    "+541123456789", "+5491123456789",
)
LIDS = ("100000000000111@lid", "100000000000222@lid")
TIMES = st.one_of(st.none(), st.integers(0, 40).map(lambda d: T0 + timedelta(days=d)))


@st.composite
def records(draw: st.DrawFn) -> list[EvidenceRecord]:
    """Ledger-shaped records: mostly a number alone, some with a LID or user id, some with
    only a user id, a few number changes, the same number said twice."""
    out = []
    for line in range(draw(st.integers(1, 25))):
        phone = draw(st.one_of(st.none(), st.sampled_from(NUMBERS)))
        lid = draw(st.one_of(st.none(), st.sampled_from(LIDS)))
        user_id = draw(st.one_of(st.none(), st.sampled_from(("DE.1", "DE.2"))))
        if phone is None and lid is None and user_id is None:
            phone = NUMBERS[line % len(NUMBERS)]
        out.append(EvidenceRecord(
            phone=phone, lid=lid, user_id=user_id,
            first_inbound_at=draw(TIMES), first_outbound_at=draw(TIMES),
            last_inbound_at=draw(TIMES), opted_out_at=draw(TIMES),
            number_left_at=draw(TIMES) if phone and draw(st.integers(0, 5)) == 0 else None,
            source=f"ledger.csv:{line + 2}",
        ))
    return out


def _seen(evidence: Evidence) -> list[tuple[object, ...]]:
    return [(i.keys, i.entry, i.number, i.numbers, i.name, i.shared,
             [(s.keys, s.entry) for s in i.statements]) for i in evidence.identities()]


@settings(max_examples=300, deadline=None)
@given(records(), st.booleans())
def test_identities_are_those_of_resolve(given_records: list[EvidenceRecord],
                                         ar_without_9: bool) -> None:
    """Every identity, its entry, numbers and statements, and every number's look-up, are the
    same with the short path as with ``resolve`` over every statement."""
    quick = Evidence(ar_without_9=ar_without_9)
    quick.update(given_records)
    with fastpaths.reference():
        full = Evidence(ar_without_9=ar_without_9)
        full.update(given_records)
        expected = _seen(full)
        expected_index = dict(full.number_index())
    assert _seen(quick) == expected
    assert dict(quick.number_index()) == expected_index


def test_numbers_seen_alone_take_the_short_path_and_others_do_not() -> None:
    """A German number alone is its own identity; a Mexican pair, a number with a LID and a
    number that changed hands are linked as ``resolve`` links them."""
    evidence = Evidence()
    evidence.update([
        EvidenceRecord(phone="+491701234567", first_inbound_at=T0, source="a:2"),
        EvidenceRecord(phone="+525541637145", first_inbound_at=T0, source="a:3"),
        EvidenceRecord(phone="+5215541637145", first_outbound_at=T0, source="a:4"),
        EvidenceRecord(phone="+491709876543", lid=LIDS[0], first_inbound_at=T0, source="a:5"),
        EvidenceRecord(phone="+491709876543", first_outbound_at=T0, source="a:6"),
        EvidenceRecord(phone="+447700900123", first_inbound_at=T0, source="a:7"),
        EvidenceRecord(phone="+447700900123", number_left_at=T0 + timedelta(days=1),
                       source="a:8"),
    ])
    found = {i.number: i for i in evidence.identities()}
    assert found["+491701234567"].entry.initiated
    mexican = found["+5215541637145"]  # a pair of variants is named by the smaller
    assert mexican.numbers == ("+5215541637145", "+525541637145")
    assert not mexican.entry.initiated  # the business wrote to the 521 form first
    linked = found["+491709876543"]
    assert {k.kind for k in linked.keys} == {"phone", "lid"}
    assert sorted(linked.entry.sources) == ["a:5", "a:6"]
    assert found["+447700900123"].entry.first_inbound_at is None  # the previous holder's


def test_the_collector_is_paused_for_the_block_and_restored() -> None:
    """The cycle collector is off inside the block, back on after it (also after an error),
    and stays off after it when it was off before."""
    import gc

    import pytest

    from contactguard._gc import collector_paused

    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block found it off and left it off
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
