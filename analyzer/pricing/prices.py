"""API prices per model, resolved once per distinct model name into the store.

The store prices requests in SQL (the ``priced_requests`` view), so Datasette
and the CLI agree. This module decides, for every model name seen in
``requests``, which list prices apply, and writes them into ``price_tiers``
(one row per model, currency and long-context tier) and a summary row into
``model_prices``. A model with no price has no tier rows: its cost is
*unknown*, never 0.

Where prices come from, first match wins, per currency:

* **USD**: the user's override file, then the ``genai-prices`` library (a
  maintained price list, bundled with the package, used offline: this module
  never asks it to download anything), then the small bundled table
  ``analyzer/pricing/prices.json`` for what the library lacks.
* **CNY**: the user's override file, then the bundled table (the Chinese
  vendors' own CNY list prices). A currency with no list price is converted
  from the other at the ``usd_cny`` rate (bundled, or set in the override file),
  and the view says which (``usd_basis`` / ``cny_basis``: list or converted).

The override file is ``prices.toml`` (or ``prices.json``) in the user config
folder (``analyzer cost --prices-file`` prints the path)::

    usd_cny = 7.2
    [[price]]
    match = "my-model"          # a model name, or a prefix ending at - . : _
    currency = "USD"            # or "CNY"
    mode = "openai"             # how the vendor bills cache writes: openai or anthropic
    input = 1.0                 # per million tokens
    output = 4.0
    cache_read = 0.1            # optional; omitted = not listed
    [[price.tier]]              # optional long-context tiers
    above = 200000
    input = 2.0
    output = 8.0

Names are matched after normalising: lower case, provider prefixes
(``anthropic/``), context suffixes (``[1m]``) and date stamps (``-20250929``)
removed; then the longest table entry that is the whole name or a prefix of it
ending at ``-``, ``.``, ``:`` or ``_`` wins.

The resolution is redone for every model when any source changes (library
version, bundled table, override file, exchange rate): a fingerprint of them is
kept in ``meta``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

APP_NAME = "coding-plan-analyzer"

CURRENCIES = ("USD", "CNY")
RATE_FIELDS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
_DATE = re.compile(r"[-@]\d{8}$|[-@]\d{4}-\d{2}-\d{2}$")
_BRACKETS = re.compile(r"\[[^\]]*\]$")

# Model-name prefix -> the genai-prices provider that sells it first-hand.
# Only these are asked: the library also lists resellers, whose prices differ.
LIBRARY_PROVIDERS = (
    ("claude", "anthropic"),
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("codex", "openai"),
    ("gemini", "google"),
    ("kimi", "moonshotai"),
    ("moonshot", "moonshotai"),
    ("glm", "zai"),
    ("minimax", "minimax"),
    ("deepseek", "deepseek"),
    ("grok", "x-ai"),
    ("devstral", "mistral"),
    ("codestral", "mistral"),
    ("mistral", "mistral"),
)


class PriceFileError(ValueError):
    """The user's price override file cannot be read; the message says why."""


@dataclass(frozen=True)
class Tier:
    """Prices per million tokens, for requests whose input context exceeds ``above``."""

    above: int
    input: float
    output: float
    cache_read: float | None = None
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None


@dataclass(frozen=True)
class Price:
    """The list prices of one model in one currency, with their origin."""

    key: str
    currency: str
    mode: str  # "anthropic": cache writes billed 1.25x / 2x input; "openai": cache writes are plain input
    tiers: tuple[Tier, ...]
    source: str = ""
    as_of: str | None = None
    origin: str = "bundled"  # bundled, library or user

    @property
    def base(self) -> Tier:
        return self.tiers[0]

    def tier_for(self, context_tokens: int) -> Tier:
        chosen = self.tiers[0]
        for tier in self.tiers[1:]:
            if context_tokens > tier.above:
                chosen = tier
        return chosen


@dataclass
class PriceSources:
    """Every table the resolution draws from, and the exchange rate."""

    user: dict[str, dict[str, Price]] = field(default_factory=dict)
    bundled: dict[str, dict[str, Price]] = field(default_factory=dict)
    usd_cny: float = 7.1
    usd_cny_source: str = ""
    user_file: Path | None = None
    use_library: bool = True


