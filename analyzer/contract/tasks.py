"""What a plugin hands ``analyzer watch`` through ``register_watch_tasks``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WatchTask:
    """A job the daemon runs every ``interval`` seconds on its writer thread.

    ``run`` gets the daemon's store; it should be short (it delays ingestion
    while it runs). An exception is logged and the task runs again next time.
    """

    name: str
    interval: float
    run: Callable[[Any], None]
