"""Legacy kimi-cli (Python, ``~/.kimi``) wire logs, read as agent ``kimi-code``.

Root: ``KIMI_SHARE_DIR`` (comma-separated for several), else ``~/.kimi``. Each
session is ``sessions/<md5(work dir)>/<session uuid>/wire.jsonl`` (the folder
is ``<kaos>_<md5>`` for a non-local KAOS); each subagent instance writes its
own ``subagents/<agent id>/wire.jsonl`` inside the session folder. The first
line is ``{"type": "metadata", "protocol_version": ...}`` (missing before
protocol 1.2); every other line is ``{"timestamp": <epoch seconds>,
"message": {"type": <WireMessage class>, "payload": {...}}}``, written by
Python's ``json.dumps`` with spaces after ``:`` and ``,``.

How it is counted:

* A model call is a ``StatusUpdate`` whose payload has ``message_id`` (the
  provider's response id) or ``token_usage`` (``input_other`` uncached,
  ``input_cache_read``, ``input_cache_creation``, ``output`` with reasoning
  inside). The key is the ``message_id``: an update repeated for one message,
  a session copied by ``/fork`` or ``/undo`` (lines copied verbatim) and a
  subagent call seen twice all collapse to one row, the most complete.
* Subagent calls are written twice: forwarded into the parent's wire as a
  ``SubagentEvent`` wrapping the ``StatusUpdate``, and again in the subagent's
  own wire. Both copies carry the same ``message_id``, so they count once,
  marked sidechain with trigger ``subagent``. Older versions wrote only the
  forwarded copy, which then counts alone. (Without a ``message_id`` the
  forwarded copy is skipped when the subagent's own wire exists.)
* A prompt is ``TurnBegin.user_input`` (and ``SteerInput``, text typed into a
  running turn), except synthetic turns (``<system-reminder>``, imported
  context) and slash commands: a ``/command`` counts as a prompt only when the
  main agent calls the model before the turn ends (``/init``, skills), not when
  it ran locally (``/usage``, ``/model``). Prompt keys are the line's timestamp
  and text, which the copies made by ``/fork`` and ``/undo`` keep.
* Limits: kimi-cli retries every HTTP 429 and writes a ``StepRetry`` per failed
  attempt; a retry that then succeeds was transient. When the last attempt of a
  step was announced by a 429 ``StepRetry`` and the step ends in
  ``StepInterrupted`` with no model call in between, the plan refused the step:
  that is a ``LimitHit`` (type ``rate_limit``; the log gives no reset time and
  no window). Retries of other errors are not limits.
* The model is not in the log: it is the ``effective_model`` of a subagent's
  ``meta.json``, else the config's ``default_model``, resolved through
  ``[models."<alias>"].model``, else ``kimi-for-coding``. The project is the
  work folder whose md5 names the session's parent folder (``kimi.json``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from analyzer.parsers.kimi_code.shared import (
    AGENT,
    FALLBACK_MODEL,
    KimiParser,
    as_int,
    digest,
    model_for,
    parts_text,
    provider_for,
    tokens,
)

from analyzer.api import BadLine, LimitHit, Prompt, Record, Request, Session, SourceContext, first_objects, utc_iso

NAME = "kimi-cli"

KNOWN_TYPES = frozenset(
    {
        "TurnBegin",
        "SteerInput",
        "TurnEnd",
        "StepBegin",
        "StepInterrupted",
        "StepRetry",
        "CompactionBegin",
        "CompactionEnd",
        "StatusUpdate",
        "SubagentEvent",
        "ToolResult",
        "ToolCall",
        "ToolCallPart",
        "ContentPart",
        "TextPart",
        "ThinkPart",
        "ImageURLPart",
        "AudioURLPart",
        "VideoURLPart",
        "ApprovalRequest",
        "ApprovalResponse",
        "ApprovalRequestResolved",
        "ToolCallRequest",
        "QuestionRequest",
        "HookRequest",
        "HookTriggered",
        "HookResolved",
        "MCPLoadingBegin",
        "MCPLoadingEnd",
        "Notification",
        "PlanDisplay",
        "BtwBegin",
        "BtwEnd",
    }
)

# Turns the agent starts itself: background-task notices, imported context.
SYNTHETIC_PREFIXES = ("<system-reminder>", "<system>", "[Imported context from")


@dataclass(frozen=True)
class CliFile:
    """Where a wire file sits: its session, its subagent (None for the main wire), its side files."""

    session_id: str
    session_dir: Path
    subagent: str | None
    share: Path | None
    work_dir_key: str


@lru_cache(maxsize=4096)
def locate(path: Path) -> CliFile:
    """The session, subagent and share folder of a wire file, from its path."""
    if path.parent.parent.name == "subagents" and len(path.parents) > 2:
        session_dir = path.parents[2]
        subagent: str | None = path.parent.name
    else:
        session_dir = path.parent
        subagent = None
    sessions = session_dir.parent.parent
    share = sessions.parent if sessions.name == "sessions" else None
    return CliFile(session_dir.name, session_dir, subagent, share, session_dir.parent.name)


@dataclass(frozen=True)
class _Line:
    """One wire line's context: its file, its raw timestamp and stored time, the parser state."""

    where: CliFile
    stamp: float
    ts: str
    state: dict


