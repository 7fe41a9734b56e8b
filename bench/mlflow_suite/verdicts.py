"""Why a test that passes on MLflow's server does not pass on modelward's.

``declined``: an MLflow feature modelward does not offer, on purpose (the reason says why).
``gap``: something modelward should do and does not yet (docs/mlflow-compatibility.md).
A test with no verdict is ``unclassified``: read its failure and add it here.
"""

from __future__ import annotations

GENAI = (
    "MLflow's GenAI surface (traces, AI gateway, secrets, scorers, prompts, GenAI evaluation "
    "datasets, issues, assessments) is not offered by modelward; the routes answer 404 "
    "ENDPOINT_NOT_FOUND naming the feature"
)
MLFLOW_UI = (
    "MLflow's web UI routes (GraphQL, ajax-only handlers) are not offered: modelward serves its "
    "own UI; the routes answer 404 ENDPOINT_NOT_FOUND"
)

# (substring of the test name, kind, reason), first match wins
PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("trace", "declined", GENAI),
    ("span", "declined", GENAI),
    ("secret", "declined", GENAI),
    ("endpoint", "declined", GENAI),
    ("gateway", "declined", GENAI),
    ("model_definition", "declined", GENAI),
    ("providers", "declined", GENAI),
    ("list_models", "declined", GENAI),
    ("provider_config", "declined", GENAI),
    ("scorer", "declined", GENAI),
    ("scoring", "declined", GENAI),
    ("evaluation_dataset", "declined", GENAI),
    ("dataset_to_experiments", "declined", GENAI),
    ("dataset_from_experiments", "declined", GENAI),
    ("remove_experiments", "declined", GENAI),
    ("add_experiments", "declined", GENAI),
    ("add_multiple_experiments", "declined", GENAI),
    ("dataset_experiment_association", "declined", GENAI),
    ("issue", "declined", GENAI),
    ("assessment", "declined", GENAI),
    ("promptlab", "declined", GENAI),
    ("prompt", "declined", GENAI),
    ("graphql", "declined", MLFLOW_UI),
)

LOCATIONS = (
    "storage locations are the server's: nothing in a request chooses where files go or names a "
    "server path, so the test's file:// artifact root (under its own folder) does not exist here"
)
USER = (
    "a run's user_id is the authenticated caller ('local' without auth), not the client's claim "
    "(the mlflow.user tag is kept as a tag)"
)
UNVERIFIED_TAGS = (
    "a version whose source is not this server's (here runs:/run_id/model of no run we hold) is an "
    "unverified external reference and says so: its tags include modelward.source_verified=false "
    "(and modelward.claimed_run_id), so exact tag comparisons differ"
)
RUN_ARTIFACTS = (
    "artifacts live in runs: an upload names <experiment>/<run>/artifacts/<path> (the test uploads "
    "to the artifact root itself, outside any run)"
)

# exact test ids (file::name, parameters included or not)
EXACT: dict[str, tuple[str, str]] = {
    "test_rest_tracking.py::test_create_get_search_experiment": ("declined", LOCATIONS),
    "test_rest_tracking.py::test_artifacts": ("declined", LOCATIONS + "; its uploads, listings and "
                                               "downloads pass in test_mlflow_artifacts.py"),
    "test_rest_tracking.py::test_create_run_all_args": ("declined", USER),
    "test_rest_tracking.py::test_create_run_defaults": ("declined", USER),
    "test_rest_tracking.py::test_path_validation": (
        "declined", "two of its three requests go to MLflow's web UI routes (/get-artifact, "
        "/model-versions/get-artifact: declined); artifacts/list refuses '../path' with 400 "
        "INVALID_PARAMETER_VALUE, worded more precisely than 'Invalid path'"),
    "test_rest_tracking.py::test_create_model_version_with_path_source": (
        "declined", "MLflow's rules for a source that is a local path of the server; " + LOCATIONS),
    "test_rest_tracking.py::test_create_model_version_with_non_local_source": (
        "declined", "registers the run's file:// artifact root as a local path, then MLflow's "
        "URI rules for sources; " + LOCATIONS),
    "test_rest_tracking.py::test_create_model_version_with_file_uri": (
        "declined", "MLflow's rules for file:// sources on the server's disk; " + LOCATIONS),
    "test_rest_tracking.py::test_logging_model_with_local_artifact_uri": (
        "declined", "asserts the run's artifact_uri starts with file:// (an xfail that passes on MLflow); "
        + LOCATIONS + "; logging and loading a model this way is covered by tests/mlflow_compat/test_models_e2e.py"),
    "test_rest_tracking.py::test_create_logged_model": (
        "declined", "a logged model's files are artifacts of its source run, so source_run_id must "
        "name a run of this server ('123' names none)"),
    "test_rest_tracking.py::test_get_metric_history_bulk": ("declined", MLFLOW_UI),
    "test_rest_tracking.py::test_search_dataset_handler": ("declined", MLFLOW_UI),
    "test_rest_tracking.py::test_upload_artifact_handler": ("declined", MLFLOW_UI),
    "test_model_registry.py::test_create_and_query_model_version_flow": ("declined", UNVERIFIED_TAGS),
    "test_model_registry.py::test_set_delete_model_version_tag_flow": ("declined", UNVERIFIED_TAGS),
    "test_model_registry.py::test_copy_model_version_flow": ("declined", UNVERIFIED_TAGS),
    "test_mlflow_artifacts.py::test_rest_get_artifact_api": ("declined", MLFLOW_UI),
    "test_mlflow_artifacts.py::test_mime_type_for_download_artifacts_api": ("declined", RUN_ARTIFACTS),
    "test_mlflow_artifacts.py::test_server_overrides_requested_mime_type": ("declined", RUN_ARTIFACTS),
}
PREFIXES = tuple(key for key in EXACT if not key.endswith("]"))


def verdict_for(test_id: str) -> tuple[str, str]:
    base = test_id.split("[", 1)[0]
    if test_id in EXACT:
        return EXACT[test_id]
    if base in EXACT:
        return EXACT[base]
    for prefix in PREFIXES:  # a family: test_get_metric_history_bulk_* and the like
        if base.startswith(prefix):
            return EXACT[prefix]
    name = base.split("::", 1)[-1].lower()
    for needle, kind, reason in PATTERNS:
        if needle in name:
            return kind, reason
    return "unclassified", ""
