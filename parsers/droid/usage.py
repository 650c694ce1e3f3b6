"""Droid's ``<sessionId>.settings.json``: the session's running token total, its model and provider.

``tokenUsage`` is ``{inputTokens, outputTokens, cacheCreationTokens,
cacheReadTokens, thinkingTokens, factoryCredits?}``, the sum of every call of
*this* session (``commitTurnTokenUsage`` adds each response). Beside it
``inclusiveTokenUsage`` and ``childInclusiveTokenUsageBySessionId`` add the
sessions this one started (subagents), whose own settings files hold their own
``tokenUsage``: those two are never read, or subagent calls would count twice.

Token classes (from Droid's stream handlers): ``inputTokens`` is uncached
input for every provider (Anthropic's ``input_tokens``; OpenAI's prompt minus
cached), ``outputTokens`` includes reasoning (Anthropic's ``output_tokens``,
OpenAI's ``output_tokens`` / ``completion_tokens``, Gemini's candidates plus
thoughts), and ``thinkingTokens`` is the reasoning part of it, counted from
the thinking text's length where the provider gives no figure: an estimate,
kept as the subset it is and never added to output (ccusage and tokscale add
it, which counts it twice).
"""

from __future__ import annotations

import re

FIELDS = ("inputTokens", "cacheReadTokens", "cacheCreationTokens", "outputTokens", "thinkingTokens")

_BRACKETS = re.compile(r"\[[^\]]*\]")
_INDEX = re.compile(r"-\d+$")


def usage_vector(settings: dict) -> list[int] | None:
    """``[input, cache read, cache write, output, thinking]`` of ``tokenUsage``, or None."""
    usage = settings.get("tokenUsage")
    if not isinstance(usage, dict):
        return None
    values = []
    for name in FIELDS:
        value = usage.get(name) or 0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"tokenUsage.{name} is not a token count: {value!r}")
        values.append(int(value))
    return values


def normalise_model(name: object) -> str | None:
    """A Droid model id as the price tables spell it.

    Built-in ids are already plain (``claude-sonnet-4-5-20250929``,
    ``gpt-5-codex``, ``glm-4.6``). Custom (bring-your-own-key) models are
    ``custom:<display name>-[<provider>]-<index>``, e.g.
    ``custom:Claude-Opus-4.5-Thinking-[Anthropic]-0``: the prefix, the bracket
    and the index go, the rest is lower-cased with spaces as hyphens
    (``claude-opus-4.5-thinking``). Dots stay: ``glm-4.6`` is priced,
    ``glm-4-6`` is not.
    """
    if not isinstance(name, str) or not name.strip():
        return None
    text = name.strip()
    custom = text.lower().startswith("custom:")
    if custom:
        text = text[len("custom:") :]
    text = _BRACKETS.sub("", text)
    if custom:
        text = _INDEX.sub("", text.rstrip("- ")).rstrip("- ")
    text = re.sub(r"[\s_]+", "-", text.strip().lower())
    return re.sub(r"-{2,}", "-", text).strip("-") or None


def provider_of(settings: dict, message: dict | None = None) -> str | None:
    """The API provider a call went to: the message's ``apiProvider``, else the session's lock."""
    for value in ((message or {}).get("apiProvider"), settings.get("apiProviderLock"), settings.get("providerLock")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
