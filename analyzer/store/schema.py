"""The schema: one set of migrations that owns every table, applied in order by sqlite-utils.

A migration is never edited once released; a change is a new one. Plugins may add
tables of their own (``register_migrations``), never change these.

Why the tables look the way they do:

* ``requests``, ``prompts``, ``limit_hits``, ``quota_readings`` are keyed by the
  record's own key, so re-reading any file (or a copy of it) upserts instead of
  adding. ``requests`` keeps the best version of each model call
  (``analyzer.store.writer``); nothing is deleted when a source file shrinks or vanishes.
* The four token columns are disjoint; ``reasoning_tokens`` is a subset of
  ``output_tokens``; ``raw_usage`` keeps the vendor's own usage object so that a
  fixed parser can re-derive the columns.
* ``sources`` remembers, per file, how far it was read (byte offset), its
  identity (device, inode, fingerprint of the first bytes) and the parser's
  small state, all committed in the same transaction as the rows they produced.
* Every row carries ``machine_id`` so stores of several machines can be merged.
* ``model_prices`` and ``price_tiers`` are prices resolved by ``analyzer.pricing``
  (derived data, rewritten when their sources change, kept here so that Datasette
  shows what the CLI uses): a tier applies to a request whose input context
  (uncached input + cache read + cache write) exceeds ``above_tokens`` (the base
  tier has 0); prices per million tokens; a null price means none is known.
* ``plans`` and ``plan_limits``: the plans catalogue (bundled and the user's own),
  one row per plan and per (plan, window, unit, basis) it states.
* Stored costs (``COST_COLUMNS`` and ``priced`` on ``requests``): each request is
  priced once by the rule of the ``live_request_costs`` view and read as plain
  columns through ``priced_requests``. ``priced = 1`` promises the stored costs are
  what the prices and the row's tokens give now; it is withdrawn (0) for a new row
  (the default), for a row the writer replaced with a better copy (its upsert sets
  0: a trigger on ``requests`` would make every upsert of an ingest twice as slow),
  for the requests of a model whose ``model_prices``/``price_tiers`` rows changed,
  and for every request when the exchange rate (``meta.usd_cny``) changed
  (triggers). A partial index holds the rows at 0.
* Covering indexes: reports read a request's agent, time, model, project, prompt
  key, tokens and costs, never its raw usage: ``requests_hourly`` holds exactly
  those in (agent, UTC hour) order, so day and window reports scan it without a
  sort. ``quota_readings_anchor`` orders readings as ``window_anchors`` groups them.
* ``limit_estimates``: the latest ``analyzer infer-limit`` estimate per (agent,
  plan, account, scope, window); see ``analyzer.inference.table``.
* Accounts (``analyzer.accounts``): ``requests``, ``limit_hits`` and
  ``quota_readings`` carry the ``account`` that paid and ``attribution``, the
  ``attributions`` row saying what decided it (the rule, an ambiguity note, a
  catalogue plan). ``attribution`` null means "not attributed yet" (a partial
  index holds those rows): rows written without the rules at hand, merged from
  another machine, or stored before accounts existed. ``prompts.account`` is
  the account of the calls the prompt started. ``quota_readings.source_account``
  is what the reading's own source named (the column ``account`` used to hold it);
  ``limit_hits.provider`` where the refused call went, as on ``requests``.
  ``requests_account_hourly`` holds what a window sums (tokens, costs) in
  (account, UTC hour, agent, machine) order: windows are per account;
  ``requests_account_ts`` finds an account's next call (the window walks);
  ``quota_readings_account_anchor`` orders readings as ``window_anchors`` groups them.
* ``machines``: every machine whose rows the store holds (this one, and those
  merged from a synced folder by ``analyzer sync``), its name, and when its
  snapshot was last written or merged.

Stores made before the schema was one set recorded the price, plan, cost and
estimate tables under sets of their own (``analyzer.analysis``, ``analyzer.reports``,
``analyzer.inference``). Those migrations are m003 to m006 here, written so that
running them again on such a store changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

_STEPS: list[Callable] = []


def _migration(fn: Callable) -> Callable:
    """Declare the next migration (its name is the function's)."""
    _STEPS.append(fn)
    return fn


def migration_names() -> list[str]:
    """The core migrations, in order: the schema version is how many of them a store has."""
    return [step.__name__ for step in _STEPS]


def migrations():
    """The core schema as a sqlite-utils migration set (sqlite-utils is imported only here:
    code that needs a column name from this module, on a report's path, must not pay for it)."""
    from sqlite_utils import Migrations

    found = Migrations("analyzer")
    for step in _STEPS:
        found()(step)
    return found


# The priced columns of a request, in the order ``priced_requests`` shows them.
COST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("price_key", "text"),
    ("price_mode", "text"),
    ("cost_usd", "real"),
    ("cost_cny", "real"),
    ("cost_usd_openai", "real"),
    ("cost_cny_openai", "real"),
    ("cost_usd_anthropic", "real"),
    ("cost_cny_anthropic", "real"),
    ("usd_basis", "text"),
    ("cny_basis", "text"),
)
COST_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in COST_COLUMNS)


