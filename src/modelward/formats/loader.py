"""Saved model folders: write one (``save``) and load one (``load_folder``), in modelward's
format or MLflow's (``MLmodel``). Files only: resolving ``runs:/`` and ``models:/`` URIs is the
SDK's part (``modelward.sdk.model_loading``), so the services can use this module.

Two modes. In the caller's process (``allow_code=True``, the default for ``load_folder``) every
flavor loads, a pickle only with ``trust_pickle=True``. On the server, every load is
data-only (``load_data_only``, i.e. ``allow_code=False``): only skops (with its type audit
and no trusted types from the caller or the model's files) and ONNX; a code-bearing flavor
(pyfunc, pickle, an MLflow pickled model) is refused with PermissionDenied naming it,
because loading it imports or runs code the model names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from modelward.errors import InvalidInput, PermissionDenied
from modelward.formats import flavors
from modelward.formats.requirements import warn_on_mismatch
from modelward.formats.signature import Signature, enforce, infer_signature

MLMODEL = "MLmodel"


class LoadedModel:
    """A model ready to predict; inputs are checked against ``signature`` when there is one."""

    def __init__(self, predictor: Any, *, flavor: str, signature: Signature | None, metadata: dict[str, Any]) -> None:
        self._predictor = predictor
        self.flavor = flavor
        self.signature = signature
        self.metadata = metadata

    @property
    def raw(self) -> Any:
        """The underlying object (estimator, onnxruntime session, pyfunc instance)."""
        return self._predictor.raw

    def _prepare(self, data: Any) -> Any:
        return enforce(self.signature, data) if self.signature is not None else data

    def predict(self, data: Any) -> Any:
        return self._predictor.predict(self._prepare(data))

    def predict_prepared(self, data: Any) -> Any:
        """predict on input the caller has already checked against the signature (no second check)."""
        return self._predictor.predict(data)

    def __repr__(self) -> str:
        return f"<LoadedModel flavor={self.flavor} source={self.metadata.get('source')!r}>"


class ProbabilisticLoadedModel(LoadedModel):
    """A LoadedModel whose model also offers class probabilities."""

    def predict_proba(self, data: Any) -> Any:
        return self._predictor.predict_proba(self._prepare(data))

    def predict_proba_prepared(self, data: Any) -> Any:
        return self._predictor.predict_proba(data)


# -- predictors: one small adapter per flavor ----------------------------------------------------


class _ObjectPredictor:
    def __init__(self, obj: Any) -> None:
        self.raw = obj

    @property
    def has_proba(self) -> bool:
        return hasattr(self.raw, "predict_proba")

    def predict(self, data: Any) -> Any:
        if not hasattr(self.raw, "predict") and callable(self.raw):
            return self.raw(data)
        return self.raw.predict(data)

    def predict_proba(self, data: Any) -> Any:
        return self.raw.predict_proba(data)


class _OnnxPredictor:
    def __init__(self, session: Any) -> None:
        self.raw = session
        self.inputs = session.get_inputs()
        self.outputs = [o.name for o in session.get_outputs()]

    @property
    def has_proba(self) -> bool:
        return len(self.outputs) > 1

    def _feed(self, data: Any) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        if len(self.inputs) > 1 and isinstance(data, pd.DataFrame):
            return {i.name: _onnx_array(data[i.name].to_numpy().reshape(-1, 1), i.type) for i in self.inputs}
        array = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
        return {self.inputs[0].name: _onnx_array(array, self.inputs[0].type)}

    def predict(self, data: Any) -> Any:
        return self.raw.run([self.outputs[0]], self._feed(data))[0]

    def predict_proba(self, data: Any) -> Any:
        import numpy as np

        probabilities = self.raw.run([self.outputs[1]], self._feed(data))[0]
        if isinstance(probabilities, list):  # skl2onnx's ZipMap: one {label: p} dict per row
            labels = sorted(probabilities[0]) if probabilities else []
            return np.array([[row[label] for label in labels] for row in probabilities])
        return probabilities


_ONNX_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
                "tensor(int32)": "int32", "tensor(string)": "object", "tensor(bool)": "bool"}


def _onnx_array(array: Any, onnx_type: str) -> Any:
    dtype = _ONNX_DTYPES.get(onnx_type)
    return array.astype(dtype) if dtype else array


def _wrap(predictor: Any, *, flavor: str, signature: Signature | None, metadata: dict[str, Any]) -> LoadedModel:
    cls = ProbabilisticLoadedModel if predictor.has_proba else LoadedModel
    return cls(predictor, flavor=flavor, signature=signature, metadata=metadata)


# -- folders ---------------------------------------------------------------------------------------

CODE_FLAVORS = ("pyfunc", "pickle")


def stored_flavor(folder: str | Path) -> str:
    """The flavor a saved model folder declares, read as data (YAML) without loading anything:
    ``sklearn``, ``onnx``, ``pyfunc``, ``pickle``, or ``mlflow-<flavor>`` / ``mlflow-sklearn-pickle``."""
    folder = Path(folder)
    if (folder / flavors.MANIFEST).is_file():
        return flavors.Manifest.read(folder).flavor
    if (folder / MLMODEL).is_file():
        model_flavors = _mlmodel(folder).get("flavors") or {}
        if "sklearn" in model_flavors:
            serialization = (model_flavors["sklearn"] or {}).get("serialization_format", "pickle")
            return "mlflow-sklearn" if serialization == "skops" else "mlflow-sklearn-pickle"
        return "mlflow-onnx" if "onnx" in model_flavors else "mlflow-" + "+".join(sorted(map(str, model_flavors)))
    raise InvalidInput(f"{folder} holds neither {flavors.MANIFEST} nor {MLMODEL}: it is not a saved model")


def stored_description(folder: str | Path) -> dict[str, Any]:
    """What a saved model states about itself, read as data only (YAML): flavor, signature,
    requirements and whether it offers predict_proba. Nothing of the model is loaded."""
    folder = Path(folder)
    flavor = stored_flavor(folder)
    if (folder / flavors.MANIFEST).is_file():
        manifest = flavors.Manifest.read(folder)
        signature = Signature.from_dict(manifest.signature) if manifest.signature else None
        return {"flavor": flavor, "signature": signature, "requirements": manifest.requirements,
                "predict_proba": manifest.predict_proba, "python_version": manifest.python_version}
    return {"flavor": flavor, "signature": _mlflow_signature(_mlmodel(folder).get("signature")),
            "requirements": _requirements_txt(folder), "predict_proba": False, "python_version": None}


def is_code_bearing(flavor: str) -> bool:
    """Does loading this flavor import or unpickle code (anything but skops and ONNX)?"""
    return flavor not in ("sklearn", "onnx", "mlflow-sklearn", "mlflow-onnx")


def _refuse_code(flavor: str, folder: Path) -> PermissionDenied:
    return PermissionDenied(
        f"the model in {folder.name} is a '{flavor}' model: loading it imports or unpickles code the model "
        "names, and a data-only load (the server's) never does that. Save it with skops "
        "(modelward.models.save(model, path) for scikit-learn) or as ONNX, or evaluate it where you trust it "
        "(modelward.sdk.local_evaluation.evaluate_locally, advisory), or ask an admin to enable the isolated "
        "worker for it (policy: evaluation: {code_models: isolated})."
    )


def load_data_only(folder: str | Path, source: str | None = None) -> LoadedModel:
    """The server's loader: skops (default-trusted types plus ``SAFE_SKOPS_TYPES`` only) and ONNX."""
    return load_folder(folder, allow_code=False, source=source)


