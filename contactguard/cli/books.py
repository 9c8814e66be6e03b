"""The commands that run the policy over books: ``sanitize``, ``check``; and ``invite``."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, BinaryIO, cast

import click

from .._text import count, shown_path, terminal_safe
from ..errors import ContactguardError
from . import main
from .common import (
    echo_json,
    jobs_for,
    pipeline_options,
    region_callback,
    sanitizer_for,
)


@main.command()
@click.argument("books", nargs=-1, required=True, metavar="BOOK...")
@pipeline_options
@click.option("--output", "-o", default="-", metavar="OUT", show_default=True,
              help="Where to write the clean book ('-' is standard output).")
@click.option("--format", "-f", "fmt", type=click.Choice(["vcard3", "vcard4", "csv"]),
              default="vcard3", show_default=True, help="Format of the clean book.")
@click.option("--report", metavar="FILE",
              help="Write the audit report here: HTML for a .html name, else JSON; '-' writes "
                   "the JSON report to standard output (then -o FILE or --dry-run).")
@click.option("--dry-run", is_flag=True, help="Write nothing but the report and the summary.")
@click.option("--quiet", "-q", is_flag=True,
              help="No summary and no progress bar on standard error.")
@click.option("--json", "as_json", is_flag=True,
              help="Summary as JSON: on standard output, or standard error when the clean book "
                   "goes to standard output.")
@click.option("--verbose", "-v", is_flag=True,
              help="One line per contact on standard error (stripped numbers masked).")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, metavar="N",
              help="Processes for a large book (4 MB and more): 1 reads it in this process; "
                   "0 (the default) uses the CPUs this process may run on, at most 4.")
def sanitize(
    books: tuple[str, ...],
    output: str,
    fmt: str,
    report: str | None,
    dry_run: bool,
    quiet: bool,
    as_json: bool,
    verbose: bool,
    jobs: int,
    **pipeline: Any,
) -> None:
    """Write a clean book holding only people with inbound-first evidence.

    Example: contactguard sanitize export.vcf --evidence ledger.csv --region DE -o clean.vcf
    """
    from ..outputs import check_outputs
    from ..progress import Console
    from ..summary import summary_text

    if report == "-" and output == "-" and not dry_run:
        raise click.UsageError(
            "--report - and the clean book would both go to standard output; "
            "write the book elsewhere with -o FILE, or pass --dry-run"
        )
    ledger = [pipeline["ledger"]] if pipeline["ledger"] else []
    # outputs never name an input, even one reached through a folder, a glob or a link
    outputs = [] if dry_run else [("-o", output)]
    key = [pipeline["backup_key_file"]] if pipeline["backup_key_file"] else []
    check_outputs([*outputs, *([("--report", report)] if report else [])],
                  [*books, *pipeline["evidence"], *ledger, *key])
    # the report and the clean book look at no other field: readers may skip them (faster)
    sanitizer = sanitizer_for(pipeline, only_kept_fields=True, books=books)
    with Console(sys.stderr, books, quiet=quiet, verbose=verbose, style=click.style) as console:
        # --verbose needs every Decision; without it most contacts are only counted and
        # rendered into the report (the quick path, in worker processes for a large book)
        run = sanitizer.run(
            books,
            jobs=jobs_for(jobs),
            output=None if dry_run else _target(output, console),
            format=fmt,
            report=None if report is None else _target(report, console),
            on_decision=console.show if verbose else None,
            on_progress=console.decided,
        )
    if as_json:
        # the JSON summary must not corrupt a clean book written to standard output
        echo_json({"command": "sanitize", "dry_run": dry_run, "inputs": run.summary.inputs,
                   "output": None if dry_run else shown_path(output),
                   "report": None if report is None else shown_path(report),
                   "summary": run.summary.as_dict()},
                  err=(output == "-" and not dry_run) or report == "-")
    elif not quiet:
        click.echo(summary_text(run.summary, dry_run=dry_run), err=True)


def _target(name: str, console: Any) -> str | BinaryIO:
    """An output named on the command line: a path, or for "-" standard output, which the
    progress bar (on standard error: the same terminal, maybe) leaves before it is written."""
    if name != "-":
        return name
    return cast(BinaryIO, _AfterBar(sys.stdout.buffer, console))


class _AfterBar(io.RawIOBase):
    """Standard output that erases the progress bar before its first write."""

    def __init__(self, stream: BinaryIO, console: Any) -> None:
        super().__init__()
        self._stream = stream
        self._console = console

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._console.progress.close()
        return self._stream.write(data)

    def flush(self) -> None:
        self._stream.flush()


@main.command()
@click.argument("number")
@click.option("--text", "-t", metavar="TEXT", help='Prefilled message, e.g. "Hallo!".')
@click.option("--region", "-r", metavar="CC", callback=region_callback,
              help="Default region for a national NUMBER, e.g. DE.")
@click.option("--qr", metavar="FILE", type=click.Path(dir_okay=False),
              help="Also write the link as a QR code: invite.svg or invite.png.")
def invite(number: str, text: str | None, region: str | None, qr: str | None) -> None:
    """Print a click-to-chat link (and QR code) that lets customers write first.

    Example: contactguard invite "+49 30 1234567" --text "Hallo!" --qr invite.svg
    """
    from ..invite import QR_KINDS, invite_link, write_qr

    if qr is not None and Path(qr).suffix.lower() not in QR_KINDS:
        raise click.BadParameter(f"{qr}: name the file .svg or .png", param_hint="--qr")
    if qr is not None:
        from ..outputs import check_outputs

        check_outputs([("--qr", qr)], [])  # a FIFO or device would be replaced by the rename
    link = invite_link(number, text, region=region)
    if qr is not None:
        write_qr(link, qr)
        click.echo(f"wrote QR code to {qr}", err=True)
    click.echo(link)


@main.command()
@click.argument("books", nargs=-1, metavar="BOOK...")
@pipeline_options
@click.option("--app-contacts", "app_contacts", multiple=True, metavar="SRC",
              help="Also audit the contacts the WhatsApp Business app holds on the phone: "
                   "smb_app_state_sync webhooks, wa.db (.crypt15), ContactsV2.sqlite or an "
                   "iPhone backup folder (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Findings and summary as JSON on stdout.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "nagios"]), default=None,
              help="text (the default), json (as --json) or nagios: one monitoring-plugin line "
                   "with performance data, exit 0 OK, 2 CRITICAL (not clean), 3 UNKNOWN.")
@click.option("--quiet", "-q", is_flag=True, help="No summary and no progress bar.")
@click.pass_context
def check(
    ctx: click.Context,
    /,
    books: tuple[str, ...],
    app_contacts: tuple[str, ...],
    as_json: bool,
    fmt: str | None,
    quiet: bool,
    **pipeline: Any,
) -> None:
    """Audit a phone's current book: exit 0 if already clean, 3 and the offenders if not.

    Clean means sanitize would keep every contact, strip no number and drop no field.
    Example: contactguard check phone.vcf --ledger evidence.db --region DE
    """
    if not books and not app_contacts:
        raise click.UsageError("nothing to check: pass a BOOK, or --app-contacts SRC")
    pipeline["app_contacts"] = app_contacts
    if fmt == "nagios":
        _check_nagios(ctx, books, pipeline)
        return
    as_json = as_json or fmt == "json"
    findings, summary = _check(books, pipeline, quiet=quiet or as_json)
    if as_json:
        echo_json({"command": "check", "clean": not findings, "inputs": summary.inputs,
                    "offending": len(findings), "findings": [f.as_dict() for f in findings],
                    "summary": summary.as_dict()})
    else:
        from ..progress import color_wanted

        color = color_wanted(sys.stdout)
        for found in findings:
            entry = found.as_dict()
            line = terminal_safe(f"{entry['source']}  {entry['name'] or '(no name)'}  "
                                 + "; ".join(found.problems))
            click.echo(click.style(line, fg="red") if color else line, color=color)
        if not quiet:
            verdict = (f"contactguard: {len(findings):,} of {count(summary.contacts_in, 'contact')}"
                       f" {'needs' if len(findings) == 1 else 'need'} attention" if findings else
                       f"contactguard: clean ({count(summary.contacts_in, 'contact')}, all wrote "
                       "first)")
            click.echo(verdict, err=True)
    if findings:
        ctx.exit(3)


def _check(books: tuple[str, ...], pipeline: dict[str, Any], *, quiet: bool) -> Any:
    """(findings, summary) of a check run: the books and the app's contacts, as one run."""
    from ..check import finding
    from ..progress import Console

    pipeline = dict(pipeline)
    app_contacts = pipeline.pop("app_contacts", ())
    # the app's contacts are not known before they are read: a ledger is then read whole
    sanitizer = sanitizer_for(pipeline, books=() if app_contacts else books)
    policy = sanitizer.policy
    inputs = [*books, *_app_books(app_contacts, pipeline["backup_key_file"])]
    findings: list[Any] = []

    def decided(decision: Any) -> None:
        console.decision(decision)
        found = finding(decision, policy)
        if found is not None:
            findings.append(found)  # only offenders are held: a clean book costs nothing

    with Console(sys.stderr, books, quiet=quiet) as console:
        run = sanitizer.run(inputs, on_decision=decided)
    return findings, run.summary


