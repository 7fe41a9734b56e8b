"""Start-up stays cheap: the package and the CLI's help load no data-science or database stack.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "sklearn", "sqlalchemy")

REPORT = "import json, sys; print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))"


def _heavy_loaded_after(code: str) -> list[str]:
    script = f"{code}\n{REPORT.format(heavy=HEAVY)}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_import_modelward_loads_no_heavy_stack() -> None:
    assert _heavy_loaded_after("import modelward") == []


HELP = """
import contextlib, io, sys
sys.argv = ["modelward", {args}]
from modelward.cli import main
with contextlib.redirect_stdout(io.StringIO()) as shown, contextlib.suppress(SystemExit):
    main()
assert "Usage" in shown.getvalue(), shown.getvalue()
"""


@pytest.mark.parametrize("args", ['"--help"', '"runs", "--help"', '"server", "--help"', '"gc", "--help"'])
def test_cli_help_loads_no_heavy_stack(args: str) -> None:
    assert _heavy_loaded_after(HELP.format(args=args)) == []


def test_public_names_still_load_on_use() -> None:
    code = "import modelward\nassert modelward.Client.__name__ == 'Client'\nassert callable(modelward.log_metric)"
    assert "sqlalchemy" not in _heavy_loaded_after(code)  # the SDK alone needs no database stack
