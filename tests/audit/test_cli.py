"""modelward audit / webhooks on the command line: verify exit codes, export files, anchors."""

from __future__ import annotations

import json
from pathlib import Path

from modelward.sdk.client import Client
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.audit.helpers import append_events, sql
from tests.cli.conftest import Cli, modelward


def _local_backend() -> Backend:
    return Backend.from_settings(Settings())  # ./.modelward in the test's cwd, as the CLI uses


def test_verify_exit_codes_intact_then_tampered(tmp_path: Path) -> None:
    backend = _local_backend()
    append_events(backend, 4)
    intact = modelward("audit", "verify", cwd=tmp_path)
    assert intact.returncode == 0 and "chain intact: 4 events" in intact.stdout
    anchor_file = tmp_path / "anchor.json"
    assert modelward("audit", "anchor", "--output", str(anchor_file), cwd=tmp_path).returncode == 0
    assert json.loads(anchor_file.read_text())["seq"] == 4
    sql(backend, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    broken = modelward("audit", "verify", "--anchor", str(anchor_file), cwd=tmp_path)
    assert broken.returncode == 1
    assert "chain broken at seq 2" in broken.stderr and len(broken.stderr.strip().splitlines()) == 1
    backend.close()


def test_list_export_and_webhooks_commands(cli: Cli, store: Client, tmp_path: Path) -> None:
    backend = _local_backend()
    append_events(backend, 2, actor="alice", model="credit")
    append_events(backend, 1, actor="bob", model="fraud")
    backend.close()
    listing = cli("audit", "list", "--model", "credit").output
    assert "model_version.approved" in listing and "alice" in listing and "bob" not in listing
    out = tmp_path / "audit.csv"
    cli("audit", "export", "--format", "csv", "--output", str(out), "--user", "bob")
    lines = out.read_text().splitlines()
    assert lines[0].startswith("seq,at,actor") and len(lines) == 2 and ",bob," in lines[1]
    jsonl = cli("audit", "export", "--since", "2000-01-01", "--until", "2999-01-01").stdout
    assert [json.loads(line)["seq"] for line in jsonl.splitlines()] == [1, 2, 3]
    bad = cli("audit", "export", "--since", "yesterday-ish", ok=False)
    assert bad.exit_code != 0
    added = cli("webhooks", "add", "https://hooks.example/mw", "--event", "review.requested").output
    hook_id = store.webhooks.list()[0].id
    assert hook_id in added and "shown once" in added
    assert "hooks.example" in cli("webhooks", "list").output
    assert "no deliveries" in cli("webhooks", "deliveries").output
    cli("webhooks", "remove", hook_id)
    assert store.webhooks.list() == []
