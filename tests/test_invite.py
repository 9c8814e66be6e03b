"""`contactguard invite`: the click-to-chat link and a QR code that decodes back to it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from contactguard import phones
from contactguard.cli import main
from contactguard.errors import ConfigError
from contactguard.invite import invite_link

zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp is not installed")
Image = pytest.importorskip("PIL.Image", reason="pillow is not installed")


def decode(path: Path) -> list[str]:
    with Image.open(path) as image:
        return [r.text for r in zxingcpp.read_barcodes(image.convert("L"))]


class TestWaMe:
    @pytest.mark.parametrize(
        ("raw", "region", "digits"),
        [
            ("+49 170 1234567", None, "491701234567"),
            ("0170 1234567", "DE", "491701234567"),
            ("0049 (0)170-1234567", None, "491701234567"),
            ("+1 (415) 555-2671", None, "14155552671"),
            ("tel:+33-6-12-34-56-78", None, "33612345678"),
        ],
        ids=["international", "national-with-region", "00-prefix-and-(0)", "nanp", "tel-uri"],
    )
    def test_digits(self, raw: str, region: str | None, digits: str) -> None:
        """wa.me form is the international number without "+", leading zeros or separators."""
        assert phones.wa_me(raw, region) == digits

    def test_invalid_is_none(self) -> None:
        """A number phonenumbers does not call valid has no wa.me form."""
        assert phones.wa_me("12345", None) is None
        assert phones.wa_me("0170 1234567", None) is None


class TestLink:
    def test_without_text(self) -> None:
        """Without a text the link is just the number."""
        assert invite_link("+49 170 1234567") == "https://wa.me/491701234567"

    def test_text_is_percent_encoded(self) -> None:
        """Spaces become %20 (wa.me does not read + as a space); &, ?, #, umlauts and newlines
        are encoded so the text arrives as typed."""
        link = invite_link("+491701234567", "Hallo! Größe & Preis?\n#1 + 2")
        assert link == ("https://wa.me/491701234567?text=Hallo%21%20Gr%C3%B6%C3%9Fe%20%26%20"
                        "Preis%3F%0A%231%20%2B%202")

    def test_invalid_number_raises_with_hint(self) -> None:
        """A national number without a region is refused with the flag to try."""
        with pytest.raises(ConfigError, match="--region"):
            invite_link("0170 1234567")


class TestCommand:
    def test_prints_link(self, runner: CliRunner) -> None:
        """The link is the only thing on standard output."""
        result = runner.invoke(main, ["invite", "030 1234567", "--region", "DE",
                                      "--text", "Hallo!"])
        assert result.exit_code == 0, result.output
        assert result.stdout == "https://wa.me/49301234567?text=Hallo%21\n"

    def test_invalid_number_exits_1(self, runner: CliRunner) -> None:
        """An invalid number is exit 1 with a one-line message naming it."""
        result = runner.invoke(main, ["invite", "12345"])
        assert result.exit_code == 1
        assert "'12345' is not a valid phone number" in result.stderr
        assert result.stdout == ""

    def test_unknown_qr_extension_is_usage_error(self, runner: CliRunner, tmp_path: Path) -> None:
        """--qr with neither .svg nor .png is a usage error and writes nothing."""
        result = runner.invoke(main, ["invite", "+491701234567", "--qr", str(tmp_path / "a.jpg")])
        assert result.exit_code == 2
        assert ".svg or .png" in result.stderr
        assert list(tmp_path.iterdir()) == []

    def test_png_qr_decodes_to_the_link(self, runner: CliRunner, tmp_path: Path) -> None:
        """The PNG QR code decodes back to exactly the printed link."""
        qr = tmp_path / "invite.png"
        result = runner.invoke(main, ["invite", "+49 170 1234567", "--text", "Hallo! Ich möchte "
                                      "gern bestellen & bezahlen", "--qr", str(qr)])
        assert result.exit_code == 0, result.output
        link = result.stdout.strip()
        assert decode(qr) == [link]
        assert f"wrote QR code to {qr}" in result.stderr

    def test_svg_qr_decodes_to_the_link(self, runner: CliRunner, tmp_path: Path) -> None:
        """The SVG QR code, rendered by a browser, decodes back to the link; it references
        nothing external."""
        from browser import Browser

        qr = tmp_path / "invite.svg"
        result = runner.invoke(main, ["invite", "+33 6 12 34 56 78", "-t", "Bonjour",
                                      "--qr", str(qr)])
        assert result.exit_code == 0, result.output
        svg = qr.read_text()
        assert "<svg" in svg
        assert re.findall(r"href|<image|url\(", svg) == []
        shot = tmp_path / "rendered.png"
        with Browser.start(width=600, height=600) as browser:
            browser.open(qr.as_uri())
            browser.screenshot(shot)
        assert decode(shot) == [result.stdout.strip()]
