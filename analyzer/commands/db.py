"""``analyzer db path|status|errors|backup|check|repair|prompt-text`` and ``analyzer plugins``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from analyzer.api import hookimpl
from analyzer.commands.options import db_option, format_options, open_store
from analyzer.commands.output import emit_json, table, tokens
from analyzer.registry.inventory import get_plugins
from analyzer.store import database as store


def _db_file(db) -> Path:
    return Path(db.conn.execute("pragma database_list").fetchone()[2])


@click.group(name="db")
def db_group():
    """The SQLite store: where it is, what it holds, backups, checks and repair."""


@db_group.command(name="path")
@db_option
def db_path_cmd(db_path):
    """Print the store's path (for `datasette "$(analyzer db path)"`)."""
    click.echo(str(db_path or store.default_db_path()))


@db_group.command(name="status")
@format_options(csv=False)
@db_option
def db_status(fmt, db_path):
    """Counts, sizes, agents, machines and when each last synced, last ingest, unpriced models."""
    db = open_store(db_path)
    path = _db_file(db)
    conn = db.conn
    counts = {
        t: conn.execute(f"select count(*) from {t}").fetchone()[0]
        for t in ("requests", "prompts", "limit_hits", "quota_readings", "sessions", "sources", "ingest_errors")
    }
    agents = [
        {"agent": a, "requests": n, "first": f, "last": last}
        for a, n, f, last in conn.execute("select agent, count(*), min(ts), max(ts) from requests group by agent")
    ]
    from analyzer.reports.usage import ensure_prices

    ensure_prices(db)
    unpriced = [
        {"model": m, "requests": n}
        for m, n in conn.execute(
            "select r.model, count(*) from requests r join model_prices p on p.model = r.model"
            " where p.input is null group by r.model order by 2 desc"
        )
    ]
    here = store.machine_id(db)
    rows_by_machine = dict(conn.execute("select machine_id, count(*) from requests group by machine_id").fetchall())
    machines = [
        {
            "machine_id": m,
            "name": name,
            "this_machine": m == here,
            "requests": rows_by_machine.get(m, 0),
            "first_seen": first,
            "snapshot_at": snap,
            "synced_at": synced,
        }
        for m, name, first, snap, synced in conn.execute(
            "select machine_id, name, first_seen, snapshot_at, synced_at from machines order by first_seen, machine_id"
        )
    ]
    info = {
        "path": str(path),
        "size_bytes": sum(os.path.getsize(p) for p in (path, Path(f"{path}-wal")) if p.exists()),
        "machine_id": store.machine_id(db),
        "keep_prompt_text": store.keep_prompt_text(db),
        "last_ingest": conn.execute("select max(updated_at) from sources").fetchone()[0],
        "counts": counts,
        "agents": agents,
        "machines": machines,
        "sync_folder": store.get_meta(db, "sync_folder"),
        "unpriced_models": unpriced,
        "migrations": [r[0] for r in conn.execute("select name from _sqlite_migrations order by id")],
    }
    if fmt == "json":
        emit_json(info)
        return
    click.echo(f"Store:        {info['path']} ({info['size_bytes'] / 1e6:.1f} MB)")
    click.echo(f"Machine id:   {info['machine_id']}")
    click.echo(f"Prompt text:  {'stored' if info['keep_prompt_text'] else 'not stored (hash and length only)'}")
    click.echo(f"Last ingest:  {info['last_ingest'] or 'never'}")
    click.echo("Rows:         " + ", ".join(f"{tokens(n)} {t.replace('_', ' ')}" for t, n in counts.items()))
    if agents:
        click.echo()
        click.echo(
            table(
                [[a["agent"], tokens(a["requests"]), a["first"][:10], a["last"][:10]] for a in agents],
                ["Agent", "Requests", "First", "Last"],
                align="lrll",
            )
        )
    click.echo()
    click.echo(
        table(
            [
                [
                    (m["name"] or "?") + (" (this one)" if m["this_machine"] else ""),
                    m["machine_id"][:8],
                    tokens(m["requests"]),
                    (m["synced_at"] or "never")[:16].replace("T", " "),
                ]
                for m in machines
            ],
            ["Machine", "Id", "Requests", "Last synced (UTC)"],
            align="llrl",
        )
    )
    click.echo(f"Sync folder:  {info['sync_folder'] or 'none (`analyzer sync --folder DIR`)'}")
    if unpriced:
        click.echo()
        click.echo("Models with no known price (their cost shows as unknown):")
        for u in unpriced:
            click.echo(f"  {u['model']}  ({u['requests']} requests)")


@db_group.command(name="errors")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="How many to show.")
@click.option("--all", "show_all", is_flag=True, help="Also lines ignored (unknown types with no usage).")
@format_options(csv=False)
@db_option
def db_errors(limit, show_all, fmt, db_path):
    """Lines that were skipped: corrupt, of an unknown type, or of a wrong shape."""
    db = open_store(db_path)
    where = "" if show_all else " where e.kind != 'ignored'"
    rows = [
        {"path": p, "offset": o, "kind": k, "reason": r, "snippet": s, "first_seen": f}
        for p, o, k, r, s, f in db.execute(
            "select coalesce(s.path, '?'), e.offset, e.kind, e.reason, e.snippet, e.first_seen"
            " from ingest_errors e left join sources s on s.id = e.source_id"
            f"{where} order by e.first_seen desc limit ?",
            [limit],
        )
    ]
    if fmt == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("No skipped lines.")
        return
    for row in rows:
        click.echo(f"{row['path']}:{row['offset']}: {row['kind']}: {row['reason']}")


