"""End to end through the SDK (embedded SQLite, PostgreSQL, remote server): log, register,
load by models:/NAME@ALIAS, and the card's life (generate, edit, revisions, attachments)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelward import models
from modelward.errors import InvalidInput, NotFound
from modelward.sdk.client import Client


@pytest.fixture
def fitted() -> tuple[LogisticRegression, pd.DataFrame]:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"age": rng.integers(18, 90, 40).astype("int64"), "income": rng.normal(50, 10, 40)})
    return LogisticRegression().fit(frame, (frame["income"] > 50).astype(int)), frame


def _register(client: Client, unique: str, model, frame, tmp_path) -> tuple[str, str]:
    experiment = client.experiments.get_or_create(f"cards-{unique}")
    run = client.runs.create(experiment.id)
    client.runs.log_params(run.id, {"C": 1.0})
    client.runs.log_metric(run.id, "roc_auc", 0.8)
    folder = models.save(model, tmp_path / "m", input_example=frame.head(5))
    client.artifacts.upload(run.id, folder, "model")
    name = f"churn-{unique}"
    version = client.models.register(name, run_id=run.id, artifact_path="model")
    client.models.set_alias(name, "champion", version.version)
    return name, run.id


def test_load_by_alias_version_and_run(client: Client, unique: str, fitted, tmp_path) -> None:
    model, frame = fitted
    name, run_id = _register(client, unique, model, frame, tmp_path)
    version = client.models.get_version(name, 1)
    assert version.flavor == "sklearn" and version.signature["inputs"][0]["name"] == "age"
    assert any(r.startswith("scikit-learn==") for r in version.requirements)
    for uri in (f"models:/{name}@champion", f"models:/{name}/1", f"runs:/{run_id}/model"):
        loaded = models.load(uri, client=client)
        np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
        np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))
        assert loaded.metadata["source"] == uri
    with pytest.raises(NotFound):
        models.load(f"models:/{name}@nobody", client=client)


def test_card_generate_edit_history_render_and_attachments(client: Client, unique: str, fitted, tmp_path) -> None:
    model, frame = fitted
    name, _ = _register(client, unique, model, frame, tmp_path)
    card = client.cards.generate(name, 1)
    assert card.model_details.parameters == {"C": "1.0"}
    assert card.metrics.performance_measures["roc_auc"] == 0.8
    edited = client.cards.update(name, 1, edits={"intended_use.primary_uses": "Retention <script>x</script>"})
    assert edited.intended_use.primary_uses.startswith("Retention")
    again = client.cards.generate(name, 1)
    assert again.intended_use.primary_uses.startswith("Retention"), "regeneration keeps human edits"
    html = client.cards.render(name, 1, format="html")
    assert "<script" not in html and "&lt;script&gt;" not in html and "Retention" in html  # dropped, not shown
    assert "## Intended use" in client.cards.render(name, 1, format="markdown")
    assert '"intended_use"' in client.cards.render(name, 1, format="json")
    with_report = client.cards.attach(name, 1, kind="performance_report", title="Q3 report", text="# AUC 0.8\n")
    digest = with_report.attachments[0].digest
    assert client.cards.attachment_text(name, 1, digest) == "# AUC 0.8\n"
    revisions = client.cards.revisions(name, 1)
    assert [r.revision for r in revisions] == [1, 2, 3, 4]
    assert revisions[1].card["intended_use"]["primary_uses"].startswith("Retention")
    assert client.models.get_version(name, 1).card["attachments"][0]["title"] == "Q3 report"
    with pytest.raises(InvalidInput, match="unknown model card field"):
        client.cards.update(name, 1, edits={"nope": "x"})
    with pytest.raises(InvalidInput, match="attachment kind"):
        client.cards.attach(name, 1, kind="binary", title="x", text="x")
    with pytest.raises(NotFound):
        client.cards.attachment_text(name, 1, "0" * 64)


def test_log_model_uploads_and_registers(client: Client, unique: str, fitted, monkeypatch) -> None:
    import modelward

    model, frame = fitted
    monkeypatch.setattr("modelward.sdk.fluent._client", client)
    with modelward.start_run(experiment=f"log-{unique}", capture_output=False, log_environment=False):
        version = models.log_model(model, "model", input_example=frame, registered_model_name=f"logged-{unique}")
    assert version.flavor == "sklearn"
    loaded = models.load(f"models:/logged-{unique}/{version.version}", client=client)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
