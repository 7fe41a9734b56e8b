"""A registered version's files on this machine, verified, and the model they hold, loaded the
one safe way. Shared by evaluation (``services.evaluations``) and serving (``services.model_pool``).

Download. Every file is copied from the blob store by its digest (the store hashes each blob
before the file appears), then the folder is hashed again and its manifest digest compared
with the version's ``artifact_digest``: what loads is exactly what was registered and
reviewed, or IntegrityError names the version.

Load. Data-only formats (skops with its type audit, ONNX) through ``load_data_only`` in this
process. A code-bearing format (pyfunc, pickle) only when the caller's policy switch allows it,
and then in a sandboxed ``Worker`` process; otherwise the caller's PolicyViolation. Nothing
here imports or unpickles a model's code.

Input examples are read as JSON data only: MLflow's ``input_example.json`` (as its MLmodel's
``saved_input_example_info`` describes it) or ``serving_input_example.json``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelward.domain.registry import ModelVersion, VersionFile, manifest_digest
from modelward.errors import IntegrityError, InvalidInput, PermissionDenied, PolicyViolation
from modelward.formats.signature import Signature
from modelward.services.backend import Backend

if TYPE_CHECKING:
    from modelward.evaluation.sandbox import SandboxLimits

MAX_EXAMPLE_BYTES = 1 << 20
MAX_EXAMPLE_ROWS = 100
EXAMPLE_FILES = ("input_example.json", "serving_input_example.json")
_NUMPY_TYPES = {"integer": "int32", "long": "int64", "float": "float32", "double": "float64", "boolean": "bool"}


def label(version: ModelVersion) -> str:
    return f"version {version.version} of model '{version.model_name}'"


# -- download --------------------------------------------------------------------------------------


def download(backend: Backend, version: ModelVersion, dest: Path, *, purpose: str = "to load") -> Path:
    """The version's files in ``dest`` (created), each verified, the whole checked against the
    version's artifact digest; InvalidInput when it has no files (``purpose`` says for what)."""
    from modelward.formats.flavors import confined

    if not version.files:
        from modelward.services.registry import no_files_reason

        raise InvalidInput(f"{no_files_reason(version)}: there is nothing {purpose}")
    dest.mkdir(parents=True, exist_ok=True)
    for item in version.files:
        try:
            backend.artifacts.copy_to(item.digest, confined(dest, item.path))
        except IntegrityError as exc:
            raise IntegrityError(f"{label(version)} cannot be loaded: its file '{item.path}' does not match "
                                 f"its digest. {exc}") from None
    verify(dest, version)
    return dest


def verify(folder: Path, version: ModelVersion) -> None:
    """IntegrityError unless the folder's files hash to the version's ``artifact_digest``."""
    found = [VersionFile(path=path.relative_to(folder).as_posix(), digest=_sha256(path), size=path.stat().st_size)
             for path in folder.rglob("*") if path.is_file()]
    if manifest_digest(found) != version.artifact_digest:
        raise IntegrityError(
            f"{label(version)} cannot be loaded: its downloaded files ({len(found)}) hash to "
            f"{manifest_digest(found)}, not to the version's artifact digest {version.artifact_digest}. "
            "The registry's file list or the stored bytes changed since it was registered; do not use it."
        )


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


# -- load ------------------------------------------------------------------------------------------


@dataclass
class OpenedModel:
    """A loaded version: ``model`` is a LoadedModel (data-only, here) or an IsolatedModel proxy
    to ``worker``, which the caller closes (``close``) when done with it."""

    model: Any
    flavor: str
    description: dict[str, Any]
    worker: Any = None

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


def code_refusal(version: ModelVersion, flavor: str, *, instead: str, switch: str) -> PolicyViolation:
    """Why a code-bearing version is not loaded here, what to do ``instead``, and the policy ``switch``."""
    what = ("a pickle: loading it runs code from the file, and the server never unpickles" if flavor.endswith("pickle")
            else "loaded by importing and calling the code it names, and the server never imports a model's code")
    return PolicyViolation(
        f"{label(version)} is a '{flavor}' model, {what}. Register it saved with skops (modelward.models.save(model, "
        f"path) for scikit-learn) or as ONNX; {instead}; or an admin can let its policy {switch}."
    )


