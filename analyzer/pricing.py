"""API prices per model, resolved once per distinct model name into ``model_prices``.

The store prices requests in SQL (the ``priced_requests`` view), so Datasette
and the CLI agree. This module decides, for every model name seen in
``requests``, which price applies, and writes that into ``model_prices``. A
model with no price gets a row with null prices: its cost is *unknown*, never 0.

Names are matched after normalising: lower case, provider prefixes
(``anthropic/``), context suffixes (``[1m]``) and date stamps (``-20250929``,
``@20250929``) removed; then the longest table entry that is the whole name or
a prefix of it ending at a ``-`` wins.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import sqlite_utils

_DATE = re.compile(r"[-@]\d{8}$|[-@]\d{4}-\d{2}-\d{2}$")
_BRACKETS = re.compile(r"\[[^\]]*\]$")


@dataclass(frozen=True)
class Price:
    """USD (or ``currency``) per million tokens."""

    key: str
    input: float
    output: float
    cache_read: float | None
    cache_write_5m: float | None
    cache_write_1h: float | None
    currency: str = "USD"
    mode: str = "anthropic"
    tier_threshold: int | None = None
    above: dict | None = None
    source: str = ""


@lru_cache(maxsize=1)
def bundled_prices() -> dict[str, Price]:
    data = json.loads(resources.files("analyzer").joinpath("data/prices.json").read_text())
    table = {}
    for entry in data["prices"]:
        above = entry.get("above")
        table[entry["match"]] = Price(
            key=entry["match"],
            input=entry["input"],
            output=entry["output"],
            cache_read=entry.get("cache_read"),
            cache_write_5m=entry.get("cache_write_5m"),
            cache_write_1h=entry.get("cache_write_1h"),
            currency=entry.get("currency", "USD"),
            mode=entry.get("mode", "anthropic"),
            tier_threshold=above["threshold"] if above else None,
            above=above,
            source=entry.get("source", ""),
        )
    return table


def normalise_model(model: str) -> str:
    name = model.strip().lower()
    if "/" in name:
        name = name.rsplit("/", 1)[1]
    name = _BRACKETS.sub("", name)
    name = _DATE.sub("", name)
    return name


def resolve(model: str | None, table: dict[str, Price] | None = None) -> Price | None:
    if not model:
        return None
    table = bundled_prices() if table is None else table
    name = normalise_model(model)
    if name in table:
        return table[name]
    best = None
    for key in table:
        if name.startswith(key) and name[len(key)] in "-.:_" and (best is None or len(key) > len(best)):
            best = key
    return table[best] if best else None


def refresh_model_prices(db: sqlite_utils.Database, *, all_models: bool = False) -> int:
    """Resolve prices for models in ``requests`` that ``model_prices`` lacks."""
    conn = db.conn
    if all_models:
        models = [r[0] for r in conn.execute("select distinct model from requests where model is not null")]
    else:
        models = [
            r[0]
            for r in conn.execute(
                "select distinct model from requests where model is not null"
                " and model not in (select model from model_prices)"
            )
        ]
    rows = []
    for model in models:
        price = resolve(model)
        above = (price.above or {}) if price else {}
        rows.append(
            (
                model,
                price.key if price else None,
                price.input if price else None,
                price.output if price else None,
                price.cache_read if price else None,
                price.cache_write_5m if price else None,
                price.cache_write_1h if price else None,
                price.tier_threshold if price else None,
                above.get("input"),
                above.get("output"),
                above.get("cache_read"),
                above.get("cache_write_5m"),
                above.get("cache_write_1h"),
                price.currency if price else None,
                price.mode if price else None,
                price.source if price else None,
            )
        )
    if rows:
        conn.executemany(
            "insert into model_prices (model, price_key, input, output, cache_read, cache_write_5m, cache_write_1h,"
            " tier_threshold, input_above, output_above, cache_read_above, cache_write_5m_above, cache_write_1h_above,"
            " currency, mode, source) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " on conflict(model) do update set price_key = excluded.price_key, input = excluded.input,"
            " output = excluded.output, cache_read = excluded.cache_read, cache_write_5m = excluded.cache_write_5m,"
            " cache_write_1h = excluded.cache_write_1h, tier_threshold = excluded.tier_threshold,"
            " input_above = excluded.input_above, output_above = excluded.output_above,"
            " cache_read_above = excluded.cache_read_above, cache_write_5m_above = excluded.cache_write_5m_above,"
            " cache_write_1h_above = excluded.cache_write_1h_above, currency = excluded.currency,"
            " mode = excluded.mode, source = excluded.source",
            rows,
        )
    return len(rows)
