"""Terminal output conventions for the CLI: when to colour, a progress bar, per-contact lines.

Nothing here imports click or decides on its own to print: the CLI passes the stream and the
switches, so that the rules sit in one testable place.

- Colour only when the stream is a terminal and ``NO_COLOR`` is not set to a non-empty value
  (https://no-color.org).
- The progress bar appears on standard error only when it is a terminal, only once a run has
  taken about a second, and never in ``--quiet`` mode; it is erased when the run ends.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ._text import terminal_safe
from .model import Decision
from .report import contact_entry

__all__ = ["Console", "Progress", "color_wanted", "decision_line", "terminal_safe"]

# Runs shorter than this finish before a bar would help; it would only flicker.
SHOW_AFTER = 1.0
# Redraw at most this often: a terminal write per contact would slow a 1M-contact run down.
REDRAW_EVERY = 0.1
_BAR_WIDTH = 30
_CHUNK = 1 << 20



def color_wanted(stream: IO[Any], environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal and never when NO_COLOR is set (non-empty, per no-color.org)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", ""):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def decision_line(decision: Decision) -> tuple[str, str]:
    """One ``--verbose`` line for a decision and its tone ("kept" or "removed").

    Numbers are shown as the report shows them: kept numbers in E.164, stripped ones masked.
    """
    entry = contact_entry(decision)
    numbers = " ".join(
        n["number"] + ("" if n["decision"] == "kept" else f" ({n['reason']})")
        for n in entry["numbers"]
    )
    parts = [entry["source"], entry["decision"], entry["reason"], entry["name"] or "(no name)"]
    if numbers:
        parts.append(numbers)
    if "merged_into" in entry:
        parts.append(f"→ {entry['merged_into']}")
    return terminal_safe("  ".join(parts)), entry["decision"]


def count_lines(sources: Sequence[str]) -> int | None:
    """Physical lines of the book files (the bar's total); None when one is standard input."""
    total = 0
    for source in sources:
        if source == "-":
            return None
        try:
            with Path(source).open("rb") as f:
                while chunk := f.read(_CHUNK):
                    total += chunk.count(b"\n")
        except OSError:
            return None
    return total


class Progress:
    """A progress bar on a terminal stream, fed one decision at a time.

    The fraction done is the line the current contact starts on, over all lines of all books (a
    cheap count made only once the bar is about to appear). Standard input has no known size: then
    the bar shows a count and a rate.
    """

    def __init__(self, stream: IO[str], books: Sequence[str], *, enabled: bool,
                 clock: Any = time.monotonic) -> None:
        self._stream = stream
        self._books = [str(b) for b in books]
        self._enabled = enabled
        self._clock = clock
        self._start = clock()
        self._next = self._start + SHOW_AFTER
        self._count = 0
        self._total: int | None = None
        self._offsets: dict[str, int] = {}
        self._shown = False

    @property
    def shown(self) -> bool:
        """Whether the bar has been drawn at least once."""
        return self._shown

    def update(self, decision: Decision) -> None:
        """Count one decision; redraw when due."""
        self.advance(1, decision.contact.source, decision.contact.line)

    def advance(self, count: int, source: str, line: int) -> None:
        """Count ``count`` decisions, the last at ``line`` of ``source``; redraw when due."""
        self._count += count
        if not self._enabled:
            return
        now = self._clock()
        if now < self._next:
            return
        if not self._shown:
            self._prepare()
        self._next = now + REDRAW_EVERY
        self._draw(source, line, now)

    def echo(self, line: str) -> None:
        """Write a line above the bar (the bar is redrawn by the next update)."""
        if self._shown:
            self._stream.write("\r\x1b[K")
        self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        """Erase the bar, leaving the terminal as it was."""
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False

    def _prepare(self) -> None:
        self._shown = True
        offset = 0
        for book in self._books:
            lines = count_lines([book])
            if lines is None:
                return
            self._offsets.setdefault(book, offset)
            offset += lines
        self._total = offset

    def _draw(self, source: str, line: int, now: float) -> None:
        elapsed = now - self._start
        rate = self._count / elapsed if elapsed > 0 else 0.0
        tail = f"{self._count:,} contacts  {rate:,.0f}/s  {elapsed:.0f}s"
        if self._total:
            line += self._offsets.get(source, 0)
            fraction = min(line / self._total, 1.0)
            filled = int(fraction * _BAR_WIDTH)
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            text = f"[{bar}] {fraction:4.0%}  {tail}"
        else:
            text = f"reading…  {tail}"
        self._stream.write("\r\x1b[K" + text)
        self._stream.flush()


# click.style-like: style(text, fg="green") -> text with ANSI colour (the CLI passes click.style)
Style = Callable[..., str]

_TONES = {"kept": "green", "removed": "red", "clean": "green", "offending": "red", "hint": "yellow"}


class Console:
    """What the CLI shows on standard error while a run goes: the progress bar (on a terminal,
    not in ``--quiet``), ``--verbose`` decision lines, colour only where ``color_wanted``."""

    def __init__(self, stream: IO[str], books: Sequence[str], *, quiet: bool = False,
                 verbose: bool = False, style: Style | None = None) -> None:
        self._stream = stream
        self._verbose = verbose
        self._style = style if color_wanted(stream) else None
        isatty = getattr(stream, "isatty", None)
        self.progress = Progress(stream, books, enabled=not quiet and bool(isatty and isatty()))

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.close()

    def decision(self, decision: Decision) -> None:
        """Advance the bar; in verbose mode also show the decision."""
        self.progress.update(decision)
        if self._verbose:
            self.echo(*decision_line(decision))

    def show(self, decision: Decision) -> None:
        """In verbose mode, show the decision (the bar advances through ``decided``)."""
        if self._verbose:
            self.echo(*decision_line(decision))

    def decided(self, count: int, source: str, line: int) -> None:
        """Advance the bar by ``count`` decisions, the last at ``line`` of ``source`` (a run's
        ``on_progress``: a batch of the quick path, or one Decision)."""
        self.progress.advance(count, source, line)

    def echo(self, text: str, tone: str | None = None) -> None:
        """A line on the stream, above the bar, coloured by tone when colour is wanted."""
        if self._style is not None and tone in _TONES:
            text = self._style(text, fg=_TONES[tone])
        self.progress.echo(text)
