"""Text from books, evidence and file names made safe for where it is shown.

Two sanitisers, used wherever such text leaves the program:

- ``terminal_safe``: for a terminal (``--verbose``, ``check``, ``evidence inspect``/``show``,
  the ``sync --dry-run`` plan, error messages). C0 and C1 controls, DEL, the bidirectional
  overrides, embeddings and isolates (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C),
  the line and paragraph separators U+2028/U+2029 each become U+FFFD (lone surrogates become
  escapes, see ``shown_path``), so that a name cannot move the cursor, retitle a window, clear
  the screen, reverse the text around it or start a fake line. ``terminal_lines`` keeps the
  line ends of multi-line text.
- ``csv_cell``: for a CSV cell. The same characters are dropped, except tab, CR and LF, which a
  quoted cell may hold (a note's lines).

``shown_path`` makes a file name that is not valid UTF-8 (Python holds its bytes as lone
surrogates) printable and encodable: each such byte is written ``\\xNN``.
"""

from __future__ import annotations

import re

__all__ = ["csv_cell", "shown_path", "terminal_lines", "terminal_safe"]

_INVISIBLE = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_TERMINAL = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]")
_CSV = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_INVISIBLE}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def terminal_safe(text: str) -> str:
    """``text`` with every control or invisible layout character replaced by U+FFFD (a byte of
    a file name that is not UTF-8 is written ``\\xNN`` first, as ``shown_path`` does)."""
    if _SURROGATE.search(text):
        text = shown_path(text)
    return _TERMINAL.sub("\N{REPLACEMENT CHARACTER}", text)


def terminal_lines(text: str) -> str:
    """``terminal_safe`` for each line of a multi-line text; the line ends stay."""
    return "\n".join(terminal_safe(line) for line in text.split("\n"))


def csv_cell(text: str) -> str:
    """``text`` without the controls a CSV cell must not carry (tab, CR and LF stay)."""
    return _CSV.sub("", text)


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def shown_path(path: object) -> str:
    """A file name as text that prints and encodes: undecodable bytes become ``\\xNN``."""
    text = str(path)
    return _SURROGATE.sub(_escape, text) if _SURROGATE.search(text) else text


def count(number: int, word: str, plural: str | None = None) -> str:
    """``number`` and ``word`` in the singular or plural: "1 contact", "2 contacts",
    "0 contacts"; ``plural`` for irregular words ("identity", "identities")."""
    return f"{number:,} {word if number == 1 else plural or word + 's'}"
