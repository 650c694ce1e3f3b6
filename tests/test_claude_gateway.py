"""Claude Code through third-party Anthropic endpoints: the gateway host, and the vendors' refusals."""

from __future__ import annotations

import json
import shutil

from analyzer.parsers._gateways import ClaudeGateway
from analyzer.parsers._hosts import host_of
from analyzer.parsers.claude_code import ClaudeCodeParser

from analyzer.contract.parsing import SourceContext
from analyzer.contract.records import LimitHit, Request

from .conftest import FIXTURES, expected_totals, ingest_home


def _hits(db):
    return [
        {"ts": ts, "reset_at": reset, "window_minutes": window}
        for ts, reset, window in db.execute("select ts, reset_at, window_minutes from limit_hits order by ts")
    ]


def test_glm_refusals_get_reset_and_window(db):
    case = FIXTURES / "claude-code" / "glm-gateway"
    ingest_home(db, case / "home")
    expected = expected_totals(case)
    assert _hits(db) == expected["hits"]
    assert db.execute("select distinct provider from requests").fetchall() == [(expected["provider"],)]
    types = [r[0] for r in db.execute("select limit_type from limit_hits order by ts")]
    assert types == ["five_hour", "five_hour", "weekly"]


def test_the_gateway_token_never_reaches_the_store(db):
    ingest_home(db, FIXTURES / "claude-code" / "glm-gateway" / "home")
    dump = "\n".join(db.conn.iterdump())
    assert "not-a-real-token" not in dump


def test_host_of():
    assert host_of("https://open.bigmodel.cn/api/anthropic") == "open.bigmodel.cn"
    assert host_of("https://user:secret@API.Kimi.com:443/coding/") == "api.kimi.com"
    assert host_of("api.minimaxi.com/anthropic") == "api.minimaxi.com"
    assert host_of("") is None and host_of(None) is None and host_of("http://[bad") is None


def _line(cwd: str, **extra) -> bytes:
    obj = {
        "type": "assistant",
        "sessionId": "s1",
        "cwd": cwd,
        "uuid": "a1",
        "timestamp": "2026-10-03T17:00:05.000Z",
        "message": {
            "id": "m1",
            "model": "kimi-for-coding",
            "role": "assistant",
            "content": [],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 1},
        },
    }
    obj.update(extra)
    return json.dumps(obj).encode()


def _provider(parser, transcript, cwd) -> str | None:
    records = list(parser.parse([(0, _line(str(cwd)))], {}, SourceContext(path=transcript)))
    return next(r.provider for r in records if isinstance(r, Request))


def test_settings_most_specific_first(tmp_path):
    config = tmp_path / ".claude"
    transcript = config / "projects" / "-p" / "s1.jsonl"
    transcript.parent.mkdir(parents=True)
    project = tmp_path / "proj"
    (project / ".claude").mkdir(parents=True)
    parser = ClaudeCodeParser(ClaudeGateway(environ={"ANTHROPIC_BASE_URL": "https://api.minimaxi.com/anthropic"}))
    assert _provider(parser, transcript, project) == "api.minimaxi.com"  # only the environment names one
    (config / "settings.json").write_text('{"env": {"ANTHROPIC_BASE_URL": "https://api.z.ai/api/anthropic"}}')
    assert _provider(parser, transcript, project) == "api.z.ai"  # the user's settings beat the environment
    (project / ".claude" / "settings.json").write_text(
        '{"env": {"ANTHROPIC_BASE_URL": "https://api.kimi.com/coding/"}}'
    )
    assert _provider(parser, transcript, project) == "api.kimi.com"  # the project's beat the user's
    (project / ".claude" / "settings.local.json").write_text(
        '{"env": {"ANTHROPIC_BASE_URL": "https://ark.cn-beijing.volces.com/api/coding"}}'
    )
    assert _provider(parser, transcript, project) == "ark.cn-beijing.volces.com"  # and local beats shared
    (project / ".claude" / "settings.local.json").write_text("{not json")
    assert _provider(parser, transcript, project) == "api.kimi.com"  # a broken file is no evidence


def test_no_base_url_anywhere_records_no_provider(tmp_path):
    transcript = tmp_path / ".claude" / "projects" / "-p" / "s1.jsonl"
    transcript.parent.mkdir(parents=True)
    assert _provider(ClaudeCodeParser(ClaudeGateway(environ={})), transcript, tmp_path) is None


def test_kimi_billing_cycle_403_through_claude_code_is_a_hit(tmp_path):
    """Claude Code shows Kimi's 403 as an authentication failure; the vendor's words make it a plan refusal."""
    text = (
        'Failed to authenticate. API Error: 403 {"error":{"type":"permission_error","message":"You\'ve reached your '
        'usage limit for this billing cycle. Your quota will be refreshed in the next cycle."},"type":"error"}'
    )
    line = _line(
        "/nowhere",
        uuid="e9",
        isApiErrorMessage=True,
        apiErrorStatus=403,
        error="authentication_failed",
        message={"id": "x", "model": "<synthetic>", "role": "assistant", "content": [{"type": "text", "text": text}]},
    )
    parser = ClaudeCodeParser(ClaudeGateway(environ={}))
    records = list(parser.parse([(0, line)], {}, SourceContext(path=tmp_path / "projects" / "p" / "s.jsonl")))
    hits = [r for r in records if isinstance(r, LimitHit)]
    assert [(h.limit_type, h.window_minutes, h.reset_at) for h in hits] == [("quota", None, None)]


def test_fixture_copy_keeps_the_gateway(db, tmp_path):
    """The settings are found from the transcript's own config folder, wherever it is."""
    home = tmp_path / "elsewhere"
    shutil.copytree(FIXTURES / "claude-code" / "glm-gateway" / "home", home)
    ingest_home(db, home)
    assert db.execute("select count(*) from requests where provider = 'open.bigmodel.cn'").fetchone()[0] == 1
