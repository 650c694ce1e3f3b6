"""``analyzer ingest`` and ``analyzer start``: read logs into the store."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from analyzer.api import hookimpl
from analyzer.commands.options import db_option, open_store
from analyzer.store import database as store

if TYPE_CHECKING:
    from analyzer.ingest.ingester import IngestStats

PROGRESS_MIN_BYTES = 64 * 1024 * 1024


def run_ingest(db, paths: tuple[Path, ...] = (), *, env=None, quiet: bool = False) -> IngestStats:
    from analyzer.ingest.ingester import Ingester

    """One ingest pass with a progress bar on a terminal when there is much to read."""
    ingester = Ingester(db, env=env)
    discovery = ingester.discover(paths or None)
    todo = _bytes_to_read(db, discovery.found)
    if not quiet and sys.stderr.isatty() and todo >= PROGRESS_MIN_BYTES:
        with click.progressbar(length=todo, label="Reading logs", file=sys.stderr, show_eta=True) as bar:
            ingester.progress = bar.update
            return ingester.run(discovery=discovery, paths=paths or None)
    return ingester.run(discovery=discovery, paths=paths or None)


def _bytes_to_read(db, found) -> int:
    offsets = dict(db.execute("select path, offset from sources").fetchall())
    total = 0
    for item in found:
        try:
            size = item.path.stat().st_size
        except OSError:
            continue
        total += max(0, size - offsets.get(str(item.path), 0))
    return total


def report_stats(stats: IngestStats, *, verbose: bool = False) -> None:
    from analyzer.registry.manager import broken_plugins

    skipped: dict[str, str] = {}
    for broken in broken_plugins:
        skipped.setdefault(broken.name, broken.error)
    for name, error in skipped.items():
        click.echo(f"warning: plugin {name} was skipped: {error} (see `analyzer plugins`)", err=True)
    for path in stats.missing_paths:
        click.echo(f"warning: {path} does not exist", err=True)
    for path, why in stats.unrecognised:
        click.echo(f"warning: {path}: not a log format any parser recognises ({why})", err=True)
    for path, why in stats.failed_files:
        click.echo(f"warning: {path}: could not be read: {why}", err=True)
    if verbose:
        for path in stats.reread_files:
            click.echo(f"note: {path} was rewritten or truncated; read again from the start", err=True)
        for old, new in stats.moved_files:
            click.echo(f"note: {old} moved to {new}", err=True)
    click.echo(stats.summary(), err=True)


@click.command(name="ingest")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="Also name files read again or moved.")
@db_option
def ingest(paths, verbose, db_path):
    """Read new log lines into the store (all agents' default folders, or PATHS).

    Safe to run any time and as often as you like: only what is new is read,
    a torn last line waits for the next run, and rows already stored stay
    even when the agent rewrote or deleted its files. Bad lines are skipped
    and listed by `analyzer db errors`.
    """
    db = open_store(db_path, create=True)
    try:
        stats = run_ingest(db, tuple(paths))
    except store.StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    report_stats(stats, verbose=verbose)


@click.command(name="start")
@click.option("--sample", is_flag=True, help="Use the bundled sample logs even if you have your own.")
@db_option
def start(sample, db_path):
    """Ingest your agents' logs and print the daily report.

    With no agent logs on this machine (or with --sample), it reads the
    bundled sample logs into a separate sample store instead, so you can see
    what the tool does; your own store is left alone.
    """
    from analyzer.ingest.discovery import discover
    from analyzer.registry.parsers import agent_environment, get_parsers
    from analyzer.sample import HOME as SAMPLE_HOME

    env = None
    if sample or not discover(list(get_parsers().values()), os.environ).found:
        if not SAMPLE_HOME.exists():
            raise click.ClickException(
                f"no agent logs found, and the bundled sample logs are missing ({SAMPLE_HOME}): "
                "reinstall coding-plan-analyzer, or point `analyzer ingest` at your logs"
            )
        click.echo(
            f"No agent logs found here{' (or --sample given)' if sample else ''}; "
            f"using the bundled sample logs in {SAMPLE_HOME}.",
            err=True,
        )
        db_path = (db_path or store.default_db_path()).with_name("sample.db")
        env = {**os.environ, "HOME": str(SAMPLE_HOME)}
        for var in agent_environment():  # nothing may point the parsers back at your own logs
            env.pop(var, None)
    db = open_store(db_path, create=True)
    try:
        stats = run_ingest(db, env=env)
    except store.StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    report_stats(stats)
    click.echo(f"Store: {db_path or store.default_db_path()}", err=True)
    from analyzer.commands.report import print_daily
    from analyzer.contract.timeutil import resolve_tz
    from analyzer.reports.usage import Filters

    print_daily(db, Filters(tz=resolve_tz(None)), "table")


@hookimpl
def register_commands(cli):
    "The commands of this module."
    cli.add_command(ingest)
    cli.add_command(start)
