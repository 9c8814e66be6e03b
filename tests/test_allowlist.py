"""Evidence fails closed by allow-list: only what a reader recognises as the customer's own
message counts; replies prove the business wrote; the unknown is counted, never trusted."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactguard.cli import main
from contactguard.evidence import Evidence, load_evidence
from contactguard.evidence.chats import read_chat, read_exports
from contactguard.model import EvidenceRecord

LRM = "\u200e"
E2E_DE = ("Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt. Niemand außerhalb dieses "
          "Chats kann sie lesen oder anhören, nicht einmal WhatsApp.")


def ios(lines: list[tuple[str, str, str]], chat: str = "Anna Beispiel") -> str:
    """An iOS export: (time, sender, body); a body starting with LRM is marked as iOS does."""
    out = [f"[01.03.26, 09:00:00] {chat}: {LRM}{E2E_DE}"]
    for moment, sender, body in lines:
        lead = LRM if body.startswith(LRM) else ""
        out.append(f"{lead}[01.03.26, {moment}] {sender}: {body}")
    return "\r\n".join(out) + "\r\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def chat_records(path: Path, me: str = "Musterladen") -> tuple[list[EvidenceRecord], list[str]]:
    warnings: list[str] = []
    found = list(read_exports([str(path)], me=me, warn=warnings.append))
    return found, warnings


def initiated(records: list[EvidenceRecord]) -> bool:
    evidence = Evidence()
    evidence.update(records)
    return any(i.entry.initiated for i in evidence.identities())


class TestIosSystemLines:
    def test_unknown_marked_notice_first_is_not_the_customer(self, tmp_path: Path) -> None:
        """A marked notice in an unknown wording under the chat's name, before the business
        writes, is no message of the customer: the chat is not evidence of them writing first."""
        path = write(tmp_path, "_chat.txt", ios([
            ("10:00:00", "Anna Beispiel", f"{LRM}Dieses Konto gehört jetzt zu einer Firma."),
            ("10:05:00", "Musterladen", "Guten Tag, hier ist Ihr Angebot"),
            ("10:07:00", "Anna Beispiel", "Danke!"),
        ]))
        found, warnings = chat_records(path)
        assert not initiated(found)
        assert any("skipped" in w for w in warnings)

    def test_known_block_notice_is_a_system_line(self, tmp_path: Path) -> None:
        """A block notice under the chat's name does not count: the business wrote first."""
        path = write(tmp_path, "_chat.txt", ios([
            ("10:00:00", "Anna Beispiel", f"{LRM}Du hast diesen Kontakt blockiert."),
            ("10:05:00", "Musterladen", "Guten Tag"),
            ("10:07:00", "Anna Beispiel", "Danke!"),
        ]))
        (record,), _ = chat_records(path)
        assert record.first_outbound_at is not None and not initiated([record])

    def test_placeholder_of_sent_media_counts(self, tmp_path: Path) -> None:
        """A marked placeholder ('Bild weggelassen') is something the customer sent: it counts."""
        path = write(tmp_path, "_chat.txt", ios([
            ("10:00:00", "Anna Beispiel", f"{LRM}Bild weggelassen"),
            ("10:05:00", "Musterladen", "Danke für das Foto"),
        ]))
        found, _ = chat_records(path)
        assert initiated(found)

    def test_business_call_first_is_reaching_out(self, tmp_path: Path) -> None:
        """A call by the business before the customer's first message: business first."""
        path = write(tmp_path, "_chat.txt", ios([
            ("10:00:00", "Musterladen", f"{LRM}Sprachanruf, {LRM}2 Min."),
            ("10:05:00", "Anna Beispiel", "Sie hatten angerufen?"),
        ]))
        (record,), _ = chat_records(path)
        assert record.first_outbound_at is not None and not initiated([record])

    def test_customer_call_is_no_message(self, tmp_path: Path) -> None:
        """The customer's own call is not a written message: the business's text came first."""
        path = write(tmp_path, "_chat.txt", ios([
            ("10:00:00", "Anna Beispiel", f"{LRM}Verpasster Sprachanruf"),
            ("10:02:00", "Musterladen", "Sie hatten angerufen, wie können wir helfen?"),
            ("10:05:00", "Anna Beispiel", "Ja, wegen der Bestellung"),
        ]))
        (record,), _ = chat_records(path)
        assert not initiated([record])


