"""How long every report takes on a large store, and (with ``--against``) that it prints the same.

    python benchmarks/reports.py [--size-mb 1024] [--seed 7] [--runs 5] [--against /path/to/other/checkout]

Generates the corpus once (``benchmarks/corpus.py``, cached in ``benchmarks/.cache/``
as ``run.py`` does), ingests it once per checkout into a cached store, then times
each command on a fresh copy of that store:

* as a user runs it: a separate process, median of ``--runs`` (the first run,
  which may still store costs or resolve prices, is reported apart);
* in-process: the command called again in one warm process (start-up excluded),
  with the clock fixed just after the corpus's last request so that ``status``
  and the active windows have something to show.

Every figure is also given as a ratio to baselines measured in the same run:
``analyzer --help`` (start-up) for the separate processes, a bare scan of every
request (a count and a token sum) for in-process figures, and ccusage's full
run (``ccusage daily --json --offline``, between the commands) when its cached
install is there. Checkouts take turns run by run, so a change of load on a
shared machine hits them alike.
The sources are compiled to bytecode first (``compileall``), as an installed
package is.

With ``--against`` (another checkout of the project, e.g. ``main``), the same
commands run with that code on its own store, and the JSON each prints in-process
is compared with this checkout's: any difference is listed. The machine may be
shared: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (corpus cache and ccusage install of the main benchmark)

# The in-process baseline: reading every request once, as plainly as SQLite can.
SCAN = "select count(*), sum(input_tokens + cache_read_tokens + cache_write_tokens + output_tokens) from requests"

COMMANDS = [
    ["report", "daily", "--json"],
    ["report", "weekly", "--json"],
    ["report", "weekly", "--calendar", "--json"],
    ["report", "monthly", "--json"],
    ["report", "session", "--json"],
    ["report", "blocks", "--json"],
    ["report", "prompts", "--json"],
    ["report", "limits", "--json"],
    ["stats", "--json"],
    ["cost", "--json"],
    ["status", "--json"],
    ["compare-plans", "--json"],
    ["infer-limit", "--json"],
]

# Runs inside a child process with the checkout under test first on sys.path:
# times each command in-process (CliRunner) with a fixed clock and prints JSON.
CHILD = r"""
import json, statistics, sys, time
from datetime import datetime, timedelta
db, now_text, runs, commands, SCAN = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
from click.testing import CliRunner
try:
    from analyzer.contract import timeutil
except ImportError:  # a checkout from before the package was grouped into rooms
    from analyzer import timeutil
from analyzer.cli import cli
now = datetime.fromisoformat(now_text)
timeutil.now_utc = lambda: now
for name in ("analyzer.windows.usage", "analyzer.reports.status", "analyzer.reports.usage",
             "analyzer.windows", "analyzer.status", "analyzer.reports"):
    try:
        module = __import__(name, fromlist=["x"])
        if hasattr(module, "now_utc"):
            module.now_utc = lambda: now
    except ImportError:
        pass
runner = CliRunner()
out = {}
import sqlite3
conn = sqlite3.connect(db)
base = []
for _ in range(max(runs, 5)):
    t = time.perf_counter(); conn.execute(SCAN).fetchone(); base.append(time.perf_counter() - t)
out["baseline"] = statistics.median(base)
conn.close()
for cmd in commands:
    args = [*cmd, "--db", db]
    first = runner.invoke(cli, args)
    if first.exit_code != 0:
        out[" ".join(cmd)] = {"error": (first.output or repr(first.exception))[-500:]}
        continue
    times = []
    for _ in range(runs):
        t = time.perf_counter(); res = runner.invoke(cli, args); times.append(time.perf_counter() - t)
    out[" ".join(cmd)] = {"seconds": statistics.median(times), "output": res.output}
print(json.dumps(out))
"""


def child_env(code: Path, home: Path) -> dict:
    # An installed package runs from bytecode (pip compiles it): measure that, not compiling the
    # sources on every run, which PYTHONDONTWRITEBYTECODE would force (see compile_sources).
    drop = ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "ANALYZER_DB", "TZ", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(HOME=str(home), ANALYZER_LOAD_PLUGINS="", PYTHONPATH=str(code), TZ="UTC")
    return env


def compile_sources(code: Path) -> None:
    for package in ("analyzer", "parsers", "plugins"):
        if (code / package).is_dir():
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(code / package)], check=True)


def timed(cmd: list[str], env: dict, cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def code_stamp(code: Path) -> str:
    """A fingerprint of a checkout's sources: its store is ingested again whenever they change."""
    h = hashlib.sha1()
    for package in ("analyzer", "parsers", "plugins"):
        for file in sorted((code / package).rglob("*.py")):
            h.update(str(file.relative_to(code)).encode() + b"\0" + file.read_bytes())
    return h.hexdigest()[:10]


