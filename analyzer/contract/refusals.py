"""What a vendor's refusal says: who refused, which limit, and when it lifts.

An agent logs a refused model call in its own shape: Claude Code writes the
text ``API Error: 429 {...}`` or ``API Error: Request rejected (429) ·
[1308][...][request id]``; OpenCode keeps the SDK's ``APIError`` (``message``,
``statusCode``, ``responseBody``); Kimi Code, Qwen Code and Gemini CLI keep a
message such as ``403 You've reached your weekly (7-day) usage limit…``.
Whatever the agent, the vendor's own words are inside. ``read_refusal`` takes
any of these (a string, a decoded JSON body, an error object) and returns a
``Refusal``: the vendor, the kind of limit, the window it names, and the
instant it lifts, in the stored UTC form. It is pure: no clock, no files.

Kinds. ``quota`` is a plan window exhausted (the evidence infer-limit needs);
``rate_limit`` (requests or tokens per minute, "too many requests"),
``concurrency``, ``overloaded`` (the vendor's capacity), ``balance`` (a
pay-as-you-go wallet or arrears), ``spend`` (a spend cap), ``fair_use`` (an
account throttled for its pattern) and ``expired`` (no active plan) are
refusals too, but say nothing about a plan window's size.

Reset times. A stamp with a zone or an offset is read as written; an epoch or
a delay ("try again in 2h 5m", ``resets_in_seconds``) is counted from ``at``,
the instant the refusal was logged. A stamp without a zone is read in the
vendor's own zone when the vendor is known to write one (``VENDOR_ZONES``),
and otherwise left unknown: a wrong zone would move a window by hours.
Assumptions made are listed in ``Refusal.assumed``.

Per vendor (the texts, their codes and sources are in ``tests/test_refusals.py``):

* GLM (``zai`` on api.z.ai, ``zhipuai`` on open.bigmodel.cn: the words are the
  same, so the caller's provider tells the two apart; alone they read as
  ``zai``): business codes in the body.
  1308 "Usage limit reached for 5 hour. Your limit will reset at 2026-10-04
  03:00:00" (``已达到 5 小时的使用上限…``) and 1310 "Weekly/Monthly Limit
  Exhausted" are plan windows; their stamps are China time without a zone,
  on both sites (Asia/Shanghai: OmniRoute #14479, oh-my-pi #11014). 1310 names
  no single window: taken as weekly (GLM's model quota has a 5-hour and a
  weekly window; the monthly allowance is for MCP tools) unless its reset is
  more than a week away. 1302 concurrency, 1303/1305 rate, 1304 the API's
  daily call cap (resets at midnight China time), 1309 plan expired, 1312
  model overloaded, 1313 fair-use throttling, 1113 arrears (docs.bigmodel.cn
  and docs.z.ai error-code pages).
* Kimi (``moonshot``): 403 "You've reached your 5-hour / weekly (7-day) /
  monthly usage limit", "…usage limit for this billing cycle", "…concurrent
  request limit"; 429 "We're receiving too many requests" is a rate limit;
  ``exceeded_current_quota_error`` is the pay-as-you-go balance. Stamps carry
  "UTC" when present ("reset at 12-31 23:59:00 UTC").
* MiniMax: 429 ``rate_limit_error`` code 2056 "usage limit exceeded, 5-hour
  usage limit reached for Token Plan Starter (…), resets at
  2026-05-15T15:00:00Z (2056)" (older: just "usage limit exceeded (2056)");
  1002/1039/2045 rate limits, 1008 balance.
* Bailian Coding Plan (``bailian``): "hour allocated quota exceeded" (5-hour),
  "week allocated quota exceeded" (resets Monday 00:00 UTC+8, the documented
  rule), "month allocated quota exceeded"; ``Throttling.*`` is per-minute
  throttling. Qwen OAuth's "Free allocated quota exceeded" is its daily
  free quota (``qwen-oauth``).
* Volcengine Ark (``ark``): ``AccountQuotaExceeded`` "You have exceeded the
  5-hour / weekly / monthly usage quota. It will reset at 2026-08-03 23:59:59
  +0800 CST."; ``RateLimitExceeded*`` rate, ``ServerOverloaded`` capacity,
  ``AccountOverdueError`` balance. Weekly resets Monday 00:00 UTC+8.
* Anthropic: "Claude AI usage limit reached|<epoch>", Claude Code's "You've hit
  your 5-hour / session / weekly / Opus / Sonnet limit · resets 6pm
  (Europe/Berlin)", "5-hour limit reached ∙ resets 2am" (no zone: no instant),
  spend caps; ``rate_limit_error`` "would exceed your account's rate limit" is
  a rate limit, ``overloaded_error`` capacity.
* OpenAI / Codex: ``usage_limit_reached`` with ``resets_at`` /
  ``resets_in_seconds`` and ``plan_type``; "You've hit your usage limit … try
  again in 5 days 22 hours 11 minutes"; "Rate limit reached for … on tokens per
  min" is a rate limit; ``insufficient_quota`` the API balance.
* Google (Gemini): "You have exhausted your daily quota on this model",
  ``RESOURCE_EXHAUSTED`` quota metrics "per day" (daily) or "per minute" (rate),
  "reset after 19h14m47s", "retry in 44s", ``quotaResetTimeStamp``;
  ``MODEL_CAPACITY_EXHAUSTED`` / "high demand" is capacity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from zoneinfo import ZoneInfo

from .refusal_text import DELAY, Facts, after, duration, explicit_reset, gather, next_local, stamp_reset
from .resets import reset_after
from .timeutil import parse_iso, utc_iso

__all__ = ["KINDS", "VENDOR_ZONES", "WINDOW_MINUTES", "Refusal", "read_refusal"]

KINDS = ("quota", "rate_limit", "concurrency", "overloaded", "balance", "spend", "fair_use", "expired")
WINDOW_MINUTES = {"minute": 1, "five_hour": 300, "daily": 1440, "weekly": 10080, "monthly": 43200}
SHANGHAI = ZoneInfo("Asia/Shanghai")
# The zone a vendor writes its zone-less reset stamps in.
VENDOR_ZONES: dict[str, tzinfo] = {
    v: SHANGHAI
    for v in (
        "zai",
        "zhipuai",
        "moonshot",
        "moonshot-api",
        "minimax",
        "minimax-cn",
        "ark",
        "bailian",
        "dashscope",
        "qwen-oauth",
    )
}
# Vendors that write the same refusals (one company, two sites or two products).
_SIBLINGS = {
    "zai": "zhipuai",
    "zhipuai": "zai",
    "moonshot": "moonshot-api",
    "moonshot-api": "moonshot",
    "minimax": "minimax-cn",
    "minimax-cn": "minimax",
    "bailian": "dashscope",
    "dashscope": "bailian",
}
_FAMILY = {"zhipuai": "zai", "moonshot-api": "moonshot", "minimax-cn": "minimax", "dashscope": "bailian"}


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused request, as the vendor described it."""

    vendor: str | None
    kind: str
    window: str | None = None
    reset_at: str | None = None
    code: str | None = None
    status: int | None = None
    plan_type: str | None = None
    message: str = ""
    assumed: tuple[str, ...] = ()

    @property
    def window_minutes(self) -> int | None:
        return WINDOW_MINUTES.get(self.window or "")

    @property
    def is_plan_window(self) -> bool:
        """A plan window ran out: usage in that window reached the plan's limit."""
        return self.kind == "quota"

    @property
    def limit_type(self) -> str:
        """The ``LimitHit.limit_type`` this refusal stands for."""
        if self.kind == "quota":
            return self.window if self.window and self.window != "minute" else "quota"
        return self.kind


