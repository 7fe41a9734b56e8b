"""MLflow tests the harness does not run, for either target, each with its reason.

Keys are ``file::test`` (every parametrisation) or ``file::test[params]``. A test is here
only when it cannot say anything about a server's REST API: it asserts MLflow's on-disk
layout, drives MLflow's own internals with no server, starts an MLflow server with
MLflow-only flags, or needs docker or the internet. Tests of features modelward declines
(MLflow's GenAI surface) are *not* here: they run, and the summary files them as declined.
"""

DESELECTED: dict[str, str] = {
    "test_rest_tracking.py::test_get_metric_history_bulk_calls_optimized_impl_when_expected": (
        "calls MLflow's Flask handler with a mocked SqlAlchemyStore: MLflow internals, no server"
    ),
    "test_rest_tracking.py::test_create_model_version_with_validation_regex": (
        "starts its own `mlflow server` with the MLflow-only setting "
        "MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX"
    ),
    "test_rest_tracking.py::test_gateway_proxy_handler_rejects_invalid_requests": (
        "starts its own MLflow Flask server with MLFLOW_DEPLOYMENTS_TARGET (MLflow-only flag; "
        "the AI gateway proxy is GenAI, declined)"
    ),
    "test_mlflow_artifacts.py::test_mlflow_artifacts_example": "needs docker (docker compose)",
    "test_mlflow_artifacts.py::test_mlflow_artifacts_rest_apis": (
        "asserts MLflow's on-disk layout of --artifacts-destination (files at the uploaded path)"
    ),
    "test_mlflow_artifacts.py::test_log_artifact": (
        "asserts MLflow's on-disk layout of --artifacts-destination (<exp>/<run>/artifacts/<file>)"
    ),
    "test_mlflow_artifacts.py::test_rest_get_model_version_artifact_api_proxied_artifact_root": (
        "writes a file straight into --artifacts-destination and opens the server's SQLite "
        "file as its own store (MLflow's on-disk layout and schema)"
    ),
}
