"""Lines of a type a parser does not know: ignored, or flagged when they might hold usage.

Agents add line types all the time (Claude Code 2.1 wrote ``permission-mode``,
``worktree-state``, ``frame-link``, ... within weeks). A new type that carries no
usage cannot change any total: it is an ``ignored`` ``BadLine``, kept in the store
(``analyzer db errors --all`` lists it) and never reported as a skipped error. A
new type that carries anything shaped like usage (``usage``, ``tokens``,
``input_tokens``, ``usageMetadata``, ...) may be a model call the parser misses:
it stays an ``unknown_type`` error, with the field named in the reason.
"""

from __future__ import annotations

from typing import Any

import orjson

from analyzer.contract.records import BadLine

# Field names that hold token usage in some agent's logs (any vendor's convention).
USAGE_KEYS = frozenset(
    {
        "usage",
        "usageMetadata",
        "usage_metadata",
        "tokens",
        "token_usage",
        "tokenUsage",
        "total_token_usage",
        "last_token_usage",
        "input_tokens",
        "output_tokens",
        "inputTokens",
        "outputTokens",
        "prompt_tokens",
        "completion_tokens",
        "promptTokenCount",
        "candidatesTokenCount",
        "cache_read_input_tokens",
        "cached_input_tokens",
        "cacheReadInputTokens",
        "input_token_count",
        "output_token_count",
    }
)
MAX_DEPTH = 6


def usage_field(value: Any, path: str = "", depth: int = 0) -> str | None:
    """The dotted path of the first usage-like field inside ``value``, or None."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in USAGE_KEYS and item not in (None, {}, [], 0):
                return where
            found = usage_field(item, where, depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value[:50]):
            found = usage_field(item, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


def unknown_line(offset: int, what: str, obj: Any) -> BadLine:
    """The record for a line of unknown type ``what``: ignored, unless it carries usage-like fields."""
    snippet = _snippet(obj)
    field = usage_field(obj)
    if field:
        return BadLine(
            offset, "unknown_type", f"unknown record type {what!r} carries usage-like field {field}", snippet
        )
    return BadLine(offset, "ignored", f"unknown record type {what!r} with no usage", snippet)


def _snippet(obj: Any, limit: int = 160) -> str:
    try:
        raw = orjson.dumps(obj)
    except TypeError:
        return ""
    text = raw[:limit].decode("utf-8", "replace")
    return text + ("…" if len(raw) > limit else "")
