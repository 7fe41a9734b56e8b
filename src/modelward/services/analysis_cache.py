"""Warm caches for analyses of registered versions (explanations, counterfactuals), per process.

Without them every call downloads the version's blobs, hashes the folder, runs skops' type
audit and rebuilds the estimator (about 0.3 s for a 100-tree forest), then reads, hashes and
parses the reference dataset. Two small LRU caches, thread-safe, hold what those steps produce:

* ``opened_model``: a *data-only* model (skops, ONNX) keyed by the version's ``artifact_digest``.
  That digest is immutable and is what the miss verified the downloaded files against, so a hit
  serves exactly the bytes a miss would load; a different artifact has a different digest and
  takes the full path (download, each blob verified, folder digest, data-only loader). The
  working folder is removed as soon as the model is in memory. A hit still checks that each of
  the version's blobs is in this store, so a purged version is refused as a miss would refuse
  it. A code-bearing model in the isolated worker is never cached: the worker is a sandboxed
  process running the model's own code, started and closed per analysis so no state of one
  caller's run outlives it, and each call checks the policy switch that allows it (an admin
  turning ``code_models: isolated`` off takes effect at the next call). Evicted (or cleared)
  entries are closed; a data-only model holds no process and no file, so closing one another
  call is still using is harmless.
* ``load_dataset``: the parsed reference table keyed by the digest of its bytes, which the
  artifact index (or the policy's pin) gives *before* reading. Every call still resolves that
  digest and checks the bytes are in the blob store, so a re-uploaded artifact (a new digest)
  is read afresh and a deleted one raises NotFound as without the cache; only the read, the
  hash and the parse are skipped, for bytes that hashed to that digest when first read. The
  caller gets a copy (pandas copy-on-write: cheap, and nothing it changes reaches the cache).

Nothing here unpickles: what is cached is what ``model_files.open_model`` (data-only) and
``evaluations.load_dataset`` returned.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelward.domain.governance import DatasetRef
from modelward.domain.policy import Policy
from modelward.domain.registry import ModelVersion
from modelward.errors import NotFound, PolicyViolation
from modelward.services import model_files
from modelward.services.backend import Backend

MAX_MODELS = 4
MAX_DATASETS = 4
MAX_CACHED_TABLE_BYTES = 256 << 20  # a larger table is read each time rather than held


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    evictions: int
    size: int
    capacity: int


class BoundedCache:
    """At most ``capacity`` entries, least recently used out first; ``on_evict(value)`` runs for
    every entry pushed out, replaced or cleared (outside the lock). Thread-safe."""

    def __init__(self, capacity: int, on_evict: Callable[[Any], None] | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._on_evict = on_evict
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self._hits += 1
                return self._entries[key]
            self._misses += 1
            return None

    def put(self, key: Hashable, value: Any) -> Any:
        """Keep ``value`` under ``key`` and return what the cache now holds for it: the value
        already there when another thread put one first (``value`` is then evicted)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                kept, dropped = self._entries[key], [value]
            else:
                self._entries[key] = kept = value
                dropped = []
                while len(self._entries) > self.capacity:
                    dropped.append(self._entries.popitem(last=False)[1])
                    self._evictions += 1
        self._evict(dropped)
        return kept

    def discard(self, key: Hashable) -> None:
        with self._lock:
            dropped = [self._entries.pop(key)] if key in self._entries else []
        self._evict(dropped)

    def clear(self) -> None:
        with self._lock:
            dropped = list(self._entries.values())
            self._entries.clear()
            self._hits = self._misses = self._evictions = 0
        self._evict(dropped)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def cache_info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, self._evictions, len(self._entries), self.capacity)

    def _evict(self, values: list[Any]) -> None:
        if self._on_evict is not None:
            for value in values:
                self._on_evict(value)


def _close(opened: model_files.OpenedModel) -> None:
    opened.close()


