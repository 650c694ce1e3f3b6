"""``analyzer doctor``: what would make your numbers wrong or lost, each with its fix.

Each check is a plain function that returns the problems it finds (a
``Finding``: what is wrong, and the fix), so a healthy machine gives one line.
The checks, in the order printed:

* Claude Code's ``cleanupPeriodDays`` (30 days unless set) against the last
  ingest: transcripts older than that are deleted when Claude Code starts, so an
  ingest older than the period may have missed some for good;
* the daemon is not running and the last full ingest is old (or never ran);
* agents whose log files were never read, and files in agents' folders that no
  parser recognises;
* Claude Code calls through a gateway (no ``requestId``: a third-party host or
  model) and calls whose usage is a streaming placeholder (no final copy);
* models without a price (their cost is unknown);
* a store that fails ``analyzer db check`` (``--quick`` leaves out the re-read);
* Linux's inotify limit below what ``analyzer watch`` needs;
* the disk holding the store nearly full.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import click

from analyzer.api import hookimpl
from analyzer.commands.options import db_option, format_options, open_store
from analyzer.commands.output import emit_json
from analyzer.contract.timeutil import now_utc, parse_stored
from analyzer.store import database as store

CLAUDE_DEFAULT_CLEANUP_DAYS = 30
STALE_AFTER = timedelta(hours=24)  # a last full ingest older than this, with no daemon, is old
WARN_BEFORE = timedelta(days=7)  # say so this long before Claude Code starts deleting unread transcripts
PROC_INOTIFY = Path("/proc/sys/fs/inotify")
DISK_MIN_FREE = 1 << 30  # 1 GiB
DISK_MIN_SHARE = 0.05


@dataclass(frozen=True)
class Finding:
    """One problem, and how to fix it."""

    check: str
    problem: str
    fix: str


def _day(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d")


def _ago(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:.0f} days ago" if days >= 1.5 else f"{delta.total_seconds() / 3600:.0f} hours ago"


# --- the checks ------------------------------------------------------------------------------


def claude_retention(parsers: list, env, last: datetime | None, now: datetime) -> list[Finding]:
    """Claude Code deletes transcripts older than ``cleanupPeriodDays`` when it starts."""
    claude = next((p for p in parsers if p.name == "claude-code"), None)
    if claude is None:
        return []
    out = []
    for root in claude.roots(env):
        root = Path(root)
        if not root.is_dir():
            continue
        config = root.parent / "settings.json"
        days = CLAUDE_DEFAULT_CLEANUP_DAYS
        try:
            import json

            value = json.loads(config.read_text()).get("cleanupPeriodDays")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                days = value
        except (OSError, ValueError, AttributeError):
            pass
        fix = (
            "run `analyzer ingest` now, keep `analyzer watch` running (`analyzer service install`), and set"
            f' "cleanupPeriodDays": 3650 in {config} (0 is no fix: Claude Code may then keep no transcript)'
        )
        period = timedelta(days=days)
        if days <= 0:
            out.append(Finding("claude-retention", f"Claude Code's cleanupPeriodDays is {days} in {config}", fix))
        elif last is None:
            out.append(
                Finding(
                    "claude-retention",
                    f"Claude Code deletes transcripts older than {days:g} days ({config}) and nothing was ingested"
                    f" yet: history before {_day(now - period)} is already gone",
                    fix,
                )
            )
        elif now - last > period:
            out.append(
                Finding(
                    "claude-retention",
                    f"Claude Code deletes transcripts older than {days:g} days and the last ingest was on"
                    f" {_day(last)}: history since {_day(last)} may be lost (transcripts last written before"
                    f" {_day(now - period)} are deleted unread)",
                    fix,
                )
            )
        elif now - last > period - WARN_BEFORE:
            left = period - (now - last)
            out.append(
                Finding(
                    "claude-retention",
                    f"Claude Code deletes transcripts older than {days:g} days and the last ingest was on"
                    f" {_day(last)}: in {max(left.days, 0)} days it starts deleting transcripts not read yet",
                    fix,
                )
            )
    return out


def freshness(db_path: Path, last: datetime | None, now: datetime, has_logs: bool) -> list[Finding]:
    """The daemon keeps the store current; without it, an old last ingest means missing usage."""
    if daemon_running(db_path):
        return []
    if last is not None and now - last <= STALE_AFTER:
        return []
    if last is None and not has_logs:
        return []
    when = "nothing was ever ingested" if last is None else f"the last full ingest was {_ago(now - last)}"
    return [
        Finding(
            "freshness",
            f"the daemon is not running and {when}",
            "`analyzer service install` runs `analyzer watch` from login (or run `analyzer ingest` from cron,"
            " or `analyzer integrate claude-code` to ingest when a session ends)",
        )
    ]


def daemon_running(db_path: Path) -> bool:
    from analyzer.daemon.lifecycle import AlreadyRunning, DaemonLock

    try:
        DaemonLock(db_path).acquire().release()
    except AlreadyRunning:
        return True
    except OSError:
        return False
    return False


def unread_files(found: list, db) -> list[Finding]:
    """Files of an agent the store never read (an agent installed later, a folder moved)."""
    known = {r[0] for r in db.execute("select path from sources")}
    by_agent: dict[str, list[Path]] = {}
    for item in found:
        if str(item.path) not in known:
            by_agent.setdefault(item.parser.agent, []).append(item.path)
    out = []
    for agent, paths in sorted(by_agent.items()):
        folders = sorted({str(p.parent) for p in paths})
        out.append(
            Finding(
                "unread",
                f"{agent}: {len(paths)} log files were never read (in {folders[0]}"
                + (f" and {len(folders) - 1} more folders" if len(folders) > 1 else "")
                + ")",
                "run `analyzer ingest` (and keep `analyzer watch` running)",
            )
        )
    return out


def unrecognised_files(unrecognised: list) -> list[Finding]:
    if not unrecognised:
        return []
    shown = ", ".join(str(p) for p, _ in unrecognised[:3])
    more = f" and {len(unrecognised) - 3} more" if len(unrecognised) > 3 else ""
    return [
        Finding(
            "unrecognised",
            f"{len(unrecognised)} files in agents' folders are not a log format any parser recognises: {shown}{more}",
            "if they are an agent's logs in a format this version does not know, their usage is missing: report"
            " them (without their content); otherwise nothing to do",
        )
    ]


def uncertain_usage(db) -> list[Finding]:
    """Claude Code calls through a gateway (no requestId) and calls whose usage is a placeholder."""
    out = []
    gateway = db.execute(
        "select count(*), group_concat(distinct coalesce(provider, model)) from requests where agent = 'claude-code'"
        " and ((provider is not null and provider not like '%anthropic%') or (model is not null"
        " and model not like 'claude%' and model not like '<synthetic>'))"
    ).fetchone()
    if gateway[0]:
        out.append(
            Finding(
                "gateway",
                f"{gateway[0]} Claude Code requests went through a gateway ({gateway[1]}): gateways write no"
                " requestId and sometimes placeholder usage",
                "calls are counted once by message id all the same; compare a day of `analyzer report daily"
                " --agent claude-code` with the vendor's own console before trusting costs to the cent",
            )
        )
    placeholder = db.execute(
        "select count(*) from requests where complete = 0 or (input_tokens + cache_read_tokens"
        " + cache_write_tokens = 0 and output_tokens > 0)"
    ).fetchone()[0]
    if placeholder:
        out.append(
            Finding(
                "placeholder",
                f"{placeholder} requests hold placeholder usage (the call's final usage was never written: an"
                " interrupted response, or a gateway that reports no input)",
                "nothing in the store can fix it: their output or input counts are too low; the next ingest"
                " replaces them if the agent later writes the final copy",
            )
        )
    return out


def unpriced_models(db) -> list[Finding]:
    from analyzer.reports.usage import ensure_prices

    ensure_prices(db)
    rows = db.execute(
        "select r.model, count(*) from requests r join model_prices p on p.model = r.model"
        " where p.input is null group by r.model order by 2 desc"
    ).fetchall()
    if not rows:
        return []
    shown = ", ".join(f"{m} ({n} requests)" for m, n in rows[:5])
    return [
        Finding(
            "prices",
            f"{len(rows)} models have no price, so their cost shows as unknown: {shown}",
            "add their prices to your prices.toml (`analyzer cost --prices-file` prints its path)",
        )
    ]


def store_check(db, quick: bool) -> list[Finding]:
    from analyzer.ingest.check import check

    result = check(db, reread=not quick)
    if result.ok:
        return []
    fix = (
        "`analyzer db repair` recovers what can be read into a new store"
        if result.damaged
        else "see `analyzer db check`; `analyzer db repair` then `analyzer ingest` rebuild the store from your logs"
    )
    return [Finding("db-check", p, fix) for p in result.problems()[:5]]


def inotify(roots: list[Path]) -> list[Finding]:
    """Linux: every folder ``analyzer watch`` follows takes one inotify watch."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        limit = int((PROC_INOTIFY / "max_user_watches").read_text().strip())
    except (OSError, ValueError):
        return []
    folders = 0
    for root in roots:
        if root.is_dir():
            folders += 1 + sum(len(dirs) for _, dirs, _ in os.walk(root))
    if folders <= limit * 0.8:
        return []
    return [
        Finding(
            "inotify",
            f"`analyzer watch` needs {folders:,} inotify watches (one per folder) and this system allows"
            f" {limit:,} per user (other programs use them too): it would fall back to slower polling",
            "raise the limit: `echo fs.inotify.max_user_watches=524288 | sudo tee /etc/sysctl.d/90-inotify.conf"
            " && sudo sysctl --system`",
        )
    ]


