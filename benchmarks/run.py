"""The benchmark suite: this tool against ccusage on one large generated corpus.

    python benchmarks/run.py [--size-mb 1024] [--seed 7] [--runs 3]

Generates (once, cached in ``benchmarks/.cache/``) a reproducible corpus of
Claude Code and Codex logs (``benchmarks/corpus.py``), installs ccusage from the
npm registry with its native package (once, cached), then measures in one run:

* the first ingest (wall time, MB/s, requests/s, peak memory of the process
  and its workers), a second ingest with nothing new, and one after 1 % more
  log lines were appended;
* ``report daily``, ``report blocks``, ``stats`` and ``infer-limit`` on the
  full store;
* ``ccusage daily --json --offline`` on the same files: the baseline. Every
  figure is printed with its ratio to it (below 1 means faster than ccusage),
  and both tools' token totals side by side with the corpus's true totals.

Each command runs as a separate process, as a user would run it; timings are
medians over ``--runs`` runs (the first ingest runs once, on a fresh store).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
CCUSAGE_VERSION = "20.0.24"
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402

MEASURE = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter(); p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
    "dt = time.perf_counter() - t\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "sys.stderr.write(p.stderr.decode(errors='replace'))\n"
    "sys.stdout.write(f'{dt} {rss} {p.returncode}\\n' + p.stdout.decode(errors='replace'))\n"
)


def measure(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Run ``cmd`` in a fresh process: (seconds, peak RSS in MB of it and its children, stdout)."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], env=env, capture_output=True, text=True)
    first, _, rest = out.stdout.partition("\n")
    seconds, rss_kb, code = first.split()
    if code != "0":
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{out.stderr[-2000:]}")
    rss_mb = int(rss_kb) / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return float(seconds), rss_mb, rest


def ccusage_binary() -> Path:
    target = CACHE / f"ccusage-{CCUSAGE_VERSION}"
    binary = target / "node_modules" / ".bin" / "ccusage"
    if binary.exists():
        return binary
    if not shutil.which("npm"):
        raise SystemExit("npm is needed to install the ccusage baseline (Node.js 20+); install it and run again")
    target.mkdir(parents=True, exist_ok=True)
    native = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), "linux")
    arch = {"x86_64": "x64", "AMD64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x64")
    subprocess.run(["npm", "init", "-y"], cwd=target, check=True, capture_output=True)
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            f"ccusage@{CCUSAGE_VERSION}",
            f"@ccusage/ccusage-{native}-{arch}@{CCUSAGE_VERSION}",
        ],
        cwd=target,
        check=True,
    )
    return binary


def corpus_dir(size_mb: float, seed: int) -> Path:
    where = CACHE / f"corpus-{size_mb:g}mb-seed{seed}"
    if not (where / "expected.json").exists():
        shutil.rmtree(where, ignore_errors=True)
        where.mkdir(parents=True)
        print(f"Generating a {size_mb:g} MB corpus in {where} ...", file=sys.stderr)
        corpus.generate(where, size_mb, seed, codex_share=0.25)
    return where


def append_one_percent(home: Path, seed: int) -> int:
    """Append to the newest files about 1 % of the corpus's bytes, in their own format."""
    files = sorted(home.rglob("*.jsonl"), key=lambda p: p.stat().st_size)
    total = sum(p.stat().st_size for p in files)
    budget = total // 100
    added = 0
    for path in reversed(files):
        lines = path.read_bytes().splitlines(keepends=True)
        tail = b"".join(lines[-max(1, len(lines) // 10) :])
        # Re-appending a file's own last lines: new bytes to read, and (since the
        # records repeat) nothing that changes the totals.
        with path.open("ab") as f:
            f.write(tail)
        added += len(tail)
        if added >= budget:
            break
    return added


def totals_ours(db: Path, env: dict) -> dict:
    _, _, out = measure([sys.executable, "-m", "analyzer", "report", "daily", "--json", "--db", str(db)], env)
    rows = json.loads(out)
    return {
        k: sum(r[k] for r in rows) for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark analyzer against ccusage on a generated corpus.")
    parser.add_argument("--size-mb", type=float, default=1024)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-ccusage", action="store_true", help="Measure this tool only (no baseline ratios).")
    args = parser.parse_args()

    where = corpus_dir(args.size_mb, args.seed)
    expected = json.loads((where / "expected.json").read_text())
    work = Path(tempfile.mkdtemp(prefix="analyzer-bench-"))
    home = work / "home"
    shutil.copytree(where / "home", home)  # the 1 % append must not touch the cached corpus
    size = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
    db = work / "bench.db"
    env = {k: v for k, v in os.environ.items() if k not in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "ANALYZER_DB")}
    env.update(HOME=str(home), ANALYZER_LOAD_PLUGINS="")
    ours = [sys.executable, "-m", "analyzer"]
    rows: list[tuple[str, float, float | None, str]] = []

    base = None
    cc_totals = None
    if not args.skip_ccusage:
        binary = ccusage_binary()
        runs = [measure([str(binary), "daily", "--json", "--offline"], env) for _ in range(args.runs)]
        base = statistics.median(r[0] for r in runs)
        cc_rss = max(r[1] for r in runs)
        cc = json.loads(runs[-1][2])["totals"]
        cc_totals = {
            "input_tokens": cc["inputTokens"],
            "cache_read_tokens": cc["cacheReadTokens"],
            "cache_write_tokens": cc["cacheCreationTokens"],
            "output_tokens": cc["outputTokens"],
        }

    t, rss, out = measure([*ours, "ingest", "--db", str(db)], env)
    requests = sum(v["requests"] for k, v in expected.items() if isinstance(v, dict))
    rows.append(("first ingest (s)", t, base, f"{size / 1e6 / t:.0f} MB/s, {requests / t:,.0f} requests/s"))
    rows.append(("first ingest peak memory (MB)", rss, cc_rss if base else None, "incl. worker processes"))
    ours_totals = totals_ours(db, env)

    t = statistics.median(measure([*ours, "ingest", "--db", str(db)], env)[0] for _ in range(args.runs))
    rows.append(("ingest, nothing new (s)", t, base, ""))
    added = append_one_percent(home, args.seed)
    t, _, _ = measure([*ours, "ingest", "--db", str(db)], env)
    rows.append(("ingest after +1 % (s)", t, base, f"{added / 1e6:.1f} MB appended"))
    if cc_totals is not None:
        runs = [measure([str(binary), "daily", "--json", "--offline"], env) for _ in range(args.runs)]
        rows.append(("ccusage after +1 % (s)", statistics.median(r[0] for r in runs), base, "the baseline, re-run"))

    commands = [
        ("report daily", ["report", "daily", "--json"]),
        ("report blocks", ["report", "blocks", "--json"]),
        ("stats", ["stats", "--json"]),
        ("infer-limit", ["infer-limit", "--json"]),
    ]
    for label, cmd in commands:
        try:
            t = statistics.median(measure([*ours, *cmd, "--db", str(db)], env)[0] for _ in range(args.runs))
        except SystemExit as exc:
            print(f"skipping {label}: {exc}", file=sys.stderr)
            continue
        rows.append((f"{label} (s)", t, base, ""))

    print(
        f"\nCorpus: {size / 1e6:,.0f} MB, {requests:,} requests (seed {args.seed}); "
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()}"
    )
    if base:
        print(
            f"Baseline: ccusage {CCUSAGE_VERSION} `daily --json --offline`, full run {base:.2f} s, "
            f"peak memory {cc_rss:.0f} MB\n"
        )
    print(f"{'Figure':<32} {'analyzer':>10} {'ccusage':>10} {'ratio':>8}  note")
    for label, value, baseline, note in rows:
        ratio = f"{value / baseline:.2f}x" if baseline else "-"
        print(
            f"{label:<32} {value:>10.2f} {baseline if baseline is not None else float('nan'):>10.2f} {ratio:>8}  {note}"
        )
    truth = {"input_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0, "output_tokens": 0}
    for agent in ("claude-code", "codex"):
        for k in truth:
            truth[k] += expected[agent][k]
    print(f"\n{'Totals (before the +1 %)':<26} {'true':>16} {'analyzer':>16} {'ccusage':>16}")
    for k in truth:
        cc_value = f"{cc_totals[k]:>16,}" if cc_totals else f"{'-':>16}"
        print(f"{k:<26} {truth[k]:>16,} {ours_totals[k]:>16,} {cc_value}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
