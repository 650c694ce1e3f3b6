"""Kimi Code CLI (TypeScript, ``~/.kimi-code``) wire logs, and the plugin hook
that registers both Kimi parsers under agent ``kimi-code``.

Root: ``KIMI_CODE_HOME`` (comma-separated for several), else ``~/.kimi-code``.
Each agent of a session writes ``sessions/wd_<slug>_<hash>/<session id>/
agents/<agent id>/wire.jsonl``: ``main`` for the person's agent, ``agent-N``
for subagents, ``/btw`` side chats and swarm workers. Lines are compact JSON
``{"type": ..., <payload keys>, "time": <epoch ms>}`` after a ``metadata``
line with ``created_at``. The legacy kimi-cli's ``~/.kimi`` logs are read by
``parsers.kimi_cli``; the two formats share only the file name.

How it is counted (``reference/kimi-code-format.md`` section 3):

* A model call is a ``usage.record`` (``inputOther`` uncached,
  ``inputCacheRead``, ``inputCacheCreation``, ``output`` with reasoning inside),
  both scopes, all-zero ones included. ``step.end`` repeats the usage of turn
  steps and is not counted. ``usageScope: "session"`` is a full compaction,
  billed like any call: trigger ``compaction``. ``context.undo`` and
  ``context.clear`` remove nothing: the tokens were spent.
* The key is the call's content: agent id, time in ms and the four counts. It
  names the call whatever file holds it, so copies collapse.
* ``/fork`` copies every record of the source session, original times
  included, into the new session's files, then appends a ``forked`` record.
  Everything up to the last ``forked`` record of a file is a copy and counts
  zero times; since the marker comes after the copies, a file read from its
  start is searched for it first. Bundles unpacked under ``imported/`` are
  copies too, and never read; sessions imported from kimi-cli (``ses_*``)
  hold no usage and no prompts.
* Prompts are ``turn.prompt`` records from the person (``origin.kind`` ``user``,
  or a skill or plugin slash command with ``trigger: "user-slash"``) and user
  ``turn.steer`` records, except the steer that repeats its turn's prompt
  before the first step. A subagent's task (``system_trigger``) is not a prompt.
* Calls in an ``agent-N`` file are sidechain calls with trigger ``subagent``,
  unless the person prompted that agent (``/btw``).
* ``turn.ended`` with ``reason: "failed"`` and a plan refusal (403 weekly,
  5-hour or billing-cycle limit, concurrency limit, quota exhausted, or a 429
  that outlived its retries) is a ``LimitHit``, with the window when the text
  names it and the reset time when the text gives one.
* Model: the ``model`` of the nearest ``llm.request`` before the call, else the
  config's ``[models."<alias>"].model`` for the record's alias. Project: the
  session's ``state.json`` cwd, else ``session_index.jsonl``, else
  ``workspaces.json``.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import orjson
from analyzer.parsers.kimi_code.kimi_cli import KimiCliParser
from analyzer.parsers.kimi_code.refusals import refusal
from analyzer.parsers.kimi_code.shared import (
    AGENT,
    KimiParser,
    digest,
    model_for,
    parts_text,
    provider_for,
    tokens,
)

from analyzer.api import (
    BadLine,
    LimitHit,
    Line,
    Prompt,
    Record,
    Request,
    Session,
    SourceContext,
    first_objects,
    hookimpl,
    read_refusal,
    utc_iso,
)

KNOWN_TYPES = frozenset(
    {
        "config.update",
        "context.append_loop_event",
        "context.append_message",
        "context.apply_compaction",
        "context.clear",
        "context.undo",
        "cron.add",
        "cron.cursor",
        "cron.delete",
        "forked",
        "full_compaction.begin",
        "full_compaction.cancel",
        "full_compaction.complete",
        "goal.clear",
        "goal.create",
        "goal.update",
        "interaction.request",
        "interaction.resolved",
        "interruptionReminder.recorded",
        "llm.request",
        "llm.tools_snapshot",
        "mcp.tools_discovered",
        "permission.record_approval_result",
        "permission.set_mode",
        "plan_mode.cancel",
        "plan_mode.enter",
        "plan_mode.exit",
        "plan.revision",
        "plugin.session_start",
        "profile.bind",
        "prompt.accepted",
        "runtime.set_binding",
        "staleGuard.cleared",
        "staleGuard.recorded",
        "swarm_mode.enter",
        "swarm_mode.exit",
        "task.started",
        "task.terminated",
        "task.waitDelivered",
        "token_counting.measured",
        "token_counting.rebased",
        "token_counting.truncated",
        "token_counting.turn_recorded",
        "tools.register_user_tool",
        "tools.reset_active_tools",
        "tools.set_active_tools",
        "tools.unregister_user_tool",
        "tools.update_store",
        "tower_mode.enter",
        "tower_mode.exit",
        "turn.cancel",
        "turn.ended",
        "turn.prompt",
        "turn.steer",
        "usage.record",
        # legacy engine (protocol 1.4) only
        "micro_compaction.apply",
        "context.update_token_count",
    }
)

# --- files -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeFile:
    """Where an agent's wire file sits: its session, agent id and root folder."""

    session_id: str
    session_dir: Path
    agent_id: str
    root: Path | None
    work_dir_key: str


