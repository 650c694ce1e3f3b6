"""The vendors whose plans pay for requests: data, not code.

A vendor here is one place a subscription (or a wallet) lives, so its ``id``
is also the default account id of the requests it served: ``anthropic``,
``openai``, ``zai`` (GLM on api.z.ai) and ``zhipuai`` (GLM on
open.bigmodel.cn, a separate account and a separate price list), ``moonshot``
(the Kimi Code plan on api.kimi.com) and ``moonshot-api`` (Moonshot's
pay-as-you-go platform), ``minimax`` (api.minimax.io) and ``minimax-cn``
(api.minimaxi.com), ``bailian`` (Aliyun's Coding Plan endpoint) and
``dashscope`` (Aliyun's metered API), ``ark`` (Volcengine), ``qianfan``
(Baidu), ``qwen-oauth`` (Qwen Code's free sign-in tier), ``google`` (Gemini
signed in with a Google account), ``google-api`` (a Gemini API key),
``vertex``, and wallets such as ``openrouter`` or ``deepseek``. Names follow
models.dev's provider ids where one exists, so OpenCode's ``providerID`` maps
without a table of its own.

Each vendor lists the API hosts it answers on, the provider names agents
record for it (OpenCode ``providerID``, Codex ``model_provider``, Qwen's and
Gemini's auth types, Kimi's provider type), the model-name globs of its own
models, the catalogue plans (``analyzer/plans/plans.json``) sold on it, and
whether it serves only its own models: a gateway that does (z.ai only answers
with GLM) cannot have served a ``claude-*`` reply, so a configured host that
disagrees with the model is stale configuration, not evidence.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class Vendor:
    """One place requests are paid for."""

    id: str
    name: str
    hosts: tuple[str, ...] = ()
    provider_ids: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    plans: tuple[str, ...] = ()
    own_models_only: bool = False

    def serves_host(self, host: str) -> bool:
        host = host.lower()
        return any(host == h or host.endswith("." + h) for h in self.hosts)

    def makes_model(self, model: str) -> bool:
        name = model.lower().rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(name, glob) for glob in self.models)


VENDORS: tuple[Vendor, ...] = (
    Vendor(
        "anthropic",
        "Anthropic (Claude)",
        ("api.anthropic.com", "claude.ai"),
        ("anthropic", "claude"),
        ("claude-*", "claude"),
        ("claude-pro", "claude-max-5x", "claude-max-20x"),
        own_models_only=True,
    ),
    Vendor(
        "openai",
        "OpenAI (ChatGPT / Codex)",
        ("api.openai.com", "chatgpt.com", "openai.com"),
        ("openai", "chatgpt"),
        ("gpt-*", "codex-*", "o1*", "o3*", "o4*", "chatgpt-*"),
        ("codex-plus", "codex-pro-5x", "codex-pro-20x"),
        own_models_only=True,
    ),
    Vendor(
        "zai",
        "Z.ai GLM (international)",
        ("api.z.ai", "z.ai"),
        ("zai", "zai-coding-plan", "z.ai"),
        ("glm-*", "glm4*", "chatglm*", "codegeex*"),
        (),
        own_models_only=True,
    ),
    Vendor(
        "zhipuai",
        "Zhipu GLM (bigmodel.cn)",
        ("open.bigmodel.cn", "bigmodel.cn"),
        ("zhipuai", "zhipuai-coding-plan", "zhipu", "bigmodel"),
        ("glm-*", "glm4*", "chatglm*", "codegeex*"),
        ("glm-lite", "glm-pro", "glm-max"),
        own_models_only=True,
    ),
    Vendor(
        "moonshot",
        "Kimi Code plan (Moonshot)",
        ("api.kimi.com", "kimi.com", "api.kimi.ai"),
        ("kimi-for-coding", "managed:kimi-code", "kimi-code", "kimi"),
        ("kimi-*", "kimi"),
        ("kimi-andante", "kimi-moderato", "kimi-allegretto", "kimi-allegro"),
        own_models_only=True,
    ),
    Vendor(
        "moonshot-api",
        "Moonshot open platform (metered)",
        ("api.moonshot.cn", "api.moonshot.ai", "moonshot.cn"),
        ("moonshotai", "moonshotai-cn", "moonshot"),
        ("kimi-*", "moonshot-*"),
        own_models_only=True,
    ),
    Vendor(
        "minimax",
        "MiniMax (international)",
        ("api.minimax.io", "minimax.io", "api.minimax.chat"),
        ("minimax", "minimax-coding-plan"),
        ("minimax-*", "abab*"),
        ("minimax-intl-starter", "minimax-intl-plus", "minimax-intl-max"),
        own_models_only=True,
    ),
    Vendor(
        "minimax-cn",
        "MiniMax (China)",
        ("api.minimaxi.com", "minimaxi.com"),
        ("minimax-cn", "minimax-cn-coding-plan"),
        ("minimax-*", "abab*"),
        (
            "minimax-starter",
            "minimax-plus",
            "minimax-max",
            "minimax-plus-highspeed",
            "minimax-max-highspeed",
            "minimax-ultra-highspeed",
        ),
        own_models_only=True,
    ),
    Vendor(
        "bailian",
        "Aliyun Bailian Coding Plan",
        ("coding.dashscope.aliyuncs.com", "coding-intl.dashscope.aliyuncs.com"),
        ("alibaba-coding-plan", "bailian", "bailian-coding-plan"),
        ("qwen*", "coder-model"),
        ("bailian-lite", "bailian-pro"),
    ),
    Vendor(
        "dashscope",
        "Aliyun DashScope (metered)",
        ("dashscope.aliyuncs.com", "dashscope-intl.aliyuncs.com", "aliyuncs.com"),
        ("alibaba", "alibaba-cn", "dashscope", "aliyun", "qwen"),
        ("qwen*",),
    ),
    Vendor(
        "qwen-oauth",
        "Qwen Code free tier (Qwen OAuth)",
        ("portal.qwen.ai", "chat.qwen.ai"),
        ("qwen-oauth",),
        ("coder-model", "qwen*"),
        own_models_only=True,
    ),
    Vendor(
        "ark",
        "Volcengine Ark",
        ("ark.cn-beijing.volces.com", "volces.com", "volcengineapi.com"),
        ("volcengine", "ark", "doubao", "volcengine-plan"),
        ("doubao-*", "ark-code-*"),
        ("ark-lite", "ark-pro"),
    ),
    Vendor(
        "qianfan",
        "Baidu Qianfan",
        ("qianfan.baidubce.com", "baidubce.com"),
        ("qianfan", "baidu"),
        ("ernie-*",),
        ("qianfan-lite", "qianfan-pro"),
    ),
    Vendor(
        "google",
        "Google Gemini (Google sign-in)",
        ("cloudcode-pa.googleapis.com",),
        ("google", "oauth-personal", "login-with-google", "cloud-shell", "compute-default-credentials", "gemini"),
        ("gemini-*",),
        own_models_only=True,
    ),
    Vendor(
        "google-api",
        "Google Gemini API key",
        ("generativelanguage.googleapis.com",),
        ("gemini-api-key", "gemini-api"),
        ("gemini-*",),
        own_models_only=True,
    ),
    Vendor(
        "vertex",
        "Google Vertex AI",
        ("aiplatform.googleapis.com",),
        ("vertex-ai", "google-vertex", "vertex"),
        ("gemini-*", "claude-*"),
    ),
    Vendor("deepseek", "DeepSeek", ("api.deepseek.com",), ("deepseek",), ("deepseek-*",), own_models_only=True),
    Vendor("xai", "xAI", ("api.x.ai",), ("xai",), ("grok-*",), own_models_only=True),
    Vendor("openrouter", "OpenRouter", ("openrouter.ai",), ("openrouter",)),
    Vendor(
        "github-copilot",
        "GitHub Copilot",
        ("api.githubcopilot.com", "githubcopilot.com"),
        ("github-copilot", "copilot"),
    ),
    Vendor("opencode", "OpenCode Zen", ("opencode.ai",), ("opencode", "opencode-zen")),
    # Agents that sell their own credits and route the calls: their usage is no model vendor's plan.
    Vendor("amp", "Amp credits", ("ampcode.com",), ("amp", "ampcode")),
    Vendor("kilocode", "Kilo Code credits", ("kilocode.ai", "api.kilo.ai"), ("kilocode", "kilo", "kilo-code")),
    Vendor("iflow", "iFlow", ("iflow.cn", "apis.iflow.cn"), ("iflow",)),
    Vendor("bedrock", "Amazon Bedrock", ("amazonaws.com",), ("amazon-bedrock", "bedrock")),
    Vendor("azure", "Azure OpenAI", ("openai.azure.com", "azure.com"), ("azure", "azure-openai")),
    Vendor(
        "local",
        "A model on this machine",
        ("localhost", "127.0.0.1", "0.0.0.0", "::1"),
        ("ollama", "lmstudio", "llama.cpp", "vllm", "local"),
    ),
)

BY_ID = {v.id: v for v in VENDORS}
# The vendor a model family is assumed to come from when nothing else is known,
# and the others it could be (said in the ambiguity note).
FAMILY_DEFAULTS: dict[str, tuple[str, ...]] = {
    "anthropic": (),
    "openai": ("azure",),
    "zai": ("zhipuai",),
    "zhipuai": ("zai",),
    "moonshot": ("moonshot-api",),
    "moonshot-api": ("moonshot",),
    "minimax": ("minimax-cn",),
    "minimax-cn": ("minimax",),
    "qwen-oauth": (),
    "bailian": ("dashscope", "qwen-oauth"),
    "dashscope": ("bailian",),
    "ark": (),
    "qianfan": (),
    "google": ("google-api", "vertex"),
    "deepseek": (),
    "xai": (),
}
# First vendor in this order whose globs match a model name is its family's default.
_FAMILY_ORDER = (
    "anthropic",
    "openai",
    "zai",
    "moonshot",
    "minimax",
    "qwen-oauth",
    "bailian",
    "ark",
    "qianfan",
    "google",
    "deepseek",
    "xai",
)
_KEYWORDS = (
    ("bigmodel", "zhipuai"),
    ("zhipu", "zhipuai"),
    ("z.ai", "zai"),
    ("zai", "zai"),
    ("glm", "zai"),
    ("kimi", "moonshot"),
    ("moonshot", "moonshot-api"),
    ("minimaxi", "minimax-cn"),
    ("minimax", "minimax"),
    ("bailian", "bailian"),
    ("dashscope", "dashscope"),
    ("aliyun", "dashscope"),
    ("volc", "ark"),
    ("ark", "ark"),
    ("doubao", "ark"),
    ("qianfan", "qianfan"),
    ("deepseek", "deepseek"),
    ("openrouter", "openrouter"),
    ("anthropic", "anthropic"),
    ("claude", "anthropic"),
    ("openai", "openai"),
    ("gemini", "google"),
    ("ollama", "local"),
    ("lmstudio", "local"),
)


def get(vendor_id: str | None) -> Vendor | None:
    return BY_ID.get(vendor_id or "")


def vendor_of_host(host: str | None) -> Vendor | None:
    """The vendor answering on an API host, the most specific host first."""
    if not host:
        return None
    host = host.lower().strip().rstrip(".")
    best: tuple[int, Vendor] | None = None
    for v in VENDORS:
        for h in v.hosts:
            if host == h or host.endswith("." + h):
                if best is None or len(h) > best[0]:
                    best = (len(h), v)
    return best[1] if best else None


def vendor_of_provider(provider: str | None) -> tuple[Vendor | None, str]:
    """The vendor a recorded provider names, and how it was read: ``host``, ``id`` or ``keyword``.

    A provider is what an agent records: a host (Claude Code, Qwen, Kimi), a
    provider id (OpenCode, Codex), an auth type (Gemini, Qwen), or a vendor id.
    """
    if not provider:
        return None, ""
    text = provider.strip().lower()
    if text in BY_ID:
        return BY_ID[text], "id"
    for v in VENDORS:
        if text in v.provider_ids:
            return v, "id"
    if "." in text or text in ("localhost",):
        found = vendor_of_host(text)
        if found:
            return found, "host"
    for word, vendor_id in _KEYWORDS:
        if word in text:
            return BY_ID[vendor_id], "keyword"
    return None, ""


def vendor_of_route(model: str | None) -> Vendor | None:
    """The router a model id names before its model (``kilo/anthropic/claude-sonnet-4.5``: Kilo Code's), when
    that first part is a vendor selling no models of its own (a wallet, a gateway); else None."""
    if not model or "/" not in model:
        return None
    head = model.split("/", 1)[0].strip().lower()
    found = BY_ID.get(head) or next((v for v in VENDORS if head in v.provider_ids), None)
    return found if found is not None and not found.models else None


def vendor_of_model(model: str | None) -> Vendor | None:
    """The vendor whose model family a model name belongs to (``glm-4.6`` -> z.ai), or None."""
    if not model or model.startswith("<"):
        return None
    for vendor_id in _FAMILY_ORDER:
        if BY_ID[vendor_id].makes_model(model):
            return BY_ID[vendor_id]
    return None


def family_alternatives(vendor: Vendor) -> tuple[str, ...]:
    """The other vendors a model family could have been served by."""
    return FAMILY_DEFAULTS.get(vendor.id, ())
