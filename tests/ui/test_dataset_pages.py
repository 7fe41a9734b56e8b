"""The dataset page in a real headless Chromium against a real server process: reached from the
run that logged the dataset, it shows the failed expectations, the personal data found and the
declared purpose, consent and retention."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from faker import Faker

from modelward.sdk.client import Client


def people(rows: int = 400) -> pd.DataFrame:
    fake = Faker("de_DE")
    fake.seed_instance(2)
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"kunde": [fake.name() for _ in range(rows)],
                          "kontakt": [fake.email() for _ in range(rows)],
                          "age": rng.integers(18, 90, rows), "spend": rng.normal(40, 8, rows)})
    frame.loc[5, "age"] = 140  # a planted fault
    return frame


@pytest.fixture
def logged(live_server: Any, unique: str) -> dict[str, Any]:
    with Client(live_server.url) as client:
        run = client.runs.create(client.experiments.get_or_create(f"ui-data-{unique}").id, name="export")
        dataset = client.datasets.log(people(), name=f"crm-{unique}", run_id=run.id, snapshot=True,
                                      expectations={"columns": {"age": {"min": 0, "max": 120}}})
        client.personal_data.scan_dataset(dataset)
        client.data_governance.set(dataset, purposes=["churn_prediction"], consent="given", legal_basis="contract",
                                   retention_until="2031-01-31")
    return {"url": live_server.url, "run": run, "dataset": dataset}


def test_the_dataset_page_shows_checks_findings_and_governance(page: Any, logged: dict[str, Any]) -> None:
    page.goto(f"{logged['url']}/ui/runs/{logged['run'].id}")
    page.locator(f'a[href$="/ui/datasets/{logged["dataset"].id}"]').first.click()
    page.wait_for_selector("#checks")
    assert page.locator("#check-status").inner_text() == "expectations failed"
    checks = page.locator("#checks").inner_text()
    assert "age" in checks and "max" in checks and "140" in checks
    scans = page.locator("#scans").inner_text()
    assert "kontakt" in scans and "email" in scans and "kunde" in scans and "person_name" in scans
    assert "@" in scans and not any(address in scans for address in people()["kontakt"])  # masked only
    governance = page.locator("#data-governance").inner_text()
    assert "churn_prediction" in governance and "2031-01-31" in governance
    assert page.console_errors == []


def test_an_unknown_dataset_is_a_page_that_says_so(page: Any, live_server: Any) -> None:
    response = page.goto(f"{live_server.url}/ui/datasets/no-such-dataset")
    assert response is not None and response.status == 404
    assert "no-such-dataset" in page.content()
