"""``analyzer report daily|weekly|monthly|session|blocks|prompts|limits``: usage tables, JSON and CSV."""

from __future__ import annotations

import functools

import click
from click_default_group import DefaultGroup

from analyzer.api import hookimpl
from analyzer.commands.lazy import LazyModule
from analyzer.commands.options import db_option, filter_options, format_options, open_store
from analyzer.commands.output import emit_csv, emit_json, money, short_tokens, table, tokens, window_name

reports = LazyModule("analyzer.reports.usage")
windows = LazyModule("analyzer.windows.usage")
pricing = LazyModule("analyzer.pricing.prices")

DAILY_COLUMNS = [
    "date",
    "agent",
    "requests",
    "prompts",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
]


def print_daily(db, filters, fmt: str, *, period: str = "day") -> None:
    rows = reports.daily(db, filters, period=period)
    key = {"day": "date", "week": "week", "month": "month"}[period]
    if fmt == "json":
        emit_json(rows)
        return
    if fmt == "csv":
        emit_csv(rows, [key if c == "date" else c for c in DAILY_COLUMNS] + ["unpriced_requests"])
        return
    if not rows:
        click.echo("No usage recorded in this range. Run `analyzer ingest` first?")
        return
    body = [
        [
            r[key],
            r["agent"],
            tokens(r["requests"]),
            tokens(r["prompts"]),
            tokens(r["input_tokens"]),
            tokens(r["cache_read_tokens"]),
            tokens(r["cache_write_tokens"]),
            tokens(r["output_tokens"]),
            tokens(r["total_tokens"]),
            money(r),
        ]
        for r in rows
    ]
    totals = _sum(rows)
    body.append(
        [
            "Total",
            "",
            tokens(totals["requests"]),
            tokens(totals["prompts"]),
            tokens(totals["input_tokens"]),
            tokens(totals["cache_read_tokens"]),
            tokens(totals["cache_write_tokens"]),
            tokens(totals["output_tokens"]),
            tokens(totals["total_tokens"]),
            money(totals),
        ]
    )
    headers = [
        key.capitalize(),
        "Agent",
        "Requests",
        "Prompts",
        "Input",
        "Cache read",
        "Cache write",
        "Output",
        "Total tokens",
        "Cost (API)",
    ]
    click.echo(table(body, headers, align="ll" + "r" * 8))
    if totals["unpriced_requests"]:
        click.echo(
            f"? = cost unknown: {totals['unpriced_requests']} requests use models with no known price "
            "(`analyzer db status` lists them)."
        )