class KimiCliParser(KimiParser):
    name = NAME
    home_variable = "KIMI_SHARE_DIR"
    home_folder = ".kimi"

    def candidate(self, path: Path) -> bool:
        return path.name == "wire.jsonl" and path.parent.parent.name != "agents"

    def recognise(self, path: Path, head: bytes) -> bool:
        # The first line that says what the file is: a damaged first line must not hide it.
        for obj in first_objects(head, 4):
            if not isinstance(obj, dict):
                continue
            if obj.get("type") == "metadata":
                return "protocol_version" in obj and "created_at" not in obj
            message = obj.get("message")
            stamp = obj.get("timestamp")
            if (
                isinstance(message, dict)
                and isinstance(message.get("type"), str)
                and isinstance(message.get("payload"), dict)
                and isinstance(stamp, (int, float))
                and not isinstance(stamp, bool)
            ):
                return True
        return False

    # --- the file's context -------------------------------------------------------------

    def config(self, where: CliFile):
        return self.side.load(where.share / "config.toml" if where.share else None)

    def project(self, where: CliFile) -> str | None:
        return self.side.derived(("project", where), lambda: self._project(where))

    def _project(self, where: CliFile) -> str | None:
        data = self.side.load(where.share / "kimi.json" if where.share else None)
        work_dirs = data.get("work_dirs") if isinstance(data, dict) else None
        for entry in work_dirs if isinstance(work_dirs, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                continue
            hashed = _md5(entry["path"])
            kaos = entry.get("kaos") or "local"
            if where.work_dir_key in (hashed, f"{kaos}_{hashed}"):
                return entry["path"]
        return None

    def model(self, where: CliFile, subagent: str | None) -> str:
        return self.side.derived(("model", where, subagent), lambda: self._model(where, subagent))

    def _model(self, where: CliFile, subagent: str | None) -> str:
        config = self.config(where)
        return model_for(config, self._alias(where, subagent)) or FALLBACK_MODEL

    def provider(self, where: CliFile, subagent: str | None) -> str | None:
        """Where the session's calls went: the configured provider's host (``shared.provider_for``)."""
        return self.side.derived(
            ("provider", where, subagent), lambda: provider_for(self.config(where), self._alias(where, subagent))
        )

    def _alias(self, where: CliFile, subagent: str | None) -> str | None:
        """The config alias in use: a subagent's ``effective_model``, else the config's ``default_model``."""
        config = self.config(where)
        if subagent:
            meta = self.side.load(where.session_dir / "subagents" / subagent / "meta.json")
            spec = meta.get("launch_spec") if isinstance(meta, dict) else None
            chosen = spec.get("effective_model") if isinstance(spec, dict) else None
            if model_for(config, chosen):
                return chosen
        default = config.get("default_model") if isinstance(config, dict) else None
        return default if isinstance(default, str) else None

    # --- lines ---------------------------------------------------------------------------

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        if obj.get("type") == "metadata":
            return
        message = obj.get("message")
        kind = message.get("type") if isinstance(message, dict) else None
        if not isinstance(kind, str):
            yield BadLine(offset, "bad_shape", "wire line without message.type")
            return
        if kind not in KNOWN_TYPES:
            yield BadLine(offset, "unknown_type", f"unknown wire message type {kind!r}")
            return
        payload = message.get("payload")
        payload = payload if isinstance(payload, dict) else {}
        stamp = obj.get("timestamp")
        if not isinstance(stamp, (int, float)) or isinstance(stamp, bool):
            if kind in ("TurnBegin", "SteerInput", "StatusUpdate", "SubagentEvent", "StepInterrupted"):
                yield BadLine(offset, "bad_shape", f"{kind} without a numeric timestamp")
            return
        where = locate(ctx.path)
        if not state.get("s"):
            state["s"] = 1
            yield self._session(where)
        line = _Line(where, stamp, utc_iso(stamp) or "", state)
        if kind == "StatusUpdate":
            yield from self._status(line, payload, None)
        elif kind == "SubagentEvent":
            event = payload.get("event")
            if (
                isinstance(event, dict)
                and event.get("type") == "StatusUpdate"
                and isinstance(event.get("payload"), dict)
            ):
                agent_id = payload.get("agent_id")
                yield from self._status(line, event["payload"], agent_id if isinstance(agent_id, str) else "")
        elif kind in ("TurnBegin", "SteerInput"):
            yield from self._typed(line, payload.get("user_input"), turn=kind == "TurnBegin")
        elif kind == "ToolResult":
            state["t"] = "tool_result"
        elif kind == "StepRetry":
            state["retry"] = [
                as_int(payload.get("status_code")),
                as_int(payload.get("next_attempt")),
                as_int(payload.get("max_attempts")),
                as_int(payload.get("n")),
            ]
        elif kind == "StepInterrupted":
            state.pop("cmd", None)
            hit = self._refused(line, state.pop("retry", None))
            if hit:
                yield hit
        elif kind in ("StepBegin", "TurnEnd"):
            state.pop("retry", None)
            if kind == "TurnEnd":
                state.pop("cmd", None)  # a command that called no model ran locally
        elif kind == "CompactionBegin":
            state["c"] = 1
        elif kind == "CompactionEnd":
            state.pop("c", None)

    def _session(self, where: CliFile) -> Session:
        project = self.project(where)
        meta = self.side.load(where.session_dir / "state.json")
        title = meta.get("custom_title") if isinstance(meta, dict) else None
        return Session(
            agent=AGENT,
            session_id=where.session_id,
            project=project,
            cwd=project,
            title=title if isinstance(title, str) else None,
        )

    def _typed(self, line: _Line, user_input, *, turn: bool) -> Iterator[Record]:
        """A TurnBegin or SteerInput: the person's prompt, a command, or a synthetic turn."""
        state = line.state
        if line.where.subagent is not None:
            return  # a subagent's task comes from the parent model, not the person
        if turn:
            state.pop("cmd", None)
        text = parts_text(user_input)
        stripped = text.strip()
        if not stripped and not (isinstance(user_input, list) and user_input):
            return
        if stripped.startswith(SYNTHETIC_PREFIXES):
            if turn:
                state["t"] = "other"
            return
        key = f"{AGENT}:p:{line.stamp!r}:{digest(text)}"
        if stripped.startswith("/"):
            if turn:  # a prompt only if the model is called before the turn ends
                state["cmd"] = [key, line.ts, text]
                state["t"] = "other"
            return
        yield Prompt(
            key=key,
            agent=AGENT,
            session_id=line.where.session_id,
            ts=line.ts,
            text=text,
            project=self.project(line.where),
        )
        state["p"] = key
        state["t"] = "prompt"

    def _status(self, line: _Line, payload: dict, forwarded: str | None) -> Iterator[Record]:
        """A StatusUpdate, top-level (``forwarded`` None) or inside a SubagentEvent."""
        usage = payload.get("token_usage")
        message_id = payload.get("message_id")
        if not isinstance(usage, dict):
            if not message_id:
                return  # a context, plan-mode or MCP status: no model call
            usage = {}  # a call whose usage the provider did not report
        state, where = line.state, line.where
        subagent = forwarded if forwarded is not None else where.subagent
        sidechain = subagent is not None
        if forwarded is None:
            state.pop("retry", None)
        if message_id:
            key = f"{AGENT}:{message_id}"
        elif forwarded and (where.session_dir / "subagents" / forwarded / "wire.jsonl").exists():
            return  # the subagent's own wire has this call; without an id the copies cannot be matched
        else:
            label = "main" if subagent is None else subagent or "subagent"
            key = f"{AGENT}:cli:{where.session_id}:{label}:{line.stamp!r}"
        if sidechain:
            trigger, prompt_key = "subagent", state.get("p")
        else:
            last = state.get("last")
            if last and last[0] == key:
                trigger, prompt_key = last[1], last[2]
            else:
                command = state.pop("cmd", None)
                if command:  # the slash command called the model: the person's prompt after all
                    yield Prompt(
                        key=command[0],
                        agent=AGENT,
                        session_id=where.session_id,
                        ts=command[1],
                        text=command[2],
                        project=self.project(where),
                    )
                    state["p"] = command[0]
                    state["t"] = "prompt"
                trigger = "compaction" if state.get("c") else state.get("t") or "other"
                prompt_key = state.get("p")
                state["last"] = [key, trigger, prompt_key]
                state["t"] = "other"
        yield Request(
            key=key,
            agent=AGENT,
            session_id=where.session_id,
            ts=line.ts,
            model=self.model(where, subagent),
            provider=self.provider(where, subagent),
            project=self.project(where),
            input_tokens=tokens(usage.get("input_other"), "input_other"),
            cache_read_tokens=tokens(usage.get("input_cache_read"), "input_cache_read"),
            cache_write_tokens=tokens(usage.get("input_cache_creation"), "input_cache_creation"),
            output_tokens=tokens(usage.get("output"), "output"),
            trigger=trigger,
            prompt_key=prompt_key,
            is_sidechain=sidechain,
            raw_usage=usage or None,
        )

    def _refused(self, line: _Line, retry: list | None) -> LimitHit | None:
        """A step abandoned after its last attempt was announced by a 429 retry."""
        if not retry or retry[0] != 429 or retry[2] <= 0 or retry[1] < retry[2]:
            return None
        return LimitHit(
            key=f"{AGENT}:hit:cli:{line.stamp!r}",
            agent=AGENT,
            session_id=line.where.session_id,
            ts=line.ts,
            limit_type="rate_limit",
            message=f"step {retry[3]} gave up after {retry[2]} attempts, the last retried after HTTP 429",
            model=self.model(line.where, line.where.subagent),
        )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()
