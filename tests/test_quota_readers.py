"""Vendor quota readers against a local server replaying the shapes of plans-and-prices.md section 3.

Every expected reading below is worked out by hand from the fixture: windows
from the vendor's units, percents from used/limit (or total minus *remaining*
for MiniMax), reset instants from epoch ms/s (converted with `date -u`).
"""

from __future__ import annotations

import json
import os
import stat
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from analyzer.plugins.quota.base import NoCredentials
from analyzer.plugins.quota.claude import ClaudeQuotaReader
from analyzer.plugins.quota.codex import CodexQuotaReader
from analyzer.plugins.quota.glm import GlmQuotaReader
from analyzer.plugins.quota.http import QuotaError
from analyzer.plugins.quota.kimi import KimiQuotaReader
from analyzer.plugins.quota.minimax import MinimaxQuotaReader
from analyzer.plugins.quota.poll import get_readers, poll_all

from analyzer.store import database as store

from .replay_server import ReplayServer, Reply, fixture

TOKEN = "tok-SECRET-0123456789abcdef"
NOW = datetime(2025, 1, 31, 1, 0, 0, tzinfo=timezone.utc)
PATHS = {
    "claude": "/api/oauth/usage",
    "codex": "/backend-api/wham/usage",
    "kimi": "/coding/v1/usages",
    "glm": "/api/monitor/usage/quota/limit",
    "minimax": "/v1/api/openplatform/coding_plan/remains",
}
READERS = {
    "claude": ClaudeQuotaReader,
    "codex": CodexQuotaReader,
    "kimi": KimiQuotaReader,
    "glm": GlmQuotaReader,
    "minimax": MinimaxQuotaReader,
}


