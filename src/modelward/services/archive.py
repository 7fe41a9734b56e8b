"""``modelward export`` and ``modelward import``: a whole store in one checksummed tar archive.

The archive is an uncompressed tar whose members come in this order: ``blobs/<sha256>`` (the
artifact blobs, named by their digest, which is their checksum), ``records/<name>`` (the audit
checkpoints and public keys), ``datasets/<name>`` (the prediction log's Parquet parts),
``secrets/audit-signing-key.pem`` (only with ``include_secrets``), ``tables/<table>.jsonl.gz``
(one gzip'd JSON-lines member per table, rows encoded by ``store.archive``) and last
``manifest.json``: format and version, modelward version, schema revision, and per member its
SHA-256 and byte (and row) counts. Written to ``PATH.part`` and renamed when complete, so an
archive without its manifest is an interrupted one and is refused.

Import reads the archive twice: a first pass checks every member against the manifest (and
every blob against its name) and writes nothing; the second writes blobs first, then files,
then rows table by table in foreign-key order, in transactions of ``BATCH_ROWS`` rows, noting
after each one in a state file where it is. Run again after an interruption, it continues from
there (the rows of the batch that may have committed after the last note are recognised as
identical and kept). Blobs are content-addressed, so writing one twice is harmless.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from modelward.artifacts import CHUNK_SIZE, ArtifactStore
from modelward.errors import Conflict, IntegrityError, InvalidInput, NotFound
from modelward.services.backend import Backend
from modelward.services.checkpoints import CHECKPOINT_DIR, KEY_DIR
from modelward.store import archive as store
from modelward.store.db import current_revision
from modelward.version import __version__

FORMAT = "modelward-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATE_FILE = "import-state.json"
MERGE_MODES = ("skip-existing",)
BATCH_ROWS = 1000
RECORD_FOLDERS = (CHECKPOINT_DIR, KEY_DIR)
DATASET_FOLDER = "predictions"
SIGNING_KEY_MEMBER = "secrets/audit-signing-key.pem"
EXCLUDED_SECRETS = ("api_tokens.digest", "webhooks.secret", "the audit signing key")
MAX_LISTED_CONFLICTS = 5
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")

# progress(stage, done, total): export "rows", "blobs", "files"; import "verifying" (bytes of the
# archive read), "blobs", "files", "rows". total None: not known in advance.
Progress = Callable[[str, int, int | None], None]


def _silent(stage: str, done: int, total: int | None) -> None:
    pass


# -- the manifest ----------------------------------------------------------------------------------


class TableEntry(BaseModel):
    name: str
    member: str
    rows: int
    bytes: int
    sha256: str
    columns: list[str]


class FileEntry(BaseModel):
    member: str
    kind: str  # record, dataset or secret
    name: str
    bytes: int
    sha256: str


class BlobSummary(BaseModel):
    count: int
    bytes: int
    list_sha256: str  # of the lines "<digest> <size>\n", in the archive's (sorted) order


class Manifest(BaseModel):
    format: str
    format_version: int
    modelward_version: str
    schema_revision: str
    created_at: datetime
    secrets_included: bool
    excluded_secrets: list[str]
    tables: list[TableEntry]
    blobs: BlobSummary
    files: list[FileEntry]


@dataclass
class ExportSummary:
    path: Path
    rows: int
    tables: int
    blobs: int
    blob_bytes: int
    files: int
    secrets_included: bool

    def __str__(self) -> str:
        secrets = "with secrets" if self.secrets_included else "without secrets (" + ", ".join(EXCLUDED_SECRETS) + ")"
        return (f"exported {self.rows} rows of {self.tables} tables, {self.blobs} blobs ({self.blob_bytes} bytes) "
                f"and {self.files} files to {self.path}, {secrets}")


@dataclass
class ImportSummary:
    path: Path
    rows: int = 0
    kept: int = 0
    blobs: int = 0
    files: int = 0
    resumed: bool = False
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        kept = f"; kept {self.kept} identical rows already there" if self.kept else ""
        resumed = " (resumed)" if self.resumed else ""
        line = f"imported {self.rows} rows, {self.blobs} blobs and {self.files} files from {self.path}{resumed}{kept}"
        return "; ".join([line, *self.notes])


# -- streams ---------------------------------------------------------------------------------------


class _Hashing(io.RawIOBase):
    """Counts and hashes what is read through it (or written through it)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.sha = inner, hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def write(self, data: Any) -> int:
        self.sha.update(data)
        self.size += len(data)
        return int(self.inner.write(data))

    def drain(self) -> None:
        while self.read(CHUNK_SIZE):
            pass


