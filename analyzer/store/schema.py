"""Schema migrations, applied in order by sqlite-utils and never edited once released.

Why the tables look the way they do:

* ``requests``, ``prompts``, ``limit_hits``, ``quota_readings`` are keyed by the
  record's own key, so re-reading any file (or a copy of it) upserts instead of
  adding. ``requests`` keeps the best version of each model call (see
  ``analyzer.store``); nothing is deleted when a source file shrinks or vanishes.
* The four token columns are disjoint; ``reasoning_tokens`` is a subset of
  ``output_tokens``; ``raw_usage`` keeps the vendor's own usage object so that a
  fixed parser can re-derive the columns.
* ``sources`` remembers, per file, how far it was read (byte offset), its
  identity (device, inode, fingerprint of the first bytes) and the parser's
  small state, all committed in the same transaction as the rows they produced.
* Every row carries ``machine_id`` so stores of several machines can be merged.
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("analyzer")


@migrations()
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


@migrations()
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
