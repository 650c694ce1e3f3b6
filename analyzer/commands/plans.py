"""``analyzer plans`` (the catalogue) and ``analyzer compare-plans`` (every plan against your usage)."""

from __future__ import annotations

import click

from analyzer.api import hookimpl
from analyzer.commands.lazy import LazyModule
from analyzer.commands.options import db_option, filter_options, format_options, open_store
from analyzer.commands.output import emit_json, number, percent, short_tokens, table, tokens, usd, window_name
from analyzer.commands.report import clean_errors

# Imported when a command runs, not when the command line is built.
compare_mod = LazyModule("analyzer.plans.compare")
listing = LazyModule("analyzer.accounts.listing")
plans_mod = LazyModule("analyzer.plans.catalogue")
pricing = LazyModule("analyzer.pricing.prices")


@click.command(name="plans")
@click.argument("plan_id", required=False)
@format_options(csv=False)
@db_option
@clean_errors
def plans_cmd(plan_id, fmt, db_path):
    """The plans catalogue: price, windows, unit, limit, basis, date and source, and which of your
    accounts each plan is for (the plan accounts.toml names, or the vendor your calls went to).

    Add your own plans in plans.toml in the user config folder (same shape
    as analyzer/plans/plans.json, a [[plan]] list). Also in the store as the
    tables plans and plan_limits.
    """
    db = open_store(db_path, create=True)
    catalogue = plans_mod.sync_catalogue(db)
    yours = listing.plan_accounts(db)
    if plan_id:
        catalogue = [p for p in catalogue if p.id == plan_id]
        if not catalogue:
            raise click.ClickException(f"no plan {plan_id!r}; `analyzer plans` lists them")
    if fmt == "json":
        emit_json([{**_plan_json(p), "accounts": yours.get(p.id, [])} for p in catalogue])
        return
    body = []
    for p in catalogue:
        for i, lim in enumerate(p.limits or [None]):
            body.append(
                [
                    p.id if i == 0 else "",
                    f"{p.price:g} {p.currency}" if i == 0 and p.price is not None else "",
                    window_name(lim.window_minutes) if lim else "",
                    lim.unit if lim else "",
                    _limit_text(lim),
                    (lim.basis + (" *" if lim.primary else "")) if lim else "",
                    (lim.as_of or "") if lim else "",
                    ", ".join(yours.get(p.id, [])) if i == 0 else "",
                ]
            )
    click.echo(
        table(
            body,
            ["Plan", "Price/month", "Window", "Unit", "Limit", "Basis", "As of", "Your accounts"],
            align="lrllrlll",
        )
    )
    click.echo(f"* used by compare-plans. Your own plans: {pricing.config_dir() / 'plans.toml'}")


