"""GitHub Copilot CLI (``@github/copilot``): the session event log.

Location: ``$COPILOT_HOME`` (else ``~/.copilot``; the SDK's ``baseDirectory``
sets the same variable) ``/session-state/<sessionId>/events.jsonl``; older
versions wrote ``session-state/<sessionId>.jsonl`` and, before that,
``history-session-state/<sessionId>.jsonl``. One JSON event per line, appended:
``{type, data, id, parentId, timestamp, agentId?}`` (schema: the
``session-events`` types of ``@github/copilot-sdk`` 1.0.14).

What the log holds, and what this parser makes of it:

* The per-call usage event ``assistant.usage`` (tokens, cache, cost) is
  *ephemeral*: it is sent to SDK clients and never written to the file. What
  is written per model call is ``assistant.message``: its ``apiCallId`` (the
  provider's completion id, shared by the chunks of one call), ``model`` and
  ``outputTokens`` (the response's ``completion_tokens``). Each distinct call is
  one request, keyed on its ``apiCallId`` (else the session and ``messageId``),
  so chunks of one call and copies of the log (forks) count once; its output
  and model are exact.
* Input and cache tokens exist only as totals: ``session.shutdown``, written
  when a run of the CLI ends, has ``modelMetrics.<model>.usage.{inputTokens,
  outputTokens, cacheReadTokens, cacheWriteTokens, reasoningTokens}`` and
  ``requests.count`` for that run. The totals are exact; this parser spreads
  a model's input, cache read and cache write evenly over that run's calls of
  the model (an **estimate** per request, marked ``raw_usage.estimated``), and
  re-emits them as complete. Output stays each call's own count, or is spread
  too when no call recorded one. Calls wait in the parser state until their
  run's shutdown; a run that ended without one (a crash) keeps its calls with
  output only. A model in the totals with no call in the run becomes one row
  holding the totals. ``inputTokens`` is OpenAI-style (Copilot's API reports
  ``prompt_tokens``): it includes the cached tokens, which are subtracted.
  Each shutdown covers its own run (a resumed session writes another), as
  other readers of these logs also take it.
* Compaction: ``session.compaction_complete`` carries the compaction call's
  own ``compactionTokensUsed``: one exact ``compaction`` request, taken out of
  its model's run totals before they are spread.
* Prompts: ``user.message`` of the main agent, except autopilot continuations
  (``isAutopilotContinuation``) and messages injected by skills or other agents
  (a ``source`` other than the user's).
* Limit hits: ``session.error`` with ``errorType`` ``rate_limit`` or ``quota``
  or HTTP 429 (``errorCode`` such as ``user_weekly_rate_limited`` names the
  window); the reset instant, and the window when the code names none, are
  read from the error by ``analyzer.api.read_refusal``.
* Subagents: events with an ``agentId`` are the sidechain.

The provider is ``github-copilot`` (every call goes through Copilot's API).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from analyzer.parsers.cline_tasks.usage import count, split

from analyzer.api import (
    JsonlParser,
    LimitHit,
    Prompt,
    Record,
    Request,
    Session,
    SourceContext,
    env_paths,
    first_objects,
    home_from,
    hookimpl,
    read_refusal,
    utc_iso,
)

AGENT = "copilot-cli"
PROVIDER = "github-copilot"
STATE_DIRS = ("session-state", "history-session-state")
_WINDOWS = {"weekly": 10080, "daily": 1440, "hourly": 60}


def copilot_homes(env: Mapping[str, str]) -> list[Path]:
    return env_paths(env, "COPILOT_HOME") or [home_from(env) / ".copilot"]


def _session_file(path: Path) -> bool:
    if path.suffix != ".jsonl":
        return False
    if path.name == "events.jsonl":
        return path.parent.parent.name in STATE_DIRS
    return path.parent.name in STATE_DIRS


class CopilotCliParser(JsonlParser):
    name = AGENT
    agent = AGENT
    env_vars = ("COPILOT_HOME",)

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return [home / d for home in copilot_homes(env) for d in STATE_DIRS]

    def candidate(self, path: Path) -> bool:
        return _session_file(path)

    def recognise(self, path: Path, head: bytes) -> bool:
        objects = first_objects(head)
        return any(isinstance(o, dict) and isinstance(o.get("type"), str) and "data" in o for o in objects)

    def parse(self, lines: Iterable, state: dict, ctx: SourceContext) -> Iterator[Record]:
        if "session" not in state:
            state["session"] = ctx.path.parent.name if ctx.path.name == "events.jsonl" else ctx.path.stem
        return super().parse(lines, state, ctx)

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        kind = obj.get("type")
        data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
        when = utc_iso(obj["timestamp"]) if obj.get("timestamp") else None
        session = state["session"]
        if kind in ("session.start", "session.resume"):
            context = data.get("context") if isinstance(data.get("context"), dict) else {}
            if kind == "session.start" and data.get("sessionId"):
                state["session"] = session = str(data["sessionId"])
            state["cwd"] = context.get("gitRoot") or context.get("cwd") or state.get("cwd")
            state["model"] = data.get("selectedModel") or state.get("model")
            yield Session(
                agent=AGENT,
                session_id=session,
                project=state.get("cwd"),
                cwd=context.get("cwd"),
                client_version=data.get("copilotVersion"),
            )
        elif kind == "session.model_change":
            state["model"] = data.get("newModel") or state.get("model")
        elif kind == "user.message" and when:
            if (
                obj.get("agentId")
                or data.get("isAutopilotContinuation")
                or data.get("source") not in (None, "", "user")
            ):
                return
            key = f"{AGENT}:prompt:{session}:{data.get('messageId') or obj.get('id') or when}"
            state["prompt"] = key
            state["fresh"] = True
            yield Prompt(
                key=key,
                agent=AGENT,
                session_id=session,
                ts=when,
                text=data.get("content") if isinstance(data.get("content"), str) else "",
            )
        elif kind == "assistant.message" and when:
            yield from self._call(obj, data, when, state)
        elif kind == "session.compaction_complete" and when and data.get("success"):
            yield from self._compaction(obj, data, when, state)
        elif kind == "session.shutdown" and when:
            yield from self._shutdown(obj, data, when, state)
        elif kind == "session.error" and when:
            hit = self._hit(obj, data, when, state)
            if hit is not None:
                yield hit

    def _call(self, obj: dict, data: dict, when: str, state: dict) -> Iterator[Record]:
        session = state["session"]
        ident = data.get("apiCallId")
        key = (
            f"{AGENT}:call:{ident}" if ident else f"{AGENT}:{session}:{data.get('messageId') or obj.get('id') or when}"
        )
        calls = state.setdefault("calls", {})
        sidechain = bool(obj.get("agentId"))
        call = calls.get(key)
        if call is None:
            trigger = "subagent" if sidechain else "prompt" if state.pop("fresh", False) else "tool_result"
            call = calls[key] = {
                "ts": when,
                "model": data.get("model") or state.get("model"),
                "output": 0,
                "side": sidechain,
                "prompt": state.get("prompt"),
                "trigger": trigger,
            }
        call["output"] = max(call["output"], count(data.get("outputTokens")))
        yield self._request(key, call, session, state, {"input": 0, "cache_read": 0, "cache_write": 0}, complete=False)

    def _request(
        self, key: str, call: dict, session: str, state: dict, spread: dict, complete: bool, raw: dict | None = None
    ) -> Request:
        return Request(
            key=key,
            agent=AGENT,
            session_id=session,
            ts=call["ts"],
            model=call.get("model"),
            provider=PROVIDER,
            project=state.get("cwd"),
            input_tokens=spread["input"],
            cache_read_tokens=spread["cache_read"],
            cache_write_tokens=spread["cache_write"],
            output_tokens=spread.get("output", call["output"]),
            reasoning_tokens=spread.get("reasoning", 0),
            trigger=call["trigger"],
            prompt_key=call.get("prompt"),
            is_sidechain=call["side"],
            complete=complete,
            raw_usage=raw or {"output": call["output"], "pending": "run totals"},
        )

    def _compaction(self, obj: dict, data: dict, when: str, state: dict) -> Iterator[Record]:
        used = data.get("compactionTokensUsed")
        if not isinstance(used, dict):
            return
        model = used.get("model") or data.get("behaviorModelId") or state.get("model")
        usage = {
            "tokensIn": used.get("inputTokens"),
            "tokensOut": used.get("outputTokens"),
            "cacheWrites": used.get("cacheWriteTokens"),
            "cacheReads": used.get("cacheReadTokens"),
        }
        tokens, rule = split(usage, True)
        taken = state.setdefault("compacted", {}).setdefault(str(model), [0, 0, 0, 0])
        for i, value in enumerate(usage.values()):
            taken[i] += count(value)
        session = state["session"]
        yield Request(
            key=f"{AGENT}:{session}:compaction:{obj.get('id') or when}",
            agent=AGENT,
            session_id=session,
            ts=when,
            model=model,
            provider=PROVIDER,
            project=state.get("cwd"),
            input_tokens=tokens.input,
            cache_read_tokens=tokens.cache_read,
            cache_write_tokens=tokens.cache_write,
            output_tokens=tokens.output,
            trigger="compaction",
            prompt_key=state.get("prompt"),
            raw_usage={**used, "rule": rule},
        )

    def _shutdown(self, obj: dict, data: dict, when: str, state: dict) -> Iterator[Record]:
        session = state["session"]
        calls: dict = state.pop("calls", {})
        compacted: dict = state.pop("compacted", {})
        metrics = data.get("modelMetrics") if isinstance(data.get("modelMetrics"), dict) else {}
        for model, metric in metrics.items():
            usage = metric.get("usage") if isinstance(metric, dict) and isinstance(metric.get("usage"), dict) else {}
            taken = compacted.get(model, [0, 0, 0, 0])
            totals = {
                "tokensIn": max(0, count(usage.get("inputTokens")) - taken[0]),
                "tokensOut": max(0, count(usage.get("outputTokens")) - taken[1]),
                "cacheWrites": max(0, count(usage.get("cacheWriteTokens")) - taken[2]),
                "cacheReads": max(0, count(usage.get("cacheReadTokens")) - taken[3]),
            }
            tokens, rule = split(totals, True)
            reasoning = min(count(usage.get("reasoningTokens")), tokens.output)
            mine = sorted((k for k, c in calls.items() if c.get("model") == model), key=lambda k: (calls[k]["ts"], k))
            requests = (
                metric.get("requests") if isinstance(metric, dict) and isinstance(metric.get("requests"), dict) else {}
            )
            raw = {"run_totals": usage, "run_requests": requests.get("count"), "rule": rule}
            if not mine:
                if tokens.any():
                    call = {
                        "ts": when,
                        "model": model,
                        "output": tokens.output,
                        "side": False,
                        "prompt": state.get("prompt"),
                        "trigger": "other",
                    }
                    spread = {
                        "input": tokens.input,
                        "cache_read": tokens.cache_read,
                        "cache_write": tokens.cache_write,
                        "output": tokens.output,
                        "reasoning": reasoning,
                    }
                    yield self._request(
                        f"{AGENT}:{session}:run:{obj.get('id') or when}:{model}",
                        call,
                        session,
                        state,
                        spread,
                        complete=True,
                        raw={**raw, "aggregate": "run without recorded calls"},
                    )
                continue
            known_output = sum(calls[k]["output"] for k in mine)
            shares = {
                name: _even(value, len(mine))
                for name, value in (
                    ("input", tokens.input),
                    ("cache_read", tokens.cache_read),
                    ("cache_write", tokens.cache_write),
                    ("output", tokens.output),
                    ("reasoning", reasoning),
                )
            }
            for i, key in enumerate(mine):
                call = calls.pop(key)
                spread = {name: share[i] for name, share in shares.items() if name not in ("output", "reasoning")}
                spread["output"] = call["output"] if known_output else shares["output"][i]
                spread["reasoning"] = min(shares["reasoning"][i], spread["output"])
                yield self._request(
                    key,
                    call,
                    session,
                    state,
                    spread,
                    complete=True,
                    raw={
                        **raw,
                        "output": call["output"],
                        "estimated": "input and cache spread evenly over the run's calls of this model",
                    },
                )
        # Calls of models the totals do not name keep their exact output only.

    def _hit(self, obj: dict, data: dict, when: str, state: dict) -> LimitHit | None:
        kind = str(data.get("errorType") or "")
        status = data.get("statusCode")
        if kind not in ("rate_limit", "quota") and status != 429:
            return None
        message = str(data.get("message") or "")
        code = str(data.get("errorCode") or "")
        window = next((minutes for word, minutes in _WINDOWS.items() if word in code), None)
        refused = read_refusal(
            data, at=when, status=status if isinstance(status, int) else None, model=state.get("model")
        )
        session = state["session"]
        return LimitHit(
            key=f"{AGENT}:hit:{session}:{obj.get('id') or when}",
            agent=AGENT,
            session_id=session,
            ts=when,
            reset_at=refused.reset_at if refused else None,
            window_minutes=window or (refused.window_minutes if refused else None),
            limit_type=code or kind,
            message=message[:500],
            model=state.get("model"),
        )


def _even(total: int, n: int) -> list[int]:
    """``total`` split into ``n`` integers that differ by at most one and sum to it."""
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


@hookimpl
def register_parsers(register):
    register(CopilotCliParser())
