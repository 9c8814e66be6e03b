"""Output safety: what a crafted name or label in an address book can do to our outputs.

The clean book, the CSV export, the JSON report and the HTML report are read by phones,
spreadsheets and browsers; a value from the input must never become structure in any of them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from contactguard import read_book
from contactguard.books import write_book
from contactguard.cli import main
from contactguard.model import Contact, Field, Phone

ALLOWED = "+4915123456701"  # wrote first
INJECTED = "+4915999999999"  # a number nobody vouches for
LEDGER = f"phone,first_inbound_at\n{ALLOWED},2026-01-05\n"
INJECTIONS = [
    f"Anna\r\nTEL:{INJECTED}",
    f"Anna\nTEL:{INJECTED}",
    f"Anna\rTEL:{INJECTED}",
    f"Anna\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:Evil\r\nTEL:{INJECTED}",
    f"Anna;TEL:{INJECTED}",
    f"Anna,TEL:{INJECTED}\\",
    f"Anna\\\r\n TEL:{INJECTED}",
    f"Anna\u2028TEL:{INJECTED}",
    f"Anna\x0bTEL:{INJECTED}",
]
IDS = ["crlf", "lf", "cr", "end-begin", "semicolon", "comma-backslash", "fold", "u2028", "vt"]


def sanitize(runner: CliRunner, tmp_path: Path, book: Path, *extra: str) -> Path:
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(LEDGER)
    out = tmp_path / ("clean.csv" if "csv" in extra else "clean.vcf")
    result = runner.invoke(main, ["sanitize", str(book), "--evidence", str(ledger), "-o", str(out),
                                  "--region", "DE", "-q", *extra])
    assert result.exit_code == 0, result.output
    return out


def tel_values(data: bytes) -> list[str]:
    """Every TEL value a vCard parser would see, unfolded."""
    text = re.sub(r"\r\n[ \t]", "", data.decode("utf-8"))
    return [line.split(":", 1)[1] for line in text.split("\r\n")
            if line.split(":", 1)[0].split(";")[0].rpartition(".")[2].upper() == "TEL"]


class TestVcardInjection:
    @pytest.mark.parametrize("name", INJECTIONS, ids=IDS)
    @pytest.mark.parametrize("fmt", ["vcard3", "vcard4"])
    def test_a_crafted_name_in_a_csv_book_cannot_add_a_tel_line(
        self, runner: CliRunner, tmp_path: Path, name: str, fmt: str
    ) -> None:
        """A CSV name holding a line break and a TEL line stays one escaped FN in the clean book."""
        book = tmp_path / "book.csv"
        with book.open("w", newline="", encoding="utf-8") as stream:
            csv.writer(stream).writerows([["Name", "Phone"], [name, ALLOWED]])
        data = sanitize(runner, tmp_path, book, "--format", fmt).read_bytes()
        assert [t.removeprefix("tel:") for t in tel_values(data)] == [ALLOWED]
        assert data.split(b"\r\n").count(b"BEGIN:VCARD") == 1
        (back,) = read_book(io.BytesIO(data), name="clean.vcf")
        assert [p.value.removeprefix("tel:") for p in back.phones] == [ALLOWED]
        assert INJECTED not in "".join(p.value for p in back.phones)

    @pytest.mark.parametrize("prop", [
        "FN:Anna\\nTEL:{n}", "FN;ENCODING=QUOTED-PRINTABLE:Anna=0D=0ATEL:{n}",
        "N:Doe\\nTEL:{n};Anna;;;", "ORG:ACME\\r\\nTEL:{n}", "NOTE:x\\nTEL:{n}",
        'item1.X-ABLabel:mobile\\nTEL:{n}', "EMAIL:a@b.c\\nTEL:{n}",
    ], ids=["fn", "fn-qp", "n", "org", "note", "apple-label", "email"])
    def test_a_crafted_vcard_value_cannot_add_a_tel_line(
        self, runner: CliRunner, tmp_path: Path, prop: str
    ) -> None:
        """An escaped newline in FN, N, ORG, NOTE, EMAIL or a label stays escaped on output."""
        book = tmp_path / "book.vcf"
        book.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\n" + prop.format(n=INJECTED) + "\r\n"
                        + ("FN:Anna\r\n" if not prop.startswith("FN") else "")
                        + f"item1.TEL:{ALLOWED}\r\nEND:VCARD\r\n", encoding="utf-8")
        data = sanitize(runner, tmp_path, book, "--keep-field", "ORG", "--keep-field", "NOTE",
                        "--keep-field", "EMAIL").read_bytes()
        assert tel_values(data) == [ALLOWED]
        (back,) = read_book(io.BytesIO(data), name="clean.vcf")
        assert [p.value for p in back.phones] == [ALLOWED]

    def test_types_and_labels_cannot_inject_parameters(self) -> None:
        """A TEL type holding quotes, colons or line breaks is not written as a parameter."""
        contact = Contact("b", 1, fn="Anna", phones=(
            Phone(ALLOWED, ("cell", 'x";TYPE=pref:+1', f"home\r\nTEL:{INJECTED}")),))
        for fmt in ("vcard3", "vcard4"):
            out = io.BytesIO()
            write_book([contact], out, fmt)
            assert [t.removeprefix("tel:") for t in tel_values(out.getvalue())] == [ALLOWED]
            assert INJECTED.encode() not in out.getvalue()

    def test_a_field_name_that_is_not_a_token_is_not_written(self) -> None:
        """A field whose name is not a vCard name (a Python caller's mistake) is skipped."""
        contact = Contact("b", 1, fn="Anna", phones=(Phone(ALLOWED),),
                          fields=(Field(f"NOTE:x\r\nTEL:{INJECTED}\r\nX", "v"),))
        out = io.BytesIO()
        write_book([contact], out, "vcard3")
        assert INJECTED.encode() not in out.getvalue()


class TestCsvFormulaInjection:
    FORMULAS = ("=HYPERLINK(\"http://evil\",\"x\")", "+SUM(1+1)", "-2+3", "@cmd|'/c calc'!A0",
                "\t=1+1", "\r=1+1", "=cmd|' /C calc'!A0")

    @pytest.mark.parametrize("value", FORMULAS)
    def test_formula_cells_are_neutralised_and_read_back(self, value: str) -> None:
        """Every cell that starts a formula gets a leading quote; our reader restores the value."""
        contact = Contact("b", 1, fn=value, n=(value, value), phones=(Phone(ALLOWED, (value,)),),
                          fields=(Field("ORG", (value, value)), Field("NOTE", value),
                                  Field("EMAIL", value), Field("TITLE", value),
                                  Field("URL", value)))
        out = io.BytesIO()
        write_book([contact], out, "csv")
        rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8"), newline="")))
        for cell in rows[1]:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or cell == ALLOWED, cell
        (back,) = read_book(io.BytesIO(out.getvalue()), name="clean.csv")
        assert back.fn == value.strip()
        assert [p.value for p in back.phones] == [ALLOWED]

    def test_a_number_cell_that_is_a_formula_is_neutralised(self) -> None:
        """A number value with letters after a formula character gets the quote too."""
        contact = Contact("b", 1, fn="Anna", phones=(Phone("=1+2*A1"), Phone(ALLOWED)))
        out = io.BytesIO()
        write_book([contact], out, "csv")
        assert "'=1+2*A1" in out.getvalue().decode("utf-8")

    def test_end_to_end_csv_output(self, runner: CliRunner, tmp_path: Path) -> None:
        """`sanitize --format csv` on a book with formula names writes no live formula."""
        book = tmp_path / "book.csv"
        with book.open("w", newline="", encoding="utf-8") as stream:
            csv.writer(stream).writerows([["Name", "Phone"], ["=HYPERLINK(\"x\")", ALLOWED]])
        data = sanitize(runner, tmp_path, book, "--format", "csv").read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(data, newline="")))
        assert rows[1][0] == "'=HYPERLINK(\"x\")"


