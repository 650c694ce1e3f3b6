"""The shortcuts that make reports fast give the figures the plain rules give (hand-computed)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from analyzer.contract.timeutil import UTC, format_utc, parse_iso, resolve_tz
from analyzer.ingest import discovery as sources
from analyzer.plans.catalogue import load_catalogue
from analyzer.plans.compare import compare, load_usage
from analyzer.plans.ledger import Events
from analyzer.pricing import prices as pricing
from analyzer.reports.usage import Filters, daily
from analyzer.windows.usage import blocks

from .analysis_helpers import add_prompt, add_reading, add_request
from .claude_lines import transcript_path, turn, turn_totals
from .conftest import ingest_home, totals
from .test_pricing import write_config

# Each request: 10 input + 1,000 cache read + 100 cache write + 5 output = 1,115 tokens.
TOKENS = dict(inp=10, cr=1000, cw=100, out=5)


def test_an_hour_in_which_the_local_date_changes_is_split_by_quarter(db):
    # Asia/Kolkata is UTC+5:30: 18:20 and 18:40 UTC, one hour, are 23:50 on the 2nd and 00:10 on the 3rd.
    add_request(db, "a", "2026-11-02T18:20:00.000Z", **TOKENS)
    add_request(db, "b", "2026-11-02T18:40:00.000Z", **TOKENS)
    add_request(db, "c", "2026-11-02T18:50:00.000Z", **TOKENS)
    add_prompt(db, "p", "2026-11-02T18:35:00.000Z")  # 00:05 on the 3rd
    rows = daily(db, Filters(tz=resolve_tz("Asia/Kolkata")))
    assert [(r["date"], r["requests"], r["prompts"], r["total_tokens"]) for r in rows] == [
        ("2026-11-02", 1, 0, 1115),
        ("2026-11-03", 2, 1, 2230),
    ]
    # in UTC the same hour is one day; in Tokyo (UTC+9) all three are on the 3rd (03:20 .. 03:50)
    assert [(r["date"], r["requests"]) for r in daily(db, Filters(tz=UTC))] == [("2026-11-02", 3)]
    assert [(r["date"], r["requests"]) for r in daily(db, Filters(tz=resolve_tz("Asia/Tokyo")))] == [("2026-11-03", 3)]


def test_an_hour_repeated_at_a_transition_stays_on_its_date(db):
    # America/Santiago leaves summer time at midnight on 2026-04-05 (03:00 UTC): the clock goes from
    # 23:59:59 (UTC-3) back to 23:00 on the 4th (UTC-4). 02:30 UTC is 23:30 on the 4th; 03:30 UTC is
    # 23:30 on the 4th again; 04:30 UTC is 00:30 on the 5th.
    for key, ts in (
        ("a", "2026-04-05T02:30:00.000Z"),
        ("b", "2026-04-05T03:30:00.000Z"),
        ("c", "2026-04-05T04:30:00.000Z"),
    ):
        add_request(db, key, ts, **TOKENS)
    rows = daily(db, Filters(tz=resolve_tz("America/Santiago")))
    assert [(r["date"], r["requests"]) for r in rows] == [("2026-04-04", 2), ("2026-04-05", 1)]


def test_an_hour_that_holds_a_vendor_reset_is_split_at_the_reset(db):
    # The vendor says the 5-hour window resets at 12:37:30: [07:37:30, 12:37:30) is anchored.
    add_reading(db, "q", "2026-11-02T12:00:00.000Z", 300, 40.0, "2026-11-02T12:37:30.000Z")
    for key, ts in (
        ("a", "2026-11-02T11:00:00.000Z"),
        ("b", "2026-11-02T12:10:00.000Z"),
        ("c", "2026-11-02T12:37:30.000Z"),
        ("d", "2026-11-02T12:50:00.000Z"),
        ("e", "2026-11-02T17:40:00.000Z"),
    ):
        add_request(db, key, ts, **TOKENS)
    got = [
        (w["start"], w["end"], w["kind"], w["requests"], w["total_tokens"], w["first_request"], w["last_request"])
        for w in blocks(db, Filters(), now=datetime(2026, 11, 3, tzinfo=UTC))
    ]
    assert got == [
        # 11:00 and 12:10 before the reset
        (
            "2026-11-02T07:37:30.000Z",
            "2026-11-02T12:37:30.000Z",
            "anchored",
            2,
            2230,
            "2026-11-02T11:00:00.000Z",
            "2026-11-02T12:10:00.000Z",
        ),
        # 12:37:30 (exactly at the reset) and 12:50 open an estimated window; floored to the hour it
        # would start at 12:00, inside the anchored one, so it starts where that ends
        (
            "2026-11-02T12:37:30.000Z",
            "2026-11-02T17:37:30.000Z",
            "estimated",
            2,
            2230,
            "2026-11-02T12:37:30.000Z",
            "2026-11-02T12:50:00.000Z",
        ),
        # 17:40 is past that window's end: the next starts where it ended (17:00 would overlap it)
        (
            "2026-11-02T17:37:30.000Z",
            "2026-11-02T22:37:30.000Z",
            "estimated",
            1,
            1115,
            "2026-11-02T17:40:00.000Z",
            "2026-11-02T17:40:00.000Z",
        ),
    ]


def test_an_hour_with_several_boundaries(db):
    # Readings anchor [10:05, 10:20) and [10:20, 10:40) (windows are cut where the next begins):
    # one UTC hour, three windows.
    add_reading(db, "q1", "2026-11-02T10:06:00.000Z", 300, 10.0, "2026-11-02T10:20:00.000Z")
    add_reading(db, "q2", "2026-11-02T10:21:00.000Z", 300, 10.0, "2026-11-02T10:40:00.000Z")
    for i, minute in enumerate((2, 19, 20, 39, 40, 59)):
        add_request(db, f"r{i}", f"2026-11-02T10:{minute:02d}:00.000Z", **TOKENS)
    got = [
        (w["start"][11:19], w["end"][11:19], w["kind"], w["requests"])
        for w in blocks(db, Filters(), now=datetime(2026, 11, 3, tzinfo=UTC))
    ]
    assert got == [
        ("05:20:00", "10:20:00", "anchored", 2),  # 10:02, 10:19
        ("10:20:00", "10:40:00", "anchored", 2),  # 10:20, 10:39 (the first instance ends where this starts)
        ("10:40:00", "15:40:00", "estimated", 2),  # 10:40, 10:59
    ]


# --- compare-plans: the shared replay against the rules written out plainly -------------------


def fixed_rule(events, minutes, limit):
    """Fixed windows from the first event floored to the hour; the time each window's sum passed the limit."""
    hits, end, used, passed = [], None, 0.0, False
    for ts, q in events:
        t = parse_iso(ts)
        if end is None or t >= end:
            end, used, passed = t.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=minutes), 0.0, False
        used += q
        if used > limit and not passed:
            passed = True
            hits.append(ts)
    return hits