class TestAndroidAndLanguages:
    @pytest.mark.parametrize(("language", "notice"), [
        ("nl", "Berichten en oproepen zijn end-to-end versleuteld. Niemand buiten deze chat kan "
               "ze lezen of beluisteren."),
        ("pl", "Wiadomości i połączenia są szyfrowane end-to-end. Nikt spoza tego czatu nie "
               "może ich przeczytać ani odsłuchać."),
        ("tr", "Mesajlar ve aramalar uçtan uca şifrelidir. Bu sohbetin dışında bulunan hiç kimse "
               "bunları okuyamaz veya dinleyemez."),
        ("ru", "Сообщения и звонки защищены сквозным шифрованием. Третьи лица не могут их "
               "прочитать или прослушать."),
        ("id", "Pesan dan panggilan terenkripsi secara end-to-end. Tidak seorang pun di luar chat "
               "ini yang dapat membacanya."),
        ("hi", "मैसेज और कॉल एंड-टू-एंड एन्क्रिप्टेड हैं. इस चैट के बाहर कोई भी इन्हें नहीं पढ़ सकता."),
    ])
    def test_supported_language_is_read(self, tmp_path: Path, language: str, notice: str) -> None:
        """An Android export in each added language is identified and read."""
        path = write(tmp_path, f"chat-{language}.txt",
                     f"01.03.26, 09:00 - {notice}\n"
                     "01.03.26, 10:00 - Anna Beispiel: Hallo\n"
                     "01.03.26, 10:05 - Musterladen: Hallo Anna\n")
        summary = read_chat(path)
        assert summary.unidentified is None and summary.not_understood == 0
        found, _ = chat_records(path)
        assert initiated(found)

    def test_unknown_language_is_skipped_with_a_warning(self, tmp_path: Path) -> None:
        """An export whose system lines are all in a language the reader does not know is
        never evidence: skipped, with a warning naming it."""
        path = write(tmp_path, "chat-fi.txt",
                     "01.03.26, 09:00 - Viestit ja puhelut ovat päästä päähän salattuja.\n"
                     "01.03.26, 10:00 - Anna Beispiel: Hei\n"
                     "01.03.26, 10:05 - Musterladen: Hei Anna\n")
        found, warnings = chat_records(path)
        assert found == []
        assert warnings and str(path) in warnings[0] and "language" in warnings[0]

    def test_colon_in_a_time_is_no_sender(self, tmp_path: Path) -> None:
        """An Android system line with a time in it ('… um 10:30') has no sender: the
        business's message stays the first one."""
        path = write(tmp_path, "chat.txt",
                     f"01.03.26, 09:00 - {E2E_DE}\n"
                     "01.03.26, 10:00 - Musterladen: Ihr Termin ist um 10:30\n"
                     "01.03.26, 10:01 - Termin verschoben auf 10:30 (automatisch)\n"
                     "01.03.26, 10:05 - Anna Beispiel: Danke\n")
        (record,), _ = chat_records(path)
        assert record.name == "Anna Beispiel" and not initiated([record])

    def test_no_line_tells_the_language(self, tmp_path: Path) -> None:
        """An export with no notice or placeholder in a known wording is read by its structure
        only, and a warning says so (never silently)."""
        path = write(tmp_path, "chat.txt",
                     "01.03.26, 10:00 - Anna Beispiel: Hei\n"
                     "01.03.26, 10:05 - Musterladen: Hei Anna\n")
        found, warnings = chat_records(path)
        assert initiated(found)
        assert warnings == [f"{path}: no line tells the export's language (no encryption "
                            "notice, no known placeholder): read by its structure only"]

    def test_unknown_system_line_is_counted(self, tmp_path: Path, runner: CliRunner) -> None:
        """An unknown system line after the first message is counted as not understood, and
        `evidence inspect` says so."""
        path = write(tmp_path, "chat.txt",
                     f"01.03.26, 09:00 - {E2E_DE}\n"
                     "01.03.26, 10:00 - Anna Beispiel: Hallo\n"
                     "01.03.26, 10:01 - Anna Beispiel hat etwas Neues gemacht\n"
                     "01.03.26, 10:05 - Musterladen: Hallo Anna\n")
        assert read_chat(path).not_understood == 1
        result = runner.invoke(main, ["evidence", "inspect", str(path)])
        assert "not understood" in result.stdout