def cached_store(code: Path, label: str, corpus: Path, size_mb: float, seed: int) -> Path:
    """The corpus ingested once by ``code`` (a store per checkout and version of its sources)."""
    stem = f"store-{size_mb:g}mb-seed{seed}-{label}-"
    path = run.CACHE / f"{stem}{code_stamp(code)}.db"
    if not path.exists():
        for old in run.CACHE.glob(f"{stem}*.db"):  # this script's own store of older sources
            old.unlink()
        print(f"Ingesting the corpus with {code} into {path} ...", file=sys.stderr)
        tmp = path.with_suffix(".tmp.db")
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            p.unlink(missing_ok=True)
        env = child_env(code, corpus / "home")
        subprocess.run([sys.executable, "-m", "analyzer", "ingest", "--db", str(tmp)], env=env, cwd=code, check=True)
        sqlite3.connect(tmp).execute("pragma wal_checkpoint(truncate)").fetchall()
        tmp.rename(path)
    return path


def fresh_copy(store: Path, work: Path, name: str) -> Path:
    target = work / name
    shutil.copyfile(store, target)
    return target


def last_request(db: Path) -> str:
    return sqlite3.connect(db).execute("select max(ts) from requests").fetchone()[0]


class Checkout:
    """A checkout under test: its code, a fresh copy of its store, the environment it runs in."""

    def __init__(self, code: Path, label: str, store: Path, work: Path):
        self.code, self.label = code, label
        self.db = fresh_copy(store, work, f"{label}.db")
        (work / "empty-home").mkdir(exist_ok=True)
        self.env = child_env(code, work / "empty-home")

    def run(self, args: list[str], env: dict | None = None) -> float:
        return timed([sys.executable, "-m", "analyzer", *args], env or self.env, self.code)


def measure(
    checkouts: list[Checkout], corpus: Path, now: str, runs: int, commands: list[list[str]], ccusage: Path | None
) -> tuple[dict, float | None]:
    """Every command as a separate process, the checkouts taking turns run by run (so that a change
    of load hits them alike), ccusage once between commands; then in-process in one warm child each."""
    results: dict = {c.label: {} for c in checkouts}
    cc_env = child_env(checkouts[0].code, corpus / "home")
    cc_runs: list[float] = []

    def baseline() -> None:
        if ccusage is not None:
            cc_runs.append(timed([str(ccusage), "daily", "--json", "--offline"], cc_env, checkouts[0].code))

    steps = [("help", ["--help"], None, False)]
    steps += [(" ".join(cmd), [*cmd], None, True) for cmd in commands]
    steps += [("ingest, nothing new", ["ingest"], corpus / "home", False)]
    for name, args, home, with_db in steps:
        baseline()
        samples: dict[str, list[float]] = {c.label: [] for c in checkouts}
        failed: set[str] = set()
        for _ in range(runs + 1):  # the first run of each apart: it may still store costs or resolve prices
            for c in checkouts:
                if c.label in failed:
                    continue
                env = child_env(c.code, home) if home else None
                try:
                    samples[c.label].append(c.run([*args, "--db", str(c.db)] if with_db or home else args, env))
                except subprocess.CalledProcessError:
                    failed.add(c.label)
        for c in checkouts:
            if c.label in failed:
                results[c.label][name] = {"error": "failed (not in this checkout?)"}
            else:
                first, *rest = samples[c.label]
                results[c.label][name] = {"first": first, "process": statistics.median(rest)}
    baseline()
    for c in checkouts:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(c.db), now, str(runs), json.dumps(commands), SCAN],
            env=c.env,
            cwd=c.code,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise SystemExit(f"in-process run with {c.code} failed:\n{out.stderr[-3000:]}")
        inproc = json.loads(out.stdout.splitlines()[-1])
        results[c.label]["scan"] = inproc.pop("baseline")
        for name, value in inproc.items():
            if name in results[c.label] and "error" not in results[c.label][name]:
                results[c.label][name].update(value)
    return results, (statistics.median(cc_runs) if cc_runs else None)


