"""``analyzer stats`` (the usage profile) and ``analyzer cost`` (API-equivalent cost)."""

from __future__ import annotations

import click

from analyzer.api import hookimpl
from analyzer.commands.lazy import LazyModule
from analyzer.commands.options import db_option, filter_options, format_options, open_store
from analyzer.commands.output import cny, emit_json, number, percent, short_tokens, table, tokens, usd
from analyzer.commands.report import clean_errors, emitted

# Imported when a command runs, not when the command line is built.
stats_mod = LazyModule("analyzer.reports.stats")
pricing = LazyModule("analyzer.pricing.prices")
reports = LazyModule("analyzer.reports.usage")


def _profile_rows(rows: list[dict], key: str) -> list[list[str]]:
    return [
        [
            str(r[key] if r[key] is not None else "-")[:40],
            tokens(r["requests"]),
            short_tokens(r["total_tokens"]),
            percent(r["input_share"]),
            percent(r["cache_read_share"]),
            percent(r["cache_write_share"]),
            percent(r["output_share"]),
            percent(r["cache_ratio"]),
            short_tokens(r["tokens_per_request_mean"]),
            short_tokens(r["tokens_per_request_median"]),
            number(r.get("requests_per_prompt_median")),
            number(r.get("requests_per_prompt_p90")),
            number(r.get("requests_per_prompt_mean")),
            usd(r["cost_usd"]),
        ]
        for r in rows
    ]


PROFILE_HEADERS = [
    "",
    "Requests",
    "Tokens",
    "Input",
    "Cache read",
    "Cache write",
    "Output",
    "Cache ratio",
    "Tok/req",
    "Median",
    "Req/prompt",
    "p90",
    "Mean",
    "Cost (API)",
]


@click.command(name="stats")
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
    click.echo(
        f"Requests {tokens(o['requests'])} · prompts {tokens(o['prompts'])} · tokens "
        f"{short_tokens(o['total_tokens'])} · API cost {usd(o['cost_usd'])} (openai-style "
        f"{usd(o['cost_usd_openai'])}, anthropic-style {usd(o['cost_usd_anthropic'])}, {cny(o['cost_cny'])})"
    )
    click.echo(
        f"Shares of all tokens: input {percent(o['input_share'])}, cache read {percent(o['cache_read_share'])}, "
        f"cache write {percent(o['cache_write_share'])}, output {percent(o['output_share'])}; "
        f"cache ratio {percent(o['cache_ratio'])}"
    )
    click.echo(
        f"Requests per prompt: median {number(o['requests_per_prompt_median'])}, p90 "
        f"{number(o['requests_per_prompt_p90'])}, mean {number(o['requests_per_prompt_mean'])} "
        f"(all requests / prompts {number(o['requests_per_prompt_overall'])}); tokens per request: mean "
        f"{short_tokens(o['tokens_per_request_mean'])}, median {short_tokens(o['tokens_per_request_median'])}"
    )
    for key in ("agent", "model", "project"):
        click.echo()
        click.echo(
            table(
                _profile_rows(result[f"by_{key}"], key), [key.capitalize()] + PROFILE_HEADERS[1:], align="l" + "r" * 13
            )
        )


@click.command(name="cost")
@click.option(
    "--by", type=click.Choice(["model", "agent", "day"]), default="model", show_default=True, help="Group the costs."
)
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
    for grp, n, total, unpriced, in_usd, usd_o, usd_a, in_cny, key, ub, cb in cur.fetchall():
        known = not unpriced
        rows.append(
            {
                by: grp,
                "requests": n,
                "total_tokens": total,
                "price_key": key,
                "cost_usd": in_usd if known else None,
                "cost_usd_known": in_usd,
                "cost_usd_openai": usd_o if known else None,
                "cost_usd_anthropic": usd_a if known else None,
                "cost_cny": in_cny if known else None,
                "usd_basis": ub,
                "cny_basis": cb,
                "unpriced_requests": unpriced,
            }
        )
    if emitted(rows, fmt, "No usage recorded in this range."):
        return
    fx = db.execute("select value from meta where key = 'usd_cny'").fetchone()
    body = [
        [
            str(r[by])[:40],
            tokens(r["requests"]),
            short_tokens(r["total_tokens"]),
            usd(r["cost_usd"]),
            usd(r["cost_usd_openai"]),
            usd(r["cost_usd_anthropic"]),
            cny(r["cost_cny"]),
            r["price_key"] or "unknown",
        ]
        for r in rows
    ]
    click.echo(
        table(
            body,
            [by.capitalize(), "Requests", "Tokens", "As billed", "OpenAI-style", "Anthropic-style", "CNY", "Price"],
            align="l" + "r" * 6 + "l",
        )
    )
    click.echo(
        f"CNY list prices where the vendor has them, else USD x {fx[0] if fx else '?'} "
        f"({pricing.load_sources(use_library=False).usd_cny_source.split(':')[0]})."
    )


@hookimpl
def register_commands(cli):
    "analyzer stats, analyzer cost."
    cli.add_command(stats_cmd)
    cli.add_command(cost_cmd)
