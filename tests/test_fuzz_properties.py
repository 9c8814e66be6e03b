"""Fuzzing with hypothesis: random and mutated vCards (2.1/3.0/4.0), CSVs, chat exports,
webhook JSON and ledgers against the promises in tests/fuzz/targets.py.

Extends tests/test_properties.py (which builds books from Contact objects) down to raw bytes.
Example counts are small so CI stays fast; for a long run set CONTACTGUARD_FUZZ_EXAMPLES, e.g.
``CONTACTGUARD_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz_properties.py``; the atheris harnesses
in tests/fuzz/ fuzz the same targets with coverage guidance (tests/fuzz/README.md).
"""

from __future__ import annotations

import json
import os

from fuzz.targets import check_book, check_evidence, seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("CONTACTGUARD_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# numbers the fuzz evidence knows in every state, and some it does not know
NUMBERS = [f"+49151234567{d}" for d in range(10)] + ["+4915199999999", "0151 2345670",
                                                       "00491512345671", "tel:+491701234560"]
UNSAFE = ["\r\n", "\n", "\r", ";", ",", "\\", ":", '"', "=0D=0A", "TEL:+491512345672",
          "END:VCARD", "BEGIN:VCARD", "\x00", "\u2028", "é", "=", "+", "@"]
text = st.lists(st.sampled_from(UNSAFE) | st.characters(codec="utf-8"), max_size=8).map("".join)


def mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """Apply (position, how many bytes to delete, bytes to insert) edits, positions wrapped."""
    for position, delete, insert in edits:
        at = position % (len(data) + 1)
        data = data[:at] + insert + data[at + delete:]
    return data


edits = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 8),
                           st.binary(max_size=6) | st.sampled_from(
                               [b"\r\n", b"\n ", b":", b";", b"=", b"\\", b"\x00", b"\xff",
                                b"TEL:+491512345670\r\n", b"BEGIN:VCARD\r\n", b"END:VCARD\r\n",
                                b'"', b",", b"\r"])), max_size=6)


@st.composite
def vcard(draw: st.DrawFn) -> bytes:
    """A book of 1-4 cards in a random vCard version with random properties, folds and escapes."""
    cards = []
    for _ in range(draw(st.integers(1, 4))):
        version = draw(st.sampled_from(["2.1", "3.0", "4.0", None]))
        lines = ["BEGIN:VCARD"] + ([f"VERSION:{version}"] if version else [])
        for _ in range(draw(st.integers(0, 6))):
            name = draw(st.sampled_from(["FN", "N", "TEL", "TEL", "item1.TEL", "ORG", "EMAIL",
                                         "NOTE", "UID", "ADR", "X-ABLabel", "item1.X-ABLabel",
                                         "PHOTO", "URL", "X-CUSTOM", "CATEGORIES", "BDAY"]))
            params = draw(st.sampled_from(["", ";TYPE=CELL", ";CELL;PREF", ";TYPE=cell,voice",
                                           ";ENCODING=QUOTED-PRINTABLE", ";CHARSET=UTF-8",
                                           ";VALUE=uri", ";ENCODING=b", ';TYPE="a,b"',
                                           ";PREF=1", ";CHARSET=x-bogus"]))
            value = (draw(st.sampled_from(NUMBERS)) if name.endswith("TEL") and draw(st.booleans())
                     else draw(text))
            line = f"{name}{params}:{value}"
            if draw(st.booleans()) and len(line) > 10:  # fold it
                cut = draw(st.integers(1, len(line) - 1))
                line = line[:cut] + "\r\n" + draw(st.sampled_from([" ", "\t"])) + line[cut:]
            lines.append(line)
        if draw(st.integers(0, 9)):
            lines.append("END:VCARD")
        cards.append(draw(st.sampled_from(["\r\n", "\n", "\r"])).join(lines) + "\r\n")
    return "".join(cards).encode(draw(st.sampled_from(["utf-8", "utf-16"])), "surrogatepass")


@st.composite
def csv_book(draw: st.DrawFn) -> bytes:
    """A CSV book with random headers, delimiters, quoting and cells."""
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    header = draw(st.lists(st.sampled_from(
        ["Name", "Given Name", "Family Name", "Phone", "Mobile", "Phone 1 - Value",
         "Phone 1 - Type", "E-mail 1 - Value", "Company", "Notes", "Telefon geschäftlich",
         "x"]), min_size=1, max_size=6))
    rows = [header]
    for _ in range(draw(st.integers(0, 5))):
        rows.append([draw(st.sampled_from(NUMBERS) | text) for _ in header])

    def cell(value: str) -> str:
        if draw(st.booleans()) or any(c in value for c in '",;\t\r\n'):
            return '"' + value.replace('"', '""') + '"'
        return value

    body = "\r\n".join(delimiter.join(cell(v) for v in row) for row in rows) + "\r\n"
    return body.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"])),
                       errors="replace")


