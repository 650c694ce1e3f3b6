"""The dashboard: datasette-dashboards configuration for one store.

Charts are Vega-Lite specs over the canned queries' SQL (datasette-dashboards
serves Vega, Vega-Lite and vega-embed from its own static folder: nothing is
fetched from a CDN). Filters (period, account, agent, plan) reach every chart's SQL as
named parameters; a blank filter means "all". The page must draw on any
store, so every chart's SQL returns rows of a fixed shape even when the
store is empty, and nothing here reads ``limit_estimates`` unless it exists.
"""

from __future__ import annotations

from analyzer.plugins.datasette import limits, sql

from analyzer.store.views.windows import FIVE_HOURS

TEMPORAL = {"type": "temporal", "title": None}
# Every Vega-Lite chart: the version datasette-dashboards bundles (its own default names v5 and makes
# vega-embed warn), drawn as SVG (crisp, and its marks can be inspected).
VEGA_LITE = {
    "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
    "usermeta": {"embedOptions": {"renderer": "svg"}},
}


def _metric(title: str, field: str, query: str) -> dict:
    return {"title": title, "library": "metric", "display": {"field": field}, "query": query}


def _headline(field: str) -> str:
    return f"select {field} as value from ({sql.SUMMARY})"


SHORT = (
    "case when {x} is null then '-' when {x} >= 1e9 then printf('%.2fB', {x} / 1e9)"
    " when {x} >= 1e6 then printf('%.2fM', {x} / 1e6) when {x} >= 1e3 then printf('%.1fK', {x} / 1e3)"
    " else printf('%d', {x}) end"
)


def _windows_chart(estimates: bool) -> str:
    return f"""select start, kind, total_tokens, requests, limit_source, limit_quantity, "limit", percent_of_limit,
  coalesce(counted, total_tokens) as used,
  case when limit_quantity is null then 'total tokens' else limit_quantity || ' counted' end as measure
from ({limits.windows_with_limits(FIVE_HOURS, estimates)})"""


def _readings_chart(estimates: bool) -> str:
    """Readings and predictions, each with the window instance it belongs to (``week``: its account and reset),
    so that a line is drawn within one week and broken at every reset."""
    inner = limits.readings_against_fit(estimates)
    week = "coalesce(account, '') || ' ' || resets_at"
    return f"""select observed_at, {week} as week, 'official reading' as series, used_percent as percent from ({inner})
union all
select observed_at, {week}, 'predicted by the limit', predicted_percent from ({inner})
where predicted_percent is not null
order by observed_at"""


