"""The CLI fixtures (cli, store) for the audit CLI tests."""

from tests.cli.conftest import cli, store  # noqa: F401
