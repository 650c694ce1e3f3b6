"""One plan spent from several agents: a GLM Coding Plan used from Claude Code and OpenCode.

``GlmClaudeCodeWriter`` is Claude Code pointed at z.ai's Anthropic-compatible
endpoint (``ANTHROPIC_BASE_URL`` in its ``settings.json``): the model is
``glm-4.6``, the gateway writes no ``requestId``, and a refusal is GLM's own
``API Error: 429 {... "1308" ... Usage limit reached for 5 hour. Your limit will
reset at <China time, no zone>}``. ``OpenCodeWriter`` is OpenCode's JSON tree
(``storage/{session,message,part}``) with the ``zai-coding-plan`` provider: one
assistant message per prompt with a ``step-finish`` part per call, a refusal as
an ``APIError`` message (429, code 1308 in the body), and now and then a
transient 429 of requests per minute with a 30-second ``retry-after`` that
blocks nothing (a rate limit, no plan window). ``SplitWriter`` hands each
session to one of them, so the plan's 5-hour window is filled by both agents
and each agent's logs hold about half of its calls.

``glm_two_agents`` is the scenario: requests counted per 5 hours, seen only
through refusals. Inference must find the limit from both agents' calls
together (one account); either agent alone sees a fraction of them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from analyzer.contract.timeutil import format_utc
from analyzer.simulate import Scenario
from analyzer.simulate.plan import Plan, Rule, Window
from analyzer.simulate.usage import Person, SimPrompt, SimRequest, SimSession
from analyzer.simulate.writers import ClaudeCodeWriter, LogWriter, Shown

CHINA = ZoneInfo("Asia/Shanghai")
GLM_MODEL = "glm-4.6"


def glm_reset_text(resets_at: datetime) -> str:
    """GLM's 1308 words, its reset in China time without a zone (as z.ai writes it)."""
    stamp = resets_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
    return f"Usage limit reached for 5 hour. Your limit will reset at {stamp}"


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


class GlmClaudeCodeWriter(ClaudeCodeWriter):
    """Claude Code through z.ai's gateway: no ``requestId``, GLM's refusals, the base URL in its settings."""

    project = "/home/u/glm-cc"

    def __init__(self, rng: random.Random, *, base_url: str = "https://api.z.ai/api/anthropic", **kw):
        super().__init__(rng, **kw)
        self.base_url = base_url

    def _emit(self, session: SimSession, obj: dict) -> None:
        obj.pop("requestId", None)  # third-party gateways leave it out
        super()._emit(session, obj)

    def limit_hit(self, session: SimSession, ts: datetime, minutes: int, resets_at: datetime) -> None:
        body = {"type": "error", "error": {"type": "1308", "message": glm_reset_text(resets_at)}}
        stamp = format_utc(ts)
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
                    "usage": {
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                    "content": [{"type": "text", "text": "API Error: 429 " + orjson.dumps(body).decode()}],
                },
            },
        )
        self.pending_tool[self._sid(session)] = None

    def finish(self, home: Path) -> list[Path]:
        written = super().finish(home)
        settings = home / ".claude" / "settings.json"
        settings.write_bytes(orjson.dumps({"env": {"ANTHROPIC_BASE_URL": self.base_url}}))
        return written