class _Chunks(io.RawIOBase):
    """A file-like reader over an iterator of byte chunks (a verified blob stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._chunk, self._at = chunks, b"", 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        parts: list[bytes] = []
        wanted = n if n >= 0 else float("inf")
        while wanted > 0:
            if self._at >= len(self._chunk):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._chunk, self._at = chunk, 0
            end = min(len(self._chunk), self._at + int(min(wanted, len(self._chunk))))
            parts.append(self._chunk[self._at:end])
            wanted -= end - self._at
            self._at = end
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> FileEntry:
    tar.addfile(_tar_info(name, len(data)), io.BytesIO(data))
    return FileEntry(member=name, kind="", name="", bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def _add_stream(tar: tarfile.TarFile, name: str, size: int, stream: Any) -> str:
    hashing = _Hashing(stream)
    tar.addfile(_tar_info(name, size), hashing)
    return hashing.sha.hexdigest()


# -- export ----------------------------------------------------------------------------------------


def export_store(backend: Backend, path: Path | str, *, include_secrets: bool = False,
                 progress: Progress = _silent) -> ExportSummary:
    """Write the whole store to the tar archive ``path`` (replaced if it exists)."""
    path = Path(path)
    if path.is_dir():
        raise InvalidInput(f"cannot export to {path}: it is a folder; name the archive file, e.g. {path}/store.tar")
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot export to {path}: the folder {path.parent} does not exist")
    partial = path.with_name(path.name + ".part")
    try:
        tables, blobs, files = _write_archive(backend, partial, include_secrets, progress)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return ExportSummary(path=path, rows=sum(t.rows for t in tables), tables=len(tables), blobs=blobs.count,
                         blob_bytes=blobs.bytes, files=len(files), secrets_included=include_secrets)


def _write_archive(backend: Backend, partial: Path, include_secrets: bool,
                   progress: Progress) -> tuple[list[TableEntry], BlobSummary, list[FileEntry]]:
    with tempfile.TemporaryDirectory(prefix=".modelward-export-", dir=partial.parent) as scratch:
        tables, referenced = _export_tables(backend, Path(scratch), include_secrets, progress)
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            blobs = _export_blobs(backend.artifacts, tar, referenced, progress)
            files = _export_files(backend, tar, include_secrets, progress)
            for entry in tables:
                with open(Path(scratch) / entry.member.rsplit("/", 1)[1], "rb") as member:
                    tar.addfile(_tar_info(entry.member, entry.bytes), member)
            manifest = Manifest(
                format=FORMAT, format_version=FORMAT_VERSION, modelward_version=__version__,
                schema_revision=current_revision(backend.engine) or "", created_at=datetime.now(UTC),
                secrets_included=include_secrets, excluded_secrets=[] if include_secrets else list(EXCLUDED_SECRETS),
                tables=tables, blobs=blobs, files=files,
            )
            _add_bytes(tar, MANIFEST, manifest.model_dump_json(indent=1).encode())
    return tables, blobs, files


def _export_tables(backend: Backend, scratch: Path, include_secrets: bool,
                   progress: Progress) -> tuple[list[TableEntry], set[bytes]]:
    """Every table, from one snapshot, into gzip'd JSON-lines files in ``scratch``; and the
    digests the blobs table lists (each must be in the archive)."""
    entries: list[TableEntry] = []
    referenced: set[bytes] = set()
    with store.snapshot(backend.engine) as connection:
        tables = store.archived_tables()
        total = sum(store.count_rows(connection, table) for table in tables)
        done = 0
        progress("rows", 0, total)
        for table in tables:
            target = scratch / f"{table}.jsonl.gz"
            with open(target, "wb") as raw:
                hashing = _Hashing(raw)
                rows = 0
                with gzip.GzipFile(filename="", mode="wb", fileobj=hashing, mtime=0) as lines:
                    for row in store.iter_rows(connection, table):
                        if not include_secrets:
                            row = _without_secrets(table, row)
                        if table == "blobs":
                            referenced.add(bytes.fromhex(row["digest"]))
                        lines.write(_json_line(row))
                        rows += 1
                        done += 1
                        if done % BATCH_ROWS == 0:
                            progress("rows", done, total)
            entries.append(TableEntry(name=table, member=f"tables/{table}.jsonl.gz", rows=rows,
                                      bytes=hashing.size, sha256=hashing.sha.hexdigest(),
                                      columns=store.column_names(table)))
        progress("rows", done, total)
    return entries, referenced


def _json_line(row: dict[str, Any]) -> bytes:
    # allow_nan: a JSON column may hold a NaN (Float columns never do: they travel as "NaN").
    return (json.dumps(row, ensure_ascii=False, separators=(",", ":"), allow_nan=True) + "\n").encode()


def _without_secrets(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A token keeps its name and dates, but a digest no token hashes to (not hex: it never
    matches); a webhook loses its signing secret, and is disabled until it gets a new one."""
    if table == "api_tokens":
        return {**row, "digest": f"excluded:{row['id']}"}
    if table == "webhooks":
        return {**row, "secret": "", "active": False}
    return row


