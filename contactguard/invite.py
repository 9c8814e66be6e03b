"""Invitations that let customers write first: a click-to-chat link and its QR code.

A customer who opens ``https://wa.me/<number>?text=…`` and sends the prefilled message has
initiated the chat — the inbound-first evidence the rest of contactguard looks for. The number is
in wa.me form (international digits, no "+", no leading zeros, no separators), the text is
percent-encoded (spaces as ``%20``: wa.me does not read ``+`` as a space).

segno is imported here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from . import phones
from .errors import ConfigError

__all__ = ["QR_KINDS", "invite_link", "write_qr"]

WA_ME = "https://wa.me/"

# File kinds a QR code is written as, by file extension.
QR_KINDS = {".svg": "svg", ".png": "png"}

# Pixels per QR module in a PNG; 10 keeps a printed code readable at a few centimetres.
_PNG_SCALE = 10
# The quiet zone of 4 modules is what ISO/IEC 18004 §7.3.8 requires around a QR code.
_BORDER = 4


def invite_link(number: str, text: str | None = None, *, region: str | None = None) -> str:
    """The click-to-chat link for ``number`` with an optional prefilled ``text``.

    Raises ConfigError when the number is not a valid phone number (national numbers need
    ``region``).
    """
    digits = phones.wa_me(number, region)
    if digits is None:
        hint = "" if region or number.strip().startswith(("+", "00")) else (
            " (a national number needs --region, e.g. --region DE)"
        )
        raise ConfigError(f"{number!r} is not a valid phone number{hint}")
    link = WA_ME + digits
    if text:
        link += "?text=" + quote(text, safe="")
    return link


def write_qr(link: str, path: str | Path) -> None:
    """Write ``link`` as a QR code to ``path``: SVG or PNG by extension (atomically)."""
    import segno

    from ._atomic import atomic_write

    kind = QR_KINDS.get(Path(path).suffix.lower())
    if kind is None:
        raise ConfigError(
            f"{path}: cannot tell the QR code format; name the file .svg or .png"
        )
    # error level M (15 %) survives a smudged print; segno raises it further when it fits.
    code = segno.make_qr(link, error="m")
    with atomic_write(path, public=True) as stream:  # meant to be published
        if kind == "png":
            code.save(stream, kind="png", scale=_PNG_SCALE, border=_BORDER)
        else:
            code.save(stream, kind="svg", scale=_PNG_SCALE, border=_BORDER,
                      title="WhatsApp: " + link)
