"""Run artifacts: bytes stored once by digest, named per run by a confined logical path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from modelward.artifacts import BlobInfo, normalize_logical_path
from modelward.domain.actors import Actor
from modelward.domain.tracking import ArtifactFile
from modelward.services import audit
from modelward.services.backend import Backend
from modelward.services.runs import wrote
from modelward.store import artifact_index
from modelward.store import run_writers as writer_store
from modelward.store import runs as run_store


def upload(backend: Backend, run_id: str, path: str, stream: BinaryIO, *, actor: Actor,
           size_hint: int | None = None) -> ArtifactFile:
    """Store the bytes and name them in the run; the writer and an audit event commit with the name.
    ``size_hint``: the size the caller expects (a request's Content-Length), to size storage parts."""
    logical = check_writable(backend, run_id, path)
    # Bytes first, row second: a crash in between leaves an unreferenced blob for gc,
    # never a row naming bytes that are not there.
    return record_stored(backend, run_id, logical, backend.artifacts.put_stream(stream, size_hint=size_hint),
                         actor=actor)


def check_writable(backend: Backend, run_id: str, path: str) -> str:
    """The normalised logical path, once the run is known to take artifacts (before any byte moves)."""
    logical = normalize_logical_path(path)
    with backend.read() as session:
        run_store.writable_pk(session, run_id)
    return logical


def record_stored(backend: Backend, run_id: str, path: str, blob: BlobInfo, *, actor: Actor) -> ArtifactFile:
    """Name the stored ``blob`` in the run at ``path``; the writer and an audit event commit with the name.
    Every upload, through the server or direct to the object store, ends here."""
    logical = normalize_logical_path(path)
    with backend.write() as session:
        run_pk = run_store.writable_pk(session, run_id)
        stored = artifact_index.record(session, run_pk, logical, blob.digest, blob.size)
        wrote(session, run_pk, actor, writer_store.ARTIFACTS)
        audit.record(session, actor, "run.artifact_uploaded", subject_type="run", subject_id=run_id,
                     details={"path": stored.path, "digest": stored.digest, "size": stored.size})
        return stored


def list_(backend: Backend, run_id: str, prefix: str = "") -> list[ArtifactFile]:
    if prefix:
        prefix = normalize_logical_path(prefix)
    with backend.read() as session:
        return artifact_index.list_(session, run_store.pk_of(session, run_id), prefix)


def stat(backend: Backend, run_id: str, path: str) -> ArtifactFile:
    logical = normalize_logical_path(path)
    with backend.read() as session:
        return artifact_index.get(session, run_store.pk_of(session, run_id), logical)


def open_chunks(backend: Backend, run_id: str, path: str) -> tuple[ArtifactFile, Iterator[bytes]]:
    """The artifact's record and its bytes, streamed; never the last byte before they verified.

    A small file or one whose size changed fails here, before a response starts; a large one
    raises IntegrityError from the iterator instead of yielding its last chunk.
    """
    info = stat(backend, run_id, path)
    return info, backend.artifacts.iter_chunks(info.digest, expected_size=info.size)


def read_bytes(backend: Backend, run_id: str, path: str) -> bytes:
    return backend.artifacts.read_bytes(stat(backend, run_id, path).digest)