def _export_blobs(artifacts: ArtifactStore, tar: tarfile.TarFile, referenced: set[bytes],
                  progress: Progress) -> BlobSummary:
    listing, count, total = hashlib.sha256(), 0, 0
    for digest in artifacts.iter_digests():
        size = artifacts.size(digest)
        # iter_chunks verifies the blob against its digest: a corrupted one stops the export.
        tar.addfile(_tar_info(f"blobs/{digest}", size), _Chunks(artifacts.iter_chunks(digest, expected_size=size)))
        listing.update(f"{digest} {size}\n".encode())
        referenced.discard(bytes.fromhex(digest))
        count, total = count + 1, total + size
        progress("blobs", count, None)
    if referenced:
        missing = min(referenced).hex()
        raise IntegrityError(f"cannot export: blob {missing} (listed in table blobs) is missing from the artifact "
                             f"store ({len(referenced)} missing); restore it from a backup first")
    return BlobSummary(count=count, bytes=total, list_sha256=listing.hexdigest())


def _export_files(backend: Backend, tar: tarfile.TarFile, include_secrets: bool, progress: Progress) -> list[FileEntry]:
    artifacts, files = backend.artifacts, []
    for folder in RECORD_FOLDERS:
        for name in artifacts.list_records(folder):
            entry = _add_bytes(tar, f"records/{name}", artifacts.get_record(name))
            files.append(entry.model_copy(update={"kind": "record", "name": name}))
            progress("files", len(files), None)
    filesystem, root = artifacts.arrow_filesystem()
    for name in artifacts.list_dataset_files(DATASET_FOLDER):
        location = f"{root}/{name}"
        size = filesystem.get_file_info(location).size  # type: ignore[attr-defined]
        with filesystem.open_input_stream(location) as stream:  # type: ignore[attr-defined]
            sha = _add_stream(tar, f"datasets/{name}", size, stream)
        files.append(FileEntry(member=f"datasets/{name}", kind="dataset", name=name, bytes=size, sha256=sha))
        progress("files", len(files), None)
    key = backend.audit_signing_key
    if include_secrets and key is not None and key.is_file():
        entry = _add_bytes(tar, SIGNING_KEY_MEMBER, key.read_bytes())
        files.append(entry.model_copy(update={"kind": "secret", "name": "audit-signing-key.pem"}))
    return files


# -- reading an archive ----------------------------------------------------------------------------