@click.command(name="compare-plans")
@click.option("--plan", "plan_ids", multiple=True, help="Only these plans (repeat).")
@filter_options
@format_options(csv=False)
@db_option
@clean_errors
def compare_cmd(plan_ids, filters, fmt, db_path):
    """Every plan's limits in your units, what they are worth at API prices, and fit.

    Your measured ratios (tokens per request, requests per prompt, token mix
    per model) turn each plan's limits into requests, prompts and tokens per
    5 hours, week and 30 days. "Worth" is the plan's monthly maximum priced
    at your models' API prices, divided by its fee; "Exceeded" replays your
    recorded usage through the plan's windows. --account compares one account's
    usage (every agent and machine that spends it); "Account" names your accounts
    each plan is for.
    """
    db = open_store(db_path)
    catalogue = plans_mod.sync_catalogue(db)
    if plan_ids:
        catalogue = [p for p in catalogue if p.id in plan_ids]
    usage = compare_mod.load_usage(db, filters)
    rows = compare_mod.compare(catalogue, usage)
    yours = listing.plan_accounts(db)
    for row in rows:
        row["accounts"] = yours.get(row["plan"], [])
    if fmt == "json":
        emit_json(
            {"ratios": usage["ratios"], "accounts": usage["accounts"], "usd_cny": usage["usd_cny"], "plans": rows}
        )
        return
    r = usage["ratios"]
    if not r["requests"]:
        click.echo("No usage recorded in this range: nothing to compare. Run `analyzer ingest` first?")
        return
    click.echo(
        f"Your usage: {tokens(r['requests'])} requests, {tokens(r['prompts'])} prompts over {r['days']:g} days; "
        f"{short_tokens(r['tokens_per_request'])} tokens/request, {number(r['requests_per_prompt'])} "
        f"requests/prompt, cache ratio {percent(r['cache_ratio'])}; at API prices "
        f"{usd(r['usage_cost_usd_per_month'])} per 30 days."
    )
    if len(usage["accounts"]) > 1:
        click.echo(
            "Accounts: "
            + ", ".join(f"{a['account'] or '?'} {tokens(a['requests'])} requests" for a in usage["accounts"])
            + " (--account compares one)."
        )
    body = []
    for row in rows:
        over = (
            ", ".join(
                f"{window_name(o['window_minutes'])} x{o['windows_exceeded']}"
                for o in row["exceeded"]
                if o["windows_exceeded"]
            )
            or "no"
        )
        basis = "/".join(sorted({lim["basis"] for lim in row["limits"]}))
        body.append(
            [
                row["plan"],
                f"{row['price']:g} {row['currency']}",
                basis,
                short_tokens(row["per_5h"]["requests"]),
                short_tokens(row["per_week"]["requests"]),
                short_tokens(row["per_month"]["requests"]),
                short_tokens(row["per_month"]["prompts"]),
                short_tokens(row["per_month"]["tokens"]),
                row["value_basis"].replace("your models' list prices", "yours").replace(" list price", ""),
                usd(row["api_value_usd_per_month"]),
                "n/a" if row["worth_x_fee"] is None else f"{row['worth_x_fee']:g}x",
                "n/a" if row["usage_x_fee"] is None else f"{row['usage_x_fee']:g}x",
                over,
                ", ".join(row["accounts"]) or "-",
            ]
        )
    click.echo(
        table(
            body,
            [
                "Plan",
                "Fee",
                "Basis",
                "Req/5h",
                "Req/week",
                "Req/month",
                "Prompts/mo",
                "Tokens/mo",
                "Priced as",
                "API value/mo",
                "Worth",
                "Your use",
                "Exceeded",
                "Account",
            ],
            align="lrl" + "r" * 5 + "l" + "r" * 3 + "ll",
        )
    )
    click.echo(
        "Worth = the plan's monthly maximum of your requests at the API price of the plan's model (Priced as; "
        "yours: your own models) / its fee; Your use = your usage per 30 days priced the same way / the fee. "
        "Basis: stated (vendor), community, blog, derived."
    )


@hookimpl
def register_commands(cli):
    "analyzer plans, analyzer compare-plans."
    cli.add_command(plans_cmd)
    cli.add_command(compare_cmd)


def _plain(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,}"


def _limit_text(lim) -> str:
    if lim is None:
        return ""
    if lim.limit is None and lim.low is not None:
        return f"{_plain(lim.low)}-{_plain(lim.high)}" if lim.high is not None else f">={_plain(lim.low)}"
    return "?" if lim.limit is None else _plain(lim.limit)


def _plan_json(p) -> dict:
    return {
        "id": p.id,
        "vendor": p.vendor,
        "name": p.name,
        "region": p.region,
        "price": p.price,
        "currency": p.currency,
        "period": p.period,
        "agents": list(p.agents),
        "models": p.models,
        "multipliers": p.multipliers,
        "notes": p.notes,
        "source": p.source,
        "as_of": p.as_of,
        "origin": p.origin,
        "limits": [lim.__dict__ for lim in p.limits],
    }
