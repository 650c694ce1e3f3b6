"""Keeping the stored per-request costs current: price what is new, re-price what changed.

Every request row carries its costs (``analyzer.report_schema``): priced once by
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

from .store import transaction
from .views import COST_COLUMNS

if TYPE_CHECKING:
    from .pricing import PriceSources
    from .store import Store

_UPDATE = (
    f"update requests set ({', '.join(COST_COLUMNS)}, priced) = ({', '.join(f'l.{c}' for c in COST_COLUMNS)}, 1)"
    " from live_request_costs l where l.request_rowid = requests.rowid and requests.priced = 0"
)


def has_unpriced(db: Store) -> bool:
    """Whether any request's stored costs are not current (a probe of the partial index)."""
    return db.execute("select exists(select 1 from requests indexed by requests_unpriced where priced = 0)").fetchone()[0] == 1


def prices_changed(db: Store, sources: PriceSources) -> bool:
    """Whether the price sources (library, bundled table, override file, rate) changed since the last resolution."""
    from .pricing import fingerprint

    meta = dict(db.execute("select key, value from meta where key in ('price_fingerprint', 'usd_cny')").fetchall())
    return meta.get("price_fingerprint") != fingerprint(sources) or meta.get("usd_cny") != repr(sources.usd_cny)


def update_costs(db: Store, sources: PriceSources | None = None) -> int:
    """Resolve prices for new models (all of them when a source changed), then price every
    row not priced: the caller holds the transaction. Returns the number of rows priced."""
    from .pricing import refresh_model_prices

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
    from .pricing import load_sources

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
    from .pricing import PriceFileError, load_sources

    try:
        sources = load_sources()
    except PriceFileError:
        return
    update_costs(db, sources)
