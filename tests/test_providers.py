"""Request.provider: what each agent says about where its calls went (hosts or names, never keys)."""

from __future__ import annotations

import json
import shutil

import pytest
from analyzer.parsers._gateways import settings_provider

from analyzer.accounts import attribute

from .conftest import FIXTURES, ingest_home


def _providers(db) -> dict:
    return dict(db.execute("select coalesce(provider, '-'), count(*) from requests group by provider").fetchall())


@pytest.mark.parametrize(
    "agent, case, expected",
    [
        ("codex", "basic", {"openai": 4}),  # session_meta.model_provider
        (
            "kimi-code",
            "cli-basic",
            {"api.kimi.com": 3},
        ),  # config: [models.<alias>].provider -> [providers.<name>].base_url
        ("kimi-code", "code-basic", {"managed:kimi-code": 4}),  # an alias of the managed platform, no provider table
    ],
)
def test_fixture_providers(db, agent, case, expected):
    ingest_home(db, FIXTURES / agent / case / "home")
    assert _providers(db) == expected


def test_kimi_cli_pointed_at_the_metered_platform(db, tmp_path):
    home = tmp_path / "agent-home"
    shutil.copytree(FIXTURES / "kimi-code" / "cli-basic" / "home", home)
    config = home / ".kimi" / "config.toml"
    config.write_text(
        config.read_text()
        .replace("https://api.kimi.com/coding/v1", "https://api.moonshot.cn/v1")
        .replace('api_key = ""', 'api_key = "sk-never-stored"')
    )
    ingest_home(db, home)
    assert _providers(db) == {"api.moonshot.cn": 3}
    assert "sk-never-stored" not in "\n".join(db.conn.iterdump())
    assert attribute(agent="kimi-code", provider="api.moonshot.cn", model="kimi-for-coding").account == "moonshot-api"


def _qwen_home(tmp_path, settings: dict | None, auth_type: str) -> object:
    home = tmp_path / "agent-home"
    chats = home / ".qwen" / "projects" / "-home-u-q" / "chats"
    chats.mkdir(parents=True)
    if settings is not None:
        (home / ".qwen" / "settings.json").write_text(json.dumps(settings))
    event = {
        "event.name": "qwen-code.api_response",
        "response_id": "r1",
        "model": "qwen3-coder-plus",
        "status_code": 200,
        "input_token_count": 100,
        "output_token_count": 10,
        "cached_content_token_count": 0,
        "thoughts_token_count": 0,
        "total_token_count": 110,
        "auth_type": auth_type,
    }
    line = {
        "uuid": "t1",
        "sessionId": "s1",
        "timestamp": "2026-10-03T10:00:00.000Z",
        "type": "system",
        "cwd": "/home/u/q",
        "version": "0.18.1",
        "subtype": "ui_telemetry",
        "systemPayload": {"uiEvent": event},
    }
    (chats / "s1.jsonl").write_text(json.dumps(line) + "\n")
    return home


def test_qwen_code_openai_auth_records_the_endpoint_host(db, tmp_path):
    settings = {
        "security": {
            "auth": {"selectedType": "openai", "apiKey": "sk-never-stored", "baseUrl": "https://api.example.com/v1"}
        },
        "modelProviders": {
            "openai": [
                {
                    "id": "qwen3-coder-plus",
                    "envKey": "DASHSCOPE_API_KEY",
                    "baseUrl": "https://coding.dashscope.aliyuncs.com/v1",
                }
            ]
        },
    }
    ingest_home(db, _qwen_home(tmp_path, settings, "openai"))
    assert _providers(db) == {"coding.dashscope.aliyuncs.com": 1}
    assert "sk-never-stored" not in "\n".join(db.conn.iterdump())


def test_qwen_code_oauth_records_the_auth_type(db, tmp_path):
    ingest_home(db, _qwen_home(tmp_path, None, "qwen-oauth"))
    assert _providers(db) == {"qwen-oauth": 1}


def test_gemini_records_the_auth_type(db, tmp_path):
    home = tmp_path / "agent-home"
    shutil.copytree(FIXTURES / "gemini-cli" / "basic" / "home", home)
    (home / ".gemini" / "settings.json").write_text('{"security": {"auth": {"selectedType": "oauth-personal"}}}')
    ingest_home(db, home)
    assert _providers(db) == {"oauth-personal": 4}
    assert attribute(agent="gemini-cli", provider="oauth-personal", model="gemini-2.5-pro").account == "google"


@pytest.mark.parametrize(
    "settings, model, auth, expected",
    [
        ({"selectedAuthType": "gemini-api-key"}, "gemini-2.5-pro", None, "gemini-api-key"),  # older Gemini settings
        ({"security": {"auth": {"selectedType": "openai"}}}, "glm-4.6", None, None),  # a protocol alone names no vendor
        (
            {"security": {"auth": {"selectedType": "openai", "baseUrl": "https://open.bigmodel.cn/api/paas/v4"}}},
            "glm-4.6",
            None,
            "open.bigmodel.cn",
        ),
        (None, "x", "qwen-oauth", "qwen-oauth"),
        (None, "x", None, None),
    ],
)
def test_settings_provider(settings, model, auth, expected):
    assert settings_provider(settings, model, auth) == expected
