"""``client.datasets``: log a DataFrame, a file or a URI as a dataset, profiled on this machine.

The digest, schema and statistics are computed here with pandas and sent as JSON; a
snapshot is uploaded as a Parquet run artifact through the artifacts API. The server
never opens a local path or URI: a URI dataset is recorded by name, URI and digest only.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelward.domain.datasets import (
    ColumnSchema,
    ColumnStats,
    Dataset,
    DatasetSchema,
    DatasetStats,
)
from modelward.errors import InvalidInput, NotFound
from modelward.sdk._http import HttpSession

if TYPE_CHECKING:
    import pandas as pd

    from modelward.sdk.client import Artifacts

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HISTOGRAM_BINS = 10
TOP_CATEGORIES = 10
_TABLE_READERS = {".csv": "read_csv", ".parquet": "read_parquet", ".json": "read_json", ".tsv": "read_csv"}


# -- profiling (pure functions of a DataFrame) -------------------------------------------------


def dataframe_digest(df: pd.DataFrame) -> str:
    """'sha256:<hex>' of the columns, their types and every row's values (not the index)."""
    import pandas as pd

    hasher = hashlib.sha256()
    header = [[str(column), str(dtype)] for column, dtype in df.dtypes.items()]
    hasher.update(json.dumps(header).encode())
    try:
        hasher.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts): hash a canonical text form instead
        hasher.update(df.to_json(orient="split", index=False, date_format="iso").encode())
    return "sha256:" + hasher.hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def infer_schema(df: pd.DataFrame) -> DatasetSchema:
    """Columns, pandas types, and nullability (does the column hold a missing value)."""
    return DatasetSchema(columns=[
        ColumnSchema(name=str(column), type=str(df[column].dtype), nullable=bool(df[column].isna().any()))
        for column in df.columns
    ])