class TestSenders:
    def test_name_with_colon_is_not_guessed(self, tmp_path: Path) -> None:
        """A saved contact named 'Anna: Arbeit' cannot be told from 'Anna': no evidence for
        either name, and a warning."""
        path = write(tmp_path, "chat.txt",
                     f"01.03.26, 09:00 - {E2E_DE}\n"
                     "01.03.26, 10:00 - Anna: Arbeit: Hallo, ich hätte eine Frage\n"
                     "01.03.26, 10:05 - Musterladen: Gerne\n"
                     "01.03.26, 10:06 - Anna: Arbeit: Danke\n")
        found, warnings = chat_records(path)
        assert found == []
        assert any("'Anna: Arbeit'" in w for w in warnings)

    @pytest.mark.parametrize("sender", [
        "+49 170\u20111234567",
        "+49\u00a0170\u00a012\u201334567",
        "~\u202fAnna +49 170 1234567",
        "+49 170 1234567 ~ Anna",
    ])
    def test_number_senders_are_numbers(self, tmp_path: Path, sender: str) -> None:
        """A sender written with a non-breaking hyphen, no-break spaces or '~ Name' beside the
        number is evidence for the number, not for a name."""
        path = write(tmp_path, "chat.txt",
                     f"01.03.26, 09:00 - {E2E_DE}\n"
                     f"01.03.26, 10:00 - {sender}: Hallo\n"
                     "01.03.26, 10:05 - Musterladen: Hallo\n")
        (record,), _ = chat_records(path)
        assert record.phone == "+491701234567"

    def test_business_own_number_in_another_spelling(self, tmp_path: Path) -> None:
        """--me given as the business's number finds it written without Brazil's ninth digit."""
        path = write(tmp_path, "chat.txt",
                     f"01.03.26, 09:00 - {E2E_DE}\n"
                     "01.03.26, 10:00 - +55 11 8765-4321: Olá, promoção!\n"
                     "01.03.26, 10:05 - +55 21 99876-5432: Quero saber mais\n")
        (record,), _ = chat_records(path, me="+55 11 98765-4321")
        assert record.phone == "+5521998765432" and not initiated([record])


