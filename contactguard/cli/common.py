"""What the commands share: the options of every command that runs the policy, and the one
builder of its Sanitizer (through ``contactguard.options``)."""

from __future__ import annotations

import os
from typing import Any

import click

from .._text import terminal_safe
from ..errors import ContactguardError

__all__ = [
    "ConfigHint",
    "backup_key_option",
    "date_orders",
    "echo_json",
    "jobs_for",
    "keep_fields_callback",
    "pipeline_options",
    "region_callback",
    "sanitizer_for",
]


class ConfigHint(click.Command):
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



def region_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--region: a region phonenumbers knows (an unknown one makes every national number
    invalid, and so removes everyone)."""
    from ..guards import check_region

    try:
        return check_region(value)
    except ContactguardError as exc:
        raise click.BadParameter(exc.message.removeprefix("--region: ")) from exc


def keep_fields_callback(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """--keep-field: vCard property names the clean book can carry."""
    from ..guards import check_keep_fields

    try:
        return tuple(sorted(check_keep_fields(value)))
    except ContactguardError as exc:
        raise click.BadParameter(exc.message.removeprefix("--keep-field: ")) from exc


backup_key_option = click.option(
    "--backup-key-file", metavar="FILE",
    help="Encrypted phone backups (.crypt15, .crypt14): a file holding the 64-digit key or the "
         "app's key file. Else the CONTACTGUARD_BACKUP_KEY environment variable is read.")


def pipeline_options(command: Any) -> Any:
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
        backup_key_option,
        click.option("--region", "-r", metavar="CC", callback=region_callback,
                     help="Default region for national numbers, e.g. DE."),
        click.option("--keep-field", "keep_fields", multiple=True, metavar="F",
                     callback=keep_fields_callback,
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



def sanitizer_for(pipeline: dict[str, Any], *, only_kept_fields: bool = False,
                  books: tuple[str, ...] = ()) -> Any:
    """Load the evidence (warnings to stderr) and build the Sanitizer that the shared pipeline
    options (``pipeline_options``, as click passes them) describe. With ``books`` (files, not
    standard input) a contactguard ledger is queried for the books' numbers and names instead
    of read whole."""
    from ..options import EvidenceOptions, RunOptions, sanitizer

    evidence, ledger = pipeline["evidence"], pipeline["ledger"]
    if not evidence and not ledger:
        raise click.UsageError(
            "no evidence given: pass --evidence SRC or --ledger DB (an empty ledger is fine); "
            "without evidence every contact would be removed"
        )
    from pathlib import Path

    if ledger is not None and not Path(ledger).is_file():
        raise click.BadParameter(f"{ledger}: no such ledger", param_hint="--ledger")
    run = RunOptions(
        region=pipeline["region"], keep_fields=pipeline["keep_fields"],
        max_age=pipeline["max_age"], match_ar_without_9=pipeline["match_ar_without_9"],
        input_format=pipeline["input_format"], phone_columns=pipeline["phone_columns"],
        name_columns=pipeline["name_columns"])
    loaded = EvidenceOptions(
        evidence, ledger, me=pipeline["me"], date_order=date_orders(pipeline["date_order"]),
        backup_key_file=pipeline["backup_key_file"]).load(books, run)
    for warning in loaded.warnings:
        click.echo(terminal_safe(f"warning: {warning}"), err=True)
    return sanitizer(run, loaded, only_kept_fields=only_kept_fields)


def jobs_for(jobs: int) -> int:
    """--jobs: 0 is the CPUs this process may use, at most 4 (more gain little: the parent
    process decides the rest and writes the report)."""
    if jobs:
        return jobs
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return min(usable, 4)


def date_orders(values: tuple[str, ...]) -> str | dict[str, str] | None:
    """--date-order: one ORDER for every file that cannot tell, and/or FILE=ORDER per file
    (folders of exports from several phones mix orders). Returned as the SourceContext takes
    it: a dict with "" for the default, a plain order, or None."""
    from ..evidence.chats import DATE_ORDERS

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



def echo_json(payload: dict[str, Any], *, err: bool = False) -> None:
    import json

    click.echo(json.dumps(payload, ensure_ascii=False, indent=2), err=err)


