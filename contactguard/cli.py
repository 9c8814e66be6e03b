"""The command line: thin click commands over the library; no business logic here.

Heavy modules (vobject, phonenumbers, httpx) are imported inside the commands so that
``contactguard --help`` starts fast.
"""

from __future__ import annotations

import os
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


def _pipeline_options(command: Any) -> Any:
    """The options every command that runs the policy shares (sanitize, check)."""
    options = [
        click.option("--evidence", "-e", "evidence", multiple=True, metavar="SRC",
                     help="Evidence of who wrote first: ledger, chat export, webhook archive, "
                          "folder, glob or https:// URL (repeatable)."),
        click.option("--ledger", metavar="DB", help="Also use this SQLite evidence ledger."),
        click.option("--me", metavar="NAME",
                     help="Chat exports: the sender name of the business's own messages."),
        click.option("--date-order", type=click.Choice(["DMY", "MDY", "YMD"]),
                     help="Chat exports: day/month order, when it cannot be told from the file."),
        click.option("--region", "-r", metavar="CC",
                     help="Default region for national numbers, e.g. DE."),
        click.option("--keep-field", "keep_fields", multiple=True, metavar="F",
                     help="Keep this field besides FN, N, TEL, UID (repeatable): ORG, EMAIL, ..."),
        click.option("--max-age", metavar="AGE",
                     help="Remove people whose last inbound message is older, e.g. 365d."),
        click.option("--match-ar-without-9", is_flag=True,
                     help="Let Argentine +54 numbers match +549 evidence "
                          "(off: may match a landline)."),
        click.option("--input-format", type=click.Choice(["vcard", "csv"]),
                     help="Do not sniff the book format."),
        click.option("--phone-column", "phone_columns", multiple=True, metavar="NAME",
                     help="CSV column holding numbers (repeatable; overrides detection)."),
        click.option("--name-column", "name_columns", multiple=True, metavar="NAME",
                     help="CSV column holding the display name (repeatable)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _sanitizer(
    *,
    evidence: tuple[str, ...],
    ledger: str | None,
    me: str | None,
    date_order: str | None,
    region: str | None,
    keep_fields: tuple[str, ...],
    max_age: str | None,
    match_ar_without_9: bool,
    input_format: str | None,
    phone_columns: tuple[str, ...],
    name_columns: tuple[str, ...],
    only_kept_fields: bool = False,
) -> Any:
    """Load the evidence (warnings to stderr) and build the Sanitizer that the shared pipeline
    options (``_pipeline_options``) describe."""
    if not evidence and not ledger:
        raise click.UsageError(
            "no evidence given: pass --evidence SRC or --ledger DB (an empty ledger is fine); "
            "without evidence every contact would be removed"
        )
    from .books import ReadOptions
    from .evidence import load_evidence
    from .pipeline import Sanitizer, parse_max_age
    from .policy import Policy

    if ledger is not None and not Path(ledger).is_file():
        raise click.BadParameter(f"{ledger}: no such ledger", param_hint="--ledger")
    loaded = load_evidence([*evidence, *([ledger] if ledger else [])],
                           ar_without_9=match_ar_without_9, me=me, date_order=date_order)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    policy = Policy(region=region, keep_fields=frozenset(keep_fields),
                    max_age=parse_max_age(max_age), match_ar_without_9=match_ar_without_9)
    options = ReadOptions(input_format, tuple(phone_columns), tuple(name_columns),
                          fields=policy.keep_fields if only_kept_fields else None)
    return Sanitizer(loaded, policy, options)


@main.command()
@click.argument("books", nargs=-1, required=True, metavar="BOOK...")
@_pipeline_options
@click.option("--output", "-o", default="-", metavar="OUT", show_default=True,
              help="Where to write the clean book ('-' is standard output).")
@click.option("--format", "-f", "fmt", type=click.Choice(["vcard3", "vcard4", "csv"]),
              default="vcard3", show_default=True, help="Format of the clean book.")
@click.option("--report", metavar="FILE",
              help="Write the audit report here: HTML for a .html name, else JSON.")
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
    from ._atomic import atomic_write, refuse_overwriting_inputs
    from .books import write_book
    from .pipeline import Rendered
    from .progress import Console
    from .report import ReportWriter, summary_text
    from .report_html import writer_for

    for target in (output, report):
        if target and target != "-":
            ledger = [pipeline["ledger"]] if pipeline["ledger"] else []
            refuse_overwriting_inputs(target, [*books, *pipeline["evidence"], *ledger])
    if report and output != "-" and os.path.abspath(report) == os.path.abspath(output):  # noqa: PTH100
        raise click.UsageError("-o and --report name the same file; give each its own")
    # the report and the clean book look at no other field: readers may skip them (issue 5)
    sanitizer = _sanitizer(**pipeline, only_kept_fields=True)
    policy = sanitizer.policy
    writer = writer_for(report) if report else None
    try:
        # workers (and one process, with --jobs 1) render JSON entries of the common decision;
        # --verbose and the HTML report need every Decision here
        json_writer = writer if isinstance(writer, ReportWriter) else None
        quick = not verbose and (writer is None or json_writer is not None)
        with Console(sys.stderr, books, quiet=quiet, verbose=verbose, style=click.style) as console:
            items = (
                sanitizer.stream(books, jobs=_jobs(jobs), entries=json_writer is not None)
                if quick else sanitizer.decisions(books)
            )
            for item in items:
                if isinstance(item, Rendered):
                    console.decided(item.count, item.source, item.line)
                    if json_writer is not None:
                        json_writer.add_rendered(item.data, item.count)
                    continue
                console.decision(item)
                if writer is not None:
                    writer.add(item)
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
    finally:
        if writer is not None:
            writer.close()
    if as_json:
        # the JSON summary must not corrupt a clean book written to standard output
        _echo_json({"command": "sanitize", "dry_run": dry_run, "inputs": sanitizer.summary.inputs,
                    "output": None if dry_run else output, "report": report,
                    "summary": sanitizer.summary.as_dict()},
                   err=output == "-" and not dry_run)
    elif not quiet:
        click.echo(summary_text(sanitizer.summary, dry_run=dry_run), err=True)


def _jobs(jobs: int) -> int:
    """--jobs: 0 is the CPUs this process may use, at most 4 (more gain little: the parent
    process decides the rest and writes the report)."""
    if jobs:
        return jobs
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return min(usable, 4)


@main.group()
def evidence() -> None:
    """Accumulate, inspect and manage evidence of who wrote first."""


def _ledger_option(f: Any) -> Any:
    return click.option("--ledger", "ledger", required=True, metavar="DB",
                        help="The SQLite evidence ledger (created if missing).")(f)


@evidence.command("import")
@click.argument("sources", nargs=-1, required=True, metavar="SRC...")
@_ledger_option
@click.option("--me", metavar="NAME", help="Chat exports: the business's own sender name.")
@click.option("--date-order", type=click.Choice(["DMY", "MDY", "YMD"]),
              help="Chat exports: day/month order when the file cannot tell.")
def evidence_import(sources: tuple[str, ...], ledger: str, me: str | None,
                    date_order: str | None) -> None:
    """Merge evidence sources (files, folders, globs) into the ledger.

    Importing the same source twice changes nothing; an import is one transaction.
    """
    from .evidence import SourceContext, iter_records
    from .evidence.store import Ledger

    warnings: list[str] = []
    with Ledger(ledger) as db:
        context = SourceContext(warn=warnings.append, me=me, date_order=date_order)
        stats = db.import_records(iter_records(sources, context))
        total = len(db)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"imported {stats.records} records: {stats.added} identities added, "
        f"{stats.changed} changed; the ledger holds {total}",
        err=True,
    )


