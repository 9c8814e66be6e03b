"""The command line: thin click commands over the library; no business logic here.

Heavy modules (vobject, phonenumbers, httpx) are imported inside the commands so that
``contactguard --help`` starts fast.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ._text import count, shown_path, terminal_lines, terminal_safe
from .errors import ContactguardError


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


class _ConfigHint(click.Command):
    """A command whose config is an option: ``sync sync.toml`` is told to write ``--config``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click consumes the list it parses
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            # options and their values are parsed by now: what click names is left over
            stray = [a for a in given if a in exc.message and not a.startswith("-")]
            if "unexpected extra argument" not in exc.message or not stray:
                raise
            raise click.UsageError(
                f"unexpected argument {stray[0]!r}: the config is an option, "
                f"contactguard {self.name} --config {stray[0]}", ctx) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="contactguard")
def main() -> None:
    """Keep only people who wrote first in a WhatsApp Business phone's address book.

    Reads address books (vCard, CSV), evidence of who messaged first, and writes a clean book
    plus an audit report that explains every decision.
    """


def _region(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--region: a region phonenumbers knows (an unknown one makes every national number
    invalid, and so removes everyone)."""
    from .guards import check_region

    try:
        return check_region(value)
    except ContactguardError as exc:
        raise click.BadParameter(exc.message.removeprefix("--region: ")) from exc


def _keep_fields(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """--keep-field: vCard property names the clean book can carry."""
    from .guards import check_keep_fields

    try:
        return tuple(sorted(check_keep_fields(value)))
    except ContactguardError as exc:
        raise click.BadParameter(exc.message.removeprefix("--keep-field: ")) from exc


_backup_key_option = click.option(
    "--backup-key-file", metavar="FILE",
    help="Encrypted phone backups (.crypt15, .crypt14): a file holding the 64-digit key or the "
         "app's key file. Else the CONTACTGUARD_BACKUP_KEY environment variable is read.")


def _pipeline_options(command: Any) -> Any:
    """The options every command that runs the policy shares (sanitize, check)."""
    options = [
        click.option("--evidence", "-e", "evidence", multiple=True, metavar="SRC",
                     help="Evidence of who wrote first: ledger, chat export, webhook archive, "
                          "folder, glob or https:// URL (repeatable)."),
        click.option("--ledger", metavar="DB", help="Also use this SQLite evidence ledger."),
        click.option("--me", metavar="NAME",
                     help="Chat exports: the sender name of the business's own messages."),
        click.option("--date-order", "date_order", multiple=True, metavar="ORDER|FILE=ORDER",
                     help="Chat exports: day/month order (DMY, MDY, YMD) for files whose dates "
                          "cannot tell; FILE=ORDER for one file (repeatable). Detection first."),
        _backup_key_option,
        click.option("--region", "-r", metavar="CC", callback=_region,
                     help="Default region for national numbers, e.g. DE."),
        click.option("--keep-field", "keep_fields", multiple=True, metavar="F",
                     callback=_keep_fields,
                     help="Keep this field besides FN, N, TEL, UID (repeatable): ORG, EMAIL, ..."),
        click.option("--max-age", metavar="AGE",
                     help="Remove people whose last inbound message is older: 1y, 6m, 365d, "
                          "52w or 12h (a year is 365 days, a month 30)."),
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
    date_order: tuple[str, ...],
    backup_key_file: str | None,
    region: str | None,
    keep_fields: tuple[str, ...],
    max_age: str | None,
    match_ar_without_9: bool,
    input_format: str | None,
    phone_columns: tuple[str, ...],
    name_columns: tuple[str, ...],
    only_kept_fields: bool = False,
    books: tuple[str, ...] = (),
) -> Any:
    """Load the evidence (warnings to stderr) and build the Sanitizer that the shared pipeline
    options (``_pipeline_options``) describe. With ``books`` (files, not standard input) a
    contactguard ledger is queried for the books' numbers and names instead of read whole."""
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
    targeted = (ledger is not None and bool(books) and "-" not in books and _is_ledger(ledger)
                and _worth_asking(ledger, books))
    whole = [ledger] if ledger is not None and not targeted else []
    loaded = load_evidence([*evidence, *whole], me=me, date_order=_date_orders(date_order),
                           backup_key_file=backup_key_file)
    for warning in loaded.warnings:
        click.echo(terminal_safe(f"warning: {warning}"), err=True)
    policy = Policy(region=region, keep_fields=frozenset(keep_fields),
                    max_age=parse_max_age(max_age), match_ar_without_9=match_ar_without_9)
    options = ReadOptions(input_format, tuple(phone_columns), tuple(name_columns),
                          fields=policy.keep_fields if only_kept_fields else None)
    if targeted and ledger is not None:
        from .evidence.store import Ledger

        numbers, names = _book_keys(books, ReadOptions(input_format, tuple(phone_columns),
                                                       tuple(name_columns)), region)
        with Ledger(ledger, readonly=True) as db:
            loaded.update(db.records_for(numbers, names))
    return Sanitizer(loaded, policy, options)


def _is_ledger(location: str) -> bool:
    """A contactguard ledger (not a phone's database, which --ledger reads as evidence)."""
    from .evidence import _head, kind_of

    kind = kind_of(location, _head(location))
    return kind is not None and kind.name == "sqlite-ledger"


def _worth_asking(ledger: str, books: tuple[str, ...]) -> bool:
    """Whether asking the ledger about each of the books' numbers beats reading it whole: a
    look-up costs about what reading a few entries costs, and a card or row takes at least
    about 50 bytes, so the books hold at most size/50 contacts."""
    from .evidence.store import Ledger

    try:
        size = sum(Path(book).stat().st_size for book in books)
    except OSError:
        return False  # reading the book says what is wrong
    with Ledger(ledger, readonly=True) as db:
        entries = db.statement_count()
    return entries * 50 > 4 * size


def _book_keys(books: tuple[str, ...], options: Any,
               region: str | None) -> tuple[set[str], set[str]]:
    """The E.164 numbers and display names of the books: what a ledger is asked about."""
    from .books import read_book
    from .phones import normalize

    numbers: set[str] = set()
    names: set[str] = set()
    for book in books:
        for contact in read_book(book, options):
            if contact.display_name:
                names.add(contact.display_name)
            for phone in contact.phones:
                e164 = normalize(phone.value, region)
                if e164 is not None:
                    numbers.add(e164)
    return numbers, names


@main.command()
@click.argument("books", nargs=-1, required=True, metavar="BOOK...")
@_pipeline_options
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
    from ._atomic import atomic_write
    from .books import write_book
    from .outputs import check_outputs
    from .pipeline import Rendered
    from .progress import Console
    from .report import summary_text
    from .report_html import writer_for

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
    sanitizer = _sanitizer(**pipeline, only_kept_fields=True, books=books)
    policy = sanitizer.policy
    writer = writer_for(report) if report else None
    try:
        # workers (and one process, with --jobs 1) render JSON entries of the common decision,
        # which both report writers take; --verbose needs every Decision here
        quick = not verbose
        with Console(sys.stderr, books, quiet=quiet, verbose=verbose, style=click.style) as console:
            items = (
                sanitizer.stream(books, jobs=_jobs(jobs), entries=writer is not None)
                if quick else sanitizer.decisions(books)
            )
            for item in items:
                if isinstance(item, Rendered):
                    console.decided(item.count, item.source, item.line)
                    if writer is not None:
                        writer.add_rendered(item.data, item.count)
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
        if writer is not None and report == "-":
            writer.finish(sys.stdout.buffer, sanitizer.summary, policy)
            sys.stdout.flush()
        elif writer is not None and report:
            with atomic_write(Path(report)) as stream:
                writer.finish(stream, sanitizer.summary, policy)
    finally:
        if writer is not None:
            writer.close()
    if as_json:
        # the JSON summary must not corrupt a clean book written to standard output
        _echo_json({"command": "sanitize", "dry_run": dry_run, "inputs": sanitizer.summary.inputs,
                    "output": None if dry_run else shown_path(output),
                    "report": None if report is None else shown_path(report),
                    "summary": sanitizer.summary.as_dict()},
                   err=(output == "-" and not dry_run) or report == "-")
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
@click.option("--date-order", "date_order", multiple=True, metavar="ORDER|FILE=ORDER",
              help="Chat exports: day/month order (DMY, MDY or YMD) for files whose dates "
                   "cannot tell; FILE=ORDER for one file. Detection comes first.")
@_backup_key_option
def evidence_import(sources: tuple[str, ...], ledger: str, me: str | None,
                    date_order: tuple[str, ...], backup_key_file: str | None) -> None:
    """Merge evidence sources (files, folders, globs) into the ledger.

    Importing the same source twice changes nothing; an import is one transaction.
    """
    from .evidence import SourceContext
    from .evidence.store import Ledger
    from .outputs import check_outputs

    # The ledger is written: it must not be one of the files this import reads.
    check_outputs([("--ledger", ledger)], sources)
    warnings: list[str] = []
    unknown: dict[str, int] = {}

    def not_understood(what: str, count: int) -> None:
        unknown[what] = unknown.get(what, 0) + count

    with Ledger(ledger) as db:
        context = SourceContext(warn=warnings.append, not_understood=not_understood, me=me,
                                date_order=_date_orders(date_order),
                                backup_key_file=backup_key_file)
        stats = db.import_sources(sources, context)
        total = db.statement_count()  # not len(db): resolving a million entries takes a minute
    for warning in warnings:
        click.echo(terminal_safe(f"warning: {warning}"), err=True)
    for what, n in sorted(unknown.items()):
        click.echo(terminal_safe(f"not understood (not evidence): {n} × {what}"), err=True)
    click.echo(
        f"imported {count(stats.records, 'record')}: "
        f"{count(stats.added, 'entry', 'entries')} added, "
        f"{stats.changed:,} changed; the ledger holds "
        f"{count(total, 'entry', 'entries')} (sets of keys seen together)",
        err=True,
    )


def _date_orders(values: tuple[str, ...]) -> str | dict[str, str] | None:
    """--date-order: one ORDER for every file that cannot tell, and/or FILE=ORDER per file
    (folders of exports from several phones mix orders). Returned as the SourceContext takes
    it: a dict with "" for the default, a plain order, or None."""
    from .evidence.chats import DATE_ORDERS

    orders: dict[str, str] = {}
    for value in values:
        name, _, order = value.rpartition("=")
        if order.upper() not in DATE_ORDERS:
            raise click.BadParameter(
                f"{value!r}: expected DMY, MDY or YMD, or FILE=ORDER", param_hint="--date-order"
            )
        orders[name] = order.upper()
    if not orders:
        return None
    if list(orders) == [""]:
        return orders[""]
    return orders


@evidence.command("show")
@click.option("--ledger", "ledger", required=True, metavar="DB",
              help="The SQLite evidence ledger.")
@click.option("--number", "-n", metavar="KEY",
              help="Show only this person: a number in any spelling (and its variants), a user "
                   "id, a username or a name.")
@click.option("--unmasked", is_flag=True, help="Show numbers and ids in full.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def evidence_show(ledger: str, number: str | None, unmasked: bool, as_json: bool) -> None:
    """List the identities the ledger holds, their keys and which source said so."""
    import json

    from .evidence.store import Ledger
    from .phones import mask

    with Ledger(ledger, readonly=True) as db:
        items = list(db.entries(number))

    def shown_key(kind: str, value: str) -> str:
        if unmasked:
            return value
        from .evidence.identity import Key

        return Key("bsuid" if kind == "user_id" else kind, value).masked()

    def keys(item: Any) -> list[str]:
        return [f"{k.kind}:{k.value if unmasked else k.masked()}" for k in item.keys]

    def source(text: str) -> str:
        """A source as shown: numbers inside it (a chat export named after a number) masked."""
        if unmasked:
            return text
        import re

        return re.sub(r"\+?\d[\d \u00a0\u202f().\-\u2011]{5,}\d",
                      lambda m: mask("+" + re.sub(r"\D", "", m[0])), text)

    if as_json:
        rows = [{"kind": i.kind, "key": shown_key(i.kind, i.key),
                 "user_id": (i.user_id if unmasked else mask(i.user_id)) if i.user_id else None,
                 "keys": keys(i), "initiated": i.entry.initiated,
                 "opted_out": i.entry.opted_out, **{
                     t: (getattr(i.entry, t).isoformat() if getattr(i.entry, t) else None)
                     for t in ("first_inbound_at", "first_outbound_at", "last_inbound_at",
                               "opted_out_at")},
                 "sources": [source(x) for x in i.entry.sources]} for i in items]
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
        others = [k for k in keys(i) if k.split(":", 1)[1] != shown_key(i.kind, i.key)]
        also = f"  also {', '.join(others)}" if others else ""
        number_note = "" if i.kind == "phone" or i.kind == "name" else "  (no number: unmatched)"
        click.echo(terminal_safe(
            f"{shown_key(i.kind, i.key)}  [{i.kind}]{also}{number_note}  {state}  {times}"))
        for text in e.sources:
            click.echo(f"    {terminal_safe(source(text))}")


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
@click.argument("key", metavar="KEY")
@click.option("--ledger", "ledger", required=True, metavar="DB",
              help="The SQLite evidence ledger.")
@click.option("--wait", type=click.FloatRange(min=0), default=10.0, show_default=True,
              metavar="SECONDS", help="How long to wait for other programs using the ledger.")
@click.option("--book", "books", multiple=True, metavar="BOOK",
              help="An address book: the display names of its contacts with this number are "
                   "forgotten too (chat exports of saved contacts are kept under the name).")
@click.option("--region", "-r", metavar="CC", help="With --book: region for national numbers.")
def evidence_forget(key: str, ledger: str, wait: float, books: tuple[str, ...],
                    region: str | None) -> None:
    """Erase a person from the ledger (erasure request): KEY is a number in any spelling, a
    user id, a username or a chat export's display name. The whole identity goes, with every
    key and source; exit 1 if the ledger stays busy or the erasure cannot be verified."""
    from .evidence.store import Ledger

    names = _names_in_books(key, books, region) if books else []
    with Ledger(ledger, create=False, timeout=max(wait, 0.1)) as db:
        results = [db.forget(item, wait=wait) for item in [key, *names]]
        name_only = sum(1 for e in db.entries() if e.kind == "name")
    identities = sum(r.identities for r in results)
    shown = terminal_safe(key if not names else
                          f"{key} (and {count(len(names), 'display name')} from the book)")
    if identities:
        statements = count(sum(r.statements for r in results), "statement")
        click.echo(f"{shown}: {count(identities, 'identity', 'identities')} deleted "
                   f"({statements}); no trace left in the ledger file", err=True)
    else:
        click.echo(f"{shown}: the ledger holds no evidence for this person; no trace left in the "
                   "ledger file", err=True)
    if name_only and not books:
        click.echo(f"note: the ledger also holds {name_only} people known only by a chat "
                   "export's display name; if this person's chat was exported under a saved "
                   "name, forget that name too, or pass --book to find it", err=True)


def _names_in_books(key: str, books: tuple[str, ...], region: str | None) -> list[str]:
    """The display names of the contacts in ``books`` that have the number ``key`` names."""
    from .books import read_book
    from .evidence.identity import key_from_text, number_class
    from .policy import normalize_numbers

    wanted = [k for k in key_from_text(key) if k.kind == "phone"]
    if not wanted:
        return []
    target = number_class(wanted[0].value, ar_without_9=True)
    names: list[str] = []
    for book in books:
        for contact in read_book(book):
            if contact.error is not None or not contact.display_name:
                continue
            for number in normalize_numbers(contact, region):
                if number.e164 and number_class(number.e164, ar_without_9=True) == target:
                    if contact.display_name not in names:
                        names.append(contact.display_name)
                    break
    return names


@main.command(cls=_ConfigHint)
@click.option("--config", "-c", "config", metavar="FILE",
              type=click.Path(dir_okay=False),
              help="The sync config (TOML): source, target, evidence, policy, quarantine.")
@click.option("--config-dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Sync every *.toml in DIR (one phone each, or several [[target]]s) in one run.")
@click.option("--jobs", "-j", default=4, show_default=True, metavar="N",
              type=click.IntRange(1, 32), help="With --config-dir: targets synced at once.")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing anywhere.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print nothing when all went well (for cron); warnings and errors still.")
@click.option("--force", is_flag=True,
              help="Go ahead although a guard would stop the run (no evidence at all, more "
                   "than max_delete_share of the phone's cards deleted, nested collections).")
@click.option("--history", is_flag=True,
              help="Show the run journal: every change past runs made; change nothing.")
def sync(config: str | None, config_dir: str | None, jobs: int, dry_run: bool, quiet: bool,
         force: bool, history: bool) -> None:
    """Make a phone's CardDAV address book hold exactly the allowed contacts.

    Example: contactguard sync --config sync.toml --dry-run
    """
    from .guards import GuardRefused
    from .report import summary_text
    from .sync import load_config, run_sync

    if (config is None) == (config_dir is None):
        raise click.UsageError("give --config FILE or --config-dir DIR")
    if _fleet_sync(config, config_dir, jobs=jobs, dry_run=dry_run, quiet=quiet, force=force,
                   history=history):
        return
    assert config is not None
    loaded = load_config(config)
    if history:
        from .journal import history as journal_history

        assert loaded.journal is not None
        lines = 0
        for line in journal_history(loaded.journal):
            click.echo(terminal_safe(line))
            lines += 1
        if not lines:
            click.echo(f"no run has changed anything yet ({loaded.journal})", err=True)
        return
    for warning in loaded.warnings:  # every run, --quiet or not: someone should fix it
        click.echo(terminal_safe(f"warning: {warning}"), err=True)
    try:
        outcome = run_sync(loaded, dry_run=dry_run, force=force)
    except GuardRefused as exc:
        click.echo(exc.plan, err=True)  # what the run would have done: nothing was
        raise
    for warning in outcome.warnings:
        click.echo(terminal_safe(f"warning: {warning}"), err=True)
    if dry_run:
        click.echo(terminal_lines(outcome.plan.text()), err=True)
    if quiet and not dry_run:
        return  # all went well: a cron job mails nothing
    if not quiet:
        click.echo(summary_text(outcome.plan.summary), err=True)
        for skipped in outcome.skipped:
            click.echo(f"  skipped {skipped['action']} <{skipped['uid']}>: {skipped['reason']}",
                       err=True)
        for note in outcome.plan.notes:
            click.echo(f"  note: {note}", err=True)
    click.echo(outcome.summary_line(), err=True)


def _fleet_sync(config: str | None, config_dir: str | None, *, jobs: int, dry_run: bool,
                quiet: bool, force: bool, history: bool) -> bool:
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
    if history:
        from .journal import history as journal_history

        for loaded in configs:
            click.echo(terminal_safe(f"{loaded.label}:"))
            assert loaded.journal is not None
            for line in journal_history(loaded.journal):
                click.echo(terminal_safe(f"  {line}"))
        return True
    for loaded in configs:  # every run, --quiet or not: someone should fix it
        for warning in loaded.warnings:
            click.echo(terminal_safe(f"warning: {loaded.label}: {warning}"), err=True)
    outcome = run_fleet(configs, jobs=jobs, dry_run=dry_run, force=force, lock=lock,
                        failures=failures)
    for result in outcome.results:
        for warning in result.outcome.warnings if result.outcome is not None else ():
            click.echo(terminal_safe(f"warning: {result.label}: {warning}"), err=True)
        if not quiet or not result.ok:
            click.echo(f"  {result.line()}", err=True)
        if dry_run and result.outcome is not None and not quiet:
            for line in result.outcome.plan.text().splitlines():
                click.echo(terminal_safe(f"    {line}"), err=True)
    if not quiet or dry_run or not outcome.ok:
        click.echo(outcome.summary_line(), err=True)
    if not outcome.ok:
        from .errors import SyncError

        names = ", ".join(r.label for r in outcome.failed)
        raise SyncError(f"{len(outcome.failed)} of {len(outcome.results)} targets failed: {names}")
    return True


@main.command()
@click.argument("number")
@click.option("--text", "-t", metavar="TEXT", help='Prefilled message, e.g. "Hallo!".')
@click.option("--region", "-r", metavar="CC", callback=_region,
              help="Default region for a national NUMBER, e.g. DE.")
@click.option("--qr", metavar="FILE", type=click.Path(dir_okay=False),
              help="Also write the link as a QR code: invite.svg or invite.png.")
def invite(number: str, text: str | None, region: str | None, qr: str | None) -> None:
    """Print a click-to-chat link (and QR code) that lets customers write first.

    Example: contactguard invite "+49 30 1234567" --text "Hallo!" --qr invite.svg
    """
    from .invite import QR_KINDS, invite_link, write_qr

    if qr is not None and Path(qr).suffix.lower() not in QR_KINDS:
        raise click.BadParameter(f"{qr}: name the file .svg or .png", param_hint="--qr")
    if qr is not None:
        from .outputs import check_outputs

        check_outputs([("--qr", qr)], [])  # a FIFO or device would be replaced by the rename
    link = invite_link(number, text, region=region)
    if qr is not None:
        write_qr(link, qr)
        click.echo(f"wrote QR code to {qr}", err=True)
    click.echo(link)


@main.command()
@click.argument("books", nargs=-1, metavar="BOOK...")
@_pipeline_options
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
        _echo_json({"command": "check", "clean": not findings, "inputs": summary.inputs,
                    "offending": len(findings), "findings": [f.as_dict() for f in findings],
                    "summary": summary.as_dict()})
    else:
        from .progress import color_wanted

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
    """(findings, summary) of a check run."""
    from .check import finding
    from .progress import Console

    pipeline = dict(pipeline)
    app_contacts = pipeline.pop("app_contacts", ())
    # the app's contacts are not known before they are read: a ledger is then read whole
    sanitizer = _sanitizer(**pipeline, books=() if app_contacts else books)
    policy = sanitizer.policy
    findings = []
    with Console(sys.stderr, books, quiet=quiet) as console:
        decisions = sanitizer.decisions(books) if books else iter(())
        for decision in itertools.chain(decisions, _app_decisions(
                sanitizer, app_contacts, pipeline["backup_key_file"])):
            console.decision(decision)
            found = finding(decision, policy)
            if found is not None:
                findings.append(found)  # only offenders are held: a clean book costs nothing
    return findings, sanitizer.summary


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


def _app_decisions(sanitizer: Any, sources: tuple[str, ...],
                   key_file: str | None) -> Iterator[Any]:
    """The decisions for the contacts the phone's WhatsApp app holds (``--app-contacts``)."""
    from .evidence.appcontacts import read_app_contacts

    for source in sources:
        contacts = read_app_contacts(
            source, key_file=key_file,
            warn=lambda text: click.echo(terminal_safe(f"warning: {text}"), err=True))
        yield from sanitizer.decide_contacts(source, contacts)


def _echo_json(payload: dict[str, Any], *, err: bool = False) -> None:
    import json

    click.echo(json.dumps(payload, ensure_ascii=False, indent=2), err=err)


@evidence.command("inspect")
@click.argument("sources", nargs=-1, required=True, metavar="SRC...")
@click.option("--date-order", "date_order", multiple=True, metavar="ORDER|FILE=ORDER",
              help="Chat exports: day/month order for files whose dates cannot tell; "
                   "FILE=ORDER for one file (repeatable). Detection first.")
@_backup_key_option
def evidence_inspect(sources: tuple[str, ...], date_order: tuple[str, ...],
                     backup_key_file: str | None) -> None:
    """Show what evidence sources yield, without a book or --me.

    For a chat export: platform, date order, clock, senders with message counts, who wrote the
    first message, group or not, date range and problems. For ledgers and webhook archives:
    records, identities, who wrote first, opt-outs and the date range.
    """
    from .evidence.inspect import inspect_sources

    failed = []
    for block, error in inspect_sources(sources, date_order=_date_orders(date_order),
                                        backup_key_file=backup_key_file):
        click.echo(terminal_lines(block))
        if error is not None:
            failed.append(error)
    if len(failed) == 1:
        raise failed[0]
    if failed:
        raise click.ClickException(f"{len(failed)} of the sources could not be read (see above)")


if __name__ == "__main__":  # pragma: no cover
    main()
