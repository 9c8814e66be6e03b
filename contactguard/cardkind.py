"""What a source card is before it is parsed: a group (never synced), and its bulky parts.

Group cards (contact lists) are not people and are never synced to a phone.

Apple's Contacts server marks a group with ``X-ADDRESSBOOKSERVER-KIND:group`` (its members as
``X-ADDRESSBOOKSERVER-MEMBER``) in a vCard 3.0; vCard 4.0 says ``KIND:group`` (RFC 6350 §6.1.4,
members as ``MEMBER``). Either may carry a group prefix (``item1.KIND``) or parameters, and a
long line may be folded anywhere (RFC 6350 §3.2).
"""

from __future__ import annotations

import re

__all__ = ["BULKY", "is_group_card", "slim"]

# binary properties that may weigh hundreds of kilobytes each (RFC 6350 §6.2.4, §6.6.3, §6.7.5,
# §6.8.1); the vCard reader never reads them, so a source card drops them on arrival
BULKY = frozenset({"PHOTO", "LOGO", "SOUND", "KEY"})

_HINT = re.compile(r"k\r?\n?[ \t]?i\r?\n?[ \t]?n\r?\n?[ \t]?d", re.IGNORECASE)
_FOLD = re.compile(r"\r?\n[ \t]|\r[ \t]")
_GROUP = re.compile(
    r"^(?:[A-Za-z0-9-]+\.)?(?:X-ADDRESSBOOKSERVER-KIND|KIND)(?:;[^:\r\n]*)?:[ \t]*group[ \t]*\r?$",
    re.IGNORECASE | re.MULTILINE,
)


def is_group_card(text: str) -> bool:
    """True when the card says it is a group (KIND:group or X-ADDRESSBOOKSERVER-KIND:group)."""
    if _HINT.search(text) is None:  # most cards never mention a kind: no unfolding for them
        return False
    return _GROUP.search(_FOLD.sub("", text)) is not None


_BULKY_LINE = re.compile(
    r"^(?:[A-Za-z0-9-]+\.)?(PHOTO|LOGO|SOUND|KEY)[;:][^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n",
    re.IGNORECASE | re.MULTILINE,
)


def slim(text: str, keep: frozenset[str] = frozenset()) -> str:
    """The card without its bulky properties (photos, logos, sounds, keys), except ``keep``.

    A folded property goes with all its continuation lines (RFC 6350 §3.2).
    """
    if not _BULKY_LINE.search(text):
        return text
    return _BULKY_LINE.sub(lambda m: m.group(0) if m.group(1).upper() in keep else "", text)