@evidence.command("show")
@_ledger_option
@click.option("--number", "-n", metavar="N", help="Show only this number (and its variants).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def evidence_show(ledger: str, number: str | None, as_json: bool) -> None:
    """List what the ledger holds and which source said so."""
    import json

    from .evidence.store import Ledger

    with Ledger(ledger, create=False) as db:
        items = list(db.entries(number))
    if as_json:
        rows = [{"kind": i.kind, "key": i.key, "user_id": i.user_id, "initiated": i.entry.initiated,
                 "opted_out": i.entry.opted_out, **{
                     t: (getattr(i.entry, t).isoformat() if getattr(i.entry, t) else None)
                     for t in ("first_inbound_at", "first_outbound_at", "last_inbound_at",
                               "opted_out_at")}, "sources": list(i.entry.sources)} for i in items]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not items:
        click.echo("no evidence" + (f" for {number}" if number else ""), err=True)
        return
    for i in items:
        e = i.entry
        state = "opted out" if e.opted_out else ("wrote first" if e.initiated else (
            "business wrote first" if e.first_outbound_at else "no inbound message"))
        times = "  ".join(f"{label} {value:%Y-%m-%d %H:%M}" for label, value in (
            ("in", e.first_inbound_at), ("out", e.first_outbound_at),
            ("last", e.last_inbound_at), ("opt-out", e.opted_out_at)) if value)
        user = f"  user id {i.user_id}" if i.user_id else ""
        click.echo(f"{i.key}  [{i.kind}]{user}  {state}  {times}")
        for source in e.sources:
            click.echo(f"    {source}")


@evidence.command("opt-out")
@click.argument("number")
@_ledger_option
def evidence_opt_out(number: str, ledger: str) -> None:
    """Record that NUMBER asked not to be contacted (removed until they write again)."""
    from .evidence.store import Ledger

    with Ledger(ledger) as db:
        key = db.opt_out(number)
    click.echo(f"{key}: opt-out recorded", err=True)


@evidence.command("forget")
@click.argument("number")
@_ledger_option
def evidence_forget(number: str, ledger: str) -> None:
    """Delete every trace of NUMBER from the ledger (erasure request)."""
    from .evidence.store import Ledger

    with Ledger(ledger, create=False) as db:
        deleted = db.forget(number)
    click.echo(f"{number}: {deleted} identities deleted", err=True)


@main.command()
@click.option("--config", "-c", "config", metavar="FILE",
              type=click.Path(dir_okay=False),
              help="The sync config (TOML): source, target, evidence, policy, quarantine.")
@click.option("--config-dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Sync every *.toml in DIR (one phone each, or several [[target]]s) in one run.")
@click.option("--jobs", "-j", default=4, show_default=True, metavar="N",
              type=click.IntRange(1, 32), help="With --config-dir: targets synced at once.")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing anywhere.")
@click.option("--quiet", "-q", is_flag=True, help="Only the one-line summary on standard error.")
def sync(config: str | None, config_dir: str | None, jobs: int, dry_run: bool,
         quiet: bool) -> None:
    """Make a phone's CardDAV address book hold exactly the allowed contacts.

    Example: contactguard sync --config sync.toml --dry-run
    """
    from .report import summary_text
    from .sync import run_sync

    if (config is None) == (config_dir is None):
        raise click.UsageError("give --config FILE or --config-dir DIR")
    if _fleet_sync(config, config_dir, jobs=jobs, dry_run=dry_run, quiet=quiet):
        return
    assert config is not None
    outcome = run_sync(config, dry_run=dry_run)
    if dry_run:
        click.echo(outcome.plan.text(), err=True)
    if not quiet:
        click.echo(summary_text(outcome.plan.summary), err=True)
        for skipped in outcome.skipped:
            click.echo(f"  skipped {skipped['action']} <{skipped['uid']}>: {skipped['reason']}",
                       err=True)
        for note in outcome.plan.notes:
            click.echo(f"  note: {note}", err=True)
    click.echo(outcome.summary_line(), err=True)


def _fleet_sync(config: str | None, config_dir: str | None, *, jobs: int, dry_run: bool,
                quiet: bool) -> bool:
    """Run a folder of configs, or a config with several [[target]]s; False for one target."""
    from .fleet import FLEET_LOCK, load_folder, run_fleet
    from .syncconfig import load_configs

    if config_dir is not None:
        configs, failures = load_folder(config_dir)
        lock: Path | None = Path(config_dir) / FLEET_LOCK
    else:
        assert config is not None
        configs, failures = load_configs(config), []
        if len(configs) == 1 and configs[0].name is None:
            return False  # one phone: exactly the one-target run
        lock = configs[0].file.with_suffix(".lock")
    outcome = run_fleet(configs, jobs=jobs, dry_run=dry_run, lock=lock, failures=failures)
    for result in outcome.results:
        if not quiet or not result.ok:
            click.echo(f"  {result.line()}", err=True)
        if dry_run and result.outcome is not None and not quiet:
            for line in result.outcome.plan.text().splitlines():
                click.echo(f"    {line}", err=True)
    click.echo(outcome.summary_line(), err=True)
    if not outcome.ok:
        from .errors import SyncError

        names = ", ".join(r.label for r in outcome.failed)
        raise SyncError(f"{len(outcome.failed)} of {len(outcome.results)} targets failed: {names}")
    return True


@main.command()
@click.argument("number")
@click.option("--text", "-t", metavar="TEXT", help='Prefilled message, e.g. "Hallo!".')
@click.option("--region", "-r", metavar="CC", help="Default region for a national NUMBER, e.g. DE.")
@click.option("--qr", metavar="FILE", type=click.Path(dir_okay=False),
              help="Also write the link as a QR code: invite.svg or invite.png.")
def invite(number: str, text: str | None, region: str | None, qr: str | None) -> None:
    """Print a click-to-chat link (and QR code) that lets customers write first.

    Example: contactguard invite "+49 30 1234567" --text "Hallo!" --qr invite.svg
    """
    from .invite import QR_KINDS, invite_link, write_qr

    if qr is not None and Path(qr).suffix.lower() not in QR_KINDS:
        raise click.BadParameter(f"{qr}: name the file .svg or .png", param_hint="--qr")
    link = invite_link(number, text, region=region)
    if qr is not None:
        write_qr(link, qr)
        click.echo(f"wrote QR code to {qr}", err=True)
    click.echo(link)


@main.command()
@click.argument("books", nargs=-1, required=True, metavar="BOOK...")
@_pipeline_options
@click.option("--json", "as_json", is_flag=True, help="Findings and summary as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No summary and no progress bar.")
@click.pass_context
def check(
    ctx: click.Context,
    /,
    books: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    **pipeline: Any,
) -> None:
    """Audit a phone's current book: exit 0 if already clean, 3 and the offenders if not.

    Clean means sanitize would keep every contact, strip no number and drop no field.
    Example: contactguard check phone.vcf --ledger evidence.db --region DE
    """
    from .check import finding
    from .progress import Console, color_wanted

    sanitizer = _sanitizer(**pipeline)
    policy = sanitizer.policy
    findings = []
    with Console(sys.stderr, books, quiet=quiet or as_json) as console:
        for decision in sanitizer.decisions(books):
            console.decision(decision)
            found = finding(decision, policy)
            if found is not None:
                findings.append(found)  # only offenders are held: a clean book costs nothing
    summary = sanitizer.summary
    if as_json:
        _echo_json({"command": "check", "clean": not findings, "inputs": summary.inputs,
                    "offending": len(findings), "findings": [f.as_dict() for f in findings],
                    "summary": summary.as_dict()})
    else:
        from .progress import terminal_safe

        color = color_wanted(sys.stdout)
        for found in findings:
            entry = found.as_dict()
            line = terminal_safe(f"{entry['source']}  {entry['name'] or '(no name)'}  "
                                 + "; ".join(found.problems))
            click.echo(click.style(line, fg="red") if color else line, color=color)
        if not quiet:
            verdict = (f"contactguard: {len(findings)} of {summary.contacts_in} contacts "
                       "need attention" if findings else
                       f"contactguard: clean ({summary.contacts_in} contacts, all wrote first)")
            click.echo(verdict, err=True)
    if findings:
        ctx.exit(3)


def _echo_json(payload: dict[str, Any], *, err: bool = False) -> None:
    import json

    click.echo(json.dumps(payload, ensure_ascii=False, indent=2), err=err)


@evidence.command("inspect")
@click.argument("sources", nargs=-1, required=True, metavar="SRC...")
@click.option("--date-order", type=click.Choice(["DMY", "MDY", "YMD"]),
              help="Chat exports: day/month order when the file cannot tell.")
def evidence_inspect(sources: tuple[str, ...], date_order: str | None) -> None:
    """Show what evidence sources yield, without a book or --me.

    For a chat export: platform, date order, clock, senders with message counts, who wrote the
    first message, group or not, date range and problems. For ledgers and webhook archives:
    records, identities, who wrote first, opt-outs and the date range.
    """
    from .evidence.inspect import inspect_sources

    failed = []
    for block, error in inspect_sources(sources, date_order=date_order):
        click.echo(block)
        if error is not None:
            failed.append(error)
    if len(failed) == 1:
        raise failed[0]
    if failed:
        raise click.ClickException(f"{len(failed)} of the sources could not be read (see above)")


if __name__ == "__main__":  # pragma: no cover
    main()
