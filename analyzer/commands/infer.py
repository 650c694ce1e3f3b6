"""``analyzer infer-limit``: what each plan really counts, and how much of it fits in each window."""

from __future__ import annotations

import re
import sqlite3

import click

from analyzer.api import hookimpl
from analyzer.commands.options import _agent_callback, _list_callback, db_option, open_store
from analyzer.commands.output import emit_json

_WINDOW = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)?\s*$", re.I)
_UNIT_MINUTES = {"m": 1, "min": 1, "h": 60, "d": 1440, "w": 10080}


def parse_window(text: str) -> int:
    """``5h`` -> 300, ``7d`` or ``1w`` -> 10080, ``300`` -> 300 (minutes)."""
    m = _WINDOW.match(text or "")
    if not m or int(m.group(1)) <= 0:
        raise ValueError(text)
    return int(m.group(1)) * _UNIT_MINUTES[(m.group(2) or "m").lower()]


def _window_callback(ctx, param, value):
    out = []
    for item in value:
        for part in item.split(","):
            if not part.strip():
                continue
            try:
                out.append(parse_window(part))
            except ValueError:
                raise click.BadParameter(f"{part!r} is not a window length: use 5h, 7d or minutes (300)") from None
    return tuple(out)


def _print(estimates: list[dict]) -> None:
    from analyzer.inference.report import amount

    if not estimates:
        click.echo(
            "No quota readings or limit hits recorded yet, so there is nothing to infer from.\n"
            "Readings come from agents' logs (Codex rate limits, Claude /usage), the statusline,\n"
            "vendor quota endpoints (`analyzer quota poll`) or `analyzer quota add`; run `analyzer ingest` first."
        )
        return
    for e in estimates:
        agents = e.get("agents") or [e["agent"]]
        head = (
            f"{e.get('account') or '?'} ({', '.join(agents)})"
            + (f" · plan {e['plan']}" if e.get("plan") else "")
            + (f" · {e['scope']}" if e.get("scope") else "")
            + f" · {e['window']} window"
        )
        click.echo(head)
        click.echo(f"  {e['summary']}")
        q = e.get("quantity") or "x"
        if e.get("method") == "inferred":
            click.echo(
                f"  Limit:     {amount(e['limit'], q)} {e['unit']} ({amount(e['low'], q)} to "
                f"{amount(e['high'], q)}), inferred"
            )
            if e.get("weights") and e.get("candidate") in ("weighted", "weighted_per_model"):
                click.echo("  Weights:   " + ", ".join(f"{k} {v:g}" for k, v in e["weights"].items()))
                if e.get("model_weights"):
                    click.echo(
                        "  Models:    "
                        + ", ".join(f"{k} x{v:g}" for k, v in e["model_weights"].items() if v is not None)
                    )
            for alt in (e.get("alternatives") or [])[:3]:
                fit = (
                    f"misfit {alt['rms_pp']:.2f} pp, BIC +{alt['delta_bic']:g}"
                    if "rms_pp" in alt
                    else f"spread {alt['spread_log']:.3f}"
                )
                click.echo(f"  Instead:   {alt['label']}: {fit}")
            for seg in e.get("segments") or []:
                if len(e["segments"]) > 1:
                    click.echo(
                        f"  Segment:   {seg['from'][:16]} to {seg['to'][:16]}: {amount(seg['limit'], q)} "
                        f"({seg['readings']} readings)"
                    )
        click.echo("")


@click.command(name="infer-limit")
@click.option("--plan", help="Only this plan (as readings name it); labels signals that carry no plan name.")
@click.option(
    "--agent",
    "agents",
    multiple=True,
    callback=_agent_callback,
    help="Only the accounts this agent used (repeat or comma-separate), e.g. codex: each fitted over all its agents.",
)
@click.option(
    "--account",
    "accounts",
    multiple=True,
    callback=_list_callback,
    help="Only this account (repeat or comma-separate), e.g. zai; `analyzer accounts` lists them.",
)
@click.option(
    "--window",
    "windows",
    multiple=True,
    callback=_window_callback,
    help="Only this window length: 5h, 7d, or minutes (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one object per (account and plan, window).")
@click.option("--no-save", is_flag=True, help="Do not write the estimates to the limit_estimates table.")
@click.option("--fresh", is_flag=True, help="Fit again even when nothing changed since the last fit.")
@db_option
def infer_limit(plan, agents, accounts, windows, as_json, no_save, fresh, db_path):
    """Infer what each plan counts and how much of it fits in each window.

    \b
    One fit per account and window, over the calls of every agent and
    machine that spends the account (a GLM plan used from Claude Code and
    OpenCode is one ledger), whichever agent logged the readings or refusals.
    Regresses the plan's "% used" readings (and limit hits) on the request
    ledger for every candidate quantity: all tokens, input + cache writes +
    output, uncached input + output, output, requests, prompts, API cost,
    and free weights per token class and model. Reports the quantity that
    explains the readings best, the limit with an interval, when it
    changed, and usage the logs do not explain (other devices). The fit is
    kept: run again with nothing new, it answers at once (--fresh refits).
    """
    from analyzer.inference import cache, infer
    from analyzer.inference.table import save
    from analyzer.reports.usage import ensure_prices

    db = open_store(db_path)
    ensure_prices(db)  # accounts current before the evidence is fingerprinted
    filters = (tuple(sorted(agents)), plan, tuple(sorted(windows)), tuple(sorted(accounts)))
    stamp = cache.fingerprint(db, filters)
    estimates = None if fresh else cache.load(db, filters, stamp)
    if estimates is None:
        estimates = infer(db, agents=agents, plan=plan, windows=windows, accounts=accounts)
        if not no_save:
            try:
                with db.atomic():
                    if estimates:
                        save(db, estimates)
                    cache.store(db, filters, stamp, estimates)
            except sqlite3.OperationalError as exc:
                click.echo(f"Warning: estimates not saved ({exc}); the database may be busy.", err=True)
    if as_json:
        emit_json(estimates)
    else:
        _print(estimates)


@hookimpl
def register_commands(cli):
    "The commands of this module."
    cli.add_command(infer_limit)
