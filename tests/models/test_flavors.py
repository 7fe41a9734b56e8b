"""Saving and loading each flavor, with signatures and requirements enforced."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from modelward import models
from modelward.errors import InvalidInput, PermissionDenied
from modelward.formats.flavors import MANIFEST
from modelward.formats.requirements import RequirementsMismatchWarning
from tests.models import pyfunc_example


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(18, 90, 60).astype("int64"), "income": rng.normal(50, 10, 60)})
    labels = (frame["income"] > 50).astype(int).to_numpy()
    return frame, labels


def test_sklearn_round_trip_predicts_the_same(tmp_path: Path, data) -> None:
    frame, labels = data
    model = LogisticRegression().fit(frame, labels)
    folder = models.save(model, tmp_path / "m", input_example=frame.head(5))
    manifest = yaml.safe_load((folder / MANIFEST).read_text())
    assert manifest["flavor"] == "sklearn" and manifest["model_file"] == "model.skops"
    assert manifest["predict_proba"] is True
    assert [c["name"] for c in manifest["signature"]["inputs"]] == ["age", "income"]
    assert any(r.startswith("scikit-learn==") for r in manifest["requirements"])
    loaded = models.load(folder)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))
    assert loaded.signature is not None and loaded.flavor == "sklearn"


def test_regressor_has_no_predict_proba(tmp_path: Path, data) -> None:
    frame, labels = data
    loaded = models.load(models.save(LinearRegression().fit(frame, labels), tmp_path / "m", input_example=frame))
    assert not hasattr(loaded, "predict_proba")
    assert loaded.predict(frame).shape == (60,)


def test_tree_ensembles_load_with_the_default_allow_list(tmp_path: Path, data) -> None:
    frame, labels = data
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(frame, labels)
    loaded = models.load(models.save(model, tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_skops_file_with_unknown_type_is_refused_unless_trusted(tmp_path: Path) -> None:
    import skops.io

    folder = models.save(pyfunc_example.Threshold(1.0), tmp_path / "m", flavor="pickle")  # any folder
    skops.io.dump({"model": pyfunc_example.Threshold(0.5)}, folder / "model.skops")
    manifest = yaml.safe_load((folder / MANIFEST).read_text())
    manifest.update(flavor="sklearn", model_file="model.skops")
    (folder / MANIFEST).write_text(yaml.safe_dump(manifest))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RequirementsMismatchWarning)
        with pytest.raises(PermissionDenied, match="tests.models.pyfunc_example.Threshold"):
            models.load(folder)
        loaded = models.load(folder, trusted_types=["tests.models.pyfunc_example.Threshold"])
    assert loaded.raw["model"].cut == 0.5


def test_signature_missing_column_is_an_error(tmp_path: Path, data) -> None:
    frame, labels = data
    loaded = models.load(models.save(LogisticRegression().fit(frame, labels), tmp_path / "m", input_example=frame))
    with pytest.raises(InvalidInput, match="missing column.*'income'"):
        loaded.predict(frame[["age"]])


def test_signature_wrong_type_names_column_and_both_types(tmp_path: Path, data) -> None:
    frame, labels = data
    loaded = models.load(models.save(LogisticRegression().fit(frame, labels), tmp_path / "m", input_example=frame))
    bad = frame.assign(income=["high"] * len(frame))
    with pytest.raises(InvalidInput, match="'income' has type string.*expects double"):
        loaded.predict(bad)


def test_signature_widens_int_to_float_and_drops_extra_columns(tmp_path: Path, data) -> None:
    frame, labels = data
    model = LogisticRegression().fit(frame, labels)
    loaded = models.load(models.save(model, tmp_path / "m", input_example=frame))
    as_ints = frame.assign(income=frame["income"].round().astype("int64"), extra=1)[["extra", "income", "age"]]
    with pytest.warns(UserWarning, match="'extra' are not in the model's signature"):
        predicted = loaded.predict(as_ints)
    np.testing.assert_array_equal(predicted, model.predict(as_ints[["age", "income"]].astype({"income": float})))


def test_dict_input_is_accepted(tmp_path: Path, data) -> None:
    frame, labels = data
    model = LogisticRegression().fit(frame, labels)
    loaded = models.load(models.save(model, tmp_path / "m", input_example=frame))
    assert loaded.predict({"age": 40, "income": 80.0}).tolist() == model.predict(pd.DataFrame([{"age": 40, "income": 80.0}])).tolist()


def test_ndarray_signature_checks_width(tmp_path: Path, data) -> None:
    frame, labels = data
    array = frame.to_numpy(dtype=float)
    loaded = models.load(models.save(LogisticRegression().fit(array, labels), tmp_path / "m", input_example=array))
    assert loaded.signature.input_kind == "ndarray"
    with pytest.raises(InvalidInput, match="shape"):
        loaded.predict(array[:, :1])


def test_requirements_mismatch_warns_naming_each_package(tmp_path: Path, data) -> None:
    frame, labels = data
    folder = models.save(LogisticRegression().fit(frame, labels), tmp_path / "m")
    manifest = yaml.safe_load((folder / MANIFEST).read_text())
    manifest["requirements"] = ["scikit-learn==1.4.0", "numpy==0.0.1", "surely-not-installed==1.0"]
    (folder / MANIFEST).write_text(yaml.safe_dump(manifest))
    with pytest.warns(RequirementsMismatchWarning) as caught:
        models.load(folder)
    messages = [str(w.message) for w in caught]
    assert any("scikit-learn: saved with 1.4.0, running " in m for m in messages)
    assert any("numpy: saved with 0.0.1, running " in m for m in messages)
    assert any("surely-not-installed: saved with 1.0, not installed" in m for m in messages)


def test_pickle_needs_the_trust_flag(tmp_path: Path, data) -> None:
    frame, labels = data
    model = LogisticRegression().fit(frame, labels)
    folder = models.save(model, tmp_path / "m", flavor="pickle")
    with pytest.raises(PermissionDenied, match="trust_pickle=True"):
        models.load(folder)
    loaded = models.load(folder, trust_pickle=True)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_onnx_round_trip_matches_sklearn(tmp_path: Path, data) -> None:
    from skl2onnx import to_onnx

    frame, labels = data
    array = frame.to_numpy(dtype=np.float32)
    model = LogisticRegression().fit(array, labels)
    onx = to_onnx(model, array[:1])
    loaded = models.load(models.save(onx, tmp_path / "m", input_example=array))
    assert loaded.flavor == "onnx"
    np.testing.assert_array_equal(loaded.predict(array), model.predict(array))
    np.testing.assert_allclose(loaded.predict_proba(array), model.predict_proba(array), atol=1e-5)


def test_pyfunc_class_with_state_and_plain_function(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [0.1, 0.9, 2.0]})
    folder = models.save(pyfunc_example.Threshold(0.5), tmp_path / "c", input_example=frame)
    manifest = yaml.safe_load((folder / MANIFEST).read_text())
    assert manifest["pyfunc"]["reference"] == "tests.models.pyfunc_example:Threshold"
    assert models.load(folder).predict(frame).tolist() == [0, 1, 1]
    function = models.load(models.save(pyfunc_example.double, tmp_path / "f", input_example=frame))
    assert function.predict(frame).tolist() == [0.2, 1.8, 4.0]


def test_pyfunc_refuses_code_that_cannot_be_imported_later(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="module-level"):
        models.save(lambda frame: frame, tmp_path / "m", flavor="pyfunc")


def test_manifest_cannot_point_outside_the_folder(tmp_path: Path, data) -> None:
    frame, labels = data
    folder = models.save(LogisticRegression().fit(frame, labels), tmp_path / "m")
    manifest = yaml.safe_load((folder / MANIFEST).read_text())
    manifest["model_file"] = "../../etc/passwd"
    (folder / MANIFEST).write_text(yaml.safe_dump(manifest))
    with pytest.raises(InvalidInput, match="outside the model folder"):
        models.load(folder)


def test_mlflow_sklearn_models_load_skops_and_require_trust_for_pickle(tmp_path: Path, data) -> None:
    import mlflow.sklearn

    frame, labels = data
    model = LogisticRegression().fit(frame, labels)
    mlflow.sklearn.save_model(model, str(tmp_path / "skops"), serialization_format="skops", input_example=frame.head(3))
    loaded = models.load(tmp_path / "skops")
    assert loaded.metadata["format"] == "mlflow" and loaded.signature.column_names == ["age", "income"]
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    mlflow.sklearn.save_model(model, str(tmp_path / "pkl"), serialization_format="cloudpickle")
    with pytest.raises(PermissionDenied, match="trust_pickle=True"):
        models.load(tmp_path / "pkl")
    np.testing.assert_array_equal(models.load(tmp_path / "pkl", trust_pickle=True).predict(frame), model.predict(frame))