def write(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def credentials(vendor: str, home: Path, *, expired: bool = False) -> dict:
    """Put the vendor's credentials where its agent keeps them; return the extra env."""
    later_s = time.time() + (-3600 if expired else 3600)
    if vendor == "claude":
        write(
            home / ".claude" / ".credentials.json",
            {
                "claudeAiOauth": {
                    "accessToken": TOKEN,
                    "refreshToken": "refresh-SECRET-1",
                    "expiresAt": int(later_s * 1000),
                    "scopes": ["user:inference", "user:profile"],
                    "subscriptionType": "max",
                }
            },
        )
    elif vendor == "codex":
        write(
            home / ".codex" / "auth.json",
            {
                "OPENAI_API_KEY": None,
                "tokens": {
                    "id_token": "id-SECRET-2",
                    "access_token": TOKEN,
                    "refresh_token": "refresh-SECRET-2",
                    "account_id": "acc-1",
                },
            },
        )
    elif vendor == "kimi":
        write(
            home / ".kimi" / "credentials" / "kimi-code.json",
            {
                "access_token": TOKEN,
                "refresh_token": "refresh-SECRET-3",
                "expires_at": later_s,
                "scope": "kimi-code",
                "token_type": "Bearer",
            },
        )
    elif vendor == "glm":
        return {"ZAI_API_KEY": TOKEN}
    elif vendor == "minimax":
        return {"MINIMAX_API_KEY": TOKEN}
    return {}


def env_for(vendor: str, home: Path, server: ReplayServer, **extra) -> dict:
    base = server.url + ("/coding/v1" if vendor == "kimi" else "")
    return {"HOME": str(home), f"ANALYZER_{vendor.upper()}_BASE_URL": base, **credentials(vendor, home), **extra}


def summary(readings) -> list[tuple]:
    return [
        (r.window_minutes, r.scope, pytest.approx(r.used_percent, abs=1e-4), r.resets_at, r.plan_type) for r in readings
    ]


CASES = [
    (
        "claude",
        "classic.json",
        [
            (300, None, 19.0, "2025-11-25T22:00:00.288Z", "max"),
            (10080, None, 7.0, "2025-12-01T21:00:00.288Z", "max"),
            (10080, "sonnet", 0.0, None, "max"),
        ],
    ),
    (
        "claude",
        "limits.json",
        [
            (300, None, 15.0, "2026-07-19T03:39:59.570Z", "max"),
            (10080, None, 48.0, "2026-07-23T14:59:59.570Z", "max"),
            (10080, "Opus", 81.0, "2026-07-23T14:59:59.571Z", "max"),
        ],
    ),
    (
        "codex",
        "wham.json",
        [
            (300, None, 6.0, "2025-01-31T05:06:40.000Z", "plus"),
            (10080, None, 24.0, "2025-02-07T03:46:40.000Z", "plus"),
            (10080, "code_review", 0.0, "2025-02-07T03:46:40.000Z", "plus"),
            (300, "GPT-5.3-Codex-Spark", 12.0, "2025-01-31T02:00:00.000Z", "plus"),  # now + reset_after_seconds 3600
        ],
    ),
    ("codex", "weekly-only.json", [(10080, None, 100.0, "2026-08-16T11:24:46.000Z", "plus")]),
    (
        "kimi",
        "shape-a.json",
        [
            (None, "usage", 100.0, "2026-09-24T02:09:07.465Z", "LEVEL_INTERMEDIATE"),
            (300, None, 0.0, "2026-09-21T01:09:07.465Z", "LEVEL_INTERMEDIATE"),  # used = limit 100 - remaining 100
        ],
    ),
    (
        "kimi",
        "shape-b.json",
        [
            (300, None, 36.0, "2026-09-15T05:00:00.000Z", None),  # 100 - remaining 64
            (300, "limit5h", 0.0, "2026-09-15T05:00:00.000Z", None),
            (43200, "limitmonthtotal", 3.38, "2026-10-01T00:00:00.000Z", None),
            (43200, "limitmonthcode", 0.0, "2026-10-01T00:00:00.000Z", None),
        ],
    ),
    (
        "kimi",
        "wrapped.json",
        [
            (300, "limit5h", 25.0, "2026-09-15T05:00:00.000Z", None),
            (10080, "limit7d", 50.0, "2026-09-20T00:00:00.000Z", None),
        ],
    ),
    (
        "glm",
        "tokens.json",
        [
            (300, None, 34.0709, "2026-01-15T20:06:07.547Z", "Pro"),  # 13,628,365 / 40,000,000
            (43200, "mcp", 20.0, None, "Pro"),  # TIME_LIMIT: MCP calls, unit 1 (days) x 30
        ],
    ),
    (
        "glm",
        "percent.json",
        [
            (300, None, 0.0, None, "pro"),
            (10080, None, 100.0, "2026-09-10T01:59:59.998Z", "pro"),
            (43200, "mcp", 0.7, None, "pro"),  # 7 / 1000
        ],
    ),
    (
        "glm",
        "credits.json",
        [
            (300, None, 1.35, "2026-08-14T14:17:36.698Z", "lite"),  # 27 / 2000
            (10080, None, 0.27, "2026-08-21T08:42:57.997Z", "lite"),  # 27 / 10000
        ],
    ),
    (
        "minimax",
        "remains.json",
        [
            (300, None, 17.0, "2026-06-25T15:00:00.000Z", None),  # (1500 - 1245 remaining) / 1500
            (10080, None, 6.6667, "2026-09-07T00:00:00.000Z", None),  # (15000 - 14000 remaining) / 15000
            (1440, "speech-hd", 0.0, "2026-06-26T00:00:00.000Z", None),
        ],
    ),
    (
        "minimax",
        "token-plan.json",
        [
            (300, None, 38.0, "2026-06-25T15:00:00.000Z", None),  # 100 - 62 remaining percent
            (10080, None, 10.0, "2026-09-07T00:00:00.000Z", None),
        ],
    ),
]


@pytest.mark.parametrize("vendor, name, expected", CASES, ids=[f"{v}-{n}" for v, n, _ in CASES])
def test_each_recorded_shape_gives_the_right_readings(tmp_path, vendor, name, expected):
    with ReplayServer() as server:
        server.routes[PATHS[vendor]] = [fixture(vendor, name)]
        found = READERS[vendor]().read(env_for(vendor, tmp_path, server), now=NOW)
        assert summary(found) == expected
        assert all(r.source == "endpoint" and r.observed_at == "2025-01-31T01:00:00.000Z" for r in found)
        assert len({r.key for r in found}) == len(found)
        path, headers = server.seen[-1]
        auth = headers.get("authorization")
        assert auth == (TOKEN if vendor == "glm" else f"Bearer {TOKEN}")
    if vendor == "claude":
        assert headers["anthropic-beta"] == "oauth-2025-04-20"
    if vendor == "codex":
        assert headers["chatgpt-account-id"] == "acc-1"


@pytest.mark.parametrize("vendor", list(READERS))
def test_a_changed_shape_is_a_clear_error(tmp_path, vendor):
    with ReplayServer() as server:
        server.routes[PATHS[vendor]] = [fixture(vendor, "changed.json")]
        with pytest.raises(QuotaError) as err:
            READERS[vendor]().read(env_for(vendor, tmp_path, server), now=NOW)
    assert err.value.kind == "shape"
    assert "unexpected answer" in str(err.value) and "may have changed" in str(err.value)


@pytest.mark.parametrize("vendor", list(READERS))
def test_401_is_an_auth_error_that_never_shows_the_token(tmp_path, vendor):
    body = json.dumps({"error": {"message": f"invalid token {TOKEN}"}}).encode()
    with ReplayServer() as server:
        server.routes[PATHS[vendor]] = [Reply(body, 401)]
        with pytest.raises(QuotaError) as err:
            READERS[vendor]().read(env_for(vendor, tmp_path, server), now=NOW)
    assert err.value.kind == "auth"
    assert "401" in str(err.value) and "refused" in str(err.value)
    assert "invalid token ***" in str(err.value)
    assert TOKEN not in str(err.value) and TOKEN not in repr(err.value)


def test_429_says_how_long_to_wait(tmp_path):
    with ReplayServer() as server:
        server.routes[PATHS["claude"]] = [
            Reply(b'{"error":{"type":"rate_limit_error","message":"slow down"}}', 429, headers={"Retry-After": "272"})
        ]
        with pytest.raises(QuotaError) as err:
            ClaudeQuotaReader().read(env_for("claude", tmp_path, server), now=NOW)
    assert err.value.kind == "rate_limited"
    assert "429" in str(err.value) and "wait 272 s" in str(err.value) and "slow down" in str(err.value)


def test_timeout(tmp_path):
    with ReplayServer() as server:
        server.routes[PATHS["codex"]] = [fixture("codex", "wham.json", delay=2.0)]
        with pytest.raises(QuotaError) as err:
            CodexQuotaReader().read(env_for("codex", tmp_path, server), timeout=0.3, now=NOW)
    assert err.value.kind == "timeout"
    assert "no answer within 0.3 s" in str(err.value)


def test_html_instead_of_json(tmp_path):
    with ReplayServer() as server:
        server.routes[PATHS["minimax"]] = [Reply(b"<html><body>Just a moment...</body></html>", 200)]
        with pytest.raises(QuotaError) as err:
            MinimaxQuotaReader().read(env_for("minimax", tmp_path, server), now=NOW)
    assert err.value.kind == "not_json" and "<html>" in str(err.value)


def test_unreachable_host_is_a_network_error(tmp_path):
    with ReplayServer() as server:
        url = server.url
    env = {"HOME": str(tmp_path), "ANALYZER_GLM_BASE_URL": url, "ZAI_API_KEY": TOKEN}  # server now closed
    with pytest.raises(QuotaError) as err:
        GlmQuotaReader().read(env, now=NOW)
    assert err.value.kind == "network"


def test_credentials_are_never_sent_in_clear_text_off_this_machine(tmp_path):
    env = {"HOME": str(tmp_path), "ANALYZER_GLM_BASE_URL": "http://example.com", "ZAI_API_KEY": TOKEN}
    with pytest.raises(QuotaError) as err:
        GlmQuotaReader().read(env, now=NOW)
    assert err.value.kind == "refused" and TOKEN not in str(err.value)


def test_vendor_error_bodies_with_status_200(tmp_path):
    with ReplayServer() as server:
        server.routes[PATHS["glm"]] = [fixture("glm", "unauthorised.json")]
        server.routes[PATHS["minimax"]] = [fixture("minimax", "auth-error.json")]
        with pytest.raises(QuotaError) as glm:
            GlmQuotaReader().read(env_for("glm", tmp_path, server), now=NOW)
        with pytest.raises(QuotaError) as minimax:
            MinimaxQuotaReader().read(env_for("minimax", tmp_path, server), now=NOW)
    assert glm.value.kind == "auth" and "1001" in str(glm.value)
    assert minimax.value.kind == "auth" and "1004" in str(minimax.value)


def test_glm_falls_back_to_bearer_when_the_raw_key_is_refused(tmp_path):
    with ReplayServer() as server:
        server.routes[PATHS["glm"]] = [
            fixture("glm", "credits.json", when_auth=f"Bearer {TOKEN}"),
            Reply(b'{"error":"no"}', 401),
        ]
        found = GlmQuotaReader().read(env_for("glm", tmp_path, server), now=NOW)
        assert [h["authorization"] for _, h in server.seen] == [TOKEN, f"Bearer {TOKEN}"]
    assert len(found) == 2


def test_glm_and_minimax_keys_from_claude_code_gateway_settings(tmp_path):
    write(
        tmp_path / ".claude" / "settings.json",
        {"env": {"ANTHROPIC_BASE_URL": "https://open.bigmodel.cn/api/anthropic", "ANTHROPIC_AUTH_TOKEN": TOKEN}},
    )
    cred = GlmQuotaReader().credentials({"HOME": str(tmp_path)})
    assert cred.token == TOKEN and cred.base_url == "https://open.bigmodel.cn"
    assert TOKEN not in repr(cred) and "settings.json" in cred.origin
    with pytest.raises(NoCredentials):
        MinimaxQuotaReader().credentials({"HOME": str(tmp_path)})  # a GLM gateway is not MiniMax's
    env = {
        "HOME": str(tmp_path),
        "ANTHROPIC_BASE_URL": "https://api.minimaxi.com/anthropic",
        "ANTHROPIC_AUTH_TOKEN": "k",
    }
    assert MinimaxQuotaReader().credentials(env).base_url == "https://api.minimaxi.com"
    assert (
        GlmQuotaReader().credentials({"HOME": str(tmp_path), "ZHIPUAI_API_KEY": "z"}).base_url
        == "https://open.bigmodel.cn"
    )


def test_expired_or_missing_credentials_are_skipped_with_the_reason(tmp_path):
    for vendor in ("claude", "kimi"):
        credentials(vendor, tmp_path, expired=True)
        with pytest.raises(NoCredentials, match="expired"):
            READERS[vendor]().credentials({"HOME": str(tmp_path)})
    write(tmp_path / ".codex" / "auth.json", {"OPENAI_API_KEY": "sk-SECRET", "tokens": None})
    with pytest.raises(NoCredentials, match="API key") as err:
        CodexQuotaReader().credentials({"HOME": str(tmp_path)})
    assert "sk-SECRET" not in str(err.value)
    empty = tmp_path / "empty"
    for reader in READERS.values():
        with pytest.raises(NoCredentials):
            reader().credentials({"HOME": str(empty)})


def test_kimi_prefers_a_valid_token_in_the_newer_folder_and_honours_env_dirs(tmp_path):
    credentials("kimi", tmp_path, expired=True)  # ~/.kimi: expired
    write(tmp_path / "kc" / "credentials" / "kimi-code.json", {"access_token": "fresh", "expires_at": time.time() + 60})
    cred = KimiQuotaReader().credentials({"HOME": str(tmp_path), "KIMI_CODE_HOME": str(tmp_path / "kc")})
    assert cred.token == "fresh"


def test_claude_reads_the_macos_keychain_when_there_is_no_file(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "security"
    blob = json.dumps({"claudeAiOauth": {"accessToken": "from-keychain", "expiresAt": int(time.time() * 1000) + 60000}})
    tool.write_text(f"#!/bin/sh\n[ \"$3\" = 'Claude Code-credentials' ] && echo '{blob}'\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    reader = ClaudeQuotaReader()
    reader.platform = "darwin"
    cred = reader.credentials({"HOME": str(tmp_path / "nohome")})
    assert cred.token == "from-keychain" and "Keychain" in cred.origin


def test_poll_all_stores_readings_once_and_never_the_credentials(tmp_path, db):
    home = tmp_path / "h"
    with ReplayServer() as server:
        env = {"HOME": str(home)}
        for vendor, name in (("claude", "limits.json"), ("kimi", "shape-a.json"), ("glm", "percent.json")):
            server.routes[PATHS[vendor]] = [fixture(vendor, name)]
            env.update(env_for(vendor, home, server))
        server.routes[PATHS["codex"]] = [Reply(json.dumps({"detail": f"bad {TOKEN}"}).encode(), 401)]
        env.update(env_for("codex", home, server))
        results = {r.vendor: r for r in poll_all(db, env=env, now=NOW)}
        again = {r.vendor: r for r in poll_all(db, env=env, now=datetime(2025, 1, 31, 2, tzinfo=timezone.utc))}
    assert (results["claude"].status, results["claude"].readings, results["claude"].new) == ("ok", 3, 3)
    assert (results["kimi"].readings, results["glm"].readings) == (2, 3)
    assert (
        results["codex"].status == "error" and results["codex"].kind == "auth" and TOKEN not in results["codex"].message
    )
    assert results["minimax"].status == "skipped" and "MINIMAX_API_KEY" in results["minimax"].message
    assert again["claude"].new == 0 and again["kimi"].new == 0  # same window, percent, reset: no new row
    rows = db.execute(
        "select agent, count(*), min(observed_at) from quota_readings group by agent order by agent"
    ).fetchall()
    assert rows == [
        ("claude-code", 3, "2025-01-31T01:00:00.000Z"),
        ("glm", 3, "2025-01-31T01:00:00.000Z"),
        ("kimi-code", 2, "2025-01-31T01:00:00.000Z"),
    ]
    db.conn.execute("pragma wal_checkpoint(full)")
    path = Path(db.conn.execute("pragma database_list").fetchone()[2])
    for f in (path, Path(f"{path}-wal")):
        if f.exists():
            data = f.read_bytes()
            for secret in (TOKEN, "refresh-SECRET", "id-SECRET"):
                assert secret.encode() not in data


def test_every_vendor_is_registered_through_the_hook():
    assert set(get_readers()) >= {"claude", "codex", "kimi", "glm", "minimax"}


def test_poll_all_reports_an_unknown_vendor(db):
    (result,) = poll_all(db, ["nosuch"])
    assert result.status == "error" and "unknown vendor" in result.message


def test_store_module_is_untouched_by_readers(db):
    # readings go through the foundation writer: same columns, source and machine id
    from analyzer.plugins.quota.base import reading
    from analyzer.plugins.quota.poll import store_readings

    assert store_readings(db, [reading("codex", "2025-01-31T01:00:00.000Z", 5, 300, None)]) == 1
    row = db.execute("select source, machine_id, raw from quota_readings").fetchone()
    assert row == ("endpoint", store.machine_id(db), None)


def test_watch_polls_quota_only_when_asked(db, tmp_path, monkeypatch):
    """`analyzer watch --quota-every N` adds a periodic task that polls and stores; without it, no task."""
    from analyzer.plugins.quota.poll import watch_task

    from analyzer.commands import watch as watch_command
    from analyzer.daemon.watcher import watch_tasks

    assert all(task.name != "quota-poll" for task in watch_tasks())
    with ReplayServer() as server:
        server.routes[PATHS["glm"]] = [fixture("glm", "credits.json")]
        for name, value in {"HOME": str(tmp_path), "ANALYZER_GLM_BASE_URL": server.url, "ZAI_API_KEY": TOKEN}.items():
            monkeypatch.setenv(name, value)
        task = watch_task(15)
        assert (task.name, task.interval) == ("quota-poll", 900.0)
        task.run(db)
    rows = db.execute("select agent, window_minutes, source from quota_readings order by window_minutes").fetchall()
    assert rows == [("glm", 300, "endpoint"), ("glm", 10080, "endpoint")]
    service = watch_command._service(tmp_path / "s.db", ["--quota-every", "15"])
    assert service.program()[-2:] == ["--quota-every", "15"]


def test_a_reading_names_the_vendor_of_its_credentials_endpoint(tmp_path):
    """z.ai and bigmodel.cn are two accounts: a GLM reading says which one its key belongs to."""
    with ReplayServer() as server:
        server.routes[PATHS["glm"]] = [fixture("glm", "credits.json")] * 2
        env = {"HOME": str(tmp_path), "ANALYZER_GLM_BASE_URL": server.url}
        international = GlmQuotaReader().read({**env, "ZAI_API_KEY": TOKEN}, now=NOW)
        china = GlmQuotaReader().read({**env, "ZHIPUAI_API_KEY": TOKEN}, now=NOW)
    assert {r.account for r in international} == {"zai"} and {r.account for r in china} == {"zhipuai"}