FORMATS = st.sampled_from(["vcard3", "vcard4", "csv"])


class TestBooks:
    @FUZZ
    @given(book=vcard(), fmt=FORMATS)
    def test_generated_vcards(self, book: bytes, fmt: str) -> None:
        """Random 2.1/3.0/4.0 cards: a clean error or a clean book that keeps every promise."""
        check_book(book, fmt)

    @FUZZ
    @given(seed=st.sampled_from(seeds("vcard")), changes=edits, fmt=FORMATS)
    def test_mutated_vcard_fixtures(self, seed: bytes, changes: list[tuple[int, int, bytes]],
                                    fmt: str) -> None:
        """Byte-mutated real-world vCard quirk fixtures keep every promise."""
        check_book(mutate(seed, changes), fmt, input_format="vcard")

    @FUZZ
    @given(book=csv_book(), fmt=FORMATS)
    def test_generated_csvs(self, book: bytes, fmt: str) -> None:
        """Random CSV books (headers, delimiters, quotes, encodings) keep every promise."""
        check_book(book, fmt)

    @FUZZ
    @given(seed=st.sampled_from(seeds("csv")), changes=edits, fmt=FORMATS)
    def test_mutated_csv_fixtures(self, seed: bytes, changes: list[tuple[int, int, bytes]],
                                  fmt: str) -> None:
        """Byte-mutated exporter CSVs keep every promise."""
        check_book(mutate(seed, changes), fmt)

    @FUZZ
    @given(data=st.binary(max_size=300))
    def test_random_bytes(self, data: bytes) -> None:
        """Arbitrary bytes are a clean error or a book that keeps every promise."""
        check_book(data)


def json_values() -> st.SearchStrategy[object]:
    leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | \
        st.sampled_from(["4915123456701", "+4915123456701", "1700000000", "stop", "text",
                         "whatsapp_business_account", "BUSINESS_INITIATED", "US.123"])
    keys = st.sampled_from(["object", "entry", "changes", "value", "messages", "statuses",
                            "from", "timestamp", "type", "recipient_id", "contacts", "wa_id",
                            "user_preferences", "calls", "message_echoes", "to", "metadata",
                            "phone", "first_inbound_at", "system", "group_id", "user_id"])
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) |
                        st.dictionaries(keys, inner, max_size=5), max_leaves=30)


class TestEvidence:
    @FUZZ
    @given(seed=st.sampled_from(seeds("chats")), changes=edits,
           suffix=st.sampled_from([".txt", ".zip"]))
    def test_mutated_chat_exports(self, seed: bytes, changes: list[tuple[int, int, bytes]],
                                  suffix: str) -> None:
        """Byte-mutated chat exports (and garbage named .zip) load or fail with a clean error."""
        check_evidence(mutate(seed, changes), suffix)

    @FUZZ
    @given(seed=st.sampled_from(seeds("webhooks")), changes=edits,
           suffix=st.sampled_from([".json", ".jsonl"]))
    def test_mutated_webhook_archives(self, seed: bytes, changes: list[tuple[int, int, bytes]],
                                      suffix: str) -> None:
        """Byte-mutated webhook archives load or fail with a clean error."""
        check_evidence(mutate(seed, changes), suffix)

    @FUZZ
    @given(value=json_values(), suffix=st.sampled_from([".json", ".jsonl"]),
           wrap=st.booleans())
    def test_generated_webhook_json(self, value: object, suffix: str, wrap: bool) -> None:
        """Random JSON shaped like payloads and ledger rows loads or fails with a clean error."""
        if wrap:
            value = {"object": "whatsapp_business_account", "entry": [{"changes": [
                {"value": value}]}]}
        check_evidence(json.dumps(value).encode(), suffix)

    @FUZZ
    @given(seed=st.sampled_from(seeds("evidence")), changes=edits,
           suffix=st.sampled_from([".csv", ".jsonl"]))
    def test_mutated_ledgers(self, seed: bytes, changes: list[tuple[int, int, bytes]],
                             suffix: str) -> None:
        """Byte-mutated CSV and JSONL ledgers load or fail with a clean error."""
        check_evidence(mutate(seed, changes), suffix)