# --- tables ----------------------------------------------------------------------


def _price_from_entry(entry: dict, origin: str, where: str) -> Price:
    try:
        match = str(entry["match"]).strip().lower()
        currency = str(entry.get("currency", "USD")).upper()
        mode = str(entry.get("mode", "openai")).lower()
        if currency not in CURRENCIES:
            raise ValueError(f"currency must be one of {', '.join(CURRENCIES)}, not {currency!r}")
        if mode not in ("openai", "anthropic"):
            raise ValueError(f"mode must be openai or anthropic, not {mode!r}")
        raw_tiers = entry.get("tiers") or entry.get("tier")
        tiers = [_tier({"above": 0, **entry} if "tiers" not in entry else raw_tiers[0])]
        for extra in (raw_tiers or [])[(1 if "tiers" in entry else 0) :]:
            tiers.append(_tier(extra))
    except (KeyError, TypeError, IndexError) as exc:
        raise PriceFileError(f"{where}: price entry {entry!r} lacks a field: {exc}") from exc
    except ValueError as exc:
        raise PriceFileError(f"{where}: price entry {entry.get('match')!r}: {exc}") from exc
    tiers.sort(key=lambda t: t.above)
    return Price(match, currency, mode, tuple(tiers), str(entry.get("source", "")), entry.get("date"), origin)


