"""``analyzer sync``: this machine's snapshot into a synced folder, every other machine's merged from it.

The folder is one the user already keeps in sync between machines (Syncthing,
Dropbox, iCloud Drive, a network share). Each machine writes only its own file
there, and each store is written only by its own machine: the SQLite store
never lives in the folder (``sync`` refuses a store inside it), so no two
machines ever write one SQLite file, over a network or otherwise.

One sync: write this machine's snapshot (when its rows changed), merge every
other machine's snapshot found there (skipping, with the reason, any that is
incomplete, damaged or of a newer format; they are read again next time),
then price and attribute what was merged with this store's own files. Merging
is keyed and idempotent, so any order and any number of syncs on any machines
end with the same rows everywhere.

The folder is remembered in the store (``meta.sync_folder``) the first time it
is given, so ``analyzer sync`` and ``analyzer watch --sync-every`` need not be
told again; ``ANALYZER_SYNC_FOLDER`` also names it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from analyzer.store import database as store
from analyzer.sync.merge import Merged, SnapshotRefused, SnapshotSkipped, merge_snapshot
from analyzer.sync.snapshot import PREFIX, SUFFIX, write_snapshot

if TYPE_CHECKING:
    from analyzer.store.database import Store

FOLDER_KEY = "sync_folder"
ENV = "ANALYZER_SYNC_FOLDER"
_SNAPSHOT = re.compile(rf"^{re.escape(PREFIX)}([0-9a-f]{{32}}){re.escape(SUFFIX)}$")


class SyncError(Exception):
    """Sync cannot run (no folder, the store inside it, the folder unwritable): one sentence why."""


@dataclass
class SyncResult:
    """What one sync did."""

    folder: Path
    written: Path | None = None
    written_counts: dict | None = None  # None: this machine's snapshot was already up to date
    merged: list[Merged] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)


def store_path(db: Store) -> Path:
    return Path(db.conn.execute("pragma database_list").fetchone()[2])


def resolve_folder(db: Store, folder: Path | str | None) -> Path:
    """The folder to sync with: the one given (remembered), else ``ANALYZER_SYNC_FOLDER``, else the remembered one."""
    if folder is None:
        folder = os.environ.get(ENV) or store.get_meta(db, FOLDER_KEY)
        if not folder:
            raise SyncError("no sync folder: give one with `analyzer sync --folder DIR` (it is remembered)")
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise SyncError(f"the sync folder {path} does not exist (create it, or the tool that syncs it)")
    if store_path(db).resolve().is_relative_to(path):
        raise SyncError(
            f"the store {store_path(db)} is inside the sync folder {path}: keep the store on this machine"
            " (two machines must never write one SQLite file); only snapshots go in the folder"
        )
    return path


def remember(db: Store, folder: Path | None) -> None:
    """Keep (or, with None, forget) the folder for the next sync."""
    if folder is None:
        db.execute("delete from meta where key = ?", [FOLDER_KEY])
    else:
        store.set_meta(db, FOLDER_KEY, str(folder))


def snapshots(folder: Path) -> list[Path]:
    """Every machine's snapshot in the folder, by name (temporary and foreign files are not)."""
    return sorted(p for p in folder.iterdir() if _SNAPSHOT.match(p.name) and p.is_file())


def sync(
    db: Store, folder: Path | str | None = None, *, write: bool = True, timeout: float | None = 60.0
) -> SyncResult:
    """Write this machine's snapshot to the folder and merge every other one; never raises for a bad snapshot.
    Holds the store's writer lock throughout (an ingest pass waits, and is waited for)."""
    from analyzer.store.lock import WriterLock

    lock = WriterLock(store_path(db))
    lock.acquire(timeout)
    try:
        return _sync(db, folder, write)
    finally:
        lock.release()


def _sync(db: Store, folder: Path | str | None, write: bool) -> SyncResult:
    path = resolve_folder(db, folder)
    if folder is not None:
        remember(db, path)
    result = SyncResult(path)
    local = store.machine_id(db)
    if write:
        try:
            result.written, result.written_counts = write_snapshot(db, path)
        except OSError as exc:
            raise SyncError(f"cannot write this machine's snapshot into {path}: {exc.strerror or exc}") from exc
    for snapshot in snapshots(path):
        if snapshot.name == f"{PREFIX}{local}{SUFFIX}":
            continue
        try:
            result.merged.append(merge_snapshot(db, snapshot, local))
        except SnapshotRefused as exc:
            result.refused.append((snapshot, str(exc)))
        except SnapshotSkipped as exc:
            result.skipped.append((snapshot, str(exc)))
    if any(not m.already for m in result.merged):
        from analyzer.accounts.store import ensure_accounts
        from analyzer.pricing.costs import ensure_costs

        ensure_costs(db)
        ensure_accounts(db)
    return result
