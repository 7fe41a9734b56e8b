"""modelward experiments: list, create, rename, delete, restore."""

from __future__ import annotations

import json

from modelward.sdk.client import Client
from tests.cli.conftest import Cli


def test_create_then_list_shows_name_id_and_description(cli: Cli, store: Client) -> None:
    out = cli("experiments", "create", "team/churn/baseline", "--description", "first try").output
    assert "team/churn/baseline" in out and "created" in out
    exp = store.experiments.get_by_name("team/churn/baseline")
    listing = cli("experiments", "list").output
    assert "team/churn/baseline" in listing and exp.id in listing and "first try" in listing


def test_list_under_a_folder_and_as_json(cli: Cli, store: Client) -> None:
    for name in ("team/churn/a", "team/churn/b", "team/fraud/c"):
        store.experiments.create(name)
    out = cli("experiments", "list", "--under", "team/churn").output
    assert "team/churn/a" in out and "team/churn/b" in out and "team/fraud/c" not in out
    data = json.loads(cli("experiments", "list", "--json").output)
    assert sorted(item["name"] for item in data) == ["team/churn/a", "team/churn/b", "team/fraud/c"]


def test_rename_by_name(cli: Cli, store: Client) -> None:
    exp = store.experiments.create("old/name")
    assert "new/name" in cli("experiments", "rename", "old/name", "new/name").output
    assert store.experiments.get(exp.id).name == "new/name"


def test_delete_lists_as_deleted_and_restore_brings_it_back(cli: Cli, store: Client) -> None:
    exp = store.experiments.create("to/delete")
    assert "deleted" in cli("experiments", "delete", "to/delete").output
    assert "to/delete" not in cli("experiments", "list").output
    assert "to/delete" in cli("experiments", "list", "--deleted").output
    assert "deleted" in cli("experiments", "list", "--all").output
    assert "restored" in cli("experiments", "restore", exp.id).output
    assert "to/delete" in cli("experiments", "list").output


def test_permanent_delete_asks_first_unless_yes(cli: Cli, store: Client) -> None:
    store.experiments.create("gone/soon")
    refused = cli("experiments", "delete", "gone/soon", "--permanent", input="n\n", ok=False)
    assert refused.exit_code != 0 and "Permanently delete" in refused.output
    assert store.experiments.list(prefix="gone")
    cli("experiments", "delete", "gone/soon", "--permanent", "--yes")
    assert store.experiments.list(prefix="gone", lifecycle="all") == []
