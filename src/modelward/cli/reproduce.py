"""``modelward runs reproduce RUN`` and ``modelward runs diff A B``."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from modelward.cli.output import console, err_console
from modelward.errors import IntegrityError, InvalidInput

if TYPE_CHECKING:
    from modelward.domain.lineage import InputData, ReproSpec, RunDiff
    from modelward.sdk.client import Client

INTO = typer.Option(None, "--into", "--output", "-o",
                    help="A new or empty folder to reproduce the run in (default: ./reproduce-RUN).")
SKIP_INSTALL_ENV = "MODELWARD_REPRODUCE_SKIP_INSTALL"
PYTHON_ENV = "MODELWARD_REPRODUCE_PYTHON"


@dataclass
class Code:
    """Where run.sh clones the recorded commit from, and the run's folder inside the repository."""

    source: str | None
    commit: str | None
    subdir: str = ""
    root: str | None = None  # the local checkout the run was recorded in, if this machine has it


@dataclass
class Restored:
    """An input snapshot written under inputs/ (verified), and where run.sh puts it."""

    name: str
    stored: str  # relative to the reproduction folder
    target: str | None  # relative to the run's working folder; None: no place the run is known to use


def _git(cwd: str, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", cwd, *args], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _code(spec: ReproSpec, warnings: list[str]) -> Code:
    """Clone from the local checkout when it still holds the commit (offline, unpushed commits
    too), else from the recorded remote. The checkout itself is only read."""
    commit, remote = spec.code.get("commit"), spec.code.get("remote")
    if not commit:
        return Code(source=None, commit=None)
    root = _git(spec.cwd, "rev-parse", "--show-toplevel") if spec.cwd and Path(spec.cwd).is_dir() else None
    if root is not None and _git(root, "cat-file", "-e", f"{commit}^{{commit}}") is not None:
        subdir = os.path.relpath(os.path.realpath(spec.cwd or root), os.path.realpath(root))
        return Code(source=root, commit=commit, subdir="" if subdir == "." else subdir, root=root)
    if remote:
        warnings.append(f"cloning {remote}: the run's folder inside the repository is unknown here, "
                        "so the command runs at the repository's top")
        return Code(source=remote, commit=commit)
    warnings.append("the recorded commit is in no checkout on this machine and no remote was recorded")
    return Code(source=None, commit=commit)


def _safe_relative(path: str | None) -> str | None:
    """A client-recorded path we may write under our folder: relative, without '..'."""
    if not path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in path:
        return None
    return pure.as_posix()


def _restore(client: Client, item: InputData, folder: Path, warnings: list[str]) -> Restored | None:
    """Download an input's stored snapshot into folder/inputs, checked against its digests."""
    snapshot = item.snapshot or {}
    if not snapshot.get("run_id") or not snapshot.get("path"):
        return None
    data = client.artifacts.read_bytes(snapshot["run_id"], snapshot["path"])
    actual = hashlib.sha256(data).hexdigest()
    if actual != str(snapshot.get("digest", "")).removeprefix("sha256:"):
        raise IntegrityError(f"the stored snapshot of input '{item.name}' does not match its digest "
                             f"(sha256 {actual}, recorded {snapshot.get('digest')})")
    target = _safe_relative(item.path)
    if target is not None and item.digest and item.digest.startswith("sha256:") and item.digest != f"sha256:{actual}":
        raise IntegrityError(f"the snapshot of input '{item.name}' is not the file the run read "
                             f"(sha256:{actual}, the run read {item.digest})")
    if target is None:
        base = PurePosixPath(str(snapshot["path"])).name
        stored = f"inputs/datasets/{base if base not in ('', '.', '..') else (item.id or 'input') + '.bin'}"
        where = f"the run read it from {item.path}" if item.path else "the run read it from memory or a URI"
        warnings.append(f"input '{item.name}' is restored at {stored} ({where}): the command may need it elsewhere")
    else:
        stored = f"inputs/{target}"
    path = folder / stored
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Restored(name=item.name, stored=stored, target=target)


def _fresh(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInput(f"'{folder}' is not an empty folder: reproduce into a new one")
    folder.mkdir(parents=True, exist_ok=True)


def _in_code(subdir: str, path: str = "") -> str:
    """A shell word for $HERE/code/SUBDIR/PATH (the variable expanded, the rest quoted)."""
    rest = "/".join(part for part in (subdir, path) if part)
    return '"$HERE"/code' + (f"/{shlex.quote(rest)}" if rest else "")


def _command(spec: ReproSpec, code: Code, warnings: list[str]) -> str:
    command = list(spec.command)
    if not command:
        return 'echo "run.sh: the run recorded no command line; run it by hand in this folder" >&2; exit 1'
    first = command[0]
    if os.path.isabs(first) and spec.cwd and code.root is not None:
        inside = os.path.relpath(os.path.realpath(first), os.path.realpath(spec.cwd))
        if not inside.startswith(".."):
            first = inside  # the script in the clone, not in your checkout
    if first in ("-c", "-m") or not first:
        return f'echo "run.sh: the run was started as python {first} ...; run it by hand" >&2; exit 1'
    if first.endswith(".py"):
        return 'exec "$PY" ' + shlex.join([first, *command[1:]])
    warnings.append(f"the run was started by {first!r}, not a Python script: run.sh calls it as it is")
    return "exec " + shlex.join([first, *command[1:]])


def _store_lines(client: Client) -> list[str]:
    """The store the rerun logs to: the one this reproduction was read from."""
    settings = client.settings
    if settings.tracking_uri:
        name, value = "MODELWARD_TRACKING_URI", settings.tracking_uri
    else:
        name, value = "MODELWARD_HOME", str(Path(settings.home).resolve())
    lines = [f'if [ -z "${{{name}:-}}" ]; then {name}={shlex.quote(value)}; fi', f"export {name}"]
    if settings.database_url:
        lines.insert(0, "# the store's database: MODELWARD_DATABASE_URL from your environment")
    return lines


def _script(spec: ReproSpec, code: Code, restored: list[Restored], client: Client, warnings: list[str]) -> str:
    from modelward.domain.lineage import PARAMS_FILE_ENV, REPRODUCES_ENV
    lines = [
        "#!/bin/sh",
        f"# Rerun modelward run {spec.run_id} ({spec.run_name or 'unnamed'}) from its recorded code, packages,",
        "# data, params and command line, in this folder. Written by `modelward runs reproduce`;",
        "# reproduce.json holds what it was built from.",
        f"#   {PYTHON_ENV}=/path/to/python   the interpreter (default: python3)",
        f"#   {SKIP_INSTALL_ENV}=1            do not pip-install requirements.txt",
        "set -eu",
        'HERE=$(cd "$(dirname "$0")" && pwd)',
        f'PY=${{{PYTHON_ENV}:-python3}}',
        "",
    ]
    if code.source and code.commit:
        lines += [f"# code: commit {code.commit} of {code.source}, cloned here (that checkout is only read)",
                  'if [ ! -d "$HERE/code/.git" ]; then',
                  f'  git clone --quiet --no-checkout {shlex.quote(code.source)} "$HERE/code"',
                  f'  git -C "$HERE/code" checkout --quiet --detach {shlex.quote(code.commit)}',
                  "fi"]
    else:
        lines += ["# code: no commit to clone was recorded; put the run's code in ./code",
                  '[ -d "$HERE/code" ] || { echo "run.sh: no ./code folder and no recorded commit" >&2; exit 1; }']
    lines += ["", "# packages (modelward itself and packages not from an index are not pinned: see the file)",
              f'if [ "${{{SKIP_INSTALL_ENV}:-0}}" != 1 ]; then',
              '  "$PY" -m pip install -r "$HERE/requirements.txt"', "fi", ""]
    placed = [r for r in restored if r.target is not None]
    if placed:
        lines.append("# input data: the stored snapshots, checked against their digests, where the run read them")
    for item in placed:
        target = str(PurePosixPath(code.subdir or ".") / (item.target or ""))
        parent = str(PurePosixPath(target).parent)
        lines.append(f"mkdir -p {_in_code('', '' if parent == '.' else parent)}")
        lines.append(f'cp "$HERE"/{shlex.quote(item.stored)} {_in_code("", target)}')
    lines += ["", "# the run's working folder, its store, and what marks the new run as a reproduction",
              f"cd {_in_code(code.subdir)}", *_store_lines(client),
              f"export {REPRODUCES_ENV}={shlex.quote(spec.run_id)}",
              f'export {PARAMS_FILE_ENV}="$HERE/params.json"',
              "export MODELWARD_TRIGGER_TYPE=reproduction",
              _command(spec, code, warnings)]
    return "\n".join(lines) + "\n"


def _requirements_text(spec: ReproSpec) -> str:
    lines = [f"# Packages of modelward run {spec.run_id}, as recorded."]
    lines += [f"# not pinned: {p.name}=={p.version} ({p.reason})" for p in spec.unpinned]
    return "\n".join([*lines, *spec.requirements]) + "\n"


def reproduce(run_id: str, into: Path | None = INTO) -> None:
    """Prepare a rerun of RUN in a fresh folder: run.sh clones the recorded commit (your checkout
    stays as it is), installs the recorded packages, puts the stored input data where the run
    read it, and runs the recorded command with the run's params, tagged as a reproduction."""
    from modelward.sdk.client import Client
    folder = into or Path(f"reproduce-{run_id}")
    with Client() as client:
        spec = client.lineage.reproduce(run_id)
        _fresh(folder)
        warnings = list(spec.warnings)
        code = _code(spec, warnings)
        restored = [r for r in (_restore(client, item, folder, warnings) for item in spec.inputs) if r is not None]
        script = _script(spec, code, restored, client, warnings)
    (folder / "reproduce.json").write_text(spec.model_dump_json(indent=2) + "\n")
    (folder / "params.json").write_text(json.dumps(spec.params, indent=2, sort_keys=True) + "\n")
    (folder / "requirements.txt").write_text(_requirements_text(spec))
    (folder / "inputs.json").write_text(json.dumps([i.model_dump(mode="json") for i in spec.inputs], indent=2) + "\n")
    (folder / "run.sh").write_text(script)
    (folder / "run.sh").chmod(0o755)
    console.print(f"wrote run.sh, reproduce.json, params.json, requirements.txt, inputs.json and "
                  f"{len(restored)} input file(s) to {folder}; run {folder / 'run.sh'}", highlight=False)
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def _table(title: str, rows: dict[str, list[object]], diff: RunDiff) -> Table:
    table = Table(title=title)
    table.add_column("key")
    table.add_column(diff.a)
    table.add_column(diff.b)
    for key, (left, right) in rows.items():
        table.add_row(key, "" if left is None else str(left), "" if right is None else str(right))
    return table


def diff(
    run_a: str, run_b: str, as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """What differs between two runs: params, metrics, environment, packages, input data."""
    from modelward.sdk.client import Client
    with Client() as client:
        result = client.lineage.diff(run_a, run_b)
    if as_json:
        console.out(result.model_dump_json(indent=2), highlight=False)
        return
    if result.identical:
        console.print("no differences")
        return
    for title in ("params", "metrics", "environment", "packages", "data"):
        rows = getattr(result, title)
        if rows:
            console.print(_table(title, rows, result))


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)
    app.command("diff")(diff)
