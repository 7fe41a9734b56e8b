"""Flavors: how each kind of model is written to a folder and read back, safely.

A saved model is a folder with ``modelward-model.yaml`` (format below) and the flavor's
model file. The registry reads the same file to fill a version's flavor, signature and
requirements, so keep it small and plain YAML::

    format_version: 1                # bumped only for incompatible changes
    flavor: sklearn                  # sklearn | onnx | pyfunc | pickle
    model_file: model.skops          # relative to the folder
    signature:                       # null when unknown; see modelward.models.signature
      input_kind: dataframe          # dataframe (named columns) | ndarray (one tensor)
      inputs:  [{name: age, type: long, nullable: false}, ...]
      outputs: [{name: prediction, type: long, nullable: false, shape: [-1]}]
    requirements: [scikit-learn==1.9.1, skops==0.16.0, ...]   # pinned, compared on load
    python_version: 3.12.3
    created_at: '2025-01-01T00:00:00+00:00'
    predict_proba: true              # the model offers predict_proba
    pyfunc: {reference: pkg.module:Qualname, state_file: state.json}   # pyfunc only

What each flavor deserializes, and why that is safe or needs trust:

* ``sklearn``: skops (``skops.io``). Only types skops trusts by default, plus
  ``SAFE_SKOPS_TYPES`` below, plus what the caller names in ``trusted_types=``. A file
  with any other type is refused (PermissionDenied listing the types). The allow-list is
  never read from the model folder: a crafted model could allow-list its own gadget.
* ``onnx``: an ONNX graph run by onnxruntime. No Python objects are deserialized.
* ``pyfunc``: a plain Python function or class the user provides in an importable module,
  saved as a ``module:qualname`` reference plus optional JSON state (``get_state()`` /
  ``from_state(state)``). Loading imports that module: it must be trusted code on the
  import path. No bytes are deserialized into Python objects.
* ``pickle``: cloudpickle. Loading a pickle runs arbitrary code, so it is done only when
  the caller passes ``trust_pickle=True``; the server never loads models at all.
"""

from __future__ import annotations

import importlib
import json
import pickle
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from modelward.errors import InvalidInput, PermissionDenied
from modelward.models.requirements import requirements_for

MANIFEST = "modelward-model.yaml"
FORMAT_VERSION = 1
FLAVORS = ("sklearn", "onnx", "pyfunc", "pickle")
MODEL_FILES = {"sklearn": "model.skops", "onnx": "model.onnx", "pyfunc": "state.json", "pickle": "model.pkl"}
# Types skops does not trust by default but which hold only numbers: the fitted trees of
# every tree ensemble. Extend per call with trusted_types=, never from a model's files.
SAFE_SKOPS_TYPES = ("sklearn.tree._tree.Tree",)


@dataclass
class Manifest:
    flavor: str
    model_file: str
    signature: dict[str, Any] | None = None
    requirements: list[str] = field(default_factory=list)
    python_version: str = field(default_factory=platform.python_version)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    predict_proba: bool = False
    pyfunc: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION

    def to_yaml(self) -> str:
        data = {
            "format_version": self.format_version, "flavor": self.flavor, "model_file": self.model_file,
            "signature": self.signature, "requirements": self.requirements,
            "python_version": self.python_version, "created_at": self.created_at,
            "predict_proba": self.predict_proba,
        }
        if self.pyfunc is not None:
            data["pyfunc"] = self.pyfunc
        return yaml.safe_dump(data, sort_keys=False)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            data = yaml.safe_load(path.read_text("utf-8"))
        except FileNotFoundError:
            raise InvalidInput(f"{folder} is not a saved model: it has no {MANIFEST}") from None
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict) or data.get("flavor") not in FLAVORS:
            raise InvalidInput(f"{path}: 'flavor' must be one of {', '.join(FLAVORS)}")
        if int(data.get("format_version", 1)) > FORMAT_VERSION:
            raise InvalidInput(
                f"{path} has format_version {data['format_version']}; this modelward reads up to "
                f"{FORMAT_VERSION}: upgrade modelward"
            )
        model_file = str(data.get("model_file") or MODEL_FILES[data["flavor"]])
        confined(folder, model_file)
        return cls(
            flavor=data["flavor"], model_file=model_file, signature=data.get("signature"),
            requirements=[str(r) for r in data.get("requirements") or []],
            python_version=str(data.get("python_version") or ""), created_at=str(data.get("created_at") or ""),
            predict_proba=bool(data.get("predict_proba")), pyfunc=data.get("pyfunc"),
            format_version=int(data.get("format_version", 1)),
        )


def confined(folder: Path, relative: str) -> Path:
    """A file named by the manifest, refused if it points outside the model folder."""
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise InvalidInput(f"model file {relative!r} points outside the model folder")
    return target


def detect_flavor(model: Any) -> str:
    module = type(model).__module__.split(".", 1)[0]
    if module == "sklearn":
        return "sklearn"
    if module == "onnx" and type(model).__name__ == "ModelProto":
        return "onnx"
    if callable(model) or hasattr(model, "predict"):
        return "pyfunc"
    raise InvalidInput(
        f"cannot tell how to save a {type(model).__name__}: pass flavor='sklearn', 'onnx', 'pyfunc' or 'pickle'"
    )