# --- the vendors' words ---------------------------------------------------------------------

_GLM_CODES = {
    "1302": ("concurrency", None),
    "1303": ("rate_limit", None),
    "1304": ("quota", "daily"),
    "1305": ("rate_limit", None),
    "1308": ("quota", None),
    "1309": ("expired", None),
    "1310": ("quota", None),
    "1312": ("overloaded", None),
    "1313": ("fair_use", None),
    "1113": ("balance", None),
}
_GLM_TEXT = re.compile(
    r"Usage limit reached for \d+\s*\w+|Weekly/Monthly Limit Exhausted|已达到\s*\d+\s*\S+?\s*的使用上限|每周/每月使用上限"
    r"|GLM Coding Plan|Fair Usage Policy|公平使用策略|High concurrency usage of this API|High frequency usage of this API",
    re.I,
)
_GLM_SPAN = re.compile(
    r"(?:Usage limit reached for|已达到)\s*(\d+)\s*(hours?|days?|weeks?|months?|小时|天|日|周|月)", re.I
)
_GLM_UNITS = {
    "hour": 60,
    "小时": 60,
    "day": 1440,
    "天": 1440,
    "日": 1440,
    "week": 10080,
    "周": 10080,
    "month": 43200,
    "月": 43200,
}

_KIMI_TEXT = re.compile(
    r"reached your (?:5-hour|weekly|monthly|concurrent)|usage limit for this billing cycle|Kimi For Coding|kimi\.com"
    r"|exceeded_current_quota|rate_limit_reached_error|We're receiving too many requests",
    re.I,
)
_MINIMAX_TEXT = re.compile(r"\(2056\)|usage limit exceeded|for Token Plan|base_resp|MiniMax", re.I)
_ARK_TEXT = re.compile(
    r"AccountQuotaExceeded|exceeded the (?:5-hour|weekly|monthly) usage quota|AccountOverdueError"
    r"|ServerOverloaded|RateLimitExceeded",
    re.I,
)
_BAILIAN_TEXT = re.compile(r"(?:hour|week|month) allocated quota exceeded|Throttling\.\w+|Arrearage", re.I)
_QWEN_FREE = re.compile(r"Free allocated quota exceeded|Qwen OAuth quota", re.I)
_ANTHROPIC_TEXT = re.compile(
    r"Claude(?: AI)? usage limit reached|hit your (?:5-hour |session |weekly |opus |sonnet |monthly spend |spend )?limit\b"
    r"|5-hour limit reached|out of (?:usage credits|extra usage)|credit balance is too low|anthropic-ratelimit",
    re.I,
)
# Anthropic's error types, which every Anthropic-compatible endpoint (GLM, Kimi, MiniMax, Bailian, Ark) reuses.
_ANTHROPIC_TYPES = re.compile(r"rate_limit_error|overloaded_error|permission_error", re.I)
_OPENAI_TEXT = re.compile(
    r"usage_limit_reached|usage_not_included|insufficient_quota|hit your (?:ChatGPT )?usage limit"
    r"|The usage limit has been reached|Rate limit reached for \S+ in organization",
    re.I,
)
_GOOGLE_TEXT = re.compile(
    r"RESOURCE_EXHAUSTED|exhausted your daily quota|MODEL_CAPACITY_EXHAUSTED|googleapis\.com"
    r"|Quota exceeded for (?:quota )?metric|generativelanguage",
    re.I,
)