def sliding_rule(events, minutes, limit):
    """The sum over (t - window, t] at every event; each time it rises above the limit."""
    hits, over = [], False
    times = [parse_iso(ts) for ts, _ in events]
    for i, (ts, _) in enumerate(events):
        used = sum(q for s, (_, q) in zip(times[: i + 1], events) if s > times[i] - timedelta(minutes=minutes))
        if used > limit + 1e-9:
            if not over:
                hits.append(ts)
            over = True
        else:
            over = False
    return hits


@pytest.mark.parametrize("seed", range(4))
def test_the_shared_replay_finds_what_the_plain_rules_find(seed):
    rng = random.Random(seed)
    t = datetime(2026, 11, 2, 7, 13, tzinfo=UTC)
    stamps = []
    for _ in range(150):
        t += timedelta(seconds=rng.choice([0, 1, 30, 600, 3000, 7200, 20000]))  # bursts, ties and gaps
        stamps.append(format_utc(t))
    ms = [int((parse_iso(s) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000) for s in stamps]
    weights = [rng.choice([0.0, 0.4, 1.0, 2.5]) * rng.randint(0, 900) for _ in stamps]
    events = Events(stamps, ms)
    for minutes in (60, 300, 10080):
        for limit in (0, 1, 2, 3.5, 7, 40, 1000, 12345.6):
            ones = [(s, 1.0) for s in stamps]
            assert events.fixed_hits(minutes, limit) == fixed_rule(ones, minutes, limit), (minutes, limit)
            assert events.sliding_hits(minutes, limit) == sliding_rule(ones, minutes, limit), (minutes, limit)
            weighted = list(zip(stamps, weights))
            assert events.fixed_hits(minutes, limit, weights, "w") == fixed_rule(weighted, minutes, limit)
            assert events.sliding_hits(minutes, limit, weights) == sliding_rule(weighted, minutes, limit)


def test_weighted_quantities_follow_each_requests_model(db):
    from analyzer.plans.catalogue import Limit

    add_request(db, "o", "2026-11-02T10:00:00.000Z", "claude-opus-4-5-20251101", inp=10, cr=100, cw=20, out=5)
    add_request(db, "h", "2026-11-02T10:01:00.000Z", "claude-haiku-4-5", inp=10, cr=100, cw=20, out=5)
    add_request(db, "s", "2026-11-02T10:02:00.000Z", "claude-sonnet-4-5-20250929", inp=10, cr=100, cw=20, out=5)
    add_request(db, "g", "2026-11-02T10:03:00.000Z", "gpt-5", inp=10, cr=100, cw=20, out=5)
    add_request(db, "n", "2026-11-02T10:04:00.000Z", None, inp=10, cr=100, cw=20, out=5)
    usage = load_usage(db, Filters(tz=UTC))
    credits = Limit(
        300,
        "credits",
        "stated",
        1000,
        weights={
            "claude-opus": {"input": 2, "cache_write": 2, "output": 10},
            "claude-haiku": {"input": 0.5, "output": 1},
            "*": {"input": 1, "cache_read": 0.1, "cache_write": 1, "output": 5},
        },
    )
    # opus 20 + 40 + 50; haiku 5 + 5; sonnet, gpt-5 and no model: 10 + 10 + 20 + 25
    assert usage["ledger"].quantities(credits)[1] == [110.0, 10.0, 65.0, 65.0, 65.0]
    claude_only = Limit(300, "tokens", "stated", 1000, weights={"claude": {"input": 1, "output": 1}})
    assert usage["ledger"].quantities(claude_only)[1] == [15.0, 15.0, 15.0, 0.0, 0.0]
    assert usage["ledger"].events.stamps == [f"2026-11-02T10:0{i}:00.000Z" for i in range(5)]


def test_plan_prices_are_resolved_once_until_a_source_changes(db, isolated_home, monkeypatch):
    add_request(db, "a", "2026-11-02T10:00:00.000Z", **TOKENS)
    first = compare(load_catalogue(), load_usage(db, Filters(tz=UTC)))
    calls = []
    original = pricing.resolve_all
    monkeypatch.setattr(pricing, "resolve_all", lambda model, src: calls.append(model) or original(model, src))
    again = compare(load_catalogue(), load_usage(db, Filters(tz=UTC)))
    assert calls == [] and again == first  # from the store, no price library
    write_config(isolated_home, "prices.toml", '[[price]]\nmatch = "kimi-k2.5"\ninput = 100.0\noutput = 100.0\n')
    changed = {r["plan"]: r for r in compare(load_catalogue(), load_usage(db, Filters(tz=UTC)))}
    assert "kimi-k2.5" in calls
    # Kimi plans are now valued at 100 / 100 per million: 10 x 100 + 1,000 x 100 (no cache-read price:
    # input) + 100 x 100 (openai mode: writes are input) + 5 x 100 = 0.1115 USD a request
    kimi = changed["kimi-andante"]
    assert kimi["value_basis"] == "kimi-k2.5 list price"
    assert kimi["api_value_usd_per_month"] == pytest.approx(round(kimi["per_month"]["requests"] * 0.1115, 2))


# --- smaller shortcuts ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2026-07-03T10:00:00.572Z", "2026-12-31T23:59:59.999Z", "2024-02-29T00:00:00.000Z"])
def test_stored_instants_parse_the_same_on_the_fast_path(text):
    fast = parse_iso(text)
    slow = parse_iso(f" {text} ")  # not the stored form: the general path
    assert fast == slow and fast.tzinfo == slow.tzinfo == UTC and format_utc(fast) == text


def test_a_second_ingest_reads_no_file_head_again(db, tmp_path, monkeypatch):
    home = tmp_path / "h"
    path = transcript_path(home)
    path.parent.mkdir(parents=True)
    path.write_bytes(turn(0) + turn(1))
    other = transcript_path(home, session="5e55e55e-0000-4000-8000-000000000002")
    other.write_bytes(turn(2, session="5e55e55e-0000-4000-8000-000000000002"))
    heads = []
    original = sources.read_head
    monkeypatch.setattr(sources, "read_head", lambda p, *a: heads.append(p) or original(p, *a))
    ingest_home(db, home)
    assert sorted(heads) == sorted([path, other])
    heads.clear()
    stats = ingest_home(db, home)
    assert heads == [] and stats.files == 2 and stats.files_read == 0
    with path.open("ab") as f:  # a known file that grew is still read
        f.write(turn(3))
    ingest_home(db, home)
    assert heads == []
    got = totals(db)
    expected = turn_totals(4)
    assert {k: got[k] for k in expected} == expected
