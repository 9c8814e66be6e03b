"""The sync job's card comparison: the whole-card hash against the parsed-contact hash it replaced.

    .venv/bin/python benchmarks/bench_cardhash.py          # 5,000 cards, best of 5

Every card the job writes or fetches from the phone is hashed. The baseline is what the job did
before every property counted: parse the card with the vCard reader (vobject) and hash the
``Contact``. The new ``cardtext.card_hash`` hashes every line of the text instead. Both run side
by side in one process over the same cards, as the sync job serialises them (with a PHOTO, X-
and grouped properties added on a fifth of them, as phones add them).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from contactguard.cardtext import card_hash
from contactguard.model import Contact, Field, Phone
from contactguard.syncplan import canonical_hash, parse_card, serialize_card

CARDS = 5000
EXTRA = (
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBD\r\n"
    "X-ANDROID-CUSTOM:vnd.android.cursor.item/nickname;Anni;1;;;;;;;;;;;;;\r\n"
    "item1.X-ABRELATEDNAMES:Max\r\nitem1.X-ABLabel:_$!<Spouse>!$_\r\n"
)


def cards() -> list[bytes]:
    out = []
    for i in range(CARDS):
        contact = Contact(
            "bench",
            1,
            fn=f"Anna Schmidt {i}",
            n=("Schmidt", f"Anna {i}"),
            uid=f"uid-{i}",
            phones=(Phone(f"+49170{i:07d}", ("cell",)),),
            fields=(Field("ORG", ("Weber GmbH",)),),
        )
        data = serialize_card(contact)
        if i % 5 == 0:
            data = data.replace(b"END:VCARD", EXTRA.encode() + b"END:VCARD")
        out.append(data)
    return out


def best(fn: Callable[[bytes], object], data: list[bytes], rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for card in data:
            fn(card)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    data = cards()
    baseline = best(lambda d: canonical_hash(parse_card(d, "bench")), data)  # type: ignore[arg-type]
    new = best(card_hash, data)
    for name, seconds in (("parse + canonical_hash (before)", baseline), ("card_hash", new)):
        print(f"{name:34} {seconds * 1e6 / len(data):8.1f} µs/card")
    print(f"card_hash is {baseline / new:.1f}x the speed of the parsed comparison")


if __name__ == "__main__":
    main()
