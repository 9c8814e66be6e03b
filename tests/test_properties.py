"""The core invariant, stated as a property over random books and ledgers (hypothesis).

For any book and any evidence: every number in the clean book has inbound-first evidence, is not
opted out and not expired, and no field outside the allowed set appears.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactguard import read_book
from contactguard.errors import InputError
from contactguard.evidence import Evidence
from contactguard.model import Contact, EvidenceRecord, Field, Phone
from contactguard.pipeline import Sanitizer
from contactguard.policy import Policy

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)
# a small pool so that books and evidence collide often; DE mobiles, an MX and a BR pair
POOL = [
    "+4915123456701",
    "+4917098765402",
    "+4916090123404",
    "+4915780012305",
    "+525541637145",
    "+5215541637145",
    "+5511987654321",
    "+551187654321",
    "+551133334444",
]
FORMS = st.sampled_from(POOL).flatmap(
    lambda n: st.sampled_from(
        [
            n,
            n[1:],
            "00" + n[1:],
            n[:3] + " " + n[3:6] + "-" + n[6:],
            "0" + n[3:] if n.startswith("+49") else n,
            "tel:" + n,
        ]
    )
)
when = st.integers(min_value=0, max_value=900).map(lambda d: NOW - timedelta(days=d))

records = st.builds(
    EvidenceRecord,
    source=st.just("ledger.csv:2"),
    phone=st.sampled_from([n[1:] if i % 2 else n for i, n in enumerate(POOL)]),
    first_inbound_at=st.none() | when,
    first_outbound_at=st.none() | when,
    last_inbound_at=st.none() | when,
    opted_out_at=st.none() | when,
)
fields = st.lists(
    st.builds(
        Field,
        name=st.sampled_from(["ORG", "EMAIL", "NOTE", "TITLE", "URL"]),
        value=st.text(max_size=12),
    ),
    max_size=3,
).map(tuple)
contacts = st.builds(
    Contact,
    source=st.just("book"),
    line=st.integers(min_value=1, max_value=10_000),
    fn=st.text(max_size=20),
    phones=st.lists(st.builds(Phone, value=FORMS | st.text(max_size=15)), max_size=4).map(tuple),
    fields=fields,
    uid=st.none() | st.text(min_size=1, max_size=10),
)


class _Book(io.BytesIO):
    name = "book"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    book=st.lists(contacts, min_size=1, max_size=12),
    evidence=st.lists(records, max_size=12),
    keep=st.sets(st.sampled_from(["ORG", "EMAIL", "NOTE"])),
    max_age=st.none() | st.integers(min_value=1, max_value=400).map(lambda d: timedelta(days=d)),
    fmt=st.sampled_from(["vcard3", "vcard4", "csv"]),
)
def test_clean_book_holds_only_allowed_numbers_and_fields(
    book, evidence, keep, max_age, fmt
) -> None:
    """Whatever the book and evidence, the written clean book leaks nothing the policy forbids."""
    from contactguard.books import write_book

    ev = Evidence()
    for record in evidence:
        ev.add(record)
    buffer = io.BytesIO()
    write_book(book, buffer, "vcard3")
    policy = Policy(region="DE", keep_fields=frozenset(keep), max_age=max_age, now=NOW)
    sanitizer = Sanitizer(ev, policy)
    decisions = list(sanitizer.decisions([_Book(buffer.getvalue())]))
    assert sanitizer.summary.contacts_kept + sanitizer.summary.contacts_removed == len(decisions)

    out = io.BytesIO()
    write_book(sanitizer.clean, out, fmt)
    back = list(read_book(io.BytesIO(out.getvalue()), name="clean")) if sanitizer.clean else []
    assert len(back) == len(sanitizer.clean)
    for contact in back:
        assert contact.error is None
        assert {f.name for f in contact.fields} <= policy.keep_fields
        for phone in contact.phones:
            entry = ev.lookup(phone.value)
            assert entry is not None, phone
            assert entry.initiated and not entry.opted_out and not entry.expired(NOW, max_age)


def _report(sanitizer: Sanitizer, source: object, quick: bool) -> tuple[object, ...]:
    """(report contacts, summary, clean book) of a run: on the quick path, or with a Decision
    for every contact."""
    import json

    out = io.BytesIO()
    run = sanitizer.run([source], report=out,
                        on_decision=None if quick else (lambda decision: None))
    report = json.loads(out.getvalue())
    return report["contacts"], report["summary"], run.clean


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    book=st.lists(contacts, min_size=1, max_size=12),
    evidence=st.lists(records, max_size=12),
    region=st.sampled_from(["DE", None]),
    fmt=st.sampled_from(["vcard3", "csv"]),
)
def test_rendered_in_one_process_as_decided(book, evidence, region, fmt) -> None:
    """A run in one process (the common decisions rendered from what the reader offers) writes
    the report and clean book that a run with a Decision for every contact does."""
    from contactguard.books import ReadOptions, write_book

    ev = Evidence()
    for record in evidence:
        ev.add(record)
    buffer = io.BytesIO()
    write_book(book, buffer, fmt)
    policy = Policy(region=region, now=NOW)
    runs = []
    for quick in (False, True):
        sanitizer = Sanitizer(ev, policy, ReadOptions(fields=policy.keep_fields))
        source = _Book(buffer.getvalue())
        try:
            runs.append(_report(sanitizer, source, quick))
        except InputError as exc:  # a book the writer made unreadable (a NUL byte, no phones)
            runs.append(("error", str(exc)))
    assert runs[0] == runs[1]
