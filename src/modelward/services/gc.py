"""Garbage collection: remove artifact blobs that nothing references any more.

A blob is written before the row that names it (so a crash never leaves a row naming
missing bytes). A blob younger than the grace period may be such an upload in flight,
so only older ones are collected.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from modelward.services.backend import Backend
from modelward.services.leases import LeasedPeriodic
from modelward.store import artifact_index


# progress(step, done, total): "scanning" (total None: the store is walked), "measuring", "removing".
Progress = Callable[[str, int, int | None], None]


def _silent(step: str, done: int, total: int | None) -> None:
    pass


class GcReport(BaseModel):
    removed: list[str]
    bytes_freed: int
    temp_files_removed: int
    dry_run: bool


def collect(backend: Backend, *, dry_run: bool = False, grace_seconds: float = 3600,
            progress: Progress = _silent) -> GcReport:
    """Blobs no row references, plus stored files no row knows of, older than the grace;
    ``progress`` hears of each blob looked at, measured and removed."""
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    store = backend.artifacts
    with backend.read() as session:
        orphans = set(artifact_index.unreferenced_blobs(session, older_than=cutoff))
        known = artifact_index.known_blobs(session)
    strays = set()
    for seen, digest in enumerate(store.iter_digests(), 1):
        if digest not in known and store.modified_at(digest) < cutoff:
            strays.add(digest)
        progress("scanning", seen, None)
    doomed = sorted(orphans | strays)
    freed = 0
    for done, digest in enumerate(doomed, 1):
        freed += store.size(digest) if store.exists(digest) else 0
        progress("measuring", done, len(doomed))
    temp_removed = 0
    if not dry_run:
        with backend.write() as session:
            # Re-check inside the transaction: a new artifact row may have claimed a blob.
            orphans &= set(artifact_index.unreferenced_blobs(session, older_than=cutoff))
            artifact_index.forget_blobs(session, sorted(orphans))
        doomed = sorted(orphans | strays)
        for done, digest in enumerate(doomed, 1):
            if store.exists(digest):
                store.delete(digest)
            progress("removing", done, len(doomed))
        temp_removed = store.remove_stale_temp_files(cutoff)
    return GcReport(removed=doomed, bytes_freed=freed, temp_files_removed=temp_removed, dry_run=dry_run)


TEMP_FILES_LEASE = "gc-temp-files"


def collect_temp_files(backend: Backend, *, grace_seconds: float) -> int:
    """Remove the temp files of uploads abandoned more than ``grace_seconds`` ago (a killed
    writer's); never a blob. How many were removed."""
    return backend.artifacts.remove_stale_temp_files(datetime.now(UTC) - timedelta(seconds=grace_seconds))


def TempFileCollector(backend: Backend, *, interval_s: float, grace_seconds: float) -> LeasedPeriodic:  # noqa: N802
    """``collect_temp_files`` every ``interval_s``, in the one server process of several holding its lease."""
    return LeasedPeriodic(backend, TEMP_FILES_LEASE, lambda: collect_temp_files(backend, grace_seconds=grace_seconds),
                          interval_s=interval_s)
