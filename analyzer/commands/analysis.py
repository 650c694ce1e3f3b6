"""``analyzer stats``, ``cost``, ``plans``, ``compare-plans`` and ``status``."""

from __future__ import annotations

import click

from analyzer.api import hookimpl
from analyzer.commands.lazy import LazyModule
from analyzer.commands.output import emit_json, percent, short_tokens, table, tokens
from analyzer.commands.options import db_option, filter_options, format_options, open_store
from analyzer.commands.report import clean_errors, emitted

# Imported when a command runs, not when the command line is built.
compare_mod = LazyModule("analyzer.plans.compare")
plans_mod = LazyModule("analyzer.plans.catalogue")
stats_mod = LazyModule("analyzer.reports.stats")
status_mod = LazyModule("analyzer.reports.status")
pricing = LazyModule("analyzer.pricing.prices")
reports = LazyModule("analyzer.reports.usage")


def _num(value, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _usd(value) -> str:
    return "?" if value is None else f"${value:,.2f}"


def _cny(value) -> str:
    return "?" if value is None else f"¥{value:,.2f}"


def _profile_rows(rows: list[dict], key: str) -> list[list[str]]:
    return [
        [str(r[key] if r[key] is not None else "-")[:40], tokens(r["requests"]), short_tokens(r["total_tokens"]),
         percent(r["input_share"]), percent(r["cache_read_share"]), percent(r["cache_write_share"]),
         percent(r["output_share"]), percent(r["cache_ratio"]), short_tokens(r["tokens_per_request_mean"]),
         short_tokens(r["tokens_per_request_median"]), _num(r.get("requests_per_prompt_median")),
         _num(r.get("requests_per_prompt_p90")), _num(r.get("requests_per_prompt_mean")), _usd(r["cost_usd"])]
        for r in rows
    ]  # fmt: skip


PROFILE_HEADERS = ["", "Requests", "Tokens", "Input", "Cache read", "Cache write", "Output", "Cache ratio",
                   "Tok/req", "Median", "Req/prompt", "p90", "Mean", "Cost (API)"]  # fmt: skip


@hookimpl
def register_commands(cli):
    @cli.command(name="stats")
    @filter_options
    @format_options(csv=False)
    @db_option
    @clean_errors
    def stats_cmd(filters, fmt, db_path):
        """Usage profile: token shares, cache ratio, requests per prompt, tokens per request.

        Shares are of all tokens (uncached input + cache read + cache write +
        output). The cache ratio is cache read / (input + cache read + cache
        write), n/a when nothing was sent. Requests per prompt counts the model
        calls each typed prompt started (median, nearest-rank 90th percentile,
        mean). Overall, then per agent, model and project.
        """
        result = stats_mod.profile(open_store(db_path), filters)
        if fmt == "json":
            emit_json(result)
            return
        o = result["overall"]
        if not o["requests"]:
            click.echo("No usage recorded in this range. Run `analyzer ingest` first?")
            return
        click.echo(f"Requests {tokens(o['requests'])} · prompts {tokens(o['prompts'])} · tokens "
                   f"{short_tokens(o['total_tokens'])} · API cost {_usd(o['cost_usd'])} (openai-style "
                   f"{_usd(o['cost_usd_openai'])}, anthropic-style {_usd(o['cost_usd_anthropic'])}, {_cny(o['cost_cny'])})")  # fmt: skip
        click.echo(f"Shares of all tokens: input {percent(o['input_share'])}, cache read {percent(o['cache_read_share'])}, "
                   f"cache write {percent(o['cache_write_share'])}, output {percent(o['output_share'])}; "
                   f"cache ratio {percent(o['cache_ratio'])}")  # fmt: skip
        click.echo(f"Requests per prompt: median {_num(o['requests_per_prompt_median'])}, p90 "
                   f"{_num(o['requests_per_prompt_p90'])}, mean {_num(o['requests_per_prompt_mean'])} "
                   f"(all requests / prompts {_num(o['requests_per_prompt_overall'])}); tokens per request: mean "
                   f"{short_tokens(o['tokens_per_request_mean'])}, median {short_tokens(o['tokens_per_request_median'])}")  # fmt: skip
        for key in ("agent", "model", "project"):
            click.echo()
            click.echo(table(_profile_rows(result[f"by_{key}"], key), [key.capitalize()] + PROFILE_HEADERS[1:],
                             align="l" + "r" * 13))  # fmt: skip

    @cli.command(name="cost")
    @click.option("--by", type=click.Choice(["model", "agent", "day"]), default="model", show_default=True,
                  help="Group the costs.")  # fmt: skip
    @click.option("--prices-file", "show_file", is_flag=True, help="Print the path of the price override file and exit.")
    @filter_options
    @format_options()
    @db_option
    @clean_errors
    def cost_cmd(by, show_file, filters, fmt, db_path):
        """API-equivalent cost in both pricing modes, USD and CNY.

        \b
        as billed     the vendor's own mode and list prices
        openai-style  cache writes are plain input, reads at the cached price
        anthropic     writes at 1.25x (5 min) / 2x (1 h) input, reads 0.1x,
                      unless the vendor lists its own rates
        A model with no known price shows ? (unknown), never 0. Prices: the
        genai-prices library, then the bundled table, overridden by
        prices.toml in the user config folder (see --prices-file).
        """
        if show_file:
            click.echo(str(pricing.config_dir() / "prices.toml"))
            return
        db = open_store(db_path)
        reports.ensure_prices(db)
        where, params = filters.where()
        column = {"model": "model", "agent": "agent", "day": "substr(ts, 1, 10)"}[by]
        cur = db.execute(
            f"select {column} as grp, count(*), sum(total_tokens), sum(cost_usd is null),"
            " round(sum(coalesce(cost_usd, 0)), 6), round(sum(cost_usd_openai), 6), round(sum(cost_usd_anthropic), 6),"
            " round(sum(coalesce(cost_cny, 0)), 6), max(price_key), group_concat(distinct usd_basis),"
            f" group_concat(distinct cny_basis) from priced_requests {where} group by grp order by grp",
            params,
        )
        rows = []
        for grp, n, total, unpriced, usd, usd_o, usd_a, cny, key, ub, cb in cur.fetchall():
            known = not unpriced
            rows.append({by: grp, "requests": n, "total_tokens": total, "price_key": key,
                         "cost_usd": usd if known else None, "cost_usd_known": usd,
                         "cost_usd_openai": usd_o if known else None, "cost_usd_anthropic": usd_a if known else None,
                         "cost_cny": cny if known else None, "usd_basis": ub, "cny_basis": cb,
                         "unpriced_requests": unpriced})  # fmt: skip
        if emitted(rows, fmt, "No usage recorded in this range."):
            return
        fx = db.execute("select value from meta where key = 'usd_cny'").fetchone()
        body = [[str(r[by])[:40], tokens(r["requests"]), short_tokens(r["total_tokens"]), _usd(r["cost_usd"]),
                 _usd(r["cost_usd_openai"]), _usd(r["cost_usd_anthropic"]), _cny(r["cost_cny"]),
                 r["price_key"] or "unknown"] for r in rows]  # fmt: skip
        click.echo(table(body, [by.capitalize(), "Requests", "Tokens", "As billed", "OpenAI-style", "Anthropic-style",
                                "CNY", "Price"], align="l" + "r" * 6 + "l"))  # fmt: skip
        click.echo(f"CNY list prices where the vendor has them, else USD x {fx[0] if fx else '?'} "
                   f"({pricing.load_sources(use_library=False).usd_cny_source.split(':')[0]}).")  # fmt: skip

    @cli.command(name="plans")
    @click.argument("plan_id", required=False)
    @format_options(csv=False)
    @db_option
    @clean_errors
    def plans_cmd(plan_id, fmt, db_path):
        """The plans catalogue: price, windows, unit, limit, basis, date and source.

        Add your own plans in plans.toml in the user config folder (same shape
        as analyzer/plans/plans.json, a [[plan]] list). Also in the store as the
        tables plans and plan_limits.
        """
        db = open_store(db_path)
        catalogue = plans_mod.sync_catalogue(db)
        if plan_id:
            catalogue = [p for p in catalogue if p.id == plan_id]
            if not catalogue:
                raise click.ClickException(f"no plan {plan_id!r}; `analyzer plans` lists them")
        if fmt == "json":
            emit_json([_plan_json(p) for p in catalogue])
            return
        body = []
        for p in catalogue:
            for i, lim in enumerate(p.limits or [None]):
                body.append([p.id if i == 0 else "", f"{p.price:g} {p.currency}" if i == 0 and p.price is not None else "",
                             _window(lim.window_minutes) if lim else "", lim.unit if lim else "", _limit_text(lim),
                             (lim.basis + (" *" if lim.primary else "")) if lim else "", (lim.as_of or "") if lim else ""])  # fmt: skip
        click.echo(table(body, ["Plan", "Price/month", "Window", "Unit", "Limit", "Basis", "As of"], align="lrllrll"))
        click.echo(f"* used by compare-plans. Your own plans: {pricing.config_dir() / 'plans.toml'}")

    @cli.command(name="compare-plans")
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
        recorded usage through the plan's windows.
        """
        db = open_store(db_path)
        catalogue = plans_mod.sync_catalogue(db)
        if plan_ids:
            catalogue = [p for p in catalogue if p.id in plan_ids]
        usage = compare_mod.load_usage(db, filters)
        rows = compare_mod.compare(catalogue, usage)
        if fmt == "json":
            emit_json({"ratios": usage["ratios"], "usd_cny": usage["usd_cny"], "plans": rows})
            return
        r = usage["ratios"]
        if not r["requests"]:
            click.echo("No usage recorded in this range: nothing to compare. Run `analyzer ingest` first?")
            return
        click.echo(f"Your usage: {tokens(r['requests'])} requests, {tokens(r['prompts'])} prompts over {r['days']:g} days; "
                   f"{short_tokens(r['tokens_per_request'])} tokens/request, {_num(r['requests_per_prompt'])} "
                   f"requests/prompt, cache ratio {percent(r['cache_ratio'])}; at API prices "
                   f"{_usd(r['usage_cost_usd_per_month'])} per 30 days.")  # fmt: skip
        body = []
        for row in rows:
            over = ", ".join(f"{_window(o['window_minutes'])} x{o['windows_exceeded']}" for o in row["exceeded"]
                             if o["windows_exceeded"]) or "no"  # fmt: skip
            basis = "/".join(sorted({lim["basis"] for lim in row["limits"]}))
            body.append([row["plan"], f"{row['price']:g} {row['currency']}", basis,
                         short_tokens(row["per_5h"]["requests"]), short_tokens(row["per_week"]["requests"]),
                         short_tokens(row["per_month"]["requests"]), short_tokens(row["per_month"]["prompts"]),
                         short_tokens(row["per_month"]["tokens"]),
                         row["value_basis"].replace("your models' list prices", "yours").replace(" list price", ""),
                         _usd(row["api_value_usd_per_month"]),
                         "n/a" if row["worth_x_fee"] is None else f"{row['worth_x_fee']:g}x",
                         "n/a" if row["usage_x_fee"] is None else f"{row['usage_x_fee']:g}x", over])  # fmt: skip
        click.echo(table(body, ["Plan", "Fee", "Basis", "Req/5h", "Req/week", "Req/month", "Prompts/mo",
                                "Tokens/mo", "Priced as", "API value/mo", "Worth", "Your use", "Exceeded"],
                         align="lrl" + "r" * 5 + "l" + "r" * 3 + "l"))  # fmt: skip
        click.echo("Worth = the plan's monthly maximum of your requests at the API price of the plan's model (Priced as; "
                   "yours: your own models) / its fee; Your use = your usage per 30 days priced the same way / the fee. "
                   "Basis: stated (vendor), community, blog, derived.")  # fmt: skip

    @cli.command(name="status")
    @click.option("--plan", "plan_id", help="The plan to measure against (see `analyzer plans`).")
    @click.option("--agent", "agents", multiple=True, help="Only this agent (repeat).")
    @format_options(csv=False)
    @db_option
    @clean_errors
    def status_cmd(plan_id, agents, fmt, db_path):
        """Current 5-hour and weekly windows: used, limit, % used, reset, burn rate, projection."""
        db = open_store(db_path)
        if plan_id and plans_mod.find(plans_mod.load_catalogue(), plan_id) is None:
            raise click.ClickException(f"no plan {plan_id!r}; `analyzer plans` lists them")
        rows = status_mod.status(db, agents=tuple(agents), plan_id=plan_id)
        if fmt == "json":
            emit_json(rows)
            return
        if not rows:
            click.echo("No agent used in the last 7 days.")
            return
        for s in rows:
            head = f"{s['agent']} {_window(s['window_minutes'])}"
            if s["window"] is None:
                click.echo(f"{head}: {s['message']}")
                continue
            w, used, lim = s["window"], s["used"], s["limit"]
            pct = "?" if s["percent_used"] is None else f"{s['percent_used']:.1f}% ({s['percent_source']})"
            limit_text = "unknown" if not lim else f"{_num(lim['value'], 0)} {lim['quantity']} ({lim['source']})"
            click.echo(f"{head} [{w['kind']}] {w['start'][:16]} -> resets {w['end'][:16]}Z: {tokens(used['requests'])} "
                       f"requests, {short_tokens(used['total_tokens'])} tokens; limit {limit_text}; used {pct}. "
                       f"{s['message']}")  # fmt: skip


def _window(minutes: int) -> str:
    return {300: "5h", 10080: "week", 43200: "month", 1440: "day"}.get(minutes, f"{minutes}m")


def _plain(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,}"


def _limit_text(lim) -> str:
    if lim is None:
        return ""
    if lim.limit is None and lim.low is not None:
        return f"{_plain(lim.low)}-{_plain(lim.high)}" if lim.high is not None else f">={_plain(lim.low)}"
    return "?" if lim.limit is None else _plain(lim.limit)


def _plan_json(p) -> dict:
    return {"id": p.id, "vendor": p.vendor, "name": p.name, "region": p.region, "price": p.price,
            "currency": p.currency, "period": p.period, "agents": list(p.agents), "models": p.models,
            "multipliers": p.multipliers, "notes": p.notes, "source": p.source, "as_of": p.as_of, "origin": p.origin,
            "limits": [lim.__dict__ for lim in p.limits]}  # fmt: skip
