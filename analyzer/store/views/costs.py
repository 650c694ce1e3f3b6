"""Views that price requests: the pricing rule in SQL, and the stored costs it fills in.

The same rule in Python is ``analyzer.pricing.costs.PriceBook`` (it prices rows as
the ingester writes them); a test holds the two equal on every fixture.
"""

from __future__ import annotations

from analyzer.store.schema import COST_COLUMN_NAMES as COST_COLUMNS
from analyzer.store.views.view import View, view

VIEWS: list[View] = []


# Cost of each request at API prices, in both pricing modes and both currencies.
# Columns: the request's own columns and total_tokens; price_key and price_mode
# (the vendor's own billing mode: anthropic or openai); then
#   cost_usd / cost_cny                   as the vendor bills it (listed rates; an unlisted
#                                         cache-write rate is 1.25x/2x input in anthropic
#                                         mode, plain input in openai mode)
#   cost_usd_openai / cost_cny_openai     OpenAI-style automatic cache: cache writes are
#                                         plain input, reads at the listed cache-read price
#                                         (the input price when none is listed)
#   cost_usd_anthropic / cost_cny_anthropic  Anthropic-style: writes at the listed price,
#                                         else 1.25x input (5 min) / 2x (1 h); reads at the
#                                         listed price, else 0.1x input
#   usd_basis / cny_basis                 list (the vendor's price in that currency) or
#                                         converted (from the other at meta.usd_cny)
# All costs are null when the model has no known price: unknown, never 0. The long-
# context tier is the one whose above_tokens the request's input context exceeds.
# Cache writes with no 5m/1h split are 5-minute writes (the API default).
#
# live_request_costs prices every request from price_tiers as it is read: the rule
# itself, costly per row. analyzer.costs stores its result on each request row
# (analyzer.report_schema: ``priced = 1`` while prices and tokens are unchanged), and
# priced_requests reads the stored columns; a row not priced yet (written since, or
# its prices changed) is priced by the rule on the fly, so readers never see a
# stale cost.
def _cost(p: str, mode: str) -> str:
    """SQL for one request's cost at the rates prefixed ``p`` (u_ or c_) in ``mode``."""
    i, o, cr, w5, w1 = (f"q.{p}{f}" for f in ("in", "out", "read", "w5", "w1"))
    if mode == "native":
        read, five, hour = (
            f"coalesce({cr}, {i})",
            f"coalesce({w5}, case when q.{p}mode = 'anthropic' then 1.25 * {i} else {i} end)",
            f"coalesce({w1}, case when q.{p}mode = 'anthropic' then 2.0 * {i} else {i} end)",
        )
    elif mode == "openai":
        read, five, hour = f"coalesce({cr}, {i})", i, i
    else:
        read, five, hour = f"coalesce({cr}, 0.1 * {i})", f"coalesce({w5}, 1.25 * {i})", f"coalesce({w1}, 2.0 * {i})"
    return (
        f"(q.input_tokens * {i} + q.cache_read_tokens * {read} + q.w5_tokens * {five}"
        f" + q.w1_tokens * {hour} + q.output_tokens * {o}) / 1000000.0"
    )


def _rates(alias: str, prefix: str) -> str:
    return ", ".join(
        f"{alias}.{col} as {prefix}{name}"
        for col, name in (
            ("input", "in"),
            ("output", "out"),
            ("cache_read", "read"),
            ("cache_write_5m", "w5"),
            ("cache_write_1h", "w1"),
            ("mode", "mode"),
        )
    )


def _tier_join(alias: str, currency: str) -> str:
    return (
        f"left join price_tiers {alias} on {alias}.model = r.model and {alias}.currency = '{currency}'"
        f" and {alias}.above_tokens = (select max(t.above_tokens) from price_tiers t where t.model = r.model"
        f" and t.currency = '{currency}' and (t.above_tokens = 0 or t.above_tokens < r.context_tokens))"
    )


def _costs() -> str:
    cols = []
    for mode, suffix in (("native", ""), ("openai", "_openai"), ("anthropic", "_anthropic")):
        usd, cny = _cost("u_", mode), _cost("c_", mode)
        # Not rounded: SQLite's round() and Python's can differ in the last bit, and the
        # ingester prices rows in Python by this same rule (analyzer.costs.PriceBook).
        cols.append(
            f"(case when q.u_in is not null then {usd} when q.c_in is not null then {cny} / q.fx end)"
            f" as cost_usd{suffix}"
        )
        cols.append(
            f"(case when q.c_in is not null then {cny} when q.u_in is not null then {usd} * q.fx end)"
            f" as cost_cny{suffix}"
        )
    return ",\n  ".join(cols)


VIEWS.append(
    view(
        "live_request_costs",
        {"requests", "model_prices", "price_tiers", "meta"},
        f"""
select
  q.request_rowid, q.key, q.price_key, coalesce(q.u_mode, q.c_mode) as price_mode,
  {_costs()},
  case when q.u_in is not null then 'list' when q.c_in is not null then 'converted' end as usd_basis,
  case when q.c_in is not null then 'list' when q.u_in is not null then 'converted' end as cny_basis
from (
  select
    r.*, p.price_key, (select cast(value as real) from meta where key = 'usd_cny') as fx,
    {_rates("u", "u_")}, {_rates("c", "c_")}
  from (
    select
      rowid as request_rowid, key, model, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,
      input_tokens + cache_read_tokens + cache_write_tokens as context_tokens,
      min(coalesce(cache_write_1h_tokens, 0), cache_write_tokens) as w1_tokens,
      cache_write_tokens - min(coalesce(cache_write_1h_tokens, 0), cache_write_tokens) as w5_tokens
    from requests
  ) r
  left join model_prices p on p.model = r.model
  {_tier_join("u", "USD")}
  {_tier_join("c", "CNY")}
) q
""",
    )
)


def _stored() -> str:
    return ",\n  ".join(
        f"case when r.priced = 1 then r.{c} else (select l.{c} from live_request_costs l"
        f" where l.request_rowid = r.rowid) end as {c}"
        for c in COST_COLUMNS
    )


VIEWS.append(
    view(
        "priced_requests",
        {"requests", "model_prices", "price_tiers", "meta"},
        f"""
select
  r.key, r.agent, r.account, r.machine_id, r.session_id, r.ts, r.model, r.project, r.trigger, r.prompt_key,
  r.is_sidechain,
  r.input_tokens, r.cache_read_tokens, r.cache_write_tokens, r.output_tokens, r.reasoning_tokens,
  r.input_tokens + r.cache_read_tokens + r.cache_write_tokens + r.output_tokens as total_tokens,
  {_stored()}
from requests r
""",
    )
)
