"""How often infer-limit recovers a simulated plan's hidden rule, over many seeds.

    python benchmarks/infer_accuracy.py [--seeds 1-30] [--scenario NAME ...]

For every scenario of ``analyzer.simulate.scenarios`` and every seed, simulate
the person and the plan, ingest the logs with the real parsers, infer, and
check each window against the truth: the quantity chosen, the limit's error
(3% allowed with readings, 10% with limit hits only), whether the truth lies in
the reported interval, and (for the limit cut) whether the change is placed
within a day. Prints one line per miss and a table per scenario; the test
suite checks two seeds, this checks as many as asked.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("ANALYZER_LOAD_PLUGINS", "")

from analyzer.contract.timeutil import parse_iso  # noqa: E402
from analyzer.inference import infer  # noqa: E402
from analyzer.simulate import simulate  # noqa: E402
from analyzer.simulate.scenarios import CHANGE_AT, all_scenarios  # noqa: E402
from analyzer.store import database as store  # noqa: E402


def expected_limit(truth: dict, estimate: dict) -> float:
    """The true current limit in the estimate's unit (weighted sums: tokens of the class weighted 1)."""
    limit = truth["limits"][-1][1]
    if truth["quantity"] != "tokens":
        return limit
    ref = next((n for n, w in (estimate.get("weights") or {}).items() if w == 1.0), None)
    if ref and truth["weights"].get(ref):
        limit /= truth["weights"][ref]
    if truth.get("models") and estimate.get("model_weights"):
        main = next(m for m, w in estimate["model_weights"].items() if w == 1.0)
        limit /= truth["models"][main]
    return limit


def check(scenario, estimate: dict | None, truth: dict) -> tuple[list[str], float | None]:
    if not estimate or estimate["method"] != "inferred":
        return ["not inferred"], None
    problems = []
    limit = expected_limit(truth, estimate)
    error = estimate["limit"] / limit - 1
    if estimate["candidate"] != truth["candidate"]:
        problems.append(f"quantity {estimate['candidate']}")
    if abs(error) > (0.10 if not scenario.readings else 0.03):
        problems.append(f"error {error:+.3f}")
    low, high = estimate["low"], estimate["high"] if estimate["high"] is not None else float("inf")
    if not low <= limit <= high:
        problems.append(f"truth outside [{low / limit - 1:+.3f}, {high / limit - 1:+.3f}]")
    if truth.get("change_at"):
        segments = estimate["segments"]
        if len(segments) != 2:
            problems.append(f"{len(segments)} segments")
        elif abs(parse_iso(segments[1]["changed_at"]).replace(tzinfo=None) - CHANGE_AT) > timedelta(days=1):
            problems.append(f"change placed at {segments[1]['changed_at']}")
    return problems, error


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1-30", help="a range, e.g. 1-30")
    parser.add_argument("--scenario", action="append", help="only these scenarios")
    args = parser.parse_args(argv)
    first, _, last = args.seeds.partition("-")
    seeds = range(int(first), int(last or first) + 1)
    tally: dict[str, list] = defaultdict(list)
    for seed in seeds:
        for scenario in all_scenarios(seed):
            if args.scenario and scenario.name not in args.scenario:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                result = simulate(scenario, Path(tmp) / "home")
                db = store.open_db(Path(tmp) / "usage.db")
                result.load(db)
                estimates = {e["window_minutes"]: e for e in infer(db)}
                db.conn.close()
            for minutes, truth in scenario.truth.items():
                problems, error = check(scenario, estimates.get(minutes), truth)
                tally[f"{scenario.name} {minutes}"].append((not problems, error))
                if problems:
                    print(f"seed {seed} {scenario.name} {minutes}: {'; '.join(problems)}")
    print(f"\n{'scenario window':<24} {'runs':>5} {'right':>6} {'median |error|':>15} {'worst |error|':>14}")
    for name, runs in sorted(tally.items()):
        errors = [abs(e) for _, e in runs if e is not None]
        print(
            f"{name:<24} {len(runs):>5} {sum(ok for ok, _ in runs):>6} "
            f"{statistics.median(errors) if errors else float('nan'):>15.2%} {max(errors, default=float('nan')):>14.2%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
