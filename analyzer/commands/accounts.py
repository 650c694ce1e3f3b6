"""``analyzer accounts``: every account, the agents, models and machines that used it, and why."""

from __future__ import annotations

import click

from analyzer.api import hookimpl
from analyzer.commands.options import db_option, format_options, open_store
from analyzer.commands.output import emit_json, table, tokens
from analyzer.commands.report import clean_errors


def _shares(items: list[dict], limit: int = 4) -> str:
    shown = [f"{i['name']} {tokens(i['requests'])}" for i in items[:limit]]
    if len(items) > limit:
        shown.append(f"+{len(items) - limit} more")
    return ", ".join(shown) or "-"


@click.command(name="accounts")
@format_options(csv=False)
@db_option
@clean_errors
def accounts_cmd(fmt, db_path):
    """Every account (a plan or a wallet): its agents, models, machines and requests,
    first and last use, the rule that assigned its rows, and what is ambiguous.

    \b
    Rows are attributed from your accounts.toml (in the config folder, beside
    plans.toml), then the provider each agent recorded, then the model's family.
    Editing accounts.toml re-attributes every stored row on the next command.
    """
    from analyzer.accounts.listing import list_accounts

    rows = list_accounts(open_store(db_path))
    if fmt == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("No requests stored yet. Run `analyzer ingest` first?")
        return
    body = [
        [
            r["account"] or "(unknown)",
            tokens(r["requests"]),
            tokens(r["limit_hits"]),
            tokens(r["quota_readings"]),
            (r["first_use"] or "-")[:16].replace("T", " "),
            (r["last_use"] or "-")[:16].replace("T", " "),
            _shares(r["agents"]),
            _shares(r["machines"], 2),
        ]
        for r in rows
    ]
    click.echo(
        table(
            body,
            ["Account", "Requests", "Hits", "Readings", "First use (UTC)", "Last use (UTC)", "Agents", "Machines"],
            align="lrrrllll",
        )
    )
    for r in rows:
        title = r["account"] or "(unknown)"
        if r["name"] or r["plan"]:
            title += " · " + " · ".join(x for x in (r["name"], f"plan {r['plan']}" if r["plan"] else None) if x)
        click.echo(f"\n{title}")
        click.echo(f"  Models:     {_shares(r['models'], 6)}")
        click.echo(f"  Decided by: {_shares(r['rules'], 6)}")
        for a in r["ambiguous"]:
            click.echo(f"  Ambiguous:  {a['note']}" + (f" ({tokens(a['requests'])} requests)" if a["requests"] else ""))


@hookimpl
def register_commands(cli):
    "analyzer accounts."
    cli.add_command(accounts_cmd)