def clean_errors(fn):
    """Turn a bad price, plans or accounts file into a clear error message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except pricing.PriceFileError as exc:
            raise click.ClickException(str(exc)) from exc
        except ValueError as exc:
            from analyzer.accounts.rules import AccountsFileError

            if isinstance(exc, AccountsFileError):
                raise click.ClickException(str(exc)) from exc
            raise

    return wrapper


def emitted(rows: list[dict], fmt: str, empty: str) -> bool:
    """Print ``rows`` as JSON or CSV, or say ``empty``; True when nothing is left to print."""
    if fmt == "json":
        emit_json(rows)
        return True
    if fmt == "csv":
        emit_csv(rows)
        return True
    if not rows:
        click.echo(empty)
        return True
    return False


def _sum(rows: list[dict]) -> dict:
    fields = [
        "requests",
        "prompts",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost_usd_known",
        "unpriced_requests",
    ]
    totals = {f: sum(r.get(f) or 0 for r in rows) for f in fields}
    totals["cost_usd"] = None if totals["unpriced_requests"] else totals["cost_usd_known"]
    return totals


def report_command(group, name: str):
    """``group.command(name)`` with the options every report takes: filters, output format, --db."""

    def decorate(fn):
        return group.command(name=name)(filter_options(format_options()(db_option(clean_errors(fn)))))

    return decorate


@click.group(name="report", cls=DefaultGroup, default="daily", default_if_no_args=True)
def report():
    """Usage reports: daily (default), weekly, monthly, session, blocks, prompts, limits."""


@report_command(report, "daily")
def report_daily(filters, fmt, db_path):
    """Usage per local day and agent: requests, prompts, tokens, API cost."""
    print_daily(open_store(db_path), filters, fmt)


@report_command(report, "session")
@click.option("--id", "session_id", help="Only this session id.")
def report_session(session_id, filters, fmt, db_path):
    """Usage per session, latest first (subagent calls included and counted apart)."""
    rows = reports.sessions(open_store(db_path), filters, session_id=session_id)
    if emitted(rows, fmt, "No sessions in this range."):
        return
    body = [
        [
            _minute(r["last_ts"], filters.tz),
            r["agent"],
            r["session_id"][:13],
            _project(r["project"]),
            tokens(r["prompts"]),
            tokens(r["requests"]),
            tokens(r["sidechain_requests"]),
            short_tokens(r["input_tokens"] + r["cache_write_tokens"]),
            short_tokens(r["cache_read_tokens"]),
            short_tokens(r["output_tokens"]),
            money(r),
        ]
        for r in rows
    ]
    click.echo(
        table(
            body,
            [
                "Last activity",
                "Agent",
                "Session",
                "Project",
                "Prompts",
                "Requests",
                "Subagent",
                "Input+write",
                "Cache read",
                "Output",
                "Cost (API)",
            ],
            align="llll" + "r" * 7,
        )
    )


@report_command(report, "blocks")
def report_blocks(filters, fmt, db_path):
    """5-hour windows per account (every agent and machine that spends it): anchored to vendor resets where
    known, else estimated."""
    print_windows(open_store(db_path), filters, fmt, windows.FIVE_HOURS)


@report_command(report, "weekly")
@click.option("--calendar", is_flag=True, help="Calendar weeks (Monday first, in --tz) instead of plan weeks.")
def report_weekly(calendar, filters, fmt, db_path):
    """Usage per plan week of each account (7-day windows anchored to vendor resets, else estimated)."""
    db = open_store(db_path)
    if calendar:
        print_daily(db, filters, fmt, period="week")
    else:
        print_windows(db, filters, fmt, windows.WEEK)


@report_command(report, "monthly")
def report_monthly(filters, fmt, db_path):
    """Usage per calendar month (in --tz) and agent."""
    print_daily(open_store(db_path), filters, fmt, period="month")


@report_command(report, "prompts")
def report_prompts(filters, fmt, db_path):
    """One row per typed prompt: the model calls it started (fan-out), tokens, cost."""
    rows = reports.prompts(open_store(db_path), filters)
    if emitted(rows, fmt, "No prompts in this range."):
        return
    body = [
        [
            _minute(r["ts"], filters.tz),
            r["agent"],
            r["session_id"][:13],
            _project(r["project"]),
            tokens(r["text_length"]),
            tokens(r["requests"]),
            short_tokens(r["input_tokens"] + r["cache_write_tokens"]),
            short_tokens(r["cache_read_tokens"]),
            short_tokens(r["output_tokens"]),
            money(r),
        ]
        for r in rows
    ]
    click.echo(
        table(
            body,
            [
                "Time",
                "Agent",
                "Session",
                "Project",
                "Chars",
                "Requests",
                "Input+write",
                "Cache read",
                "Output",
                "Cost (API)",
            ],
            align="llll" + "r" * 6,
        )
    )


@report_command(report, "limits")
def report_limits(filters, fmt, db_path):
    """Every limit hit: when, which window, and how long until it reset."""
    rows = reports.limit_hits(open_store(db_path), filters)
    if emitted(rows, fmt, "No limit hits recorded in this range."):
        return
    body = [
        [
            _minute(r["ts"], filters.tz),
            r["account"] or "?",
            r["agent"],
            window_name(r["window_minutes"]) + (" (inferred)" if r["window_basis"] == "inferred from the wait" else ""),
            _minute(r["reset_at"], filters.tz) if r["reset_at"] else "?",
            _wait(r["minutes_until_reset"]),
            (r["model"] or "-")[:28],
        ]
        for r in rows
    ]
    click.echo(table(body, ["Time", "Account", "Agent", "Window", "Resets", "Wait", "Model"], align="lllllrl"))


@hookimpl
def register_commands(cli):
    "The commands of this module."
    cli.add_command(report)


def print_windows(db, filters, fmt: str, minutes: int) -> None:
    rows = windows.windows(db, filters, minutes=minutes)
    if emitted(rows, fmt, "No usage in this range."):
        return
    body = [
        [
            _minute(r["start"], filters.tz) + (" *" if r["is_active"] else ""),
            _minute(r["end"], filters.tz),
            r["account"] or "?",
            _agents(r),
            r["kind"],
            tokens(r["prompts"]),
            tokens(r["requests"]),
            short_tokens(r["input_tokens"]),
            short_tokens(r["cache_read_tokens"]),
            short_tokens(r["cache_write_tokens"]),
            short_tokens(r["output_tokens"]),
            short_tokens(r["total_tokens"]),
            "-" if r["max_used_percent"] is None else f"{r['max_used_percent']:g}%",
            money(r),
        ]
        for r in rows
    ]
    click.echo(
        table(
            body,
            [
                "Start",
                "Resets",
                "Account",
                "Agents (requests)",
                "Window",
                "Prompts",
                "Requests",
                "Input",
                "Cache read",
                "Cache write",
                "Output",
                "Total",
                "Max used",
                "Cost (API)",
            ],
            align="lllll" + "r" * 9,
        )
    )
    if any(r["is_active"] for r in rows):
        click.echo("* active window")
    click.echo("anchored: the vendor gave the reset time; estimated: reconstructed from the requests.")


def _agents(window: dict) -> str:
    """A window's agents with their requests; machines too when more than one used it."""
    parts = [f"{a['agent']} {a['requests']}" for a in window["agents"]] or [window["agent"] or "-"]
    text = ", ".join(parts) if len(parts) > 1 else parts[0].split(" ")[0]
    if len(window["machines"]) > 1:
        text += f" on {len(window['machines'])} machines"
    return text


def _wait(minutes: float | None) -> str:
    if minutes is None:
        return "?"
    if minutes >= 120:
        return f"{minutes / 60:.1f} h"
    return f"{minutes:.0f} min"


def _minute(instant: str | None, tz) -> str:
    """A stored instant as local ``YYYY-MM-DD HH:MM``."""
    return reports.to_local(instant, tz)[:16].replace("T", " ")


def _project(path: str | None) -> str:
    if not path:
        return "-"
    tail = path.rstrip("/").rsplit("/", 1)[-1]
    return tail[:24]
