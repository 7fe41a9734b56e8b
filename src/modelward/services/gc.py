"""Garbage collection: remove artifact blobs that nothing references any more.

A blob is written before the row that names it (so a crash never leaves a row naming
missing bytes). A blob younger than the grace period may be such an upload in flight,
so only older ones are collected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from modelward.services.backend import Backend
from modelward.store import artifact_index


class GcReport(BaseModel):
    removed: list[str]
    bytes_freed: int
    temp_files_removed: int
    dry_run: bool


def collect(backend: Backend, *, dry_run: bool = False, grace_seconds: float = 3600) -> GcReport:
    """Blobs no row references, plus stored files no row knows of, older than the grace."""
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    store = backend.artifacts
    with backend.read() as session:
        orphans = set(artifact_index.unreferenced_blobs(session, older_than=cutoff))
        known = artifact_index.known_blobs(session)
    strays = {d for d in store.iter_digests() if d not in known and store.modified_at(d) < cutoff}
    doomed = sorted(orphans | strays)
    freed = sum(store.size(d) for d in doomed if store.exists(d))
    temp_removed = 0
    if not dry_run:
        with backend.write() as session:
            # Re-check inside the transaction: a new artifact row may have claimed a blob.
            orphans &= set(artifact_index.unreferenced_blobs(session, older_than=cutoff))
            artifact_index.forget_blobs(session, sorted(orphans))
        doomed = sorted(orphans | strays)
        for digest in doomed:
            if store.exists(digest):
                store.delete(digest)
        temp_removed = store.remove_stale_temp_files(cutoff)
    return GcReport(removed=doomed, bytes_freed=freed, temp_files_removed=temp_removed, dry_run=dry_run)
