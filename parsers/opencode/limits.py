"""Refused requests in OpenCode's store: ``LimitHit`` records and their reset times.

An assistant message whose ``error`` is an ``APIError`` with status 429 (the
agent gave up, or the error was not retryable), and each ``retry`` part that
records a 429 (a refused attempt the agent retried), is one refusal; so is an
``APIError`` of another status (Kimi refuses with 403) whose words are a plan
window's refusal. OpenCode does not say which plan window refused; the reset
time and window come from the provider's response when it kept one: the
headers (``retry-after``, Anthropic's unified limit headers, OpenAI's
``x-ratelimit-reset-*``) or the body (the ChatGPT plan's ``resets_at``), and
from the vendor's own words (``analyzer.api.read_refusal``: GLM's 1308 names its
window and a China-time reset, MiniMax's 2056 an ISO one). When those words
name a plan window, their reset wins over a ``retry-after`` hint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import orjson
from analyzer.parsers.opencode.values import AGENT, created_ms, digest, integer

from analyzer.api import LimitHit, format_utc, from_epoch, read_refusal, utc_iso

if TYPE_CHECKING:
    from analyzer.parsers.opencode.model import Message, Part


def limit_hits(m: Message, parts: list[Part]) -> Iterator[LimitHit]:
    """The refusals recorded on one assistant message, keyed like its requests (by content)."""
    data = m.data
    anchor = m.created
    error = data.get("error")
    if _is_429(error) or _plan_refusal(m, error):
        at = m.completed or m.created
        if at is not None:
            yield _hit(
                m, error, at, f"{AGENT}:hit:{digest(anchor, data.get('providerID'), data.get('modelID'), 'error')}"
            )
    for part in parts:
        if part.type != "retry" or not _is_429(part.data.get("error")):
            continue
        at = created_ms(part.data) or part.time_created or m.created
        if at is not None:
            attempt = part.data.get("attempt")
            key = f"{AGENT}:hit:{digest(anchor, data.get('providerID'), data.get('modelID'), 'retry', attempt, at)}"
            yield _hit(m, part.data["error"], at, key)


def _is_429(error) -> bool:
    if not isinstance(error, dict) or error.get("name") != "APIError":
        return False
    detail = error.get("data")
    return isinstance(detail, dict) and integer(detail.get("statusCode")) == 429


def _plan_refusal(m: Message, error) -> bool:
    """An API error of another status whose words are a plan window's refusal (Kimi's 403)."""
    if not isinstance(error, dict) or error.get("name") != "APIError":
        return False
    found = read_refusal(error, provider=m.data.get("providerID"), model=m.data.get("modelID"))
    return found is not None and found.is_plan_window


def _hit(m: Message, error: dict, at_ms: int, key: str) -> LimitHit:
    detail = error.get("data") or {}
    headers = detail.get("responseHeaders") if isinstance(detail.get("responseHeaders"), dict) else {}
    reset_at, window, limit_type = reset_from(headers, detail.get("responseBody"), at_ms)
    refused = read_refusal(error, at=utc_iso(at_ms), provider=m.data.get("providerID"), model=m.data.get("modelID"))
    if refused is not None and refused.is_plan_window:
        reset_at = refused.reset_at or reset_at
        window = window or refused.window_minutes
        limit_type = limit_type if limit_type != "rate_limit" else refused.limit_type
    message = detail.get("message")
    return LimitHit(
        key=key,
        agent=AGENT,
        session_id=m.session_id,
        ts=utc_iso(at_ms),
        reset_at=reset_at,
        window_minutes=window,
        limit_type=limit_type,
        message=str(message)[:500] if message else None,
        model=m.data.get("modelID"),
        provider=m.data.get("providerID"),
    )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_ANTHROPIC_WINDOWS = (("5h", 300, "five_hour"), ("7d", 10080, "seven_day"))


def reset_from(headers: dict, body, at_ms: int) -> tuple[str | None, int | None, str]:
    """``(reset_at, window_minutes, limit_type)`` from a refused response.

    In order of trust: an absolute reset in the body (``resets_at``, as the
    ChatGPT plan returns it) or in Anthropic's unified headers; then
    ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date); then
    OpenAI-style ``x-ratelimit-reset*`` values.
    """
    h = {str(k).lower(): str(v).strip() for k, v in headers.items()}
    window, limit_type = None, "rate_limit"
    for name, minutes, kind in _ANTHROPIC_WINDOWS:
        if h.get(f"anthropic-ratelimit-unified-{name}-status") == "rejected":
            window, limit_type = minutes, kind
            break
    reset = _body_reset(body, at_ms)
    if reset is None and h.get("anthropic-ratelimit-unified-reset"):
        reset = _epoch(h["anthropic-ratelimit-unified-reset"])
    if reset is None and h.get("retry-after-ms"):
        reset = _after(at_ms, _float(h["retry-after-ms"]), scale=0.001)
    if reset is None and h.get("retry-after"):
        value = h["retry-after"]
        reset = _after(at_ms, _float(value)) if _float(value) is not None else _http_date(value)
    if reset is None:
        spans = [_duration(h[k]) for k in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens") if h.get(k)]
        spans = [s for s in spans if s is not None]
        if spans:
            reset = _after(at_ms, max(spans))
    if reset is None and h.get("x-ratelimit-reset"):
        value = _float(h["x-ratelimit-reset"])
        if value is not None:
            reset = _epoch(value) if value > 1e9 else _after(at_ms, value)
    return reset, window, limit_type


def _body_reset(body, at_ms: int) -> str | None:
    if not isinstance(body, str) or "reset" not in body:
        return None
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    for scope in (obj.get("error") if isinstance(obj, dict) else None, obj):
        if not isinstance(scope, dict):
            continue
        if _float(scope.get("resets_at")) is not None:
            return _epoch(scope["resets_at"])
        if _float(scope.get("resets_in_seconds")) is not None:
            return _after(at_ms, _float(scope["resets_in_seconds"]))
    return None


def _float(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _epoch(value) -> str | None:
    number = _float(value)
    return utc_iso(number) if number is not None and number > 0 else None


def _after(at_ms: int, seconds: float | None, scale: float = 1.0) -> str | None:
    if seconds is None or seconds < 0:
        return None
    return format_utc(from_epoch(at_ms) + timedelta(seconds=seconds * scale))


def _duration(text: str) -> float | None:
    """``"6m0s"``, ``"1h30m"``, ``"20ms"``, ``"1.5s"`` to seconds."""
    pieces = _DURATION.findall(text)
    if not pieces or "".join(n + u for n, u in pieces) != text.replace(" ", ""):
        return None
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * factor[u] for n, u in pieces)


def _http_date(text: str) -> str | None:
    try:
        return utc_iso(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        return None