def _check_nagios(ctx: click.Context, books: tuple[str, ...], pipeline: dict[str, Any]) -> None:
    """``check --format nagios``: the monitoring-plugin line (Nagios plugin API: one line of
    status text, ``|``, performance data) and its exit codes. It names no contact and shows no
    number: monitoring systems keep plugin output for years."""
    try:
        findings, summary = _check(books, pipeline, quiet=True)
    except (ContactguardError, click.ClickException) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"CONTACTGUARD UNKNOWN - {terminal_safe(shown_path(message))}")
        ctx.exit(3)
    stripped = sum(1 for f in findings if f.decision.kept and any(
        not n.kept for n in f.decision.numbers))
    perfdata = (f"offending={len(findings)};;0;0;{summary.contacts_in} "
                f"contacts={summary.contacts_in};;;0 removed={summary.contacts_removed};;;0 "
                f"stripped={stripped};;;0")
    if findings:
        click.echo(f"CONTACTGUARD CRITICAL - {len(findings):,} of "
                   f"{count(summary.contacts_in, 'contact')} "
                   f"{'needs' if len(findings) == 1 else 'need'} attention | {perfdata}")
        ctx.exit(2)
    click.echo(f"CONTACTGUARD OK - clean, {count(summary.contacts_in, 'contact')} | {perfdata}")


def _app_books(sources: tuple[str, ...], key_file: str | None) -> list[Any]:
    """The contacts the phone's WhatsApp app holds (``--app-contacts``), one book a source."""
    from ..evidence.appcontacts import read_app_contacts
    from ..pipeline import ParsedBook

    return [
        ParsedBook(source, list(read_app_contacts(
            source, key_file=key_file,
            warn=lambda text: click.echo(terminal_safe(f"warning: {text}"), err=True))))
        for source in sources
    ]