_WINDOW_WORDS = [
    (
        re.compile(r"\b5-hour\b|\b5 hour\b|five[- ]hour|\bsession limit\b|每\s*5\s*小时|\bhour allocated\b", re.I),
        "five_hour",
    ),
    (re.compile(r"\bweekly\b|7-day|\bweek allocated\b|1-week|\bper week\b|每周", re.I), "weekly"),
    (re.compile(r"\bmonthly\b|\bmonth allocated\b|1-month|\bper month\b|每月", re.I), "monthly"),
    (re.compile(r"\bdaily\b|per ?day|PerDay|今日|1-day", re.I), "daily"),
]
_PER_MINUTE = re.compile(r"per ?minute|PerMinute|per min\b|\bRPM\b|\bTPM\b", re.I)
_TOO_MANY = re.compile(r"too many requests|rate limit|rate_limit|ratelimit|throttl|请求过于频繁|频率过高", re.I)
_USAGE_LIMIT = re.compile(
    r"usage limit|usage quota|quota (?:has been )?exhausted|quota exceeded|exhausted your \w+ quota|(?<!rate )limit reached"
    r"|hit your (?:\S+ )?limit|limit exhausted|usage_limit_reached|quota will (?:be )?reset|QUOTA_EXHAUSTED|使用上限|额度",
    re.I,
)
_CAPACITY = re.compile(r"overloaded|high demand|MODEL_CAPACITY_EXHAUSTED|capacity", re.I)
_BALANCE = re.compile(
    r"insufficient[ _]balance|insufficient_quota|recharge|in arrears|arrearage|overdue|欠费|余额"
    r"|credit balance is too low|exceeded your current (?:token )?quota, please check your plan and billing",
    re.I,
)


def _window_of(text: str) -> str | None:
    for pattern, name in _WINDOW_WORDS:
        if pattern.search(text):
            return name
    return None


