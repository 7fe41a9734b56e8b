"""modelward artifacts list / get, and modelward gc."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli, Seeded


def test_list_all_and_under_a_prefix(cli: Cli, seeded: Seeded) -> None:
    out = cli("artifacts", "list", seeded.fast).output
    assert "model/weights.bin" in out and "model/config.json" in out and "report.txt" in out
    under = cli("artifacts", "list", seeded.fast, "model").output
    assert "model/weights.bin" in under and "report.txt" not in under
    assert "no artifacts" in cli("artifacts", "list", seeded.slow).output


def test_get_a_folder_downloads_every_file_under_it(
    cli: Cli, seeded: Seeded, tmp_path: Path
) -> None:
    out = cli("artifacts", "get", seeded.fast, "model", "--output", str(tmp_path / "dl")).output
    assert (tmp_path / "dl" / "weights.bin").read_bytes() == b"\x00" * 2048
    assert (tmp_path / "dl" / "config.json").read_text() == '{"lr": 0.1}'
    assert "weights.bin" in out and "config.json" in out


def test_get_a_single_file(cli: Cli, seeded: Seeded, tmp_path: Path) -> None:
    cli("artifacts", "get", seeded.fast, "report.txt", "-o", str(tmp_path / "one"))
    assert (tmp_path / "one" / "report.txt").read_text() == "all good"
    assert list((tmp_path / "one").iterdir()) == [tmp_path / "one" / "report.txt"]


def test_gc_dry_run_reports_what_would_be_removed(cli: Cli, seeded: Seeded) -> None:
    seeded.client.runs.delete(seeded.fast, permanent=True)
    dry = cli("gc", "--dry-run", "--grace-seconds", "0").output
    assert "would remove" in dry and "would free" in dry
    done = cli("gc", "--grace-seconds", "0").output
    assert "removed 3 blob(s)" in done
    assert "removed 0 blob(s)" in cli("gc").output