class TestDateOrder:
    def test_per_file_orders(self, tmp_path: Path) -> None:
        """--date-order FILE=ORDER reads two ambiguous exports from different phones each in
        its own order; a file whose dates decide ignores the option."""
        a = write(tmp_path, "a.txt", f"02/03/26, 09:00 - {E2E_DE}\n"
                  "02/03/26, 10:00 - Anna Beispiel: Hallo\n02/03/26, 10:05 - Musterladen: Ja\n")
        b = write(tmp_path, "b.txt", f"02/03/26, 09:00 - {E2E_DE}\n"
                  "02/03/26, 10:00 - Bernd Muster: Hallo\n02/03/26, 10:05 - Musterladen: Ja\n")
        c = write(tmp_path, "c.txt", f"25/03/26, 09:00 - {E2E_DE}\n"
                  "25/03/26, 10:00 - Carl Test: Hallo\n25/03/26, 10:05 - Musterladen: Ja\n")
        found = list(read_exports([str(a), str(b), str(c)],
                                  date_order={"a.txt": "DMY", str(b): "MDY", "": "MDY"}))
        months = {r.name: r.first_inbound_at.month for r in found if r.first_inbound_at}
        assert months == {"Anna Beispiel": 3, "Bernd Muster": 2, "Carl Test": 3}

    def test_cli_file_order(self, tmp_path: Path, runner: CliRunner) -> None:
        """`evidence inspect --date-order FILE=ORDER` applies to that file."""
        a = write(tmp_path, "a.txt", f"02/03/26, 09:00 - {E2E_DE}\n"
                  "02/03/26, 10:00 - Anna Beispiel: Hallo\n03/02/26, 10:05 - Musterladen: Ja\n")
        result = runner.invoke(main, ["evidence", "inspect", str(a), "--date-order",
                                      f"{a}=MDY"])
        assert "dates MDY" in result.stdout


# -- webhooks ----------------------------------------------------------------------------------

BUSINESS = "4930123456"


def hook(value: dict[str, object], business: str = BUSINESS) -> dict[str, object]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {
            "display_phone_number": business, "phone_number_id": "110200300"}, **value}}]}]}


def message(sender: str, seconds: int, kind: str, **extra: object) -> dict[str, object]:
    return {"from": sender, "id": f"wamid.{sender}.{seconds}",
            "timestamp": str(1772355600 + seconds), "type": kind, **extra}


def read_hooks(tmp_path: Path, payloads: list[dict[str, object]]) -> Evidence:
    path = tmp_path / "hooks.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in payloads))
    return load_evidence([path])


class TestWebhookLinks:
    def test_contacts_link_even_when_the_message_is_not_evidence(self, tmp_path: Path) -> None:
        """contacts[] tie a user id to a number even in a payload whose message is of an
        unknown type, so a status naming only the user id counts for that number."""
        evidence = read_hooks(tmp_path, [
            hook({"statuses": [{"id": "wamid.s", "status": "read", "timestamp": "1772355600",
                                "recipient_user_id": "DE.4242"}]}),
            hook({"contacts": [{"wa_id": "491701234567", "user_id": "DE.4242"}],
                  "messages": [message("491701234567", 30, "hologram")]}),
            hook({"messages": [message("491701234567", 60, "text", text={"body": "Hallo"})]}),
        ])
        entry = evidence.lookup("+491701234567")
        assert entry is not None and not entry.initiated
        assert entry.first_outbound_at is not None


