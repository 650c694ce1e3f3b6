"""The plans catalogue: coding plans as data, bundled and the user's own.

``analyzer/plans/plans.json`` lists every plan the reference notes describe
(price, currency, windows, unit, limit, basis, confidence, source, date of the
figure). A user adds or replaces plans with ``plans.toml`` (or ``plans.json``)
in the user config folder: a list ``[[plan]]`` of the same shape; a plan with
the id of a bundled one replaces it.

The catalogue is mirrored into the store (tables ``plans`` and
``plan_limits``) when it changes, so Datasette shows it.

Units: ``tokens`` and ``credits`` are weighted sums of the four token classes
(``weights``: per model-name prefix, ``*`` for any model); ``requests`` are
model calls; ``prompts`` are typed prompts, unless ``requests_per_unit`` says
the vendor's "prompt" is a bundle of that many model calls; ``percent`` is a
vendor that reports only "% used".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from analyzer.pricing.prices import PriceFileError, normalise_model, read_user_file, user_file

if TYPE_CHECKING:
    import sqlite_utils

UNITS = ("tokens", "prompts", "requests", "credits", "percent")

CLASSES = ("input", "cache_read", "cache_write", "output")


class PlanFileError(PriceFileError):
    """The user's plans file is malformed; the message says where."""


@dataclass(frozen=True)
class Limit:
    window_minutes: int
    unit: str
    basis: str
    limit: float | None = None
    low: float | None = None
    high: float | None = None
    weights: dict | None = None
    requests_per_unit: float | None = None
    window_kind: str | None = None
    confidence: str | None = None
    source: str | None = None
    as_of: str | None = None
    note: str | None = None
    primary: bool = False

    def weight_for(self, model: str | None) -> dict[str, float] | None:
        """Class weights for ``model``: the longest matching prefix, else ``*``."""
        if not self.weights:
            return None
        name = normalise_model(model or "")
        best = None
        for prefix in self.weights:
            if prefix != "*" and name.startswith(prefix) and (best is None or len(prefix) > len(best)):
                best = prefix
        chosen = self.weights.get(best) if best else self.weights.get("*")
        return {c: float((chosen or {}).get(c, 0)) for c in CLASSES} if chosen is not None else None


@dataclass(frozen=True)
class Plan:
    id: str
    vendor: str
    name: str
    price: float | None
    currency: str
    period: str = "month"
    region: str | None = None
    agents: tuple[str, ...] = ()
    models: str | None = None
    multipliers: dict | None = None
    notes: str | None = None
    source: str | None = None
    as_of: str | None = None
    origin: str = "bundled"
    limits: tuple[Limit, ...] = field(default_factory=tuple)
    price_model: str | None = None

    def primary(self) -> list[Limit]:
        return [lim for lim in self.limits if lim.primary and lim.limit is not None]