@_migration
def m001_initial(db):
    db.execute(
        """
        create table if not exists meta (
            key text primary key,
            value text
        )"""
    )
    db.execute(
        """
        create table if not exists sources (
            id integer primary key,
            path text not null unique,
            parser text not null,
            agent text not null,
            dev integer,
            inode integer,
            size integer not null default 0,
            mtime real,
            offset integer not null default 0,
            head_fp text,
            tail_fp text,
            state text,
            status text not null default 'ok',
            first_seen text not null,
            updated_at text not null
        )"""
    )
    db.execute("create index if not exists sources_inode on sources(dev, inode)")
    db.execute(
        """
        create table if not exists requests (
            key text primary key,
            agent text not null,
            session_id text not null,
            ts text not null,
            model text,
            provider text,
            project text,
            input_tokens integer not null default 0,
            cache_read_tokens integer not null default 0,
            cache_write_tokens integer not null default 0,
            cache_write_5m_tokens integer,
            cache_write_1h_tokens integer,
            output_tokens integer not null default 0,
            reasoning_tokens integer not null default 0,
            trigger text not null default 'other',
            prompt_key text,
            is_sidechain integer not null default 0,
            complete integer not null default 1,
            speed text,
            raw_usage text,
            source_id integer,
            source_offset integer,
            machine_id text
        )"""
    )
    db.execute("create index if not exists requests_ts on requests(ts)")
    db.execute("create index if not exists requests_agent_ts on requests(agent, ts)")
    db.execute("create index if not exists requests_session on requests(agent, session_id)")
    db.execute("create index if not exists requests_prompt on requests(prompt_key)")
    db.execute("create index if not exists requests_model on requests(model)")
    db.execute(
        """
        create table if not exists prompts (
            key text primary key,
            agent text not null,
            session_id text not null,
            ts text not null,
            project text,
            text_hash text,
            text_length integer,
            text text,
            is_sidechain integer not null default 0,
            source_id integer,
            source_offset integer,
            machine_id text
        )"""
    )
    db.execute("create index if not exists prompts_session_ts on prompts(agent, session_id, ts)")
    db.execute("create index if not exists prompts_ts on prompts(ts)")
    db.execute(
        """
        create table if not exists limit_hits (
            key text primary key,
            agent text not null,
            session_id text,
            ts text not null,
            reset_at text,
            window_minutes integer,
            limit_type text,
            message text,
            model text,
            source_id integer,
            source_offset integer,
            machine_id text
        )"""
    )
    db.execute("create index if not exists limit_hits_ts on limit_hits(agent, ts)")
    db.execute(
        """
        create table if not exists quota_readings (
            key text primary key,
            agent text not null,
            observed_at text not null,
            used_percent real not null,
            window_minutes integer,
            resets_at text,
            plan_type text,
            scope text,
            source text not null,
            account text,
            raw text,
            source_id integer,
            machine_id text
        )"""
    )
    db.execute("create index if not exists quota_readings_window on quota_readings(agent, window_minutes, observed_at)")
    db.execute(
        """
        create table if not exists sessions (
            agent text not null,
            session_id text not null,
            project text,
            cwd text,
            parent_session_id text,
            client_version text,
            title text,
            is_subagent integer not null default 0,
            machine_id text,
            primary key (agent, session_id)
        )"""
    )
    db.execute(
        """
        create table if not exists ingest_errors (
            source_id integer not null,
            offset integer not null,
            kind text not null,
            reason text not null,
            snippet text,
            first_seen text not null,
            primary key (source_id, offset, kind)
        )"""
    )


