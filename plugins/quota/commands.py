"""``analyzer quota poll|add|list``: official "% used" readings, from vendors, by hand, stored."""

from __future__ import annotations

import re
from datetime import timedelta

import click
import orjson

from analyzer.api import hookimpl
from analyzer.commands.lazy import LazyModule
from analyzer.commands.options import db_option, open_store
from analyzer.commands.output import emit_json, table
from analyzer.contract.timeutil import format_utc, now_utc, parse_day_or_instant, parse_iso, resolve_tz

base = LazyModule("analyzer.plugins.quota.base")
polling = LazyModule("analyzer.plugins.quota.poll")

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)?\s*$", re.I)
_UNIT = {"m": 1, "h": 60, "d": 1440, "w": 10080}
_RELATIVE = re.compile(r"^\s*(?:in\s+|\+)?((?:\d+\s*[dhm]\s*)+)$", re.I)


def window_minutes(text: str) -> int:
    """``5h`` -> 300, ``7d`` -> 10080, ``1w`` -> 10080, ``90m`` or ``90`` -> 90."""
    m = _SPAN.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a window: use 5h, 7d, 1w, or minutes such as 300")
    minutes = float(m.group(1)) * _UNIT[(m.group(2) or "m")[0].lower()]
    if minutes < 1 or minutes != int(minutes):
        raise ValueError(f"{text!r} is not a whole number of minutes")
    return int(minutes)


def window_label(minutes: int | None) -> str:
    if minutes is None:
        return "?"
    for unit, size in (("w", 10080), ("d", 1440), ("h", 60)):
        if minutes % size == 0 and not (unit == "w" and minutes == 10080):
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def when(text: str, tz, after: str) -> str:
    """An ISO instant (naive = ``tz``), or a span after ``after`` (``2h30m``, ``in 3d``, ``+90m``)."""
    m = _RELATIVE.match(text)
    if m:
        delta = timedelta()
        for amount, unit in re.findall(r"(\d+)\s*([dhm])", m.group(1).lower()):
            delta += timedelta(minutes=int(amount) * _UNIT[unit])
        return format_utc(parse_iso(after) + delta)
    return parse_day_or_instant(text, tz)


def _known_agents() -> set[str]:
    from analyzer.registry.parsers import agents

    return set(agents()) | {r.agent for r in polling.get_readers().values()}


@click.group(name="quota")
def quota():
    """Official "% used" readings of plan windows: poll the vendors, type one in, list them."""


