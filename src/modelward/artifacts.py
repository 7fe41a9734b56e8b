"""Artifact blob store: content-addressed by SHA-256, behind fsspec, plus logical-path confinement.

This is the only module of modelward that imports fsspec. Blobs live under the root at
``blobs/<first 2 hex>/<remaining 62 hex>``; writes go to ``tmp/<uuid>`` first and are moved to
the final name only after the whole content has been hashed, so a final name never holds a
partial blob. Every read is verified against the digest in the name, and no reader is handed
the last byte of a blob before the check passed: a blob of up to ``VERIFY_WHOLE_BYTES`` is
verified whole before its first byte is returned, a larger one streams with its last chunk held
back until the digest matched. A response streamed from a corrupted blob therefore ends short of
its Content-Length, and the HTTP client sees a broken transfer, never a complete corrupt file.

On an object store (s3://) a write streams into a multipart upload of ``S3_PART_BYTES`` parts at
the ``tmp/`` key (memory: about two parts per upload, whatever the file's size); the "move" is a
server-side copy (CopyObject, or UploadPartCopy beyond s3fs's threshold), so the bytes never come
back through this process. Direct transfer (presigned URLs, see docs/object-storage.md) stages
objects under ``staging/``; they become blobs only through ``adopt_staged``, which hashes them.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, NamedTuple
from urllib.parse import unquote

from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from modelward.errors import IntegrityError, InvalidInput, NotFound

CHUNK_SIZE = 1 << 20
VERIFY_WHOLE_BYTES = 4 * CHUNK_SIZE  # up to this size a blob is hashed whole before any byte leaves
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
# After the single decode, an escape that would still decode to a separator, a dot or NUL
# is a double-encoded traversal attempt ("%252e%252e%252f" -> "%2e%2e%2f").
_DANGEROUS_ESCAPE_RE = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_DRIVE_RE = re.compile(r"^.:")  # ntpath takes any "X:" prefix as a drive
# Named records (audit checkpoints ...): names chosen by the server, under fixed prefixes only.
RECORD_PREFIXES = ("audit/",)
_RECORD_NAME_RE = re.compile(r"[a-z0-9_-]+(/[a-z0-9_-]+)*(\.[a-z0-9]+)?")
# Dataset files (the prediction log's Parquet parts): hive-style "key=value" folders, percent-escaped values.
DATASET_PREFIXES = ("predictions/",)
_DATASET_NAME_RE = re.compile(r"[A-Za-z0-9_.=%-]+(/[A-Za-z0-9_.=%-]+)*")
# Object stores: part size of streamed writes and of read-ahead (s3fs's own default is 50 MiB;
# boto3's is 8 MiB). A write whose size is known ahead (a request's Content-Length) takes parts
# large enough for S3's 10,000 parts; one of unknown size may reach 78 GiB with 8 MiB parts (set
# `default_block_size` in artifact_storage_options for more).
S3_PART_BYTES = 8 * CHUNK_SIZE
S3_MAX_PARTS = 10_000
_PRESIGNING_PROTOCOLS = ("s3", "s3a")
# Direct-transfer staging objects: staging/<run id>/<owner tag>/<random id>, names the server makes.
STAGING_PREFIX = "staging/"
_STAGING_NAME_RE = re.compile(r"staging/[A-Za-z0-9_-]{1,64}/[0-9a-f]{16}/[0-9a-f]{32}")


class BlobInfo(NamedTuple):
    digest: str
    size: int


def normalize_logical_path(path: str) -> str:
    """Return the canonical form of a run's logical artifact path, or raise InvalidInput.

    Percent-encoding is decoded exactly once; the string checked is the string returned.
    """
    if not isinstance(path, str):
        raise InvalidInput(f"Artifact path must be a string, got {type(path).__name__}.")
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        message = f"Invalid artifact path {path!r}: its percent-escapes are not UTF-8."
        raise InvalidInput(message) from None
    problem = _path_problem(decoded)
    segments = [s for s in decoded.split("/") if s not in ("", ".")]
    if problem is None and not segments:
        problem = "it names no file or directory"
    if problem is None:
        problem = next((p for s in segments if (p := _segment_problem(s))), None)
    if problem is not None:
        raise InvalidInput(f"Invalid artifact path {path!r}: {problem}.")
    return "/".join(segments)


def _path_problem(decoded: str) -> str | None:
    if not decoded:
        return "it is empty"
    if any(unicodedata.category(ch) == "Cc" for ch in decoded):
        return "it contains NUL or control characters"
    if _DANGEROUS_ESCAPE_RE.search(decoded):
        return "it is percent-encoded more than once"
    if "\\" in decoded:
        return "it contains a backslash; use '/' as separator"
    if decoded.startswith("/"):
        return "it must be relative, not absolute"
    if _SCHEME_RE.match(decoded) or "://" in decoded:
        return "it must be a relative path, not a URI or drive"
    if decoded.startswith("~"):
        return "it must not start with '~'"
    return None


def _segment_problem(segment: str) -> str | None:
    # Windows trims trailing dots and spaces, and NFKC folds look-alike dots ("．．") into "..".
    folded = unicodedata.normalize("NFKC", segment)
    if folded.strip(" .") == "" and folded != ".":
        return "it must not contain '..' segments"
    if _DRIVE_RE.match(folded):
        return "it must not contain a drive letter"
    return None


def _check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InvalidInput(f"Invalid blob digest {digest!r}: expected 64 lowercase hex characters.")
    return digest


def _not_found(digest: str) -> NotFound:
    return NotFound(f"Artifact blob {digest} does not exist in the artifact store.")


def _corrupted(digest: str, actual: str) -> IntegrityError:
    return IntegrityError(
        f"Artifact blob {digest} is corrupted: its content hashes to {actual}. "
        "Restore the blob from a backup or log the artifact again; do not use this copy."
    )


def _fsync_dir(path: str) -> None:
    # Makes the rename itself durable, so a committed digest does not vanish after power loss.
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ArtifactStore:
    """Content-addressed blob store under an fsspec root (local path, file://, s3://, memory://)."""

    def __init__(self, root_uri: str, storage_options: dict | None = None) -> None:
        try:
            self._fs, root = url_to_fs(str(root_uri), **_with_part_size(str(root_uri), storage_options or {}))
        except (ImportError, TypeError, ValueError) as exc:  # unknown protocol, its package missing, bad options
            # Names only the option keys: their values may be credentials.
            keys = sorted(storage_options or {})
            raise InvalidInput(
                f"Cannot open the artifact root {root_uri!r} with artifact_storage_options {keys}: {exc}"
            ) from None
        self._root = root.rstrip("/")
        self._local = isinstance(self._fs, LocalFileSystem)
        protocols = self._fs.protocol if isinstance(self._fs.protocol, tuple) else (self._fs.protocol,)
        self.presigns = any(p in _PRESIGNING_PROTOCOLS for p in protocols)
        if self._local:
            self._fs.makedirs(self._join("tmp"), exist_ok=True)
            self._fs.makedirs(self._join("blobs"), exist_ok=True)

    @property
    def local_root(self) -> Path | None:
        """The folder holding the blobs when the store is on local disk (None for object stores)."""
        return Path(self._root) if self._local else None

    def _join(self, *parts: str) -> str:
        return "/".join((self._root, *parts))

    def _blob_path(self, digest: str) -> str:
        _check_digest(digest)
        return self._join("blobs", digest[:2], digest[2:])

    # -- writing -------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> BlobInfo:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self._write_and_move(lambda f: f.write(data), lambda: digest)
        return BlobInfo(digest, len(data))

    def put_file(self, local_path: str | os.PathLike) -> BlobInfo:
        with open(local_path, "rb") as src:
            return self.put_stream(src)

    def put_stream(self, fileobj: BinaryIO, *, size_hint: int | None = None) -> BlobInfo:
        """Store what ``fileobj.read`` returns; ``size_hint`` (the expected size, if known) sizes
        the parts of an object-store upload."""
        hasher, size = hashlib.sha256(), 0

        def copy(dst) -> None:
            nonlocal size
            while chunk := fileobj.read(CHUNK_SIZE):
                hasher.update(chunk)
                dst.write(chunk)
                size += len(chunk)

        self._write_and_move(copy, hasher.hexdigest, size_hint=size_hint)
        return BlobInfo(hasher.hexdigest(), size)

    def _write_and_move(
        self, write: Callable[[BinaryIO], object], digest_of: Callable[[], str], *, size_hint: int | None = None
    ) -> None:
        # Same path for every backend: the bytes go to tmp/<uuid>, then a move publishes them.
        # Locally the move is a rename on the same file system (atomic); on object stores it is
        # a server-side copy, and an object only becomes visible once complete. Either way the
        # final name holds the whole blob or nothing. Two writers of one digest write equal bytes.
        tmp = self._join("tmp", uuid.uuid4().hex)
        try:
            with self._fs.open(tmp, "wb", **self._part_size_for(size_hint)) as f:
                try:
                    write(f)
                except BaseException:
                    if not self._local and hasattr(f, "discard"):
                        f.discard()  # s3fs: abort the multipart upload rather than commit a partial object
                        f.closed = True
                    raise
                if self._local:
                    f.flush()
                    os.fsync(f.fileno())  # durable before the rename makes it visible
            self._publish(tmp, digest_of())
        finally:
            if self._fs.exists(tmp):
                self._fs.rm(tmp)

    def _part_size_for(self, size_hint: int | None) -> dict[str, int]:
        if self._local or not size_hint:
            return {}
        default = int(getattr(self._fs, "default_block_size", S3_PART_BYTES))
        return {"block_size": max(default, -(-size_hint // S3_MAX_PARTS))}

    def _publish(self, source: str, digest: str) -> None:
        """Move the complete, hashed object ``source`` to the blob name of ``digest``."""
        final = self._blob_path(digest)
        self._fs.invalidate_cache(final.rsplit("/", 1)[0])
        if self._fs.exists(final):
            return
        if self._local:
            self._fs.makedirs(self._join("blobs", digest[:2]), exist_ok=True)
            self._fs.mv(source, final)
            _fsync_dir(self._join("blobs", digest[:2]))
            return
        # s3fs copies server-side: CopyObject up to 150 MiB, a multipart UploadPartCopy above
        # (S3's single copy stops at 5 GiB); the bytes never pass through this process.
        self._fs.cp_file(source, final)
        self._fs.rm(source)

    # -- direct transfer (presigned URLs; object stores only) -------------------------------
    def _require_presigning(self) -> None:
        if not self.presigns:
            raise InvalidInput("Direct transfer needs an s3:// artifact root; this store cannot presign URLs.")

    def _staging_key(self, name: str) -> tuple[str, str]:
        if not isinstance(name, str) or not _STAGING_NAME_RE.fullmatch(name):
            raise InvalidInput(f"Invalid staging name {name!r}: expected one the server handed out under {STAGING_PREFIX}.")
        bucket, key, _ = self._fs.split_path(self._join(name))
        return bucket, key

    def presign_single_upload(self, name: str, *, expires: int) -> str:
        """A presigned PUT for the whole object at the staging ``name``."""
        self._require_presigning()
        self._staging_key(name)
        return str(self._fs.url(self._join(name), expires=expires, client_method="put_object"))

    def start_multipart_upload(self, name: str, parts: int, *, expires: int) -> tuple[str, list[str]]:
        """(upload id, one presigned PUT per part, numbered from 1) at the staging ``name``."""
        self._require_presigning()
        bucket, key = self._staging_key(name)
        upload_id = self._fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)["UploadId"]
        urls = [str(self._fs.url(self._join(name), expires=expires, client_method="upload_part",
                                 UploadId=upload_id, PartNumber=number)) for number in range(1, parts + 1)]
        return upload_id, urls

    def complete_multipart_upload(self, name: str, upload_id: str, etags: list[str]) -> None:
        """Assemble the parts the client uploaded (their ETags, in part order)."""
        self._require_presigning()
        bucket, key = self._staging_key(name)
        parts = [{"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, 1)]
        try:
            self._fs.call_s3("complete_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id,
                             MultipartUpload={"Parts": parts})
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"The object store refused to assemble the parts of {name}: {exc}") from None
        self._fs.invalidate_cache(self._join(name).rsplit("/", 1)[0])

    def adopt_staged(self, name: str, *, expected_digest: str, expected_size: int) -> BlobInfo:
        """Hash the staged object once (streamed), and make it the blob of its digest.

        Refuses (InvalidInput) and deletes it when its bytes are not those the client claimed;
        NotFound when nothing was uploaded to ``name``. The staged object is gone afterwards.
        """
        self._require_presigning()
        self._staging_key(name)
        path = self._join(name)
        self._fs.invalidate_cache(path.rsplit("/", 1)[0])
        hasher, size = hashlib.sha256(), 0
        try:
            with self._fs.open(path, "rb") as f:
                while chunk := f.read(CHUNK_SIZE):
                    hasher.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise NotFound(f"Nothing was uploaded to {name}: upload the bytes to the presigned URL first.") from None
        try:
            digest = hasher.hexdigest()
            if digest != expected_digest or size != expected_size:
                raise InvalidInput(
                    f"The bytes uploaded to {name} are not those claimed: they are {size} bytes hashing to "
                    f"{digest}, the claim was {expected_size} bytes hashing to {expected_digest}. Upload again."
                )
            self._publish(path, digest)
        finally:
            if self._fs.exists(path):
                self._fs.rm(path)
        return BlobInfo(digest, size)

    def presign_download(self, digest: str, *, expires: int) -> str:
        """A presigned GET of the blob; the client must check the bytes against ``digest``."""
        self._require_presigning()
        if not self.exists(digest):
            raise _not_found(digest)
        return str(self._fs.url(self._blob_path(digest), expires=expires, client_method="get_object"))

    # -- reading -------------------------------------------------------------------------
    def read_bytes(self, digest: str) -> bytes:
        return b"".join(self._verified_chunks(digest, CHUNK_SIZE))

    def iter_chunks(
        self, digest: str, chunk_size: int = CHUNK_SIZE, *, expected_size: int | None = None
    ) -> Iterator[bytes]:
        """Stream a blob, never yielding its last byte unverified.

        Raised at once, before a caller starts a response: NotFound; IntegrityError when the
        blob's size differs from ``expected_size`` (the size recorded when it was logged) or,
        for a blob of up to VERIFY_WHOLE_BYTES, when its content does not match the digest.
        A larger blob streams with its last chunk held back; on a mismatch the iterator raises
        IntegrityError instead of yielding it.
        """
        size = self.size(digest)
        if expected_size is not None and size != expected_size:
            raise IntegrityError(
                f"Artifact blob {digest} is corrupted: it holds {size} bytes, {expected_size} were stored. "
                "Restore the blob from a backup or log the artifact again; do not use this copy."
            )
        if size <= VERIFY_WHOLE_BYTES:
            data = b"".join(self._verified_chunks(digest, chunk_size))
            return (data[start : start + chunk_size] for start in range(0, len(data), chunk_size))
        return self._verified_chunks(digest, chunk_size)

    def _verified_chunks(self, digest: str, chunk_size: int) -> Iterator[bytes]:
        hasher, held = hashlib.sha256(), b""
        try:
            with self._fs.open(self._blob_path(digest), "rb") as f:
                while chunk := f.read(chunk_size):
                    hasher.update(chunk)
                    if held:
                        yield held
                    held = chunk
        except FileNotFoundError:
            raise _not_found(digest) from None
        if hasher.hexdigest() != digest:
            raise _corrupted(digest, hasher.hexdigest())
        if held:
            yield held

    def copy_to(self, digest: str, dest_path: str | os.PathLike) -> None:
        """Verified download to a local file; the destination appears only when verified."""
        dest = Path(dest_path)
        chunks = self.iter_chunks(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        try:
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def exists(self, digest: str) -> bool:
        return self._fs.exists(self._blob_path(digest))

    def size(self, digest: str) -> int:
        try:
            return int(self._fs.info(self._blob_path(digest))["size"])
        except FileNotFoundError:
            raise _not_found(digest) from None

    def modified_at(self, digest: str) -> datetime:
        """When the blob was written (for the garbage collector's grace period)."""
        try:
            return _info_time(self._fs.info(self._blob_path(digest)))
        except FileNotFoundError:
            raise _not_found(digest) from None

    # -- named records (beside the blobs, never content-addressed) ---------------------------
    def put_record(self, name: str, data: bytes) -> None:
        """Write the small object ``name`` (e.g. ``audit/checkpoints/000000000042.json``) whole.

        Locally the bytes go to tmp/ and are renamed into place; an object store's PUT is
        atomic already. Names come from modelward code, never from a request.
        """
        self._write_whole(self._record_path(name), data)

    def _write_whole(self, path: str, data: bytes) -> None:
        if not self._local:
            self._fs.pipe_file(path, data)
            return
        folder = path.rsplit("/", 1)[0]
        self._fs.makedirs(folder, exist_ok=True)
        tmp = self._join("tmp", uuid.uuid4().hex)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(folder)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def get_record(self, name: str) -> bytes:
        try:
            return bytes(self._fs.cat_file(self._record_path(name)))
        except FileNotFoundError:
            raise NotFound(f"record {name} does not exist in the artifact store") from None

    def record_exists(self, name: str) -> bool:
        path = self._record_path(name)
        self._fs.invalidate_cache(path.rsplit("/", 1)[0])
        return bool(self._fs.exists(path))

    def list_records(self, prefix: str) -> list[str]:
        """Names of the records directly under ``prefix`` (e.g. ``audit/checkpoints``), sorted."""
        folder = self._record_path(prefix.rstrip("/"))
        return sorted(f"{prefix.rstrip('/')}/{entry.rstrip('/').rsplit('/', 1)[-1]}" for entry in self._ls(folder))

    # -- dataset files (append-only Parquet parts of the prediction log, never content-addressed) --
    def put_dataset_file(self, name: str, data: bytes) -> None:
        """Write the immutable file ``name`` (e.g. ``predictions/endpoint=x/date=2026-01-31/part-1.parquet``)
        whole, as ``put_record`` does; a reader never sees half a file."""
        self._write_whole(self._dataset_path(name), data)

    def list_dataset_files(self, prefix: str) -> list[str]:
        """Names of every file under ``prefix`` (recursively), sorted."""
        folder = self._dataset_path(prefix.rstrip("/"))
        self._fs.invalidate_cache(folder)
        try:
            found = self._fs.find(folder)
        except FileNotFoundError:
            return []
        return sorted(path[len(self._root) + 1 :] for path in found)

    def arrow_filesystem(self) -> tuple[object, str]:
        """(a pyarrow FileSystem over this store's file system, the root as its paths start), so
        pyarrow and DuckDB read dataset files on local disk and object stores alike."""
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        return PyFileSystem(FSSpecHandler(self._fs)), self._root

    def _dataset_path(self, name: str) -> str:
        segments = name.split("/")
        if (not f"{name}/".startswith(DATASET_PREFIXES) or any(s in ("", ".", "..") for s in segments)
                or not _DATASET_NAME_RE.fullmatch(name)):
            raise InvalidInput(f"Invalid dataset file name {name!r}: expected segments under {DATASET_PREFIXES}.")
        return self._join(name)

    def _record_path(self, name: str) -> str:
        if not _RECORD_NAME_RE.fullmatch(name) or not name.startswith(RECORD_PREFIXES):
            raise InvalidInput(f"Invalid record name {name!r}: expected lower-case segments under {RECORD_PREFIXES}.")
        return self._join(name)

    # -- maintenance ---------------------------------------------------------------------
    def delete(self, digest: str) -> None:
        path = self._blob_path(digest)
        if not self._fs.exists(path):
            raise _not_found(digest)
        self._fs.rm(path)

    def iter_digests(self) -> Iterator[str]:
        """Every stored blob, one 2-hex prefix at a time (bounded memory for large stores)."""
        blobs = self._join("blobs")
        for prefix in sorted(self._ls(blobs)):
            head = prefix.rstrip("/").rsplit("/", 1)[-1]
            for name in sorted(self._ls(prefix)):
                digest = head + name.rstrip("/").rsplit("/", 1)[-1]
                if _DIGEST_RE.fullmatch(digest):
                    yield digest

    def remove_stale_temp_files(self, older_than: datetime) -> int:
        """Temp files a killed writer left behind, and direct-transfer staging objects never
        completed; never at a final name, safe to remove. On an object store also aborts the
        multipart uploads under tmp/ and staging/ begun before ``older_than`` (their parts are
        stored, and billed, until aborted)."""
        removed = 0
        for folder in ("tmp", STAGING_PREFIX.rstrip("/")):
            path = self._join(folder)
            self._fs.invalidate_cache(path)
            found = self._fs.find(path, detail=True) if self._fs.exists(path) else {}
            for name, entry in found.items():
                if entry.get("type") == "file" and _info_time(entry) < older_than:
                    self._fs.rm(name)
                    removed += 1
        if self.presigns:
            removed += self._abort_stale_multipart_uploads(older_than)
        return removed

    def _abort_stale_multipart_uploads(self, older_than: datetime) -> int:
        bucket, root_key, _ = self._fs.split_path(self._root)
        aborted = 0
        for folder in ("tmp/", STAGING_PREFIX):
            prefix = f"{root_key}/{folder}" if root_key else folder
            listing = self._fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix)
            for upload in listing.get("Uploads", []) or []:
                if _info_time({"created": upload.get("Initiated")}) < older_than:
                    self._fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=upload["Key"],
                                     UploadId=upload["UploadId"])
                    aborted += 1
        return aborted

    def _ls(self, path: str) -> list[str]:
        # Listings must be fresh (garbage collection must see every blob), and object-store
        # listing caches must not outlive the call, or exists() could miss other writers' blobs.
        try:
            self._fs.invalidate_cache(path)
            return self._fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        finally:
            self._fs.invalidate_cache(path)


def _with_part_size(root_uri: str, options: dict) -> dict:
    """The storage options of an s3:// root, with S3_PART_BYTES as block size and Signature
    Version 4 for presigned URLs (botocore may presign with the deprecated V2), unless they say."""
    if not root_uri.startswith(tuple(f"{p}://" for p in _PRESIGNING_PROTOCOLS)):
        return options
    config = dict(options.get("config_kwargs") or {})
    config.setdefault("signature_version", "s3v4")
    return {"default_block_size": S3_PART_BYTES, **options, "config_kwargs": config}


def _info_time(info: dict) -> datetime:
    """The modification time in an fsspec info dict (local: mtime; S3: LastModified)."""
    stamp = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("created")
    if isinstance(stamp, datetime):
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    if stamp is None:
        return datetime.now(UTC)  # unknown: treat as new, so it is never collected early
    return datetime.fromtimestamp(float(stamp), tz=UTC)
