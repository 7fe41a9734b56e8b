"""Schemathesis over our own OpenAPI schema, against a real server on loopback.

Every operation gets a few generated requests, valid and invalid; none may answer 5xx, and
every answer must be one the schema documents, with the documented body (our error body
for the 4xx). Then a stateful run follows the links schemathesis infers between operations
(create an experiment, then a run in it, then search ...), so requests also reach the
handlers with ids that exist. Bounded so that it stays well within CI's budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.core.transport import Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.fixtures.servers import ServerProcess, start_server, stop_server


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of its own: the fuzzer deletes and collects garbage at will."""
    server = start_server(Path(tmp_path_factory.mktemp("schemathesis")))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def api_schema(fuzzed_server: ServerProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=4, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_answers_as_documented(case: schemathesis.Case, fuzzed_server: ServerProcess) -> None:
    try:
        case.call_and_validate(checks=CHECKS)
    except Exception:
        print(fuzzed_server.log()[-4000:])  # the server's traceback, shown with the failure
        raise


def test_stateful_sequences_never_give_server_errors(api_schema: schemathesis.BaseSchema,
                                                     fuzzed_server: ServerProcess) -> None:
    class Workflows(api_schema.as_state_machine()):  # type: ignore[misc]
        def validate_response(self, response: Response, case: schemathesis.Case, **kwargs: object) -> None:
            case.validate_response(response, checks=CHECKS)

    try:
        Workflows.run(settings=settings(max_examples=10, stateful_step_count=5, deadline=None, derandomize=True,
                                        suppress_health_check=list(HealthCheck)))
    except Exception:
        print(fuzzed_server.log()[-4000:])
        raise
