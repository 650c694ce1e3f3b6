"""Tables the analysis owns: resolved price tiers and the plans catalogue.

They are derived data (re-written from ``analyzer.pricing`` and
``analyzer.plans`` when their sources change), kept in the store so that
Datasette shows the same prices and plans the CLI uses.

* ``price_tiers``: one row per (model name as logged, currency, tier). A tier
  applies to a request whose input context (uncached input + cache read +
  cache write) exceeds ``above_tokens``; the base tier has ``above_tokens = 0``.
  Prices per million tokens; null cache prices mean the vendor lists none.
* ``plans``: one row per coding plan (bundled catalogue and the user's own).
* ``plan_limits``: one row per (plan, window, unit, basis): what the plan says
  (or the community measured) fits in a window.
"""

from __future__ import annotations

from sqlite_utils import Migrations

from analyzer import hookimpl

migrations = Migrations("analyzer.analysis")


@migrations()
def m001_price_tiers(db):
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


@migrations()
def m002_plans(db):
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


@hookimpl
def register_migrations(register):
    "The analysis tables: price tiers and the plans catalogue."
    register(migrations)
