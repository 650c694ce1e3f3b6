"""The canned queries: name, title, description, parameters and SQL, for one store.

``canned_queries(tables)`` returns Datasette's ``queries`` metadata for a store
holding ``tables`` (its tables and views): queries over ``limit_estimates``
appear only when infer-limit has created that table.
"""

from __future__ import annotations

from analyzer.plugins.datasette import limits, plans, sql

from analyzer.store.views.windows import FIVE_HOURS, WEEK

PERIOD = ["since", "until", "agent", "account"]
PERIOD_MODEL = PERIOD + ["model"]
LOCAL = PERIOD_MODEL + ["utc_offset"]
HOW = (
    " Parameters are optional: since/until take a day (YYYY-MM-DD, UTC unless said otherwise) or an ISO"
    " instant; a blank field means no filter."
)


def _query(title: str, description: str, sql_text: str, params: list[str]) -> dict:
    return {"title": title, "description": description + HOW, "sql": sql_text.strip(), "params": params}


def canned_queries(tables: set[str]) -> dict[str, dict]:
    estimates = "limit_estimates" in tables
    queries = {
        "daily_usage": _query(
            "Daily usage",
            "Requests, typed prompts, the four token classes and API cost per day and agent, as `analyzer report daily`."
            " utc_offset (hours east of UTC, e.g. 8) makes days start at local midnight.",
            sql.DAILY,
            LOCAL,
        ),
        "weekly_usage": _query(
            "Weekly usage (calendar weeks)",
            "Usage per calendar week (Monday first) and agent, as `analyzer report weekly --calendar`.",
            sql.WEEKLY,
            LOCAL,
        ),
        "windows_5h": _query(
            "5-hour windows and their limit",
            "Every 5-hour window of every account, as `analyzer report blocks`: anchored to the vendor's reset time"
            " where a quota reading or limit hit gave one, else estimated, with every agent's and machine's usage."
            " Each with the limit (inferred by infer-limit for the account, else the plan's stated figure; plan ="
            " a plan id from the plans table, else the plan the account's readings name), the usage counted in the"
            " limit's quantity, and the percent of the limit used.",
            limits.windows_with_limits(FIVE_HOURS, estimates),
            PERIOD + ["plan"],
        ),
        "windows_weekly": _query(
            "Plan weeks and their limit",
            "Every 7-day plan window of every account, as `analyzer report weekly`, with its limit and the percent"
            " used.",
            limits.windows_with_limits(WEEK, estimates),
            PERIOD + ["plan"],
        ),
        "readings_vs_fit": _query(
            "Weekly % used: readings against the limit",
            'Each official weekly "% used" reading next to the percent the limit predicts from the usage logged'
            " by every agent of the account between the window's start and the reading. A reading above the"
            " prediction is usage the logs do not hold (another machine not synced, the web app) or a lower limit.",
            limits.readings_against_fit(estimates),
            PERIOD + ["plan"],
        ),
        "cache_ratio_by_day": _query(
            "Cache ratio by day",
            "Cache read / (input + cache read + cache write) per UTC day and agent; null when nothing was sent.",
            sql.CACHE_RATIO_BY_DAY,
            PERIOD_MODEL,
        ),
        "usage_summary": _query(
            "Usage summary",
            "The period at a glance: prompts, requests, tokens, shares of each token class, cache ratio and API"
            " cost, as the overall line of `analyzer stats`.",
            sql.SUMMARY,
            PERIOD_MODEL,
        ),
        "prompt_fanout": _query(
            "Requests per prompt",
            "How many model calls each typed prompt started (tool rounds included), as a distribution: the"
            " prompts `analyzer stats` measures requests per prompt over.",
            sql.FANOUT,
            PERIOD,
        ),
        "costly_sessions": _query(
            "Most costly sessions",
            "Sessions by API-equivalent cost, as `analyzer report session` (prompts count the whole session).",
            sql.SESSIONS,
            PERIOD_MODEL,
        ),
        "costly_prompts": _query(
            "Most costly prompts",
            "Typed prompts by the API-equivalent cost of every model call they started, as `analyzer report prompts`.",
            sql.COSTLY_PROMPTS,
            PERIOD_MODEL,
        ),
        "cost_by_model_by_day": _query(
            "Cost by model by day",
            "API-equivalent cost and tokens per UTC day and model.",
            sql.COST_BY_MODEL_BY_DAY,
            PERIOD_MODEL,
        ),
        "limit_hits": _query(
            "Limit hits",
            "Every refusal the logs recorded, as `analyzer report limits`: when, which window (logged, or"
            " inferred from the wait: at most 5 hours is the 5-hour window), and how long until it reset.",
            sql.LIMIT_HITS,
            PERIOD,
        ),
        "quota_readings": _query(
            "Quota readings",
            'Official "% used" readings, oldest first, as `analyzer quota list`: from the logs, the statusline,'
            " the vendors' usage endpoints or typed by hand.",
            sql.QUOTA_READINGS,
            PERIOD,
        ),
        "plan_comparison": _query(
            "Plan comparison",
            "Every plan's primary limits in your own units over the period, as `analyzer compare-plans`: requests,"
            " prompts and tokens per 5 hours, week and 30 days, from your tokens per request and requests per"
            " prompt. (compare-plans also prices each plan at its model's list price and replays your usage.)",
            plans.PLAN_COMPARISON,
            PERIOD,
        ),
    }
    if estimates:
        queries["limit_estimates"] = {
            "title": "Limit estimates",
            "description": "What each plan window counts and how much fits, from `analyzer infer-limit`: the"
            " quantity, the limit with its interval, and the evidence behind it.",
            "sql": limits.ESTIMATES,
            "params": ["agent", "account"],
        }
        queries["limit_evidence"] = {
            "title": "Limit estimates: evidence for and against",
            "description": "For each estimate, its own fit and every other quantity it was tested against (root"
            " mean square error in percentage points, and how much worse by BIC).",
            "sql": limits.EVIDENCE,
            "params": ["agent", "account"],
        }
        queries["limit_segments"] = {
            "title": "Limit estimates: when the limit changed",
            "description": "The periods over which each limit held, and when the vendor appears to have changed it.",
            "sql": limits.SEGMENTS,
            "params": ["agent", "account"],
        }
    return queries
