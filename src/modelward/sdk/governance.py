"""``client.policies`` and ``client.governance``: policies as code, evaluation, review, approval, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelward.domain.governance import (
    BusinessImpact,
    ComplianceChecklist,
    Evaluation,
    GovernanceStatus,
    Review,
    RiskAssessment,
    StoredPolicy,
)
from modelward.domain.registry import validate_model_name
from modelward.sdk._http import HttpSession


def _q(value: str) -> str:
    return quote(value, safe="")


def _version_path(name: str, version: int) -> str:
    return f"/api/v1/models/{_q(validate_model_name(name))}/versions/{int(version)}"


class Policies:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def set(self, yaml_text: str | Path, *, scope: str | None = None) -> StoredPolicy:
        """Store a new version of the policy (a YAML string or a file path); admin only."""
        text = yaml_text.read_text("utf-8") if isinstance(yaml_text, Path) else yaml_text
        return StoredPolicy.model_validate(self._http.call("PUT", "/api/v1/policies", json={"yaml": text, "scope": scope}))

    def validate(self, yaml_text: str) -> dict[str, Any]:
        return self._http.call("POST", "/api/v1/policies/validate", json={"yaml": yaml_text})  # type: ignore[no-any-return]

    def get(self, scope: str = "global", *, version: int | None = None) -> StoredPolicy:
        params = {"version": version} if version is not None else None
        return StoredPolicy.model_validate(self._http.call("GET", f"/api/v1/policies/{_q(scope)}", params=params))

    def list(self) -> list[StoredPolicy]:
        return [StoredPolicy.model_validate(p) for p in self._http.call("GET", "/api/v1/policies")]

    def history(self, scope: str) -> list[StoredPolicy]:
        return [StoredPolicy.model_validate(p) for p in self._http.call("GET", f"/api/v1/policies/{_q(scope)}/history")]

    def effective(self, model: str) -> dict[str, Any]:
        return self._http.call("GET", f"/api/v1/policies/effective/{_q(model)}")  # type: ignore[no-any-return]


class Governance:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def evaluate(self, name: str, version: int, *, dataset: dict[str, str] | None = None,
                 kpis: dict[str, Any] | None = None, advisory: bool = False) -> Evaluation:
        """Run the policy's gates on the server, on the policy's evaluation_dataset (the result counts).

        Your own ``dataset`` = {"run_id": ..., "path": "data/eval.parquet"}, or ``advisory=True``,
        gives an advisory evaluation: stored and listed, but it moves no state and is no evidence.
        """
        body = {"dataset": dataset, "kpis": kpis or {}, "advisory": advisory}
        return Evaluation.model_validate(self._http.call("POST", _version_path(name, version) + "/evaluate", json=body))

    def submit_local_result(self, name: str, version: int, result: dict[str, Any], *,
                            dataset: dict[str, Any] | None = None) -> Evaluation:
        """Store gates you ran in your own process (``modelward.sdk.local_evaluation``): always advisory."""
        body = {"dataset": dataset, "local_result": result}
        return Evaluation.model_validate(self._http.call("POST", _version_path(name, version) + "/evaluate", json=body))

    def evaluations(self, name: str, version: int) -> list[Evaluation]:
        return [Evaluation.model_validate(e) for e in self._http.call("GET", _version_path(name, version) + "/evaluations")]

    def reviews(self, name: str, version: int) -> list[Review]:
        return [Review.model_validate(r) for r in self._http.call("GET", _version_path(name, version) + "/reviews")]

    def _decide(self, name: str, version: int, what: str, comment: str | None) -> Review:
        data = self._http.call("POST", _version_path(name, version) + f"/{what}", json={"comment": comment})
        return Review.model_validate(data)

    def request_review(self, name: str, version: int, *, comment: str | None = None) -> Review:
        return self._decide(name, version, "request-review", comment)

    def comment(self, name: str, version: int, text: str, *, parent_id: str | None = None) -> Review:
        data = self._http.call("POST", _version_path(name, version) + "/reviews",
                               json={"comment": text, "parent_id": parent_id})
        return Review.model_validate(data)

    def approve(self, name: str, version: int, *, comment: str | None = None) -> Review:
        return self._decide(name, version, "approve", comment)

    def reject(self, name: str, version: int, comment: str) -> Review:
        return self._decide(name, version, "reject", comment)

    def request_changes(self, name: str, version: int, comment: str) -> Review:
        return self._decide(name, version, "request-changes", comment)

    def set_risk(self, name: str, version: int, category: str, *, rating: str, rationale: str,
                 mitigation: str | None = None) -> RiskAssessment:
        body = {"category": category, "rating": rating, "rationale": rationale, "mitigation": mitigation}
        return RiskAssessment.model_validate(self._http.call("PUT", _version_path(name, version) + "/risk", json=body))

    def check_item(self, name: str, version: int, item: str, *, checked: bool = True,
                   evidence: str | None = None) -> ComplianceChecklist:
        body = {"item": item, "checked": checked, "evidence": evidence}
        data = self._http.call("PUT", _version_path(name, version) + "/checklist", json=body)
        return ComplianceChecklist.model_validate(data)

    def set_impact(self, name: str, version: int, *, summary: str, expected_revenue_impact: str | None = None,
                   kpis: dict[str, Any] | None = None, affected_users: str | None = None) -> BusinessImpact:
        body = {"summary": summary, "expected_revenue_impact": expected_revenue_impact, "kpis": kpis or {},
                "affected_users": affected_users}
        return BusinessImpact.model_validate(self._http.call("PUT", _version_path(name, version) + "/impact", json=body))

    def state(self, name: str, version: int) -> GovernanceStatus:
        return GovernanceStatus.model_validate(self._http.call("GET", _version_path(name, version) + "/state"))

    def missing(self, name: str, version: int) -> list[str]:
        """What still stands between the version and its approval (counting the caller's approval)."""
        return self.state(name, version).missing

    def release(self, name: str, version: int, *, reason: str | None = None) -> dict[str, Any]:
        return self._http.call("POST", _version_path(name, version) + "/state",  # type: ignore[no-any-return]
                               json={"state": "released", "reason": reason})

    def retire(self, name: str, version: int, *, reason: str | None = None) -> dict[str, Any]:
        return self._http.call("POST", _version_path(name, version) + "/state",  # type: ignore[no-any-return]
                               json={"state": "retired", "reason": reason})

    def queue(self) -> list[dict[str, Any]]:
        return self._http.call("GET", "/api/v1/reviews/queue")  # type: ignore[no-any-return]

    def report(self, name: str, version: int, *, format: str = "md") -> str | bytes:
        """The compliance report: text for ``md`` and ``html``, the document's bytes for ``pdf``."""
        chunks = self._http.stream(_version_path(name, version) + "/report", params={"format": format})
        data = b"".join(chunks)
        return data if format == "pdf" else data.decode("utf-8")
