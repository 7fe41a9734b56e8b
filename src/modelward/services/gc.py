"""Garbage collection: remove artifact blobs that nothing references any more."""

from __future__ import annotations

from pydantic import BaseModel

from modelward.services.backend import Backend
from modelward.store import artifact_index


class GcReport(BaseModel):
    removed: list[str]
    bytes_freed: int
    dry_run: bool


def collect(backend: Backend, *, dry_run: bool = False) -> GcReport:
    """Blobs with no reference, plus files in the store that no row knows of."""
    with backend.read() as session:
        orphans = set(artifact_index.unreferenced_blobs(session))
        known = artifact_index.known_blobs(session)
    strays = {digest for digest in backend.artifacts.iter_digests() if digest not in known}
    doomed = sorted(orphans | strays)
    freed = sum(backend.artifacts.size(d) for d in doomed if backend.artifacts.exists(d))
    if not dry_run:
        with backend.write() as session:
            # Re-check inside the transaction: an upload may have claimed a blob meanwhile.
            still_orphaned = set(artifact_index.unreferenced_blobs(session)) & orphans
            artifact_index.forget_blobs(session, sorted(still_orphaned))
            doomed = sorted(still_orphaned | strays)
        for digest in doomed:
            if backend.artifacts.exists(digest):
                backend.artifacts.delete(digest)
    return GcReport(removed=doomed, bytes_freed=freed, dry_run=dry_run)
