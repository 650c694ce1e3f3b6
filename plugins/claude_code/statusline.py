"""``analyzer statusline``: Claude Code's status line, and a recorder of its quota readings.

Claude Code runs the status line command on every render and hands it a JSON
object on stdin (``model``, ``session_id``, ``transcript_path``, ``cwd``,
``workspace``, ``cost``, ``context_window`` and, for Pro/Max subscribers after
the first response, ``rate_limits.five_hour`` / ``seven_day`` with
``used_percentage`` and ``resets_at`` in epoch seconds). Those readings are
nowhere on disk, so this command records them as ``QuotaReading`` rows
(source ``statusline``): a repeat of the same window, percent and reset is the
same row (see ``plugins.quota.keys``), so the first time a percent was seen is
what stays.

It prints one line: the model, this 5-hour window's tokens from the store (the
window of the account the model in use spends, with every agent's and
machine's calls; anchored on the reading's reset time, else estimated), its
percent and reset time, the weekly percent, the window's cache ratio, and the
account's inferred limit when ``limit_estimates`` has one. Readings are
recorded with that account (and attributed again by the next report).

It must never break the agent and is on the hot path:

* only the standard library, ``analyzer.contract.timeutil`` and two small modules are
  imported (``analyzer.__main__`` dispatches here before click and pluggy);
* plain ``sqlite3`` with a short busy timeout; migrations run only when the
  store does not exist yet;
* bad or empty input, a missing, corrupt or locked store: a short line, exit 0.
  A reading that cannot be written because a writer holds the store waits in a
  small spool file beside it and is written on the next render.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from datetime import datetime

from analyzer.plugins.claude_code import usage_window as uw
from analyzer.plugins.quota.keys import reading_key

from analyzer.contract.timeutil import UTC, format_utc, utc_iso

AGENT = "claude-code"
SOURCE = "statusline"
APP_NAME = "coding-plan-analyzer"  # as analyzer.store.APP_NAME (tested equal)
BUSY_TIMEOUT = 0.25
CHAIN_TIMEOUT = 5.0
WINDOWS = {"five_hour": 300, "seven_day": 10080}

_INSERT = (
    "insert into quota_readings (key, agent, observed_at, used_percent, window_minutes, resets_at, plan_type, scope,"
    " source, account, raw, source_id, machine_id) values (?, ?, ?, ?, ?, ?, null, ?, ?, ?, ?, null, ?)"
    " on conflict(key) do nothing"
)


def default_db_path(env=os.environ) -> str:
    """``analyzer.store.default_db_path`` without importing platformdirs (tested equal)."""
    configured = env.get("ANALYZER_DB")
    if configured:
        return os.path.expanduser(configured)
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    elif sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        base = env.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
    else:
        from analyzer.store.database import default_db_path as slow

        return str(slow())
    return os.path.join(base, APP_NAME, "usage.db")


def parse_payload(text: str) -> dict | None:
    if not text.strip():
        return None
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        return None
    return payload if isinstance(payload, dict) else None


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value == value and value >= 0 else None


def readings(payload: dict, observed_at: str) -> list[dict]:
    """The quota readings in a payload's ``rate_limits`` (none when it is absent)."""
    limits = payload.get("rate_limits")
    if not isinstance(limits, dict):
        return []
    out = []
    for name, item in limits.items():
        if not isinstance(item, dict):
            continue
        percent = _number(item.get("used_percentage"))
        if percent is None:
            continue
        try:
            resets = utc_iso(item.get("resets_at")) if not isinstance(item.get("resets_at"), bool) else None
        except (ValueError, OverflowError, OSError):
            resets = None
        if name in WINDOWS:
            window, scope = WINDOWS[name], None
        elif name.startswith("seven_day_"):
            window, scope = 10080, name[len("seven_day_") :]
        else:
            window, scope = None, name
        out.append(
            {
                "key": reading_key(AGENT, SOURCE, window, scope, resets, percent),
                "observed_at": observed_at,
                "used_percent": percent,
                "window_minutes": window,
                "resets_at": resets,
                "scope": scope,
                "raw": {name: item},
            }
        )
    return out


# --- the store ------------------------------------------------------------------