def _plain(value: Any) -> Any:
    """A JSON-friendly Python value: numpy scalars unwrapped, NaN and infinities as None."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _numeric_stats(series: pd.Series, stats: ColumnStats) -> None:
    import numpy as np

    values = series.dropna().astype("float64")
    values = values[np.isfinite(values.to_numpy())]  # infinities would swamp every moment
    if values.empty:
        return
    stats.mean, stats.std = _plain(values.mean()), _plain(values.std()) if len(values) > 1 else None
    stats.min, stats.max = _plain(values.min()), _plain(values.max())
    stats.quantiles = {str(q): float(v) for q, v in values.quantile(list(QUANTILES)).items()}
    counts, edges = np.histogram(values.to_numpy(), bins=HISTOGRAM_BINS)
    stats.histogram = {"edges": [float(e) for e in edges], "counts": [float(c) for c in counts]}


def _category_stats(series: pd.Series, stats: ColumnStats) -> None:
    values = series.dropna()
    stats.distinct = int(values.nunique())
    stats.top = [{"value": str(_plain(v)), "count": int(c)} for v, c in values.value_counts().head(TOP_CATEGORIES).items()]


def describe(df: pd.DataFrame) -> DatasetStats:
    """Count, missing, mean, std, min, max, quantiles and a histogram per numeric column;
    distinct values and the top categories per categorical column; range per date column."""
    from pandas.api import types

    columns: dict[str, ColumnStats] = {}
    for column in df.columns:
        series = df[column]
        stats = ColumnStats(count=int(series.count()), missing=int(series.isna().sum()))
        if types.is_bool_dtype(series.dtype):
            _category_stats(series, stats)
        elif types.is_numeric_dtype(series.dtype):
            _numeric_stats(series, stats)
        elif types.is_datetime64_any_dtype(series.dtype):
            present = series.dropna()
            if not present.empty:
                stats.min, stats.max = _plain(present.min()), _plain(present.max())
        else:
            _category_stats(series, stats)
        columns[str(column)] = stats
    return DatasetStats(row_count=len(df), columns=columns)


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    df.to_parquet(buffer, engine="pyarrow", index=False)
    return buffer.getvalue()


def read_table(path: Path) -> pd.DataFrame | None:
    """A CSV, TSV, JSON or Parquet file as a DataFrame; None for other files."""
    import pandas as pd

    reader = _TABLE_READERS.get(path.suffix.lower())
    if reader is None:
        return None
    if path.suffix.lower() == ".tsv":
        return pd.read_csv(path, sep="\t")
    return getattr(pd, reader)(path)  # type: ignore[no-any-return]


def _where(source: Path) -> str:
    """The file's path as the run saw it: relative to the working folder when inside it (so a
    reproduction can put the file back in the same place), else absolute."""
    absolute = source.resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return absolute.as_posix()


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "dataset"


def _describe(
    data: Any, *, name: str | None, uri: str | None, digest: str | None, kind: str,
    properties: dict[str, Any] | None, namespace: str | None = None,
) -> tuple[dict[str, Any], pd.DataFrame | None, Path | None]:
    """The request body for ``data`` (profiled here), and the frame and file it came from."""
    body: dict[str, Any] = {"kind": kind, "uri": uri, "digest": digest, "properties": dict(properties or {})}
    if namespace is not None:
        if not name:
            raise InvalidInput("namespace= names an OpenLineage dataset together with its name=")
        body["namespace"] = namespace
    frame, source = None, None
    if data is None:
        if uri is None and namespace is None:
            raise InvalidInput("log a DataFrame, a file path, or a dataset by uri= (or namespace= and name=)")
        body.update(source_type="uri", name=name or (uri or "").rstrip("/").rsplit("/", 1)[-1])
        return body, None, None
    if isinstance(data, str | os.PathLike):
        source = Path(data)
        if not source.is_file():
            raise InvalidInput(f"dataset file {str(source)!r} does not exist; use uri= for a remote dataset")
        body.update(source_type="file", digest=digest or file_digest(source), name=name or source.name)
        body["properties"].setdefault("file_name", source.name)
        frame = read_table(source)
    else:
        frame = data
        body.update(source_type="dataframe", digest=digest or dataframe_digest(frame), name=name or "dataset")
    if frame is not None:
        body["schema"] = infer_schema(frame).model_dump(mode="json")
        body["statistics"] = describe(frame).model_dump(mode="json")
    return body, frame, source


# -- the client namespace ------------------------------------------------------------------------


def _protected(data: Any, rules: dict[str, str], secret: str | bytes | None) -> Any:
    import os

    import pandas as pd

    from modelward.evaluation.personal_data import protect

    if not isinstance(data, pd.DataFrame):
        raise InvalidInput("protect= applies to a pandas DataFrame (hash or drop its columns before logging)")
    return protect(data, rules, secret=secret if secret is not None else os.environ.get("MODELWARD_HASH_SECRET"))


class Datasets:
    def __init__(self, http: HttpSession, artifacts: Artifacts) -> None:
        self._http = http
        self._artifacts = artifacts

    def log(
        self,
        data: Any = None,
        *,
        name: str | None = None,
        uri: str | None = None,
        namespace: str | None = None,
        digest: str | None = None,
        run_id: str | None = None,
        context: str | None = "input",
        snapshot: bool = False,
        kind: str = "dataset",
        parent: Dataset | str | None = None,
        split: str | None = None,
        properties: dict[str, Any] | None = None,
        expectations: dict[str, Any] | str | None = None,
        protect: dict[str, str] | None = None,
        protect_secret: str | bytes | None = None,
    ) -> Dataset:
        """Log a pandas DataFrame, a local file, or (``uri=``) a remote dataset by reference.

        ``uri=`` (the source URI, e.g. ``s3://bucket/key``) or ``namespace=`` with ``name=`` (as
        OpenLineage names it, e.g. ``postgres://db:5432`` and ``analytics.features``) say where the
        data lives: OpenLineage events about that dataset then join the same lineage node, whether
        they arrive before or after this call.

        With ``run_id``, the dataset becomes an input (``context="input"``) or output
        (``context="output"``) of that run. ``snapshot=True`` stores a copy as a run
        artifact (once per digest): a file as it is (its digest is the dataset's), a DataFrame
        as Parquet. ``parent`` and ``split`` record a train/validation/test split.

        ``expectations`` (a declaration, docs/data.md) is attached to the dataset and checked by the
        server on the stored snapshot: with local data it needs ``snapshot=True``. The result is on
        the returned dataset's ``data_check``; a failing check does not undo the logging.

        ``protect`` ({column: "hash" or "drop"}) changes a DataFrame here, before anything is
        described or sent: a dropped column never leaves the process, a hashed one is sent as the
        keyed HMAC-SHA256 of its values (``protect_secret``, else the environment's
        ``MODELWARD_HASH_SECRET``; the same secret gives the same hashes, so joins still work). The
        dataset logged (digest, schema, statistics, snapshot) is the protected one.
        """
        if protect is not None:
            data = _protected(data, protect, protect_secret)
        body, frame, source = _describe(data, name=name, uri=uri, digest=digest, kind=kind,
                                        properties=properties, namespace=namespace)
        if expectations is not None:
            from modelward.sdk.data_checks import declaration

            if not snapshot and (frame is not None or source is not None):
                raise InvalidInput("expectations= are checked on the stored snapshot: log the data with snapshot=True")
            body["expectations"] = declaration(expectations)
        if parent is not None:
            body["parent_id"] = parent.id if isinstance(parent, Dataset) else parent
            body["split"] = split or "split"
            body["kind"] = "data_split"
        if run_id is not None:
            body["run_id"] = run_id
            body["direction"] = context
            if source is not None:
                body["path"] = _where(source)
        if snapshot:
            body["snapshot_path"] = self._upload_snapshot(body, frame, source, run_id)
        return Dataset.model_validate(self._http.call("POST", "/api/v1/datasets", json=body))

    def _upload_snapshot(self, body: dict[str, Any], frame: Any, source: Path | None, run_id: str | None) -> str | None:
        if run_id is None:
            raise InvalidInput("snapshot=True needs the run_id whose artifacts hold the snapshot")
        if frame is None and source is None:
            raise InvalidInput("a dataset logged by uri= has no local data to snapshot")
        if any(d.snapshot for d in self.find(digest=body["digest"]) if d.kind.value == body["kind"]):
            return None  # stored once per digest: the dataset keeps its first snapshot
        stem = f"datasets/{_safe_name(body['name'])}-{body['digest'].split(':')[-1][:12]}"
        if source is not None:  # the file's own bytes: its digest is the dataset's, and a rerun gets it back as it was
            path = stem + source.suffix
            self._artifacts.upload_file(run_id, source, path)
        else:
            path = stem + ".parquet"
            self._artifacts.upload_bytes(run_id, path, parquet_bytes(frame))
        return path

    def log_splits(
        self, parent: Dataset, splits: Mapping[str, Any], *, run_id: str | None = None,
        context: str | None = "output", snapshot: bool = False,
    ) -> dict[str, Dataset]:
        """Train/validation/test DataFrames derived from ``parent``."""
        return {
            split: self.log(frame, name=f"{parent.name}/{split}", parent=parent, split=split, run_id=run_id,
                            context=context, snapshot=snapshot)
            for split, frame in splits.items()
        }

    def get(self, dataset_id: str) -> Dataset:
        return Dataset.model_validate(self._http.call("GET", f"/api/v1/datasets/{quote(dataset_id, safe='')}"))

    def find(self, *, name: str | None = None, digest: str | None = None, limit: int = 100) -> list[Dataset]:
        params = {k: v for k, v in {"name": name, "digest": digest, "limit": limit}.items() if v is not None}
        data = self._http.call("GET", "/api/v1/datasets", params=params)
        return [Dataset.model_validate(item) for item in data["datasets"]]

    def of_run(self, run_id: str, direction: str = "input") -> list[Dataset]:
        """The datasets a run read ('input') or wrote ('output'), e.g. a transformation's result."""
        data = self._http.call("GET", f"/api/v1/datasets/of-run/{quote(run_id, safe='')}", params={"direction": direction})
        return [Dataset.model_validate(item) for item in data["datasets"]]

    def snapshot_bytes(self, dataset: Dataset | str) -> bytes:
        found = dataset if isinstance(dataset, Dataset) else self.get(dataset)
        if found.snapshot is None:
            raise NotFound(f"dataset '{found.name}' ({found.id}) has no stored snapshot")
        return self._artifacts.read_bytes(found.snapshot.run_id, found.snapshot.path)

    def load_snapshot(self, dataset: Dataset | str) -> pd.DataFrame:
        """The stored snapshot (Parquet for a DataFrame, the file itself for a CSV, TSV or JSON file) as a DataFrame."""
        import pandas as pd

        found = dataset if isinstance(dataset, Dataset) else self.get(dataset)
        data = io.BytesIO(self.snapshot_bytes(found))
        form = found.snapshot.format if found.snapshot else ""
        if form in ("csv", "tsv"):
            return pd.read_csv(data, sep="\t" if form == "tsv" else ",")
        if form == "json":
            return pd.read_json(data)
        if form not in ("parquet", "pq"):
            raise InvalidInput(f"the snapshot of dataset '{found.name}' is a .{form} file, not a table")
        return pd.read_parquet(data)