def _members(path: Path) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
    """The archive's regular members in order, each with its data (read it before the next)."""
    try:
        tar = tarfile.open(path, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise InvalidInput(f"{path} is not a modelward archive (a tar file): {exc}") from None
    with tar:
        while True:
            try:
                info = tar.next()
            except tarfile.TarError as exc:
                raise IntegrityError(f"archive {path} is damaged: {exc}; nothing was imported") from None
            if info is None:
                return
            tar.members.clear()  # the tar module keeps every header otherwise: memory would grow
            if not info.isfile():
                continue
            data = tar.extractfile(info)
            assert data is not None
            yield info, data


def _damaged(path: Path, what: str) -> IntegrityError:
    return IntegrityError(f"archive {path} is damaged: {what}; nothing was imported")


@dataclass
class _Seen:
    """What the first pass found, checked against the manifest at the end."""

    members: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # name -> (sha256, bytes, rows)
    blob_digests: set[bytes] = field(default_factory=set)
    referenced: set[bytes] = field(default_factory=set)
    blob_listing: Any = field(default_factory=hashlib.sha256)
    blob_count: int = 0
    blob_bytes: int = 0
    manifest: bytes | None = None


def verify_archive(path: Path | str, *, progress: Progress = _silent,
                   on_rows: Callable[[str, list[dict[str, Any]]], None] | None = None) -> tuple[Manifest, str]:
    """Check every member of the archive against the manifest; (the manifest, the archive's id).

    Reads the whole archive once and writes nothing. ``on_rows(table, rows)`` sees the rows of
    each table in batches (to look for conflicts).
    """
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"archive {path} does not exist")
    total, seen = path.stat().st_size, _Seen()
    for info, data in _members(path):
        if seen.manifest is not None:
            raise _damaged(path, f"member {info.name} follows {MANIFEST}")
        if info.name in seen.members:
            raise _damaged(path, f"member {info.name} appears twice")
        if info.name == MANIFEST:
            seen.manifest = data.read()
        elif info.name.startswith("blobs/"):
            _verify_blob(path, info, data, seen)
        elif info.name.startswith("tables/"):
            _verify_table(path, info, data, seen, on_rows)
        elif info.name.startswith(("records/", "datasets/", "secrets/")):
            hashing = _Hashing(data)
            hashing.drain()
            seen.members[info.name] = (hashing.sha.hexdigest(), hashing.size, 0)
        else:
            raise _damaged(path, f"it holds an unknown member {info.name}")
        progress("verifying", info.offset_data + info.size, total)
    manifest = _check_manifest(path, seen)
    return manifest, hashlib.sha256(seen.manifest or b"").hexdigest()


def _verify_blob(path: Path, info: tarfile.TarInfo, data: IO[bytes], seen: _Seen) -> None:
    digest = info.name.removeprefix("blobs/")
    if not _DIGEST_RE.fullmatch(digest):
        raise _damaged(path, f"member {info.name} is not named by a SHA-256 digest")
    hashing = _Hashing(data)
    hashing.drain()
    if hashing.sha.hexdigest() != digest:
        raise _damaged(path, f"blob {digest} holds content that hashes to {hashing.sha.hexdigest()}")
    seen.blob_digests.add(bytes.fromhex(digest))
    seen.blob_listing.update(f"{digest} {hashing.size}\n".encode())
    seen.blob_count += 1
    seen.blob_bytes += hashing.size


def _verify_table(path: Path, info: tarfile.TarInfo, data: IO[bytes], seen: _Seen,
                  on_rows: Callable[[str, list[dict[str, Any]]], None] | None) -> None:
    name = info.name.removeprefix("tables/").removesuffix(".jsonl.gz")
    if not store.is_archived(name):
        raise _damaged(path, f"member {info.name} holds a table this modelward does not know")
    hashing, rows = _Hashing(data), 0
    try:
        for batch in _row_batches(gzip.GzipFile(fileobj=hashing, mode="rb"), name):
            rows += len(batch)
            if name == "blobs":
                seen.referenced.update(bytes.fromhex(row["digest"]) for row in batch)
            if on_rows is not None:
                on_rows(name, batch)
    except (OSError, EOFError, zlib.error, ValueError, KeyError) as exc:  # gzip, JSON, a row without a column
        raise _damaged(path, f"member {info.name} cannot be read ({exc})") from None
    hashing.drain()
    seen.members[info.name] = (hashing.sha.hexdigest(), hashing.size, rows)


