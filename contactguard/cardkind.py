"""Which cards of a source are not people: group cards (contact lists) are never synced.

Apple's Contacts server marks a group with ``X-ADDRESSBOOKSERVER-KIND:group`` (its members as
``X-ADDRESSBOOKSERVER-MEMBER``) in a vCard 3.0; vCard 4.0 says ``KIND:group`` (RFC 6350 §6.1.4,
members as ``MEMBER``). Either may carry a group prefix (``item1.KIND``) or parameters, and a
long line may be folded anywhere (RFC 6350 §3.2).
"""

from __future__ import annotations

import re

__all__ = ["is_group_card"]

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