def open_store(path: str) -> sqlite3.Connection:
    """A plain connection; the store is created (with migrations) only if it is missing or older than accounts."""
    if not os.path.exists(path):
        _create(path)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    from analyzer.store.schema import migration_names

    if conn.execute("pragma user_version").fetchone()[0] > len(migration_names()):
        conn.close()  # a store from a newer analyzer: nothing is written to it
        raise sqlite3.DatabaseError("the store was written by a newer version of analyzer")
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    if not {"requests", "quota_readings", "meta", "attributions"} <= tables:  # missing, or before accounts
        conn.close()
        _create(path)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    return conn


def _create(path: str) -> None:
    from analyzer.store.database import open_db

    open_db(path).conn.close()


def _spool_path(db_path: str) -> str:
    return db_path + "-statusline-spool.jsonl"


def record(conn: sqlite3.Connection, rows: list[dict], db_path: str, account: str | None = None) -> bool:
    """Write readings (and any spooled earlier); on a locked store, spool them. True if written."""
    spool = _spool_path(db_path)
    for r in rows:
        r.setdefault("account", account)
    pending = list(rows)
    taken = None
    if os.path.exists(spool):
        taken = f"{spool}.{os.getpid()}"
        try:
            os.replace(spool, taken)
            with open(taken, encoding="utf-8") as fh:
                pending = [json.loads(line) for line in fh if line.strip()] + pending
        except (OSError, ValueError):
            taken = None
    if not pending:
        return True
    try:
        machine = conn.execute("select value from meta where key = 'machine_id'").fetchone()
        params = [
            (
                r["key"],
                AGENT,
                r["observed_at"],
                r["used_percent"],
                r["window_minutes"],
                r["resets_at"],
                r["scope"],
                SOURCE,
                r.get("account", account),
                json.dumps(r["raw"], separators=(",", ":")),
                machine[0] if machine else None,
            )
            for r in pending
        ]
        conn.execute("begin immediate")
        try:
            conn.executemany(_INSERT, params)
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
    except sqlite3.OperationalError:
        with open(spool, "a", encoding="utf-8") as fh:
            for r in pending:
                fh.write(json.dumps(r, separators=(",", ":")) + "\n")
        if taken:
            os.unlink(taken)
        return False
    if taken:
        os.unlink(taken)
    return True


# --- the line -------------------------------------------------------------------


def _current(rows: list[dict], window: int, now: datetime) -> tuple[float, str | None] | None:
    for r in rows:
        if r["window_minutes"] == window and r["scope"] is None:
            if r["resets_at"] and uw.parse_stored(r["resets_at"]) <= now:
                return None  # the window this reading describes is over
            return r["used_percent"], r["resets_at"]
    return None


def account(conn: sqlite3.Connection, payload: dict, now: datetime) -> str | None:
    """The account the model in use spends (``usage_window.account_of``)."""
    model = payload.get("model") if isinstance(payload.get("model"), dict) else {}
    model_id = model.get("id") if isinstance(model.get("id"), str) else None
    session = payload.get("session_id") if isinstance(payload.get("session_id"), str) else None
    return uw.account_of(conn, AGENT, session, model_id, now, os.environ)


def summarise(conn: sqlite3.Connection, payload: dict, rows: list[dict], now: datetime, spends=None) -> dict:
    """The numbers the line shows (also handy as JSON for ``analyzer status``)."""
    spends = spends if spends is not None else account(conn, payload, now)
    five = _current(rows, 300, now) or _stored(conn, spends, 300, now)
    week = _current(rows, 10080, now) or _stored(conn, spends, 10080, now)
    window = None
    if five and five[1]:
        window = uw.anchored(five[1], 300)
    else:
        window = uw.estimated(conn, spends, now)
    usage = uw.window_usage(conn, spends, window) if window else None
    limit = uw.limit_estimate(conn, spends, 300)
    used = uw.quantity_used(conn, spends, window, limit[0]) if (limit and window) else None
    return {
        "account": spends,
        "five_hour_percent": five[0] if five else None,
        "window": window,
        "usage": usage,
        "week_percent": week[0] if week else None,
        "limit": limit,
        "limit_used": used,
    }


