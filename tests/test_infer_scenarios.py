"""infer-limit on simulated plans whose rule is known: each scenario writes Claude Code logs (read by the real
parser) and the plan's readings or refusals, and the inference must recover the hidden rule."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from analyzer.contract.timeutil import parse_iso
from analyzer.inference import infer
from analyzer.simulate import simulate
from analyzer.simulate.scenarios import CHANGE_AT, by_name
from analyzer.store import database as store

SEEDS = (1, 2)
WITH_READINGS = ("token-plan", "request-plan", "prompt-plan", "credit-plan", "limit-cut", "other-device", "codex-plan")
_runs: dict = {}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(scenario, sim result, estimates by window minutes), computed once per scenario and seed."""

    def get(name: str, seed: int = 1):
        if (name, seed) not in _runs:
            folder = tmp_path_factory.mktemp(f"{name}-{seed}")
            scenario = by_name(name, seed)
            result = simulate(scenario, folder / "home")
            db = store.open_db(folder / "usage.db")
            result.load(db)
            estimates = {e["window_minutes"]: e for e in infer(db)}
            _runs[(name, seed)] = (scenario, result, estimates, folder / "usage.db")
        return _runs[(name, seed)]

    old = os.environ.get("ANALYZER_LOAD_PLUGINS")
    os.environ["ANALYZER_LOAD_PLUGINS"] = ""
    yield get
    if old is None:
        os.environ.pop("ANALYZER_LOAD_PLUGINS", None)
    else:
        os.environ["ANALYZER_LOAD_PLUGINS"] = old


def _current(truth: dict) -> float:
    return truth["limits"][-1][1]


def _expected_limit(truth: dict, estimate: dict) -> float:
    """The true limit in the estimate's unit (for weighted sums: tokens of the class weighted 1)."""
    if truth["quantity"] != "tokens":
        return _current(truth)
    ref = next(name for name, w in estimate["weights"].items() if w == 1.0)
    rate = 1.0
    if truth.get("models"):  # per-model weights are stated against the model used most
        main = next(m for m, w in estimate["model_weights"].items() if w == 1.0)
        rate = truth["models"][main]
    return _current(truth) / (truth["weights"][ref] * rate)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", WITH_READINGS)
def test_readings_reveal_the_hidden_quantity_and_limit(run, name, seed):
    scenario, _, estimates, _ = run(name, seed)
    assert set(estimates) == set(scenario.truth)
    for minutes, truth in scenario.truth.items():
        e = estimates[minutes]
        assert e["method"] == "inferred", e["summary"]
        assert e["quantity"] == truth["quantity"], e["summary"]
        assert e["candidate"] == truth["candidate"], e["summary"]
        expected = _expected_limit(truth, e)
        assert abs(e["limit"] / expected - 1) <= 0.03, (minutes, e["limit"], expected, e["summary"])
        assert e["low"] <= expected <= e["high"], (minutes, e["low"], expected, e["high"])


@pytest.mark.parametrize("seed", SEEDS)
def test_credit_plan_weights_output_five_times_input_and_models_apart(run, seed):
    scenario, _, estimates, _ = run("credit-plan", seed)
    for minutes, truth in scenario.truth.items():
        e = estimates[minutes]
        w, tw = e["weights"], truth["weights"]
        assert w["cache_read"] == 0.0 and w["cache_write"] == 0.0
        assert abs((w["output"] / w["input"]) / (tw["output"] / tw["input"]) - 1) < 0.10
        main = next(m for m, w in e["model_weights"].items() if w == 1.0)
        for model, multiplier in truth["models"].items():
            expected = multiplier / truth["models"][main]
            assert abs(e["model_weights"][model] / expected - 1) < 0.05, (model, e["model_weights"])


@pytest.mark.parametrize("seed", SEEDS)
def test_limit_cut_to_a_third_is_found_within_a_day(run, seed):
    scenario, _, estimates, _ = run("limit-cut", seed)
    for minutes, truth in scenario.truth.items():
        segments = estimates[minutes]["segments"]
        assert len(segments) == 2, segments
        changed = parse_iso(segments[1]["changed_at"]).replace(tzinfo=None)
        assert abs(changed - CHANGE_AT) <= timedelta(days=1), (minutes, changed)
        before = truth["limits"][0][1]
        assert abs(segments[0]["limit"] / before - 1) <= 0.03
        assert segments[0]["low"] <= before <= segments[0]["high"]
        assert "limit changed around" in estimates[minutes]["summary"]


@pytest.mark.parametrize("seed", SEEDS)
def test_usage_from_another_device_is_reported_not_counted(run, seed):
    _, result, estimates, _ = run("other-device", seed)
    assert 0.10 <= result.stats[300]["other_device_share"] <= 0.25  # the scenario is what it says
    weekly = estimates[10080]
    assert weekly["unexplained"]["share"] >= 0.05
    assert weekly["unexplained"]["jumps"] >= 1
    assert "other devices" in weekly["summary"]


@pytest.mark.parametrize("seed", SEEDS)
def test_limit_hits_alone_give_the_limit_within_ten_percent(run, seed):
    scenario, result, estimates, _ = run("hits-only", seed)
    truth = scenario.truth[300]
    e = estimates[300]
    assert result.hits >= 3 and not result.readings
    assert e["method"] == "inferred" and e["evidence"]["readings"] == 0
    assert e["evidence"]["hits"] == result.hits
    assert e["candidate"] == "requests"
    assert abs(e["limit"] / _current(truth) - 1) <= 0.10
    assert e["low"] <= _current(truth) <= e["high"]


def test_rounding_step_is_read_from_the_readings(run):
    assert run("token-plan")[2][300]["evidence"]["rounding_step_pp"] == 1.0
    assert run("request-plan")[2][300]["evidence"]["rounding_step_pp"] == 0.01


def test_readings_written_into_the_log_are_used(run):
    """The limit-cut scenario's readings are /usage reports in the transcript, read by the Claude Code parser."""
    _, result, estimates, db_path = run("limit-cut")
    assert not result.readings
    db = store.open_db(db_path)
    assert db.execute("select count(*) from quota_readings where source = 'log'").fetchone()[0] > 100
    assert estimates[300]["evidence"]["readings"] > 100


def test_codex_rollouts_carry_their_own_readings(run):
    """The Codex scenario's readings are the rate limits inside the rollouts, read by the Codex parser."""
    _, result, estimates, db_path = run("codex-plan")
    assert not result.readings
    db = store.open_db(db_path)
    assert (
        db.execute("select count(*) from quota_readings where agent = 'codex' and plan_type = 'plus'").fetchone()[0]
        > 500
    )
    assert {e["agent"] for e in estimates.values()} == {"codex"} and estimates[300]["plan"] == "plus"
    assert estimates[300]["evidence"]["readings_used"] < estimates[300]["evidence"]["readings"]
