"""An independent count of real session logs: a deliberately different, simple reading.

The parsers follow each agent's state machine line by line, tail files by byte
offset and upsert on keys. This module shares none of that code: it reads each
raw file whole with the standard ``json`` module and applies the simplest rule
that gives the totals for the shapes the real fixtures hold, so that a parser
bug and a counting bug are unlikely to agree:

* Claude Code: every ``assistant`` line with ``message.usage`` (not the local
  ``<synthetic>`` model) is a copy of the call ``message.id``, across every file
  of the home; per id, the copy with the most output (then the most input) is
  the call. Tokens are the usage fields as written (``cache_creation_input_tokens``
  is the cache write). Requests = distinct ids.
* Codex: per file, the ``total_token_usage`` of ``token_count`` events. The
  tokens are the last total of each run of non-decreasing totals (a run ends
  when the total goes down: a resumed count); a request is each change of the
  total, plus one more where the total grew by more than that event's
  ``last_token_usage`` (a call whose own event was never written). Cached
  and cache-write tokens are inside input; uncached input = input - cached -
  cache write. Not handled: fork and subagent replays (no real fixture holds one).
* Gemini CLI: every ``gemini`` message with ``tokens`` in every session file,
  last copy per (session, message id); uncached input = input - cached + tool,
  output = output + thoughts, unless the message's total shows the thoughts
  already inside output (total = input + output + tool).

Lines that are not JSON are reported, never skipped silently.
"""

from __future__ import annotations

import json
from pathlib import Path

TOTAL_KEYS = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")


def _json_lines(path: Path) -> tuple[list, list[int]]:
    objects, broken = [], []
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            objects.append(json.loads(raw))
        except ValueError:
            broken.append(number)
    return objects, broken


def _zero() -> dict:
    return dict.fromkeys(TOTAL_KEYS, 0) | {"broken_lines": 0}


def claude_code(home: Path) -> dict:
    """Totals of every transcript under ``home/.claude/projects``."""
    best: dict[str, tuple] = {}
    out = _zero()
    for path in sorted((home / ".claude" / "projects").rglob("*.jsonl")):
        objects, broken = _json_lines(path)
        out["broken_lines"] += len(broken)
        for obj in objects:
            message = obj.get("message") if isinstance(obj, dict) else None
            if obj.get("type") != "assistant" or not isinstance(message, dict):
                continue
            usage = message.get("usage")
            if not isinstance(usage, dict) or message.get("model") == "<synthetic>" or not message.get("id"):
                continue
            figures = (
                usage.get("input_tokens") or 0,
                usage.get("cache_read_input_tokens") or 0,
                usage.get("cache_creation_input_tokens") or 0,
                usage.get("output_tokens") or 0,
            )
            rank = (figures[3], sum(figures[:3]))
            seen = best.get(message["id"])
            if seen is None or rank > seen[0]:
                best[message["id"]] = (rank, figures)
    out["requests"] = len(best)
    for _, (inp, read, write, output) in best.values():
        out["input_tokens"] += inp
        out["cache_read_tokens"] += read
        out["cache_write_tokens"] += write
        out["output_tokens"] += output
    return out


_CODEX_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)


def _codex_usage(obj) -> tuple[int, ...] | None:
    if not isinstance(obj, dict):
        return None
    return tuple(int(obj.get(name) or 0) for name in _CODEX_FIELDS)


def codex(home: Path) -> dict:
    """Totals of every rollout under ``home/.codex`` (sessions and archived_sessions)."""
    out = _zero()
    for path in sorted((home / ".codex").rglob("rollout-*.jsonl")):
        objects, broken = _json_lines(path)
        out["broken_lines"] += len(broken)
        runs: list[tuple[int, ...]] = []
        previous = None
        for obj in objects:
            payload = obj.get("payload") if isinstance(obj, dict) else None
            if not isinstance(payload, dict) or payload.get("type") != "token_count":
                continue
            info = payload.get("info")
            total = _codex_usage(info.get("total_token_usage")) if isinstance(info, dict) else None
            if total is None or not any(total):
                continue
            last = _codex_usage(info.get("last_token_usage"))
            if previous is None or any(t < p for t, p in zip(total, previous)):
                runs.append(total)  # a new run: its first event is one call
                out["requests"] += 1
            elif total != previous:
                runs[-1] = total
                out["requests"] += 1
                growth = tuple(t - p for t, p in zip(total, previous))
                if last is not None and growth != last and all(g >= x for g, x in zip(growth, last)):
                    out["requests"] += 1
            previous = total
        for inp, cached, written, output, _ in runs:
            out["input_tokens"] += inp - cached - written
            out["cache_read_tokens"] += cached
            out["cache_write_tokens"] += written
            out["output_tokens"] += output
    return out


def gemini_cli(home: Path) -> dict:
    """Totals of every chat session (``.json`` and ``.jsonl``) under ``home/.gemini/tmp``."""
    out = _zero()
    calls: dict[tuple[str, str], dict] = {}
    for path in sorted((home / ".gemini" / "tmp").rglob("chats/**/session-*")):
        if path.suffix == ".json":
            document = json.loads(path.read_text())
            session, messages = document.get("sessionId"), document.get("messages") or []
        else:
            messages, broken = _json_lines(path)
            out["broken_lines"] += len(broken)
            session = next((m.get("sessionId") for m in messages if "sessionId" in m), path.stem)
        for message in messages:
            if (
                isinstance(message, dict)
                and message.get("type") == "gemini"
                and isinstance(message.get("tokens"), dict)
            ):
                calls[(session, message["id"])] = message["tokens"]
    out["requests"] = len(calls)
    for tokens in calls.values():
        cached, tool = tokens.get("cached") or 0, tokens.get("tool") or 0
        inp, output, thoughts = tokens.get("input") or 0, tokens.get("output") or 0, tokens.get("thoughts") or 0
        out["input_tokens"] += inp - cached + tool
        out["cache_read_tokens"] += cached
        inside = thoughts and tokens.get("total") == inp + output + tool
        out["output_tokens"] += output + (0 if inside else thoughts)
    return out


COUNTERS = {"claude-code": claude_code, "codex": codex, "gemini-cli": gemini_cli}


def count(agent: str, home: Path) -> dict:
    """The independent totals of one agent's files in ``home``."""
    return COUNTERS[agent](home)