def dashboard(db: str, tables: set[str]) -> dict:
    """The dashboard of the store Datasette calls ``db``."""
    estimates = "limit_estimates" in tables
    charts = {
        "prompts": _metric("Prompts", "value", _headline("prompts")),
        "requests": _metric("Requests", "value", _headline("requests")),
        "tokens": _metric("Tokens", "value", _headline(SHORT.format(x="total_tokens"))),
        "cache-ratio": _metric(
            "Cache ratio",
            "value",
            _headline("case when cache_ratio is null then '-' else printf('%.1f%%', 100 * cache_ratio) end"),
        ),
        "cost": _metric(
            "API cost (USD)",
            "value",
            _headline(
                "case when cost_usd is null then printf('>= $%.2f', cost_usd_known) else printf('$%.2f', cost_usd) end"
            ),
        ),
        "windows": {
            "title": "Usage per 5-hour window against its limit",
            "library": "vega-lite",
            "query": _windows_chart(estimates),
            "display": {
                "layer": [
                    {
                        "mark": {"type": "bar", "tooltip": True},
                        "encoding": {
                            "x": {
                                "field": "start",
                                "timeUnit": "yearmonthdatehoursminutes",
                                "type": "ordinal",
                                "title": "window start (UTC)",
                                "axis": {"labelAngle": -45},
                            },
                            "y": {"field": "used", "type": "quantitative", "title": "used (limit's quantity)"},
                            "color": {"field": "kind", "type": "nominal"},
                        },
                    },
                    {
                        "mark": {"type": "tick", "color": "#d62728", "thickness": 2, "tooltip": True},
                        "encoding": {
                            "x": {"field": "start", "timeUnit": "yearmonthdatehoursminutes", "type": "ordinal"},
                            "y": {"field": "limit", "type": "quantitative"},
                        },
                    },
                ]
            },
        },
        "readings": {
            "title": "Weekly % used: official readings and the limit's prediction",
            "library": "vega-lite",
            "query": _readings_chart(estimates),
            "display": {
                "mark": {"type": "line", "point": True, "tooltip": True},
                "encoding": {
                    "x": {"field": "observed_at", **TEMPORAL},
                    "y": {"field": "percent", "type": "quantitative", "title": "% used"},
                    "color": {"field": "series", "type": "nominal"},
                    # one line per series and week: the line breaks at each reset
                    "detail": {"field": "week", "type": "nominal"},
                },
            },
        },
        "cache": {
            "title": "Cache ratio by day",
            "library": "vega-lite",
            "query": sql.CACHE_RATIO_BY_DAY,
            "display": {
                "mark": {"type": "line", "point": True, "tooltip": True},
                "encoding": {
                    "x": {"field": "date", **TEMPORAL},
                    "y": {
                        "field": "cache_ratio",
                        "type": "quantitative",
                        "axis": {"format": "%"},
                        "title": "cache ratio",
                        "scale": {"domain": [0, 1]},
                    },
                    "color": {"field": "agent", "type": "nominal"},
                },
            },
        },
        "fanout": {
            "title": "Requests per prompt",
            "library": "vega-lite",
            "query": sql.FANOUT,
            "display": {
                "mark": {"type": "bar", "tooltip": True},
                "encoding": {
                    "x": {"field": "requests_per_prompt", "type": "ordinal", "title": "requests per prompt"},
                    "y": {"field": "prompts", "type": "quantitative", "title": "prompts"},
                },
            },
        },
        "cost-by-model": {
            "title": "API cost by model by day (USD)",
            "library": "vega-lite",
            "query": sql.COST_BY_MODEL_BY_DAY,
            "display": {
                "mark": {"type": "bar", "tooltip": True},
                "encoding": {
                    "x": {"field": "date", "type": "ordinal", "title": None},
                    "y": {"field": "cost_usd_known", "type": "quantitative", "title": "USD", "aggregate": "sum"},
                    "color": {"field": "model", "type": "nominal"},
                },
            },
        },
    }
    for chart in charts.values():
        chart["db"] = db
        if chart["library"] == "vega-lite":
            chart["display"] = {**VEGA_LITE, **chart["display"]}
    return {
        "title": f"Coding plan usage ({db})",
        "description": "Prompts, requests, tokens, cache and cost over the period, every account's 5-hour windows"
        " (all its agents and machines) against the plan's limit, and weekly readings against what the limit"
        " predicts, one line per week. Blank filters mean all; pick an account to see one plan, and a plan to"
        " measure against its stated limit where infer-limit has no estimate.",
        "settings": {"allow_fullscreen": True},
        "layout": [
            ["prompts", "requests", "tokens", "cache-ratio", "cost"],
            ["windows", "windows", "windows", "readings", "readings"],
            ["cache", "cache", "fanout", "fanout", "fanout"],
            ["cost-by-model", "cost-by-model", "cost-by-model", "cost-by-model", "cost-by-model"],
        ],
        "filters": {
            "since": {"name": "Since (UTC day)", "type": "date"},
            "until": {"name": "Until (UTC day)", "type": "date"},
            "account": {
                "name": "Account",
                "type": "select",
                "db": db,
                "query": "select distinct account from requests where account is not null order by account",
            },
            "agent": {
                "name": "Agent",
                "type": "select",
                "db": db,
                "query": "select distinct agent from requests order by agent",
            },
            "plan": {"name": "Plan", "type": "select", "db": db, "query": "select plan_id from plans order by plan_id"},
        },
        "charts": charts,
    }
