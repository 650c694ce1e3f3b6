"""``analyzer status``: where each plan window stands now."""

from __future__ import annotations

import click

from analyzer.api import hookimpl
from analyzer.commands.lazy import LazyModule
from analyzer.commands.options import db_option, format_options, open_store
from analyzer.commands.output import emit_json, number, short_tokens, tokens, window_name
from analyzer.commands.report import clean_errors

# Imported when a command runs, not when the command line is built.
plans_mod = LazyModule("analyzer.plans.catalogue")
status_mod = LazyModule("analyzer.reports.status")


@click.command(name="status")
@click.option("--plan", "plan_id", help="The plan to measure against (see `analyzer plans`).")
@click.option("--agent", "agents", multiple=True, help="Only the accounts this agent used (repeat).")
@click.option(
    "--account", "accounts", multiple=True, help="Only this account (repeat); `analyzer accounts` lists them."
)
@format_options(csv=False)
@db_option
@clean_errors
def status_cmd(plan_id, agents, accounts, fmt, db_path):
    """Current 5-hour and weekly windows of each account (every agent and machine that spends it): used,
    limit, % used, reset, burn rate, projection."""
    db = open_store(db_path)
    if plan_id and plans_mod.find(plans_mod.load_catalogue(), plan_id) is None:
        raise click.ClickException(f"no plan {plan_id!r}; `analyzer plans` lists them")
    rows = status_mod.status(db, agents=tuple(agents), plan_id=plan_id, accounts=tuple(accounts))
    if fmt == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("No account used in the last 7 days.")
        return
    for s in rows:
        head = f"{s['account'] or '?'} ({s['agent']}) {window_name(s['window_minutes'])}"
        if s["window"] is None:
            click.echo(f"{head}: {s['message']}")
            continue
        w, used, lim = s["window"], s["used"], s["limit"]
        pct = "?" if s["percent_used"] is None else f"{s['percent_used']:.1f}% ({s['percent_source']})"
        limit_text = "unknown" if not lim else f"{number(lim['value'], 0)} {lim['quantity']} ({lim['source']})"
        click.echo(
            f"{head} [{w['kind']}] {w['start'][:16]} -> resets {w['end'][:16]}Z: {tokens(used['requests'])} "
            f"requests, {short_tokens(used['total_tokens'])} tokens; limit {limit_text}; used {pct}. "
            f"{s['message']}"
        )
        if len(s["agents"]) > 1 or len(s["machines"]) > 1:
            shares = [f"{a['agent']} {tokens(a['requests'])}" for a in s["agents"]]
            if len(s["machines"]) > 1:
                shares += [f"machine {_machine(db, m['machine_id'])} {tokens(m['requests'])}" for m in s["machines"]]
            click.echo(f"    requests by {', '.join(shares)}")


def _machine(db, machine_id: str | None) -> str:
    row = db.execute("select name from machines where machine_id = ?", [machine_id]).fetchone()
    return (row[0] if row and row[0] else None) or (machine_id or "?")[:8]


@hookimpl
def register_commands(cli):
    "analyzer status."
    cli.add_command(status_cmd)
