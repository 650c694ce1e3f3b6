"""Goose (block/goose): the session store ``sessions.db`` in Goose's data folder.

Roots: ``$GOOSE_PATH_ROOT/data/sessions/sessions.db`` when ``GOOSE_PATH_ROOT``
is set (an absolute path), else the data folder of the ``etcetera`` app
strategy: ``$XDG_DATA_HOME/goose`` or ``~/.local/share/goose`` on Linux and
macOS, ``%APPDATA%\\Block\\goose\\data`` on Windows; also
``~/Library/Application Support/Block/goose`` (older macOS builds), each with
``sessions/sessions.db``. Read whole, read-only, without locks, keeping a state.

What the store says (schema version 13, Goose 1.35):

* ``sessions``: ``accumulated_input_tokens`` / ``accumulated_output_tokens`` /
  ``accumulated_total_tokens`` are the session's running totals (every call,
  the summarising call of a compaction included); ``input_tokens`` /
  ``output_tokens`` / ``total_tokens`` are only the latest call and are not
  read. ``provider_name`` and ``model_config_json.model_name`` name the
  session's current provider and model. ``session_type`` ``sub_agent`` marks a
  subagent's session.
* ``messages``: ``role`` user / assistant, ``content_json`` (``text``,
  ``toolRequest``, ``toolResponse``, ``thinking`` ... items),
  ``created_timestamp`` (unix seconds), ``metadata_json`` (``userVisible``,
  ``agentVisible``). An assistant message is a model call.

Counting: the running totals become rows as Factory Droid's do
(``analyzer.parsers._growth``): each read stores the growth since the last, shared over
the assistant messages that appeared since (keyed ``goose:<session>:<message
id>``); growth with no new message is one row keyed by the total. A compaction
replaces the conversation, re-inserting kept messages: only messages newer
than the last call seen are new calls. Exact: each session's totals; the
number, time and model of calls. Estimated: the split of one read's growth
between its calls. Goose keeps no cache split: input is what the provider
reported (for Anthropic it is understood to include cache reads and writes
[unverified]), stored as input; a total above input + output is reasoning
reported apart (Google's thoughts) and is added to output as reasoning.

Prompts: user messages with text that the person saw (``userVisible`` not
false) and that are not tool responses, in sessions that are not subagents.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import orjson
from analyzer.parsers._growth import share, take_growth
from analyzer.parsers.opencode.database import connect

from analyzer.api import BadLine, Prompt, Record, Request, Session, SourceContext, home_from, hookimpl, utc_iso

AGENT = "goose"
SQLITE_MAGIC = b"SQLite format 3\x00"
SUBAGENT_TYPES = frozenset({"sub_agent", "subagent"})
SESSION_COLUMNS = (
    "id",
    "working_dir",
    "name",
    "session_type",
    "provider_name",
    "model_config_json",
    "created_at",
    "updated_at",
    "accumulated_input_tokens",
    "accumulated_output_tokens",
    "accumulated_total_tokens",
)


def goose_data_dirs(env: Mapping[str, str]) -> list[Path]:
    root = env.get("GOOSE_PATH_ROOT", "").strip()
    if root and Path(root).is_absolute():
        return [Path(root) / "data"]
    home = home_from(env)
    dirs = []
    if env.get("APPDATA", "").strip():
        dirs.append(Path(env["APPDATA"]) / "Block" / "goose" / "data")
    xdg = env.get("XDG_DATA_HOME", "").strip()
    dirs.append((Path(xdg) if xdg else home / ".local" / "share") / "goose")
    dirs.append(home / "Library" / "Application Support" / "Block" / "goose")
    return dirs


class GooseParser:
    name = AGENT
    agent = AGENT
    mode: Literal["lines", "file"] = "file"
    keeps_state = True
    env_vars = ("GOOSE_PATH_ROOT", "XDG_DATA_HOME", "APPDATA")

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return [d / "sessions" / "sessions.db" for d in goose_data_dirs(env)]

    def candidate(self, path: Path) -> bool:
        return path.name == "sessions.db"

    def recognise(self, path: Path, head: bytes) -> bool:
        return head.startswith(SQLITE_MAGIC)

    def parse_file(self, path: Path, ctx: SourceContext, state: dict) -> Iterator[Record]:
        sessions, messages = read_store(path)
        if sessions is None:
            yield BadLine(0, "unrecognised_file", "an SQLite file without Goose's sessions and messages tables")
            return
        by_session: dict[str, list[tuple]] = {}
        for row in messages:
            by_session.setdefault(row[1], []).append(row)
        known = state.get("s") if isinstance(state.get("s"), dict) else {}
        records: list[Record] = []
        for row in sessions:
            info = dict(zip(SESSION_COLUMNS, row))
            sid = str(info["id"])
            mine = dict(known.get(sid) or {})
            records += session_records(info, by_session.get(sid, []), mine)
            known[sid] = mine
        state["s"] = known  # only after the whole store was read
        yield from records


def read_store(path: Path) -> tuple[list | None, list]:
    try:
        conn = connect(path)
    except sqlite3.Error as exc:
        raise OSError(f"cannot open the Goose store read-only: {exc}") from exc
    try:
        conn.execute("begin")
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        if not {"sessions", "messages"} <= tables:
            return None, []
        have = {r[1] for r in conn.execute("pragma table_info(sessions)")}
        select = ", ".join(c if c in have else "null" for c in SESSION_COLUMNS)
        sessions = conn.execute(f"select {select} from sessions order by id").fetchall()
        mcols = {r[1] for r in conn.execute("pragma table_info(messages)")}
        extra = ", ".join(c if c in mcols else "null" for c in ("message_id", "metadata_json"))
        messages = conn.execute(
            f"select id, session_id, role, content_json, created_timestamp, {extra} from messages"
            " order by session_id, created_timestamp, id"
        ).fetchall()
        conn.execute("commit")
        return sessions, messages
    except sqlite3.DatabaseError as exc:
        raise OSError(f"cannot read the Goose store: {exc}") from exc
    finally:
        conn.close()


def session_records(info: dict, messages: list[tuple], mine: dict) -> list[Record]:
    """One session's records; ``mine`` is its part of the state (updated in place)."""
    sid = str(info["id"])
    sub = str(info.get("session_type") or "") in SUBAGENT_TYPES
    project = info.get("working_dir") or None
    model = _model(info.get("model_config_json"))
    provider = info.get("provider_name") or None
    out: list[Record] = [
        Session(
            agent=AGENT, session_id=sid, project=project, cwd=project, title=info.get("name") or None, is_subagent=sub
        )
    ]
    mark_ts, mark_ids = int(mine.get("ts", -1)), set(mine.get("ids", []))
    pending = list(mine.get("pend", []))
    prompt, after = mine.get("prompt"), mine.get("next", "other")
    for rowid, _, role, content_text, created, message_id, meta_text in messages:
        created = int(created or 0)
        key = str(message_id or rowid)
        if created < mark_ts or (created == mark_ts and key in mark_ids):
            continue  # seen before (a compaction re-inserts the kept messages)
        if created > mark_ts:
            mark_ts, mark_ids = created, set()
        mark_ids.add(key)
        content = _json(content_text)
        items = content if isinstance(content, list) else []
        if role == "assistant":
            pending.append({"key": key, "ts": utc_iso(created), "trigger": after, "prompt": prompt})
            after = "tool_result"
        elif role == "user":
            text = _typed(items, _json(meta_text))
            if text and not sub:
                prompt, after = f"{AGENT}:prompt:{sid}:{key}", "prompt"
                out.append(
                    Prompt(key=prompt, agent=AGENT, session_id=sid, ts=utc_iso(created), text=text, project=project)
                )
            elif any(isinstance(i, dict) and i.get("type") == "toolResponse" for i in items):
                after = "tool_result" if after != "prompt" else after
    now = [_int(info.get("accumulated_input_tokens")), _int(info.get("accumulated_output_tokens"))]
    total = _int(info.get("accumulated_total_tokens"))
    now.append(max(0, total - now[0] - now[1]))
    growth = take_growth(mine, now)
    if any(growth):
        calls = pending or [
            {
                "key": "total:" + ":".join(str(v) for v in mine["t"]),
                "ts": utc_iso(info.get("updated_at") or info.get("created_at")) or "1970-01-01T00:00:00.000Z",
                "trigger": "other",
                "prompt": prompt,
            }
        ]
        for call, (uncached, output, extra) in zip(calls, share(growth, len(calls))):
            out.append(
                Request(
                    key=f"{AGENT}:{sid}:{call['key']}",
                    agent=AGENT,
                    session_id=sid,
                    ts=call["ts"],
                    model=model,
                    provider=provider,
                    project=project,
                    input_tokens=uncached,
                    output_tokens=output + extra,
                    reasoning_tokens=extra,
                    trigger="subagent" if sub else call["trigger"],
                    prompt_key=call["prompt"],
                    is_sidechain=sub,
                    raw_usage={"share_of_growth": {"input": uncached, "output": output, "extra": extra}},
                )
            )
        pending = []
    mine.update(ts=mark_ts, ids=sorted(mark_ids), pend=pending[-2000:], prompt=prompt, next=after)
    return out


def _typed(items: list, meta) -> str | None:
    if isinstance(meta, dict) and meta.get("userVisible") is False:
        return None
    texts = [i.get("text") for i in items if isinstance(i, dict) and i.get("type") == "text"]
    typed = [t for t in texts if isinstance(t, str) and t.strip()]
    return "\n".join(typed) if typed else None


def _model(text) -> str | None:
    config = _json(text)
    name = config.get("model_name") if isinstance(config, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() else None


def _json(text):
    try:
        return orjson.loads(text) if text else None
    except (orjson.JSONDecodeError, TypeError):
        return None


def _int(value) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0


@hookimpl
def register_parsers(register):
    register(GooseParser())
