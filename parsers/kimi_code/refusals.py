"""What a failed Kimi Code turn says about the plan's limits.

A turn that fails for good writes ``turn.ended`` with ``reason: "failed"`` and
the error: ``{code, message, name, details: {statusCode, ...}, cause?}``, the
cause possibly nested. Kimi's refusals arrive as HTTP 403 (``provider.auth_error``:
weekly or 5-hour limit, billing cycle, concurrency) or 429 (``provider.rate_limit``
after every retry failed; ``APIProviderQuotaExhaustedError`` when the quota or
the balance ran out). Their wording is the server's and changes, so the text is
matched loosely; other 403s (client not allowed), 401s, overloads and network
errors are not limits. The window is known only when the text names it, the
reset time only when the text gives one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analyzer.parsers.kimi_code.shared import as_int

from analyzer.api import utc_iso

_LIMITS: list[tuple[re.Pattern, str, int | None]] = [
    (re.compile(r"weekly|7-day|seven[- ]day", re.I), "weekly", 10080),
    (re.compile(r"5-hour|5 hour|five[- ]hour", re.I), "five_hour", 300),
    (re.compile(r"billing cycle", re.I), "billing_cycle", None),
    (re.compile(r"concurren", re.I), "concurrency", None),
    (
        re.compile(
            r"exceeded_current_quota|current (?:token )?quota|quota (?:has been )?exhausted|insufficient balance"
            r"|recharge your account|in arrears|QuotaExhausted",
            re.I,
        ),
        "quota",
        None,
    ),
]
_USAGE_LIMIT = re.compile(r"usage limit|rate limit", re.I)
_STATUS_PREFIX = re.compile(r"^\s*(\d{3})\b")
_RESET_AT = re.compile(
    r"reset[^0-9]{0,40}(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)", re.I
)


@dataclass(frozen=True)
class Refusal:
    """What a failed turn's error says about the plan's limit."""

    limit_type: str
    window_minutes: int | None
    reset_at: str | None
    message: str


def refusal(error: object) -> Refusal | None:
    """The plan limit a ``turn.ended`` error reports, or None for other failures
    (authentication, client not allowed, overload, network)."""
    chain = []
    node = error
    while isinstance(node, dict) and len(chain) < 10:
        chain.append(node)
        node = node.get("cause")
    if not chain:
        return None
    text = " · ".join(str(n.get("message")) for n in chain if n.get("message"))
    labels = " ".join(f"{n.get('code') or ''} {n.get('name') or ''}" for n in chain)
    status = None
    for n in chain:
        details = n.get("details")
        if isinstance(details, dict) and as_int(details.get("statusCode")):
            status = as_int(details.get("statusCode"))
            break
        match = _STATUS_PREFIX.match(str(n.get("message") or ""))
        if match and status is None:
            status = int(match.group(1))
    rate_limited = status == 429 or "rate_limit" in labels or "RateLimit" in labels
    for pattern, kind, window in _LIMITS:
        if (status in (403, 429) or rate_limited or "QuotaExhausted" in labels) and (
            pattern.search(text) or pattern.search(labels)
        ):
            return Refusal(kind, window, _reset_at(text), text)
    if rate_limited:
        return Refusal("rate_limit", None, _reset_at(text), text)
    if status == 403 and _USAGE_LIMIT.search(text):
        return Refusal("usage_limit", None, _reset_at(text), text)
    return None


def _reset_at(text: str) -> str | None:
    match = _RESET_AT.search(text)
    if not match:
        return None
    try:
        return utc_iso(match.group(1))
    except ValueError:
        return None
