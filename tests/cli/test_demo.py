"""modelward demo: a scikit-learn sweep recorded end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.demo import EXPERIMENT, run_demo
from modelward.demo_governance import COMPLIANCE_OFFICER, MODEL, RISK_OFFICER
from modelward.sdk.client import Client
from tests.cli.conftest import modelward


@pytest.mark.slow
def test_the_demo_records_a_sweep_and_says_where_to_look(tmp_path: Path) -> None:
    done = modelward("demo", "--no-server", cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    with Client() as client:
        exp = client.experiments.get_by_name(EXPERIMENT)
        runs = list(client.runs.search_all([exp.id], "metrics.roc_auc > 0.5"))
        best = max(runs, key=lambda run: run.metrics["roc_auc"])
        files = {item.path for item in client.artifacts.list(best.id)}
    assert len(runs) >= 4 and all(run.parent_run_id for run in runs)
    assert {
        "evaluation/confusion_matrix.json",
        "evaluation/classification_report.txt",
        "evaluation/predictions.csv",
    } <= files
    assert len({run.process.pipeline_run_id for run in runs}) == 1
    out = done.stdout
    assert str(tmp_path / ".modelward") in out
    assert f"modelward runs list --experiment {EXPERIMENT}" in out
    assert f"modelward runs show {best.id}" in out and "modelward runs compare " + best.id in out
    # the governance path: champion and challenger evaluated, reviewed by two officers, approved, reported
    with Client() as client:
        champion, challenger = client.models.get_by_alias(MODEL, "champion"), client.models.get_by_alias(MODEL, "challenger")
        assert (champion.version, challenger.version) == (1, 2)
        # the release path: v1 serves production again after the rollback, v2 drained back to approved
        assert [client.governance.state(MODEL, v).state for v in (1, 2, 3)] == ["released", "approved", "in_review"]
        for version in (1, 2):
            approvers = {r.reviewer for r in client.governance.reviews(MODEL, version) if r.decision == "approve"}
            assert approvers == {RISK_OFFICER, COMPLIANCE_OFFICER}
        actions = {event.action for event in client.audit.list(model=MODEL, limit=1000)}
        assert {"model_version.evaluated", "model_version.approved", "alias.moved"} <= actions
        assert client.audit.verify().ok
        history = [state.action for state in client.deployments.history("screening-production")]
        assert history == ["deployment.created", "deployment.release_started", "deployment.promoted",
                           "deployment.promoted", "deployment.rolled_back", "deployment.release_started",
                           "deployment.rolled_back", "deployment.release_started", "deployment.rolled_back"]
        final = client.deployments.get("screening-production").state
        assert final.weights() == {1: 100} and final.shadows() == []
        assert final.actor == "modelward:alerts" and final.reason.startswith("alert 'input-drift' fired")
        served = {(s["version"], s["mode"]): s["requests"] for s in client.deployments.stats("screening-production")["versions"]}
        assert served[(1, "live")] > 0 and served[(2, "live")] > 0 and served[(3, "shadow")] == 60
        assert "modelward deploy status screening-production" in out
        # the monitoring path: the inputs drift, the alert fires and rolls the canary back, then resolves
        moves = [(e.from_state, e.to_state) for e in reversed(client.monitoring.alert_history("screening-production"))]
        assert moves == [("inactive", "firing"), ("firing", "resolved")]
        kpis = {k.name for k in client.monitoring.kpis("screening-production", every=None)}
        assert kpis == {"follow_up_cost", "missed_malignant"}
        # the organisation's default policy protects production on models without their own
        assert {a["alias"] for a in client.policies.effective("any-other-model")["protected_aliases"]} >= {"production"}
        assert client.policies.get("default").version == 1
    report = tmp_path / ".modelward" / "reports" / f"{MODEL}-v2-compliance.html"
    assert "Fairness" in report.read_text() and f"{MODEL}-v2-compliance.md" in out
    performance = tmp_path / ".modelward" / "reports" / "screening-production-performance.html"
    assert "alert:input-drift" in performance.read_text() and "screening-production-performance.pdf" in out
    assert (performance.with_suffix(".pdf")).read_bytes().startswith(b"%PDF")


def test_run_demo_is_idempotent(tmp_path: Path) -> None:
    with Client() as client:
        first = run_demo(client, runs_per_model=1)
        second = run_demo(client, runs_per_model=1)
        run = client.runs.get(second.best_run_id)
        parent = client.runs.get(second.parent_run_id)
    assert first.experiment.id == second.experiment.id
    assert len(set(first.run_ids) | set(second.run_ids)) == 4
    assert {"accuracy", "precision", "recall", "f1", "roc_auc"} <= set(run.metrics)
    assert run.process.step_name and run.process.pipeline_run_id == parent.process.pipeline_run_id
    assert parent.metrics["best_roc_auc"] == run.metrics["roc_auc"]


@pytest.mark.slow
def test_the_demo_then_serves_the_api_and_the_ui(tmp_path: Path) -> None:
    """The README's first command, whole: the demo, then the server it starts (as ``serve()`` is
    called from Python there, not from the command line, every option must have a real default)."""
    import subprocess
    import sys
    import time

    import httpx

    from tests.cli.conftest import _env
    from tests.fixtures.servers import free_port

    port = free_port()
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "modelward", "demo", "--port", str(port)], cwd=tmp_path,
                                   env=_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline, answered = time.monotonic() + 240, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(1)
        assert answered is not None and answered.json()["status"] == "ok", log.read_text()
        assert httpx.get(f"http://127.0.0.1:{port}/ui/models/{MODEL}", timeout=10).status_code == 200
        dashboard = httpx.get(f"http://127.0.0.1:{port}/ui/deployments/screening-production/monitoring",
                              params={"every": "minute"}, timeout=30)
        assert dashboard.status_code == 200 and "input-drift" in dashboard.text
        assert "/ui/deployments/screening-production/monitoring?every=minute&since=" in log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=20)
