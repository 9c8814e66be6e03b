"""The audit report as one self-contained HTML page: open it offline, search it, print it.

The page holds the same entries as the JSON report (``report.contact_entry``: stripped numbers
masked), plus the run's inputs, its counts and a bar chart of reasons in inline SVG. Nothing is
loaded from anywhere: styles and script are inline, and a Content-Security-Policy allows only
those two blocks (by hash) — so even a contact name that slipped past escaping could neither run
script nor fetch anything. Every piece of book data is HTML-escaped.

Like the JSON writer it streams: table rows are spooled to a temporary file as decisions come, and
the page (whose head needs the final counts) is written at the end. Memory stays flat.
"""

from __future__ import annotations

import functools
import json
import tempfile
from html import escape
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .model import Decision
from .policy import Policy
from .report import ReportWriter, contact_entry, header

if TYPE_CHECKING:
    from .summary import Summary

__all__ = ["HtmlReportWriter", "is_html", "writer_for"]

_HTML_SUFFIXES = (".html", ".htm")

_STYLE = """
:root { --ink: #1d2430; --muted: #5b6573; --line: #d8dde4; --kept: #1f7a4d; --removed: #b3412e;
  --bg: #f6f7f9; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem; color: var(--ink); background: #fff; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 1.75rem 0 .5rem; }
.meta, footer { color: var(--muted); font-size: .875rem; }
dl.inputs { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dl.inputs dt { color: var(--muted); }
dl.inputs dd { margin: 0; overflow-wrap: anywhere; }
ul.plain { list-style: none; margin: 0; padding: 0; }
ul.counts { display: flex; flex-wrap: wrap; gap: .75rem; list-style: none; margin: 0; padding: 0; }
ul.counts li { background: var(--bg); border: 1px solid var(--line); border-radius: .5rem;
  padding: .6rem 1rem; min-width: 6.5rem; }
ul.counts b { display: block; font-size: 1.6rem; font-variant-numeric: tabular-nums; }
svg.chart { max-width: 44rem; width: 100%; height: auto; }
svg.chart text { font-size: 13px; fill: var(--ink); }
svg.chart .kept { fill: var(--kept); }
svg.chart .removed { fill: var(--removed); }
.controls { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; margin-bottom: .5rem; }
.controls input { font: inherit; padding: .35rem .5rem; min-width: 18rem; }
.controls select { font: inherit; padding: .3rem; }
table { border-collapse: collapse; width: 100%; font-size: .875rem; }
th, td { border-bottom: 1px solid var(--line); padding: .4rem .5rem; text-align: left;
  vertical-align: top; overflow-wrap: break-word; }
th, .badge, ul.numbers code { white-space: nowrap; }
th { background: var(--bg); position: sticky; top: 0; }
th button { all: unset; cursor: pointer; font-weight: 600; }
th button::after { content: " \\2195"; color: var(--muted); }
th[aria-sort=ascending] button::after { content: " \\2191"; color: var(--ink); }
th[aria-sort=descending] button::after { content: " \\2193"; color: var(--ink); }
td.num { font-variant-numeric: tabular-nums; color: var(--muted); }
.badge { border-radius: 1rem; padding: .1rem .55rem; color: #fff; font-size: .8rem; }
.badge.kept { background: var(--kept); }
.badge.removed { background: var(--removed); }
ul.numbers { list-style: none; margin: 0; padding: 0; }
ul.numbers .stripped { color: var(--removed); }
.note, ul.numbers small { color: var(--muted); display: block; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  .controls input, .controls select, .controls label { display: none; }
  th { position: static; }
  th button::after { content: none; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  section { break-inside: avoid-page; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

# Search filters rows by their text; a header button sorts by that column (again: reverse).
_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("contacts-table");
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var search = document.getElementById("search");
  var pick = document.getElementById("decision");
  var shown = document.getElementById("shown");
  rows.forEach(function (row) { row.cgText = row.textContent.toLowerCase(); });
  function filter() {
    var query = search.value.trim().toLowerCase();
    var wanted = pick.value;
    var count = 0;
    rows.forEach(function (row) {
      var ok = (!query || row.cgText.indexOf(query) !== -1) &&
               (!wanted || row.getAttribute("data-decision") === wanted);
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " contacts shown";
  }
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, column) {
    th.querySelector("button").addEventListener("click", function () {
      var order = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      heads.forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", order === 1 ? "ascending" : "descending");
      var keyed = rows.map(function (row, index) {
        return {row: row, key: row.cells[column].textContent, index: index};
      });
      keyed.sort(function (a, b) {
        return order * collator.compare(a.key, b.key) || a.index - b.index;
      });
      rows = keyed.map(function (item) { return item.row; });
      var fragment = document.createDocumentFragment();
      rows.forEach(function (row) { fragment.appendChild(row); });
      body.appendChild(fragment);
    });
  });
  search.addEventListener("input", filter);
  pick.addEventListener("change", filter);
  filter();
}());
"""