MODELS = BoundedCache(MAX_MODELS, on_evict=_close)
DATASETS = BoundedCache(MAX_DATASETS)


def clear() -> None:
    """Empty both caches (closing the models); their counters start again from zero."""
    MODELS.clear()
    DATASETS.clear()


# -- models -----------------------------------------------------------------------------------------


def opened_for_analysis(backend: Backend, policy: Policy, version: ModelVersion, *, analysis: str,
                        doing: str) -> Any:
    """The version opened for an analysis (``analysis``: "explain", ...; ``doing``: what the
    analysis does, for the files' purpose and the refusal): ``opened_model`` under the policy's
    evaluation switch, the one for analyses of a version (serving has its own)."""
    def refused(flavor: str) -> PolicyViolation:
        return model_files.code_refusal(
            version, flavor, switch="run code models in the isolated worker (evaluation: {code_models: isolated})",
            instead=f"the server {doing} data-only formats (skops, ONNX) in its own process and never imports "
                    "a model's code")

    return opened_model(backend, version, prefix=f"modelward-{analysis}-", purpose=f"to {analysis}",
                        isolated=policy.evaluation.code_models == "isolated", refused=refused)


@contextmanager
def opened_model(backend: Backend, version: ModelVersion, *, prefix: str, purpose: str, isolated: bool,
                 refused: Callable[[str], Exception]) -> Iterator[Any]:
    """The version's model, downloaded into a fresh folder (each blob verified, the folder checked
    against its digest) and opened as ``model_files.open_model`` does; a data-only one is kept
    (by artifact digest) for the next call, an isolated worker is closed after this one."""
    key = version.artifact_digest or None
    cached = MODELS.get(key) if key else None
    if cached is not None and version.files and all(_stored(backend, item.digest) for item in version.files):
        yield cached.model
        return
    if cached is not None:
        MODELS.discard(key)  # a blob of it left this store: the miss below says so
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        folder = model_files.download(backend, version, work / "model", purpose=purpose)
        opened = model_files.open_model(backend, version, folder, isolated=isolated, refused=refused)
        if opened.worker is not None:  # the sandboxed worker reads its folder: both go when this call ends
            try:
                yield opened.model
            finally:
                opened.close()
            return
    finally:
        shutil.rmtree(work, ignore_errors=True)
    kept = MODELS.put(key, opened) if key else opened
    yield kept.model


# -- reference data ---------------------------------------------------------------------------------


def load_dataset(backend: Backend, ref: DatasetRef) -> tuple[Any, DatasetRef]:
    """``evaluations.load_dataset``, with the parsed table kept by the digest of its bytes."""
    from modelward.services import artifacts as artifact_service
    from modelward.services import evaluations

    lowered = ref.path.lower()
    if not lowered.endswith((".parquet", ".pq", ".csv")):
        return evaluations.load_dataset(backend, ref)  # refused there, with its message
    digest = ref.digest or artifact_service.stat(backend, ref.run_id, ref.path).digest
    resolved = DatasetRef(run_id=ref.run_id, path=ref.path, digest=digest)
    key = (digest, "csv" if lowered.endswith(".csv") else "parquet")
    cached = DATASETS.get(key)
    if cached is not None and _stored(backend, digest):
        return cached.copy(deep=False), resolved
    if cached is not None:
        DATASETS.discard(key)  # its bytes left the store: say so as a miss would
    table, found = evaluations.load_dataset(backend, resolved)
    if int(table.memory_usage(deep=True).sum()) <= MAX_CACHED_TABLE_BYTES:
        table = DATASETS.put(key, table)
    return table.copy(deep=False), found


def _stored(backend: Backend, digest: str) -> bool:
    try:
        backend.artifacts.size(digest)
    except (NotFound, FileNotFoundError, OSError):
        return False
    return True


__all__ = ["DATASETS", "MODELS", "BoundedCache", "CacheInfo", "clear", "load_dataset", "opened_model"]
