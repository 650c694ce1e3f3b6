"""End to end in a real headless Chromium: `analyzer start --sample`, `analyzer serve`, every chart drawn.

Uses Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) driven by Playwright with
its own launch (never `playwright install`). Fails on any JavaScript error, any
failed request, and any request that leaves 127.0.0.1 (Vega and Vega-Lite must
be served locally). Set ANALYZER_SCREENSHOT=path to keep a picture of the page.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHARTS = ("windows", "readings", "cache", "fanout", "cost-by-model")
METRICS = ("prompts", "requests", "tokens", "cache-ratio", "cost")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def analyzer(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def served(tmp_path, isolated_home):
    """`analyzer start --sample` in a clean HOME, then `analyzer serve` on a free port."""
    env = {**os.environ, "HOME": str(isolated_home), "ANALYZER_DB": str(tmp_path / "store" / "usage.db")}
    started = analyzer("start", "--sample", env=env)
    assert started.returncode == 0, started.stderr
    sample = tmp_path / "store" / "sample.db"
    assert sample.exists(), started.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "serve", "--db", str(sample), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/-/versions.json", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"analyzer serve did not start: {server.stdout.read()}") from None
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def fetch(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_dashboard_draws_every_chart_in_chromium(served, tmp_path):
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1300},
        )
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: problems.append(f"JavaScript error: {exc}"))
            page.on("console", lambda m: problems.append(f"console error: {m.text}") if m.type == "error" else None)
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
            page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
            page.on(
                "request",
                lambda r: (
                    problems.append(f"left the machine: {r.url}")
                    if not r.url.startswith(("http://127.0.0.1:", "data:", "blob:"))
                    else None
                ),
            )
            page.goto(f"{served}/-/dashboards/sample?plan=claude-max-5x", wait_until="networkidle")
            for slug in CHARTS:  # vega-embed has drawn the view: an SVG or canvas with marks in it
                page.wait_for_selector(
                    f"#chart-{slug}.vega-embed svg.marks .mark-group", state="attached", timeout=30000
                )
            drawn = page.evaluate("""() => Array.from(document.querySelectorAll('.vega-embed svg.marks'))
                .filter(e => e.getBoundingClientRect().width > 100 && e.getBoundingClientRect().height > 50).length""")
            assert drawn == len(CHARTS)
            windows = fetch(f"{served}/sample/windows_5h.json?_shape=array&plan=claude-max-5x")
            limited = [w for w in windows if w["limit"] is not None]
            assert len(windows) >= 10 and limited  # Claude Max 5x applies to the sample's Claude Code windows
            bars = page.locator("#chart-windows svg.marks .mark-rect path")
            assert bars.count() == len(windows) + len(limited)  # a bar per window, a tick per known limit
            for slug in METRICS:
                text = page.locator(f"#chart-{slug}").inner_text().strip()
                assert text and text != "undefined", slug
            summary = fetch(f"{served}/sample/usage_summary.json?_shape=array")[0]
            assert summary["requests"] > 0
            assert page.locator("#chart-requests").inner_text().strip() == str(summary["requests"])
            assert page.locator("#chart-prompts").inner_text().strip() == str(summary["prompts"])
            if os.environ.get("ANALYZER_SCREENSHOT"):
                page.screenshot(path=os.environ["ANALYZER_SCREENSHOT"], full_page=True)
            # the canned queries' pages load too
            page.goto(f"{served}/sample/windows_5h?plan=claude-max-5x", wait_until="networkidle")
            assert page.locator("table.rows-and-columns tbody tr").count() == len(windows)
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
