"""A third-party parser works without a release, and a broken one stops nothing.

The example distribution in ``plugins/examples/analyzer-example-parser`` is
installed offline into a temporary folder, and the analyser runs in a
subprocess with that folder on PYTHONPATH and ANALYZER_LOAD_PLUGINS unset, as
an installed plugin would run: found through its ``analyzer`` entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES

EXAMPLE = FIXTURES.parent / "plugins" / "examples" / "analyzer-example-parser"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """The example plugin, pip-installed (offline) into a folder of its own."""
    work = tmp_path_factory.mktemp("example")
    source = work / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = work / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (
        "installing the example plugin failed; the test extra needs setuptools>=70.1 "
        f"(pip install -e '.[test]'):\n{done.stderr}"
    )
    assert list(site.glob("analyzer_example_parser-0.1.0.dist-info"))
    return site


def run_analyzer(args: list[str], *, home: Path, db: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ANALYZER_LOAD_PLUGINS"}
    env.update(HOME=str(home), ANALYZER_DB=str(db), PYTHONPATH=os.pathsep.join(str(p) for p in pythonpath))
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args], capture_output=True, text=True, env=env, timeout=120
    )


def totals(db: Path, agent: str) -> dict:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "select count(*), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens)"
            " from requests where agent = ?",
            [agent],
        ).fetchone()
        prompts = conn.execute("select count(*) from prompts where agent = ?", [agent]).fetchone()[0]
    finally:
        conn.close()
    names = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")
    return {**dict(zip(names, row)), "prompts": prompts}


def test_the_example_plugin_is_listed_and_reads_its_fixture(example_site, tmp_path):
    home = tmp_path / "h"
    shutil.copytree(EXAMPLE / "fixture" / "home", home)
    db = tmp_path / "usage.db"
    listed = run_analyzer(["plugins"], home=home, db=db, pythonpath=[example_site])
    assert listed.returncode == 0, listed.stderr
    plugins = json.loads(listed.stdout)
    assert [p["name"] for p in plugins] == ["example_parser"]
    assert plugins[0]["distribution"] == "analyzer-example-parser" and plugins[0]["version"] == "0.1.0"
    assert plugins[0]["hooks"] == ["register_parsers"] and "error" not in plugins[0]

    ingested = run_analyzer(["ingest"], home=home, db=db, pythonpath=[example_site])
    assert ingested.returncode == 0, ingested.stderr
    assert "3 new requests, 2 new prompts" in ingested.stderr
    expected = json.loads((EXAMPLE / "fixture" / "expected.json").read_text())
    got = totals(db, expected["agent"])
    assert got == {k: expected[k] for k in got}
    assert "1 unknown type" in ingested.stderr


def test_without_the_plugin_its_logs_are_not_read(tmp_path):
    home = tmp_path / "h"
    shutil.copytree(EXAMPLE / "fixture" / "home", home)
    db = tmp_path / "usage.db"
    done = run_analyzer(["ingest"], home=home, db=db, pythonpath=[])
    assert done.returncode == 0, done.stderr
    assert totals(db, "example-agent")["requests"] == 0


def write_distribution(site: Path, name: str, module: str, source: str) -> None:
    """An installed distribution as pip leaves one: a module and its .dist-info."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[analyzer]\n{module} = {module}\n")
    (info / "RECORD").write_text("")


def test_broken_plugins_are_reported_and_do_not_stop_ingest(example_site, tmp_path):
    broken = tmp_path / "broken-site"
    broken.mkdir()
    write_distribution(broken, "analyzer-needs-numpy", "needs_numpy", "import numpy_that_is_not_installed\n")
    write_distribution(
        broken,
        "analyzer-raises",
        "raises_on_register",
        "from analyzer.api import hookimpl\n\n@hookimpl\ndef register_parsers(register):\n"
        "    raise RuntimeError('cannot find my config')\n",
    )
    home = tmp_path / "h"
    shutil.copytree(EXAMPLE / "fixture" / "home", home)
    shutil.copytree(FIXTURES / "opencode" / "legacy-tree" / "home", home, dirs_exist_ok=True)
    db = tmp_path / "usage.db"
    path = [example_site, broken]

    listed = run_analyzer(["plugins"], home=home, db=db, pythonpath=path)
    assert listed.returncode == 0, listed.stderr
    by_name = {p["name"]: p for p in json.loads(listed.stdout)}
    assert set(by_name) == {"example_parser", "needs_numpy", "raises_on_register"}
    assert "ModuleNotFoundError" in by_name["needs_numpy"]["error"]
    assert by_name["needs_numpy"]["distribution"] == "analyzer-needs-numpy"
    assert "RuntimeError: cannot find my config" in by_name["raises_on_register"]["error"]
    assert "error" not in by_name["example_parser"]

    ingested = run_analyzer(["ingest"], home=home, db=db, pythonpath=path)
    assert ingested.returncode == 0, ingested.stderr
    assert "warning: plugin needs_numpy was skipped" in ingested.stderr
    assert "warning: plugin raises_on_register was skipped" in ingested.stderr
    assert totals(db, "example-agent")["requests"] == 3  # the working plugin still reads
    assert totals(db, "opencode")["requests"] == 4  # and the built-in parsers too
