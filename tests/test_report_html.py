"""The HTML audit report: self-contained, escaped, streamed, and working in a real browser."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Browser
from click.testing import CliRunner

from contactguard.cli import main
from contactguard.model import Contact, Decision, NumberDecision, Reason
from contactguard.policy import Policy
from contactguard.report_html import HtmlReportWriter, chart_svg, is_html, row_html
from contactguard.summary import Summary

ROOT = Path(__file__).parent.parent
SCREENSHOT = ROOT / "docs" / "report.png"
# the README's first command: the shipped samples with every reason code
SAMPLE_RUN = ("samples/company-book.vcf", "samples/crm-export.csv", "--evidence",
              "samples/ledger.csv", "--evidence", "samples/chats/", "--region", "DE",
              "--max-age", "365d")

HOSTILE = (
    ("<script>alert(1)</script>", "+4915123456701"),
    ('"><img src=x onerror=alert(2)>', "+4915123456702"),
    ("Zoë & Co </td></tr></table>", "+4915123456703"),
    ("Nobody Knows", "+4915123456799"),
)


def _card(name: str, number: str) -> str:
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nTEL;TYPE=CELL:{number}\r\nEND:VCARD\r\n"


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    """A book whose names try to inject markup, and a ledger for all but the last."""
    book = tmp_path / "hostile.vcf"
    book.write_text("".join(_card(n, p) for n, p in HOSTILE), encoding="utf-8")
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(
        "phone,first_inbound_at\n"
        + "".join(f"{p},2026-01-0{i + 1}\n" for i, (_, p) in enumerate(HOSTILE[:-1])),
        encoding="utf-8",
    )
    return book, ledger


def _report(runner: CliRunner, out: Path, *argv: str) -> str:
    result = runner.invoke(main, ["sanitize", *argv, "--dry-run", "--report", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


FIXTURE = ["tests/fixtures/report/book.vcf", "--evidence", "tests/fixtures/report/ledger.csv",
           "--region", "DE"]


def _fixture_report(runner: CliRunner, out: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """8 contacts: 2 kept, 6 removed for 6 different reasons (tests/fixtures/report)."""
    monkeypatch.chdir(ROOT)
    return _report(runner, out, *FIXTURE)


def _samples_report(runner: CliRunner, out: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(ROOT)  # relative input paths, as the README's command shows them
    return _report(runner, out, *SAMPLE_RUN)


def _decision(i: int) -> Decision:
    contact = Contact("big.vcf", i * 5 + 1, fn=f"Person {i}")
    number = NumberDecision(f"+49170{i:07d}", f"+49170{i:07d}", False, Reason.NO_EVIDENCE)
    return Decision(contact, False, Reason.NO_EVIDENCE, (number,))


class TestFile:
    def test_extension_chooses_html_or_json(self, runner: CliRunner, tmp_path: Path,
                                            hostile: tuple[Path, Path]) -> None:
        """--report x.html writes HTML (any case of the extension); x.json stays JSON."""
        book, ledger = hostile
        page = _report(runner, tmp_path / "r.HTML", str(book), "--evidence", str(ledger))
        data = _report(runner, tmp_path / "r.json", str(book), "--evidence", str(ledger))
        assert page.startswith("<!DOCTYPE html>")
        assert json.loads(data)["summary"]["contacts_in"] == len(HOSTILE)
        assert (is_html("a.htm"), is_html("a.json"), is_html("html")) == (True, False, False)

    def test_book_data_is_escaped(self, runner: CliRunner, tmp_path: Path,
                                  hostile: tuple[Path, Path]) -> None:
        """Names that look like markup appear only as escaped text, never as tags."""
        book, ledger = hostile
        page = _report(runner, tmp_path / "r.html", str(book), "--evidence", str(ledger))
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>alert" not in page
        assert "<img" not in page
        assert "Zoë &amp; Co &lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;" in page
        assert page.count("<tr data-decision=") == len(HOSTILE)

    def test_self_contained(self, runner: CliRunner, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
        """The page references nothing outside itself: no URLs, no src/href, no @import."""
        page = _fixture_report(runner, tmp_path / "r.html", monkeypatch)
        assert re.findall(r"(?i)(?:https?|ftp|wss?):|//[a-z0-9.-]+\.[a-z]{2,}/", page) == []
        refs = r"(?i)\b(?:src|href|srcset|action)\s*=|@import|url\(|<link|<iframe"
        assert re.findall(refs, page) == []
        assert page.count("<script>") == 1 and page.count("<style>") == 1

    def test_csp_allows_exactly_the_inline_blocks(self, runner: CliRunner, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
        """The Content-Security-Policy forbids every fetch and names the hashes of the page's own
        style and script, so nothing else could run or load."""
        page = _fixture_report(runner, tmp_path / "r.html", monkeypatch)
        csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
        assert csp is not None
        policy = csp.group(1).replace("&#x27;", "'")

        def digest(tag: str) -> str:
            body = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.S)
            assert body is not None
            return base64.b64encode(hashlib.sha256(body.group(1).encode()).digest()).decode()

        assert policy.startswith("default-src 'none';")
        assert f"style-src 'sha256-{digest('style')}'" in policy
        assert f"script-src 'sha256-{digest('script')}'" in policy

    def test_numbers_as_in_the_json_report(self, runner: CliRunner, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
        """Every number appears as the JSON report shows it: stripped ones masked, kept ones not."""
        page = _fixture_report(runner, tmp_path / "r.html", monkeypatch)
        data = json.loads(_report(runner, tmp_path / "r.json", *FIXTURE))
        shown = re.findall(r"<code>([^<]*)</code></?", page.split("<tbody>")[1])
        expected = [n["number"] for c in data["contacts"] for n in c["numbers"]]
        assert shown == expected
        assert "+49301****67" in shown and "+49301234567" not in page

    def test_chart_lists_every_reason_with_its_count(self) -> None:
        """The inline SVG chart has one labelled bar per reason, largest first."""
        svg = chart_svg({"no-evidence": 7, "inbound-first": 3, "<x>": 1})
        labels = re.findall(r'text-anchor="end">([^<]+)<', svg)
        assert labels == ["no-evidence", "inbound-first", "&lt;x&gt;"]
        assert svg.count("<rect") == 3
        assert "xmlns" not in svg

    def test_empty_book(self) -> None:
        """A run without contacts still writes a valid page saying so."""
        out = io.BytesIO()
        HtmlReportWriter().finish(out, Summary(), Policy())
        page = out.getvalue().decode()
        assert "No contacts were read." in page and page.rstrip().endswith("</html>")

    def test_memory_stays_flat(self) -> None:
        """Rows are spooled to disk: 20,000 decisions cost no more memory than a few rows."""
        writer = HtmlReportWriter()
        tracemalloc.start()
        try:
            for i in range(20_000):
                writer.add(_decision(i))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        sink = _CountingSink()
        writer.finish(sink, Summary(contacts_in=20_000), Policy())  # type: ignore[arg-type]
        assert peak < 1_000_000, peak
        assert sink.size > 20_000 * len(row_html(1, _decision(1))) * 0.9

    def test_unpaired_surrogate_does_not_abort(self) -> None:
        """A name with a lone surrogate (a broken card) is replaced, not a crash."""
        writer = HtmlReportWriter()
        writer.add(Decision(Contact("x.vcf", 1, fn="bad \udcff name"), False, Reason.NO_NUMBER))
        out = io.BytesIO()
        writer.finish(out, Summary(contacts_in=1), Policy())
        assert "bad ? name" in out.getvalue().decode()


class _CountingSink:
    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.start(width=1000, height=800) as b:
        yield b


def _visible_rows(browser: Browser) -> list[str]:
    return browser.eval(  # type: ignore[no-any-return]
        "Array.from(document.querySelectorAll('#contacts-table tbody tr'))"
        ".filter(r => r.offsetParent !== null).map(r => r.cells[2].textContent)"
    )


class TestInBrowser:
    def test_counts_and_chart_render(self, browser: Browser, runner: CliRunner, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
        """The counts and the reasons chart of the shipped samples are visible in the rendered
        page, matching the JSON report; a screenshot is saved (to docs/report.png with
        CONTACTGUARD_UPDATE_SCREENSHOT=1)."""
        out = tmp_path / "report.html"
        _samples_report(runner, out, monkeypatch)
        summary = json.loads(_report(runner, tmp_path / "r.json", *SAMPLE_RUN))["summary"]
        browser.open(out.as_uri())
        counts = browser.eval(
            "Array.from(document.querySelectorAll('ul.counts li'))"
            ".map(li => [li.id, li.innerText.replace(/\\s+/g, ' '), li.offsetHeight > 0])"
        )
        assert ["count-contacts-in", f"{summary['contacts_in']} contacts read", True] in counts
        assert ["count-contacts-kept", f"{summary['contacts_kept']} kept", True] in counts
        assert ["count-contacts-removed", f"{summary['contacts_removed']} removed", True] in counts
        bars = browser.eval("Array.from(document.querySelectorAll('svg.chart g'))"
                            ".map(g => g.textContent)")
        assert bars == [f"{reason}: {n}{reason}{n}" for reason, n in summary["reasons"].items()]
        width = browser.eval("document.querySelector('svg.chart').getBoundingClientRect().width")
        assert width > 300
        rows = browser.eval("document.querySelectorAll('#contacts-table tbody tr').length")
        assert rows == summary["contacts_in"]
        shot = tmp_path / "report.png"
        _screenshot(browser, shot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("CONTACTGUARD_UPDATE_SCREENSHOT"):
            _save_small(shot, SCREENSHOT)

    def test_search_filters_rows(self, browser: Browser, runner: CliRunner, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
        """Typing in the search box shows only matching rows and says how many."""
        out = tmp_path / "report.html"
        _fixture_report(runner, out, monkeypatch)
        browser.open(out.as_uri())
        assert len(_visible_rows(browser)) == 8
        browser.type("#search", "ANNA")
        assert _visible_rows(browser) == ["Anna Schmidt", "Anna S."]
        assert browser.eval("document.getElementById('shown').textContent") == (
            "2 of 8 contacts shown"
        )
        browser.eval("document.getElementById('decision').value = 'kept';"
                     "document.getElementById('decision').dispatchEvent(new Event('change'))")
        assert _visible_rows(browser) == ["Anna Schmidt"]

    def test_sort_by_column(self, browser: Browser, runner: CliRunner, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
        """Clicking a column header sorts by it; clicking again reverses; # restores input order."""
        out = tmp_path / "report.html"
        _fixture_report(runner, out, monkeypatch)
        browser.open(out.as_uri())
        original = _visible_rows(browser)
        click = "document.querySelectorAll('#contacts-table thead button')[{}].click()"
        browser.eval(click.format(2))
        ascending = _visible_rows(browser)
        assert ascending == sorted(original, key=str.lower)
        assert browser.eval("document.querySelectorAll('thead th')[2].getAttribute('aria-sort')"
                            ) == "ascending"
        browser.eval(click.format(2))
        assert _visible_rows(browser) == list(reversed(ascending))
        browser.eval(click.format(0))
        assert _visible_rows(browser) == original

    def test_hostile_names_render_as_text_and_load_nothing(
        self, browser: Browser, runner: CliRunner, tmp_path: Path, hostile: tuple[Path, Path]
    ) -> None:
        """Markup in names shows as literal text; no script runs, no dialog opens, and the page
        makes no request but its own file."""
        book, ledger = hostile
        out = tmp_path / "report.html"
        _report(runner, out, str(book), "--evidence", str(ledger))
        browser.requests.clear()
        browser.open(out.as_uri())
        names = browser.eval("Array.from(document.querySelectorAll('#contacts-table tbody tr'))"
                             ".map(r => r.cells[2].textContent)")
        assert names == [name for name, _ in HOSTILE]
        assert browser.eval("document.querySelectorAll('img, iframe, link, object').length") == 0
        assert browser.eval("document.scripts.length") == 1
        assert browser.dialogs == []
        assert browser.requests == [out.as_uri()]


def _screenshot(browser: Browser, path: Path) -> None:
    """The whole page at 1000 px wide (the viewport grows to the page's height first)."""
    height = browser.eval("document.documentElement.scrollHeight")
    browser.send("Emulation.setDeviceMetricsOverride", width=1000, height=height,
                 deviceScaleFactor=1, mobile=False)
    try:
        browser.screenshot(path)
    finally:
        browser.send("Emulation.setDeviceMetricsOverride", width=1000, height=800,
                     deviceScaleFactor=1, mobile=False)


def _save_small(shot: Path, target: Path) -> None:
    """A palette PNG is a fraction of the size of the browser's truecolour one."""
    from PIL import Image

    target.parent.mkdir(exist_ok=True)
    with Image.open(shot) as image:
        image.convert("RGB").quantize(colors=64).save(target, optimize=True)
