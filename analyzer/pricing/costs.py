"""Keeping the stored per-request costs current: price what is new, re-price what changed.

Every request row carries its costs (``analyzer.store.schema``): priced once by
the rule in the ``live_request_costs`` view, then read as plain columns through
``priced_requests``. Rows whose costs are not current (``priced = 0``: new rows,
rows whose tokens or model changed, rows of a model whose prices changed, every
row when the exchange rate changed) are priced again, all at once, in one
``UPDATE`` that copies the rule's result into them.

``ensure_costs`` is what a reading command runs first. When nothing is new it
is a look at the price sources' fingerprint and one probe of a tiny partial
index; only when there is work does it take the write lock. The ingester
prices each batch before it commits (``store_batch_costs``), so reports after
an ingest find nothing to do.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from analyzer.store.database import transaction
from analyzer.store.schema import COST_COLUMN_NAMES as COST_COLUMNS

if TYPE_CHECKING:
    from analyzer.pricing.prices import PriceSources
    from analyzer.store.database import Store

_UPDATE = (
    f"update requests set ({', '.join(COST_COLUMNS)}, priced) = ({', '.join(f'l.{c}' for c in COST_COLUMNS)}, 1)"
    " from live_request_costs l where l.request_rowid = requests.rowid and requests.priced = 0"
)


def has_unpriced(db: Store) -> bool:
    """Whether any request's stored costs are not current (a probe of the partial index)."""
    return (
        db.execute("select exists(select 1 from requests indexed by requests_unpriced where priced = 0)").fetchone()[0]
        == 1
    )


def prices_changed(db: Store, sources: PriceSources) -> bool:
    """Whether the price sources (library, bundled table, override file, rate) changed since the last resolution."""
    from analyzer.pricing.prices import fingerprint

    meta = dict(db.execute("select key, value from meta where key in ('price_fingerprint', 'usd_cny')").fetchall())
    return meta.get("price_fingerprint") != fingerprint(sources) or meta.get("usd_cny") != repr(sources.usd_cny)


def update_costs(db: Store, sources: PriceSources | None = None) -> int:
    """Resolve prices for new models (all of them when a source changed), then price every
    row not priced: the caller holds the transaction. Returns the number of rows priced."""
    from analyzer.pricing.prices import refresh_model_prices

    refresh_model_prices(db, sources=sources)
    return db.execute(_UPDATE).rowcount


def ensure_costs(db: Store) -> None:
    """Make every request's stored costs current; cheap when they are.

    A bad price override file raises ``PriceFileError``. A store another writer
    keeps locked (past the busy timeout), or one opened read-only, is left as it
    is: ``priced_requests`` prices the rows that are not current as it reads them.
    """
    if "price_tiers" not in db.table_names():
        return
    from analyzer.pricing.prices import load_sources

    sources = load_sources()
    if not has_unpriced(db) and not prices_changed(db, sources):
        return
    try:
        # BEGIN IMMEDIATE: wait for another writer up front (a deferred transaction
        # that read first could not take the lock later).
        with db.atomic() if db.conn.in_transaction else transaction(db):
            update_costs(db, sources)
    except sqlite3.OperationalError as exc:
        if not any(word in str(exc) for word in ("locked", "busy", "readonly", "read-only")):
            raise
        # Locked or read-only: reads stay correct (priced on the fly), only slower, until the next run.


def store_batch_costs(db: Store) -> None:
    """Price an ingest batch's new or replaced requests inside its own transaction, so that their
    pages are written once (a pass after the commit would write every one of them again). A bad
    price file is left for the reports to tell: the rows then wait, unpriced."""
    if not has_unpriced(db):
        return
    from analyzer.pricing.prices import PriceFileError, load_sources

    try:
        sources = load_sources()
    except PriceFileError:
        return
    update_costs(db, sources)