def _vendor_of(text: str, codes: list[str], hint: str | None) -> str | None:
    """Who refused: the vendor's own words first, then the caller's hint, then weak signs."""
    if any(c in _GLM_CODES and c != "1113" for c in codes) or _GLM_TEXT.search(text):
        return "zai"
    if "2056" in codes or _MINIMAX_TEXT.search(text):
        return "minimax"
    if _ARK_TEXT.search(text):
        return "ark"
    if _QWEN_FREE.search(text):
        return "qwen-oauth"
    if _BAILIAN_TEXT.search(text) or any(c.startswith("Throttling") for c in codes):
        return "bailian"
    if _KIMI_TEXT.search(text):
        return "moonshot"
    if _OPENAI_TEXT.search(text):
        return "openai"
    if _ANTHROPIC_TEXT.search(text):
        return "anthropic"
    if _GOOGLE_TEXT.search(text):
        return "google"
    if hint:
        return hint
    if _ANTHROPIC_TYPES.search(text):
        return "anthropic"
    return None


_GENERIC_CODES = {"error", "apierror", "apistatuserror", "invalid_request_error", "api_error"}


def _pick_code(codes: list[str]) -> str | None:
    """The most telling code: a vendor's 4-digit code, else the first named one."""
    for c in codes:
        if c.isdigit() and len(c) == 4:
            return c
    for c in codes:
        if not c.isdigit() and c.lower() not in _GENERIC_CODES:
            return c
    return None


def _glm(
    text: str, codes: list[str], at: str | None, notes: list[str], who: str
) -> tuple[str, str | None, str | None, str | None] | None:
    """GLM's business codes and wordings, or None when the text has neither."""
    code = next((c for c in codes if c in _GLM_CODES), None)
    if code is not None:
        kind, window = _GLM_CODES[code]
    elif re.search(r"Usage limit reached for|的使用上限|Limit Exhausted", text, re.I):
        kind, window = "quota", None
        code = "1310" if re.search(r"Weekly/Monthly|每周/每月", text) else "1308"
    elif re.search(r"Fair Usage Policy|公平使用", text, re.I):
        kind, window, code = "fair_use", None, "1313"
    elif re.search(r"High concurrency usage|并发数过高", text, re.I):
        kind, window, code = "concurrency", None, "1302"
    elif re.search(r"GLM Coding Plan.*expired|套餐已到期", text, re.I):
        kind, window, code = "expired", None, "1309"
    else:
        return None
    reset = stamp_reset(text, at, VENDOR_ZONES.get(who or ""), who, notes)
    if code == "1308":
        m = _GLM_SPAN.search(text)
        if m:
            minutes = int(m.group(1)) * next(v for k, v in _GLM_UNITS.items() if m.group(2).lower().startswith(k))
            window = {300: "five_hour", 1440: "daily", 10080: "weekly", 43200: "monthly"}.get(minutes)
    elif code == "1310":
        window = "weekly"
        if reset and at and parse_iso(reset) - parse_iso(at) > timedelta(days=7, hours=1):
            window = "monthly"
            notes.append("1310 names weekly or monthly: monthly, as the reset is more than a week away")
        else:
            notes.append("1310 names weekly or monthly: taken as weekly (GLM's monthly allowance is for MCP tools)")
    elif code == "1304" and reset is None:
        reset = next_local(at, SHANGHAI)
        if reset:
            notes.append("1304 is today's call cap: resets at the next midnight, China time")
    return kind, window, reset, code


def _kimi(
    text: str, codes: list[str], at: str | None, notes: list[str], who: str
) -> tuple[str, str | None, str | None] | None:
    """Kimi's refusals, or None when the text is none of them."""
    reset = stamp_reset(text, at, VENDOR_ZONES.get(who or ""), who, notes)
    if re.search(r"concurrent request", text, re.I):
        return "concurrency", None, reset
    if re.search(
        r"exceeded_current_quota|exceeded your current token quota|insufficient balance|recharge|in arrears|suspended",
        text,
        re.I,
    ):
        return "balance", None, reset
    if re.search(r"usage limit for this billing cycle", text, re.I):
        return "quota", None, reset
    if re.search(r"reached your .*usage limit", text, re.I):
        return "quota", _window_of(text), reset
    if re.search(r"We're receiving too many requests|rate_limit_reached_error", text + " ".join(codes), re.I):
        return "rate_limit", None, reset
    return None