@_migration
def m002_model_prices(db):
    # One row per distinct model name seen, resolved by analyzer.pricing; null
    # prices mean "no price known" (cost unknown, never 0). Prices per million tokens.
    db.execute(
        """
        create table if not exists model_prices (
            model text primary key,
            price_key text,
            input real,
            output real,
            cache_read real,
            cache_write_5m real,
            cache_write_1h real,
            tier_threshold integer,
            input_above real,
            output_above real,
            cache_read_above real,
            cache_write_5m_above real,
            cache_write_1h_above real,
            currency text,
            mode text,
            source text
        )"""
    )


@_migration
def m003_price_tiers_and_plans(db):
    db.execute(
        """
        create table if not exists price_tiers (
            model text not null,
            currency text not null,
            above_tokens integer not null default 0,
            input real not null,
            output real not null,
            cache_read real,
            cache_write_5m real,
            cache_write_1h real,
            mode text not null,
            price_key text,
            origin text,
            source text,
            as_of text,
            primary key (model, currency, above_tokens)
        )"""
    )
    db.execute(
        """
        create table if not exists plans (
            plan_id text primary key,
            vendor text not null,
            name text not null,
            region text,
            agents text,
            price real,
            currency text,
            period text,
            models text,
            multipliers text,
            notes text,
            source text,
            as_of text,
            origin text not null default 'bundled'
        )"""
    )
    db.execute(
        """
        create table if not exists plan_limits (
            plan_id text not null,
            window_minutes integer not null,
            unit text not null,
            basis text not null,
            "limit" real,
            low real,
            high real,
            weights text,
            requests_per_unit real,
            window_kind text,
            confidence text,
            source text,
            as_of text,
            note text,
            is_primary integer not null default 0,
            primary key (plan_id, window_minutes, unit, basis)
        )"""
    )


def _stale_model(row: str) -> str:
    return f"update requests set priced = 0 where model = {row}.model and priced = 1;"


@_migration
def m004_request_costs(db):
    present = {row[1] for row in db.execute("pragma table_info(requests)").fetchall()}
    for name, kind in (*COST_COLUMNS, ("priced", "integer not null default 0")):
        if name not in present:
            db.execute(f"alter table requests add column {name} {kind}")
    db.execute("create index if not exists requests_unpriced on requests(model) where priced = 0")
    for table in ("model_prices", "price_tiers"):
        for event, rows in (("insert", ("new",)), ("delete", ("old",)), ("update", ("old", "new"))):
            body = " ".join(_stale_model(row) for row in rows)
            db.execute(
                f"create trigger if not exists {table}_{event}_cost_stale after {event} on {table} begin {body} end"
            )
    for event, when in (
        ("insert", "new.key = 'usd_cny'"),
        ("delete", "old.key = 'usd_cny'"),
        (
            "update",
            "(new.key = 'usd_cny' or old.key = 'usd_cny') and (new.value is not old.value or new.key is not old.key)",
        ),
    ):
        db.execute(
            f"create trigger if not exists meta_{event}_cost_stale after {event} on meta when {when}"
            " begin update requests set priced = 0 where priced = 1; end"
        )