def _row_batches(lines: IO[bytes], table: str, skip: int = 0) -> Iterator[list[dict[str, Any]]]:
    columns, batch = set(store.column_names(table)), []
    for number, line in enumerate(lines):
        if number < skip:
            continue
        row = json.loads(line)
        if not isinstance(row, dict) or set(row) != columns:
            raise ValueError(f"line {number + 1} does not hold the columns of table {table}")
        batch.append(row)
        if len(batch) == BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_manifest(path: Path, seen: _Seen) -> Manifest:
    if seen.manifest is None:
        raise _damaged(path, f"it has no {MANIFEST} (an export that did not finish?)")
    try:
        raw = json.loads(seen.manifest)
    except ValueError as exc:
        raise _damaged(path, f"{MANIFEST} is not JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InvalidInput(f"{path} is not a modelward archive: its manifest names no format {FORMAT!r}")
    if raw.get("format_version") != FORMAT_VERSION:
        raise InvalidInput(f"archive {path} has format version {raw.get('format_version')}; this modelward "
                           f"({__version__}) reads version {FORMAT_VERSION}: use the modelward that wrote it")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise _damaged(path, f"{MANIFEST} is not valid ({exc.errors()[0]['msg']} at "
                             f"{'.'.join(map(str, exc.errors()[0]['loc']))})") from None
    expected = {t.member: (t.sha256, t.bytes, t.rows) for t in manifest.tables}
    expected.update({f.member: (f.sha256, f.bytes, 0) for f in manifest.files})
    for member, (sha, size, rows) in expected.items():
        found = seen.members.pop(member, None)
        if found is None:
            raise _damaged(path, f"member {member}, listed in the manifest, is missing")
        if found[0] != sha or found[1] != size:
            raise _damaged(path, f"member {member} differs from the manifest (SHA-256 {found[0][:16]}…, "
                                 f"the manifest says {sha[:16]}…)")
        if found[2] != rows:
            raise _damaged(path, f"member {member} holds {found[2]} rows, the manifest says {rows}")
    if seen.members:
        raise _damaged(path, f"member {min(seen.members)} is not listed in the manifest")
    missing = seen.referenced - seen.blob_digests
    if missing:
        raise _damaged(path, f"blob {min(missing).hex()} (listed in table blobs) is missing ({len(missing)} missing)")
    blobs = manifest.blobs
    if (seen.blob_count, seen.blob_bytes, seen.blob_listing.hexdigest()) != (blobs.count, blobs.bytes, blobs.list_sha256):
        raise _damaged(path, f"it holds {seen.blob_count} blobs ({seen.blob_bytes} bytes), the manifest lists "
                             f"{blobs.count} ({blobs.bytes} bytes), or not the same ones")
    return manifest


# -- import ----------------------------------------------------------------------------------------


def state_file(home: Path) -> Path:
    """Where an import notes its progress: beside the target store's other local files."""
    return Path(home) / STATE_FILE


@dataclass
class _State:
    path: Path
    archive_id: str
    archive: str
    merge: str | None
    tables_done: list[str] = field(default_factory=list)
    table: str | None = None
    rows_done: int = 0

    @classmethod
    def load(cls, path: Path) -> _State | None:
        try:
            raw = json.loads(path.read_text())
            return cls(path=path, **raw)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"the import state file {path} is unreadable ({exc}): delete it to start over") from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"archive_id": self.archive_id, "archive": self.archive, "merge": self.merge,
                "tables_done": self.tables_done, "table": self.table, "rows_done": self.rows_done}
        partial = self.path.with_name(self.path.name + ".part")
        partial.write_text(json.dumps(body, indent=1))
        os.replace(partial, self.path)


def import_store(backend: Backend, path: Path | str, *, state: Path, merge: str | None = None,
                 progress: Progress = _silent) -> ImportSummary:
    """Load the archive ``path`` into the store of ``backend`` (see the module's docstring).

    ``merge`` None: the target must hold no rows in the archive's tables. ``"skip-existing"``:
    a row whose primary key the target holds already is kept if identical; if any differs, the
    import is refused before anything is written, naming the rows. ``state`` is the file that
    makes an interrupted import resumable.
    """
    if merge is not None and merge not in MERGE_MODES:
        raise InvalidInput(f"unknown merge mode {merge!r}: expected one of {', '.join(MERGE_MODES)}")
    path, state = Path(path), Path(state)
    resumed = _State.load(state)
    if resumed is not None and merge is None:
        merge = resumed.merge
    conflicts = _ConflictFinder(backend) if merge else None
    manifest, archive_id = verify_archive(path, progress=progress, on_rows=conflicts.rows if conflicts else None)
    _check_schema(backend, path, manifest)
    if resumed is not None and resumed.archive_id != archive_id:
        raise Conflict(f"an import of another archive ({resumed.archive}) into this store is unfinished: run "
                       f"'modelward import {resumed.archive}' to finish it, or delete {state} to start over")
    if conflicts is not None:
        conflicts.refuse_if_any(path)
    elif resumed is None:
        _refuse_non_empty(backend, manifest)
    _check_files_free(backend, manifest, path)
    key_note = _check_signing_key(backend, path, manifest)
    current = resumed or _State(path=state, archive_id=archive_id, archive=str(path), merge=merge)
    current.save()
    summary = ImportSummary(path=path, resumed=resumed is not None)
    _write(backend, path, manifest, current, merge is not None, summary, progress)
    store.reset_sequences(backend.engine)
    backend.statistics.note({table.name: table.rows for table in manifest.tables})
    backend.statistics.wait()  # fresh planner statistics before the store is used
    state.unlink(missing_ok=True)
    if key_note:
        summary.notes.append(key_note)
    return summary