class PriceBook:
    """The pricing rule of ``live_request_costs``, in Python, for rows being written.

    An ingest prices each request as it writes it (a second pass over the rows,
    in SQL, cost more than everything else the writer does). The rule is the
    view's, step for step, so both give the same stored values; a test checks
    them against each other on every fixture. A model seen for the first time
    is resolved then, inside the writer's transaction.
    """

    def __init__(self, db: Store, sources: PriceSources):
        self.db = db
        self.sources = sources
        fx = db.execute("select value from meta where key = 'usd_cny'").fetchone()
        self.fx = float(fx[0]) if fx and fx[0] is not None else None
        self.models: dict[str, tuple] = {}
        self._load(None)

    @classmethod
    def open(cls, db: Store) -> PriceBook | None:
        """A price book for this store, prices refreshed first if a source changed; None
        when the price files cannot be read (rows then wait unpriced, reports say why)."""
        if "price_tiers" not in db.table_names():
            return None
        from analyzer.pricing.prices import PriceFileError, load_sources, refresh_model_prices

        try:
            sources = load_sources()
        except PriceFileError:
            return None
        if prices_changed(db, sources):
            refresh_model_prices(db, sources=sources)
        return cls(db, sources)

    def _load(self, model: str | None) -> None:
        where, params = ("where p.model = ?", [model]) if model is not None else ("", [])
        tiers: dict[str, dict[str, list]] = {}
        for name, key, currency, above, i, o, cr, w5, w1, mode in self.db.execute(
            "select p.model, p.price_key, t.currency, t.above_tokens, t.input, t.output, t.cache_read, t.cache_write_5m,"
            f" t.cache_write_1h, t.mode from model_prices p left join price_tiers t on t.model = p.model {where}"
            " order by p.model, t.currency, t.above_tokens",
            params,
        ):
            entry = tiers.setdefault(name, {"key": key, "USD": [], "CNY": []})
            if currency in ("USD", "CNY"):
                entry[currency].append((above, i, o, cr, w5, w1, mode))
        for name, entry in tiers.items():
            self.models[name] = (entry["key"], entry["USD"], entry["CNY"])

    def costs(self, model: str | None, inp: int, read: int, write: int, write_1h: int | None, out: int) -> tuple:
        """The ten ``COST_COLUMNS`` of one request (all null when no price is known)."""
        if model is None:
            return _UNPRICED
        known = self.models.get(model)
        if known is None:
            from analyzer.pricing.prices import store_model_prices

            store_model_prices(self.db, [model], self.sources)
            self._load(model)
            known = self.models.get(model, (None, [], []))
            self.models[model] = known
        key, usd_tiers, cny_tiers = known
        context = inp + read + write
        w1 = min(write_1h or 0, write)
        w5 = write - w1
        usd = _tier(usd_tiers, context)
        cny = _tier(cny_tiers, context)
        fx = self.fx
        out_costs = []
        for mode in ("native", "openai", "anthropic"):
            u = _cost(usd, mode, inp, read, w5, w1, out) if usd else None
            c = _cost(cny, mode, inp, read, w5, w1, out) if cny else None
            cost_usd = u if u is not None else (c / fx if c is not None and fx else None)
            cost_cny = c if c is not None else (u * fx if u is not None and fx is not None else None)
            out_costs.append(cost_usd)
            out_costs.append(cost_cny)
        mode = usd[6] if usd else cny[6] if cny else None
        return (
            key,
            mode,
            *out_costs,
            "list" if usd else "converted" if cny else None,
            "list" if cny else "converted" if usd else None,
        )


_UNPRICED = (None,) * 10


def _tier(tiers: list, context: int) -> tuple | None:
    """The tier with the highest threshold the request's context passes (the base tier, 0, always)."""
    chosen = None
    for tier in tiers:
        if tier[0] == 0 or tier[0] < context:
            chosen = tier
    return chosen


def _cost(tier: tuple, mode: str, inp: int, read: int, w5: int, w1: int, out: int) -> float:
    _, i, o, cr, r5, r1, vendor_mode = tier
    if mode == "native":
        rate_read = cr if cr is not None else i
        rate_5 = r5 if r5 is not None else (1.25 * i if vendor_mode == "anthropic" else i)
        rate_1 = r1 if r1 is not None else (2.0 * i if vendor_mode == "anthropic" else i)
    elif mode == "openai":
        rate_read, rate_5, rate_1 = (cr if cr is not None else i), i, i
    else:
        rate_read = cr if cr is not None else 0.1 * i
        rate_5 = r5 if r5 is not None else 1.25 * i
        rate_1 = r1 if r1 is not None else 2.0 * i
    return (inp * i + read * rate_read + w5 * rate_5 + w1 * rate_1 + out * o) / 1000000.0
