"""modelward: model management for MLOps -- tracking, lineage, registry and governance.

The public names below load on first use (PEP 562 ``__getattr__``), so ``import modelward``
and the CLI's start stay cheap: the SDK, httpx and pydantic load only when a name asks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelward.version import __version__

# Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("Experiment", "Metric", "Run", "RunStatus"), "modelward.domain.tracking"),
    **dict.fromkeys(
        (
            "AlreadyExists",
            "Conflict",
            "IntegrityError",
            "InvalidInput",
            "InvalidTransition",
            "ModelwardError",
            "NotFound",
            "PermissionDenied",
            "PolicyViolation",
            "Unauthenticated",
        ),
        "modelward.errors",
    ),
    "Client": "modelward.sdk.client",
    **dict.fromkeys(
        (
            "ActiveRun",
            "active_run",
            "end_run",
            "flush",
            "get_client",
            "log_artifact",
            "log_artifacts",
            "log_dict",
            "log_figure",
            "log_metric",
            "log_metrics",
            "log_param",
            "log_params",
            "log_text",
            "note",
            "set_experiment",
            "set_tag",
            "set_tags",
            "set_tracking_uri",
            "start_run",
        ),
        "modelward.sdk.fluent",
    ),
    **dict.fromkeys(("log_dataset", "log_input", "log_output", "reproduction_params"), "modelward.sdk.fluent_lineage"),
}

__all__ = [  # literal, so linters see the re-exports; tests/test_layers.py checks it matches _LAZY
    "ActiveRun",
    "AlreadyExists",
    "Client",
    "Conflict",
    "Experiment",
    "IntegrityError",
    "InvalidInput",
    "InvalidTransition",
    "Metric",
    "ModelwardError",
    "NotFound",
    "PermissionDenied",
    "PolicyViolation",
    "Run",
    "RunStatus",
    "Unauthenticated",
    "__version__",
    "active_run",
    "end_run",
    "flush",
    "get_client",
    "log_artifact",
    "log_artifacts",
    "log_dataset",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_output",
    "log_param",
    "log_params",
    "log_text",
    "note",
    "reproduction_params",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelward' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and IDEs see
    from modelward.domain.tracking import Experiment, Metric, Run, RunStatus
    from modelward.errors import (
        AlreadyExists,
        Conflict,
        IntegrityError,
        InvalidInput,
        InvalidTransition,
        ModelwardError,
        NotFound,
        PermissionDenied,
        PolicyViolation,
        Unauthenticated,
    )
    from modelward.sdk.client import Client
    from modelward.sdk.fluent import (
        ActiveRun,
        active_run,
        end_run,
        flush,
        get_client,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        note,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
    from modelward.sdk.fluent_lineage import log_dataset, log_input, log_output, reproduction_params
