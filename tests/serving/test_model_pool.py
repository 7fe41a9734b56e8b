"""ModelPool: registered versions loaded once per process for serving, from verified files, data-only
in this process and code-bearing ones only in an isolated worker when the policy says so.

Real models trained on scikit-learn's bundled datasets, registered through the embedded SDK on one
temporary store per module; the pool reads the same store through its own Backend."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelward import models
from modelward.errors import IntegrityError, InvalidInput, PolicyViolation, ServiceUnavailable
from modelward.sdk.client import Client
from modelward.services import model_files, registry
from modelward.services.backend import Backend
from modelward.services.model_pool import ModelPool
from modelward.settings import Settings
from tests.governance.helpers import BiasedBySex

ISOLATED_POLICY = "model: {name}\nrelease: {{code_models: isolated}}\n"


def _iris() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True, as_frame=True)


def _diabetes() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_diabetes

    return load_diabetes(return_X_y=True, as_frame=True)


def _classifier(c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    x, y = _iris()
    return LogisticRegression(C=c, max_iter=1000).fit(x, y)


class Store:
    def __init__(self, client: Client, backend: Backend, root: Path) -> None:
        self.client, self.backend, self.root = client, backend, root
        self.estimators: dict[str, Any] = {}

    def register(self, name: str, model: Any, *, flavor: str | None = None, example: Any = None,
                 signature: Any = None, estimator: Any = None) -> int:
        folder = models.save(model, self.root / f"saved-{name}", flavor=flavor, input_example=example,
                             signature=signature)
        self.estimators[name] = estimator if estimator is not None else model
        return self.register_folder(name, folder)

    def register_folder(self, name: str, folder: Path) -> int:
        return self.client.models.register(name, local_path=folder).version


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("pool")
    settings = Settings(home=root / "store")
    with Client(settings=settings) as client:
        backend = Backend.from_settings(settings)
        found = Store(client, backend, root)
        x, _ = _iris()
        found.register("iris-skops", _classifier(), example=x.head())
        found.register("tampered", _classifier(c=0.25), example=x.head())
        found.register("pickled", _classifier(c=0.5), flavor="pickle", example=x.head())
        found.register("pickled-refused", _classifier(c=0.75), flavor="pickle", example=x.head())
        frame = pd.DataFrame({"sex": ["F", "M"]})
        found.register("pyfunc-refused", BiasedBySex(), flavor="pyfunc", signature=models.infer_signature(frame))
        client.policies.set(ISOLATED_POLICY.format(name="pickled"))
        yield found
        backend.close()


@pytest.fixture
def pool(store: Store, tmp_path: Path) -> Iterator[ModelPool]:
    with ModelPool(store.backend, work_dir=tmp_path / "work") as fresh:
        yield fresh


# -- data-only formats load in this process and predict as the estimator does --------------------


def test_a_skops_version_predicts_as_the_estimator_does(store: Store, pool: ModelPool) -> None:
    x, _ = _iris()
    served = pool.get("iris-skops", 1)
    estimator = store.estimators["iris-skops"]
    assert (served.name, served.version, served.flavor, served.isolated) == ("iris-skops", 1, "sklearn", False)
    assert served.artifact_digest == registry.get_version(store.backend, "iris-skops", 1).artifact_digest
    assert served.signature is not None and served.signature.column_names == list(x.columns)
    assert served.has_proba
    np.testing.assert_array_equal(served.predict(x), estimator.predict(x))
    np.testing.assert_array_equal(served.predict_checked(x), estimator.predict(x))
    np.testing.assert_allclose(served.predict_proba(x), estimator.predict_proba(x))
    with pytest.raises(InvalidInput, match="missing column"):
        served.predict(x.drop(columns=[x.columns[0]]))


def test_an_onnx_version_predicts_as_the_estimator_does(store: Store, pool: ModelPool) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LinearRegression

    x, y = _diabetes()
    estimator = LinearRegression().fit(x, y)
    onnx_model = convert_sklearn(estimator, initial_types=[("X", FloatTensorType([None, x.shape[1]]))])
    features = x.astype("float32")
    version = store.register("diabetes-onnx", onnx_model, example=features.head(), estimator=estimator)
    served = pool.get("diabetes-onnx", version)
    assert (served.flavor, served.isolated, served.has_proba) == ("onnx", False, False)
    np.testing.assert_allclose(np.ravel(served.predict(features)), estimator.predict(x), rtol=1e-4, atol=1e-3)
    with pytest.raises(InvalidInput, match="model 'diabetes-onnx' version 1 has no predict_proba"):
        served.predict_proba(features)


# -- once per process ------------------------------------------------------------------------------


def test_get_twice_returns_the_same_loaded_model(pool: ModelPool) -> None:
    first = pool.get("iris-skops", 1)
    assert pool.get("iris-skops", 1) is first
    assert pool.loads == 1 and pool.loaded() == [("iris-skops", 1)]


def test_eight_threads_asking_at_once_load_the_version_once(pool: ModelPool) -> None:
    start = threading.Barrier(8)
    found: list[Any] = []

    def ask() -> None:
        start.wait()
        found.append(pool.get("iris-skops", 1))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and len({id(served) for served in found}) == 1
    assert pool.loads == 1


def test_evict_forgets_the_version_and_the_next_get_loads_it_again(pool: ModelPool) -> None:
    first = pool.get("iris-skops", 1)
    assert pool.evict("iris-skops", 1) and not pool.evict("iris-skops", 1)
    assert pool.loaded() == []
    assert pool.get("iris-skops", 1) is not first and pool.loads == 2


# -- integrity -----------------------------------------------------------------------------------------


def test_a_tampered_blob_is_refused_and_nothing_is_cached(store: Store, pool: ModelPool) -> None:
    version = registry.get_version(store.backend, "tampered", 1)
    weights = next(f for f in version.files if f.path.endswith(".skops"))
    root = store.backend.artifacts.local_root
    assert root is not None
    blob = root / "blobs" / weights.digest[:2] / weights.digest[2:]
    blob.chmod(0o644)
    blob.write_bytes(b"not the weights that were registered")
    with pytest.raises(IntegrityError, match="version 1 of model 'tampered' cannot be loaded: its file 'model.skops'"):
        pool.get("tampered", 1)
    assert pool.loaded() == [] and pool.loads == 0
    with pytest.raises(IntegrityError):  # refused again, not half-cached by the first attempt
        pool.get("tampered", 1)


def test_files_that_do_not_hash_to_the_artifact_digest_are_refused(store: Store, tmp_path: Path) -> None:
    version = registry.get_version(store.backend, "iris-skops", 1)
    claimed = version.model_copy(update={"artifact_digest": "0" * 64})
    with pytest.raises(IntegrityError, match="not to the version's artifact digest 0000"):
        model_files.download(store.backend, claimed, tmp_path / "claimed")
    assert model_files.download(store.backend, version, tmp_path / "real").is_dir()


# -- code-bearing formats: refused by default, isolated when the policy says so ----------------------


@pytest.mark.parametrize(("name", "flavor"), [("pickled-refused", "pickle"), ("pyfunc-refused", "pyfunc")])
def test_a_code_bearing_version_is_refused_under_the_default_policy(pool: ModelPool, name: str, flavor: str) -> None:
    with pytest.raises(PolicyViolation, match=rf"model '{name}' is a '{flavor}' model") as refused:
        pool.get(name, 1)
    assert "release: {code_models: isolated}" in str(refused.value)
    assert pool.loaded() == [] and pool.loads == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the isolated worker needs Linux namespaces")
def test_a_pickle_version_is_served_from_an_isolated_worker_when_the_policy_allows(store: Store, pool: ModelPool) -> None:
    x, _ = _iris()
    served = pool.get("pickled", 1)
    assert served.isolated and served.flavor == "pickle"
    pid = served.worker_pid
    assert pid is not None and pid != os.getpid()
    estimator = store.estimators["pickled"]
    np.testing.assert_array_equal(served.predict(x), estimator.predict(x))
    np.testing.assert_allclose(served.predict_proba(x), estimator.predict_proba(x))
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(served.predict(x.head(20)))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 4 and all((a == estimator.predict(x.head(20))).all() for a in answers)
    assert pool.probe("pickled", 1)["ok"]
    os.kill(pid, signal.SIGKILL)  # a worker that stops (a limit, a crash) is replaced by the next get
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # until it has ended (left for its Popen to reap)
    assert not served.healthy
    with pytest.raises(ServiceUnavailable, match="isolated worker stopped"):
        served.predict(x)
    replaced = pool.get("pickled", 1)
    second = replaced.worker_pid
    assert replaced is not served and second not in (None, pid, os.getpid()) and pool.loads == 2
    np.testing.assert_array_equal(replaced.predict(x), estimator.predict(x))
    assert pool.evict("pickled", 1) and not replaced.healthy
    with pytest.raises(ProcessLookupError):  # evicting stopped the worker process
        os.kill(second, 0)


# -- probe ------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer")
def test_probe_predicts_on_the_versions_input_example(store: Store, pool: ModelPool) -> None:
    import mlflow.sklearn

    x, _ = _iris()
    estimator = _classifier(c=2.0)
    folder = store.root / "mlflow-iris"
    mlflow.sklearn.save_model(estimator, folder, serialization_format="skops", input_example=x.head(3))
    version = store.register_folder("mlflow-iris", folder)
    served = pool.get("mlflow-iris", version)
    assert served.flavor == "mlflow-sklearn" and not served.isolated
    pd.testing.assert_frame_equal(served.input_example, x.head(3).reset_index(drop=True))
    answer = pool.probe("mlflow-iris", version)
    assert answer["ok"] and answer["rows"] == 3 and answer["error"] is None
    assert answer["note"] == "the version's input example" and isinstance(answer["latency_ms"], float)


def test_probe_without_an_example_predicts_on_a_row_made_from_the_signature(pool: ModelPool) -> None:
    served = pool.get("iris-skops", 1)
    assert served.input_example is None
    answer = pool.probe("iris-skops", 1)
    assert answer["ok"] and answer["rows"] == 1 and "signature" in answer["note"]


def test_probe_of_a_refused_version_answers_not_ok(pool: ModelPool) -> None:
    answer = pool.probe("pickled-refused", 1)
    assert not answer["ok"] and "'pickle' model" in answer["error"] and answer["rows"] == 0


def test_a_closed_pool_loads_nothing(store: Store) -> None:
    pool = ModelPool(store.backend)
    pool.get("iris-skops", 1)
    pool.close()
    assert pool.loaded() == []
    with pytest.raises(ServiceUnavailable, match="closed"):
        pool.get("iris-skops", 1)
