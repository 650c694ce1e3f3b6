"""The wheel, installed as a user installs it (no ``-e``), works from outside the checkout.

The wheel is built from this checkout and installed into a new virtual environment. Its
dependencies are the ones the test environment already has (a ``.pth`` file points the new
environment at them), so the test runs offline; the package itself comes only from the wheel.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from .import_graph import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        cwd=tmp,
    )
    (wheel,) = dist.glob("coding_plan_analyzer-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The test environment's packages, for the dependencies (its .pth files, among them the
    # editable install of this checkout, are not processed from there).
    Path(purelib, "test-environment-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
    )
    outside = tmp / "elsewhere"
    home = tmp / "home"
    outside.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ANALYZER_"))}
    env.update(HOME=str(home), ANALYZER_DB=str(tmp / "store" / "usage.db"), ANALYZER_LOAD_PLUGINS="")
    return {"wheel": wheel, "bin": venv / "bin", "python": python, "cwd": outside, "env": env, "store": tmp / "store"}


def test_the_wheel_installs_one_package_with_its_data(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert tops == {"analyzer"}
    assert "analyzer/parsers/claude_code.py" in names and "analyzer/plugins/datasette/__init__.py" in names
    assert "analyzer/pricing/prices.json" in names and "analyzer/plans/plans.json" in names
    assert any(n.startswith("analyzer/sample/home/.claude/projects/") for n in names)
    assert any(n.startswith("analyzer/sample/home/.local/share/opencode/") for n in names)
    assert not any("/generators/" in n for n in names)  # the sample's generators stay in the checkout


def test_start_sample_runs_from_the_wheel(installed):
    where = subprocess.run(
        [installed["python"], "-c", "import analyzer; print(analyzer.__file__)"],
        capture_output=True,
        text=True,
        cwd=installed["cwd"],
        env=installed["env"],
        check=True,
    ).stdout
    assert str(ROOT) not in where and "site-packages" in where
    done = subprocess.run(
        [installed["bin"] / "analyzer", "start", "--sample"],
        capture_output=True,
        text=True,
        cwd=installed["cwd"],
        env=installed["env"],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Total" in done.stdout and "claude-code" in done.stdout and "codex" in done.stdout
    assert "sample" in done.stderr


def test_serve_answers_on_localhost_from_the_wheel(installed):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [installed["bin"] / "analyzer", "serve", "--port", str(port)],
        cwd=installed["cwd"],
        env=installed["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json", timeout=2) as answer:
                    assert answer.status == 200
                    assert b"datasette" in answer.read()
                    break
            except OSError:
                assert server.poll() is None, server.communicate()[1].decode()
                assert time.monotonic() < deadline, "analyzer serve did not answer within 60 s"
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=10)
