"""Automated evaluation of a model version against a policy's gates: pure computation.

    result = evaluate_gates(policy, challenger=model, champion=current, data=frame, kpis={...})
    result.passed, result.failures, result.model_dump(mode="json")

Modules: ``metrics`` (performance), ``compare`` (champion vs challenger, paired bootstrap),
``fairness`` (fairlearn), ``technical`` (loads, signature, size, latency, pinned
dependencies), ``gates`` (the decisions).
"""

from __future__ import annotations

from modelward.evaluation.compare import compare_models
from modelward.evaluation.fairness import fairness_report
from modelward.evaluation.gates import EvaluationResult, GateResult, evaluate_gates
from modelward.evaluation.metrics import classification_metrics, regression_metrics

__all__ = [
    "EvaluationResult",
    "GateResult",
    "classification_metrics",
    "compare_models",
    "evaluate_gates",
    "fairness_report",
    "regression_metrics",
]
