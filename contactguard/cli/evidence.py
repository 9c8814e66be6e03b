"""``contactguard evidence``: import sources into a ledger, show, opt-out, forget, inspect."""

from __future__ import annotations

from typing import Any

import click

from .._text import count, terminal_lines, terminal_safe
from . import main
from .common import backup_key_option, date_orders


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
@backup_key_option
def evidence_import(sources: tuple[str, ...], ledger: str, me: str | None,
                    date_order: tuple[str, ...], backup_key_file: str | None) -> None:
    """Merge evidence sources (files, folders, globs) into the ledger.

    Importing the same source twice changes nothing; an import is one transaction.
    """
    from ..evidence import SourceContext
    from ..evidence.store import Ledger
    from ..outputs import check_outputs

    # The ledger is written: it must not be one of the files this import reads.
    check_outputs([("--ledger", ledger)], sources)
    warnings: list[str] = []
    unknown: dict[str, int] = {}

    def not_understood(what: str, count: int) -> None:
        unknown[what] = unknown.get(what, 0) + count

    with Ledger(ledger) as db:
        context = SourceContext(warn=warnings.append, not_understood=not_understood, me=me,
                                date_order=date_orders(date_order),
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

    from ..evidence.store import Ledger
    from ..phones import mask

    with Ledger(ledger, readonly=True) as db:
        items = list(db.entries(number))

    def shown_key(kind: str, value: str) -> str:
        if unmasked:
            return value
        from ..evidence.identity import Key

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
    from ..evidence.store import Ledger

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
    from ..evidence.store import Ledger

    names = _names_in_books(key, books, region) if books else []
    with Ledger(ledger, create=False, timeout=max(wait, 0.1)) as db:
        results = [db.forget(item, wait=wait) for item in [key, *names]]
        name_only = db.name_only_count()
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
    from ..books import read_book
    from ..evidence.identity import key_from_text, number_class
    from ..policy import normalize_numbers

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


@evidence.command("inspect")
@click.argument("sources", nargs=-1, required=True, metavar="SRC...")
@click.option("--date-order", "date_order", multiple=True, metavar="ORDER|FILE=ORDER",
              help="Chat exports: day/month order for files whose dates cannot tell; "
                   "FILE=ORDER for one file (repeatable). Detection first.")
@backup_key_option
def evidence_inspect(sources: tuple[str, ...], date_order: tuple[str, ...],
                     backup_key_file: str | None) -> None:
    """Show what evidence sources yield, without a book or --me.

    For a chat export: platform, date order, clock, senders with message counts, who wrote the
    first message, group or not, date range and problems. For ledgers and webhook archives:
    records, identities, who wrote first, opt-outs and the date range.
    """
    from ..evidence.inspect import inspect_sources

    failed = []
    for block, error in inspect_sources(sources, date_order=date_orders(date_order),
                                        backup_key_file=backup_key_file):
        click.echo(terminal_lines(block))
        if error is not None:
            failed.append(error)
    if len(failed) == 1:
        raise failed[0]
    if failed:
        raise click.ClickException(f"{len(failed)} of the sources could not be read (see above)")


