"""Screenshots of the main web pages, for the docs: docs/screenshots/*.png.

Starts ``modelward server`` on a temporary store, records the demo sweep and a small
governance story through the SDK (a policy, two versions, an evaluation with a fairness
gate, evidence, aliases, lineage), then opens the pages in headless Chromium (Debian's,
driven by Playwright) at 1366 and 1920 pixels wide.

    python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
MODEL = "credit-scoring"
POLICY = f"""\
model: {MODEL}
gates:
  - {{metric: roc_auc, min: 0.9}}
  - {{metric: accuracy, min: 0.85}}
  - {{fairness: demographic_parity_difference, sensitive_feature: sex, max: 0.2}}
review:
  approvals: 1
  compliance_checklist: [data privacy review done, model documented]
evaluation_dataset: {{run_id: {{run_id}}, path: data/eval.parquet}}
"""
PEOPLE = {"alice": ["contributor"], "bob": ["contributor"], "rita": ["risk", "approver", "contributor"]}


def add_people(home: Path) -> None:
    """The story's people as users of the server's store (acting as someone takes a known user)."""
    env = {**os.environ, "MODELWARD_HOME": str(home)}
    for name, roles in PEOPLE.items():
        flags = [arg for role in roles for arg in ("--role", role)]
        subprocess.run([sys.executable, "-m", "modelward", "auth", "add-user", name, *flags], env=env, check=True,
                       capture_output=True)


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MODELWARD_HOME": str(home)}
    env.pop("MODELWARD_TRACKING_URI", None)
    process = subprocess.Popen([sys.executable, "-m", "modelward", "server", "--port", str(port)], env=env,
                               stdout=open(home / "server.log", "wb"), stderr=subprocess.STDOUT, cwd=home)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the server did not start:\n{(home / 'server.log').read_text()}")


def frame() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame
    data["sex"] = np.where(np.random.default_rng(0).random(len(data)) < 0.5, "F", "M")
    return data


def populate(url: str) -> dict[str, str]:
    """The demo sweep plus a governance story; returns the ids the pages need."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from modelward import demo, models
    from modelward.domain.governance import RISK_CATEGORIES
    from modelward.sdk.client import Client

    data = frame()
    features = data.drop(columns=["target", "sex"])
    with Client(url) as admin:  # the operator: the local admin
        sweep = demo.run_demo(admin, runs_per_model=2)
        experiment = admin.experiments.get_or_create("credit/training")
        prep = admin.runs.create(experiment.id, name="prepare data")
        buffer = io.BytesIO()
        data.to_parquet(buffer)
        admin.artifacts.upload_bytes(prep.id, "data/eval.parquet", buffer.getvalue())
        raw = admin.datasets.log(data.head(400), name="applications", run_id=prep.id, kind="raw_source")
        admin.runs.end(prep.id)
        admin.policies.set(POLICY.replace("{run_id}", prep.id))
    versions = []
    for author, estimator in (("alice", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
                              ("bob", DecisionTreeClassifier(max_depth=2, random_state=0))):
        with Client(url, user=author) as client:
            run = client.runs.create(experiment.id, name=f"train {type(estimator).__name__}")
            client.lineage.log_input(run.id, {"id": raw.id})
            client.runs.log_params(run.id, {"estimator": type(estimator).__name__})
            estimator.fit(features, data["target"])
            client.runs.log_metric_columns(run.id, ["train_accuracy"], [float(estimator.score(features, data["target"]))])
            with tempfile.TemporaryDirectory() as tmp:
                folder = models.save(estimator, Path(tmp) / "model", input_example=features.head())
                client.artifacts.upload(run.id, folder, "model")
            client.lineage.log_output(run.id, {"kind": "model", "run_artifact_path": "model/model.skops"})
            client.runs.end(run.id)
            # Registered under a policy with an evaluation dataset: evaluated on registration.
            version = client.models.register(MODEL, run_id=run.id, description=f"{type(estimator).__name__} by {author}")
            versions.append((version.version, run.id))
    first = versions[0][0]
    with Client(url, user="rita") as risk:
        for category in RISK_CATEGORIES[:5]:
            risk.governance.set_risk(MODEL, first, category, rating="low" if category != "privacy" else "medium",
                                     rationale=f"{category}: reviewed with the team")
        risk.governance.check_item(MODEL, first, "data privacy review done", evidence="PRIV-42")
        risk.governance.comment(MODEL, first, "Fairness by sex looks fine; please document the features.")
        risk.models.set_alias(MODEL, "staging", first, reason="first candidate")
        risk.models.set_alias(MODEL, "shadow", versions[1][0], reason="compare in shadow")
    return {"version": str(first), "run": versions[0][1], "experiment": sweep.experiment.id,
            "best": sweep.best_run_id, "sweep": "&".join(f"run={r}" for r in sweep.run_ids)}


def shoot(url: str, out: Path, ids: dict[str, str]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    version = f"/ui/models/{MODEL}/versions/{ids['version']}"
    pages = {
        "runs": f"/ui/experiments/{ids['experiment']}", "run": f"/ui/runs/{ids['best']}",
        "run-compare": f"/ui/compare?{ids['sweep']}",
        "models": "/ui/models", "model": f"/ui/models/{MODEL}", "version": version,
        "compare": f"/ui/models/{MODEL}/compare?v=1&v=2", "reviews": "/ui/reviews",
        "review": f"{version}/review", "report": f"{version}/report", "audit": "/ui/audit",
        "lineage": f"/ui/lineage?ref=run:{ids['run']}",
    }
    saved = []
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        for width in (1366, 1920):
            context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            for name, path in pages.items():
                if width == 1920 and name not in ("review", "lineage", "audit", "runs"):
                    continue
                page.goto(url + path)
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(300)  # plotly's transitions
                target = out / f"{name}-{width}.png"
                page.screenshot(path=str(target), full_page=name not in ("report", "lineage"))
                saved.append(target)
            context.close()
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "screenshots")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelward-screens-") as tmp:
        add_people(Path(tmp))
        process, url = start_server(Path(tmp))
        try:
            ids = populate(url)
            for path in shoot(url, args.out, ids):
                print(path)
        finally:
            process.terminate()
            process.wait(timeout=15)


if __name__ == "__main__":
    main()