class TestReports:
    HOSTILE = ('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>',
               "</script><script>alert(2)</script>", "' onmouseover='alert(3)", "&lt;x&gt;")

    def book(self, tmp_path: Path) -> Path:
        path = tmp_path / "book.vcf"
        cards = [f"BEGIN:VCARD\r\nFN:{name}\r\nTEL:{tel}\r\nNOTE:{name}\r\nEND:VCARD\r\n"
                 for name, tel in zip(self.HOSTILE, [ALLOWED, "+4915123456702", "+491701234567",
                                                      "not a number", "+4915123456703"],
                                     strict=True)]
        path.write_text("".join(cards), encoding="utf-8")
        return path

    def test_html_report_escapes_every_book_value(self, runner: CliRunner, tmp_path: Path) -> None:
        """Names, numbers and sources from the book appear in the HTML report only escaped."""
        pytest.importorskip("contactguard.report_html")
        book = self.book(tmp_path)
        ledger = tmp_path / "ledger.csv"
        ledger.write_text(LEDGER)
        report = tmp_path / "r.html"
        result = runner.invoke(main, ["sanitize", str(book), "--evidence", str(ledger), "--region",
                                      "DE", "-o", str(tmp_path / "c.vcf"), "--report", str(report),
                                      "-q"])
        assert result.exit_code == 0, result.output
        html = report.read_text(encoding="utf-8")
        for value in self.HOSTILE:
            assert value not in html, value
        assert "alert(1)" in html  # the names are there, escaped
        assert html.count("<script") == 1  # only the report's own script

    def test_json_report_is_valid_json_whatever_the_names(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        """Control characters and quotes in names leave the JSON report parseable."""
        book = tmp_path / "book.csv"
        with book.open("w", newline="", encoding="utf-8") as stream:
            csv.writer(stream).writerows([["Name", "Phone"], ['a"\x01\x1b[31m\u2028}', ALLOWED],
                                          ["\\", "+4915123456702"]])
        ledger = tmp_path / "ledger.csv"
        ledger.write_text(LEDGER)
        report = tmp_path / "r.json"
        result = runner.invoke(main, ["sanitize", str(book), "--evidence", str(ledger), "--region",
                                      "DE", "--dry-run", "--report", str(report), "-q"])
        assert result.exit_code == 0, result.output
        data = json.loads(report.read_text(encoding="utf-8"))
        assert [c["name"] for c in data["contacts"]] == ['a"\x01\x1b[31m\u2028}', "\\"]

    def test_verbose_output_has_no_terminal_escapes(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        """A name with ANSI escape sequences cannot drive the terminal through --verbose."""
        book = tmp_path / "book.csv"
        with book.open("w", newline="", encoding="utf-8") as stream:
            csv.writer(stream).writerows([["Name", "Phone"], ["\x1b]0;pwned\x07\x1b[2J", ALLOWED]])
        ledger = tmp_path / "ledger.csv"
        ledger.write_text(LEDGER)
        result = runner.invoke(main, ["sanitize", str(book), "--evidence", str(ledger), "--region",
                                      "DE", "--dry-run", "--verbose"])
        assert result.exit_code == 0, result.output
        assert "\x1b]0;" not in result.output and "\x1b[2J" not in result.output