def _stored(
    conn: sqlite3.Connection, spends: str | None, window: int, now: datetime
) -> tuple[float, str | None] | None:
    row = uw.latest_reading(conn, spends, window, now)
    return (row[0], row[1]) if row else None


def short(n: float) -> str:
    n = float(n)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def _pct(p: float) -> str:
    return f"{p:.0f}%" if p == int(p) else f"{p:.1f}%"


def _clock(stored_instant: str, now: datetime) -> str:
    epoch = uw.parse_stored(stored_instant).timestamp()
    fmt = "%H:%M" if epoch - now.timestamp() < 20 * 3600 else "%a %H:%M"
    return time.strftime(fmt, time.localtime(epoch))


def model_name(payload: dict) -> str | None:
    model = payload.get("model")
    if isinstance(model, dict):
        name = model.get("display_name") or model.get("id")
    else:
        name = model
    return str(name)[:32] if name else None


def render(payload: dict, s: dict | None, now: datetime, note: str | None = None) -> str:
    parts = []
    name = model_name(payload)
    if name:
        parts.append(name)
    five, week = (s or {}).get("five_hour_percent"), (s or {}).get("week_percent")
    window, usage = (s or {}).get("window"), (s or {}).get("usage")
    if s is None:
        rows = readings(payload, format_utc(now))
        five = (_current(rows, 300, now) or (None,))[0]
        week = (_current(rows, 10080, now) or (None,))[0]
    if window is not None and usage is not None:
        text = f"5h {_pct(five) + ' · ' if five is not None else ''}{short(usage.total_tokens)} tok"
        if window.kind == "anchored":
            text += f" · resets {_clock(window.end, now)}"
        else:
            text += f" (est. window to {_clock(window.end, now)})"
        parts.append(text)
    elif five is not None:
        parts.append(f"5h {_pct(five)}")
    elif s is not None:
        parts.append("5h idle")
    if week is not None:
        parts.append(f"7d {_pct(week)}")
    if usage is not None and usage.cache_ratio is not None:
        parts.append(f"cache {usage.cache_ratio * 100:.0f}%")
    limit = (s or {}).get("limit")
    if limit:
        quantity, value = limit
        used = s.get("limit_used")
        shown = f"{short(used)}/{short(value)}" if used is not None else f"≈{short(value)}"
        parts.append(f"limit {shown} {quantity.replace('_', ' ')}")
    if note:
        parts.append(note)
    return " · ".join(parts) if parts else "analyzer: no usage data"


def _chain(command: str, text: str) -> str:
    """Output of the status line command this one wraps (empty if it fails)."""
    import subprocess

    try:
        done = subprocess.run(command, shell=True, input=text, capture_output=True, text=True, timeout=CHAIN_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.rstrip("\n")


def line(text: str, db_path: str | None = None, now: datetime | None = None) -> str:
    """The status line for one stdin payload; records its readings on the way. Never raises."""
    now = now or datetime.now(UTC)
    payload = parse_payload(text)
    if payload is None:
        return "analyzer: no statusline input" if not text.strip() else "analyzer: unreadable statusline input"
    try:
        path = db_path or default_db_path()
        rows = readings(payload, format_utc(now))
        conn = open_store(path)
        try:
            spends = account(conn, payload, now)
            written = record(conn, rows, path, spends)
            summary = summarise(conn, payload, rows, now, spends)
        finally:
            conn.close()
        return render(payload, summary, now, None if written else "store busy")
    except Exception:
        if os.environ.get("ANALYZER_DEBUG"):
            import traceback

            traceback.print_exc()
        try:
            return render(payload, None, now, "store unavailable")
        except Exception:
            return "analyzer: store unavailable"


def main(db_path: str | None = None, then: str | None = None) -> int:
    """Read stdin, print the line (after the wrapped command's output, if any), exit 0."""
    try:
        try:
            text = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
        except (OSError, ValueError, UnicodeDecodeError):
            text = ""
        out = line(text, db_path)
        if then:
            before = _chain(then, text)
            if before:
                out = f"{before}\n{out}"
    except Exception:  # the promise is exit 0 and a line, whatever happened above
        out = "analyzer: statusline unavailable"
    try:
        sys.stdout.write(out + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    return 0
