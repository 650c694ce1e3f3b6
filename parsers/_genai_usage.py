"""Gemini-schema token usage, split into the four disjoint columns.

Gemini CLI and Qwen Code both record usage in the shape of Google's
``usageMetadata``: ``promptTokenCount`` (``input``), ``candidatesTokenCount``
(``output``), ``cachedContentTokenCount`` (``cached``), ``thoughtsTokenCount``
(``thoughts``), ``toolUsePromptTokenCount`` (``tool``) and
``totalTokenCount`` (``total``). What is inside what is not the same everywhere:

* the prompt count always includes the cached tokens, so uncached input is
  ``prompt - cached``;
* on Google's own API the thoughts are *outside* the candidates and the tool-use
  prompt tokens (what built-in tools such as search feed back) are *outside*
  the prompt: ``total = prompt + candidates + thoughts + tool``. Thoughts are
  billed as output and tool-use prompt tokens as input;
* Qwen Code mostly talks to OpenAI-compatible endpoints, and its converter
  copies ``completion_tokens`` (which *includes* reasoning) into
  ``candidatesTokenCount`` and ``reasoning_tokens`` into
  ``thoughtsTokenCount``: there the thoughts are *inside* the candidates and
  ``total = prompt + candidates``.

So the record's own total decides: of the four readings (thoughts inside or
outside the candidates, tool tokens inside or outside the prompt) the first
whose sum equals ``total`` is taken, the agent's usual convention first. When
the total is missing or matches none, the agent's convention is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analyzer.api import token_count


@dataclass(frozen=True, slots=True)
class Split:
    """One call's usage as the store keeps it."""

    input_tokens: int
    cache_read_tokens: int
    output_tokens: int
    reasoning_tokens: int

    def columns(self) -> dict[str, int]:
        """The split as ``Request`` keyword arguments."""
        return {
            "input_tokens": self.input_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }


# Field names for each shape the usage is written in.
GENAI_FIELDS = (
    "promptTokenCount",
    "candidatesTokenCount",
    "cachedContentTokenCount",
    "thoughtsTokenCount",
    "toolUsePromptTokenCount",
    "totalTokenCount",
)
SUMMARY_FIELDS = ("input", "output", "cached", "thoughts", "tool", "total")
TELEMETRY_FIELDS = (
    "input_token_count",
    "output_token_count",
    "cached_content_token_count",
    "thoughts_token_count",
    "tool_token_count",
    "total_token_count",
)


def count(value: Any, name: str = "token count") -> int:
    """A token count as an int (absent: 0); a value that cannot be one raises ``BadValue``."""
    return token_count(value, name)


def numbers(usage: dict, fields: tuple[str, ...] | None = None) -> tuple[int, int, int, int, int, int | None]:
    """(prompt, candidates, cached, thoughts, tool, total) from a usage object in any of the three shapes."""
    if fields is None:
        fields = GENAI_FIELDS if any(k in usage for k in GENAI_FIELDS[:2]) else SUMMARY_FIELDS
    prompt, candidates, cached, thoughts, tool, total = (usage.get(f) for f in fields)
    return (
        count(prompt, fields[0]),
        count(candidates, fields[1]),
        count(cached, fields[2]),
        count(thoughts, fields[3]),
        count(tool, fields[4]),
        (None if total is None else count(total, fields[5])),
    )


def split_usage(
    prompt: int,
    candidates: int,
    cached: int,
    thoughts: int = 0,
    tool: int = 0,
    total: int | None = None,
    *,
    thoughts_inside: bool = False,
) -> Split | None:
    """The disjoint split of one call's usage; None when it reports no tokens at all."""
    if not (prompt or candidates or cached or thoughts or tool):
        return None
    readings = [
        (thoughts_inside, False),
        (not thoughts_inside, False),
        (thoughts_inside, True),
        (not thoughts_inside, True),
    ]
    t_in, tool_in = readings[0]
    if total:
        for t, u in readings:
            if prompt + candidates + (0 if t else thoughts) + (0 if u else tool) == total:
                t_in, tool_in = t, u
                break
    cache_read = min(cached, prompt)
    output = candidates + (0 if t_in else thoughts)
    return Split(
        input_tokens=prompt - cache_read + (0 if tool_in else tool),
        cache_read_tokens=cache_read,
        output_tokens=output,
        reasoning_tokens=min(thoughts, output),
    )


def split_record(usage: dict, *, thoughts_inside: bool = False, fields: tuple[str, ...] | None = None) -> Split | None:
    """``split_usage`` for a usage object as written on disk."""
    prompt, candidates, cached, thoughts, tool, total = numbers(usage, fields)
    return split_usage(prompt, candidates, cached, thoughts, tool, total, thoughts_inside=thoughts_inside)
