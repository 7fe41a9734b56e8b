"""Artifact bytes straight to and from the object store, by the presigned URLs the server hands out.

Used automatically when the server advertises it (``GET /api/v1/artifact-transfer`` answers
``direct: true``; a server without the route, or with it off, keeps the default path through
the server). An upload: hash the file (SHA-256 and size), ask for URLs, PUT the bytes (one URL,
or one per part of a multipart upload), then "complete", where the server hashes the staged
object and records the artifact only if it matches the claim. A download: ask for a link, which
comes with the digest; the bytes are checked against it here, the last chunk held back until
they matched, as for downloads through the server. The presigned requests carry no modelward
credential: a URL authorises exactly one object and method, until it expires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from modelward.artifacts import normalize_logical_path
from modelward.domain.tracking import ArtifactFile
from modelward.errors import (
    IntegrityError,
    ModelwardError,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
)
from modelward.sdk._http import HttpSession, raise_for_error

CHUNK = 1 << 20
OBJECT_STORE_TIMEOUT_S = 300.0


class DirectTransfer:
    def __init__(self, http: HttpSession) -> None:
        self._http = http
        self.use: bool | None = None  # None: whenever the server offers it; False: never

    def available(self) -> bool:
        if self.use is None:
            try:
                answer = self._http.call("GET", "/api/v1/artifact-transfer")
                self.use = isinstance(answer, dict) and answer.get("direct") is True
            except (NotFound, PermissionDenied, ValueError):  # an older server, or one that will not tell
                self.use = False
        return self.use

    def upload_file(self, run_id: str, local_file: Path, logical_path: str) -> ArtifactFile:
        logical = normalize_logical_path(logical_path)
        digest, size = _digest_of(local_file)
        runs = f"/api/v1/runs/{quote(run_id, safe='')}"
        grant = self._http.call("POST", f"{runs}/artifact-uploads", json={"path": logical, "size": size})
        etags = _put_parts(local_file, size, grant)
        claim: dict[str, Any] = {"staging_id": grant["staging_id"], "path": logical, "sha256": digest, "size": size}
        if grant.get("upload_id"):
            claim.update(upload_id=grant["upload_id"], etags=etags)
        return ArtifactFile.model_validate(self._complete(f"{runs}/artifact-uploads/complete", claim))

    def _complete(self, url: str, claim: dict[str, Any]) -> Any:
        # The server reads the whole staged object before it answers: no read timeout, and no
        # retry (a completed staging object is gone, so a second "complete" could only fail).
        try:
            answer = self._http._client.post(url, json=claim, timeout=httpx.Timeout(OBJECT_STORE_TIMEOUT_S, read=None))
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"cannot reach the modelward server at {self._http.where}: {exc}") from exc
        if answer.status_code >= 400:
            raise_for_error(answer)
        return orjson.loads(answer.content)

    def iter_bytes(self, run_id: str, logical_path: str) -> Iterator[bytes]:
        url = f"/api/v1/runs/{quote(run_id, safe='')}/artifact-links/{quote(normalize_logical_path(logical_path))}"
        link = self._http.call("GET", url)
        return verified_url_download(link["url"], link["digest"], int(link["size"]),
                                     f"artifact '{logical_path}' of run {run_id}")


def _digest_of(path: Path) -> tuple[str, int]:
    hasher, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _file_range(path: Path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(start)
        while length > 0 and (chunk := handle.read(min(CHUNK, length))):
            length -= len(chunk)
            yield chunk


def _put_parts(path: Path, size: int, grant: dict[str, Any]) -> list[str]:
    """PUT the file to the grant's URLs (each part streamed with its Content-Length); the ETags."""
    part_size = int(grant["part_size"]) or size
    etags = []
    with httpx.Client(timeout=OBJECT_STORE_TIMEOUT_S) as store:
        for number, url in enumerate(grant["urls"]):
            start = number * part_size
            length = max(0, min(part_size, size - start))
            try:
                answer = store.put(url, content=_file_range(path, start, length),
                                   headers={"Content-Length": str(length)})
            except httpx.TransportError as exc:
                raise ServiceUnavailable(f"cannot reach the object store for a direct upload: {exc}") from exc
            _raise_for_store(answer, f"part {number + 1} of the upload")
            etags.append(answer.headers.get("etag", ""))
    return etags


def _raise_for_store(answer: httpx.Response, what: str) -> None:
    if answer.status_code < 400:
        return
    detail = f"the object store answered {answer.status_code} to {what}: {answer.text[:300]}"
    if answer.status_code == 403:
        raise PermissionDenied(detail + " (an expired presigned URL is refused so; try again)")
    if answer.status_code >= 500:
        raise ServiceUnavailable(detail)
    raise ModelwardError(detail)


def verified_url_download(url: str, digest: str, size: int, what: str) -> Iterator[bytes]:
    """The bytes at ``url``, checked against ``digest`` and ``size``; the last chunk is held back
    until they matched, and IntegrityError raised in its place when they do not."""
    hasher, received, held = hashlib.sha256(), 0, b""
    try:
        with httpx.Client(timeout=OBJECT_STORE_TIMEOUT_S) as store, store.stream("GET", url) as answer:
            if answer.status_code >= 400:
                answer.read()
                _raise_for_store(answer, f"the download of {what}")
            for chunk in answer.iter_bytes(CHUNK):
                hasher.update(chunk)
                received += len(chunk)
                if held:
                    yield held
                held = chunk
    except httpx.TransportError as exc:
        raise IntegrityError(f"the direct download of {what} broke off after {received} of {size} bytes: {exc}") from None
    actual = hasher.hexdigest()
    if received != size or actual != digest:
        raise IntegrityError(f"{what} is corrupted: the object store sent {received} bytes hashing to {actual}; "
                             f"the server recorded {size} bytes hashing to {digest}")
    if held:
        yield held
