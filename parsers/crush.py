"""Crush (charmbracelet/crush): one SQLite ``crush.db`` per project, listed in ``projects.json``.

Roots: the ``crush.db`` in each ``data_dir`` of ``projects.json`` (``{"projects":
[{"path", "data_dir", "last_accessed"}]}``), which lies in Crush's global data
folder: ``$CRUSH_GLOBAL_DATA``, else ``$XDG_DATA_HOME/crush``, else on Windows
``%LOCALAPPDATA%\\crush``, else ``~/.local/share/crush``. A project's data
folder is its nearest ``.crush`` (or the ``data_directory`` option). A store is
read whole, read-only and without locks, as OpenCode's (``analyzer.parsers.opencode.database``).

What Crush stores (``internal/agent/agent.go``, ``updateSessionUsage``), and so
what can be known:

* ``messages``: every model call is one ``assistant`` message (one per step:
  ``PrepareStep`` creates it, ``OnStepFinish`` adds its ``finish`` part), with
  its ``model``, ``provider`` and times (unix **seconds**). Exact: the number
  of calls, when, which model and provider. A call is keyed by its message id.
* ``sessions.prompt_tokens`` / ``completion_tokens`` are **overwritten** after
  each step with that step's usage (``InputTokens + CacheReadTokens``, and
  ``OutputTokens``); only ``cost`` adds up, in Crush's own prices, and a
  parent's cost also adds its subagents' (``updateParentSessionCost``). No
  step's usage survives the next step. So tokens are known only for the step
  that is a session's latest when the store is read: they are stored on that
  call (``OnStepFinish`` saves the session *before* it writes the finish part,
  so a finished latest message owns the session's figures; an unfinished one
  may or may not, and gets nothing), the other calls carry no tokens
  (``complete = 0``). Read often (``analyzer watch``) and most calls get their
  own figures; read once a day and one call per session does. Cache reads are
  inside the stored input (not separable), cache writes are not stored at all.
  After a summary (``is_summary_message``) the session holds the summary's
  output and no input.
* Child sessions (``parent_session_id``, the agent tool) are subagents: their
  calls are sidechain calls, their user messages are the parent agent's
  instructions, not prompts.

Prompts: ``user`` messages with text, in sessions with no parent. Limit hits:
an assistant message whose ``finish`` part has reason ``error`` and whose
message and details the vendor refusal reader (``analyzer.api.read_refusal``,
told the call's provider and model) reads as a plan window, a rate or
concurrency limit or fair-use throttling, with the reset and window it names.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import orjson
from analyzer.parsers.opencode.database import connect

from analyzer.api import (
    BadLine,
    LimitHit,
    Prompt,
    Record,
    Request,
    Session,
    SourceContext,
    home_from,
    hookimpl,
    read_refusal,
    utc_iso,
)

AGENT = "crush"
SQLITE_MAGIC = b"SQLite format 3\x00"
# Refusal kinds that are a limit of the plan or the account; overloaded, balance, spend and expired are not.
HIT_KINDS = frozenset({"quota", "rate_limit", "concurrency", "fair_use"})
NO_TOKENS = frozenset({"error", "canceled"})


def global_data(env: Mapping[str, str]) -> Path:
    """Crush's global data folder (``config.GlobalConfigData``'s folder)."""
    if env.get("CRUSH_GLOBAL_DATA", "").strip():
        return Path(env["CRUSH_GLOBAL_DATA"]).expanduser()
    if env.get("XDG_DATA_HOME", "").strip():
        return Path(env["XDG_DATA_HOME"]).expanduser() / "crush"
    if os.name == "nt" or env.get("LOCALAPPDATA", "").strip():
        local = env.get("LOCALAPPDATA", "").strip()
        base = Path(local) if local else home_from(env) / "AppData" / "Local"
        return base / "crush"
    return home_from(env) / ".local" / "share" / "crush"


def projects(env: Mapping[str, str]) -> dict[Path, str]:
    """Each project's data folder, with the project's path."""
    try:
        data = orjson.loads((global_data(env) / "projects.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    found = {}
    for item in data.get("projects") or [] if isinstance(data, dict) else []:
        if isinstance(item, dict) and isinstance(item.get("data_dir"), str) and item["data_dir"].strip():
            found[Path(item["data_dir"]).expanduser()] = item.get("path") if isinstance(item.get("path"), str) else None
    return found


class CrushParser:
    name = AGENT
    agent = AGENT
    mode: Literal["lines", "file"] = "file"
    env_vars = ("CRUSH_GLOBAL_DATA", "XDG_DATA_HOME", "LOCALAPPDATA")

    def __init__(self) -> None:
        self._projects: dict[Path, str | None] = {}

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        self._projects.update(projects(env))
        return [folder / "crush.db" for folder in sorted(self._projects)]

    def candidate(self, path: Path) -> bool:
        return path.name == "crush.db"

    def recognise(self, path: Path, head: bytes) -> bool:
        return head.startswith(SQLITE_MAGIC)

    def parse_file(self, path: Path, ctx: SourceContext) -> Iterator[Record]:
        project = self._projects.get(path.parent) or str(path.parent.parent)
        return store_records(path, project)


def store_records(path: Path, project: str | None) -> Iterator[Record]:
    """Every record of one ``crush.db``."""
    try:
        conn = connect(path)
    except sqlite3.Error as exc:
        raise OSError(f"cannot open the Crush store read-only: {exc}") from exc
    try:
        conn.execute("begin")
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        if not {"sessions", "messages"} <= tables:
            yield BadLine(0, "unrecognised_file", "an SQLite file without Crush's sessions and messages tables")
            return
        sessions = conn.execute(
            "select id, parent_session_id, title, prompt_tokens, completion_tokens, cost from sessions"
        ).fetchall()
        columns = {r[1] for r in conn.execute("pragma table_info(messages)")}
        extra = ", ".join(c if c in columns else "null" for c in ("provider", "is_summary_message"))
        messages = conn.execute(
            f"select id, session_id, role, parts, model, created_at, finished_at, {extra}"
            " from messages order by session_id, created_at, rowid"
        ).fetchall()
        conn.execute("commit")
    except sqlite3.DatabaseError as exc:
        raise OSError(f"cannot read the Crush store: {exc}") from exc
    finally:
        conn.close()
    by_session: dict[str, list[tuple]] = {}
    for row in messages:
        by_session.setdefault(row[1], []).append(row)
    for sid, parent, title, prompt_tokens, completion_tokens, cost in sessions:
        yield Session(
            agent=AGENT,
            session_id=sid,
            project=project,
            cwd=project,
            parent_session_id=parent or None,
            title=title or None,
            is_subagent=bool(parent),
        )
        usage = {"prompt_tokens": prompt_tokens or 0, "completion_tokens": completion_tokens or 0, "session_cost": cost}
        yield from session_records(sid, bool(parent), by_session.pop(sid, []), usage, project)
    for sid, rows in by_session.items():  # messages of a session row that is gone
        yield from session_records(sid, False, rows, None, project)


def session_records(sid: str, child: bool, rows: list[tuple], usage: dict | None, project) -> Iterator[Record]:
    parsed = []
    for mid, _, role, parts_text, model, created, finished, provider, summary in rows:
        try:
            parts = orjson.loads(parts_text)
        except (orjson.JSONDecodeError, TypeError):
            yield BadLine(_ref(mid), "corrupt", f"message parts are not JSON (message {mid})", str(parts_text)[:160])
            continue
        parsed.append(
            (mid, role, parts if isinstance(parts, list) else [], model, created, finished, provider, summary)
        )
    owner = _owner([m for m in parsed if m[1] == "assistant"]) if usage else None
    prompt, after = None, "other"
    for mid, role, parts, model, created, finished, provider, summary in parsed:
        if role == "user":
            text = _text(parts)
            if text and not child:
                prompt, after = f"{AGENT}:prompt:{mid}", "prompt"
                yield Prompt(key=prompt, agent=AGENT, session_id=sid, ts=utc_iso(created), text=text, project=project)
            continue
        if role == "tool":
            after = "tool_result" if after != "prompt" else after
            continue
        if role != "assistant":
            continue
        finish = _finish(parts)
        mine = mid == owner
        trigger = "subagent" if child else "compaction" if summary else after
        yield Request(
            key=f"{AGENT}:{mid}",
            agent=AGENT,
            session_id=sid,
            ts=utc_iso(finished or created),
            model=model or None,
            provider=provider or None,
            project=project,
            input_tokens=usage["prompt_tokens"] if mine else 0,
            output_tokens=usage["completion_tokens"] if mine else 0,
            trigger=trigger,
            prompt_key=prompt,
            is_sidechain=child,
            complete=mine,
            raw_usage={**usage, "input_includes_cache_read": True} if mine else None,
        )
        after = "tool_result"
        if finish and finish[0] == "error":
            hit = _limit_hit(mid, sid, finish, utc_iso(finish[1] or finished or created), model, provider)
            if hit is not None:
                yield hit


def _limit_hit(mid: str, sid: str, finish: tuple, ts: str, model, provider) -> LimitHit | None:
    """A call that ended in an error the vendor's words say was a limit, else None."""
    words = f"{finish[2]}: {finish[3]}".strip(": ")
    refused = read_refusal(words, at=ts, provider=provider or None, model=model or None)
    if refused is None or refused.kind not in HIT_KINDS:
        return None
    return LimitHit(
        key=f"{AGENT}:hit:{mid}",
        agent=AGENT,
        session_id=sid,
        ts=ts,
        reset_at=refused.reset_at,
        window_minutes=refused.window_minutes,
        limit_type=refused.limit_type,
        message=words[:500],
        model=model or None,
    )


def _owner(calls: list[tuple]) -> str | None:
    """The call whose usage the session row holds now: the latest finished one that saved
    usage (an error or a cancel saves none); nobody's while the latest call is unfinished."""
    for mid, _, parts, *_ in reversed(calls):
        finish = _finish(parts)
        if finish is None:
            return None
        if finish[0] not in NO_TOKENS:
            return mid
    return None


def _finish(parts: list) -> tuple | None:
    """``(reason, time, message, details)`` of a message's ``finish`` part."""
    for part in parts:
        if isinstance(part, dict) and part.get("type") == "finish" and isinstance(part.get("data"), dict):
            data = part["data"]
            return (
                str(data.get("reason") or "unknown"),
                data.get("time") or None,
                str(data.get("message") or ""),
                str(data.get("details") or ""),
            )
    return None


def _text(parts: list) -> str:
    texts = [
        p["data"].get("text")
        for p in parts
        if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("data"), dict)
    ]
    return "\n".join(t for t in texts if isinstance(t, str) and t.strip())


def _ref(row_id: str) -> int:
    import hashlib

    return int(hashlib.sha1(str(row_id).encode()).hexdigest()[:12], 16)


@hookimpl
def register_parsers(register):
    register(CrushParser())
