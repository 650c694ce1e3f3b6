"""Log writers: the simulated work, written the way an agent writes it.

A writer receives events in time order (a typed prompt, a model call, a quota
reading, a refused call) and lays them out as its agent's files under a HOME
folder. ``ClaudeCodeWriter`` writes Claude Code transcripts, including the
traps the parser must survive (streaming lines that repeat a call's usage with
a placeholder output count). A writer for an agent whose log carries the
plan's own readings (Codex's ``rate_limits``) returns True from ``reading`` so
the simulator does not also store them as statusline rows.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from pathlib import Path
from typing import Protocol

import orjson

from ..timeutil import format_utc
from .usage import SimPrompt, SimRequest, SimSession

WINDOW_KIND = {300: ("session", "five_hour"), 10080: ("weekly_all", "seven_day")}


class LogWriter(Protocol):
    agent: str

    def prompt(self, session: SimSession, prompt: SimPrompt) -> None: ...

    def request(self, session: SimSession, request: SimRequest) -> None: ...

    def reading(self, session: SimSession, ts: datetime, readings: list[tuple[int, float, datetime]]) -> bool: ...

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
        obj = {"parentUuid": self.last_uuid.get(sid), "isSidechain": False, "userType": "external", "cwd": self.project,
               "sessionId": sid, "version": "2.1.206", "gitBranch": "main", **obj}  # fmt: skip
        self.last_uuid[sid] = obj["uuid"]
        self.lines.setdefault(sid, []).append(orjson.dumps(obj))

    def prompt(self, session: SimSession, prompt: SimPrompt) -> None:
        self.pending_tool[self._sid(session)] = None
        self._emit(session, {"type": "user", "message": {"role": "user", "content": f"task {prompt.key}: please continue"},
                             "promptId": prompt.key, "uuid": f"u-{prompt.key}", "timestamp": _ts(prompt.ts)})  # fmt: skip

    def request(self, session: SimSession, request: SimRequest) -> None:
        sid = self._sid(session)
        tool = self.pending_tool.get(sid)
        if tool is not None:
            self._emit(session, {"type": "user", "uuid": f"t-{request.key}", "timestamp": _ts(request.ts),
                                 "message": {"role": "user", "content": [{"tool_use_id": tool, "type": "tool_result",
                                                                          "content": "ok", "is_error": False}]}})  # fmt: skip
        usage = {"input_tokens": request.input, "cache_creation_input_tokens": request.cache_write,
                 "cache_read_input_tokens": request.cache_read, "output_tokens": request.output,
                 "service_tier": "standard",
                 "cache_creation": {"ephemeral_5m_input_tokens": request.cache_write, "ephemeral_1h_input_tokens": 0}}  # fmt: skip
        message = {"id": f"msg_{request.key}", "type": "message", "role": "assistant", "model": request.model,
                   "stop_sequence": None, "usage": usage}  # fmt: skip
        if self.rng.random() < self.streaming_share:
            # A streaming line first: same id and usage, placeholder output, no stop reason yet.
            early = {**message, "content": [{"type": "text", "text": "..."}], "stop_reason": None,
                     "usage": {**usage, "output_tokens": min(12, request.output)}}  # fmt: skip
            self._emit(session, {"type": "assistant", "message": early, "uuid": f"a0-{request.key}",
                                 "timestamp": _ts(request.ts), "requestId": f"req_{request.key}"})  # fmt: skip
        tool_id = f"toolu_{request.key}"
        final = {**message, "content": [{"type": "tool_use", "id": tool_id, "name": "Bash", "input": {"command": "make"}}],
                 "stop_reason": "tool_use"}  # fmt: skip
        self._emit(session, {"type": "assistant", "message": final, "uuid": f"a-{request.key}",
                             "timestamp": _ts(request.ts), "requestId": f"req_{request.key}"})  # fmt: skip
        self.pending_tool[sid] = tool_id

    def reading(self, session: SimSession, ts: datetime, readings: list[tuple[int, float, datetime]]) -> bool:
        if not self.usage_in_log:
            return False
        limits = []
        for minutes, percent, resets in readings:
            kind = WINDOW_KIND.get(minutes, ("session", "five_hour"))[0]
            limits.append({"kind": kind, "group": "session" if minutes == 300 else "weekly", "percent": percent,
                           "resets_at": resets.isoformat(), "severity": "normal", "is_active": False})  # fmt: skip
        stamp = _ts(ts)
        self._emit(session, {"type": "system", "subtype": "local_command", "level": "info", "isMeta": False,
                             "content": "<local-command-stdout>usage</local-command-stdout>",
                             "usageReport": {"rate_limits": {"limits": limits}},
                             "uuid": f"q-{session.id}-{stamp}", "timestamp": stamp})  # fmt: skip
        return True

    def limit_hit(self, session: SimSession, ts: datetime, minutes: int, resets_at: datetime) -> None:
        kind = WINDOW_KIND.get(minutes, ("session", "five_hour"))[1]
        text = "You've hit your session limit" if minutes == 300 else "You've hit your weekly limit"
        stamp = _ts(ts)
        self._emit(session, {
            "type": "assistant", "uuid": f"h-{session.id}-{stamp}", "timestamp": stamp, "isApiErrorMessage": True,
            "error": "rate_limit", "apiErrorStatus": 429,
            "message": {"id": f"syn-{session.id}-{stamp}", "type": "message", "role": "assistant", "model": "<synthetic>",
                        "stop_reason": "stop_sequence", "stop_sequence": "",
                        "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                                  "cache_read_input_tokens": 0},
                        "content": [{"type": "text", "text": text}]},
            "quotaLimits": {"status": "rejected", "resetsAt": int(resets_at.timestamp()), "rateLimitType": kind},
        })  # fmt: skip
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