@lru_cache(maxsize=4096)
def locate(path: Path) -> CodeFile:
    """The session, agent and root folder of an agent's wire file, from its path."""
    session_dir = path.parents[2] if len(path.parents) > 2 else path.parent
    sessions = session_dir.parent.parent
    root = sessions.parent if sessions.name == "sessions" else None
    return CodeFile(session_dir.name, session_dir, path.parent.name, root, session_dir.parent.name)


def last_fork_marker(path: Path) -> int:
    """The byte offset of the last complete ``forked`` record line, or -1."""
    try:
        with open(path, "rb") as f:
            if not f.seek(0, 2):
                return -1
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                last = -1
                hit = mm.find(b'"forked"')
                while hit != -1:
                    start = mm.rfind(b"\n", 0, hit) + 1
                    end = mm.find(b"\n", hit)
                    if end == -1:
                        break  # a torn last line is not read yet
                    try:
                        obj = orjson.loads(mm[start:end])
                    except orjson.JSONDecodeError:
                        obj = None
                    if isinstance(obj, dict) and obj.get("type") == "forked":
                        last = start
                    hit = mm.find(b'"forked"', end)
                return last
    except (OSError, ValueError):
        return -1


def displayable(origin: object) -> bool:
    """Kimi Code's own rule for a prompt the person gave (``isDisplayablePromptOrigin``)."""
    if not isinstance(origin, dict):
        return False
    kind = origin.get("kind")
    if kind == "user":
        return True
    return kind in ("skill_activation", "plugin_command") and origin.get("trigger") == "user-slash"


def prompt_text(record: dict) -> str:
    """What the person typed: the input text, or ``/name args`` for a slash command."""
    origin = record.get("origin") if isinstance(record.get("origin"), dict) else {}
    name = origin.get("skillName") or origin.get("commandName")
    if origin.get("kind") in ("skill_activation", "plugin_command") and isinstance(name, str):
        args = origin.get("skillArgs") or origin.get("args") or ""
        return f"/{name} {args}".strip() if isinstance(args, str) else f"/{name}"
    return parts_text(record.get("input"))


