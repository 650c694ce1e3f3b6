"""What ``tokensIn`` means in an ``api_req_started`` record, and the four disjoint classes.

Every Cline-family request records ``tokensIn``, ``tokensOut``, ``cacheWrites`` and
``cacheReads``. ``tokensOut`` is the output (reasoning included). Whether
``tokensIn`` also holds the cached tokens depends on the agent, its version and
the provider, as read in their sources:

* **Cline** writes the provider handler's ``inputTokens`` as it is. Most
  handlers report uncached input (Anthropic, OpenRouter, DeepSeek, Gemini,
  OpenAI native, Moonshot, MiniMax, Groq, Requesty, Vercel, Cline's own), but
  the OpenAI-compatible ones pass ``prompt_tokens``, which includes the cache
  reads: ``openai`` (any OpenAI-compatible base URL: GLM, Kimi, ... plans),
  ``openai-codex``, ``litellm``, ``lmstudio``, ``zai``, ``qwen``, ``doubao``,
  ``fireworks``, ``xai``, ``oca``, ``hicap`` (``INCLUSIVE_PROVIDERS``; read in
  cline/cline v3.89.2, ``apps/vscode/src/core/api/providers``). The provider is
  the ``model_provider_id`` of ``task_metadata.json`` or a message's
  ``modelInfo.providerId``.
* **Roo Code** and **Kilo Code** (a Roo fork) record ``apiProtocol``.
  ``"openai"`` always meant that ``tokensIn`` includes cache reads and writes
  (``calculateApiCostOpenAI`` subtracts them). ``"anthropic"`` meant it
  excludes them until Roo PR #8954 (2025-10-31, released in Roo 3.30.0 on
  2025-11-03 and Kilo 4.119.0 on 2025-11-12): since then ``tokensIn`` is
  ``costResult.totalInputTokens``, the *total* input for both protocols
  (``src/core/task/Task.ts``; ``consolidateTokenUsage`` says so). No field
  tells the two versions apart, so an ``"anthropic"`` record is read as total
  from the release date on (``CUTOVER_MS``). Records from before July 2025
  have no ``apiProtocol``.

One fact overrides every rule: a ``tokensIn`` smaller than ``cacheWrites +
cacheReads`` cannot include them, so it is uncached input whatever the
version. Where nothing else decides (no provider, no protocol) and the cache is
not empty, the record is read as total input: an Anthropic-style record whose
uncached input exceeds its cached part is rare, since those providers cache
the whole prefix. Which rule decided is kept in the raw usage (``rule``).
"""

from __future__ import annotations

from dataclasses import dataclass

INCLUSIVE_PROVIDERS = frozenset(
    {
        "openai",
        "openai-codex",
        "litellm",
        "lmstudio",
        "zai",
        "qwen",
        "doubao",
        "fireworks",
        "xai",
        "oca",
        "hicap",
    }
)

# The first instant at which an "anthropic" Roo / Kilo record holds total input.
CUTOVER_MS = {"roo-code": 1762215536000, "kilo-code": 1762970631000}


@dataclass(frozen=True)
class Tokens:
    """The four disjoint classes of one request (or of an aggregate of requests)."""

    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0

    def as_list(self) -> list[int]:
        return [self.input, self.output, self.cache_write, self.cache_read]

    @classmethod
    def of(cls, values) -> Tokens:
        return cls(*(int(v) for v in values[:4]))

    def minus(self, other: Tokens) -> Tokens:
        """Each class less the other's, never below zero."""
        return Tokens(*(max(0, a - b) for a, b in zip(self.as_list(), other.as_list())))

    def plus(self, other: Tokens) -> Tokens:
        return Tokens(*(a + b for a, b in zip(self.as_list(), other.as_list())))

    def any(self) -> bool:
        return any(self.as_list())


def count(value) -> int:
    """A token count from JSON; 0 for anything that is not a non-negative number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return max(0, int(value))


def inclusive_for(agent: str, ts: int, provider: str | None, protocol: str | None) -> bool | None:
    """Whether ``tokensIn`` includes the cached tokens: True, False, or None (not known)."""
    if agent == "cline":
        if provider is None:
            return None
        return provider in INCLUSIVE_PROVIDERS
    if protocol == "openai":
        return True
    if protocol == "anthropic":
        return ts >= CUTOVER_MS.get(agent, 0)
    return None


def split(info: dict, inclusive: bool | None) -> tuple[Tokens, str]:
    """The disjoint classes of an ``api_req_started``-shaped dict, and the rule that decided."""
    tokens_in = count(info.get("tokensIn"))
    cache_write = count(info.get("cacheWrites"))
    cache_read = count(info.get("cacheReads"))
    output = count(info.get("tokensOut"))
    cached = cache_write + cache_read
    if cached == 0:
        rule = "no cache"
        uncached = tokens_in
    elif tokens_in < cached:
        rule = "excludes cache (smaller than it)"
        uncached = tokens_in
    elif inclusive is None:
        rule = "includes cache (assumed)"
        uncached = tokens_in - cached
    elif inclusive:
        rule = "includes cache"
        uncached = tokens_in - cached
    else:
        rule = "excludes cache"
        uncached = tokens_in
    return Tokens(uncached, output, cache_write, cache_read), rule


def has_usage(info: dict) -> bool:
    """Whether the record carries any usage number (or a cost) at all."""
    return any(k in info for k in ("tokensIn", "tokensOut", "cacheWrites", "cacheReads", "cost"))