@quota.command(name="poll")
@click.option(
    "--vendor",
    "vendors",
    multiple=True,
    help="Only this vendor (repeat for more): claude, codex, kimi, glm, minimax. Default: every vendor "
    "whose credentials are present.",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds to wait for each vendor.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def poll(vendors, timeout, as_json, db_path):
    """Ask the vendors' usage endpoints for the current "% used" and store it.

    Credentials are read from the agents' own files or environment variables
    when needed, and never stored. Vendors without credentials are skipped
    (and say why); a vendor that fails says why and the others go on. Exits
    with 1 if any vendor failed.
    """
    known = polling.get_readers()
    unknown = [v for v in vendors if v not in known]
    if unknown:
        raise click.BadParameter(f"unknown vendor {unknown[0]!r}; known: {', '.join(known)}", param_hint="--vendor")
    db = open_store(db_path, create=True)
    results = polling.poll_all(db, vendors or None, timeout=timeout)
    if as_json:
        emit_json([r.__dict__ for r in results])
    else:
        for r in results:
            if r.status == "ok":
                click.echo(f"{r.vendor}: {r.readings} readings ({r.new} new){'; ' + r.message if r.message else ''}")
            else:
                click.echo(f"{r.vendor}: {r.status}: {r.message}")
    failed = [r.vendor for r in results if r.status == "error"]
    if failed:
        raise click.ClickException(f"could not read {', '.join(failed)}")


@quota.command(name="add")
@click.argument("agent")
@click.argument("window")
@click.argument("percent", type=click.FloatRange(0, 100))
@click.option(
    "--resets-at",
    help="When the window resets: an ISO time (local unless it has an offset) or a span after the reading, e.g. 2h30m.",
)
@click.option("--observed-at", help="When you saw the reading (ISO time; default: now).")
@click.option("--scope", help="What the window covers when narrower than the plan, e.g. a model family.")
@click.option("--plan", help="Plan name, e.g. max, pro, lite.")
@click.option("--tz", "tz_name", help="IANA zone for times without an offset (default: local).")
@db_option
def add(agent, window, percent, resets_at, observed_at, scope, plan, tz_name, db_path):
    """Store a reading typed by hand: AGENT WINDOW PERCENT (e.g. claude-code 5h 42).

    WINDOW is 5h, 7d, 1w or minutes. Typing the same window, percent and
    reset again changes nothing.
    """
    known = _known_agents()
    if agent not in known:
        raise click.BadParameter(f"unknown agent {agent!r}; known: {', '.join(sorted(known))}", param_hint="AGENT")
    try:
        minutes = window_minutes(window)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="WINDOW") from exc
    try:
        tz = resolve_tz(tz_name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from exc
    try:
        seen = parse_day_or_instant(observed_at, tz) if observed_at else format_utc(now_utc())
    except ValueError as exc:
        raise click.BadParameter(f"{observed_at!r} is not an ISO time", param_hint="--observed-at") from exc
    try:
        resets = when(resets_at, tz, seen) if resets_at else None
    except ValueError as exc:
        raise click.BadParameter(
            f"{resets_at!r} is not an ISO time or a span like 2h30m", param_hint="--resets-at"
        ) from exc
    r = base.reading(agent, seen, percent, minutes, resets, scope=scope, plan=plan, source="manual")
    db = open_store(db_path, create=True)
    new = polling.store_readings(db, [r])
    click.echo(
        f"{'Stored' if new else 'Already stored'}: {agent} {window_label(minutes)} {percent:g}% "
        f"seen {seen}{', resets ' + resets if resets else ''}"
    )


@quota.command(name="list")
@click.option("--agent", "agents", multiple=True, help="Only this agent or vendor family (repeatable).")
@click.option("--source", type=click.Choice(["log", "statusline", "endpoint", "manual"]), help="Only this source.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="The newest N readings.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every column).")
@db_option
def list_cmd(agents, source, limit, as_json, db_path):
    """Quota readings, newest last, with where each came from."""
    db = open_store(db_path)
    clauses, params = [], []
    if agents:
        clauses.append(f"agent in ({', '.join('?' * len(agents))})")
        params += list(agents)
    if source:
        clauses.append("source = ?")
        params.append(source)
    where = f" where {' and '.join(clauses)}" if clauses else ""
    rows = db.execute(
        "select observed_at, agent, window_minutes, scope, used_percent, resets_at, plan_type, source, key, raw"
        f" from quota_readings{where} order by observed_at desc, key desc limit ?",
        [*params, limit],
    ).fetchall()[::-1]
    names = (
        "observed_at",
        "agent",
        "window_minutes",
        "scope",
        "used_percent",
        "resets_at",
        "plan_type",
        "source",
        "key",
        "raw",
    )
    found = [dict(zip(names, row)) for row in rows]
    if as_json:
        for item in found:
            item["raw"] = orjson.loads(item["raw"]) if item["raw"] else None
        emit_json(found)
        return
    if not found:
        click.echo("No quota readings yet: `analyzer quota poll`, the status line, or `analyzer quota add`.")
        return
    body = [
        [
            r["observed_at"][:19].replace("T", " "),
            r["agent"],
            window_label(r["window_minutes"]),
            r["scope"] or "",
            f"{r['used_percent']:g}%",
            (r["resets_at"] or "")[:16].replace("T", " "),
            r["plan_type"] or "",
            r["source"],
        ]
        for r in found
    ]
    click.echo(
        table(
            body,
            ["Observed (UTC)", "Agent", "Window", "Scope", "Used", "Resets (UTC)", "Plan", "Source"],
            align="lllrrlll",
        )
    )


@hookimpl
def register_commands(cli):
    "The commands of this module."
    cli.add_command(quota)
