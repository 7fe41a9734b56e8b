"""Flavors: how each kind of model is written to a folder and read back, safely.

A saved model is a folder with ``modelward-model.yaml`` (format below) and the flavor's
model file. The registry reads the same file to fill a version's flavor, signature and
requirements, so keep it small and plain YAML::

    format_version: 1                # bumped only for incompatible changes
    flavor: sklearn                  # sklearn | onnx | pyfunc | pickle
    model_file: model.skops          # relative to the folder
    signature:                       # null when unknown; see modelward.formats.signature
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
  ``SAFE_SKOPS_TYPES`` below, plus what the caller names in ``trusted_types=`` (never on the
  server: its data-only loader takes no trusted types). A file with any other type is
  refused (PermissionDenied listing the types). The allow-list is never read from the
  model folder: a crafted model could allow-list its own gadget.
* ``onnx``: an ONNX graph run by onnxruntime. No Python objects are deserialized.
* ``pyfunc``: a plain Python function or class the user provides in an importable module,
  saved as a ``module:qualname`` reference plus optional JSON state (``get_state()`` /
  ``from_state(state)``). Loading imports that module and calls what it names: it is
  code-bearing, loaded only where that code is trusted (the client) or in the sandboxed
  worker (``modelward.evaluation.sandbox``), never in the server process.
* ``pickle``: cloudpickle. Loading a pickle runs arbitrary code, so it is done only when
  the caller passes ``trust_pickle=True``; the server process never loads it.
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
from modelward.formats.requirements import requirements_for

MANIFEST = "modelward-model.yaml"
FORMAT_VERSION = 1
FLAVORS = ("sklearn", "onnx", "pyfunc", "pickle")
MODEL_FILES = {"sklearn": "model.skops", "onnx": "model.onnx", "pyfunc": "state.json", "pickle": "model.pkl"}
# Types skops does not trust by default that we accept, also on the server: the fitted
# ``Tree`` of every tree estimator and ensemble. skops rebuilds it through its own TreeNode
# (constructor Tree(n_features, n_classes, n_outputs), then numeric arrays; no callable is
# read from the file), so loading it runs no code. skops leaves it untrusted because
# scikit-learn indexes the ``nodes`` array without bounds checks; that is why every Tree
# loaded here is checked by ``check_trees`` (child indices inside the array and after their
# parent, so no cycle; feature indices below the width its estimator validates) and refused
# otherwise. Extend per call with trusted_types= (clients only), never from a model's files.
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
    model = skops.io.load(path, trusted=untrusted)
    if not trust and "sklearn.tree._tree.Tree" in untrusted:
        check_trees(model, path.name)
    return model


# -- trees: the bounds scikit-learn does not check ------------------------------------------


def check_trees(model: Any, name: str = "the model") -> None:
    """Refuse any fitted Tree whose arrays would make scikit-learn read out of bounds or loop."""
    from sklearn.tree._tree import Tree

    found: dict[int, Any] = {}
    vetted: set[int] = set()
    problems: list[str] = []
    for obj in _walk(model):
        if isinstance(obj, Tree):
            found[id(obj)] = obj
            continue
        for tree, width in _trees_with_widths(obj, Tree):
            vetted.add(id(tree))
            if width is None or tree.n_features != width:
                problems.append(f"a tree expects {tree.n_features} features where its estimator checks {width}")
    problems += [p for tree in found.values() for p in _tree_structure(tree)]
    if set(found) - vetted:
        problems.append("a Tree outside a scikit-learn tree estimator")
    if problems:
        raise PermissionDenied(f"{name} holds malformed decision trees: {'; '.join(sorted(set(problems))[:5])}")


def _walk(root: Any, limit: int = 100_000) -> Any:
    """Every object reachable through attributes, lists, tuples, dicts and object arrays."""
    import numpy as np

    seen: set[int] = set()
    stack = [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple):
            stack.extend(obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())


def _trees_with_widths(obj: Any, tree_type: type) -> list[tuple[Any, int | None]]:
    """(tree, number of input columns the owner validates before the tree reads them)."""
    import numpy as np

    width = getattr(obj, "n_features_in_", None)
    pairs: list[tuple[Any, int | None]] = []
    if isinstance(getattr(obj, "tree_", None), tree_type):
        pairs.append((obj.tree_, width))
    members = getattr(obj, "estimators_", None)
    if isinstance(members, list | tuple | np.ndarray):
        subsets = getattr(obj, "estimators_features_", None)  # bagging: each member sees a column subset
        for k, member in enumerate(np.asarray(members, dtype=object).ravel().tolist()):
            tree = getattr(member, "tree_", None)
            if isinstance(tree, tree_type):
                pairs.append((tree, len(subsets[k]) if subsets is not None and k < len(subsets) else width))
    return pairs


def _tree_structure(tree: Any) -> list[str]:
    import numpy as np

    nodes = tree.__getstate__()["nodes"]
    n = int(tree.node_count)
    if len(nodes) != n or n < 1:
        return ["a tree's node count does not match its nodes"]
    index = np.arange(n)
    left, right, feature = (np.asarray(nodes[k], dtype=np.int64) for k in ("left_child", "right_child", "feature"))
    leaf = (left == -1) & (right == -1)
    inner = ~leaf
    problems = []
    if np.any(inner & ((left <= index) | (right <= index) | (left >= n) | (right >= n))):
        problems.append("a tree has child indices outside its nodes or before their parent")
    if np.any(inner & ((feature < 0) | (feature >= tree.n_features))):
        problems.append("a tree splits on a feature index outside its inputs")
    return problems


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