@_migration
def m005_covering_indexes(db):
    db.execute(
        "create index if not exists requests_hourly on requests(agent, substr(ts, 1, 13), ts, model, project,"
        " prompt_key, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, priced,"
        " cost_usd, cost_usd_openai, cost_usd_anthropic, cost_cny)"
    )
    db.execute(
        "create index if not exists quota_readings_anchor on quota_readings(agent, window_minutes, scope, resets_at,"
        " used_percent, observed_at)"
    )


@_migration
def m006_limit_estimates(db):
    db.execute(
        """
        create table if not exists limit_estimates (
            key text primary key,
            agent text not null,
            plan text,
            account text,
            scope text,
            window_minutes integer not null,
            quantity text,
            candidate text,
            label text,
            weights text,
            model_weights text,
            "limit" real,
            low real,
            high real,
            unit text,
            method text not null,
            evidence text,
            segments text,
            alternatives text,
            unexplained text,
            stated text,
            needs text,
            summary text,
            created_at text not null
        )"""
    )


def refetch_unknown_providers(db) -> None:
    """Have the next ingest read again the files of requests stored with no provider, where one decides the account.

    Rows stored before the parsers recorded a provider keep it null (a copy replaces a row only when it is
    better), and the provider is what tells z.ai from bigmodel.cn, Kimi's plan from Moonshot's platform.
    Reading those files again is safe (rows upsert), and a copy that names its provider now beats an equal
    one that does not. Only agents that record one now, and models it can move (not Claude's own).
    """
    db.execute(
        "update sources set offset = 0, size = 0, mtime = null, state = null, tail_fp = null where id in"
        " (select distinct source_id from requests where provider is null and source_id is not null"
        " and agent in ('claude-code', 'kimi-code', 'qwen-code', 'gemini-cli')"
        " and (model is null or lower(model) not like 'claude%'))"
    )


@_migration
def m007_accounts(db):
    added = {
        "requests": (("account", "text"), ("attribution", "integer")),
        "limit_hits": (("provider", "text"), ("account", "text"), ("attribution", "integer")),
        "quota_readings": (("attribution", "integer"), ("source_account", "text")),
        "prompts": (("account", "text"),),
    }
    for table, columns in added.items():
        present = {row[1] for row in db.execute(f"pragma table_info({table})").fetchall()}
        for name, kind in columns:
            if name not in present:
                db.execute(f"alter table {table} add column {name} {kind}")
    # Until now quota_readings.account held what a reading's source named (no reader set it): keep it as
    # such; the column now holds the attributed account.
    db.execute("update quota_readings set source_account = account, account = null where account is not null")
    db.execute(
        """
        create table if not exists attributions (
            id integer primary key,
            key text not null unique,
            account text,
            plan text,
            rule text not null,
            note text
        )"""
    )
    db.execute(
        "create index if not exists requests_account_hourly on requests(account, substr(ts, 1, 13), agent,"
        " machine_id, ts, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,"
        " priced, cost_usd, cost_usd_openai, cost_usd_anthropic, cost_cny)"
    )
    db.execute("create index if not exists requests_account_ts on requests(account, ts)")
    for table in ("requests", "limit_hits", "quota_readings"):
        db.execute(f"create index if not exists {table}_unattributed on {table}(agent) where attribution is null")
    # prompts with no account yet, or none found yet ('': tried again after each ingest pass)
    db.execute(
        "create index if not exists prompts_unattributed on prompts(agent) where account is null or account = ''"
    )
    db.execute("create index if not exists limit_hits_account on limit_hits(account, ts)")
    db.execute(
        "create index if not exists quota_readings_account_anchor on quota_readings(account, window_minutes, scope,"
        " resets_at, agent, used_percent, observed_at)"
    )
    refetch_unknown_providers(db)
    db.execute(
        """
        create table if not exists machines (
            machine_id text primary key,
            name text,
            first_seen text,
            snapshot_at text,
            synced_at text
        )"""
    )
