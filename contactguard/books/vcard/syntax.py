"""What every vCard tier agrees on: the limits on hostile input and the names of the grammar.

The names are public so that the tiers (``lines``, ``repair``, ``light``, ``whole``,
``writer``) share them; the package's API is what ``contactguard.books.vcard`` exports.
"""

from __future__ import annotations

import functools
import re

# Limits on hostile input (SECURITY.md): past them a card is `unparseable` with the reason, and
# memory stays bounded whatever the file holds.
MAX_LINE = 16 * 1024 * 1024  # one physical line (an unfolded photo); longer ones are not kept
MAX_CARD_BYTES = 32 * 1024 * 1024  # one card, photos included
MAX_TELS = 100  # TEL lines in one card: real cards hold a handful
MAX_PROPERTY = 256 * 1024  # one text property: vobject slows down more than linearly past it

# What vobject accepts as a property, group or parameter name (RFC 2425 §5.8.2, plus Lotus "_").
NAME = re.compile(r"[A-Za-z0-9_-]+")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
# Binary payloads are never needed downstream, and a broken one would fail the whole card.
BINARY = frozenset({"PHOTO", "LOGO", "SOUND", "KEY"})
# 2.1 allows an encoding as a bare parameter (TEL;QUOTED-PRINTABLE:...)
ENCODINGS = frozenset({"QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT"})
NAME_ORDER = ("family", "given", "additional", "prefix", "suffix")
ADDRESS_ORDER = ("box", "extended", "street", "city", "region", "code", "country")

def as_tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    """A field value as its components."""
    return (value,) if isinstance(value, str) else value


_APPLE_LABEL = re.compile(r"_\$!<(.*)>!\$_")


def apple_label(label: str) -> str:
    """A label as a type: Apple groups a label with its TEL as item1.TEL + item1.X-ABLabel;
    built-in labels are wrapped as "_$!<Mobile>!$_", custom ones are plain text."""
    match = _APPLE_LABEL.fullmatch(label.strip())
    return (match.group(1) if match else label).strip().lower()


# what the light readers call: the same few labels come on every card
cached_label = functools.lru_cache(maxsize=4096)(apple_label)