def _check_schema(backend: Backend, path: Path, manifest: Manifest) -> None:
    here = current_revision(backend.engine) or "none"
    there = manifest.schema_revision
    if there == here:
        return
    if there > here:
        raise InvalidInput(f"archive {path} is of schema revision {there}, newer than this store's {here}: "
                           f"import it with modelward {manifest.modelward_version} or newer")
    raise InvalidInput(f"archive {path} is of schema revision {there}, older than this store's {here}: import it "
                       f"with modelward {manifest.modelward_version} into an empty store, then run "
                       "'modelward db upgrade' with this one (or export it again with this version)")


def _refuse_non_empty(backend: Backend, manifest: Manifest) -> None:
    for entry in manifest.tables:
        found = store.first_key(backend.engine, entry.name)
        if found is not None:
            count, key = found
            shown = ", ".join(f"{name}={value}" for name, value in key.items())
            raise Conflict(
                    f"refusing to import: the target store already holds data (table {entry.name} has {count} "
                    f"rows, the first {shown}); import into an empty store, or pass --merge skip-existing to keep "
                    "identical rows (differing ones are refused)")


def _check_files_free(backend: Backend, manifest: Manifest, path: Path) -> None:
    """A record or dataset file of the archive the target holds with other content is a conflict in
    every mode (identical ones are simply kept)."""
    finder = _ConflictFinder(backend)
    for entry in manifest.files:
        finder.file(entry.kind, entry.name, entry.sha256)
    finder.refuse_if_any(path)


def _check_signing_key(backend: Backend, path: Path, manifest: Manifest) -> str | None:
    """The archive's signing key, if it holds one, must be the target's or become it."""
    carried = next((entry for entry in manifest.files if entry.kind == "secret"), None)
    key = backend.audit_signing_key
    if carried is None:
        if any(entry.name.startswith(f"{CHECKPOINT_DIR}/") for entry in manifest.files):
            return ("the audit checkpoints verify only with the source store's signing key: point "
                    "MODELWARD_AUDIT_SIGNING_KEY at a copy of it (see docs/export-import.md)")
        return None
    if key is None:
        return "the archive's audit signing key was not installed: this store signs no checkpoints"
    if key.is_file() and hashlib.sha256(key.read_bytes()).hexdigest() != carried.sha256:
        raise Conflict(f"archive {path} holds the audit signing key of its store, and this store's key {key} is a "
                       "different one: its checkpoints would not verify; move that key aside (or point "
                       "MODELWARD_AUDIT_SIGNING_KEY at an absent file) and import again")
    return None


