"""``modelward policy|evaluate|review|report`` against an embedded store, acting as several people."""

from __future__ import annotations

from pathlib import Path

from modelward.domain.governance import RISK_CATEGORIES
from modelward.sdk.client import Client
from tests.cli.conftest import Cli, store  # noqa: F401  (fixtures)
from tests.governance.test_sdk import _register

POLICY = """\
model: cli-model
gates:
  - {metric: roc_auc, min: 0.9}
review: {approvals: 1, compliance_checklist: [documented]}
"""


def test_policy_evaluate_review_and_report_commands(store: Client, tmp_path: Path) -> None:  # noqa: F811
    cli = Cli()
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY)
    assert "valid policy for scope model:cli-model" in cli("policy", "validate", str(policy_file)).output
    bad = tmp_path / "bad.yaml"
    bad.write_text("gates:\n  - {metric: roc_auc, mni: 0.9}\n")
    assert "line 2, gates[0].mni" in str(cli("policy", "validate", str(bad), ok=False).exception)
    assert "version 1" in cli("policy", "set", str(policy_file)).output  # the operator is the local admin
    cli("auth", "add-user", "alice", "--role", "contributor", "--role", "approver")
    cli("auth", "add-user", "bob", "--role", "approver")
    assert "roc_auc" in cli("policy", "show", "model:cli-model").output
    with Client(settings=store.settings, user="alice") as alice:
        version, data = _register(alice, "cli-model", tmp_path)
    advisory = cli("evaluate", "cli-model", str(version), "--dataset", f"{data['run_id']}:{data['path']}",
                   "--as", "alice").output  # the contributor's own data: advisory, no state change
    assert "advisory" in advisory and "PASSED" in advisory and "candidate" in advisory
    policy_file.write_text(POLICY + f"evaluation_dataset: {{run_id: {data['run_id']}, path: {data['path']}}}\n")
    cli("policy", "set", str(policy_file))  # the admin names the data that counts
    evaluated = cli("evaluate", "cli-model", str(version), "--as", "alice").output
    assert "PASSED" in evaluated and "in_review" in evaluated
    assert "cli-model" in cli("review", "--as", "bob", "queue").output
    refused = cli("review", "--as", "alice", "approve", "cli-model", str(version), ok=False)
    assert "four-eyes" in str(refused.exception)
    for category in RISK_CATEGORIES:
        cli("review", "--as", "bob", "risk", "cli-model", str(version), "--category", category,
            "--rating", "low", "--rationale", "fine")
    assert "[x] documented" in cli("review", "--as", "bob", "checklist", "cli-model", str(version), "documented").output
    assert "is approved" in cli("review", "--as", "bob", "approve", "cli-model", str(version), "-m", "ok").output
    status = cli("review", "status", "cli-model", str(version)).output
    assert "approved" in status and "approved by bob" in status
    out = tmp_path / "report.md"
    cli("report", "cli-model", str(version), "--format", "md", "--output", str(out))
    assert "## Risk assessment" in out.read_text() and "bob" in out.read_text()
