"""Datasets through the SDK: client-side digest, schema, statistics, snapshots, splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelward.errors import InvalidInput, NotFound
from modelward.sdk.client import Client
from modelward.sdk.datasets import dataframe_digest, describe, infer_schema


def _frame(rows: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "age": rng.integers(18, 90, rows).astype("float64"),
        "income": rng.normal(50_000, 10_000, rows),
        "city": rng.choice(["paris", "lyon", "nice"], rows),
        "label": rng.integers(0, 2, rows),
    }).assign(age=lambda df: df.age.where(df.index % 10 != 0))


def _run(client: Client, unique: str, name: str = "r") -> str:
    experiment = client.experiments.get_or_create(f"datasets-{unique}")
    return client.runs.create(experiment.id, name=name).id


def test_profile_is_computed_from_the_data() -> None:
    df = _frame()
    schema = infer_schema(df)
    assert [(c.name, c.type, c.nullable) for c in schema.columns] == [
        ("age", "float64", True), ("income", "float64", False), ("city", "str", False), ("label", "int64", False),
    ] or schema.columns[2].type in ("object", "string")
    stats = describe(df)
    assert stats.row_count == 50
    age = stats.columns["age"]
    assert age.missing == 5 and age.count == 45
    assert age.mean == pytest.approx(df.age.mean()) and age.std == pytest.approx(df.age.std())
    assert age.min == df.age.min() and age.max == df.age.max()
    assert age.quantiles["0.5"] == pytest.approx(df.age.median())
    assert sum(age.histogram["counts"]) == 45 and len(age.histogram["edges"]) == 11
    city = stats.columns["city"]
    assert city.distinct == 3 and sum(t["count"] for t in city.top) == 50
    assert city.top[0]["count"] == df.city.value_counts().max()
    # the digest follows the content, not the object
    assert dataframe_digest(df) == dataframe_digest(df.copy())
    assert dataframe_digest(df) != dataframe_digest(df.assign(label=df.label + 1))
    assert dataframe_digest(df).startswith("sha256:")
    # infinities (e.g. a CSV id like "1e862345" read as a float) are left out of the moments
    odd = describe(pd.DataFrame({"v": [1.0, float("inf"), 3.0, float("-inf"), None]})).columns["v"]
    assert odd.count == 4 and odd.missing == 1 and odd.mean == 2.0 and odd.max == 3.0
    assert sum(odd.histogram["counts"]) == 2
    assert describe(pd.DataFrame({"v": [float("inf")]})).columns["v"].mean is None


def test_same_data_twice_is_one_dataset_and_one_snapshot(client: Client, unique: str) -> None:
    run_a, run_b = _run(client, unique, "a"), _run(client, unique, "b")
    df = _frame().assign(tag=unique)
    first = client.datasets.log(df, name=f"customers-{unique}", run_id=run_a, snapshot=True)
    second = client.datasets.log(df.copy(), name=f"customers-{unique}", run_id=run_b, snapshot=True)
    assert first.id == second.id and first.digest == second.digest
    assert first.snapshot is not None and second.snapshot == first.snapshot
    assert [f.path for f in client.artifacts.list(run_b)] == []  # not uploaded again
    assert client.datasets.find(digest=first.digest)[0].id == first.id
    loaded = client.datasets.load_snapshot(first.id)
    pd.testing.assert_frame_equal(loaded, df.reset_index(drop=True), check_dtype=False)
    assert {d.id for d in client.datasets.of_run(run_b)} == {first.id}
    fetched = client.datasets.get(first.id)
    assert fetched.data_schema is not None and [c.name for c in fetched.data_schema.columns][:2] == ["age", "income"]
    assert fetched.statistics is not None and fetched.statistics.columns["age"].missing == 5


def test_files_and_uris(client: Client, unique: str, tmp_path: Path) -> None:
    csv = tmp_path / "data.csv"
    _frame(20).assign(u=unique).to_csv(csv, index=False)
    run_id = _run(client, unique)
    from_file = client.datasets.log(csv, run_id=run_id, snapshot=True)
    assert from_file.source_type == "file" and from_file.name == "data.csv"
    assert from_file.statistics is not None and from_file.statistics.row_count == 20
    assert from_file.snapshot is not None and from_file.snapshot.format == "csv"  # the file itself, byte for byte
    assert from_file.digest == f"sha256:{from_file.snapshot.digest}"
    assert client.datasets.snapshot_bytes(from_file) == csv.read_bytes()
    assert client.datasets.load_snapshot(from_file).equals(pd.read_csv(csv))
    blob = tmp_path / "notes.bin"
    blob.write_bytes(b"\x00binary" + unique.encode())
    raw = client.datasets.log(blob, run_id=run_id, snapshot=True, kind="raw_source")
    assert raw.kind.value == "raw_source" and raw.statistics is None and raw.snapshot.format == "bin"
    assert client.datasets.snapshot_bytes(raw) == blob.read_bytes()
    remote = client.datasets.log(uri=f"s3://bucket/{unique}/events", name="events", run_id=run_id)
    assert remote.uri == f"s3://bucket/{unique}/events" and remote.digest is None and remote.statistics is None
    again = client.datasets.log(uri=f"s3://bucket/{unique}/events", name="events")
    assert again.id == remote.id
    with pytest.raises(InvalidInput, match="no local data"):
        client.datasets.log(uri="s3://b/x", run_id=run_id, snapshot=True)
    with pytest.raises(NotFound, match="no stored snapshot"):
        client.datasets.load_snapshot(remote)


def test_splits_derive_from_their_parent(client: Client, unique: str) -> None:
    run_id = _run(client, unique)
    df = _frame(40).assign(u=unique)
    parent = client.datasets.log(df, name=f"all-{unique}", run_id=run_id)
    splits = client.datasets.log_splits(parent, {"train": df.iloc[:30], "test": df.iloc[30:]}, run_id=run_id)
    train = splits["train"]
    assert train.kind.value == "data_split" and train.parent_id == parent.id and train.split == "train"
    assert train.statistics is not None and train.statistics.row_count == 30
    up = client.lineage.upstream(f"dataset:{train.id}", depth=2)
    assert f"artifact:{parent.id}" in {n.key for n in up.nodes}
    down = client.lineage.downstream(f"dataset:{parent.id}", depth=2)
    assert {n.id for n in down.artifacts("data_split")} == {train.id, splits["test"].id}


def test_bad_dataset_requests_are_refused(client: Client, unique: str) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        client.datasets.log("/no/such/file.csv")
    with pytest.raises(InvalidInput, match="needs the 'parent_id'"):
        client.http.call("POST", "/api/v1/datasets", json={"name": "x", "digest": "sha256:" + "a" * 64, "split": "t"})
    with pytest.raises(InvalidInput, match="'digest'"):
        client.http.call("POST", "/api/v1/datasets", json={"name": "x", "digest": "../etc/passwd"})
    with pytest.raises(NotFound):
        client.datasets.get("nope")