class KimiCodeParser(KimiParser):
    name = AGENT
    home_variable = "KIMI_CODE_HOME"
    home_folder = ".kimi-code"

    def candidate(self, path: Path) -> bool:
        # agents/<id>/wire.jsonl, but not the unpacked export bundles under imported/<id>/
        parents = path.parents
        return (
            path.name == "wire.jsonl"
            and len(parents) > 3
            and parents[1].name == "agents"
            and parents[3].name != "imported"
        )

    def recognise(self, path: Path, head: bytes) -> bool:
        # The first line that says what the file is: a damaged first line must not hide it.
        for obj in first_objects(head, 4):
            if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
                continue
            if obj["type"] == "metadata":
                return "protocol_version" in obj and "created_at" in obj
            if obj["type"] in KNOWN_TYPES:  # dotted names no other agent uses
                return True
        return False

    # --- the file's context -------------------------------------------------------------

    def session_meta(self, where: CodeFile) -> dict:
        for path in (where.session_dir / "state.json", where.session_dir / "session-meta" / "state.json"):
            meta = self.side.load(path)
            if isinstance(meta, dict):
                return meta
        return {}

    def project(self, where: CodeFile) -> str | None:
        return self.side.derived(("project", where), lambda: self._project(where))

    def _project(self, where: CodeFile) -> str | None:
        meta = self.session_meta(where)
        for key in ("cwd", "workDir"):
            if isinstance(meta.get(key), str) and meta[key]:
                return meta[key]
        if where.root is None:
            return None
        index = self.side.load(where.root / "session_index.jsonl")
        for row in reversed(index if isinstance(index, list) else []):
            if (
                isinstance(row, dict)
                and row.get("sessionId") == where.session_id
                and isinstance(row.get("workDir"), str)
            ):
                return row["workDir"]
        spaces = self.side.load(where.root / "workspaces.json")
        spaces = spaces.get("workspaces") if isinstance(spaces, dict) else None
        space = spaces.get(where.work_dir_key) if isinstance(spaces, dict) else None
        root = space.get("root") if isinstance(space, dict) else None
        return root if isinstance(root, str) else None

    def provider(self, where: CodeFile, alias: object) -> str | None:
        """Where a call under a config alias went: its provider's host (``shared.provider_for``)."""
        config = self.side.load(where.root / "config.toml" if where.root else None)
        return provider_for(config, alias)

    def model(self, where: CodeFile, alias: object, state: dict) -> str | None:
        if isinstance(state.get("m"), str) and state["m"]:
            return state["m"]
        return model_for(self.side.load(where.root / "config.toml" if where.root else None), alias)

    # --- lines ---------------------------------------------------------------------------

    def parse(self, lines: Iterable[Line], state: dict, ctx: SourceContext) -> Iterator[Record]:
        if "fe" not in state:  # read from the start: find where a fork's copies end
            state["fe"] = last_fork_marker(ctx.path)
        yield from super().parse(lines, state, ctx)

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        kind = obj.get("type")
        if not isinstance(kind, str):
            yield BadLine(offset, "bad_shape", "wire record without a type")
            return
        if kind == "metadata" or offset <= state.get("fe", -1):
            return  # the header, or a record copied from the session this one was forked from
        if kind == "forked":
            for name in ("p", "t", "h", "pp", "c", "k"):
                state.pop(name, None)
            state["fe"] = offset
            return
        if kind not in KNOWN_TYPES:
            yield BadLine(offset, "unknown_type", f"unknown record type {kind!r}")
            return
        where = locate(ctx.path)
        if not state.get("s"):
            state["s"] = 1
            yield self._session(where)
        if kind == "usage.record":
            yield from self._usage(obj, state, where)
        elif kind == "llm.request":
            state["m"] = obj.get("model") if isinstance(obj.get("model"), str) else None
            state["k"] = obj.get("kind")
            state.pop("pp", None)
        elif kind in ("turn.prompt", "turn.steer"):
            yield from self._prompt(obj, state, where, steer=kind == "turn.steer")
        elif kind == "context.append_loop_event":
            event = obj.get("event") if isinstance(obj.get("event"), dict) else {}
            if event.get("type") == "tool.result":
                state["t"] = "tool_result"
            elif event.get("type") == "step.begin":
                state.pop("pp", None)
        elif kind == "context.append_message":
            message = obj.get("message")
            if isinstance(message, dict) and message.get("role") == "tool":
                state["t"] = "tool_result"
        elif kind == "full_compaction.begin":
            state["c"] = 1
        elif kind in ("full_compaction.complete", "full_compaction.cancel"):
            state.pop("c", None)
        elif kind == "turn.ended" and obj.get("reason") == "failed":
            yield from self._failed(obj, state, where)

    def _session(self, where: CodeFile) -> Session:
        meta = self.session_meta(where)
        custom = meta.get("custom") if isinstance(meta.get("custom"), dict) else {}
        parent = meta.get("forkedFrom") or custom.get("parent_session_id")
        project = self.project(where)
        return Session(
            agent=AGENT,
            session_id=where.session_id,
            project=project,
            cwd=project,
            parent_session_id=parent if isinstance(parent, str) else None,
            title=meta.get("title") if isinstance(meta.get("title"), str) else None,
        )

    @staticmethod
    def _stamp(obj: dict, where: CodeFile) -> tuple[int, str, str]:
        """A record's time (epoch ms, stored form) and agent; a record that needs
        a time and has none is a bad line (the base class reports the error)."""
        stamp = obj.get("time")
        if not isinstance(stamp, (int, float)) or isinstance(stamp, bool) or stamp <= 0:
            raise ValueError(f"{obj.get('type')} without a time")
        agent_id = obj.get("agentId") if isinstance(obj.get("agentId"), str) else where.agent_id
        return int(stamp), utc_iso(stamp) or "", agent_id

    def _usage(self, obj: dict, state: dict, where: CodeFile) -> Iterator[Record]:
        usage = obj.get("usage")
        if not isinstance(usage, dict):
            raise ValueError("usage.record without a usage object")
        stamp, ts, agent_id = self._stamp(obj, where)
        uncached, read = (
            tokens(usage.get("inputOther"), "inputOther"),
            tokens(usage.get("inputCacheRead"), "inputCacheRead"),
        )
        write, output = (
            tokens(usage.get("inputCacheCreation"), "inputCacheCreation"),
            tokens(usage.get("output"), "output"),
        )
        scope = obj.get("usageScope")
        sidechain = agent_id != "main"
        human = bool(state.get("h"))
        if scope == "session" or state.get("k") == "compaction" or state.get("c"):
            trigger = "compaction"
        elif sidechain and not human:
            trigger = "subagent"
        else:
            trigger = state.get("t") or "other"
            state["t"] = "other"
        state.pop("k", None)
        raw = dict(usage)
        if scope is not None:
            raw["usageScope"] = scope
        yield Request(
            key=f"{AGENT}:{agent_id}:{stamp}:{uncached}:{read}:{write}:{output}",
            agent=AGENT,
            session_id=where.session_id,
            ts=ts,
            model=self.model(where, obj.get("model"), state),
            provider=self.provider(where, obj.get("model")),
            project=self.project(where),
            input_tokens=uncached,
            cache_read_tokens=read,
            cache_write_tokens=write,
            output_tokens=output,
            trigger=trigger,
            prompt_key=state.get("p") if human or not sidechain else None,
            is_sidechain=sidechain,
            raw_usage=raw,
        )

    def _prompt(self, obj: dict, state: dict, where: CodeFile, *, steer: bool) -> Iterator[Record]:
        if not displayable(obj.get("origin")):
            if not steer:  # a turn the agent started: subagent task, notice, cron, hook, retry
                state["h"] = 0
                state["t"] = "other"
                state.pop("pp", None)
            return
        text = prompt_text(obj)
        if steer and state.get("pp") == digest(text):
            state.pop("pp", None)
            return  # the steer that started this turn repeats its prompt
        stamp, ts, agent_id = self._stamp(obj, where)
        key = f"{AGENT}:p:{agent_id}:{stamp}:{digest(text)}"
        yield Prompt(
            key=key,
            agent=AGENT,
            session_id=where.session_id,
            ts=ts,
            text=text,
            project=self.project(where),
            is_sidechain=agent_id != "main",
        )
        state["p"] = key
        state["t"] = "prompt"
        state["h"] = 1
        if not steer:
            state["pp"] = digest(text)

    def _failed(self, obj: dict, state: dict, where: CodeFile) -> Iterator[Record]:
        found = refusal(obj.get("error"))
        if found is None:
            return
        stamp, ts, agent_id = self._stamp(obj, where)
        words = read_refusal(obj.get("error"), at=ts, model=state.get("m"), vendor="moonshot")
        yield LimitHit(
            key=f"{AGENT}:hit:{agent_id}:{stamp}",
            agent=AGENT,
            session_id=where.session_id,
            ts=ts,
            reset_at=found.reset_at or (words.reset_at if words else None),
            window_minutes=found.window_minutes or (words.window_minutes if words else None),
            limit_type=found.limit_type,
            message=found.message[:500] or None,
            model=state.get("m"),
        )


@hookimpl
def register_parsers(register):
    register(KimiCodeParser())
    register(KimiCliParser())
