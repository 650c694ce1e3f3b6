"""``analyzer sync``: this machine's rows into a synced folder, every other machine's out of it."""

from __future__ import annotations

from pathlib import Path

import click

from analyzer.api import hookimpl
from analyzer.commands.options import db_option, format_options, open_store
from analyzer.commands.output import emit_json, tokens
from analyzer.commands.report import clean_errors


@click.command(name="sync")
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder you already sync between machines (Syncthing, Dropbox, a share); remembered for next time"
    " (also ANALYZER_SYNC_FOLDER).",
)
@click.option("--forget", is_flag=True, help="Forget the remembered folder and stop.")
@format_options(csv=False)
@db_option
@clean_errors
def sync_cmd(folder, forget, fmt, db_path):
    """Share usage between machines through a folder you already sync.

    \b
    Writes a snapshot of the rows this machine read (analyzer-<machine id>.sqlite,
    written aside and renamed, so it is never seen half-written) into the
    folder, and merges every other machine's snapshot found there into this
    store: keyed, nothing deleted, the best copy of each call kept, each row
    keeping the machine it was read on. A snapshot still arriving, damaged, or
    from a newer analyzer is skipped and said so; it is read again next time.
    The store itself stays on this machine. Prompt text never leaves it.
    """
    from analyzer.sync import SyncError, remember, sync

    db = open_store(db_path)
    if forget:
        remember(db, None)
        click.echo("The sync folder is forgotten.")
        return
    try:
        result = sync(db, folder)
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "json":
        emit_json(
            {
                "folder": str(result.folder),
                "written": str(result.written) if result.written else None,
                "written_counts": result.written_counts,
                "merged": [
                    {
                        "machine_id": m.machine_id,
                        "name": m.name,
                        "snapshot": m.path.name,
                        "created_at": m.created_at,
                        "already_merged": m.already,
                        "read": m.read,
                        "new": m.new,
                        "refused_rows": m.refused,
                    }
                    for m in result.merged
                ],
                "skipped": [{"snapshot": p.name, "reason": why} for p, why in result.skipped],
                "refused": [{"snapshot": p.name, "reason": why} for p, why in result.refused],
            }
        )
    else:
        if result.written_counts is None:
            click.echo(f"This machine's snapshot is up to date: {result.written}")
        else:
            c = result.written_counts
            click.echo(
                f"Wrote this machine's snapshot ({tokens(c['requests'])} requests, {tokens(c['prompts'])} prompts,"
                f" {tokens(c['limit_hits'])} limit hits, {tokens(c['quota_readings'])} readings): {result.written}"
            )
        for m in result.merged:
            who = f"{m.name or '?'} ({m.machine_id[:8]})"
            if m.already:
                click.echo(f"{who}: snapshot of {m.created_at[:16]} already merged")
            else:
                refused = sum(m.refused.values())
                click.echo(
                    f"Merged {who}, snapshot of {m.created_at[:16]}: {tokens(m.new['requests'])} new requests,"
                    f" {tokens(m.new['prompts'])} new prompts (of {tokens(m.read['requests'])} and"
                    f" {tokens(m.read['prompts'])})"
                    + (f"; {refused} rows left out: values no record may hold" if refused else "")
                )
        if not result.merged and not result.skipped and not result.refused:
            click.echo("No other machine's snapshot in the folder yet.")
    for path, why in result.skipped:
        click.echo(f"Warning: skipped {path.name}: {why}; it is read again next time.", err=True)
    for path, why in result.refused:
        click.echo(f"Warning: refused {path.name}: {why}.", err=True)


@hookimpl
def register_commands(cli):
    "analyzer sync."
    cli.add_command(sync_cmd)