def _csp_hash(text: str) -> str:
    import base64
    import hashlib

    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@functools.cache
def _csp() -> str:
    """default-src 'none' forbids every fetch (images, fonts, frames, connections); only the
    two inline blocks above may apply, identified by hash (CSP Level 2, §4.2 "hash-source").
    Computed when a page is written: hashlib is not imported for a JSON report."""
    return (
        f"default-src 'none'; style-src {_csp_hash(_STYLE)}; script-src {_csp_hash(_SCRIPT)}; "
        "base-uri 'none'; form-action 'none'"
    )

_COLUMNS = ("#", "Source", "Name", "Decision", "Reason", "Numbers")

_COUNTS = (
    ("contacts_in", "contacts read"),
    ("contacts_kept", "kept"),
    ("contacts_removed", "removed"),
    ("numbers_in", "numbers read"),
    ("numbers_kept", "numbers kept"),
    ("merged", "merged"),
)


def is_html(path: str | Path) -> bool:
    """Whether a report path asks for HTML (by its extension; anything else is JSON)."""
    return Path(path).suffix.lower() in _HTML_SUFFIXES


def writer_for(path: str | Path) -> ReportWriter | HtmlReportWriter:
    """The report writer the path's extension asks for."""
    return HtmlReportWriter() if is_html(path) else ReportWriter()


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def row_html(index: int, decision: Decision) -> str:
    """One table row: the JSON report's entry for the decision, escaped."""
    return entry_row(index, contact_entry(decision))


def entry_row(index: int, entry: dict[str, Any]) -> str:
    """One table row for a JSON report entry (``report.contact_entry``'s shape), escaped."""
    state = entry["decision"]
    numbers = []
    for n in entry["numbers"]:
        why = n["reason"] + "".join(f" · {source}" for source in n.get("evidence", ()))
        numbers.append(
            f'<li class="{_e(n["decision"])}"><code>{_e(n["number"])}</code>'
            f"<small>{_e(n['decision'])}: {_e(why)}</small></li>"
        )
    notes = "".join(
        f'<span class="note">{_e(text)}</span>'
        for text in (entry.get("detail"),)
        if text
    )
    return (
        f'<tr data-decision="{_e(state)}"><td class="num">{index}</td>'
        f"<td>{_e(entry['source'])}</td><td>{_e(entry['name'])}</td>"
        f'<td><span class="badge {_e(state)}">{_e(state)}</span></td>'
        f"<td>{_e(entry['reason'])}{notes}</td>"
        f'<td><ul class="numbers">{"".join(numbers)}</ul></td></tr>\n'
    )


