"""Kimi Code: ``GET https://api.kimi.com/coding/v1/usages``, what ``/usage`` shows.

Credentials: the CLI's OAuth token, ``access_token`` in
``~/.kimi-code/credentials/kimi-code.json`` (``$KIMI_CODE_HOME``) or
``~/.kimi/credentials/kimi-code.json`` (``$KIMI_SHARE_DIR``), else an API key in
``KIMI_API_KEY``. The OAuth token lives 15-30 minutes and refreshing it
rotates the refresh token the CLI holds, so an expired token is skipped
("run kimi once"), never refreshed here.

Shapes, all numbers possibly decimal strings:

* A: ``usage {limit, used | remaining, resetTime}`` (the plan-period quota;
  the API does not name its length, so its window is left unknown, scope
  ``usage``) and ``limits[] {window {duration, timeUnit}, detail {…}}`` (the
  5-hour window and any other, scope null);
* B: ``usages {limit_5h | limit_7d | limit_month_total | limit_month_code:
  {used_ratio 0-1, reset_time}}`` (pools; scope = the pool's name, e.g.
  ``limit5h``; month pools are filed as 43,200 minutes);
* the same pools wrapped as ``{"code": 0, "data": {"quota": {"usages": {limit5h:
  {usedRatio, resetAt}}}}}``, and the web form ``usages[] {scope, detail, limits}``.

A and B have been seen to contradict each other; both are kept, apart by
scope. Base URL: ``ANALYZER_KIMI_BASE_URL``, else ``KIMI_CODE_BASE_URL``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

from analyzer.plugins.quota.base import (
    Credential,
    NoCredentials,
    QuotaReader,
    home,
    instant,
    number,
    read_json,
    reading,
    shape_error,
)
from analyzer.plugins.quota.http import QuotaError

from analyzer.api import hookimpl

AGENT = "kimi-code"
UNITS = {
    "TIME_UNIT_SECOND": 1 / 60,
    "TIME_UNIT_MINUTE": 1,
    "TIME_UNIT_HOUR": 60,
    "TIME_UNIT_DAY": 1440,
    "TIME_UNIT_WEEK": 10080,
}
RESET_KEYS = ("resetTime", "reset_time", "resetAt", "reset_at")
_SPAN = re.compile(r"(\d+)\s*(m|min|h|d|w)$")
_SPAN_MINUTES = {"m": 1, "min": 1, "h": 60, "d": 1440, "w": 10080}


def _reset(d: dict) -> str | None:
    return next((instant(d[k]) for k in RESET_KEYS if d.get(k)), None)


def _detail_percent(d: dict) -> float | None:
    """Percent used from ``limit`` and ``used`` (or ``remaining``)."""
    limit = number(d.get("limit"))
    used = number(d.get("used"))
    if used is None and number(d.get("remaining")) is not None and limit is not None:
        used = limit - number(d.get("remaining"))
    if not limit or used is None:
        return None
    return used / limit * 100


def _pool_window(name: str) -> int | None:
    key = re.sub(r"[^a-z0-9]", "", name.lower()).removeprefix("limit")
    if key.startswith("month"):
        return 43200
    m = _SPAN.match(key)
    return int(m.group(1)) * _SPAN_MINUTES[m.group(2)] if m else None


class KimiQuotaReader(QuotaReader):
    name = "kimi"
    agent = AGENT
    base_env = "ANALYZER_KIMI_BASE_URL"
    default_base = "https://api.kimi.com/coding/v1"

    def credentials(self, env: Mapping[str, str]) -> Credential:
        places = [
            (Path(env["KIMI_CODE_HOME"]).expanduser() if env.get("KIMI_CODE_HOME") else home(env) / ".kimi-code"),
            (Path(env["KIMI_SHARE_DIR"]).expanduser() if env.get("KIMI_SHARE_DIR") else home(env) / ".kimi"),
        ]
        expired = None
        for folder in places:
            path = folder / "credentials" / "kimi-code.json"
            data = read_json(path)
            token = (data or {}).get("access_token")
            if not isinstance(token, str) or not token:
                continue
            expires = number(data.get("expires_at"))
            if expires and (expires / 1000 if expires > 1e11 else expires) < time.time():
                expired = path
                continue
            return Credential(token, str(path))
        if env.get("KIMI_API_KEY"):
            return Credential(env["KIMI_API_KEY"], "KIMI_API_KEY")
        if expired:
            raise NoCredentials(f"the token in {expired} has expired; run `kimi` once to refresh it")
        raise NoCredentials(
            "no Kimi Code sign-in found (~/.kimi-code or ~/.kimi credentials/kimi-code.json) and no KIMI_API_KEY"
        )

    def base(self, cred: Credential, env: Mapping[str, str]) -> str:
        return (env.get(self.base_env) or env.get("KIMI_CODE_BASE_URL") or self.default_base).rstrip("/")

    def request(self, cred: Credential, env: Mapping[str, str]) -> tuple[str, dict]:
        return f"{self.base(cred, env)}/usages", {"Authorization": f"Bearer {cred.token}"}

    def parse(self, body, observed_at: str):
        if isinstance(body, dict) and "code" in body and "data" in body:
            if body.get("code") not in (0, "0"):
                raise QuotaError(
                    "http",
                    f"kimi: the server answered code {body.get('code')}: "
                    f"{str(body.get('msg') or body.get('message') or '')[:200]}",
                )
            data = body.get("data")
            body = data.get("quota", data) if isinstance(data, dict) else data
        if not isinstance(body, dict) or not ({"usage", "limits", "usages"} & set(body)):
            raise shape_error("kimi", body, "usage, limits or usages")
        plan = None
        membership = (body.get("user") or {}).get("membership") if isinstance(body.get("user"), dict) else None
        if isinstance(membership, dict) and isinstance(membership.get("level"), str):
            plan = membership["level"]
        out = []
        if isinstance(body.get("usage"), dict):
            out += self._detail(body["usage"], None, "usage", plan, observed_at)
        out += self._limits(body.get("limits"), None, plan, observed_at)
        usages = body.get("usages")
        if isinstance(usages, dict):
            for name, pool in usages.items():
                if not isinstance(pool, dict):
                    continue
                ratio = number(pool.get("used_ratio", pool.get("usedRatio")))
                if ratio is None:
                    continue
                scope = re.sub(r"[^a-z0-9]", "", name.lower())
                out.append(
                    reading(
                        AGENT,
                        observed_at,
                        ratio * 100,
                        _pool_window(name),
                        _reset(pool),
                        scope=scope,
                        plan=plan,
                        raw={name: pool},
                    )
                )
        elif isinstance(usages, list):  # the web form: one entry per feature scope
            for item in usages:
                if not isinstance(item, dict):
                    continue
                scope = str(item.get("scope") or "usage")
                if isinstance(item.get("detail"), dict):
                    out += self._detail(item["detail"], None, scope, plan, observed_at)
                out += self._limits(item.get("limits"), scope if scope != "FEATURE_CODING" else None, plan, observed_at)
        return out

    def _detail(self, d: dict, window, scope, plan, observed_at, raw=None) -> list:
        percent = _detail_percent(d)
        if percent is None:
            return []
        return [reading(AGENT, observed_at, percent, window, _reset(d), scope=scope, plan=plan, raw=raw or d)]

    def _limits(self, limits, scope, plan, observed_at) -> list:
        out = []
        for item in limits if isinstance(limits, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("detail"), dict):
                continue
            w = item.get("window") if isinstance(item.get("window"), dict) else {}
            duration, unit = number(w.get("duration")), UNITS.get(str(w.get("timeUnit")))
            window = round(duration * unit) if duration and unit else None
            out += self._detail(item["detail"], window, scope, plan, observed_at, raw=item)
        return out


@hookimpl
def register_quota_readers(register):
    register(KimiQuotaReader())
