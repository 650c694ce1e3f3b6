"""Polling every vendor whose credentials are present, and storing what they say.

``poll_all(db, …)`` is what ``analyzer quota poll`` runs and what the watch
daemon can call on an interval: it never raises for a vendor's failure; each
vendor gets a ``PollResult`` (ok, skipped with the reason, or error with a
message fit to show). Readings go through the store's ``RecordWriter`` in one
transaction; their keys make a repeat of a known reading a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from analyzer.plugins.quota.base import NoCredentials
from analyzer.plugins.quota.http import QuotaError

from analyzer.contract.records import QuotaReading
from analyzer.registry.manager import call_register
from analyzer.store import database as store
from analyzer.store.writer import RecordWriter

if TYPE_CHECKING:
    import sqlite_utils


@dataclass
class PollResult:
    vendor: str
    status: str  # "ok" | "skipped" | "error"
    message: str = ""
    readings: int = 0
    new: int = 0
    kind: str | None = None  # the QuotaError kind, for errors


def get_readers() -> dict:
    """Registered quota readers by vendor name; the first registration of a name wins."""
    readers: dict = {}
    for reader in call_register("register_quota_readers"):
        name = getattr(reader, "name", None)
        if name and name not in readers:
            readers[name] = reader
    return readers


def store_readings(db: sqlite_utils.Database, readings: Iterable[QuotaReading]) -> int:
    """Write readings; returns how many were new."""
    readings = list(readings)
    if not readings:
        return 0
    keys = [r.key for r in readings]
    marks = ", ".join("?" * len(keys))
    writer = RecordWriter(db, source_id=None, machine=store.machine_id(db), keep_text=False)
    with store.transaction(db):
        known = {row[0] for row in db.execute(f"select key from quota_readings where key in ({marks})", keys)}
        writer.extend(readings)
        writer.flush()
    return len(set(keys) - known)


def watch_task(every_minutes: float):
    """A task for `analyzer watch --quota-every`: poll every vendor with credentials, log what came back."""
    import logging

    from analyzer.api import WatchTask

    log = logging.getLogger("analyzer.quota")

    def run(db) -> None:
        for result in poll_all(db):
            if result.status == "ok":
                log.info("quota %s: %d readings, %d new", result.vendor, result.readings, result.new)
            elif result.status == "error":
                log.warning("quota %s: %s", result.vendor, result.message)
            else:
                log.debug("quota %s skipped: %s", result.vendor, result.message)

    return WatchTask("quota-poll", every_minutes * 60.0, run)


def poll_all(
    db: sqlite_utils.Database,
    vendors: Iterable[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    now: datetime | None = None,
) -> list[PollResult]:
    """Ask each vendor (all, or those named) and store the readings. Never raises for a vendor."""
    readers = get_readers()
    names = list(vendors) if vendors else list(readers)
    results = []
    for name in names:
        reader = readers.get(name)
        if reader is None:
            results.append(PollResult(name, "error", f"unknown vendor; known: {', '.join(readers)}", kind="unknown"))
            continue
        try:
            found = reader.read(env, timeout=timeout, now=now)
        except NoCredentials as exc:
            results.append(PollResult(name, "skipped", str(exc)))
            continue
        except QuotaError as exc:
            results.append(PollResult(name, "error", str(exc), kind=exc.kind))
            continue
        except Exception as exc:  # a third-party reader's bug must not stop the others
            results.append(PollResult(name, "error", f"{type(exc).__name__}: {exc}", kind="bug"))
            continue
        new = store_readings(db, found)
        message = "" if found else "the answer holds no windows (no plan on this account?)"
        results.append(PollResult(name, "ok", message, readings=len(found), new=new))
    return results
