"""One plan, several agents and machines: windows, status, the statusline and infer-limit see the account whole."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from analyzer.plugins.claude_code import statusline as sl

from analyzer.accounts.store import ensure_accounts
from analyzer.contract.records import LimitHit, Request
from analyzer.inference import infer
from analyzer.inference.evidence import load_streams
from analyzer.pricing.prices import config_dir
from analyzer.reports.filters import Filters
from analyzer.reports.status import status
from analyzer.store import database as store
from analyzer.store.writer import RecordWriter
from analyzer.windows.usage import blocks

from .glm_home import LIMIT, glm_home

SEEDS = [1, 2]


def _good(e: dict) -> bool:
    """An estimate of the hidden limit: requests, within 10 %, the truth inside its interval."""
    return (
        e["method"] == "inferred"
        and e["candidate"] == "requests"
        and abs(e["limit"] / LIMIT - 1) <= 0.10
        and e["low"] <= LIMIT <= e["high"]
    )


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    root = tmp_path_factory.mktemp("glm")
    return {seed: glm_home(root, seed) for seed in SEEDS}


@pytest.mark.parametrize("seed", SEEDS)
def test_claude_code_and_opencode_on_one_glm_plan_give_one_estimate_for_the_account(db, sims, seed):
    result = sims[seed]
    result.load(db)
    assert dict(db.execute("select agent, count(*) from requests group by agent").fetchall()).keys() == {
        "claude-code",
        "opencode",
    }
    assert db.execute("select distinct account from requests").fetchall() == [("zai",)]
    transcripts = [p for p in result.files if p.suffix == ".jsonl"]
    assert transcripts and not any(b'"requestId"' in p.read_bytes() for p in transcripts)  # a gateway's: none
    assert db.execute("select distinct model from requests").fetchall() == [("glm-4.6",)]
    [e] = [e for e in infer(db) if e["window_minutes"] == 300]
    assert (e["account"], e["agents"]) == ("zai", ["claude-code", "opencode"])
    assert _good(e), e
    # Every refusal of the plan, from both agents, and none of OpenCode's per-minute rate limits
    # (a 30-second retry-after is no 5-hour window running out).
    assert e["evidence"]["hits"] == result.hits
    rate_limits = db.execute("select count(*) from limit_hits where limit_type = 'rate_limit'").fetchone()[0]
    assert rate_limits > 0
    [stream] = [s for s in load_streams(db) if s.minutes == 300]
    assert len(stream.hits) == result.hits


@pytest.mark.parametrize("seed", SEEDS)
def test_per_agent_the_same_refusals_give_no_right_answer(db, sims, seed):
    """The same logs with accounts.toml splitting the agents: each sees a fraction of the calls."""
    sims[seed].load(db)
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "accounts.toml").write_text(
        '[[rule]]\naccount = "glm-cc"\nagent = "claude-code"\n\n[[rule]]\naccount = "glm-oc"\nagent = "opencode"\n'
    )
    found = {e["account"]: e for e in infer(db) if e["window_minutes"] == 300}
    assert set(found) == {"glm-cc", "glm-oc"}
    assert not any(_good(e) for e in found.values()), found


# --- a hand-made account: Claude Code on a laptop and OpenCode on a desktop, one GLM plan ---------------------

H = "2026-11-03T{}:00.000Z"


def _hand(db) -> None:
    calls = [  # (key, agent, provider, machine, session, time, input, cache read, output)
        ("a1", "claude-code", "api.z.ai", "laptop01", "cc1", "10:05", 1000, 20000, 300),
        ("a2", "claude-code", "api.z.ai", "laptop01", "cc1", "10:20", 500, 21000, 200),
        ("a3", "claude-code", "api.z.ai", "laptop01", "cc1", "11:00", 700, 22000, 100),
        ("b1", "opencode", "zai-coding-plan", "desktop1", "oc1", "10:30", 2000, 0, 400),
        ("b2", "opencode", "zai-coding-plan", "desktop1", "oc1", "12:00", 300, 5000, 60),
        ("c1", "codex", "openai", "laptop01", "cx1", "11:30", 9000, 0, 900),  # another account
    ]
    for machine, name in (("laptop01", "laptop"), ("desktop1", "desktop")):
        db.execute("insert into machines (machine_id, name) values (?, ?)", [machine, name])
    for key, agent, provider, machine, session, hm, inp, read, out in calls:
        writer = RecordWriter(db, source_id=None, machine=machine, keep_text=False)
        model = "gpt-5" if agent == "codex" else "glm-4.6"
        at = H.format(hm)
        writer.add(Request(key, agent, session, at, model, provider, "/p", inp, read, 0, out))
        if key == "b2":  # GLM refuses OpenCode's next call: the window resets at 15:00 (23:00 China time)
            writer.add(
                LimitHit(
                    key="h1",
                    agent=agent,
                    session_id=session,
                    ts=H.format("12:30"),
                    reset_at="2026-11-03T15:00:00.000Z",
                    window_minutes=300,
                    limit_type="five_hour",
                    message="Usage limit reached for 5 hour. Your limit will reset at 2026-11-03 23:00:00",
                    model=model,
                    provider=provider,
                )
            )
        with store.transaction(db):
            writer.flush()
    ensure_accounts(db)


NOW = datetime(2026, 11, 3, 12, 45, tzinfo=timezone.utc)
# zai: a1 21,300 + a2 21,700 + a3 22,800 (Claude Code, laptop) + b1 2,400 + b2 5,360 (OpenCode, desktop) = 73,560
CC_TOKENS, OC_TOKENS = 21_300 + 21_700 + 22_800, 2_400 + 5_360


def test_the_accounts_window_holds_every_agent_and_machine(db):
    _hand(db)
    found = {w["account"]: w for w in blocks(db, Filters(), now=NOW)}
    assert set(found) == {"zai", "openai"}
    w = found["zai"]
    assert (w["start"], w["end"], w["kind"]) == (H.format("10:00"), H.format("15:00"), "anchored")  # the refusal's
    assert (w["requests"], w["total_tokens"], w["limit_hits"]) == (5, CC_TOKENS + OC_TOKENS, 1)
    assert w["agent"] == "claude-code,opencode"
    assert [(a["agent"], a["requests"], a["total_tokens"]) for a in w["agents"]] == [
        ("claude-code", 3, CC_TOKENS),
        ("opencode", 2, OC_TOKENS),
    ]
    assert [(m["machine_id"], m["requests"]) for m in w["machines"]] == [("laptop01", 3), ("desktop1", 2)]
    assert (found["openai"]["requests"], found["openai"]["kind"]) == (1, "estimated")
    # one machine's part: the same anchored window (the account's reset), that machine's calls only
    [mine] = [w for w in blocks(db, Filters(machines=("desktop",)), now=NOW) if w["account"] == "zai"]
    assert (mine["start"], mine["requests"], mine["total_tokens"]) == (H.format("10:00"), 2, OC_TOKENS)


def test_status_shows_the_accounts_window_with_every_agents_and_machines_usage(db):
    _hand(db)
    entries = {(e["account"], e["window_minutes"]): e for e in status(db, now=NOW)}
    five = entries[("zai", 300)]
    assert five["window"]["kind"] == "anchored" and five["resets_at"] == H.format("15:00")
    assert (five["used"]["requests"], five["used"]["total_tokens"]) == (5, CC_TOKENS + OC_TOKENS)
    assert five["agent"] == "claude-code,opencode"
    assert [(a["agent"], a["requests"]) for a in five["agents"]] == [("claude-code", 3), ("opencode", 2)]
    assert [(m["machine_id"], m["requests"]) for m in five["machines"]] == [("laptop01", 3), ("desktop1", 2)]
    # --agent opencode: the accounts OpenCode used, whole
    assert {e["account"] for e in status(db, now=NOW, agents=("opencode",))} == {"zai"}


def test_the_statusline_counts_the_accounts_window_over_every_agent_and_machine(db):
    _hand(db)
    path = db.conn.execute("pragma database_list").fetchone()[2]
    payload = {"session_id": "cc1", "model": {"id": "glm-4.6", "display_name": "glm-4.6"}}
    # 73,560 tokens; cache 68,000 read of 72,500 read in: 94%
    text = sl.line(json.dumps(payload), path, NOW)
    assert text == "glm-4.6 · 5h 73.6k tok (est. window to 15:00) · cache 94%"
    # a session with no call yet: the account of the model's latest call
    text = sl.line(json.dumps({**payload, "session_id": "new"}), path, NOW)
    assert text == "glm-4.6 · 5h 73.6k tok (est. window to 15:00) · cache 94%"


def test_a_rate_limits_retry_after_anchors_no_window(db):
    """A 429 of requests per minute with a 30-second retry-after is a refusal, not a 5-hour window's end."""
    _hand(db)
    before = blocks(db, Filters(), now=NOW)
    writer = RecordWriter(db, source_id=None, machine="desktop1", keep_text=False)
    writer.add(
        LimitHit(
            key="r1",
            agent="opencode",
            session_id="oc1",
            ts=H.format("12:40"),
            reset_at="2026-11-03T12:40:30.000Z",
            limit_type="rate_limit",
            model="glm-4.6",
            provider="zai-coding-plan",
        )
    )
    with store.transaction(db):
        writer.flush()
    ensure_accounts(db)
    assert db.execute("select account from limit_hits where key = 'r1'").fetchone() == ("zai",)
    assert db.execute("select count(*) from window_anchors where account = 'zai'").fetchone() == (1,)
    assert blocks(db, Filters(), now=NOW) == before
    [stream] = [s for s in load_streams(db) if s.account == "zai"]
    assert [h.ts for h in stream.hits] == [H.format("12:30")]