class TestWebhookReplies:
    @pytest.mark.parametrize(("kind", "body"), [
        ("button", {"button": {"payload": "ja", "text": "Ja"}}),
        ("interactive", {"interactive": {"type": "button_reply",
                                         "button_reply": {"id": "b1", "title": "Ja"}}}),
        ("interactive", {"interactive": {"type": "list_reply",
                                         "list_reply": {"id": "l1", "title": "Termin"}}}),
        ("interactive", {"interactive": {"type": "nfm_reply",
                                         "nfm_reply": {"response_json": "{}"}}}),
        ("reaction", {"reaction": {"message_id": "wamid.X", "emoji": "👍"}}),
        ("text", {"text": {"body": "Ja"}, "context": {"from": BUSINESS, "id": "wamid.X"}}),
        ("text", {"text": {"body": "Ja"}, "context": {"id": "wamid.X"}}),
        ("text", {"text": {"body": "Preis?"},
                  "context": {"referred_product": {"catalog_id": "1",
                                                   "product_retailer_id": "a"}}}),
    ])
    def test_reply_proves_the_business_wrote(self, tmp_path: Path, kind: str,
                                             body: dict[str, object]) -> None:
        """A reply kind or a quote of another's message is outbound, never the customer first."""
        evidence = read_hooks(tmp_path, [hook({"messages": [
            message("491701234567", 60, kind, **body)]})])
        entry = evidence.lookup("+491701234567")
        assert entry is not None
        assert entry.first_inbound_at is None and entry.first_outbound_at is not None
        assert not entry.initiated

    @pytest.mark.parametrize("extra", [
        {"context": {"forwarded": True}},
        {"referral": {"source_type": "ad", "source_id": "1", "source_url": "https://fb.me/x"}},
        {"context": {"from": "491701234567", "id": "wamid.own"}},
    ])
    def test_unprompted_text_counts(self, tmp_path: Path, extra: dict[str, object]) -> None:
        """A forwarded text, a click-to-WhatsApp referral and a quote of one's own message are
        the customer writing unprompted."""
        evidence = read_hooks(tmp_path, [hook({"messages": [
            message("491701234567", 60, "text", text={"body": "Hallo"}, **extra)]})])
        entry = evidence.lookup("+491701234567")
        assert entry is not None and entry.initiated

    @pytest.mark.parametrize("kind", ["hologram", "unsupported", "unknown", ""])
    def test_unknown_types_are_counted_not_trusted(self, tmp_path: Path, kind: str) -> None:
        """A message type not on the allow-list is not evidence and is counted."""
        evidence = read_hooks(tmp_path, [hook({"messages": [
            message("491701234567", 60, kind)]})])
        assert evidence.lookup("+491701234567") is None
        assert sum(evidence.not_understood.values()) == 1

    @pytest.mark.parametrize(("business", "sender"), [
        ("5511987654321", "551187654321"),      # Brazil without the ninth digit
        ("551187654321", "5511987654321"),      # ... and with it
        ("525512345678", "5215512345678"),      # Mexico with the 1
        ("5215512345678", "525512345678"),      # ... and without
    ])
    def test_business_own_number_in_another_spelling(
        self, tmp_path: Path, business: str, sender: str
    ) -> None:
        """A message from the business's own number, spelled as WhatsApp may, is nobody's."""
        evidence = read_hooks(tmp_path, [hook({"messages": [
            message(sender, 60, "text", text={"body": "Angebot"})]}, business=business)])
        assert evidence.identities() == []


# -- properties --------------------------------------------------------------------------------

CUSTOMER, SHOP = "Anna Beispiel", "Musterladen"
WORDS = st.text(alphabet="abcdefghijklm nopqrstuvw", min_size=1, max_size=20).map(
    lambda s: s.strip() or "x")


@st.composite
def ios_chat(draw: st.DrawFn) -> tuple[str, bool]:
    """An iOS chat of random events and whether the customer's own first message came before
    every business action (message or call)."""
    events = draw(st.lists(st.sampled_from(
        ["customer", "business", "marked-notice", "customer-placeholder", "business-call",
         "customer-call", "marked-business-notice"]), min_size=1, max_size=10))
    lines = []
    truth: bool | None = None
    for i, event in enumerate(events):
        moment = f"10:{i:02d}:00"
        text = draw(WORDS)
        if event == "customer":
            lines.append((moment, CUSTOMER, text))
            truth = True if truth is None else truth
        elif event == "customer-placeholder":
            lines.append((moment, CUSTOMER, f"{LRM}image omitted"))
            truth = True if truth is None else truth
        elif event == "business":
            lines.append((moment, SHOP, text))
            truth = False if truth is None else truth
        elif event == "business-call":
            lines.append((moment, SHOP, f"{LRM}Voice call, {LRM}3 min"))
            truth = False if truth is None else truth
        elif event == "customer-call":
            lines.append((moment, CUSTOMER, f"{LRM}Missed voice call"))
        elif event == "marked-notice":
            lines.append((moment, CUSTOMER, f"{LRM}{text}: {draw(WORDS)}"))
        else:
            lines.append((moment, SHOP, f"{LRM}{text}"))
    return ios(lines, chat=CUSTOMER), bool(truth)


