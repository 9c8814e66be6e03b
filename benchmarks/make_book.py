"""Generate large, realistic, made-up address books and a matching evidence ledger.

Deterministic: the same arguments always give byte-identical files (a seeded ``random.Random``
per card), so benchmark runs compare like with like.

    python benchmarks/make_book.py vcard30 100000 out/book.vcf
    python benchmarks/make_book.py google 100000 out/google.csv
    python benchmarks/make_book.py ledger 1000 out/ledger.csv --book-size 100000

Formats: ``vcard21`` (Android-style, quoted-printable names), ``vcard30`` (iOS/macOS style with
grouped ``item1.TEL``/``item1.X-ABLabel``), ``vcard40``, ``google`` (Google Contacts CSV),
``outlook`` (Outlook English CSV). The mix per card: 1–3 numbers (1.33 on average) in national
(``0170 1234567``, ``030/1234567``) and international (``+49 170 1234567``, ``+49 (0)30 …``,
``0049 …``, ``+1 415 …``, ``+44 20 …``) spellings, an e-mail or company on some cards, a note on
a few, and a small PHOTO on one card in fifty.

The ledger holds ``--size`` numbers: a third of them numbers of book cards (spelt as E.164, as
evidence sources write them), the rest numbers that are not in the book. Among the book numbers
some are business-first or opted out, so that every decision path is exercised.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import random
import sys
from collections.abc import Iterator
from pathlib import Path

SEED = 20240605

GIVEN = ("Anna", "Bernd", "Carla", "Dieter", "Elif", "Felix", "Greta", "Hakan", "Ines", "Jonas",
         "Katrin", "Lukas", "Mia", "Noah", "Olga", "Paul", "Quirin", "Rosa", "Stefan", "Tanja",
         "Ümit", "Vera", "Wolfgang", "Xenia", "Yusuf", "Zoë", "José", "Łukasz", "Søren", "Chloé")
FAMILY = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
          "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
          "Yılmaz", "Kowalski", "García", "Rossi", "Nguyen", "O'Brien", "Dubois", "Weiß")
COMPANIES = ("Bäckerei Sonnenschein", "Elektro Blitz GmbH", "Malerbetrieb Farbe & Co.",
             "Autohaus am Ring", "Praxis Dr. Lindner", "Café Kranich", "Steuerbüro Adler")
MOBILE_PREFIXES = ("151", "152", "157", "160", "162", "163", "170", "171", "172", "173", "174",
                   "175", "176", "177", "178", "179", "159", "155")
AREA_CODES = ("30", "40", "89", "221", "69", "711", "211", "231", "201", "421", "511", "351",
              "341", "911", "203", "521", "228", "6221", "7071", "8031")
LABELS = ("Mobile", "iPhone", "Work", "Home", "Main", "Lager", "Büro Nord")

_PHOTO = base64.b64encode(bytes(random.Random(1).randrange(256) for _ in range(450))).decode()


# --------------------------------------------------------------------------- numbers


def _subscriber(rng: random.Random, digits: int) -> str:
    return str(rng.randrange(10 ** (digits - 1), 10**digits))


def card_numbers(index: int) -> list[tuple[str, str]]:
    """(E.164, as written in the book) for the numbers of card ``index`` (deterministic)."""
    rng = random.Random(SEED * 1_000_003 + index)
    count = rng.choices((1, 2, 3), weights=(72, 23, 5))[0]  # 1.33 numbers per card on average
    out = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.55:  # German mobile
            prefix, sub = rng.choice(MOBILE_PREFIXES), _subscriber(rng, rng.choice((7, 8)))
            e164 = f"+49{prefix}{sub}"
            style = rng.random()
            if style < 0.40:
                written = f"0{prefix} {sub}"
            elif style < 0.70:
                written = f"+49 {prefix} {sub}"
            elif style < 0.80:
                written = f"0{prefix}-{sub[:3]} {sub[3:]}"
            elif style < 0.88:
                written = f"+49 ({0}){prefix} {sub}"
            elif style < 0.94:
                written = f"0049 {prefix} {sub}"
            else:
                written = f"+49{prefix}{sub}"
        elif kind < 0.88:  # German landline
            area = rng.choice(AREA_CODES)
            sub = _subscriber(rng, 10 - len(area) - rng.choice((0, 1)))
            e164 = f"+49{area}{sub}"
            style = rng.random()
            if style < 0.45:
                written = f"0{area} {sub}"
            elif style < 0.65:
                written = f"0{area}/{sub}"
            elif style < 0.80:
                written = f"({'0' + area}) {sub}"
            else:
                written = f"+49 {area} {sub}"
        elif kind < 0.92:  # Austria / Switzerland
            if rng.random() < 0.5:
                sub = _subscriber(rng, 7)
                e164, written = f"+43664{sub}", f"+43 664 {sub}"
            else:
                sub = _subscriber(rng, 7)
                e164, written = f"+4179{sub}", f"+41 79 {sub[:3]} {sub[3:5]} {sub[5:]}"
        elif kind < 0.95:  # United States
            sub = _subscriber(rng, 4)
            e164, written = f"+1415555{sub}", f"+1 (415) 555-{sub}"
        elif kind < 0.97:  # United Kingdom
            sub = _subscriber(rng, 8)
            e164, written = f"+447{sub[:1]}{sub[1:]}", f"+44 7{sub[:3]} {sub[3:]}"
        elif kind < 0.985:  # a typo or placeholder: invalid
            e164, written = "", rng.choice(("0", "123", "0170", "n/a", "00000", "+49 0000"))
        else:  # a tel: URI or a number with an extension
            sub = _subscriber(rng, 7)
            e164 = f"+4930{sub}"
            written = rng.choice((f"tel:+49-30-{sub}", f"030 {sub} ext. 12"))
        out.append((e164, written))
    return out


# --------------------------------------------------------------------------- cards


def _person(index: int) -> dict[str, object]:
    rng = random.Random(SEED * 7 + index)
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    person: dict[str, object] = {
        "given": given,
        "family": family,
        "fn": f"{given} {family}" if rng.random() < 0.97 else "",
        "uid": f"{rng.getrandbits(64):016x}-{index:08d}",
        "numbers": card_numbers(index),
        "labels": [rng.choice(LABELS) for _ in range(3)],
        "email": f"{given.lower()}.{index}@example.org" if rng.random() < 0.3 else "",
        "org": rng.choice(COMPANIES) if rng.random() < 0.15 else "",
        "note": "Rückruf erbeten, Termin: Dienstag\\, 10 Uhr" if rng.random() < 0.03 else "",
        "photo": rng.random() < 0.02,
        "apple": rng.random() < 0.35,
        "rng": rng,
    }
    return person


def _fold(line: str) -> str:
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line + "\r\n"
    pieces, start = [], 0
    while start < len(data):
        end = min(start + (75 if not pieces else 74), len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return "\r\n ".join(pieces) + "\r\n"


def _qp(text: str) -> str:
    return "".join(
        c if (c.isascii() and c.isalnum()) or c == " " else "".join(f"={b:02X}" for b in c.encode())
        for c in text
    )


def vcard(index: int, version: str) -> str:
    p = _person(index)
    rng: random.Random = p["rng"]  # type: ignore[assignment]
    lines = ["BEGIN:VCARD", f"VERSION:{version}"]
    given, family, fn = str(p["given"]), str(p["family"]), str(p["fn"])
    if version == "2.1":
        lines.append("PRODID:-//Android//Contacts//EN" if rng.random() < 0.5 else "X-ANDROID:1")
        if not (given + family).isascii():
            lines.append(f"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:{_qp(family)};{_qp(given)};;;")
            if fn:
                lines.append(f"FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:{_qp(fn)}")
        else:
            lines.append(f"N:{family};{given};;;")
            if fn:
                lines.append(f"FN:{fn}")
    else:
        if version == "3.0":
            lines.append("PRODID:-//Apple Inc.//iPhone OS 17.4//EN")
        lines.append(f"N:{family};{given};;;")
        if fn:
            lines.append(f"FN:{fn}")
    if p["org"]:
        lines.append(f"ORG:{p['org']};")
    for k, (_e164, written) in enumerate(p["numbers"]):  # type: ignore[arg-type]
        if version == "2.1":
            lines.append(f"TEL;{'CELL' if k == 0 else 'WORK'}:{written}")
        elif version == "4.0":
            lines.append(f"TEL;TYPE={'cell' if k == 0 else 'work'}:{written}")
        elif p["apple"] and k < 2:
            lines.append(f"item{k + 1}.TEL;type=pref:{written}" if k == 0
                         else f"item{k + 1}.TEL:{written}")
            label = p["labels"][k]  # type: ignore[index]
            builtin = label in ("Mobile", "iPhone", "Work", "Home", "Main")
            lines.append(f"item{k + 1}.X-ABLabel:" + (f"_$!<{label}>!$_" if builtin else label))
        else:
            lines.append(f"TEL;type={'CELL' if k == 0 else 'WORK'};type=VOICE:{written}")
    if p["email"]:
        lines.append(("EMAIL;INTERNET:" if version == "2.1" else "EMAIL;type=INTERNET:")
                     + str(p["email"]))
    if p["note"]:
        lines.append(f"NOTE:{p['note']}")
    if p["photo"]:
        if version == "2.1":
            lines.append(f"PHOTO;ENCODING=BASE64;JPEG:{_PHOTO}")
            lines.append("")  # vCard 2.1 §2.1.3: a blank line ends the base64 block
        elif version == "4.0":
            lines.append(f"PHOTO:data:image/jpeg;base64,{_PHOTO}")
        else:
            lines.append(f"PHOTO;ENCODING=b;TYPE=JPEG:{_PHOTO}")
    if version != "2.1":
        lines.append(f"UID:{p['uid']}")
        if version == "3.0" and rng.random() < 0.5:
            lines.append("REV:2024-05-01T10:00:00Z")
    lines.append("END:VCARD")
    return "".join(_fold(line) if line else "\r\n" for line in lines)


GOOGLE_HEADER = ["Name", "Given Name", "Additional Name", "Family Name", "Name Prefix",
                 "Name Suffix", "Nickname", "Birthday", "Notes", "Labels", "E-mail 1 - Type",
                 "E-mail 1 - Value", "Phone 1 - Type", "Phone 1 - Value", "Phone 2 - Type",
                 "Phone 2 - Value", "Organization 1 - Type", "Organization 1 - Name",
                 "Organization 1 - Title"]

OUTLOOK_HEADER = ["Title", "First Name", "Middle Name", "Last Name", "Suffix", "Company",
                  "Department", "Job Title", "Business Street", "Business City", "Business Fax",
                  "Business Phone", "Business Phone 2", "Callback", "Car Phone",
                  "Company Main Phone", "Home Fax", "Home Phone", "Home Phone 2", "ISDN",
                  "Mobile Phone", "Other Fax", "Other Phone", "Pager", "Primary Phone",
                  "Radio Phone", "TTY/TDD Phone", "Telex", "E-mail Address", "E-mail Type",
                  "E-mail Display Name", "Notes"]


def google_row(index: int) -> list[str]:
    p = _person(index)
    numbers = [w for _e, w in p["numbers"]]  # type: ignore[attr-defined]
    labels = p["labels"]
    phone1 = numbers[0]
    phone2 = " ::: ".join(numbers[1:])  # Google joins several values of one kind with " ::: "
    note = str(p["note"]).replace("\\,", ",")
    return [
        str(p["fn"]), str(p["given"]), "", str(p["family"]), "", "", "", "", note, "* myContacts",
        "* Work" if p["email"] else "", str(p["email"]),
        f"* {labels[0]}", phone1, labels[1] if phone2 else "", phone2,  # type: ignore[index]
        "" , str(p["org"]), "",
    ]


def outlook_row(index: int) -> list[str]:
    p = _person(index)
    numbers = [w for _e, w in p["numbers"]]  # type: ignore[attr-defined]
    row = [""] * len(OUTLOOK_HEADER)
    row[1], row[3], row[5] = str(p["given"]), str(p["family"]), str(p["org"])
    slots = (OUTLOOK_HEADER.index("Mobile Phone"), OUTLOOK_HEADER.index("Business Phone"),
             OUTLOOK_HEADER.index("Home Phone"))
    for slot, number in zip(slots, numbers[:3], strict=False):
        row[slot] = number
    if p["email"]:
        row[28], row[29] = str(p["email"]), "SMTP"
        row[30] = f"{p['fn']} ({p['email']})"
    row[31] = str(p["note"]).replace("\\,", ",")
    return row


# --------------------------------------------------------------------------- files


def book_chunks(fmt: str, size: int) -> Iterator[bytes]:
    """The book as byte chunks of about 1,000 cards (so that a 1M-card book streams)."""
    if fmt.startswith("vcard"):
        version = {"vcard21": "2.1", "vcard30": "3.0", "vcard40": "4.0"}[fmt]
        for start in range(0, size, 1000):
            stop = min(start + 1000, size)
            yield "".join(vcard(i, version) for i in range(start, stop)).encode("utf-8")
        return
    header, row = {"google": (GOOGLE_HEADER, google_row),
                   "outlook": (OUTLOOK_HEADER, outlook_row)}[fmt]
    for start in range(0, max(size, 1), 1000):
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\r\n",
                         quoting=csv.QUOTE_ALL if fmt == "outlook" else csv.QUOTE_MINIMAL)
        if start == 0:
            out.writerow(header)
        out.writerows(row(i) for i in range(start, min(start + 1000, size)))
        data = buffer.getvalue().encode("utf-8")
        yield (b"\xef\xbb\xbf" + data) if start == 0 and fmt == "google" else data


def ledger_rows(size: int, book_size: int) -> Iterator[list[str]]:
    """``size`` evidence rows: a third from the book (some business-first or opted out)."""
    rng = random.Random(SEED + 99)
    from_book = min(size // 3, book_size)
    picked = sorted(rng.sample(range(book_size), from_book)) if book_size else []
    seen: set[str] = set()
    for index in picked:
        numbers = [e for e, _w in card_numbers(index) if e]
        if not numbers:
            continue
        e164 = rng.choice(numbers)
        if e164 in seen:
            continue
        seen.add(e164)
        day = 1 + index % 28
        kind = rng.random()
        if kind < 0.80:
            yield [e164, f"2024-03-{day:02d}T09:00:00Z", "", f"2024-04-{day:02d}", ""]
        elif kind < 0.92:
            yield [e164, f"2024-03-{day:02d}T09:00:00Z", f"2024-03-{day:02d}T08:00:00Z", "", ""]
        else:
            yield [e164, f"2024-03-{day:02d}T09:00:00Z", "", "", f"2024-03-{day + 1:02d}"]
    while len(seen) < size:
        e164 = f"+49176{rng.randrange(10**7, 10**8)}"  # 8 digits: never generated for the book
        if e164 in seen:
            continue
        seen.add(e164)
        yield [e164, "2024-02-01T12:00:00Z", "", "", ""]


def write_book(fmt: str, size: int, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        for chunk in book_chunks(fmt, size):
            stream.write(chunk)


def write_ledger(size: int, book_size: int, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as stream:
        out = csv.writer(stream, lineterminator="\n")
        out.writerow(["phone", "first_inbound_at", "first_outbound_at", "last_inbound_at",
                      "opted_out_at"])
        out.writerows(ledger_rows(size, book_size))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("format",
                        choices=("vcard21", "vcard30", "vcard40", "google", "outlook", "ledger"))
    parser.add_argument("size", type=int, help="cards, rows, or ledger numbers")
    parser.add_argument("output", type=Path)
    parser.add_argument("--book-size", type=int, default=100_000,
                        help="ledger only: the size of the book its numbers are taken from")
    args = parser.parse_args(argv)
    if args.format == "ledger":
        write_ledger(args.size, args.book_size, args.output)
    else:
        write_book(args.format, args.size, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
