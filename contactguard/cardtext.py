"""The whole content of a vCard as one hash: every property counts, however a server writes it.

The sync job must notice *any* change made on the phone before it overwrites or deletes a card
it once wrote: a PHOTO, ``X-ANDROID-CUSTOM``, Apple's grouped ``item1.X-ABRELATEDNAMES``, a
property nobody has heard of. ``Contact`` keeps only what the policy looks at, so the comparison
works on the card text itself, line by line (RFC 6350 §3.2, §3.3):

- lines are unfolded; property and parameter names, groups and parameter values are compared
  without case; parameters in any order, ``TYPE=a,b`` the same as ``TYPE=a;TYPE=b`` and a bare
  vCard 2.1 ``CELL`` the same as ``TYPE=cell``;
- values are compared after unescaping (``\\,`` is ``,``), component by component (split at
  ``;``), with trailing empty components dropped (``N:Weber;Carla`` is ``N:Weber;Carla;;;``);
  base64 data without its line breaks;
- properties are compared as a multiset (order does not matter), except ``PRODID``, ``REV`` and
  ``VERSION``: metadata that servers rewrite on every store.

Two texts with the same hash say the same thing; anything else is a different card.
"""

from __future__ import annotations

import hashlib
import json
import re

__all__ = ["card_hash"]

_IGNORED = frozenset({"PRODID", "REV", "VERSION"})
_FOLD = re.compile(r"\r?\n[ \t]|\r[ \t]")
_LINES = re.compile(r"\r\n|\n|\r")
_BASE64 = frozenset({"b", "base64"})


def card_hash(text: str | bytes) -> str:
    """A hash of everything a vCard text says (see the module docstring)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    props: list[list[object]] = []
    for line in _LINES.split(_FOLD.sub("", text)):
        if not line.strip():
            continue
        head, value = _split(line)
        if head is None:  # not a property line: it counts as it is written
            props.append(["?", line.strip()])
            continue
        group, _, name = head[0].rpartition(".")
        name = name.strip().upper()
        if name in _IGNORED:
            continue
        params = _params(head[1:])
        if _BASE64 & set(params.get("ENCODING", [])):
            canonical: object = "".join(value.split())
        else:
            canonical = _components(value)
        props.append([group.strip().lower(), name, sorted(params.items()), canonical])
    props.sort(key=lambda p: json.dumps(p, ensure_ascii=False))
    data = json.dumps(props, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


def _split(line: str) -> tuple[list[str] | None, str]:
    """(head split at the semicolons outside quotes, value) of a content line; the first colon
    outside a quoted parameter value ends the head (RFC 6350 §3.3)."""
    quoted = False
    start = 0
    head: list[str] = []
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == ";":
            head.append(line[start:i])
            start = i + 1
        elif not quoted and ch == ":":
            head.append(line[start:i])
            return (head if head[0].strip() else None), line[i + 1 :]
    return None, line


def _params(items: list[str]) -> dict[str, list[str]]:
    params: dict[str, set[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:  # vCard 2.1: a bare type such as CELL or PREF
            key, value = "TYPE", item
        values = {v.strip().strip('"').lower() for v in value.split(",")}
        params.setdefault(key.strip().upper(), set()).update(values)
    return {k: sorted(v) for k, v in params.items()}


def _components(value: str) -> list[str]:
    """A value split at unescaped ``;``, unescaped, trailing empty components dropped.

    ``\\,`` and ``,`` are the same character: servers differ in which commas they escape."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            current.append("\n" if ch in "nN" else ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ";":
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if escaped:
        current.append("\\")
    parts.append("".join(current).strip())
    while len(parts) > 1 and not parts[-1]:
        parts.pop()
    return parts