def chart_svg(reasons: dict[str, int]) -> str:
    """A horizontal bar chart of contacts per reason, as inline SVG (no external anything)."""
    items = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    if not items:
        return '<p class="meta">No contacts were read.</p>'
    label_w, bar_w, count_w, row_h, gap = 170, 420, 70, 22, 8
    width = label_w + bar_w + count_w
    height = len(items) * (row_h + gap)
    largest = max(count for _, count in items) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-labelledby="chart-title"><title id="chart-title">'
        "Contacts per reason</title>"
    ]
    for i, (reason, count) in enumerate(items):
        y = i * (row_h + gap)
        length = max(round(bar_w * count / largest), 2)
        tone = "kept" if reason == "inbound-first" else "removed"
        parts.append(
            f'<g><title>{_e(reason)}: {count}</title>'
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{_e(reason)}</text>'
            f'<rect class="{tone}" x="{label_w}" y="{y}" width="{length}" height="{row_h}" '
            'rx="3"></rect>'
            f'<text x="{label_w + length + 6}" y="{y + 16}">{count:,}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _inputs_html(head: dict[str, Any]) -> str:
    policy = head["policy"]
    books = "".join(f"<li><code>{_e(path)}</code></li>" for path in head["inputs"])
    evidence = head["summary"]["evidence"]
    max_age = policy["max_age_days"]
    rows = [
        ("Address books", f'<ul class="plain">{books}</ul>'),
        ("Evidence", f"{evidence['identities']:,} WhatsApp identities"
         + (f" ({evidence['without_phone_number']:,} without a phone number)"
            if evidence["without_phone_number"] else "")
         + (f"; {evidence.get('unmatched', 0):,} matched no contact"
            if evidence.get("unmatched") else "")
         + (f"; {evidence.get('not_understood', 0):,} items not understood (not evidence)"
            if evidence.get("not_understood") else "")),
        ("Region", _e(policy["region"] or "none (national numbers cannot be read)")),
        ("Fields kept", _e(", ".join(policy["fields"]))),
        ("Maximum age", _e(f"{max_age:g} days" if max_age is not None else "none")),
        ("Argentina without 9", "matched" if policy["match_ar_without_9"] else "not matched"),
    ]
    return '<dl class="inputs">' + "".join(
        f"<dt>{_e(label)}</dt><dd>{value}</dd>" for label, value in rows
    ) + "</dl>"


def _unmatched_html(items: list[dict[str, Any]]) -> str:
    """Evidence that did no work: identities no contact matched (keys masked)."""
    if not items:
        return ""
    rows = "".join(
        f"<tr><td>{_e(', '.join(item['keys']))}</td>"
        f"<td>{'yes' if item['has_number'] else 'no'}</td><td>{_e(item['state'])}</td>"
        f"<td>{int(item['sources']):,}</td></tr>"
        for item in items
    )
    return (
        '<section id="unmatched"><h2>Evidence that matched no contact</h2>'
        "<p>These identities are in the evidence but no contact of the book has their number "
        "(or, for a chat export of a saved contact, their exact name). Identities without a "
        "number can never match.</p><table><thead><tr><th>Keys (masked)</th><th>Number</th>"
        f"<th>Evidence says</th><th>Sources</th></tr></thead><tbody>{rows}</tbody></table>"
        "</section>\n"
    )


def _counts_html(summary: dict[str, Any]) -> str:
    return '<ul class="counts">' + "".join(
        f'<li id="count-{key.replace("_", "-")}"><b>{summary[key]:,}</b>{_e(label)}</li>'
        for key, label in _COUNTS
    ) + "</ul>"


def page_head(head: dict[str, Any], total: int) -> str:
    """Everything before the table rows."""
    summary = head["summary"]
    heads = "".join(
        f'<th scope="col"><button type="button">{_e(name)}</button></th>' for name in _COLUMNS
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_csp())}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        "<title>contactguard audit report</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n"
        "<header><h1>contactguard audit report</h1>"
        f'<p class="meta">Generated {_e(head["generated_at"])} · report version '
        f'{_e(head["version"])} · kept means the person wrote first (inbound-first evidence)'
        "</p></header>\n"
        f'<section id="inputs"><h2>Inputs</h2>{_inputs_html(head)}</section>\n'
        f'<section id="counts"><h2>Counts</h2>{_counts_html(summary)}</section>\n'
        f'<section id="reasons"><h2>Reasons</h2>{chart_svg(summary["reasons"])}</section>\n'
        f"{_unmatched_html(head.get('unmatched_evidence', []))}"
        '<section id="contacts"><h2>Contacts</h2>\n<div class="controls">'
        '<label>Search <input id="search" type="search" autocomplete="off" '
        'placeholder="name, number, reason, file"></label>'
        '<label>Show <select id="decision"><option value="">all</option>'
        '<option value="kept">kept</option><option value="removed">removed</option>'
        f'</select></label><span id="shown" aria-live="polite">{total:,} contacts</span></div>\n'
        f'<table id="contacts-table">\n<thead><tr>{heads}</tr></thead>\n<tbody>\n'
    )


_PAGE_TAIL = (
    "</tbody>\n</table>\n</section>\n"
    "<footer><p>Stripped numbers are masked (country code, three digits, last two) so that this "
    "report is no new copy of the data the run removed. Kept numbers are shown with the evidence "
    "that the person wrote first — grounds for a legitimate interest in answering them, not "
    "consent.</p></footer>\n"
    f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
)


class HtmlReportWriter:
    """Spool table rows as decisions come; ``finish`` writes the page with the counts first.

    The same interface as ``report.ReportWriter``: ``add(decision)`` and ``add_entries(data,
    count)``, then ``finish(stream, summary, policy)``.
    """

    def __init__(self) -> None:
        # errors="replace": a lone surrogate from a broken card must not abort the report
        self._spool: IO[str] = tempfile.TemporaryFile(  # noqa: SIM115  (closed in finish)
            "w+", encoding="utf-8", errors="replace"
        )
        self._count = 0

    def add(self, decision: Decision) -> None:
        self._count += 1
        self._spool.write(row_html(self._count, decision))

    def add_entries(self, data: bytes, count: int) -> None:
        """Add ``count`` JSON entries made by ``report.join_entries`` (in a worker process or
        by the one-process path), in order: the HTML report takes the quick path as the JSON
        report does, parsing the entries in C instead of building a Decision for each."""
        if not count:
            return
        entries = json.loads(b"[" + data + b"]")
        first = self._count + 1
        self._spool.write("".join(
            entry_row(index, entry) for index, entry in enumerate(entries, first)
        ))
        self._count += len(entries)

    def close(self) -> None:
        """Drop the spooled rows (a run that fails before ``finish``)."""
        self._spool.close()

    def finish(self, stream: IO[bytes], summary: Summary, policy: Policy) -> None:
        head = header(summary, policy)
        stream.write(page_head(head, self._count).encode("utf-8"))
        self._spool.seek(0)
        with self._spool:
            while chunk := self._spool.read(1 << 16):
                stream.write(chunk.encode("utf-8", "replace"))
        stream.write(_PAGE_TAIL.encode("utf-8"))
