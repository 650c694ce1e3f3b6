"""A parser plugin for ``example-agent``, a made-up coding agent.

The agent writes one JSONL file per session under
``$EXAMPLE_AGENT_HOME/sessions/`` (default ``~/.example-agent/sessions/``)::

    {"type": "session", "session": "s-1", "ts": "2026-11-20T09:00:00Z", "cwd": "/home/u/app", "version": "0.4.1"}
    {"type": "prompt", "id": "p-1", "session": "s-1", "ts": "2026-11-20T09:00:05Z", "text": "add a health check"}
    {"type": "usage", "id": "r-1", "session": "s-1", "ts": "2026-11-20T09:00:09Z", "model": "example-1",
     "input": 1200, "cached": 800, "output": 300}

One ``usage`` line per model call. Like OpenAI's API, ``input`` counts the
cached tokens too, so the parser subtracts them: the analyser's four token
columns are disjoint. Each call is linked to the prompt before it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from analyzer.api import (
    BadLine,
    JsonlParser,
    Prompt,
    Record,
    Request,
    Session,
    SourceContext,
    first_json_line,
    home_from,
    hookimpl,
    utc_iso,
)

AGENT = "example-agent"
TYPES = ("session", "prompt", "usage")


class ExampleAgentParser(JsonlParser):
    name = AGENT
    agent = AGENT

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        base = env.get("EXAMPLE_AGENT_HOME")
        return [(Path(base) if base else home_from(env) / ".example-agent") / "sessions"]

    def candidate(self, path: Path) -> bool:
        return path.suffix == ".jsonl"

    def recognise(self, path: Path, head: bytes) -> bool:
        first = first_json_line(head)
        return isinstance(first, dict) and first.get("type") in TYPES and "session" in first

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        kind, session = obj.get("type"), obj.get("session")
        ts = utc_iso(obj.get("ts"))
        if kind not in TYPES:
            yield BadLine(offset, "unknown_type", f"unknown record type {kind!r}")
        elif not session or not ts:
            yield BadLine(offset, "bad_shape", "a line without session or ts")
        elif kind == "session":
            state["cwd"] = obj.get("cwd")
            yield Session(
                agent=AGENT,
                session_id=session,
                project=obj.get("cwd"),
                cwd=obj.get("cwd"),
                client_version=obj.get("version"),
            )
        elif kind == "prompt":
            key = f"{AGENT}:{obj['id']}"
            state["prompt"] = key
            yield Prompt(
                key=key, agent=AGENT, session_id=session, ts=ts, text=obj.get("text", ""), project=state.get("cwd")
            )
        else:
            cached = int(obj.get("cached") or 0)
            first_answer = state.get("prompt") is not None and state.get("answered") != state.get("prompt")
            state["answered"] = state.get("prompt")
            yield Request(
                key=f"{AGENT}:{obj['id']}",
                agent=AGENT,
                session_id=session,
                ts=ts,
                model=obj.get("model"),
                project=state.get("cwd"),
                input_tokens=max(int(obj.get("input") or 0) - cached, 0),
                cache_read_tokens=cached,
                output_tokens=int(obj.get("output") or 0),
                trigger="prompt" if first_answer else "tool_result" if state.get("prompt") else "other",
                prompt_key=state.get("prompt"),
                raw_usage={k: obj.get(k) for k in ("input", "cached", "output")},
            )


@hookimpl
def register_parsers(register):
    register(ExampleAgentParser())
