"""Machines: one account's usage spread over several machines, brought together through a synced folder.

Each machine keeps its own store (one SQLite writer per store, always local)
and, on ``analyzer sync``, writes a snapshot of the rows it read itself
(``snapshot``) into a folder the user already syncs, and merges the snapshots
of every other machine found there (``merge``): keyed, append-only, the best
record winning by the writer's own rule, idempotent, each row keeping the
``machine_id`` it was read on. ``folder`` runs one sync and remembers the
folder; ``analyzer watch --sync-every`` runs it periodically (``watch_task``).
"""

from __future__ import annotations

from analyzer.sync.folder import SyncError, SyncResult, remember, resolve_folder, sync

__all__ = ["SyncError", "SyncResult", "remember", "resolve_folder", "sync", "watch_task"]


def watch_task(every_minutes: float, folder=None):
    """A task for ``analyzer watch --sync-every``: sync every ``every_minutes``, logging what happened."""
    import logging

    from analyzer.contract.tasks import WatchTask

    log = logging.getLogger("analyzer.sync")

    def run(db) -> None:
        try:
            result = sync(db, folder)
        except SyncError as exc:
            log.warning("sync: %s", exc)
            return
        for merged in result.merged:
            if not merged.already:
                log.info("sync: merged %s: %d new requests", merged.name or merged.machine_id, merged.new["requests"])
        for path, why in result.skipped + result.refused:
            log.warning("sync: skipped %s: %s", path.name, why)

    return WatchTask("sync", every_minutes * 60.0, run)
