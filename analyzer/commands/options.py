"""Options shared by commands: the store, filters, output format."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from analyzer.contract.timeutil import parse_day_or_instant, resolve_tz
from analyzer.reports.filters import Filters
from analyzer.store import database as store


def db_option(fn):
    """``--db PATH``; defaults to ANALYZER_DB, else the user data folder."""
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="ANALYZER_DB",
        help="SQLite store (default: ANALYZER_DB, else the user data folder; see `analyzer db path`).",
    )(fn)


def open_store(db_path: Path | None, *, migrate: bool = True, create: bool = False):
    """Open the store for a command. Only commands that write (``create=True``) make the
    folder of a new store, and say so; a reading command stops with a sentence instead."""
    path = db_path or store.default_db_path()
    new = create and not path.parent.is_dir()
    try:
        db = store.open_db(path, migrate=migrate, create=create)
    except store.StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if new:
        click.echo(f"New store: {path} (its folder did not exist; created it).", err=True)
    return db


def _agent_callback(ctx, param, value):
    if not value:
        return ()
    from analyzer.registry.parsers import agents

    known = set(agents())
    names = []
    for item in value:
        for name in item.split(","):
            name = name.strip()
            if not name:
                continue
            if name not in known:
                raise click.BadParameter(f"unknown agent {name!r}; known: {', '.join(sorted(known))}")
            names.append(name)
    return tuple(names)


def _list_callback(ctx, param, value):
    return tuple(name.strip() for item in value for name in item.split(",") if name.strip())


def filter_options(fn):
    """``--agent``, ``--account``, ``--machine``, ``--since``, ``--until``, ``--tz`` -> a ``filters`` argument."""

    @click.option(
        "--agent",
        "agents",
        multiple=True,
        callback=_agent_callback,
        help="Only this agent (repeat or comma-separate), e.g. claude-code, codex.",
    )
    @click.option(
        "--account",
        "accounts",
        multiple=True,
        callback=_list_callback,
        help="Only this account (repeat or comma-separate), e.g. zai, anthropic; `analyzer accounts` lists them.",
    )
    @click.option(
        "--machine",
        "machines",
        multiple=True,
        callback=_list_callback,
        help="Only rows read on this machine (its name or id; `analyzer db status` lists them).",
    )
    @click.option("--since", help="From this local day (YYYY-MM-DD) or ISO instant.")
    @click.option("--until", help="Up to and including this local day (YYYY-MM-DD), or before this ISO instant.")
    @click.option("--tz", "tz_name", help="IANA time zone for days and times (default: the local zone).")
    @functools.wraps(fn)
    def wrapper(*args, agents, accounts, machines, since, until, tz_name, **kwargs):
        try:
            tz = resolve_tz(tz_name)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--tz") from exc
        try:
            since_i = parse_day_or_instant(since, tz) if since else None
        except ValueError as exc:
            raise click.BadParameter(f"{since!r} is not a day (YYYY-MM-DD) or ISO time", param_hint="--since") from exc
        try:
            until_i = parse_day_or_instant(until, tz, end=True) if until else None
        except ValueError as exc:
            raise click.BadParameter(f"{until!r} is not a day (YYYY-MM-DD) or ISO time", param_hint="--until") from exc
        if since_i and until_i and since_i >= until_i:
            raise click.BadParameter("--since must be before --until")
        kwargs["filters"] = Filters(
            agents=agents, since=since_i, until=until_i, tz=tz, accounts=accounts, machines=machines
        )
        return fn(*args, **kwargs)

    return wrapper


def format_options(csv: bool = True):
    """``--json`` (and ``--csv``) -> a ``fmt`` argument: table, json or csv."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, as_json=False, as_csv=False, **kwargs):
            if as_json and as_csv:
                raise click.UsageError("choose one of --json and --csv")
            kwargs["fmt"] = "json" if as_json else "csv" if as_csv else "table"
            return fn(*args, **kwargs)

        wrapper = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(wrapper)
        if csv:
            wrapper = click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")(wrapper)
        return wrapper

    return decorate
