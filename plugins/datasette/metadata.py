"""Datasette metadata for analyzer stores: titles, descriptions, units, facets, hidden tables, queries.

``store_metadata(tables)`` is the ``databases: <name>:`` entry for one store;
``metadata(stores)`` the whole document, dashboards included, for every
attached database that is an analyzer store (``stores`` maps its Datasette
name to its tables and views). Units are named in the column descriptions:
Datasette's ``units`` setting only knows physical units.
"""

from __future__ import annotations

from analyzer.plugins.datasette.dashboard import dashboard
from analyzer.plugins.datasette.queries import canned_queries

HIDDEN = ("sources", "_sqlite_migrations", "meta", "model_prices")

TOKENS = {
    "input_tokens": "Uncached input tokens (cache reads and writes are counted apart).",
    "cache_read_tokens": "Input tokens read from the prompt cache.",
    "cache_write_tokens": "Input tokens written to the prompt cache.",
    "output_tokens": "Output tokens, reasoning included.",
    "reasoning_tokens": "The part of the output tokens that was reasoning (already inside output_tokens).",
    "total_tokens": "The four disjoint token classes summed.",
}
COSTS = {
    "cost_usd": "API-equivalent cost in USD as the vendor bills it; null when a model has no known price.",
    "cost_usd_known": "The part of the cost in USD whose prices are known.",
    "cost_cny": "API-equivalent cost in CNY.",
    "unpriced_requests": "Requests whose model has no known price.",
    "cache_ratio": "cache read / (input + cache read + cache write), 0 to 1; null when nothing was sent.",
}
TS = {"ts": "When it happened: UTC, ISO 8601."}

TABLES: dict[str, dict] = {
    "requests": {
        "title": "Requests (model calls)",
        "description": "One row per model call: tool-call rounds and subagent calls included. The best copy of each"
        " call wins when logs repeat it.",
        "columns": {
            **TS,
            **TOKENS,
            "trigger": "What started the call: prompt, tool_result, subagent, compaction, other.",
            "prompt_key": "The typed prompt that started this chain of calls.",
            "is_sidechain": "1 for a subagent's call.",
            "raw_usage": "The vendor's own usage object (JSON).",
        },
        "facets": ["agent", "model", "trigger"],
        "sort_desc": "ts",
    },
    "prompts": {
        "title": "Typed prompts",
        "description": "Messages a person typed (not tool results, not injected messages). Only a hash and the length"
        " are stored unless `analyzer db prompt-text on`.",
        "columns": {**TS, "text_length": "Length in characters.", "text_hash": "SHA-256 of the text."},
        "facets": ["agent", "project"],
        "sort_desc": "ts",
    },
    "sessions": {"title": "Sessions", "facets": ["agent", "project"]},
    "limit_hits": {
        "title": "Limit hits",
        "description": 'Requests the plan refused (429s, "usage limit reached"), with the reset time when logged.',
        "columns": {
            **TS,
            "reset_at": "When the vendor said the limit resets (UTC).",
            "window_minutes": "The window in minutes (300: 5 hours, 10080: a week), when logged.",
        },
        "facets": ["agent", "window_minutes", "limit_type"],
        "sort_desc": "ts",
    },
    "quota_readings": {
        "title": "Quota readings (% used)",
        "description": 'Official "% used" readings of plan windows: from logs, the statusline, vendor endpoints or'
        " typed by hand.",
        "columns": {
            "used_percent": "Percent of the window's limit used, 0 to 100.",
            "window_minutes": "The window in minutes (300: 5 hours, 10080: a week).",
            "resets_at": "When this window instance resets (UTC).",
        },
        "facets": ["agent", "window_minutes", "source", "plan_type"],
        "sort_desc": "observed_at",
    },
    "ingest_errors": {"title": "Skipped log lines", "description": "Lines that could not be used, and why."},
    "price_tiers": {
        "title": "Prices",
        "description": "Resolved API prices per model, currency and tier, per million tokens.",
        "facets": ["currency", "mode"],
    },
    "plans": {
        "title": "Plans catalogue",
        "description": "Coding plans: price, models, source.",
        "facets": ["vendor", "currency"],
    },
    "plan_limits": {
        "title": "Plan limits",
        "description": "What each plan says fits in a window, in its unit.",
        "facets": ["unit", "basis", "window_minutes"],
    },
    "priced_requests": {
        "title": "Requests with their API cost",
        "columns": {**TOKENS, **COSTS},
        "facets": ["agent", "model", "price_mode"],
        "sort_desc": "ts",
    },
    "plan_windows": {
        "title": "Plan windows (5-hour and weekly)",
        "description": "Every 5-hour and weekly window: anchored to a vendor reset, or estimated.",
        "columns": {**TOKENS, **COSTS},
        "facets": ["agent", "window_minutes", "kind"],
    },
    "usage_daily_utc": {"title": "Usage per UTC day", "columns": {**TOKENS, **COSTS}, "facets": ["agent"]},
    "prompt_fanout": {
        "title": "Prompts and the requests each started",
        "columns": {**TOKENS, **COSTS},
        "facets": ["agent"],
    },
    "limit_estimates": {
        "title": "Limit estimates (infer-limit)",
        "description": "What each plan window counts and how much fits: one row per plan window.",
        "facets": ["agent", "window_minutes", "method", "quantity"],
    },
}


def store_metadata(tables: set[str]) -> dict:
    """The ``databases:`` entry of one analyzer store holding ``tables``."""
    described = {name: dict(meta) for name, meta in TABLES.items() if name in tables}
    for name in HIDDEN:
        if name in tables:
            described[name] = {"hidden": True}
    return {
        "title": "Coding-plan usage",
        "description": "Every prompt and model request your coding agents logged, with API prices and plan limits."
        " Start with the dashboard (Dashboards in the menu) or a query below.",
        "tables": described,
        "queries": canned_queries(tables),
    }


def metadata(stores: dict[str, set[str]]) -> dict:
    """The metadata document for every analyzer store attached to Datasette."""
    return {
        "databases": {name: store_metadata(tables) for name, tables in stores.items()},
        "plugins": {"datasette-dashboards": {name: dashboard(name, tables) for name, tables in stores.items()}},
    }