class _ConflictFinder:
    """Rows of the archive whose primary key the target holds with other values, and files the
    target holds with other content."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.found: list[str] = []
        self.count = 0
        self._datasets: set[str] | None = None

    def rows(self, table: str, batch: list[dict[str, Any]]) -> None:
        for row, columns in store.differing_rows(self._backend.engine, table, batch):
            self._note(f"{table} {_shown_key(table, row)} ({', '.join(columns)} differ)")

    def file(self, kind: str, name: str, sha256: str) -> None:
        there = _target_file_sha(self._backend, kind, name, self._dataset_names())
        if there is not None and there != sha256:
            self._note(f"{'the audit signing key' if kind == 'secret' else name} (other content)")

    def _dataset_names(self) -> set[str]:
        if self._datasets is None:
            self._datasets = set(self._backend.artifacts.list_dataset_files(DATASET_FOLDER))
        return self._datasets

    def _note(self, what: str) -> None:
        self.count += 1
        if len(self.found) < MAX_LISTED_CONFLICTS:
            self.found.append(what)

    def refuse_if_any(self, path: Path) -> None:
        if self.count:
            more = f" and {self.count - len(self.found)} more" if self.count > len(self.found) else ""
            raise Conflict(f"refusing to import {path}: {self.count} entries differ from the target store's: "
                           f"{'; '.join(self.found)}{more}; nothing was imported")


def _shown_key(table: str, row: dict[str, Any]) -> str:
    return ", ".join(f"{name}={row[name]}" for name in store.key_columns(table))


def _target_file_sha(backend: Backend, kind: str, name: str, datasets: set[str]) -> str | None:
    artifacts = backend.artifacts
    if kind == "record":
        return hashlib.sha256(artifacts.get_record(name)).hexdigest() if artifacts.record_exists(name) else None
    if kind == "dataset":
        if name not in datasets:
            return None
        filesystem, root = artifacts.arrow_filesystem()
        with filesystem.open_input_stream(f"{root}/{name}") as stream:  # type: ignore[attr-defined]
            hashing = _Hashing(stream)
            hashing.drain()
        return hashing.sha.hexdigest()
    return None  # the signing key is checked by _check_signing_key


def _write(backend: Backend, path: Path, manifest: Manifest, state: _State, merging: bool,
           summary: ImportSummary, progress: Progress) -> None:
    rows_total = sum(t.rows for t in manifest.tables)
    rows_done = sum(t.rows for t in manifest.tables if t.name in state.tables_done) + state.rows_done
    datasets = set(backend.artifacts.list_dataset_files(DATASET_FOLDER))
    files = {entry.member: entry for entry in manifest.files}
    blobs = 0
    for info, data in _members(path):
        if info.name.startswith("blobs/"):
            blobs += 1
            summary.blobs += _write_blob(backend.artifacts, info.name.removeprefix("blobs/"), data)
            progress("blobs", blobs, manifest.blobs.count)
        elif info.name in files:
            summary.files += _write_file(backend, files[info.name], data, datasets)
            progress("files", summary.files, len(files))
        elif info.name.startswith("tables/"):
            table = info.name.removeprefix("tables/").removesuffix(".jsonl.gz")
            if table in state.tables_done:
                continue
            for written, kept in _write_table(backend, table, data, state, merging):
                summary.rows, summary.kept = summary.rows + written, summary.kept + kept
                rows_done += written + kept
                progress("rows", rows_done, rows_total)
            state.tables_done.append(table)
            state.table, state.rows_done = None, 0
            state.save()


def _write_blob(artifacts: ArtifactStore, digest: str, data: IO[bytes]) -> int:
    if artifacts.exists(digest):
        return 0
    written = artifacts.put_stream(data)
    if written.digest != digest:  # the archive changed since it was verified
        raise IntegrityError(f"blob {digest} of the archive changed while it was imported (it now hashes to "
                             f"{written.digest}): import again")
    return 1


def _write_file(backend: Backend, entry: FileEntry, data: IO[bytes], datasets: set[str]) -> int:
    content = data.read()  # records and Parquet parts are written whole by the artifact store
    if hashlib.sha256(content).hexdigest() != entry.sha256:
        raise IntegrityError(f"member {entry.member} of the archive changed while it was imported: import again")
    artifacts = backend.artifacts
    if entry.kind == "record":
        if artifacts.record_exists(entry.name):
            return 0
        artifacts.put_record(entry.name, content)
    elif entry.kind == "dataset":
        if entry.name in datasets:
            return 0
        artifacts.put_dataset_file(entry.name, content)
    elif entry.kind == "secret":
        key = backend.audit_signing_key
        if key is None or key.is_file():
            return 0
        _write_private(key, content)
    return 1


def _write_private(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)


def _write_table(backend: Backend, table: str, data: IO[bytes], state: _State,
                 merging: bool) -> Iterator[tuple[int, int]]:
    """Insert the table's rows batch by batch, one transaction each; yields (inserted, kept) per batch."""
    resuming = state.table == table
    skip = state.rows_done if resuming else 0
    state.table, state.rows_done = table, skip
    # After an interruption, the batch after the last note may have committed: compare it too.
    compare = merging or resuming
    for batch in _row_batches(gzip.GzipFile(fileobj=data, mode="rb"), table, skip=skip):
        inserted = store.import_batch(backend.engine, table, batch, compare=compare)
        state.rows_done += len(batch)
        state.save()
        yield inserted, len(batch) - inserted