def disk_space(db_path: Path) -> list[Finding]:
    try:
        usage = shutil.disk_usage(db_path.parent)
    except OSError:
        return []
    if usage.free >= DISK_MIN_FREE and usage.free >= usage.total * DISK_MIN_SHARE:
        return []
    return [
        Finding(
            "disk",
            f"the disk holding the store ({db_path.parent}) is nearly full: {usage.free / 1e9:.1f} GB free of"
            f" {usage.total / 1e9:.0f} GB",
            "free some space: on a full disk an ingest stops (nothing is lost, but nothing new is read, and"
            " Claude Code keeps deleting old transcripts)",
        )
    ]


CHECKS = 9


def diagnose(db, db_path: Path, *, env=None, quick: bool = False, now: datetime | None = None) -> list[Finding]:
    """Every check, in order; an empty list when nothing is wrong."""
    from analyzer.ingest.discovery import discover
    from analyzer.registry.parsers import get_parsers

    env = dict(os.environ if env is None else env)
    now = now or now_utc()
    parsers = list(get_parsers().values())
    stamp = store.get_meta(db, "last_full_ingest")
    last = parse_stored(stamp) if stamp else None
    found = discover(parsers, env)
    roots = [Path(r) for p in parsers for r in (p.roots(env) or [])]
    findings: list[Finding] = []
    findings += claude_retention(parsers, env, last, now)
    findings += freshness(db_path, last, now, has_logs=bool(found.found))
    findings += unread_files(found.found, db)
    findings += unrecognised_files(found.unrecognised)
    findings += uncertain_usage(db)
    findings += unpriced_models(db)
    findings += store_check(db, quick)
    findings += inotify(roots)
    findings += disk_space(db_path)
    return findings


