"""Zhipu / Z.ai GLM Coding Plan: ``GET {origin}/api/monitor/usage/quota/limit``.

Origins: ``https://api.z.ai`` (international) and ``https://open.bigmodel.cn``
(China). Credentials, first found: ``ZAI_API_KEY`` / ``Z_AI_API_KEY`` /
``GLM_API_KEY`` (z.ai), ``ZHIPUAI_API_KEY`` / ``BIGMODEL_API_KEY``
(bigmodel.cn), else Claude Code pointed at either gateway
(``ANTHROPIC_BASE_URL`` + ``ANTHROPIC_AUTH_TOKEN``, in the environment or the
``env`` block of its settings), as the vendor's own usage plugin does. The
key is sent raw in ``Authorization`` (the vendor's way), and once more as
``Bearer`` if that is refused.

Every row of ``data.limits[]`` is read (clients that read only the first
``TOKENS_LIMIT`` broke when a weekly row was added):

* ``TOKENS_LIMIT`` (tokens, later percent only) and ``CREDIT_LIMIT``
  (credits) are the plan's windows: ``unit``/``number`` give the length
  (unit 3 = hours, 6 = weeks, 1 = days, 5 = months, the last the least
  certain); scope null, the type kept in ``raw``;
* ``TIME_LIMIT`` is the monthly allowance of MCP / web-search **calls**, not
  a time window: filed with scope ``mcp``.

Percent used is ``currentValue / usage`` when both counts are there (finer
than the integer ``percentage``), else ``percentage``. ``nextResetTime`` is
epoch milliseconds and may be absent. Base URL: ``ANALYZER_GLM_BASE_URL``.
"""

from __future__ import annotations

from collections.abc import Mapping

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
from analyzer.plugins.quota.http import QuotaError, check_url, get_json

from analyzer.api import hookimpl

AGENT = "glm"
INTL, CN = "https://api.z.ai", "https://open.bigmodel.cn"
KEYS = (
    ("ZAI_API_KEY", INTL),
    ("Z_AI_API_KEY", INTL),
    ("GLM_API_KEY", INTL),
    ("ZHIPUAI_API_KEY", CN),
    ("BIGMODEL_API_KEY", CN),
)
UNIT_MINUTES = {1: 1440, 3: 60, 5: 43200, 6: 10080}
PLAN_TYPES = ("TOKENS_LIMIT", "CREDIT_LIMIT")


class GlmQuotaReader(QuotaReader):
    name = "glm"
    agent = AGENT
    base_env = "ANALYZER_GLM_BASE_URL"
    default_base = INTL

    def credentials(self, env: Mapping[str, str]) -> Credential:
        for variable, origin in KEYS:
            if env.get(variable):
                return Credential(env[variable], variable, base_url=origin)
        found = gateway_credential(env, ("z.ai", "bigmodel.cn"))
        if found:
            return found
        raise NoCredentials(
            "no GLM key: set ZAI_API_KEY (z.ai) or ZHIPUAI_API_KEY (bigmodel.cn), or point Claude "
            "Code's ANTHROPIC_BASE_URL at the GLM gateway"
        )

    def request(self, cred: Credential, env: Mapping[str, str]) -> tuple[str, dict]:
        return f"{self.base(cred, env)}/api/monitor/usage/quota/limit", {
            "Authorization": cred.token,
            "Accept-Language": "en-US,en",
        }

    def fetch(self, cred: Credential, env: Mapping[str, str], timeout: float):
        url, headers = self.request(cred, env)
        try:
            return get_json(check_url(url), headers, timeout=timeout, secrets=[cred.token])
        except QuotaError as exc:
            if exc.kind != "auth":
                raise
        return get_json(
            url, {**headers, "Authorization": f"Bearer {cred.token}"}, timeout=timeout, secrets=[cred.token]
        )

    def parse(self, body, observed_at: str):
        if isinstance(body, dict) and body.get("success") is False:
            code = body.get("code")
            kind = "auth" if code in (401, 403, 1000, 1001, 1002) else "http"
            raise QuotaError(kind, f"glm: the server answered code {code}: {str(body.get('msg') or '')[:200]}")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("limits"), list):
            raise shape_error("glm", data if isinstance(data, dict) else body, "data.limits[]")
        plan = next((str(data[k]) for k in ("level", "planName") if data.get(k)), None)
        out = []
        for row in data["limits"]:
            if not isinstance(row, dict):
                continue
            kind = str(row.get("type") or "")
            used, cap = number(row.get("currentValue")), number(row.get("usage"))
            percent = used / cap * 100 if used is not None and cap else number(row.get("percentage"))
            if percent is None:
                continue
            unit, count = number(row.get("unit")), number(row.get("number"))
            window = UNIT_MINUTES[int(unit)] * int(count) if unit in UNIT_MINUTES and count else None
            scope = None if kind in PLAN_TYPES else ("mcp" if kind == "TIME_LIMIT" else kind.lower() or None)
            out.append(
                reading(
                    AGENT,
                    observed_at,
                    percent,
                    window,
                    instant(row.get("nextResetTime")),
                    scope=scope,
                    plan=plan,
                    raw=row,
                )
            )
        return out


@hookimpl
def register_quota_readers(register):
    register(GlmQuotaReader())