def _generic(text: str, status: int | None, codes: list[str]) -> tuple[str, str | None] | None:
    """(kind, window) from words every vendor uses, or None when the text is no limit at all."""
    if any(c.startswith("Throttling") or c.startswith("RateLimitExceeded") for c in codes):
        return "rate_limit", "minute" if _PER_MINUTE.search(text) else None
    if _CAPACITY.search(text) and not _USAGE_LIMIT.search(text) and not re.search(r"quota", text, re.I):
        return "overloaded", None
    if _BALANCE.search(text):
        return "balance", None
    if re.search(r"spend limit|out of usage credits|out of extra usage", text, re.I):
        return "spend", None
    window = _window_of(text)
    if _USAGE_LIMIT.search(text) or (re.search(r"quota", text, re.I) and window):
        if window is None and _PER_MINUTE.search(text):
            return "rate_limit", "minute"
        return "quota", window
    if _PER_MINUTE.search(text):
        return "rate_limit", "minute"
    if status == 429 or _TOO_MANY.search(text) or any(c in ("429", "RESOURCE_EXHAUSTED") for c in codes):
        return "rate_limit", None
    return None


# --- the reader ----------------------------------------------------------------------------


def read_refusal(
    error: object,
    *,
    at: str | None = None,
    status: int | None = None,
    vendor: str | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> Refusal | None:
    """The refusal in ``error`` (text, JSON body or error object), or None when it is no limit.

    ``at`` is when the agent logged it (stored form), for delays and dates
    without a year; ``status`` the HTTP status when the agent kept it apart.
    Who the request went to, when the caller knows it (a vendor id, or the
    ``provider`` and ``model`` the agent recorded), names a refusal whose text
    does not, and tells apart the two sites of one vendor (z.ai, bigmodel.cn).
    """
    hint = vendor or _hint(provider, model)
    facts = Facts(texts=[], codes=[])
    gather(error, facts)
    if status is not None:
        facts.status = status
    text = " · ".join(dict.fromkeys(facts.texts))
    if not text and not facts.codes:
        return None
    codes = facts.codes
    who = _vendor_of(text + " " + " ".join(codes), codes, hint)
    if hint and who and _SIBLINGS.get(who) == hint:
        who = hint  # the same words from the other site of one vendor: the caller knows which
    family = _FAMILY.get(who or "", who)
    notes: list[str] = []
    code = _pick_code(codes)
    reset = None
    found = None
    if family == "zai":
        found = _glm(text, codes, at, notes, who)
        if found is not None:
            kind, window, reset, code = found
    elif family == "moonshot":
        found = _kimi(text, codes, at, notes, who)
        if found is not None:
            kind, window, reset = found
    if found is None:
        generic = _generic(text + " " + " ".join(codes), facts.status, codes)
        if generic is None:
            return None
        kind, window = generic
        if who in VENDOR_ZONES:
            reset = stamp_reset(text, at, VENDOR_ZONES.get(who or ""), who, notes)
            if "2056" in codes:
                code = "2056"
        if family in ("bailian", "ark") and kind == "quota" and reset is None and window == "weekly":
            reset = next_local(at, SHANGHAI, weekday=0)
            if reset:
                notes.append(f"{who}'s weekly quota resets Monday 00:00 China time (the vendor's stated rule)")
        if who == "qwen-oauth" and kind == "quota" and window is None:
            window = "daily"
            notes.append("Qwen OAuth's free quota is a daily one")
    if reset is None:
        reset = explicit_reset(facts, at)
    if reset is None:
        m = re.search(r"usage limit reached\|(\d{9,13})", text, re.I)
        if m:
            reset = utc_iso(int(m.group(1)))
    if reset is None:
        m = DELAY.search(text)
        if m:
            reset = after(at, duration(m.group(1)))
    if reset is None and at is not None:
        m = re.search(r"\bresets?\s+(?:at\s+)?([^·∙\n\]\"}]{1,60}?\([A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)*\))", text, re.I)
        if m:
            reset = reset_after(m.group(1), at)
    if reset is None and who not in VENDOR_ZONES:
        reset = stamp_reset(text, at, None, None, notes)  # only a stamp that carries its zone
    return Refusal(
        vendor=who,
        kind=kind,
        window=window,
        reset_at=reset,
        code=code,
        status=facts.status,
        plan_type=facts.plan_type,
        message=(facts.texts[0] if facts.texts else "")[:500],
        assumed=tuple(notes),
    )


def _hint(provider: str | None, model: str | None) -> str | None:
    """The vendor a recorded provider or model names (see ``analyzer.contract.vendors``)."""
    from . import vendors

    found, _ = vendors.vendor_of_provider(provider)
    if found is None:
        found = vendors.vendor_of_model(model)
    return found.id if found else None
