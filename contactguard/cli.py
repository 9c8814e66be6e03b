"""The command line: thin click commands over the library; no business logic here.

Heavy modules (vobject, phonenumbers, httpx) are imported inside the commands so that
``contactguard --help`` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .errors import ContactguardError


class _Group(click.Group):
    """Show every ContactguardError as one clean line with exit status 1 — in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ContactguardError as exc:
            raise click.ClickException(str(exc)) from exc
        except KeyboardInterrupt:
            click.echo("contactguard: interrupted", err=True)
            raise SystemExit(130) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="contactguard")
def main() -> None:
    """Keep only people who wrote first in a WhatsApp Business phone's address book.

    Reads address books (vCard, CSV), evidence of who messaged first, and writes a clean book
    plus an audit report that explains every decision.
    """


@main.command()
@click.argument("books", nargs=-1, required=True, metavar="BOOK...")
@click.option("--evidence", "-e", "evidence", multiple=True, metavar="SRC",
              help="Evidence of who wrote first: a CSV/JSONL ledger (repeatable).")
@click.option("--region", "-r", metavar="CC",
              help="Default region for national numbers, e.g. DE.")
@click.option("--output", "-o", default="-", metavar="OUT", show_default=True,
              help="Where to write the clean book ('-' is standard output).")
@click.option("--format", "-f", "fmt", type=click.Choice(["vcard3", "vcard4", "csv"]),
              default="vcard3", show_default=True, help="Format of the clean book.")
@click.option("--report", metavar="FILE", help="Write the JSON audit report here.")
@click.option("--keep-field", "keep_fields", multiple=True, metavar="F",
              help="Keep this field besides FN, N, TEL, UID (repeatable): ORG, EMAIL, NOTE, ...")
@click.option("--max-age", metavar="AGE",
              help="Remove people whose last inbound message is older, e.g. 365d.")
@click.option("--match-ar-without-9", is_flag=True,
              help="Let Argentine +54 numbers match +549 evidence (off: may match a landline).")
@click.option("--input-format", type=click.Choice(["vcard", "csv"]),
              help="Do not sniff the book format.")
@click.option("--phone-column", "phone_columns", multiple=True, metavar="NAME",
              help="CSV column holding numbers (repeatable; overrides detection).")
@click.option("--name-column", "name_columns", multiple=True, metavar="NAME",
              help="CSV column holding the display name (repeatable).")
@click.option("--dry-run", is_flag=True, help="Write nothing but the report and the summary.")
@click.option("--quiet", "-q", is_flag=True, help="No summary on standard error.")
def sanitize(
    books: tuple[str, ...],
    evidence: tuple[str, ...],
    region: str | None,
    output: str,
    fmt: str,
    report: str | None,
    keep_fields: tuple[str, ...],
    max_age: str | None,
    match_ar_without_9: bool,
    input_format: str | None,
    phone_columns: tuple[str, ...],
    name_columns: tuple[str, ...],
    dry_run: bool,
    quiet: bool,
) -> None:
    """Write a clean book holding only people with inbound-first evidence.

    Example: contactguard sanitize export.vcf --evidence ledger.csv --region DE -o clean.vcf
    """
    if not evidence:
        raise click.UsageError(
            "no evidence given: pass --evidence SRC (an empty ledger is fine); "
            "without evidence every contact would be removed"
        )
    from ._atomic import atomic_write, refuse_overwriting_inputs
    from .books import ReadOptions, write_book
    from .evidence import load_evidence
    from .policy import Policy
    from .report import ReportWriter, summary_text
    from .sanitize import Sanitizer, parse_max_age

    for target in (output, report):
        if target and target != "-":
            refuse_overwriting_inputs(target, list(books) + list(evidence))
    loaded = load_evidence(evidence, ar_without_9=match_ar_without_9)
    policy = Policy(
        region=region,
        keep_fields=frozenset(keep_fields),
        max_age=parse_max_age(max_age),
        match_ar_without_9=match_ar_without_9,
    )
    options = ReadOptions(input_format, tuple(phone_columns), tuple(name_columns))
    sanitizer = Sanitizer(loaded, policy, options)
    writer = ReportWriter() if report else None
    for decision in sanitizer.decisions(books):
        if writer is not None:
            writer.add(decision)
    if not dry_run:
        if output == "-":
            write_book(sanitizer.clean, sys.stdout.buffer, fmt)
            sys.stdout.flush()
        else:
            with atomic_write(output) as stream:
                write_book(sanitizer.clean, stream, fmt)
    if writer is not None and report:
        with atomic_write(Path(report)) as stream:
            writer.finish(stream, sanitizer.summary, policy)
    if not quiet:
        click.echo(summary_text(sanitizer.summary, dry_run=dry_run), err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
