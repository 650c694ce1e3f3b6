"""Log writers: the simulated work, written the way an agent writes it.

A writer receives events in time order (a typed prompt, a model call, a quota
reading, a refused call) and lays them out as its agent's files under a HOME
folder. ``ClaudeCodeWriter`` writes Claude Code transcripts, including the
traps the parser must survive (streaming lines that repeat a call's usage with
a placeholder output count). ``CodexWriter`` writes Codex rollouts, whose
``token_count`` events carry the plan's own readings (``rate_limits``) with
every call: a writer that logs readings returns True from ``reading``, so the
simulator does not also store them as statusline rows, and one that sets
``readings_with_requests`` is handed the current readings with every call.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import orjson

from analyzer.contract.timeutil import format_utc
from analyzer.simulate.usage import SimPrompt, SimRequest, SimSession

WINDOW_KIND = {300: ("session", "five_hour"), 10080: ("weekly_all", "seven_day")}


Shown = list[tuple[int, float, datetime]]  # (window minutes, percent, resets at)


class LogWriter(Protocol):
    agent: str
    readings_with_requests: bool

    def prompt(self, session: SimSession, prompt: SimPrompt) -> None: ...

    def request(self, session: SimSession, request: SimRequest, shown: Shown | None = None) -> None: ...

    def reading(self, session: SimSession, ts: datetime, readings: Shown) -> bool: ...

    def limit_hit(self, session: SimSession, ts: datetime, minutes: int, resets_at: datetime) -> None: ...

    def finish(self, home: Path) -> list[Path]: ...


def _ts(dt: datetime) -> str:
    return format_utc(dt)


class ClaudeCodeWriter:
    """Claude Code JSONL under ``~/.claude/projects/<project>/<session>.jsonl``.

    ``usage_in_log``: write readings as ``/usage`` reports in the transcript
    (what the parser reads as ``source = 'log'``) instead of leaving them to
    the caller.
    """

    agent = "claude-code"
    project = "/home/u/sim"
    readings_with_requests = False

    def __init__(self, rng: random.Random, *, usage_in_log: bool = False, streaming_share: float = 0.2):
        self.rng = rng
        self.usage_in_log = usage_in_log
        self.streaming_share = streaming_share
        self.lines: dict[str, list[bytes]] = {}
        self.last_uuid: dict[str, str | None] = {}
        self.pending_tool: dict[str, str | None] = {}

    def _sid(self, session: SimSession) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim/{session.id}"))

    def _emit(self, session: SimSession, obj: dict) -> None:
        sid = self._sid(session)
        obj = {
            "parentUuid": self.last_uuid.get(sid),
            "isSidechain": False,
            "userType": "external",
            "cwd": self.project,
            "sessionId": sid,
            "version": "2.1.206",
            "gitBranch": "main",
            **obj,
        }
        self.last_uuid[sid] = obj["uuid"]
        self.lines.setdefault(sid, []).append(orjson.dumps(obj))

    def prompt(self, session: SimSession, prompt: SimPrompt) -> None:
        self.pending_tool[self._sid(session)] = None
        self._emit(
            session,
            {
                "type": "user",
                "message": {"role": "user", "content": f"task {prompt.key}: please continue"},
                "promptId": prompt.key,
                "uuid": f"u-{prompt.key}",
                "timestamp": _ts(prompt.ts),
            },
        )

    def request(self, session: SimSession, request: SimRequest, shown: Shown | None = None) -> None:
        sid = self._sid(session)
        tool = self.pending_tool.get(sid)
        if tool is not None:
            self._emit(
                session,
                {
                    "type": "user",
                    "uuid": f"t-{request.key}",
                    "timestamp": _ts(request.ts),
                    "message": {
                        "role": "user",
                        "content": [{"tool_use_id": tool, "type": "tool_result", "content": "ok", "is_error": False}],
                    },
                },
            )
        usage = {
            "input_tokens": request.input,
            "cache_creation_input_tokens": request.cache_write,
            "cache_read_input_tokens": request.cache_read,
            "output_tokens": request.output,
            "service_tier": "standard",
            "cache_creation": {"ephemeral_5m_input_tokens": request.cache_write, "ephemeral_1h_input_tokens": 0},
        }
        message = {
            "id": f"msg_{request.key}",
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "stop_sequence": None,
            "usage": usage,
        }
        if self.rng.random() < self.streaming_share:
            # A streaming line first: same id and usage, placeholder output, no stop reason yet.
            early = {
                **message,
                "content": [{"type": "text", "text": "..."}],
                "stop_reason": None,
                "usage": {**usage, "output_tokens": min(12, request.output)},
            }
            self._emit(
                session,
                {
                    "type": "assistant",
                    "message": early,
                    "uuid": f"a0-{request.key}",
                    "timestamp": _ts(request.ts),
                    "requestId": f"req_{request.key}",
                },
            )
        tool_id = f"toolu_{request.key}"
        final = {
            **message,
            "content": [{"type": "tool_use", "id": tool_id, "name": "Bash", "input": {"command": "make"}}],
            "stop_reason": "tool_use",
        }
        self._emit(
            session,
            {
                "type": "assistant",
                "message": final,
                "uuid": f"a-{request.key}",
                "timestamp": _ts(request.ts),
                "requestId": f"req_{request.key}",
            },
        )
        self.pending_tool[sid] = tool_id

    def reading(self, session: SimSession, ts: datetime, readings: Shown) -> bool:
        if not self.usage_in_log:
            return False
        limits = []
        for minutes, percent, resets in readings:
            kind = WINDOW_KIND.get(minutes, ("session", "five_hour"))[0]
            limits.append(
                {
                    "kind": kind,
                    "group": "session" if minutes == 300 else "weekly",
                    "percent": percent,
                    "resets_at": resets.isoformat(),
                    "severity": "normal",
                    "is_active": False,
                }
            )
        stamp = _ts(ts)
        self._emit(
            session,
            {
                "type": "system",
                "subtype": "local_command",
                "level": "info",
                "isMeta": False,
                "content": "<local-command-stdout>usage</local-command-stdout>",
                "usageReport": {"rate_limits": {"limits": limits}},
                "uuid": f"q-{session.id}-{stamp}",
                "timestamp": stamp,
            },
        )
        return True

    def limit_hit(self, session: SimSession, ts: datetime, minutes: int, resets_at: datetime) -> None:
        kind = WINDOW_KIND.get(minutes, ("session", "five_hour"))[1]
        text = "You've hit your session limit" if minutes == 300 else "You've hit your weekly limit"
        stamp = _ts(ts)
        self._emit(
            session,
            {
                "type": "assistant",
                "uuid": f"h-{session.id}-{stamp}",
                "timestamp": stamp,
                "isApiErrorMessage": True,
                "error": "rate_limit",
                "apiErrorStatus": 429,
                "message": {
                    "id": f"syn-{session.id}-{stamp}",
                    "type": "message",
                    "role": "assistant",
                    "model": "<synthetic>",
                    "stop_reason": "stop_sequence",
                    "stop_sequence": "",
                    "usage": {
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                    "content": [{"type": "text", "text": text}],
                },
                "quotaLimits": {"status": "rejected", "resetsAt": int(resets_at.timestamp()), "rateLimitType": kind},
            },
        )
        self.pending_tool[self._sid(session)] = None

    def finish(self, home: Path) -> list[Path]:
        folder = home / ".claude" / "projects" / self.project.replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for sid, lines in self.lines.items():
            path = folder / f"{sid}.jsonl"
            path.write_bytes(b"\n".join(lines) + b"\n")
            written.append(path)
        return written


class CodexWriter:
    """Codex rollouts under ``~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``.

    Tokens as Codex counts them: ``input_tokens`` includes the cached part,
    totals are cumulative per thread. Every call's ``token_count`` carries the
    plan's snapshot (integer percents, reset as epoch seconds); a refused call
    leaves an exhausted snapshot and the end of its turn.
    """

    agent = "codex"
    readings_with_requests = True

    def __init__(self, rng: random.Random, plan_type: str = "plus"):
        self.rng = rng
        self.plan_type = plan_type
        self.lines: dict[str, list[bytes]] = {}
        self.start: dict[str, datetime] = {}
        self.totals: dict[str, list[int]] = {}
        self.open_turn: dict[str, bool] = {}

    def _sid(self, session: SimSession) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim-codex/{session.id}"))

    def _emit(self, session: SimSession, ts: datetime, kind: str, payload: dict) -> None:
        sid = self._sid(session)
        if sid not in self.lines:
            self.lines[sid] = []
            self.start[sid] = ts
            self.totals[sid] = [0, 0, 0]
            meta = {
                "id": sid,
                "timestamp": _ts(ts),
                "cwd": "/home/u/sim",
                "originator": "codex_cli_rs",
                "cli_version": "0.150.0",
                "source": "cli",
                "model_provider": "openai",
            }
            self.lines[sid].append(orjson.dumps({"timestamp": _ts(ts), "type": "session_meta", "payload": meta}))
            self.lines[sid].append(
                orjson.dumps(
                    {
                        "timestamp": _ts(ts),
                        "type": "turn_context",
                        "payload": {"cwd": "/home/u/sim", "approval_policy": "on-request", "model": session.model},
                    }
                )
            )
        self.lines[sid].append(orjson.dumps({"timestamp": _ts(ts), "type": kind, "payload": payload}))

    def _limits(self, shown: Shown, reached: str | None = None) -> dict:
        slots = [{"used_percent": float(p), "window_minutes": m, "resets_at": int(r.timestamp())} for m, p, r in shown]
        return {
            "limit_id": "codex",
            "limit_name": None,
            "primary": slots[0] if slots else None,
            "secondary": slots[1] if len(slots) > 1 else None,
            "credits": {"has_credits": False, "unlimited": False, "balance": None},
            "individual_limit": None,
            "spend_control_reached": None,
            "plan_type": self.plan_type,
            "rate_limit_reached_type": reached,
        }

    def _end_turn(self, session: SimSession, ts: datetime) -> None:
        if self.open_turn.pop(self._sid(session), False):
            self._emit(session, ts, "event_msg", {"type": "task_complete"})

    def prompt(self, session: SimSession, prompt: SimPrompt) -> None:
        self._end_turn(session, prompt.ts)
        self._emit(session, prompt.ts, "event_msg", {"type": "task_started"})
        self._emit(
            session, prompt.ts, "event_msg", {"type": "user_message", "message": f"task {prompt.key}", "images": []}
        )
        self.open_turn[self._sid(session)] = True

    def request(self, session: SimSession, request: SimRequest, shown: Shown | None = None) -> None:
        last = [request.input + request.cache_write + request.cache_read, request.cache_read, request.output]
        total = self.totals.setdefault(self._sid(session), [0, 0, 0])
        for i, v in enumerate(last):
            total[i] += v

        def usage(v):
            return {
                "input_tokens": v[0],
                "cached_input_tokens": v[1],
                "output_tokens": v[2],
                "reasoning_output_tokens": 0,
                "total_tokens": v[0] + v[2],
            }

        info = {"total_token_usage": usage(total), "last_token_usage": usage(last), "model_context_window": 272000}
        self._emit(
            session,
            request.ts,
            "event_msg",
            {"type": "token_count", "info": info, "rate_limits": self._limits(shown or [])},
        )

    def reading(self, session: SimSession, ts: datetime, readings: Shown) -> bool:
        self._emit(
            session, ts, "event_msg", {"type": "token_count", "info": None, "rate_limits": self._limits(readings)}
        )
        return True

    def limit_hit(self, session: SimSession, ts: datetime, minutes: int, resets_at: datetime) -> None:
        snapshot = self._limits([(minutes, 100.0, resets_at)], reached="rate_limit_reached")
        self._emit(session, ts, "event_msg", {"type": "token_count", "info": None, "rate_limits": snapshot})
        self.open_turn[self._sid(session)] = True
        self._end_turn(session, ts + timedelta(milliseconds=200))

    def finish(self, home: Path) -> list[Path]:
        written = []
        for sid, lines in self.lines.items():
            start = self.start[sid]
            folder = home / ".codex" / "sessions" / start.strftime("%Y/%m/%d")
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"rollout-{start.strftime('%Y-%m-%dT%H-%M-%S')}-{sid}.jsonl"
            path.write_bytes(b"\n".join(lines) + b"\n")
            written.append(path)
        return written