@db_group.command(name="backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@db_option
def db_backup(target, db_path):
    """Write a consistent copy of the store to TARGET (safe while the daemon runs)."""
    if target.exists():
        raise click.ClickException(f"{target} exists; choose a new file name")
    db = open_store(db_path)
    db.execute("vacuum into ?", [str(target)])
    os.chmod(target, 0o600)
    click.echo(f"Backed up to {target}")


@db_group.command(name="check")
@click.option("--quick", is_flag=True, help="Skip reading the log files again (integrity and orphans only).")
@format_options(csv=False)
@db_option
def db_check(quick, fmt, db_path):
    """Check the store: SQLite's integrity check, rows that point at nothing, rows
    validation would refuse, and (unless --quick) every log file still on disk read
    again and compared with what the store holds, per file. Exits 1 on a problem."""
    from analyzer.ingest.check import as_json, check

    db = open_store(db_path)
    result = check(db, reread=not quick)
    if fmt == "json":
        emit_json(as_json(result))
    else:
        for line in check_lines(result):
            click.echo(line)
    if not result.ok:
        raise SystemExit(1)


def check_lines(result) -> list[str]:
    """What ``db check`` prints: one line per look, then one per problem and its fix."""
    lines = [f"Integrity:  {'ok' if not result.damaged else 'DAMAGED'}"]
    if result.damaged:
        lines += [f"  {p}" for p in result.problems()]
        lines.append("Fix: `analyzer db repair` recovers what can be read into a new store.")
        return lines
    orphans = sum(result.orphans.values())
    lines.append(f"Orphans:    {'none' if not orphans else f'{orphans} rows point at a source that is not there'}")
    odd = sum(result.implausible.values())
    lines.append(f"Values:     {'all plausible' if not odd else f'{odd} rows hold values validation now refuses'}")
    if result.reread:
        compared = [s for s in result.sources if s.requests]
        bad = [s for s in result.sources if not s.ok]
        requests = sum(s.requests for s in compared)
        tokens_ = sum(s.tokens for s in compared)
        extra = []
        if result.changed:
            extra.append(f"{len(result.changed)} changed since the last ingest, not compared")
        if result.gone:
            extra.append(f"{result.gone} no longer on disk")
        if result.failed:
            extra.append(f"{len(result.failed)} could not be read")
        lines.append(
            f"Re-read:    {len(result.sources)} files still on disk give {tokens(requests)} requests,"
            f" {tokens(tokens_)} tokens: {'all in the store' if not bad else f'{len(bad)} files disagree'}"
            + (f" ({'; '.join(extra)})" if extra else "")
        )
    for problem in result.problems():
        lines.append(f"  {problem}")
    if not result.ok:
        fixes = []
        if orphans or odd:
            fixes.append("`analyzer db repair` rebuilds the store and leaves such rows out")
        if any(not s.ok for s in result.sources):
            fixes.append("`analyzer ingest` after `analyzer db repair` reads every file again")
        lines.append("Fix: " + "; ".join(fixes) + ".")
    else:
        lines.append("The store is whole.")
    return lines


@db_group.command(name="repair")
@click.option("--yes", is_flag=True, help="Do not ask before moving the store aside.")
@db_option
def db_repair(yes, db_path):
    """Recover what SQLite can read from a damaged store into a new one.

    The damaged file is kept aside (renamed with a .damaged-<time> suffix) and
    only read; the new store takes its place. Prints what was saved and what
    was lost per table. Every log file still on disk is then read again by the
    next `analyzer ingest`, which restores whatever those files hold.
    """
    from analyzer.store.repair import repair

    path = db_path or store.default_db_path()
    if not yes and not click.confirm(f"Move {path} aside and rebuild it from what can be read?", default=True):
        raise SystemExit(1)
    result = repair(path)
    click.echo(f"The damaged store is kept at {result.aside}.")
    if result.unreadable_schema:
        click.echo(f"Nothing could be read from it ({result.unreadable_schema}); the new store is empty.")
    for t in result.tables:
        if t.saved or t.lost or t.refused or t.note or not t.counted:
            lost = f", {t.lost:,} lost" if t.lost else ""
            lost += "" if t.counted else ", how many were lost cannot be told"
            refused = f", {t.refused:,} refused (values validation refuses)" if t.refused else ""
            click.echo(f"  {t.name}: {t.saved:,} rows saved{lost}{refused}{f' ({t.note})' if t.note else ''}")
    click.echo(
        f"Saved {result.saved:,} rows, lost {result.lost:,}"
        + (f" and an unknown number in {', '.join(result.uncounted)}" if result.uncounted else "")
        + (f", left out {result.refused:,} implausible" if result.refused else "")
        + ". Run `analyzer ingest` now: every log file still on disk is read again, which restores what it holds."
    )


@db_group.command(name="prompt-text")
@click.argument("setting", type=click.Choice(["on", "off", "show"]), default="show")
@db_option
def db_prompt_text(setting, db_path):
    """Store the text of typed prompts (off by default: only a hash and length)."""
    db = open_store(db_path, create=True)
    if setting == "show":
        click.echo("on" if store.keep_prompt_text(db) else "off")
        return
    with store.transaction(db):
        store.set_meta(db, "keep_prompt_text", "1" if setting == "on" else "0")
        if setting == "off":
            erased = db.conn.execute("update prompts set text = null where text is not null").rowcount
    if setting == "on":
        click.echo("Prompt text will be stored from now on (re-ingest to fill in past prompts still on disk).")
    else:
        click.echo(f"Prompt text is no longer stored; erased it from {erased} prompts.")


@click.command(name="plugins")
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
def plugins_cmd(show_all):
    """List installed plugins (JSON), with any that failed to load."""
    emit_json([p for p in get_plugins() if show_all or not p["builtin"]])


@hookimpl
def register_commands(cli):
    "The commands of this module."
    cli.add_command(db_group)
    cli.add_command(plugins_cmd)
