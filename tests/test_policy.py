"""The decision for one contact (policy and evidence semantics: docs/architecture.md)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from contactguard.errors import ConfigError
from contactguard.evidence import Evidence
from contactguard.model import Contact, EvidenceRecord, Field, Phone, Reason
from contactguard.policy import Policy, decide, normalize_numbers

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def day(n: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=n)


def evidence(*records: EvidenceRecord) -> Evidence:
    ev = Evidence()
    for record in records:
        ev.add(record)
    return ev


def inbound(phone: str, at: int = 10, **kw: datetime) -> EvidenceRecord:
    return EvidenceRecord(source="ledger.csv:2", phone=phone, first_inbound_at=day(at), **kw)


def contact(*numbers: str, fn: str = "Anna Beispiel", **kw: object) -> Contact:
    return Contact("book.vcf", 1, fn=fn, phones=tuple(Phone(n, ("cell",)) for n in numbers), **kw)  # type: ignore[arg-type]


def run(
    c: Contact, ev: Evidence, policy: Policy | None = None, names: dict[str, int] | None = None
):
    policy = policy or Policy(region="DE")
    return decide(c, normalize_numbers(c, policy.region), ev, policy, NOW, names)


class TestNumbers:
    def test_inbound_first_is_kept_in_e164(self) -> None:
        """A number whose owner wrote first is kept and written in E.164."""
        d = run(contact("0170 1234567"), evidence(inbound("+491701234567")))
        assert (d.kept, d.reason) == (True, Reason.INBOUND_FIRST)
        assert d.output is not None
        assert [p.value for p in d.output.phones] == ["+491701234567"]
        assert d.numbers[0].sources == ("ledger.csv:2",)

    def test_other_numbers_of_a_kept_contact_are_stripped(self) -> None:
        """Only the initiated number stays; the office line may belong to somebody else."""
        d = run(contact("0170 1234567", "030 1234567"), evidence(inbound("+491701234567")))
        assert d.kept
        assert [p.value for p in d.output.phones] == ["+491701234567"]  # type: ignore[union-attr]
        assert [(n.kept, n.reason) for n in d.numbers] == [
            (True, Reason.INBOUND_FIRST),
            (False, Reason.NO_EVIDENCE),
        ]

    def test_reply_to_business_first_message_is_business_initiated(self) -> None:
        """A customer replying to a business-first message did not initiate."""
        rec = inbound("+491701234567", at=5, first_outbound_at=day(4))
        d = run(contact("+49 170 1234567"), evidence(rec))
        assert (d.kept, d.reason) == (False, Reason.BUSINESS_INITIATED)

    def test_same_instant_is_not_initiated(self) -> None:
        """Inbound and outbound at the same instant do not prove who wrote first: fail closed."""
        rec = inbound("+491701234567", at=5, first_outbound_at=day(5))
        assert run(contact("+491701234567"), evidence(rec)).reason is Reason.BUSINESS_INITIATED

    def test_opted_out_is_removed(self) -> None:
        """A person who opted out is removed even though they wrote first."""
        rec = inbound("+491701234567", at=5, opted_out_at=day(20))
        assert run(contact("+491701234567"), evidence(rec)).reason is Reason.OPTED_OUT

    def test_writing_again_after_opt_out_lifts_it(self) -> None:
        """An inbound message newer than the opt-out lifts it."""
        rec = inbound("+491701234567", at=5, opted_out_at=day(20), last_inbound_at=day(30))
        assert run(contact("+491701234567"), evidence(rec)).kept

    def test_expired_only_with_max_age(self) -> None:
        """An old last inbound message expires only when a maximum age is configured."""
        rec = inbound("+491701234567", at=5, last_inbound_at=day(6))
        ev = evidence(rec)
        assert run(contact("+491701234567"), ev).kept
        aged = Policy(region="DE", max_age=timedelta(days=30))
        assert run(contact("+491701234567"), ev, aged).reason is Reason.EXPIRED

    def test_no_evidence(self) -> None:
        """A number nobody vouches for is removed as no-evidence."""
        assert run(contact("+491701234567"), evidence()).reason is Reason.NO_EVIDENCE

    def test_invalid_number(self) -> None:
        """A number phonenumbers cannot read is removed as invalid-number, never guessed."""
        d = run(contact("12345"), evidence(inbound("+4912345")))
        assert (d.kept, d.reason) == (False, Reason.INVALID_NUMBER)

    def test_national_number_without_region_says_pass_region(self) -> None:
        """Without --region a national number is invalid and the decision says to pass --region."""
        d = run(contact("0170 1234567"), evidence(inbound("+491701234567")), Policy())
        assert d.reason is Reason.INVALID_NUMBER
        assert "--region" in d.detail

    def test_contact_reason_prefers_the_most_telling(self) -> None:
        """With an opted-out and an unknown number, the contact is removed as opted-out."""
        rec = inbound("+491701234567", at=5, opted_out_at=day(9))
        d = run(contact("+491701234567", "+491719999999"), evidence(rec))
        assert d.reason is Reason.OPTED_OUT


class TestContacts:
    def test_no_number(self) -> None:
        """A contact without any number is removed as no-number."""
        assert run(contact(), evidence()).reason is Reason.NO_NUMBER

    def test_unparseable(self) -> None:
        """A card the reader could not parse is removed as unparseable with the parse error."""
        bad = Contact("book.vcf", 7, error="missing END:VCARD")
        d = run(bad, evidence())
        assert (d.kept, d.reason, d.detail) == (False, Reason.UNPARSEABLE, "missing END:VCARD")

    def test_fields_are_minimised(self) -> None:
        """Only FN, N, TEL, UID survive unless a field is kept explicitly."""
        fields = (Field("ORG", ("Acme",)), Field("EMAIL", "anna@example.com"), Field("NOTE", "x"))
        c = contact("+491701234567", fields=fields, uid="u-1", n=("Beispiel", "Anna", "", "", ""))
        ev = evidence(inbound("+491701234567"))
        plain = run(c, ev).output
        assert plain is not None
        assert (plain.fields, plain.uid, plain.n) == ((), "u-1", c.n)
        org = run(c, ev, Policy(region="DE", keep_fields=frozenset({"org"}))).output
        assert org is not None
        assert org.fields == (Field("ORG", ("Acme",)),)

    @pytest.mark.parametrize(
        ("name", "says"),
        [("X-CUSTOM", "never kept"), ("photo", "never kept"), ("Company", "not a vCard property")],
    )
    def test_a_field_the_book_cannot_carry_is_refused(self, name: str, says: str) -> None:
        """A library Policy refuses the keep fields the command line and sync config refuse."""
        with pytest.raises(ConfigError, match=says):
            Policy(keep_fields=frozenset({"ORG", name}))

    def test_nameless_kept_contact_gets_its_number_as_name(self) -> None:
        """A kept contact without a name is named by its number."""
        d = run(contact("+491701234567", fn=""), evidence(inbound("+491701234567")))
        assert d.output is not None
        assert d.output.fn == "+491701234567"


class TestNameEvidence:
    def named(self, phone: str | None = None) -> Evidence:
        return evidence(EvidenceRecord("chat.txt", name="Anna Beispiel", first_inbound_at=day(3)))

    def test_unique_name_with_one_number_is_kept(self) -> None:
        """Evidence under a display name applies to the one contact with that name and number."""
        d = run(contact("+491701234567"), self.named(), names={"Anna Beispiel": 1})
        assert d.kept

    def test_shared_name_is_ambiguous(self) -> None:
        """Two book contacts with the same name: nobody can tell whose chat it was."""
        d = run(contact("+491701234567"), self.named(), names={"Anna Beispiel": 2})
        assert (d.kept, d.reason) == (False, Reason.AMBIGUOUS_NAME)

    def test_several_numbers_are_ambiguous(self) -> None:
        """A named contact with two numbers cannot tell which number wrote."""
        d = run(contact("+491701234567", "+491719999999"), self.named(), names={"Anna Beispiel": 1})
        assert (d.kept, d.reason) == (False, Reason.AMBIGUOUS_NUMBER)