@st.composite
def webhook_archive(draw: st.DrawFn) -> tuple[list[dict[str, object]], dict[str, bool]]:
    """Payloads for a few people (some known only by user id, linked or not by contacts[]),
    with the ground truth: did the person's own unprompted message precede every business
    action (statuses, and the business message every reply answers)?"""
    people = {"491701111111": "DE.1111", "491702222222": "DE.2222", "491703333333": "DE.3333"}
    payloads = []
    first_own: dict[str, int] = {}
    first_business: dict[str, int] = {}
    for i in range(draw(st.integers(1, 14))):
        number = draw(st.sampled_from(sorted(people)))
        uid = people[number]
        seconds = i * 60
        event = draw(st.sampled_from(["text", "status", "status-uid-only", "button", "reaction",
                                      "interactive", "context", "unknown", "uid-only-text",
                                      "contacts"]))
        if event in ("text", "uid-only-text"):
            sender = number if event == "text" else ""
            # with business-scoped user ids on, every message carries the sender's user id;
            # a person who hides their number sends it alone
            msg = message(sender, seconds, "text", text={"body": "Hallo"}, from_user_id=uid)
            if event == "uid-only-text":
                msg.pop("from")
            payloads.append(hook({"messages": [msg]}))
            first_own.setdefault(number, seconds)
        elif event in ("status", "status-uid-only"):
            status = {"id": f"wamid.s{i}", "status": "sent", "timestamp": str(1772355600 + seconds)}
            if event == "status":
                status["recipient_id"] = number
            else:
                status["recipient_user_id"] = uid
            payloads.append(hook({"statuses": [status]}))
            first_business.setdefault(number, seconds)
        elif event == "contacts":
            payloads.append(hook({"contacts": [{"wa_id": number, "user_id": uid}],
                                  "messages": [message(number, seconds, "reaction",
                                                       reaction={"emoji": "👍"})]}))
            first_business.setdefault(number, seconds)
        elif event == "unknown":
            payloads.append(hook({"messages": [message(number, seconds, "hologram")]}))
        else:
            extra: dict[str, object] = {
                "button": {"button": {"text": "Ja"}},
                "reaction": {"reaction": {"emoji": "👍"}},
                "interactive": {"interactive": {"type": "button_reply"}},
                "context": {"text": {"body": "Ja"}, "context": {"id": "wamid.q"}},
            }[event]
            kind = "text" if event == "context" else event
            payloads.append(hook({"messages": [message(number, seconds, kind, **extra)]}))
            first_business.setdefault(number, seconds)  # the reply proves a business act
    truth = {n: n in first_own and first_own[n] < first_business.get(n, 10**9) for n in people}
    return payloads, truth


class TestNeverKeptWithoutOwnFirstMessage:
    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ios_chat())
    def test_chat_exports(self, tmp_path: Path, case: tuple[str, bool]) -> None:
        """Generated iOS exports with marked and unmarked unknown lines, placeholders and calls:
        the customer is evidence of writing first only if their own message came first."""
        text, truth = case
        path = tmp_path / "_chat.txt"
        path.write_bytes(text.encode())
        try:
            found = list(read_exports([str(path)], me=SHOP))
        except Exception as exc:  # a sender mix the reader refuses is fine, never a keep
            assert type(exc).__name__ == "EvidenceError"
            return
        if initiated(found):
            assert truth

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(webhook_archive())
    def test_webhook_archives(
        self, tmp_path: Path, case: tuple[list[dict[str, object]], dict[str, bool]]
    ) -> None:
        """Generated archives with reply kinds, unknown types and user-id-only records: no
        number is kept unless the person's own first message precedes every business act."""
        payloads, truth = case
        evidence = read_hooks(tmp_path, payloads)
        for number, wrote_first in truth.items():
            entry = evidence.lookup("+" + number)
            if entry is not None and entry.initiated:
                assert wrote_first, number


def test_readme_lists_the_languages() -> None:
    """README's chat export section names every supported language."""
    from contactguard.evidence.chats import LANGUAGES

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert all(language in readme for language in LANGUAGES)
    assert "count only what we recognise" in readme