def open_model(
    backend: Backend, version: ModelVersion, folder: Path, *, isolated: bool,
    refused: Callable[[str], PolicyViolation], limits: SandboxLimits | None = None,
) -> OpenedModel:
    """The model in ``folder`` (from ``download``): data-only here, or, when ``isolated`` (the
    policy allows it), a code-bearing one in a sandboxed worker; else ``refused(flavor)``."""
    from modelward.formats.loader import is_code_bearing, load_data_only, stored_description, stored_flavor

    flavor = stored_flavor(folder)
    if not is_code_bearing(flavor):
        try:
            loaded = load_data_only(folder)
        except PermissionDenied as exc:
            raise PolicyViolation(f"{label(version)} cannot be loaded by the server's data-only loader: {exc}") from None
        return OpenedModel(model=loaded, flavor=flavor, description=stored_description(folder))
    if not isolated:
        raise refused(flavor)
    from modelward.evaluation.sandbox import SandboxLimits, Worker, isolated_model

    description = stored_description(folder)
    worker = Worker(folder, limits=limits or SandboxLimits(user=backend.sandbox_user), hide=backend.private_paths(),
                    label=label(version))
    worker.__enter__()  # starts it; closes it again if starting fails
    return OpenedModel(model=isolated_model(worker, description), flavor=flavor, description=description,
                       worker=worker)


# -- input examples ------------------------------------------------------------------------------


def input_example(folder: Path, signature: Signature | None) -> Any:
    """The saved input example as a pandas DataFrame (at most MAX_EXAMPLE_ROWS rows, columns
    cast to the signature's types), or None when the folder holds none it can read."""
    for path in _example_paths(folder):
        if not path.is_file() or path.stat().st_size > MAX_EXAMPLE_BYTES:
            continue
        try:
            frame = _frame(json.loads(path.read_text("utf-8")))
        except (ValueError, TypeError, KeyError):
            frame = None
        if frame is not None and len(frame):
            return _typed(frame.head(MAX_EXAMPLE_ROWS), signature)
    return None


def _example_paths(folder: Path) -> list[Path]:
    from modelward.formats.flavors import confined
    from modelward.formats.loader import MLMODEL

    paths = []
    if (folder / MLMODEL).is_file():
        import yaml

        try:
            info = (yaml.safe_load((folder / MLMODEL).read_text("utf-8")) or {}).get("saved_input_example_info")
        except (yaml.YAMLError, AttributeError):
            info = None
        if isinstance(info, dict):
            for key in ("artifact_path", "serving_input_path"):
                if isinstance(info.get(key), str):
                    try:
                        paths.append(confined(folder, info[key]))
                    except InvalidInput:
                        pass
    return [*paths, *(folder / name for name in EXAMPLE_FILES)]


def _frame(data: Any) -> Any:
    """A table from MLflow's example shapes: split ({columns, data}), records, or the serving
    wrappers (dataframe_split, dataframe_records, inputs, instances)."""
    import numpy as np
    import pandas as pd

    if isinstance(data, dict):
        for key in ("dataframe_split", "dataframe_records", "inputs", "instances"):
            if key in data:
                return _frame(data[key])
        if "data" in data:
            return pd.DataFrame(data["data"], columns=data.get("columns"))
        if data and all(isinstance(v, list) for v in data.values()):
            return pd.DataFrame(data)
        return None
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        return pd.DataFrame.from_records(data)
    if isinstance(data, list) and data:
        array = np.asarray(data)
        return pd.DataFrame(array) if array.ndim == 2 and array.dtype != object else None
    return None


def _typed(frame: Any, signature: Signature | None) -> Any:
    """JSON reads integers as int64 and floats as float64: cast to what the signature names."""
    if signature is None or signature.input_kind != "dataframe":
        return frame
    frame = frame.copy()
    for spec in signature.inputs:
        if spec.name in frame.columns and spec.type in _NUMPY_TYPES:
            try:
                frame[spec.name] = frame[spec.name].astype(_NUMPY_TYPES[spec.type])
            except (TypeError, ValueError):
                pass  # left as read: predicting on it then says what is wrong
    return frame


def synthesised_row(signature: Signature | None) -> Any:
    """One row of neutral values (0, 0.0, False, "", the epoch) of the signature's types, as a
    DataFrame; None without a signature. For a health probe of a model without an example."""
    import numpy as np
    import pandas as pd

    if signature is None or not signature.inputs:
        return None
    if signature.input_kind == "ndarray":
        spec = signature.inputs[0]
        shape = [1 if d == -1 else d for d in (spec.shape or [-1, 1])]
        if len(shape) != 2:
            return None
        return pd.DataFrame(np.zeros(shape, dtype=_NUMPY_TYPES.get(spec.type, "float64")))
    return pd.DataFrame({spec.name: _neutral(spec.type) for spec in signature.inputs})


def _neutral(kind: str) -> Any:
    import numpy as np
    import pandas as pd

    if kind in _NUMPY_TYPES:
        return np.zeros(1, dtype=_NUMPY_TYPES[kind])
    if kind == "datetime":
        return pd.to_datetime([0])
    return pd.Series([b"" if kind == "binary" else ""], dtype=object)


__all__ = ["OpenedModel", "code_refusal", "download", "input_example", "label", "open_model", "synthesised_row",
           "verify"]

