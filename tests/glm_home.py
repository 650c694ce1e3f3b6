"""A HOME where one GLM Coding Plan is spent from Claude Code and OpenCode (the simulator), and its halves."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

from analyzer.simulate import SimResult, simulate
from analyzer.simulate.shared import glm_two_agents

LIMIT = 60.0  # the plan's hidden limit: requests per 5 hours


@cache
def glm_home(root: Path, seed: int) -> SimResult:
    """The simulated HOME (both agents' logs) under ``root``; the truth is in ``result.scenario``."""
    scenario, writer = glm_two_agents(seed, LIMIT)
    return simulate(scenario, root / f"glm-{seed}" / "home", writer)


def halves(root: Path, seed: int) -> tuple[Path, Path]:
    """Two HOMEs, one per machine: Claude Code's logs on the first, OpenCode's on the second."""
    home = glm_home(root, seed).home
    first, second = root / f"glm-{seed}" / "laptop", root / f"glm-{seed}" / "desktop"
    if not first.exists():
        shutil.copytree(home / ".claude", first / ".claude")
        shutil.copytree(home / ".local", second / ".local")
    return first, second
