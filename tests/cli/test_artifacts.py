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


def test_log_a_file_and_a_folder_then_get_them_back(cli: Cli, seeded: Seeded, tmp_path: Path) -> None:
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "a.txt").write_text("a")
    (tmp_path / "src" / "sub" / "b.txt").write_text("bb")
    out = cli("artifacts", "log", seeded.slow, str(tmp_path / "src"), "--artifact-path", "data").output
    assert "logged data/a.txt (1 bytes" in out and "logged data/sub/b.txt (2 bytes" in out
    cli("artifacts", "log", seeded.slow, str(tmp_path / "src" / "a.txt"))
    assert [f.path for f in seeded.client.artifacts.list(seeded.slow)] == ["a.txt", "data/a.txt", "data/sub/b.txt"]
    cli("artifacts", "get", seeded.slow, "data", "-o", str(tmp_path / "back"))
    assert (tmp_path / "back" / "sub" / "b.txt").read_text() == "bb"


def test_log_of_a_missing_local_file_is_an_error_line(cli: Cli, seeded: Seeded, tmp_path: Path) -> None:
    from modelward.errors import InvalidInput

    missing = cli("artifacts", "log", seeded.slow, str(tmp_path / "nope.bin"), ok=False)
    assert isinstance(missing.exception, InvalidInput) and "nope.bin" in str(missing.exception)
    assert seeded.client.artifacts.list(seeded.slow) == []


def test_get_of_a_missing_artifact_leaves_no_partial_file(cli: Cli, seeded: Seeded, tmp_path: Path) -> None:
    from modelward.errors import NotFound

    missing = cli("artifacts", "get", seeded.fast, "model/nope.bin", "-o", str(tmp_path / "dl"), ok=False)
    assert isinstance(missing.exception, NotFound) and "model/nope.bin" in str(missing.exception)
    assert not (tmp_path / "dl").exists() or list((tmp_path / "dl").iterdir()) == []
