"""MiniMax Coding / Token Plan: ``GET {origin}/v1/api/openplatform/coding_plan/remains``.

Origins: ``https://api.minimax.io`` (international), ``https://api.minimaxi.com``
(China). Credentials, first found: ``MINIMAX_API_KEY`` (with the origin in
``MINIMAX_API_HOST`` when set, as MiniMax's own tools read it),
``MINIMAX_CN_API_KEY`` (China), else Claude Code pointed at MiniMax's
Anthropic gateway (``ANTHROPIC_BASE_URL`` + ``ANTHROPIC_AUTH_TOKEN``, in the
environment or its settings' ``env``). Sent as ``Bearer``.

One ``model_remains[]`` entry per bucket. The trap: ``current_interval_usage_count``
and ``current_weekly_usage_count`` are what **remains**, not what was used, so
used = total - that. Newer token-plan answers set the counts to 0 and give
only ``current_*_remaining_percent``: used = 100 - that. Times are epoch
**milliseconds**; a window's length is ``end_time - start_time`` (5 hours for
the sliding interval; the weekly one from ``weekly_start_time/end_time``), its
reset ``end_time`` (else now + ``remains_time`` ms). The coding buckets
(``MiniMax-M*``, ``general``) are the plan's windows (scope null); others
(speech, image, video: daily, unrelated to coding) keep their name as scope.
``base_resp.status_code`` other than 0 is an error. Base URL:
``ANALYZER_MINIMAX_BASE_URL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from analyzer.plugins.quota.base import (
    Credential,
    NoCredentials,
    QuotaReader,
    gateway_credential,
    instant,
    number,
    reading,
    shape_error,
)
from analyzer.plugins.quota.http import QuotaError

from analyzer.api import hookimpl
from analyzer.contract.timeutil import format_utc, parse_iso

AGENT = "minimax"
INTL, CN = "https://api.minimax.io", "https://api.minimaxi.com"
AUTH_CODES = (1004, 2049)


def _span(start, end) -> int | None:
    start, end = number(start), number(end)
    return round((end - start) / 60000) if start and end and end > start else None


class MinimaxQuotaReader(QuotaReader):
    name = "minimax"
    agent = AGENT
    base_env = "ANALYZER_MINIMAX_BASE_URL"
    default_base = INTL

    def credentials(self, env: Mapping[str, str]) -> Credential:
        if env.get("MINIMAX_API_KEY"):
            return Credential(env["MINIMAX_API_KEY"], "MINIMAX_API_KEY", base_url=env.get("MINIMAX_API_HOST") or INTL)
        if env.get("MINIMAX_CN_API_KEY"):
            return Credential(env["MINIMAX_CN_API_KEY"], "MINIMAX_CN_API_KEY", base_url=CN)
        found = gateway_credential(env, ("minimax.io", "minimaxi.com"))
        if found:
            return found
        raise NoCredentials(
            "no MiniMax key: set MINIMAX_API_KEY (or MINIMAX_CN_API_KEY), or point Claude Code's "
            "ANTHROPIC_BASE_URL at the MiniMax gateway"
        )

    def request(self, cred: Credential, env: Mapping[str, str]) -> tuple[str, dict]:
        return (
            f"{self.base(cred, env)}/v1/api/openplatform/coding_plan/remains",
            {"Authorization": f"Bearer {cred.token}"},
        )

    def parse(self, body, observed_at: str):
        if not isinstance(body, dict) or not ({"model_remains", "base_resp"} & set(body)):
            raise shape_error("minimax", body, "base_resp and model_remains")
        status = body.get("base_resp") if isinstance(body.get("base_resp"), dict) else {}
        code = status.get("status_code")
        if code not in (None, 0, "0"):
            kind = "auth" if code in AUTH_CODES else "http"
            said = str(status.get("status_msg") or "")[:200]
            raise QuotaError(kind, f"minimax: the server answered status {code}: {said}")
        buckets = body.get("model_remains")
        if not isinstance(buckets, list):
            raise shape_error("minimax", body, "model_remains[]")
        plan = next((str(body[k]) for k in ("current_subscribe_title", "plan_name", "plan") if body.get(k)), None)
        out = []
        for item in buckets:
            if not isinstance(item, dict):
                continue
            name = str(item.get("model_name") or "")
            scope = None if name.lower().startswith("minimax-m") or name.lower() == "general" else (name or None)
            for prefix, start, end, left in (
                ("current_interval", "start_time", "end_time", "remains_time"),
                ("current_weekly", "weekly_start_time", "weekly_end_time", "weekly_remains_time"),
            ):
                percent = self._percent(item, prefix)
                if percent is None:
                    continue
                resets = instant(item.get(end))
                if resets is None and number(item.get(left)):
                    resets = format_utc(parse_iso(observed_at) + timedelta(milliseconds=number(item[left])))
                raw = {
                    k: v
                    for k, v in item.items()
                    if k == "model_name" or k.startswith(prefix) or k in (start, end, left)
                }
                out.append(
                    reading(
                        AGENT,
                        observed_at,
                        percent,
                        _span(item.get(start), item.get(end)),
                        resets,
                        scope=scope,
                        plan=plan,
                        raw=raw,
                    )
                )
        return out

    @staticmethod
    def _percent(item: dict, prefix: str) -> float | None:
        total = number(item.get(f"{prefix}_total_count"))
        used = number(item.get(f"{prefix}_used_count"))
        remaining = next(
            (
                number(item[k])
                for k in (f"{prefix}_usage_count", f"{prefix}_remaining_count", f"{prefix}_remains_count")
                if number(item.get(k)) is not None
            ),
            None,
        )
        if total and total > 0:
            if used is not None:
                return used / total * 100
            if remaining is not None:
                return (total - remaining) / total * 100
        left = number(item.get(f"{prefix}_remaining_percent"))
        return None if left is None else 100 - left


@hookimpl
def register_quota_readers(register):
    register(MinimaxQuotaReader())
