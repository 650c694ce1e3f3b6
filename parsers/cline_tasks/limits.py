"""Plan refusals in Cline-family error texts.

These agents keep no structured quota record; a refused request leaves text:

* ``ask:"api_req_failed"``: the error after automatic retries (Cline writes a
  serialised ``ClineError``, ``{"message", "status", "code", "details", ...}``;
  Roo and Kilo the provider's message);
* ``say:"error_retry"`` (Cline): one automatic retry, ``{"attempt",
  "errorMessage", ...}``; the last one, ``"failed": true``, repeats the error of
  the ``api_req_failed`` that follows it and is not counted again;
* ``say:"api_req_retry_delayed"`` (Roo, Kilo): ``"<status>\\n<message>\\n"``
  before a back-off wait; the countdown rewrites one message (one ``ts``);
* ``say:"error"``: any error text.

Whether a text is a refusal, of which limit, and when it lifts is read by the
vendor refusal reader (``analyzer.api.read_refusal``, told the request's
provider and model): a plan window, a rate or concurrency limit or fair-use
throttling is a hit; an empty wallet ("insufficient balance", 402), a spend
cap, an expired plan or an overloaded model is not.
"""

from __future__ import annotations

import orjson

from analyzer.api import Refusal, read_refusal

# Refusal kinds that are a limit of the plan or the account; overloaded, balance, spend and expired are not.
HIT_KINDS = frozenset({"quota", "rate_limit", "concurrency", "fair_use"})


def error_text(raw: str | None) -> str:
    """The readable message of an error text (a serialised error object or plain text)."""
    if not raw:
        return ""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    if isinstance(obj, dict):
        parts = [str(obj.get(k)) for k in ("status", "code", "message", "errorMessage") if obj.get(k) not in (None, "")]
        details = obj.get("details")
        if details:
            parts.append(orjson.dumps(details).decode() if not isinstance(details, str) else details)
        return " ".join(parts) or raw
    return raw


def refusal(text: str, at: str, provider: str | None = None, model: str | None = None) -> Refusal | None:
    """The limit ``text`` says the request ran into, or None when it is no limit hit."""
    if not text:
        return None
    found = read_refusal(text, at=at, provider=provider, model=model)
    return found if found is not None and found.kind in HIT_KINDS else None
