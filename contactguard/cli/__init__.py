"""The command line: thin click commands over the library; no business logic here.

One module per group of commands — ``books`` (sanitize, check, invite), ``evidence`` (import,
show, opt-out, forget, inspect), ``sync`` — over ``common`` (the options they share). Heavy
modules (vobject, phonenumbers, httpx) are imported inside the commands so that
``contactguard --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .._text import shown_path, terminal_safe
from ..errors import ContactguardError

__all__ = ["main"]


class _Group(click.Group):
    """Show every ContactguardError as one clean line with exit status 1 — in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ContactguardError as exc:
            raise click.ClickException(terminal_safe(shown_path(str(exc)))) from exc
        except KeyboardInterrupt:
            click.echo("contactguard: interrupted", err=True)
            raise SystemExit(130) from None
        except BrokenPipeError:
            # the reader went away (``| head -1``): end quietly, as Unix tools do on SIGPIPE;
            # standard output goes to /dev/null so that the final flush cannot complain
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            raise SystemExit(128 + 13) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="contactguard")
def main() -> None:
    """Keep only people who wrote first in a WhatsApp Business phone's address book.

    Reads address books (vCard, CSV), evidence of who messaged first, and writes a clean book
    plus an audit report that explains every decision.
    """


# the commands register themselves on ``main`` (and its ``evidence`` group) when imported
from . import books, evidence, sync  # noqa: E402, F401
