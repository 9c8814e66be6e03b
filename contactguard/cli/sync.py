"""``contactguard sync``: one phone's config, a config with several targets, or a folder."""

from __future__ import annotations

from pathlib import Path

import click

from .._text import terminal_lines, terminal_safe
from . import main
from .common import ConfigHint


@main.command(cls=ConfigHint)
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
    from ..guards import GuardRefused
    from ..summary import summary_text
    from ..sync import load_config, run_sync

    if (config is None) == (config_dir is None):
        raise click.UsageError("give --config FILE or --config-dir DIR")
    if _fleet_sync(config, config_dir, jobs=jobs, dry_run=dry_run, quiet=quiet, force=force,
                   history=history):
        return
    assert config is not None
    loaded = load_config(config)
    if history:
        from ..journal import history as journal_history

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
    from ..syncconfig import SyncConfig, load_configs

    configs: list[SyncConfig] = []
    if config_dir is None:
        assert config is not None
        configs = load_configs(config)
        if len(configs) == 1 and configs[0].name is None:
            return False  # one phone: exactly the one-target run (fleet.py is not imported)
    from ..fleet import FLEET_LOCK, TargetResult, load_folder, run_fleet

    failures: list[TargetResult] = []
    if config_dir is not None:
        configs, failures = load_folder(config_dir)
        lock: Path | None = Path(config_dir) / FLEET_LOCK
    else:
        lock = configs[0].file.with_suffix(".lock")
    if history:
        from ..journal import history as journal_history

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
        from ..errors import SyncError

        names = ", ".join(r.label for r in outcome.failed)
        raise SyncError(f"{len(outcome.failed)} of {len(outcome.results)} targets failed: {names}")
    return True