def _limit(data: dict, where: str) -> Limit:
    try:
        minutes = int(data["window_minutes"])
        unit = str(data["unit"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanFileError(f"{where}: a limit needs window_minutes (a number) and unit: {data!r}") from exc
    if unit not in UNITS:
        raise PlanFileError(f"{where}: unit must be one of {', '.join(UNITS)}, not {unit!r}")
    if unit in ("tokens", "credits") and data.get("primary") and not data.get("weights"):
        raise PlanFileError(f"{where}: a primary {unit} limit needs weights, e.g. {{'*' = {{input = 1, output = 1}}}}")
    if data.get("primary") and (unit == "percent" or data.get("limit") is None):
        raise PlanFileError(f"{where}: a primary limit needs a limit in tokens, credits, requests or prompts")
    for name in ("limit", "low", "high", "requests_per_unit"):
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise PlanFileError(f"{where}: {name} must be a non-negative number, not {value!r}")
    return Limit(
        minutes,
        unit,
        str(data.get("basis", "stated")),
        data.get("limit"),
        data.get("low"),
        data.get("high"),
        data.get("weights"),
        data.get("requests_per_unit"),
        data.get("window_kind"),
        data.get("confidence"),
        data.get("source"),
        data.get("as_of"),
        data.get("note"),
        bool(data.get("primary")),
    )


def _plan(data: dict, origin: str, where: str) -> Plan:
    if not isinstance(data, dict) or not data.get("id") or not data.get("name"):
        raise PlanFileError(f"{where}: every plan needs an id and a name: {data!r}")
    here = f"{where} plan {data['id']!r}"
    price = data.get("price")
    if price is not None and (isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0):
        raise PlanFileError(f"{here}: price must be a non-negative number")
    currency = str(data.get("currency", "USD")).upper()
    if currency not in ("USD", "CNY"):
        raise PlanFileError(f"{here}: currency must be USD or CNY, not {currency!r}")
    limits = tuple(_limit(lim, here) for lim in data.get("limits", []))
    return Plan(
        str(data["id"]),
        str(data.get("vendor", "")),
        str(data["name"]),
        price,
        currency,
        str(data.get("period", "month")),
        data.get("region"),
        tuple(data.get("agents") or ()),
        data.get("models"),
        data.get("multipliers"),
        data.get("notes"),
        data.get("source"),
        data.get("as_of"),
        origin,
        limits,
        data.get("price_model"),
    )


def _bundled_text() -> str:
    return (Path(__file__).parent / "plans.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def bundled_plans() -> tuple[Plan, ...]:
    return tuple(_plan(p, "bundled", "analyzer/plans/plans.json") for p in json.loads(_bundled_text())["plans"])


def load_catalogue() -> list[Plan]:
    """Bundled plans, with the user's plans added (same id: the user's replaces it)."""
    plans = {p.id: p for p in bundled_plans()}
    path = user_file("plans")
    if path is not None:
        try:
            data = read_user_file(path)
        except PriceFileError as exc:
            raise PlanFileError(str(exc)) from exc
        entries = data.get("plan", data.get("plans", []))
        if not isinstance(entries, list):
            raise PlanFileError(f"{path}: 'plan' must be a list of plans")
        for entry in entries:
            plan = _plan(entry, "user", str(path))
            plans[plan.id] = plan
    return list(plans.values())


def sync_catalogue(db: sqlite_utils.Database, plans: list[Plan] | None = None) -> list[Plan]:
    """Mirror the catalogue into ``plans`` / ``plan_limits`` when it changed; return it."""
    plans = load_catalogue() if plans is None else plans
    if "plans" not in db.table_names():
        return plans
    stamp = hashlib.sha1(repr(plans).encode()).hexdigest()
    row = db.execute("select value from meta where key = 'plans_fingerprint'").fetchone()
    if row and row[0] == stamp:
        return plans
    dumps = lambda v: None if v is None else json.dumps(v, ensure_ascii=False)  # noqa: E731
    try:
        with db.atomic():
            db.execute("delete from plan_limits")
            db.execute("delete from plans")
            db.conn.executemany(
                "insert into plans (plan_id, vendor, name, region, agents, price, currency, period, models, multipliers,"
                " notes, source, as_of, origin) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.id,
                        p.vendor,
                        p.name,
                        p.region,
                        dumps(list(p.agents)),
                        p.price,
                        p.currency,
                        p.period,
                        p.models,
                        dumps(p.multipliers),
                        p.notes,
                        p.source,
                        p.as_of,
                        p.origin,
                    )
                    for p in plans
                ],
            )
            db.conn.executemany(
                'insert or replace into plan_limits (plan_id, window_minutes, unit, basis, "limit", low, high, weights,'
                " requests_per_unit, window_kind, confidence, source, as_of, note, is_primary)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.id,
                        lim.window_minutes,
                        lim.unit,
                        lim.basis,
                        lim.limit,
                        lim.low,
                        lim.high,
                        dumps(lim.weights),
                        lim.requests_per_unit,
                        lim.window_kind,
                        lim.confidence,
                        lim.source,
                        lim.as_of,
                        lim.note,
                        int(lim.primary),
                    )
                    for p in plans
                    for lim in p.limits
                ],
            )
            db.execute(
                "insert into meta (key, value) values ('plans_fingerprint', ?)"
                " on conflict(key) do update set value = excluded.value",
                [stamp],
            )
    except Exception as exc:  # a reader that cannot take the write lock still gets the catalogue
        import sqlite3

        if not isinstance(exc, sqlite3.OperationalError):
            raise
    return plans


def find(plans: list[Plan], plan_id: str) -> Plan | None:
    return next((p for p in plans if p.id == plan_id), None)