def test_dates_helper() -> None:
    """The fixtures' epoch is 2026-03-01 09:00 UTC (unix 1772355600)."""
    assert datetime.fromtimestamp(1772355600, tz=timezone.utc) == datetime(
        2026, 3, 1, 9, 0, tzinfo=timezone.utc)


@st.composite
def android_chat(draw: st.DrawFn) -> tuple[str, bool]:
    """An Android chat with random system lines (no "Name: " in front, random wordings) among
    the messages, and whether the customer's own message came before the business's first."""
    lines = [f"01.03.26, 09:00 - {E2E_DE}"]
    truth: bool | None = None
    for i in range(draw(st.integers(1, 10))):
        event = draw(st.sampled_from(["customer", "business", "system", "system-colon"]))
        stamp = f"01.03.26, 10:{i:02d}"
        text = draw(WORDS)
        if event == "customer":
            lines.append(f"{stamp} - {CUSTOMER}: {text}")
            truth = True if truth is None else truth
        elif event == "business":
            lines.append(f"{stamp} - {SHOP}: {text}")
            truth = False if truth is None else truth
        elif event == "system":
            lines.append(f"{stamp} - {text}")
        else:  # a colon in a time or a link: still no "Name: " in front
            lines.append(f"{stamp} - {text} 12:{i:02d} https://wa.me/{draw(WORDS).strip()}")
    return "\n".join(lines) + "\n", bool(truth)


SEPARATORS = [" ", "\u00a0", "\u202f", "-", "\u2010", "\u2011", "\u2013"]


@st.composite
def number_sender(draw: st.DrawFn) -> str:
    """+49 170 1234567 written with random WhatsApp separators, maybe with '~ Name'."""
    digits = "491701234567"
    out = "+"
    for i, digit in enumerate(digits):
        out += digit
        if 1 < i < len(digits) - 1 and draw(st.booleans()):
            out += draw(st.sampled_from(SEPARATORS))
    name = draw(st.sampled_from(["", "~ Anna", "~\u202fAnna B"]))
    if name and draw(st.booleans()):
        return f"{name} {out}"
    return f"{out} {name}".strip()


class TestGeneratedClasses:
    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(android_chat())
    def test_android_system_lines(self, tmp_path: Path, case: tuple[str, bool]) -> None:
        """Random Android system lines never make the customer the first writer."""
        text, truth = case
        path = tmp_path / "chat.txt"
        path.write_bytes(text.encode())
        try:
            found = list(read_exports([str(path)], me=SHOP))
        except Exception as exc:  # a sender mix the reader refuses is fine, never a keep
            assert type(exc).__name__ == "EvidenceError"
            return
        if initiated(found):
            assert truth

    @settings(max_examples=100, deadline=None)
    @given(number_sender())
    def test_number_senders(self, sender: str) -> None:
        """Any separator WhatsApp uses, and '~ Name' on either side, leave a number sender."""
        from contactguard.evidence.chats import sender_keys

        assert sender_keys(sender)[0] == "+491701234567"

    @settings(max_examples=100, deadline=None)
    @given(st.sampled_from([("5511987654321", "551187654321"), ("525512345678", "5215512345678"),
                            ("5491123456789", "541123456789"), ("4930123456", "4930123456")]),
           st.booleans(), st.integers(0, 3600))
    def test_business_number_spellings(
        self, pair: tuple[str, str], swap: bool, seconds: int
    ) -> None:
        """A message from the business's own number in any WhatsApp spelling is nobody's."""
        import io

        from contactguard.evidence import webhooks

        business, sender = reversed(pair) if swap else pair
        data = json.dumps(hook({"messages": [message(sender, seconds, "text",
                                                     text={"body": "x"})]}, business=business))
        assert list(webhooks.read_json(io.BytesIO(data.encode()), "t.json")) == []