def _tier(data: dict) -> Tier:
    values = {}
    for name in RATE_FIELDS:
        value = data.get(name)
        if value is None:
            if name in ("input", "output"):
                raise KeyError(name)
            values[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, not {value!r}")
        values[name] = float(value)
    above = data.get("above", 0)
    if isinstance(above, bool) or not isinstance(above, int) or above < 0:
        raise ValueError(f"above must be a non-negative whole number of tokens, not {above!r}")
    return Tier(above=above, **values)


def _table(entries: list[dict], origin: str, where: str) -> dict[str, dict[str, Price]]:
    table: dict[str, dict[str, Price]] = {c: {} for c in CURRENCIES}
    for entry in entries:
        price = _price_from_entry(entry, origin, where)
        table[price.currency][price.key] = price
    return table


def _bundled_text() -> str:
    return (Path(__file__).parent / "prices.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def bundled_data() -> dict:
    return json.loads(_bundled_text())


def bundled_prices(currency: str = "USD") -> dict[str, Price]:
    return _table(bundled_data()["prices"], "bundled", "analyzer/pricing/prices.json")[currency]


def config_dir() -> Path:
    """The user config folder (override files for prices and plans live here)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def user_file(stem: str) -> Path | None:
    """``<config>/<stem>.toml`` or ``.json``, whichever exists (TOML first)."""
    for suffix in (".toml", ".json"):
        path = config_dir() / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def read_user_file(path: Path) -> dict:
    """Parse a TOML or JSON override file into a dict, with a clear error."""
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise PriceFileError(f"{path} is not valid {path.suffix[1:].upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise PriceFileError(f"{path}: expected a table/object at the top level")
    return data


def load_sources(*, use_library: bool = True) -> PriceSources:
    data = bundled_data()
    sources = PriceSources(
        bundled=_table(data["prices"], "bundled", "analyzer/pricing/prices.json"),
        usd_cny=float(data["fx"]["usd_cny"]),
        usd_cny_source=f"bundled ({data['fx']['date']}): {data['fx']['source']}",
        use_library=use_library,
    )
    path = user_file("prices")
    if path is not None:
        user = read_user_file(path)
        entries = user.get("price", user.get("prices", []))
        if not isinstance(entries, list):
            raise PriceFileError(f"{path}: 'price' must be a list of entries")
        sources.user = _table(entries, "user", str(path))
        sources.user_file = path
        if "usd_cny" in user:
            rate = user["usd_cny"]
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
                raise PriceFileError(f"{path}: usd_cny must be a positive number, not {rate!r}")
            sources.usd_cny = float(rate)
            sources.usd_cny_source = f"user ({path})"
    return sources


# --- matching --------------------------------------------------------------------


def normalise_model(model: str) -> str:
    name = model.strip().lower()
    if "/" in name:
        name = name.rsplit("/", 1)[1]
    name = _BRACKETS.sub("", name)
    name = _DATE.sub("", name)
    return name


def match(model: str | None, table: dict[str, Price]) -> Price | None:
    """The entry of ``table`` for ``model``: exact, else the longest prefix at a separator."""
    if not model:
        return None
    name = normalise_model(model)
    if name in table:
        return table[name]
    best = None
    for key in table:
        if name.startswith(key) and name[len(key)] in "-.:_" and (best is None or len(key) > len(best)):
            best = key
    return table[best] if best else None


def resolve(model: str | None, table: dict[str, Price] | None = None) -> Price | None:
    """The bundled USD price of ``model`` (or its price in ``table``)."""
    return match(model, bundled_prices("USD") if table is None else table)


def library_version() -> str | None:
    from analyzer.registry.entry_points import installed_version

    return installed_version("genai-prices")


def library_price(model: str) -> Price | None:
    """The USD list price genai-prices gives for ``model`` at its first-hand provider."""
    name = normalise_model(model)
    provider = next((p for prefix, p in LIBRARY_PROVIDERS if name.startswith(prefix)), None)
    if provider is None or library_version() is None:
        return None
    from datetime import datetime, timezone

    from genai_prices import (
        data_snapshot,  # heavy import: only when a new model needs a price
    )
    from genai_prices.types import TieredPrices

    try:
        found_provider, info = data_snapshot.get_snapshot().find_provider_model(name, None, provider, None)
    except LookupError:
        return None
    prices = info.get_prices(datetime.now(timezone.utc))
    keys = {
        "input": "input_mtok",
        "output": "output_mtok",
        "cache_read": "cache_read_mtok",
        "cache_write_5m": "cache_write_mtok",
        "cache_write_1h": "cache_write_1h_mtok",
    }
    raw = {name: getattr(prices, key, None) for name, key in keys.items()}
    if raw["input"] is None or raw["output"] is None:
        return None
    starts = sorted({t.start for v in raw.values() if isinstance(v, TieredPrices) for t in v.tiers})

    def at(value, start: int) -> float | None:
        if value is None:
            return None
        if isinstance(value, TieredPrices):
            chosen = value.base
            for tier in value.tiers:
                if start > tier.start or (start == tier.start and start > 0):
                    chosen = tier.price
            return float(chosen)
        return float(value)

    tiers = tuple(Tier(above=s, **{n: at(v, s) for n, v in raw.items()}) for s in [0, *starts])
    mode = "anthropic" if found_provider.id == "anthropic" else "openai"
    return Price(
        name, "USD", mode, tiers, f"genai-prices {library_version()} {found_provider.id}/{info.id}", None, "library"
    )


def resolve_all(model: str, sources: PriceSources) -> dict[str, Price | None]:
    """The price of ``model`` in each currency (None where no list price is known)."""
    usd = match(model, sources.user.get("USD", {}))
    if usd is None and sources.use_library:
        usd = library_price(model)
    if usd is None:
        usd = match(model, sources.bundled["USD"])
    cny = match(model, sources.user.get("CNY", {})) or match(model, sources.bundled["CNY"])
    return {"USD": usd, "CNY": cny}


def cached_prices(db: sqlite_utils.Database, models: list[str], sources: PriceSources) -> dict[str, dict]:
    """``resolve_all`` for each of ``models`` (names that need not appear in the store, e.g. a plan's
    model), remembered in ``meta`` until a price source changes: the price library is slow to load."""
    stamp = fingerprint(sources)
    try:
        cache = json.loads(_get_meta(db, "price_cache") or "{}")
    except ValueError:
        cache = {}
    if cache.get("fingerprint") != stamp:
        cache = {"fingerprint": stamp, "models": {}}
    missing = [m for m in dict.fromkeys(models) if m not in cache["models"]]
    for model in missing:
        cache["models"][model] = {c: _price_json(p) for c, p in resolve_all(model, sources).items()}
    if missing:
        try:
            _set_meta(db, "price_cache", json.dumps(cache, sort_keys=True))
        except sqlite3.OperationalError:
            pass  # a store locked by a writer: resolved again next time
    return {m: {c: _price_from_json(d) for c, d in cache["models"][m].items()} for m in models}


def _price_json(price: Price | None) -> dict | None:
    if price is None:
        return None
    return {
        "key": price.key,
        "currency": price.currency,
        "mode": price.mode,
        "source": price.source,
        "as_of": price.as_of,
        "origin": price.origin,
        "tiers": [t.__dict__ for t in price.tiers],
    }


def _price_from_json(data: dict | None) -> Price | None:
    if data is None:
        return None
    tiers = tuple(Tier(**t) for t in data["tiers"])
    return Price(data["key"], data["currency"], data["mode"], tiers, data["source"], data["as_of"], data["origin"])


# --- the store ---------------------------------------------------------------------


def fingerprint(sources: PriceSources) -> str:
    h = hashlib.sha1()
    h.update(_bundled_text().encode())
    h.update(str(library_version() if sources.use_library else "off").encode())
    h.update(repr(sources.usd_cny).encode())
    if sources.user_file is not None:
        h.update(str(sources.user_file).encode())
        h.update(sources.user_file.read_bytes())
    return h.hexdigest()


def _get_meta(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute("select value from meta where key = ?", [key]).fetchone()
    return row[0] if row else None


def _set_meta(db: sqlite_utils.Database, key: str, value: str) -> None:
    db.execute(
        "insert into meta (key, value) values (?, ?) on conflict(key) do update set value = excluded.value",
        [key, value],
    )


def refresh_model_prices(
    db: sqlite_utils.Database, *, all_models: bool = False, sources: PriceSources | None = None
) -> int:
    """Resolve prices for models the store has not priced yet (all of them when a source changed)."""
    sources = sources or load_sources()
    conn = db.conn
    stamp = fingerprint(sources)
    if _get_meta(db, "price_fingerprint") != stamp:
        all_models = True
    if all_models:
        models = [r[0] for r in conn.execute("select distinct model from requests where model is not null")]
    else:
        # A model with no price resolved yet has only rows whose costs are not current
        # (analyzer.report_schema), which a small partial index holds.
        models = [
            r[0]
            for r in conn.execute(
                "select distinct model from requests indexed by requests_unpriced where priced = 0 and model is not null"
                " and model not in (select model from model_prices)"
            )
        ]
    store_model_prices(db, models, sources)
    if _get_meta(db, "usd_cny") != repr(sources.usd_cny):
        _set_meta(db, "usd_cny", repr(sources.usd_cny))
    if _get_meta(db, "price_fingerprint") != stamp:
        _set_meta(db, "price_fingerprint", stamp)
    return len(models)


def store_model_prices(db: sqlite_utils.Database, models: list[str], sources: PriceSources) -> None:
    """Resolve each of ``models`` and (re)write its ``model_prices`` and ``price_tiers`` rows."""
    conn = db.conn
    summary, tiers = [], []
    for model in models:
        found = resolve_all(model, sources)
        usd, cny = found["USD"], found["CNY"]
        main = usd or cny
        base = usd.base if usd else None
        above = usd.tiers[1] if usd and len(usd.tiers) > 1 else None
        summary.append(
            (
                model,
                main.key if main else None,
                base.input if base else None,
                base.output if base else None,
                base.cache_read if base else None,
                base.cache_write_5m if base else None,
                base.cache_write_1h if base else None,
                above.above if above else None,
                above.input if above else None,
                above.output if above else None,
                above.cache_read if above else None,
                above.cache_write_5m if above else None,
                above.cache_write_1h if above else None,
                "+".join(p.currency for p in (usd, cny) if p) or None,
                main.mode if main else None,
                "; ".join(f"{p.currency}: {p.source}" for p in (usd, cny) if p) or None,
            )
        )
        for price in (usd, cny):
            if price is None:
                continue
            for t in price.tiers:
                tiers.append(
                    (
                        model,
                        price.currency,
                        t.above,
                        t.input,
                        t.output,
                        t.cache_read,
                        t.cache_write_5m,
                        t.cache_write_1h,
                        price.mode,
                        price.key,
                        price.origin,
                        price.source,
                        price.as_of,
                    )
                )
    if models:
        conn.executemany("delete from price_tiers where model = ?", [(m,) for m in models])
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
            summary,
        )
        conn.executemany(
            "insert into price_tiers (model, currency, above_tokens, input, output, cache_read, cache_write_5m,"
            " cache_write_1h, mode, price_key, origin, source, as_of) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            tiers,
        )
