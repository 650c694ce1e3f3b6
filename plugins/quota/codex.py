"""Codex (ChatGPT plans): ``GET https://chatgpt.com/backend-api/wham/usage``.

Credentials: ``tokens.access_token`` (and ``tokens.account_id``, sent as
``ChatGPT-Account-Id``) in ``$CODEX_HOME/auth.json``, else ``~/.codex/auth.json``.
A Codex signed in with an API key has no plan quota and is skipped; an
expired token answers 401 (Codex refreshes it when it runs; this reader never
does).

The answer: ``rate_limit.primary_window`` / ``secondary_window`` with
``used_percent``, ``limit_window_seconds`` (windows in **seconds**, unlike the
rollout log's minutes) and ``reset_at`` (epoch s) or ``reset_after_seconds``;
``code_review_rate_limit`` and ``additional_rate_limits[]`` (named model
families) in the same form, filed under their scope. Windows are classified
by their length, never by slot: Plus accounts often have only a weekly
primary. Base URL: ``ANALYZER_CODEX_BASE_URL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
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

from analyzer.api import hookimpl
from analyzer.contract.timeutil import format_utc, parse_iso

AGENT = "codex"


class CodexQuotaReader(QuotaReader):
    name = "codex"
    agent = AGENT
    base_env = "ANALYZER_CODEX_BASE_URL"
    default_base = "https://chatgpt.com"

    def credentials(self, env: Mapping[str, str]) -> Credential:
        path = (Path(env["CODEX_HOME"]).expanduser() if env.get("CODEX_HOME") else home(env) / ".codex") / "auth.json"
        data = read_json(path)
        if data is None:
            raise NoCredentials(f"no Codex sign-in found ({path}); sign in with `codex login` first")
        tokens = data.get("tokens")
        token = tokens.get("access_token") if isinstance(tokens, dict) else None
        if not isinstance(token, str) or not token:
            if data.get("OPENAI_API_KEY"):
                raise NoCredentials(f"Codex is signed in with an API key ({path}); plan quotas need a ChatGPT sign-in")
            raise NoCredentials(f"no access token in {path}; sign in with `codex login` first")
        account = tokens.get("account_id")
        return Credential(token, str(path), extra={"account_id": account if isinstance(account, str) else None})

    def request(self, cred: Credential, env: Mapping[str, str]) -> tuple[str, dict]:
        headers = {"Authorization": f"Bearer {cred.token}"}
        if cred.extra.get("account_id"):
            headers["ChatGPT-Account-Id"] = cred.extra["account_id"]
        return f"{self.base(cred, env)}/backend-api/wham/usage", headers

    def auth_hint(self, cred: Credential) -> str:
        return f" (token from {cred.origin}; it may have expired: run `codex` once to refresh it)"

    def parse(self, body, observed_at: str):
        if not isinstance(body, dict) or "rate_limit" not in body:
            raise shape_error("codex", body, "rate_limit")
        plan = body.get("plan_type") if isinstance(body.get("plan_type"), str) else None
        out = list(self._windows(body.get("rate_limit"), None, plan, observed_at))
        out += self._windows(body.get("code_review_rate_limit"), "code_review", plan, observed_at)
        extra = body.get("additional_rate_limits")
        for item in extra if isinstance(extra, list) else []:
            if not isinstance(item, dict):
                continue
            name = next(
                (str(item[k]) for k in ("limit_name", "name", "limit_id", "metered_feature") if item.get(k)),
                "additional",
            )
            limits = item.get("rate_limit") if isinstance(item.get("rate_limit"), dict) else item
            out += self._windows(limits, name, plan, observed_at)
        return out

    def _windows(self, limits, scope: str | None, plan: str | None, observed_at: str) -> list:
        out = []
        if not isinstance(limits, dict):
            return out
        for slot in ("primary_window", "secondary_window"):
            w = limits.get(slot)
            percent = number(w.get("used_percent")) if isinstance(w, dict) else None
            if percent is None:
                continue
            seconds = number(w.get("limit_window_seconds"))
            window = round(seconds / 60) if seconds else None
            resets = instant(w.get("reset_at"))
            after = number(w.get("reset_after_seconds"))
            if resets is None and after is not None:
                resets = format_utc(parse_iso(observed_at) + timedelta(seconds=after))
            out.append(reading(AGENT, observed_at, percent, window, resets, scope=scope, plan=plan, raw={slot: w}))
        return out


@hookimpl
def register_quota_readers(register):
    register(CodexQuotaReader())
