"""Direct transfer: artifact bytes move between a client and the object store by presigned URLs.

The server still decides every key and records every digest. An upload is staged at a key the
server makes, ``staging/<run id>/<owner tag>/<random id>`` (the owner tag is derived from the
acting user's name), and becomes an artifact only on "complete": the server hashes the staged
object once (streamed), refuses it unless it is exactly the size and SHA-256 the client claims,
moves it to its content-addressed name and records it through ``artifacts.record_stored``, the
same function every upload ends in (same rows, writer and audit event). A staging object that
is never completed is garbage: ``ArtifactStore.remove_stale_temp_files`` (run by gc and the
server's temp-file collector) removes it, and aborts its multipart upload, after the grace period.
A download is a presigned GET of the blob, handed out with its digest, which the client checks.
"""

from __future__ import annotations

import hashlib
import math
import uuid

from pydantic import BaseModel, Field

from modelward.domain.actors import Actor
from modelward.domain.tracking import ArtifactFile
from modelward.errors import InvalidInput, PayloadTooLarge, PermissionDenied
from modelward.services import artifacts
from modelward.services.backend import Backend
from modelward.settings import Settings

MIB = 1 << 20
SINGLE_PUT_MAX_BYTES = 64 * MIB  # above this, a multipart upload of presigned parts
PART_BYTES = 64 * MIB  # S3: at least 5 MiB (but the last), at most 10,000 parts
MAX_PARTS = 10_000


class TransferCapabilities(BaseModel):
    direct: bool
    expires_in: int


class UploadRequest(BaseModel):
    path: str
    size: int = Field(ge=0)


class UploadGrant(BaseModel):
    """Where to PUT the bytes: one URL for the whole object, or one per part (``part_size`` each,
    the last shorter) of the multipart upload ``upload_id``."""

    staging_id: str
    upload_id: str | None
    part_size: int
    urls: list[str]
    expires_in: int


class CompleteRequest(BaseModel):
    staging_id: str
    path: str
    sha256: str
    size: int = Field(ge=0)
    upload_id: str | None = None
    etags: list[str] = Field(default_factory=list, max_length=MAX_PARTS)


class DownloadLink(BaseModel):
    """A presigned GET of the artifact's blob; the bytes must hash to ``digest``."""

    url: str
    digest: str
    size: int
    expires_in: int


def capabilities(backend: Backend, settings: Settings) -> TransferCapabilities:
    return TransferCapabilities(direct=_enabled(backend, settings), expires_in=settings.artifact_presign_expiry_seconds)


def _enabled(backend: Backend, settings: Settings) -> bool:
    return settings.artifact_direct_transfer and backend.artifacts.presigns


def _require_enabled(backend: Backend, settings: Settings) -> None:
    if not _enabled(backend, settings):
        raise InvalidInput("Direct transfer is off on this server (it needs artifact_direct_transfer = true "
                           "and an s3:// artifact_root); upload through PUT /api/v1/runs/{id}/artifacts/{path}.")


def owner_tag(actor: Actor) -> str:
    return hashlib.sha256(actor.name.encode("utf-8")).hexdigest()[:16]


def part_size_for(size: int) -> int:
    """The part size of a multipart upload of ``size`` bytes: PART_BYTES, or more when 10,000
    parts of it would not hold the file (whole MiB)."""
    return max(PART_BYTES, math.ceil(size / MAX_PARTS / MIB) * MIB)


def begin_upload(backend: Backend, settings: Settings, run_id: str, request: UploadRequest, *,
                 actor: Actor) -> UploadGrant:
    _require_enabled(backend, settings)
    artifacts.check_writable(backend, run_id, request.path)
    if request.size > settings.max_artifact_bytes:
        raise PayloadTooLarge(f"an artifact of {request.size} bytes is larger than the server's limit of "
                              f"{settings.max_artifact_bytes} bytes")
    staging_id = f"staging/{run_id}/{owner_tag(actor)}/{uuid.uuid4().hex}"
    expires = settings.artifact_presign_expiry_seconds
    store = backend.artifacts
    if request.size <= SINGLE_PUT_MAX_BYTES:
        url = store.presign_single_upload(staging_id, expires=expires)
        return UploadGrant(staging_id=staging_id, upload_id=None, part_size=request.size, urls=[url],
                           expires_in=expires)
    part_size = part_size_for(request.size)
    upload_id, urls = store.start_multipart_upload(staging_id, math.ceil(request.size / part_size), expires=expires)
    return UploadGrant(staging_id=staging_id, upload_id=upload_id, part_size=part_size, urls=urls, expires_in=expires)


def _check_staging_owner(staging_id: str, run_id: str, actor: Actor) -> None:
    parts = staging_id.split("/")
    if len(parts) != 4 or parts[0] != "staging":
        raise InvalidInput(f"Invalid staging id {staging_id!r}: complete only an id that begin handed out.")
    if parts[1] != run_id:
        raise InvalidInput(f"Staging id {staging_id!r} was handed out for run '{parts[1]}', not '{run_id}'.")
    if parts[2] != owner_tag(actor):
        raise PermissionDenied(f"Staging id {staging_id!r} was handed out to another user; "
                               "only they can complete it.")


def complete_upload(backend: Backend, settings: Settings, run_id: str, request: CompleteRequest, *,
                    actor: Actor) -> ArtifactFile:
    """Adopt the staged object as the artifact ``request.path`` of the run, if its bytes are
    exactly those claimed; the staged object is deleted either way once it was read."""
    _require_enabled(backend, settings)
    store = backend.artifacts
    _check_staging_owner(request.staging_id, run_id, actor)
    logical = artifacts.check_writable(backend, run_id, request.path)
    if not isinstance(request.sha256, str) or len(request.sha256) != 64 or \
            any(ch not in "0123456789abcdef" for ch in request.sha256):
        raise InvalidInput(f"Invalid sha256 {request.sha256!r}: expected 64 lowercase hex characters.")
    if request.upload_id is not None:
        if not request.etags:
            raise InvalidInput("A multipart upload completes with the ETag of every part, in order.")
        store.complete_multipart_upload(request.staging_id, request.upload_id, request.etags)
    blob = store.adopt_staged(request.staging_id, expected_digest=request.sha256, expected_size=request.size)
    return artifacts.record_stored(backend, run_id, logical, blob, actor=actor)


def download_link(backend: Backend, settings: Settings, run_id: str, path: str) -> DownloadLink:
    _require_enabled(backend, settings)
    info = artifacts.stat(backend, run_id, path)
    expires = settings.artifact_presign_expiry_seconds
    url = backend.artifacts.presign_download(info.digest, expires=expires)
    return DownloadLink(url=url, digest=info.digest, size=info.size, expires_in=expires)