def load_folder(
    folder: str | Path, *, trust_pickle: bool = False, trusted_types: list[str] | None = None,
    source: str | None = None, allow_code: bool = True,
) -> LoadedModel:
    """Load a saved model folder; ``allow_code=False`` is the data-only mode (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder holding a saved model")
    if not allow_code:
        flavor = stored_flavor(folder)
        if is_code_bearing(flavor):
            raise _refuse_code(flavor, folder)
        trust_pickle, trusted_types = False, None  # nothing beyond skops' defaults and SAFE_SKOPS_TYPES
    if (folder / flavors.MANIFEST).is_file():
        return _load_modelward(folder, trust_pickle=trust_pickle, trusted_types=trusted_types, source=source,
                               allow_code=allow_code)
    if (folder / MLMODEL).is_file():
        return _load_mlflow(folder, trust_pickle=trust_pickle, trusted_types=trusted_types, source=source)
    raise InvalidInput(f"{folder} holds neither {flavors.MANIFEST} nor {MLMODEL}: it is not a saved model")


def _load_modelward(folder: Path, *, trust_pickle: bool, trusted_types: list[str] | None, source: str | None,
                    allow_code: bool = True) -> LoadedModel:
    manifest = flavors.Manifest.read(folder)
    if not allow_code and manifest.flavor in CODE_FLAVORS:  # checked again right where it is loaded
        raise _refuse_code(manifest.flavor, folder)
    warn_on_mismatch(manifest.requirements, model=source or str(folder))
    model_path = flavors.confined(folder, manifest.model_file) if manifest.model_file else folder
    if manifest.flavor == "sklearn":
        predictor: Any = _ObjectPredictor(flavors.load_skops(model_path, trusted_types=trusted_types))
    elif manifest.flavor == "onnx":
        predictor = _OnnxPredictor(flavors.load_onnx_session(model_path))
    elif manifest.flavor == "pyfunc":
        predictor = _ObjectPredictor(flavors.load_pyfunc(folder, manifest.pyfunc or {}))
    else:
        predictor = _ObjectPredictor(flavors.load_pickle(model_path, trust_pickle=trust_pickle))
    signature = Signature.from_dict(manifest.signature) if manifest.signature else None
    metadata = {
        "source": source or str(folder), "format": "modelward", "flavor": manifest.flavor,
        "requirements": manifest.requirements, "python_version": manifest.python_version,
        "created_at": manifest.created_at,
    }
    return _wrap(predictor, flavor=manifest.flavor, signature=signature, metadata=metadata)


def _load_mlflow(folder: Path, *, trust_pickle: bool, trusted_types: list[str] | None, source: str | None) -> LoadedModel:
    """An MLflow model folder (sklearn or onnx flavor), as logged by the ``mlflow`` client."""
    mlmodel = _mlmodel(folder)
    model_flavors = mlmodel.get("flavors") or {}
    requirements = _requirements_txt(folder)
    warn_on_mismatch(requirements, model=source or str(folder))
    if "sklearn" in model_flavors:
        conf = model_flavors["sklearn"]
        path = flavors.confined(folder, str(conf.get("pickled_model") or "model.pkl"))
        serialization = conf.get("serialization_format", "pickle")
        if serialization == "skops":
            # MLmodel's own skops_trusted_types is ignored on purpose: a crafted model would list its gadget.
            predictor: Any = _ObjectPredictor(flavors.load_skops(path, trusted_types=trusted_types))
        else:
            if not trust_pickle:
                raise PermissionDenied(
                    f"this MLflow model is saved as {serialization} ({path.name}): loading it runs arbitrary "
                    "code from the file. Pass trust_pickle=True only if you trust its source, or log it "
                    "with mlflow.sklearn.log_model(..., serialization_format='skops')."
                )
            predictor = _ObjectPredictor(flavors.load_pickle(path, trust_pickle=True))
        flavor = "sklearn"
    elif "onnx" in model_flavors:
        path = flavors.confined(folder, str(model_flavors["onnx"].get("data") or "model.onnx"))
        predictor, flavor = _OnnxPredictor(flavors.load_onnx_session(path)), "onnx"
    else:
        raise InvalidInput(
            f"MLflow flavors {sorted(model_flavors)} are not supported by modelward's loader: "
            "only 'sklearn' and 'onnx' (other flavors pickle Python code)"
        )
    signature = _mlflow_signature(mlmodel.get("signature"))
    metadata = {"source": source or str(folder), "format": "mlflow", "flavor": flavor,
                "requirements": requirements, "mlflow_version": mlmodel.get("mlflow_version")}
    return _wrap(predictor, flavor=flavor, signature=signature, metadata=metadata)


def _mlmodel(folder: Path) -> dict[str, Any]:
    try:
        found = yaml.safe_load((folder / MLMODEL).read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{folder / MLMODEL} is not valid YAML: {exc}") from None
    if not isinstance(found, dict):
        raise InvalidInput(f"{folder / MLMODEL} is not a YAML mapping")
    return found


def _requirements_txt(folder: Path) -> list[str]:
    path = folder / "requirements.txt"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text("utf-8").splitlines())
    return [line for line in lines if line and not line.startswith(("#", "-"))]


def _mlflow_signature(raw: Any) -> Signature | None:
    """MLflow column signatures map onto ours (same type names); tensor signatures are not enforced."""
    if not isinstance(raw, dict) or not raw.get("inputs"):
        return None
    inputs = json.loads(raw["inputs"]) if isinstance(raw["inputs"], str) else raw["inputs"]
    if not all(isinstance(col, dict) and col.get("name") and col.get("type") != "tensor" for col in inputs):
        return None
    columns = [{"name": c["name"], "type": c["type"], "nullable": not c.get("required", True)} for c in inputs]
    return Signature.from_dict({"input_kind": "dataframe", "inputs": columns})


# -- saving ------------------------------------------------------------------------------------------


def save(
    model: Any,
    path: str | Path,
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Signature | None = None,
    requirements: list[str] | None = None,
) -> Path:
    """Write ``model`` to the folder ``path`` (created; must be empty or absent) and return it.

    The signature is inferred from ``input_example`` (and the model's output on it) unless
    given; ``requirements`` replaces the pinned list captured for the flavor.
    """
    folder = Path(path)
    if folder.exists() and any(folder.iterdir()):
        raise InvalidInput(f"{folder} is not empty: save a model into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    flavor = flavor or flavors.detect_flavor(model)
    manifest = flavors.write_model(model, folder, flavor)
    if signature is None and input_example is not None:
        signature = _infer(model, flavor, input_example)
    if signature is not None:
        manifest.signature = signature.to_dict()
    if requirements is not None:
        manifest.requirements = list(requirements)
    (folder / flavors.MANIFEST).write_text(manifest.to_yaml(), "utf-8")
    return folder


def _infer(model: Any, flavor: str, example: Any) -> Signature:
    output = None
    try:
        if flavor == "onnx":
            output = None  # ONNX graphs are not run at save time; the graph describes its outputs
        elif hasattr(model, "predict"):
            output = model.predict(example)
        elif callable(model):
            output = model(example)
    except Exception:  # the output part of a signature is optional; the input part is what is enforced
        output = None
    return infer_signature(example, output)
