"""What makes reports fast on a large store: stored per-request costs and covering indexes.

**Stored costs.** Pricing a request in SQL (the long-context tier, both pricing
modes, both currencies) costs more than everything else a report does with it,
so each request is priced once and the result kept on its row
(``analyzer.costs`` fills it in). The columns are those of the
``priced_requests`` view: ``price_key``, ``price_mode``, ``cost_usd``,
``cost_cny``, ``cost_usd_openai``, ``cost_cny_openai``, ``cost_usd_anthropic``,
``cost_cny_anthropic``, ``usd_basis``, ``cny_basis`` (null costs: no known
price), and ``priced``.

``priced = 1`` promises that the stored costs are what the prices and the
row's tokens give now. The promise is withdrawn (``priced = 0``) whenever an
input changes:

* a new row starts at 0 (the column default);
* a better copy of the model call replacing the row: the writer's upsert sets
  0 (``analyzer.writer``; anything else that rewrites a row's model or tokens
  must do the same). Not a trigger: one on ``requests`` makes every upsert of
  an ingest about twice as slow;
* a change to a model's ``model_prices`` or ``price_tiers`` rows: that model's
  requests (triggers);
* a change of the exchange rate (``meta`` key ``usd_cny``): every request (triggers).

A partial index holds the rows at 0, so finding them (or that there are none)
costs next to nothing.

**Covering indexes.** Reports read a request's agent, time, model, project,
prompt key, tokens and costs, never its raw usage JSON or its source:
``requests_hourly`` holds exactly those, so reports scan it instead of the much
wider table. Its order is (agent, UTC hour): grouping by the hour, as the
windows and the day reports do, then needs no sort. ``quota_readings_anchor``
orders the quota readings the way ``window_anchors`` groups them (a store holds
a reading per Codex request).
"""

from __future__ import annotations

from sqlite_utils import Migrations

from analyzer import hookimpl

migrations = Migrations("analyzer.reports")

COST_COLUMNS = (
    ("price_key", "text"), ("price_mode", "text"),
    ("cost_usd", "real"), ("cost_cny", "real"),
    ("cost_usd_openai", "real"), ("cost_cny_openai", "real"),
    ("cost_usd_anthropic", "real"), ("cost_cny_anthropic", "real"),
    ("usd_basis", "text"), ("cny_basis", "text"),
)  # fmt: skip

def _stale_model(row: str) -> str:
    return f"update requests set priced = 0 where model = {row}.model and priced = 1;"


@migrations()
def m001_request_costs(db):
    for name, kind in COST_COLUMNS:
        db.execute(f"alter table requests add column {name} {kind}")
    db.execute("alter table requests add column priced integer not null default 0")
    db.execute("create index if not exists requests_unpriced on requests(model) where priced = 0")
    for table in ("model_prices", "price_tiers"):
        for event, rows in (("insert", ("new",)), ("delete", ("old",)), ("update", ("old", "new"))):
            body = " ".join(_stale_model(row) for row in rows)
            db.execute(f"create trigger if not exists {table}_{event}_cost_stale after {event} on {table}"
                       f" begin {body} end")  # fmt: skip
    for event, when in (("insert", "new.key = 'usd_cny'"), ("delete", "old.key = 'usd_cny'"),
                        ("update", "(new.key = 'usd_cny' or old.key = 'usd_cny')"
                                   " and (new.value is not old.value or new.key is not old.key)")):  # fmt: skip
        db.execute(f"create trigger if not exists meta_{event}_cost_stale after {event} on meta when {when}"
                   " begin update requests set priced = 0 where priced = 1; end")  # fmt: skip


@migrations()
def m002_covering_indexes(db):
    db.execute(
        "create index if not exists requests_hourly on requests(agent, substr(ts, 1, 13), ts, model, project,"
        " prompt_key, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, priced,"
        " cost_usd, cost_usd_openai, cost_usd_anthropic, cost_cny)"
    )
    db.execute(
        "create index if not exists quota_readings_anchor on quota_readings(agent, window_minutes, scope, resets_at,"
        " used_percent, observed_at)"
    )


@hookimpl
def register_migrations(register):
    "Stored per-request costs (columns on requests, their triggers) and covering indexes for reports."
    register(migrations)