def differences(a, b, path: str = "") -> list[tuple[str, str]]:
    """Where two JSON values differ, each as (kind, description). Kinds: ``tie``, a cost rounded
    to 6 decimals one unit apart (its exact value is half-way between: the float sum lands either
    side depending on the order of the additions); ``noise``, an unrounded number apart by less
    than 1e-12 of itself; ``real``, anything else."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(("real", f"{path}.{key}: only in {'this' if key in a else 'the other'} checkout"))
            else:
                out.extend(differences(a[key], b[key], f"{path}.{key}"))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [("real", f"{path}: {len(a)} items, the other {len(b)}")]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if a == b and type(a) is type(b):
        return []
    what = f"{path}: {a!r} vs {b!r}"
    if isinstance(a, float) and isinstance(b, float):
        if "cost" in path and abs(a - b) <= 1.000001e-6 and round(a, 6) == a and round(b, 6) == b:
            return [("tie", what)]
        if abs(a - b) <= 1e-12 * max(abs(a), abs(b)):
            return [("noise", what)]
    return [("real", what)]


def verdict(diffs: list[tuple[str, str]]) -> str:
    if not diffs:
        return "yes"
    kinds = {k: sum(1 for d in diffs if d[0] == k) for k in ("real", "tie", "noise")}
    real = [d[1] for d in diffs if d[0] == "real"]
    text = "NO: " if real else "yes, but "
    text += ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
    return text + (f", e.g. {real[:2]}" if real else f", e.g. {diffs[0][1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Time every report on a large store; compare with another checkout.")
    parser.add_argument("--size-mb", type=float, default=1024)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--against", type=Path, help="Another checkout to time and compare outputs with.")
    parser.add_argument("--only", action="append", help="Only commands starting with this (repeat).")
    args = parser.parse_args()

    commands = [c for c in COMMANDS if not args.only or any(" ".join(c).startswith(o) for o in args.only)]
    corpus = run.corpus_dir(args.size_mb, args.seed)
    expected = json.loads((corpus / "expected.json").read_text())
    requests = sum(v["requests"] for v in expected.values() if isinstance(v, dict))
    checkouts = [(ROOT, "current")]
    if args.against:
        other = args.against.resolve()
        checkouts.append((other, "other-" + hashlib.sha1(str(other).encode()).hexdigest()[:8]))
    for code, _ in checkouts:
        compile_sources(code)
    stores = {label: cached_store(code, label, corpus, args.size_mb, args.seed) for code, label in checkouts}
    now = last_request(stores["current"])  # the clock of in-process runs: half an hour after the last request
    now = (datetime.fromisoformat(now.replace("Z", "+00:00")) + timedelta(minutes=30)).isoformat()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="analyzer-reports-bench-"))
    try:
        binary = run.CACHE / f"ccusage-{run.CCUSAGE_VERSION}" / "node_modules" / ".bin" / "ccusage"
        checkouts_ = [Checkout(code, label, stores[label], work) for code, label in checkouts]
        results, cc = measure(checkouts_, corpus, now, args.runs, commands, binary if binary.exists() else None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()

    cur = results["current"]
    other = results.get(checkouts[1][1]) if len(checkouts) > 1 else None
    print(
        f"\nCorpus {expected['bytes'] / 1e6:,.0f} MB, {requests:,} requests (seed {args.seed}); {os.cpu_count()} cores;"
        f" load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; medians of {args.runs} runs"
    )
    print(
        f"Baselines: `analyzer --help` {cur['help']['process']:.3f} s; a bare scan of every request in-process"
        f" ({SCAN}) {cur['scan'] * 1000:.1f} ms"
        + (f"; ccusage daily --json --offline {cc:.2f} s" if cc else "; ccusage not installed (run.py installs it)")
    )
    head = f"{'command':<30} {'process s':>9} {'x --help':>8} {'first s':>8} {'in-proc ms':>10} {'x scan':>6}"
    if cc:
        head += f" {'vs ccusage':>10}"
    if other:
        head += f" {'other s':>8} {'other ms':>9} {'speed-up':>8}  same output"
    print(head)
    for name in ["ingest, nothing new"] + [" ".join(c) for c in commands]:
        r = cur.get(name, {})
        if "error" in r:
            print(f"{name:<30} {r['error']}")
            continue
        line = f"{name:<30} {r['process']:>9.3f} {r['process'] / cur['help']['process']:>8.1f}"
        line += f" {r['first']:>8.3f}" if "first" in r else f" {'':>8}"
        line += (
            f" {r['seconds'] * 1000:>10.1f} {r['seconds'] / cur['scan']:>6.1f}"
            if "seconds" in r
            else f" {'':>10} {'':>6}"
        )
        if cc:
            line += f" {cc / r['process']:>9.1f}x"
        if other:
            o = other.get(name, {})
            if "process" in o:
                line += f" {o['process']:>8.3f}"
                line += f" {o['seconds'] * 1000:>9.1f}" if "seconds" in o else f" {'':>9}"
                line += f" {o['process'] / r['process']:>7.1f}x"
                if "output" in r and "output" in o:
                    line += "  " + verdict(differences(json.loads(r["output"]), json.loads(o["output"])))
            else:
                line += f" {o.get('error', '-'):>8}"
        print(line)
    if cc:
        print("vs ccusage: how many times faster than ccusage's full run (the goal is 10x or more).")
    if other:
        print(
            "same output: the JSON printed in-process, compared with the other checkout's. tie: a cost whose exact"
            " value is half-way at the 6th decimal, rounded the other way; noise: a difference below 1e-12."
        )


if __name__ == "__main__":
    main()