@click.command(name="doctor")
@click.option("--quick", is_flag=True, help="Check the store without reading every log file again.")
@format_options(csv=False)
@db_option
def doctor(quick, fmt, db_path):
    """Say what would make your numbers wrong or lost, each with its fix.

    Checks Claude Code's transcript retention against the last ingest, that the
    daemon runs or ingests are recent, agents' files never read or not
    recognised, gateway and placeholder usage, models without a price, the
    store (`analyzer db check`), inotify limits and free disk space. One line
    when all is well; exits 1 when something needs fixing.
    """
    path = db_path or store.default_db_path()
    db = open_store(path, create=True)
    findings = diagnose(db, path, quick=quick)
    if fmt == "json":
        emit_json([f.__dict__ for f in findings])
    elif not findings:
        click.echo(f"All {CHECKS} checks passed: nothing here makes your numbers wrong or lost.")
    else:
        click.echo(f"{len(findings)} problem{'s' if len(findings) > 1 else ''} found:")
        for f in findings:
            click.echo(f"- {f.problem[:1].upper()}{f.problem[1:]}.")
            click.echo(f"  Fix: {f.fix}.")
    if findings:
        raise SystemExit(1)


@hookimpl
def register_commands(cli):
    "The commands of this module."
    cli.add_command(doctor)
