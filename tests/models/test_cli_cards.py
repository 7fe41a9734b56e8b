"""``modelward card NAME VERSION``: edit a field and export the card to a file."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from modelward.cli import app
from modelward.sdk.client import Client


def test_card_command_edits_and_writes_html(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "weights.txt").write_text("not a real model")
    with Client() as client:  # the embedded store in ./.modelward, as the CLI uses it
        client.models.register("cli-card", local_path=tmp_path / "m")
    out = tmp_path / "card.html"
    result = CliRunner().invoke(app, ["card", "cli-card", "1", "--format", "html",
                                      "--edit", "caveats_and_recommendations=Retrain <monthly>", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "Retrain &lt;monthly&gt;" in out.read_text()
    result = CliRunner().invoke(app, ["card", "cli-card", "1", "--edit", "no-equals-sign"])
    assert result.exit_code != 0