# -- writing -----------------------------------------------------------------------------------


def write_model(model: Any, folder: Path, flavor: str) -> Manifest:
    """Write the model file for ``flavor`` into ``folder``; the manifest is written by the caller."""
    if flavor == "sklearn":
        import skops.io

        skops.io.dump(model, folder / MODEL_FILES["sklearn"])
        return Manifest(flavor, MODEL_FILES["sklearn"], requirements=requirements_for("sklearn"),
                        predict_proba=hasattr(model, "predict_proba"))
    if flavor == "onnx":
        return _write_onnx(model, folder)
    if flavor == "pyfunc":
        return _write_pyfunc(model, folder)
    if flavor == "pickle":
        import cloudpickle

        (folder / MODEL_FILES["pickle"]).write_bytes(cloudpickle.dumps(model))
        module = type(model).__module__
        return Manifest("pickle", MODEL_FILES["pickle"], requirements=requirements_for("pickle", extra_modules=[module]),
                        predict_proba=hasattr(model, "predict_proba"))
    raise InvalidInput(f"unknown flavor {flavor!r}: use one of {', '.join(FLAVORS)}")


def _write_onnx(model: Any, folder: Path) -> Manifest:
    target = folder / MODEL_FILES["onnx"]
    if isinstance(model, (bytes, bytearray)):
        target.write_bytes(bytes(model))
    elif isinstance(model, (str, Path)):
        target.write_bytes(Path(model).read_bytes())
    else:
        target.write_bytes(model.SerializeToString())
    import onnxruntime

    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    return Manifest("onnx", MODEL_FILES["onnx"], requirements=requirements_for("onnx"),
                    predict_proba=len(session.get_outputs()) > 1)


def reference_of(obj: Any) -> str:
    """``module:qualname`` of a function, or of an instance's class; refused if not importable later."""
    target = obj if callable(obj) and not hasattr(obj, "predict") else type(obj)
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", "")
    if not module or module == "__main__" or "<locals>" in qualname or "<lambda>" in qualname:
        raise InvalidInput(
            f"the pyfunc model {qualname or target!r} must be a module-level function or class in an "
            "importable module (not __main__, a lambda or a nested function), so it can be imported when loaded"
        )
    return f"{module}:{qualname}"


def _write_pyfunc(model: Any, folder: Path) -> Manifest:
    reference = reference_of(model)
    spec: dict[str, Any] = {"reference": reference, "state_file": None}
    if hasattr(model, "get_state"):
        state = model.get_state()
        try:
            text = json.dumps(state, sort_keys=True)
        except TypeError as exc:
            raise InvalidInput(f"{reference}.get_state() must return JSON-serialisable data: {exc}") from None
        (folder / MODEL_FILES["pyfunc"]).write_text(text, "utf-8")
        spec["state_file"] = MODEL_FILES["pyfunc"]
    module = reference.split(":", 1)[0]
    return Manifest("pyfunc", spec["state_file"] or "", requirements=requirements_for("pyfunc", extra_modules=[module]),
                    predict_proba=hasattr(model, "predict_proba"), pyfunc=spec)


# -- reading -----------------------------------------------------------------------------------


def load_skops(path: Path, *, trusted_types: list[str] | None = None, trust: bool = False) -> Any:
    """A skops file, refused if it holds a type outside the allow-list (unless ``trust``)."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    allowed = set(SAFE_SKOPS_TYPES) | set(trusted_types or [])
    refused = [t for t in untrusted if t not in allowed]
    if refused and not trust:
        raise PermissionDenied(
            f"{path.name} contains types that are not on the allow-list: {', '.join(refused)}. "
            "If you trust this model's source, pass trusted_types=[...] naming them (or trust=True)."
        )
    return skops.io.load(path, trusted=untrusted)


def load_pickle(path: Path, *, trust_pickle: bool) -> Any:
    if not trust_pickle:
        raise PermissionDenied(
            f"{path.name} is a pickle: loading it runs arbitrary code from the file. Pass "
            "trust_pickle=True only if you trust where this model comes from."
        )
    with open(path, "rb") as handle:
        return pickle.load(handle)  # noqa: S301  -- explicit trust_pickle=True above


def load_onnx_session(path: Path) -> Any:
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def load_pyfunc(folder: Path, spec: dict[str, Any]) -> Any:
    reference = str((spec or {}).get("reference") or "")
    module_name, _, qualname = reference.partition(":")
    if not module_name or not qualname:
        raise InvalidInput(f"pyfunc reference {reference!r} must look like 'package.module:Name'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"cannot import {module_name!r} for pyfunc model {reference}: {exc}") from None
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise InvalidInput(f"module {module_name!r} has no {qualname!r} (pyfunc model {reference})")
    if not isinstance(target, type):
        return target  # a plain function: it is the predict function
    state_file = spec.get("state_file")
    if state_file:
        state = json.loads(confined(folder, str(state_file)).read_text("utf-8"))
        if not hasattr(target, "from_state"):
            raise InvalidInput(f"{reference} has saved state but no from_state(state) classmethod")
        return target.from_state(state)
    return target()