class OpenCodeWriter:
    """OpenCode's JSON tree under ``~/.local/share/opencode/storage`` (provider ``zai-coding-plan``)."""

    agent = "opencode"
    project = "/home/u/glm-oc"
    readings_with_requests = False

    def __init__(self, rng: random.Random, *, provider: str = "zai-coding-plan", rate_limit_share: float = 0.05):
        self.rng = rng
        self.provider = provider
        self.rate_limit_share = rate_limit_share
        self.files: dict[str, dict] = {}  # relative path -> JSON object
        self.counter = 0
        self.sessions: dict[str, int] = {}  # session id -> created (ms)
        self.current: dict[str, tuple[str, str | None, int]] = {}  # session -> (user message, assistant, steps)

    def _id(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}_{self.counter:09d}"

    def _sid(self, session: SimSession) -> str:
        return f"ses_{session.id}"

    def prompt(self, session: SimSession, prompt: SimPrompt) -> None:
        sid = self._sid(session)
        created = _ms(prompt.ts)
        self.sessions.setdefault(sid, created)
        user = self._id("msg")
        self.files[f"message/{sid}/{user}.json"] = {
            "id": user,
            "sessionID": sid,
            "role": "user",
            "time": {"created": created},
            "agent": "build",
            "model": {"providerID": self.provider, "modelID": session.model},
        }
        part = self._id("prt")
        self.files[f"part/{user}/{part}.json"] = {
            "id": part,
            "sessionID": sid,
            "messageID": user,
            "type": "text",
            "text": f"task {prompt.key}: please continue",
        }
        self.current[sid] = (user, None, 0)
        if self.rng.random() < self.rate_limit_share:
            # Requests per minute: a 429 with a 30-second retry-after, retried; no plan window ran out.
            at = prompt.ts + timedelta(milliseconds=200)
            self._error(sid, user, session.model, at, 429, "Too Many Requests", None, {"retry-after": "30"})

    def _assistant(self, sid: str, user: str, model: str, created: int) -> dict:
        return {
            "role": "assistant",
            "sessionID": sid,
            "time": {"created": created, "completed": created + 1000},
            "parentID": user,
            "modelID": model,
            "providerID": self.provider,
            "mode": "build",
            "agent": "build",
            "path": {"cwd": self.project, "root": self.project},
            "cost": 0,
        }

    def request(self, session: SimSession, request: SimRequest, shown: Shown | None = None) -> None:
        sid = self._sid(session)
        user, message, steps = self.current[sid]
        tokens = {
            "input": request.input,
            "output": request.output,
            "reasoning": 0,
            "cache": {"read": request.cache_read, "write": request.cache_write},
        }
        if message is None:
            message = self._id("msg")
            self.files[f"message/{sid}/{message}.json"] = {
                "id": message,
                **self._assistant(sid, user, request.model, _ms(request.ts)),
            }
        data = self.files[f"message/{sid}/{message}.json"]
        data["tokens"] = tokens  # the agent overwrites the message's tokens with the last step's
        data["time"]["completed"] = _ms(request.ts) + 1000
        data["finish"] = "tool-calls"
        for kind in ("step-start", "step-finish"):
            part = self._id("prt")
            body = {"id": part, "sessionID": sid, "messageID": message, "type": kind}
            if kind == "step-finish":
                body.update({"reason": "tool-calls", "cost": 0, "tokens": tokens})
            self.files[f"part/{message}/{part}.json"] = body
        self.current[sid] = (user, message, steps + 1)

    def _error(self, sid, user, model, at: datetime, status, words, code, headers=None) -> None:
        message = self._id("msg")
        data = {"message": words, "statusCode": status, "isRetryable": code is None}
        if code is not None:
            data["responseBody"] = orjson.dumps({"error": {"code": code, "message": words}}).decode()
        if headers:
            data["responseHeaders"] = headers
        body = self._assistant(sid, user, model, _ms(at))
        body["tokens"] = {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}
        body["error"] = {"name": "APIError", "data": data}
        self.files[f"message/{sid}/{message}.json"] = {"id": message, **body}

    def reading(self, session: SimSession, ts: datetime, readings: Shown) -> bool:
        return False

    def limit_hit(self, session: SimSession, ts: datetime, minutes: int, resets_at: datetime) -> None:
        sid = self._sid(session)
        user = self.current[sid][0]
        self._error(sid, user, session.model, ts, 429, glm_reset_text(resets_at), "1308")

    def finish(self, home: Path) -> list[Path]:
        storage = home / ".local" / "share" / "opencode" / "storage"
        for sid, created in self.sessions.items():
            self.files[f"session/prj_sim/{sid}.json"] = {
                "id": sid,
                "version": "0.9.4",
                "projectID": "prj_sim",
                "directory": self.project,
                "title": "sim",
                "time": {"created": created, "updated": created},
            }
        written = []
        for relative, data in self.files.items():
            path = storage / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(orjson.dumps(data))
            written.append(path)
        return written


class SplitWriter:
    """Hands every session to one of ``writers`` (chosen by ``rng`` when the session starts)."""

    readings_with_requests = False

    def __init__(self, rng: random.Random, writers: list[LogWriter], weights: list[float] | None = None):
        self.rng = rng
        self.writers = writers
        self.weights = weights or [1.0] * len(writers)
        self.agent = writers[0].agent
        self.chosen: dict[str, LogWriter] = {}

    def _of(self, session: SimSession) -> LogWriter:
        if session.id not in self.chosen:
            self.chosen[session.id] = self.rng.choices(self.writers, self.weights)[0]
        return self.chosen[session.id]

    def prompt(self, session: SimSession, prompt: SimPrompt) -> None:
        self._of(session).prompt(session, prompt)

    def request(self, session: SimSession, request: SimRequest, shown: Shown | None = None) -> None:
        self._of(session).request(session, request, shown)

    def reading(self, session: SimSession, ts: datetime, readings: Shown) -> bool:
        return self._of(session).reading(session, ts, readings)

    def limit_hit(self, session: SimSession, ts: datetime, minutes: int, resets_at: datetime) -> None:
        self._of(session).limit_hit(session, ts, minutes, resets_at)

    def finish(self, home: Path) -> list[Path]:
        return [path for w in self.writers for path in w.finish(home)]


def glm_two_agents(seed: int = 1, limit: float = 60.0) -> tuple[Scenario, SplitWriter]:
    """A GLM plan counting requests per 5 hours, refusals only, spent from Claude Code and OpenCode."""
    five = [(None, limit)]
    plan = Plan("sim-glm", [Window(300, Rule("requests"), five)])
    scenario = Scenario(
        "glm-two-agents",
        "request plan seen only through GLM's refusals, spent from Claude Code and OpenCode",
        Person(
            start=datetime(2026, 11, 2),
            days=21,
            models=((GLM_MODEL, 1.0),),
            sessions_per_day=(6, 9),
            prompts_per_session=(2, 6),
        ),
        plan,
        readings=False,
        seed=seed,
        truth={300: {"quantity": "requests", "candidate": "requests", "limits": five}},
    )
    rng = random.Random(seed * 7919)
    writer = SplitWriter(rng, [GlmClaudeCodeWriter(rng), OpenCodeWriter(rng)])
    return scenario, writer
