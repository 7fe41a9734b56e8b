"""Registered versions loaded for serving: once per process, reused by every request.

``ModelPool.get(name, version)`` downloads the version's files (each blob verified, the folder
checked against the version's ``artifact_digest``: ``services.model_files``) and loads them:

* data-only formats (skops with its type audit, ONNX) in this process;
* code-bearing formats (pyfunc, pickle) only when the model's effective policy says
  ``release: {code_models: isolated}``, and then in a sandboxed worker process
  (``modelward.evaluation.sandbox``), never in this one; otherwise PolicyViolation.

Nothing a request sends changes how a model loads: ``get`` takes a name and a version only.
Concurrent ``get`` of one version loads it once (a lock per version); a failed load caches
nothing. A version's worker is closed when the version is evicted or the pool closes, and a
worker that has stopped (a limit, a timeout) is replaced by the next ``get``.

``probe`` is the health check of blue-green warm-up and readiness: predict on the version's
input example (or on one row made from its signature) and say how it went.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelward.domain.registry import ModelVersion
from modelward.errors import InvalidInput, ModelwardError, PolicyViolation, ServiceUnavailable
from modelward.formats.signature import Signature, enforce
from modelward.services import model_files, policies, registry
from modelward.services.backend import Backend

if TYPE_CHECKING:
    from modelward.evaluation.sandbox import SandboxLimits

Key = tuple[str, int]


class ServedModel:
    """One loaded version. ``predict`` checks input against the signature; ``predict_checked``
    takes a frame the caller has checked already (the gateway's codec). Safe to call from many
    threads: in-process models predict concurrently, calls to an isolated worker (one pipe)
    take turns."""

    def __init__(self, version: ModelVersion, opened: model_files.OpenedModel, *, input_example: Any) -> None:
        self.name = version.model_name
        self.version = version.version
        self.artifact_digest = version.artifact_digest
        self.flavor = opened.flavor
        self.signature: Signature | None = getattr(opened.model, "signature", None)
        self.input_example = input_example
        self.has_proba = hasattr(opened.model, "predict_proba")
        self._model = opened.model
        self._opened = opened
        self._worker_lock = threading.Lock() if opened.worker is not None else None
        self._closed = False

    def __repr__(self) -> str:
        where = f"isolated pid={self.worker_pid}" if self.isolated else "in-process"
        return f"<ServedModel {self.name} v{self.version} {self.flavor} {where}>"

    @property
    def isolated(self) -> bool:
        """Does the model run in a sandboxed worker process (a code-bearing flavor)?"""
        return self._opened.worker is not None

    @property
    def worker_pid(self) -> int | None:
        return self._opened.worker.pid if self._opened.worker is not None else None

    @property
    def healthy(self) -> bool:
        """False once closed, or when its worker process has stopped."""
        if self._closed:
            return False
        return self._opened.worker is None or bool(self._opened.worker.alive)

    # -- predicting ------------------------------------------------------------------------

    def predict(self, frame: Any) -> Any:
        return self.predict_checked(self._enforced(frame))

    def predict_checked(self, frame: Any) -> Any:
        if self._worker_lock is None:
            return self._model.predict_prepared(frame)
        return self._in_worker(self._model.predict, frame)

    def predict_proba(self, frame: Any) -> Any:
        return self.predict_proba_checked(self._enforced(frame))

    def predict_proba_checked(self, frame: Any) -> Any:
        if not self.has_proba:
            raise InvalidInput(f"model '{self.name}' version {self.version} has no predict_proba")
        if self._worker_lock is None:
            return self._model.predict_proba_prepared(frame)
        return self._in_worker(self._model.predict_proba, frame)

    def _enforced(self, frame: Any) -> Any:
        return enforce(self.signature, frame) if self.signature is not None else frame

    def _in_worker(self, call: Any, frame: Any) -> Any:
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):  # the worker takes a table; a tensor goes as its rows
            frame = pd.DataFrame(frame)
        assert self._worker_lock is not None
        with self._worker_lock:
            if not self.healthy:
                raise ServiceUnavailable(f"version {self.version} of model '{self.name}' is not loaded any more "
                                         "(its isolated worker stopped or it was evicted); it loads again on next use")
            return call(frame)

    def close(self) -> None:
        """Stop its worker (after a call in progress ends); later calls raise ServiceUnavailable."""
        if self._worker_lock is None:
            self._closed = True
            return
        with self._worker_lock:
            self._closed = True
            self._opened.close()


class ModelPool:
    """Loaded versions of this process, by (name, version). ``loads`` counts successful loads."""

    def __init__(self, backend: Backend, *, work_dir: Path | None = None,
                 limits: SandboxLimits | None = None) -> None:
        self._backend = backend
        self._own_dir = work_dir is None
        self._work_dir = Path(tempfile.mkdtemp(prefix="modelward-pool-")) if work_dir is None else Path(work_dir)
        self._work_dir.mkdir(parents=True, exist_ok=True)
        self._limits = limits  # for isolated workers; None: the defaults, running as backend.sandbox_user
        self._models: dict[Key, ServedModel] = {}
        self._key_locks: dict[Key, threading.Lock] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.loads = 0

    def __enter__(self) -> ModelPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(self, name: str, version: int) -> ServedModel:
        """The version ready to predict: cached, or loaded now (once, whoever asks at the same time)."""
        key = (name, int(version))
        found = self._models.get(key)
        if found is not None and found.healthy:
            return found
        with self._key_lock(key):
            found = self._models.get(key)
            if found is not None and found.healthy:
                return found
            if found is not None:
                self.evict(*key)  # its worker stopped: start a fresh one
            served = self._load(key)
            with self._lock:
                if self._closed:
                    served.close()
                    raise ServiceUnavailable("the model pool is closed")
                self._models[key] = served
                self.loads += 1
            return served

    def _key_lock(self, key: Key) -> threading.Lock:
        with self._lock:
            if self._closed:
                raise ServiceUnavailable("the model pool is closed")
            return self._key_locks.setdefault(key, threading.Lock())

    def _load(self, key: Key) -> ServedModel:
        version = registry.get_version(self._backend, *key)
        policy = policies.effective_policy(self._backend, version.model_name)
        folder = Path(tempfile.mkdtemp(prefix="version-", dir=self._work_dir))
        try:
            model_files.download(self._backend, version, folder / "model", purpose="to serve")
            opened = model_files.open_model(
                self._backend, version, folder / "model", isolated=policy.release.code_models == "isolated",
                refused=lambda flavor: _refused(version, flavor), limits=self._limits,
            )
            try:
                example = model_files.input_example(folder / "model", getattr(opened.model, "signature", None))
            except BaseException:
                opened.close()
                raise
            return ServedModel(version, opened, input_example=example)
        finally:
            # loaded into memory, or copied into the worker's own folder: the download is not needed
            shutil.rmtree(folder, ignore_errors=True)

    def loaded(self) -> list[tuple[str, int]]:
        with self._lock:
            return sorted(key for key, served in self._models.items() if served.healthy)

    def evict(self, name: str, version: int) -> bool:
        """Forget the version and stop its worker; False if it was not loaded."""
        with self._lock:
            served = self._models.pop((name, int(version)), None)
        if served is None:
            return False
        served.close()
        return True

    def probe(self, name: str, version: int) -> dict[str, Any]:
        """Predict on the version's input example (else one row from its signature): ``ok``,
        ``latency_ms`` of that predict, ``rows``, ``error`` (None when ok) and a ``note``."""
        try:
            served = self.get(name, version)
        except ModelwardError as exc:
            return _probe_result(False, error=str(exc))
        frame, note = served.input_example, "the version's input example"
        if frame is None:
            frame, note = model_files.synthesised_row(served.signature), "one row made from the signature's types"
        if frame is None:
            return _probe_result(True, note="no input example and no signature: loaded, but not predicted on")
        started = time.perf_counter()
        try:
            output = served.predict(frame)
        except Exception as exc:  # whatever the model raises is the probe's answer, not the caller's crash
            return _probe_result(False, rows=len(frame), error=_describe(exc), note=note,
                                 latency_ms=(time.perf_counter() - started) * 1000)
        latency_ms = (time.perf_counter() - started) * 1000
        if len(output) != len(frame):
            return _probe_result(False, rows=len(frame), latency_ms=latency_ms, note=note,
                                 error=f"predict returned {len(output)} values for {len(frame)} rows")
        return _probe_result(True, rows=len(frame), latency_ms=latency_ms, note=note)

    def close(self) -> None:
        """Stop every worker and forget every model; later ``get`` calls raise ServiceUnavailable."""
        with self._lock:
            self._closed = True
            served, self._models = list(self._models.values()), {}
        for model in served:
            model.close()
        if self._own_dir:
            shutil.rmtree(self._work_dir, ignore_errors=True)


def _refused(version: ModelVersion, flavor: str) -> PolicyViolation:
    return model_files.code_refusal(
        version, flavor, switch="serve code models from an isolated worker process (release: {code_models: isolated})",
        instead="the gateway serves data-only formats in its own process and never imports a model's code",
    )


def _probe_result(ok: bool, *, rows: int = 0, latency_ms: float | None = None, error: str | None = None,
                  note: str | None = None) -> dict[str, Any]:
    return {"ok": ok, "latency_ms": latency_ms, "rows": rows, "error": error, "note": note}


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ModelwardError) else f"{type(exc).__name__}: {exc}"


__all__ = ["ModelPool", "ServedModel"]
