"""Input (data) drift and prediction drift of a serving endpoint, window by window.

``drift`` compares the inputs the endpoint answered (successful answers, status < 400) in each UTC
minute, hour or day of [since, until) (or in the whole range, ``every=None``) with a reference
dataset, and the predictions with the reference's label column when it has one:

* the reference is the ``reference`` argument, else the effective policy's ``monitoring.reference``
  (a Parquet or CSV artifact of a run, read by its digest and checked against it), else the
  training dataset lineage records for the version (a run artifact read by a training run). Its
  ``ReferenceProfile`` is computed once per process and artifact digest;
* the Parquet parts of the range are read with pyarrow into ``monitoring._Log``'s DuckDB table
  of answers. A part with a companion rows file (``store.predictions.rows_file_of``: its frames'
  rows, one typed column per input column) has its inputs read from it, only the profile's
  columns, each cast to the profile's type (DOUBLE for numeric, VARCHAR or BOOLEAN for
  categorical; TRY_CAST, as ``from_json`` does), and joined to the answers on (request_id, part);
  the file's schema gives the columns each window saw, and a column stored with the other kind
  is reported ``retyped``. Other parts (older logs, mixed layouts, non-frame inputs) are unpacked
  from the JSON ``inputs`` by ``from_json`` with that same type, one row per input row; only
  frame inputs (a JSON list of row objects) are read, and the keys of each request's first row
  give the columns that appeared or disappeared (a frame's rows share their columns);
* numeric features under the default binning get every window's statistics from one sort per
  window and one compiled (numba) pass over all windows together, merging each with the
  reference sample (KS statistic and Wasserstein from the two empirical CDFs in closed form, PSI
  and Jensen-Shannon from bin counts; the KS p-values vectorised, ``drift.kstwo_sf``). They equal
  ``evaluation.drift.compare_to_profile`` on the window's rows; other features (categorical,
  ``binning: evidently``) go through drift's own per-feature test, one window at a time.

A numeric column that arrives as text that is no number reads as missing (its missing rate
drifts); kind changes are reported as ``retyped`` only for parts read from their rows files.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from modelward.domain.governance import DatasetRef
from modelward.domain.monitoring import MonitoringPolicy
from modelward.domain.policy import Policy
from modelward.domain.windows import WINDOW_SECONDS
from modelward.errors import InvalidInput, NotFound
from modelward.evaluation import drift as drift_stats
from modelward.evaluation.drift import (
    KS_EXACT_MAX_N,
    DriftReport,
    DriftSummary,
    DriftWindow,
    FeatureDrift,
    FeatureProfile,
    ReferenceProfile,
    SchemaChange,
    TestResult,
    reference_profile,
)
from modelward.services.backend import Backend
from modelward.services.monitoring import MODES, _items, _Log, _scan_schema, _utc
from modelward.store import predictions as store

REFERENCE_SAMPLE_SIZE = 200_000  # reference values kept per feature: every value up to this many
PROFILE_CACHE_SIZE = 32
THREADS = min(4, os.cpu_count() or 1)
LABEL_COLUMNS = ("label", "target")
_READ_COLUMNS = ["request_id", "model_name", "version", "at", "status", "inputs", "outputs", "part"]

_profiles: OrderedDict[tuple[Any, ...], _Reference] = OrderedDict()
_profiles_lock = threading.Lock()


@dataclass(frozen=True)
class _Reference:
    profile: ReferenceProfile
    source: str                       # where it came from, e.g. runs:/ID/path
    output: str | None                # the label column compared with the predictions
    output_levels: tuple[Any, ...]    # the label's values, sorted: predict_proba column order


def drift(
    backend: Backend, endpoint: str, *, since: datetime, until: datetime, every: str | None = "hour",
    version: int | None = None, mode: str = "live", reference: pd.DataFrame | None = None,
) -> list[DriftWindow]:
    """One DriftWindow per UTC window of [since, until) with answered input rows (``every=None``:
    one window covering exactly [since, until)), all versions together unless ``version``."""
    if every is not None and every not in WINDOW_SECONDS:
        raise InvalidInput(f"every must be one of {', '.join(WINDOW_SECONDS)} or None, got {every!r}")
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if reference is not None and not isinstance(reference, pd.DataFrame):
        raise InvalidInput(f"reference must be a pandas DataFrame, got {type(reference).__name__}")
    since, until = _utc(since, "since"), _utc(until, "until")
    if until <= since:
        raise InvalidInput(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    scope = {"since": since, "until": until, "version": version, "mode": mode}
    with backend.read() as session:
        parts = store.window_parts(session, endpoint, **scope)
        if not parts:
            _require_logged(session, endpoint)
            return []
        [newest] = store.index_rows(session, endpoint, limit=1, **scope)  # whose model, which version
        model_name, newest_version = newest.model_name, newest.version
    policy = _effective_policy(backend, model_name)
    found = resolve_reference(backend, policy, model_name, version if version is not None else newest_version,
                              reference)
    width = WINDOW_SECONDS[every] if every is not None else 0
    with _InputLog(backend, endpoint, parts, width=width, rows_files=True, **scope) as log:
        current = log.current(found)
    monitoring = policy.monitoring
    reports = _reports(found, current, monitoring)
    windows = []
    for index, bucket in enumerate(current.buckets):
        start = since if every is None else datetime.fromtimestamp(int(bucket), UTC)
        end = until if every is None else start + timedelta(seconds=width)
        windows.append(DriftWindow(start=start, end=end, version=version, rows=int(current.rows[index]),
                                   reference=found.source, report=reports[index]))
    return windows


def _require_logged(session: Any, endpoint: str) -> None:
    if not store.index_rows(session, endpoint, since=None, until=None, version=None, mode=None, limit=1):
        raise NotFound(f"no prediction of endpoint {endpoint!r} is in the log")


def _effective_policy(backend: Backend, model_name: str) -> Policy:
    from modelward.services.policies import effective_policy

    return effective_policy(backend, model_name)


# -- the reference ----------------------------------------------------------------------------------

def resolve_reference(backend: Backend, policy: Policy, model_name: str, version: int | None,
                      given: pd.DataFrame | None) -> _Reference:
    """The reference profile: ``given``, else the policy's monitoring.reference, else the version's
    training dataset from lineage; cached per artifact digest."""
    monitoring = policy.monitoring
    signature = _signature_outputs(backend, model_name, version) if policy.label is None else ()
    if given is not None:
        return _profile_of(given, policy, "argument", signature)
    if monitoring.reference is not None:
        ref = DatasetRef(**monitoring.reference.model_dump())
        return _cached_artifact(backend, policy, ref, f"runs:/{ref.run_id}/{ref.path}", signature)
    training = _training_dataset(backend, model_name, version)
    if training is not None:
        return _cached_artifact(backend, policy, *training, signature)
    raise InvalidInput(
        f"no drift reference for model {model_name!r}: set monitoring.reference ({{run_id, path}} of a Parquet "
        f"or CSV run artifact) in its policy, record the training dataset of version {version} in its lineage, "
        "or pass a reference DataFrame")


def _cached_artifact(backend: Backend, policy: Policy, ref: DatasetRef, source: str,
                     signature: tuple[str, ...]) -> _Reference:
    from modelward.services import artifacts as artifact_service
    from modelward.services.evaluations import load_dataset

    digest = ref.digest or artifact_service.stat(backend, ref.run_id, ref.path).digest
    monitoring = policy.monitoring
    key = (digest, monitoring.bins, tuple(monitoring.features or ()), monitoring.features is None, policy.label,
           source, signature)
    with _profiles_lock:
        if key in _profiles:
            _profiles.move_to_end(key)
            return _profiles[key]
    frame, _ = load_dataset(backend, ref.model_copy(update={"digest": digest}))  # checks the bytes' digest
    found = _profile_of(frame, policy, source, signature)
    with _profiles_lock:
        _profiles[key] = found
        while len(_profiles) > PROFILE_CACHE_SIZE:
            _profiles.popitem(last=False)
    return found


def _training_dataset(backend: Backend, model_name: str, version: int | None) -> tuple[DatasetRef, str] | None:
    """The first dataset a training run of the version read that is stored as a run artifact: its
    snapshot, or a location ``runs:/ID/path``."""
    from modelward.services import lineage

    if version is None:
        return None
    try:
        found = lineage.origin(backend, lineage.version_uri(model_name, version))
    except NotFound:
        return None
    for dataset in found.datasets:
        if dataset.role != "training":
            continue
        snapshot = dataset.snapshot or {}
        if snapshot.get("run_id") and snapshot.get("path") and snapshot.get("digest"):
            run_id, path, digest = snapshot["run_id"], snapshot["path"], snapshot["digest"]
        elif (dataset.uri or "").startswith("runs:/"):
            run_id, _, path = (dataset.uri or "")[len("runs:/"):].partition("/")
            digest = (dataset.digest or "").removeprefix("sha256:") or None
        else:
            continue
        if run_id and path.lower().endswith((".parquet", ".pq", ".csv")):
            return DatasetRef(run_id=run_id, path=path, digest=digest), f"runs:/{run_id}/{path}"
    return None


def _signature_outputs(backend: Backend, model_name: str, version: int | None) -> tuple[str, ...]:
    """The output column names of the version's signature (none without a registered version)."""
    from modelward.services import registry

    if version is None:
        return ()
    try:
        signature = registry.get_version(backend, model_name, version).signature or {}
    except NotFound:
        return ()
    outputs = signature.get("outputs") if isinstance(signature, dict) else None
    if not isinstance(outputs, list):
        return ()
    return tuple(str(o["name"]) for o in outputs if isinstance(o, dict) and o.get("name"))


def _profile_of(frame: pd.DataFrame, policy: Policy, source: str, signature: tuple[str, ...] = ()) -> _Reference:
    frame = frame.rename(columns=str)
    output = _output_column(frame, policy, signature)
    profile = reference_profile(frame, policy.monitoring, sample_size=REFERENCE_SAMPLE_SIZE, output=output)
    levels: tuple[Any, ...] = ()
    if output is not None:
        values = frame[output].dropna().unique().tolist()
        levels = tuple(sorted(values, key=lambda v: (isinstance(v, str), v)))
    return _Reference(profile=profile, source=source, output=output, output_levels=levels)


def _output_column(frame: pd.DataFrame, policy: Policy, signature: tuple[str, ...]) -> str | None:
    """The policy's label column, else "label" or "target", else the signature's one output name."""
    candidates = [policy.label] if policy.label else [*LABEL_COLUMNS, *(signature if len(signature) == 1 else ())]
    return next((name for name in candidates if name in frame.columns), None)


# -- reading the log --------------------------------------------------------------------------------

@dataclass
class _Current:
    buckets: np.ndarray                    # window starts (epoch seconds), ascending
    rows: np.ndarray                       # input rows per window
    offsets: np.ndarray                    # rows of window i are [offsets[i], offsets[i + 1])
    columns: dict[str, np.ndarray]         # feature -> one value per row, windows in order
    keys: list[set[str]]                   # the input columns each window saw
    retyped: list[dict[str, str]]          # per window: feature -> the other kind's dtype it came in


class _InputLog(_Log):
    """``_Log`` reading the inputs as well; ``width`` 0: one window, the whole range.
    ``rows_files``: the inputs of the parts that have a rows file are read from it by ``current``
    and left null in ``answers`` (other readers of ``answers.inputs`` keep the default)."""

    def __init__(self, *args: Any, rows_files: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.use_rows_files = rows_files

    def _read(self) -> Any:
        """The answers in scope; ``inputs`` is null for the parts whose rows file is read."""
        import pyarrow as pa
        import pyarrow.compute as pc

        self.rows_files = store.rows_files(self.backend.artifacts, self.parts) if self.use_rows_files else {}
        with_json = sorted(set(self.parts) - set(self.rows_files))
        tables = [self._scan(with_json, _READ_COLUMNS)] if with_json else []
        if self.rows_files:
            table = self._scan(sorted(self.rows_files), [c for c in _READ_COLUMNS if c != "inputs"])
            tables.append(table.add_column(_READ_COLUMNS.index("inputs"), "inputs", pa.nulls(len(table), pa.string())))
        table = pa.concat_tables(tables)
        since = self.scope["since"]
        if self.width:
            micros = pc.cast(table["at"], pa.int64())
            bucket = pc.multiply(pc.divide(micros, self.width * 1_000_000), self.width)  # integer division
        else:
            bucket = pa.array(np.full(len(table), int(since.timestamp()), dtype=np.int64))
        return table.append_column("bucket", bucket).append_column("seq", pa.array(np.arange(len(table))))

    def _scan(self, parts: list[str], columns: list[str]) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        filesystem, root = self.backend.artifacts.arrow_filesystem()
        dataset = ds.dataset([f"{root}/{part}" for part in parts], schema=_scan_schema(),
                             format="parquet", filesystem=filesystem)
        stamp = pa.timestamp("us", tz="UTC")
        since, until = self.scope["since"], self.scope["until"]
        wanted = ((pc.field("at") >= pa.scalar(since, type=stamp)) & (pc.field("at") < pa.scalar(until, type=stamp))
                  & (pc.field("mode") == self.scope["mode"]))
        if self.scope["version"] is not None:
            wanted &= pc.field("version") == self.scope["version"]
        return dataset.to_table(columns=columns, filter=wanted)

    def model_and_newest_version(self) -> tuple[str | None, int | None]:
        [(model_name, newest)] = self.db.sql(
            "SELECT min(model_name), max(version) FROM answers WHERE status < 400").fetchall()
        return model_name, newest

    def current(self, reference: _Reference) -> _Current:
        profile = reference.profile
        names = [n for n in profile.features if n != reference.output]
        types = [_sql_type(profile.features[name]) for name in names]
        keys: dict[int, set[str]] = {}
        retyped: dict[int, dict[str, str]] = {}
        table = self.db.sql(self._from_json(names, types, reference, keys) + " ORDER BY bucket").to_arrow_table()
        found = {name: table[name].to_numpy() if name == "bucket" else _numpy(table[name])
                 for name in table.column_names}  # bucket, c0.., o
        if self.rows_files:
            found = _by_bucket(found, self._from_rows_files(names, types, reference, keys, retyped))
        bucket_column = found["bucket"].astype(np.int64)
        buckets, starts, counts = np.unique(bucket_column, return_index=True, return_counts=True)
        columns = {name: found[f"c{i}"] for i, name in enumerate(names)}
        if reference.output is not None:
            columns[reference.output] = _output_values(found["o"], reference)
        return _Current(buckets=buckets, rows=counts, offsets=np.append(starts, len(bucket_column)), columns=columns,
                        keys=[keys.get(int(b), set()) for b in buckets],
                        retyped=[retyped.get(int(b), {}) for b in buckets])

    def _from_json(self, names: list[str], types: list[str], reference: _Reference,
                   keys: dict[int, set[str]]) -> str:
        """SQL: (bucket, c0.., o) of the input rows parsed from the JSON ``inputs`` (null for the
        parts with a rows file); ``keys`` gets the columns of each window."""
        row_type = json.dumps([dict(zip(names, types))])
        self.db.sql(f"""
            CREATE TEMP TABLE parsed AS
            SELECT bucket, from_json(inputs, {_literal(row_type)}) AS r, json_keys(inputs, '$[0]') AS k,
                   {_output_sql(reference)} AS o
            FROM answers WHERE status < 400 AND starts_with(inputs, '[{{')""")
        for bucket, key in self.db.sql("SELECT DISTINCT bucket, unnest(k) FROM parsed").fetchall():
            keys.setdefault(int(bucket), set()).add(key)
        fields = "".join(f"struct_extract_at(r, {i + 1}) AS c{i}, " for i in range(len(names)))  # fields by position
        return f"""
            SELECT bucket, {fields}o FROM (
                SELECT bucket, unnest(r) AS r, unnest(o) AS o FROM parsed) WHERE r IS NOT NULL"""

    def _from_rows_files(self, names: list[str], types: list[str], reference: _Reference,
                         keys: dict[int, set[str]], retyped: dict[int, dict[str, str]]) -> dict[str, np.ndarray]:
        """bucket, c0.., o of the input rows of the parts with a rows file, ordered by bucket, each
        file's needed columns cast to the profile's types; ``keys`` and ``retyped`` get what each
        window's files hold. DuckDB joins the keys only (the row of item i of an answer's
        outputs is row i of its input); numpy gathers the features."""
        import pyarrow as pa

        files = sorted(self.rows_files.items())
        schemas: list[list[str]] = []
        changed: list[dict[str, str]] = []
        tables = []
        for index, (table, inputs) in enumerate(self._rows_file_tables(files, names)):
            schemas.append(inputs.names)
            changed.append(_other_kind(table, names, reference.profile))
            tables.append(self._typed(table, inputs, names, types).append_column(
                "file", pa.array(np.full(len(table), index, dtype=np.int32))))
        rows = pa.concat_tables(tables)
        self.db.register("input_rows", rows.select([*store.ROWS_KEYS, "file"]).append_column(
            "pos", pa.array(np.arange(len(rows), dtype=np.int64))))
        self.db.register("rows_files", pa.table({"file": pa.array(np.arange(len(files), dtype=np.int32)),
                                                 "part": [part for part, _ in files]}))
        # The answers of parts with a rows file are those whose inputs _read left null.
        found = self.db.sql(f"""
            SELECT a.bucket, a.file, c.pos, a.o[c.row + 1] AS o
            FROM input_rows c JOIN (
                SELECT s.request_id, f.file, s.bucket, {_output_sql(reference)} AS o
                FROM answers s JOIN rows_files f ON s.part = f.part WHERE s.status < 400 AND s.inputs IS NULL) a
              ON c.file = a.file AND c.request_id = a.request_id
            WHERE c.mode = ? ORDER BY a.bucket, c.pos""", params=[self.scope["mode"]]).to_arrow_table()
        self.db.register("found_rows", found.select(["file", "bucket"]))
        for index, bucket in self.db.sql("SELECT DISTINCT file, bucket FROM found_rows").fetchall():
            keys.setdefault(int(bucket), set()).update(schemas[index])
            retyped.setdefault(int(bucket), {}).update(changed[index])
        positions = found["pos"].to_numpy()
        return {"bucket": found["bucket"].to_numpy(), **{f"c{i}": _numpy(rows[f"c{i}"])[positions]
                                                         for i in range(len(names))}, "o": _numpy(found["o"])}

    def _rows_file_tables(self, files: list[tuple[str, str]], names: list[str]) -> Any:
        """(the needed columns of each rows file, the file's input columns' schema), in order, read
        by a few threads (pyarrow decodes outside the interpreter lock)."""
        import pyarrow as pa

        def read(name: str) -> tuple[Any, Any]:
            table, schema = store.read_rows_file(self.backend.artifacts, name, names)
            return table, pa.schema([f for f in schema if f.name not in store.ROWS_KEYS])

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            yield from pool.map(read, [name for _, name in files])

    def _typed(self, table: Any, schema: Any, names: list[str], types: list[str]) -> Any:
        """The keys and c0.. of a rows file's ``table``: column ``names[i]`` as ``types[i]``, null
        where the file has no such column or a value does not convert (as ``from_json`` reads
        it). A column already of its type, or numbers and bools for DOUBLE, stays in Arrow; any
        other cast runs in DuckDB (TRY_CAST)."""
        import pyarrow as pa

        columns = {key: table[key] for key in store.ROWS_KEYS}
        in_sql: dict[str, str] = {}
        for i, (name, kind) in enumerate(zip(names, types)):
            target = _arrow_type(kind)
            if name not in schema.names:
                columns[f"c{i}"] = pa.nulls(len(table), target)
                continue
            stored = table[name].type
            if stored == target or (kind == "DOUBLE" and (pa.types.is_integer(stored) or pa.types.is_floating(stored)
                                                          or pa.types.is_boolean(stored))):
                columns[f"c{i}"] = table[name].cast(target)
            else:
                in_sql[f"c{i}"] = _cast_sql(name, kind, stored)
        if in_sql:
            self.db.register("rows_file", table)
            cast = self.db.sql(f"SELECT {', '.join(f'{sql} AS {c}' for c, sql in in_sql.items())} FROM rows_file")
            found = cast.to_arrow_table()
            self.db.unregister("rows_file")
            columns.update({c: found[c].cast(_arrow_type(types[int(c[1:])])) for c in in_sql})
        return pa.table({key: columns[key] for key in [*store.ROWS_KEYS, *(f"c{i}" for i in range(len(names)))]})


def _by_bucket(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Two sets of columns, each ordered by bucket, as one (a stable sort when both have rows)."""
    if not len(first["bucket"]) or not len(second["bucket"]):
        return second if len(second["bucket"]) else first
    joined = {name: np.concatenate([first[name], second[name]]) for name in first}
    order = np.argsort(joined["bucket"], kind="stable")
    return {name: values[order] for name, values in joined.items()}


def _arrow_type(kind: str) -> Any:
    import pyarrow as pa

    return {"DOUBLE": pa.float64(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_()}[kind]


def _cast_sql(name: str, kind: str, stored: Any) -> str:
    """SQL: the rows file's column ``name`` (of Arrow type ``stored``) as ``kind``, null where a
    value does not convert."""
    import pyarrow as pa

    column = '"' + name.replace('"', '""') + '"'
    if kind == "VARCHAR" and pa.types.is_floating(stored):  # whole numbers as the JSON of an int column reads
        return (f"CASE WHEN {column} = round({column}) AND abs({column}) < 1e15 "
                f"THEN CAST(CAST({column} AS BIGINT) AS VARCHAR) ELSE CAST({column} AS VARCHAR) END")
    return f"TRY_CAST({column} AS {kind})"


def _other_kind(table: Any, names: list[str], profile: ReferenceProfile) -> dict[str, str]:
    """feature -> the dtype its rows file holds it in, for the features stored with the other kind
    (numbers for a categorical feature, text or bools for a numeric one; an all-null column is
    no change)."""
    import pyarrow as pa

    found: dict[str, str] = {}
    for name in names:
        feature = profile.features[name]
        if name not in table.column_names or feature.values == 0:
            continue
        column = table[name]
        stored = pa.types.is_floating(column.type)
        if column.null_count < len(column) and stored != (feature.kind == "numeric"):
            found[name] = "float64" if stored else "bool" if pa.types.is_boolean(column.type) else "object"
    return found


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_type(feature: FeatureProfile) -> str:
    if feature.kind == "numeric":
        return "DOUBLE"
    if feature.levels and all(isinstance(v, bool) for v in feature.levels):
        return "BOOLEAN"
    return "VARCHAR"


def _output_sql(reference: _Reference) -> str:
    """SQL: the predictions of an answer as one value per row: the column number of the largest
    probability of a predict_proba answer, else the value answered; numbers for a numeric label
    column, else text."""
    if reference.output is None:
        return "[]::VARCHAR[]"
    numeric = reference.profile.features[reference.output].kind == "numeric"
    kind = "DOUBLE" if numeric else "VARCHAR"
    argmax = ("list_transform(from_json(outputs, '[[\"DOUBLE\"]]'), "
              f"lambda x: (list_position(x, list_max(x)) - 1)::{kind})")
    text = "json_extract_string(x, '$')"
    other = f"list_transform({_items('outputs')}, lambda x: {f'TRY_CAST({text} AS DOUBLE)' if numeric else text})"
    return (f"CASE WHEN outputs IS NULL THEN []::{kind}[] WHEN starts_with(outputs, '[[') THEN {argmax} "
            f"ELSE {other} END")


def _numpy(column: Any) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_floating(column.type):
        return column.to_numpy()  # nulls become NaN
    return np.asarray(column.to_pylist() if pa.types.is_boolean(column.type) else
                      column.to_numpy(zero_copy_only=False), dtype=object)


def _output_values(values: np.ndarray, reference: _Reference) -> np.ndarray:
    """Predictions in the label column's terms: a predict_proba column number is the label it
    stands for when the (numeric) label has that many values and they are not 0..K-1."""
    feature = reference.profile.features[reference.output or ""]
    if feature.kind != "numeric":
        return values
    values = values.astype(float)
    levels = np.asarray(reference.output_levels, dtype=float)
    is_index = np.isfinite(values) & (values == np.round(values)) & (values >= 0) & (values < len(levels))
    if len(levels) >= 2 and not np.array_equal(levels, np.arange(len(levels))) and is_index.all():
        values = levels[values.astype(np.int64)]  # probability columns of non-0..K-1 numeric labels
    return values


# -- the reports ------------------------------------------------------------------------------------

def _reports(found: _Reference, current: _Current, policy: MonitoringPolicy) -> list[DriftReport]:
    profile = found.profile
    n_windows = len(current.buckets)
    per_feature: dict[str, list[FeatureDrift | None]] = {}
    fast: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=THREADS) as pool:  # numpy's sorts and searches run outside the GIL
        for name, feature in profile.features.items():
            values = current.columns.get(name)
            if values is None:
                continue
            present = [name == found.output or name in keys for keys in current.keys]
            if _fast(feature, values, policy):
                fast[name] = pool.submit(_numeric_windows, feature, values, current.offsets, present, policy)
            else:
                per_feature[name] = [
                    drift_stats._feature_drift(feature, _series(values[current.offsets[i]:current.offsets[i + 1]]),
                                               policy) if present[i] else None for i in range(n_windows)]
        per_feature.update({name: future.result() for name, future in fast.items()})
    per_feature = {name: per_feature[name] for name in profile.features if name in per_feature}  # profile order
    reports = []
    for i in range(n_windows):
        results = {name: entries[i] for name, entries in per_feature.items() if entries[i] is not None}
        output = results.pop(found.output, None) if found.output is not None else None
        schema = _schema_changes(profile, current.keys[i], current.retyped[i], found.output, policy)
        drifted = sum(r.status == "drift" for r in results.values())
        summary = DriftSummary(
            features=len(results), drifted=drifted, warnings=sum(r.status == "warning" for r in results.values()),
            share_drifted=drifted / len(results) if results else 0.0, schema_changes=len(schema),
            output_drifted=None if output is None else output.status == "drift")
        reports.append(DriftReport(reference_rows=profile.rows, current_rows=int(current.rows[i]),
                                   binning=policy.binning, features=results, output=output, schema_changes=schema,
                                   summary=summary))
    return reports


def _series(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype=float if values.dtype.kind == "f" else object)


def _schema_changes(profile: ReferenceProfile, keys: set[str], retyped: dict[str, str], output: str | None,
                    policy: MonitoringPolicy) -> list[SchemaChange]:
    changes: list[SchemaChange] = []
    if policy.features is None:
        changes += [SchemaChange(column=name, change="new") for name in sorted(keys - set(profile.features))]
    for name, feature in profile.features.items():
        if name == output:
            continue
        if name not in keys:
            changes.append(SchemaChange(column=name, change="missing", reference_dtype=feature.dtype))
        elif name in retyped:
            changes.append(SchemaChange(column=name, change="retyped", reference_dtype=feature.dtype,
                                        current_dtype=retyped[name]))
    return changes


def _fast(feature: FeatureProfile, values: np.ndarray, policy: MonitoringPolicy) -> bool:
    return (policy.binning == "reference_quantiles" and feature.kind == "numeric" and feature.values > 0
            and values.dtype.kind == "f")


def _numeric_windows(feature: FeatureProfile, values: np.ndarray, offsets: np.ndarray, present: Sequence[bool],
                     policy: MonitoringPolicy) -> list[FeatureDrift | None]:
    """drift's numeric FeatureDrift of every window at once (as _feature_drift on each window's rows)."""
    rows = np.diff(offsets)
    missing = np.add.reduceat(np.isnan(values), offsets[:-1]).astype(np.int64) if values.size else rows * 0
    finite = np.isfinite(values)
    counts = np.add.reduceat(finite, offsets[:-1]).astype(np.int64) if values.size else rows * 0
    sorted_values = _sorted_within(values if finite.all() else values[finite], counts)
    figures = _window_statistics(feature, sorted_values, counts) if counts.any() else {}
    t = policy.drift
    results: list[FeatureDrift | None] = []
    for i in range(len(rows)):
        if not present[i]:
            results.append(None)
            continue
        tests: dict[str, TestResult] = {}
        note = None
        if counts[i]:
            tests = {
                "psi": drift_stats._psi_result(float(figures["psi"][i]), t),
                "ks": TestResult(value=float(figures["ks_p"][i]), statistic=float(figures["ks_d"][i]),
                                 threshold=t.ks_p_value, drifted=bool(figures["ks_p"][i] <= t.ks_p_value)),
                "wasserstein": TestResult(value=float(figures["w_normed"][i]), statistic=float(figures["w"][i]),
                                          threshold=t.wasserstein, drifted=bool(figures["w_normed"][i] >= t.wasserstein)),
                "jensen_shannon": TestResult(value=float(figures["js"][i]), threshold=t.jensen_shannon,
                                             drifted=bool(figures["js"][i] >= t.jensen_shannon)),
            }
        else:
            note = "no values to compare on one side: only the missing rate is tested"
        current_rate = missing[i] / rows[i] if rows[i] else 0.0
        increase = current_rate - feature.missing_rate
        tests["missing_rate"] = TestResult(value=increase, threshold=t.missing_rate_increase,
                                           drifted=increase > t.missing_rate_increase)
        status, worst = drift_stats._verdict(tests, t)
        results.append(FeatureDrift(
            name=feature.name, kind=feature.kind, reference_dtype=feature.dtype, current_dtype="float64",
            reference_rows=feature.rows, current_rows=int(rows[i]), reference_missing_rate=feature.missing_rate,
            current_missing_rate=float(current_rate), tests=tests, status=status, worst=worst, note=note))
    return results


def _sorted_within(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A copy of ``values`` (windows one after another) with each window's values sorted."""
    out = values.copy()
    end = np.cumsum(counts)
    for start, stop in zip(end - counts, end, strict=True):  # a loop over windows: one sort each
        out[start:stop].sort()
    return out


def _window_statistics(feature: FeatureProfile, x: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per window: KS D and p-value, Wasserstein-1 (raw and normed), PSI and Jensen-Shannon.

    ``x``: the finite current values, window after window, sorted within each (``counts`` a window).
    One compiled pass per window merges it with the reference sample (``_merge_windows``)."""
    r = feature.sample
    n_windows = counts.size
    nonempty = counts > 0
    starts = np.cumsum(counts) - counts
    constants = _reference_constants(r)
    edges = np.asarray(feature.edges, dtype=float)
    n_bins = edges.size + 1
    ks_d = np.zeros(n_windows)
    w = np.zeros(n_windows)
    current_counts = np.zeros((n_windows, n_bins), dtype=np.int64)
    _merge_kernel()(r, np.ascontiguousarray(x, dtype=float), starts.astype(np.int64), counts.astype(np.int64),
                    edges, *constants, ks_d, w, current_counts)
    ks_d = np.clip(ks_d, 0, 1)
    ks_p = _ks_p_values(r, x, starts, counts, ks_d)
    # PSI and Jensen-Shannon over the profile's quantile bins (e[i-1], e[i]].
    reference_shares = np.asarray(feature.bin_counts, dtype=float) / feature.values
    shares = current_counts[nonempty] / counts[nonempty, None]
    psi = np.zeros(n_windows)
    js = np.zeros(n_windows)
    reference_filled = drift_stats.fill_empty_shares(reference_shares)
    current_filled = _fill_empty_rows(shares)
    psi[nonempty] = np.sum((reference_filled - current_filled) * np.log(reference_filled / current_filled), axis=1)
    js[nonempty] = distance.jensenshannon(np.broadcast_to(reference_shares, shares.shape), shares, axis=1)
    return {"ks_d": ks_d, "ks_p": ks_p, "w": w, "w_normed": w / max(feature.std or 0.0, 0.001), "psi": psi, "js": js}


_constants: dict[int, tuple[Any, ...]] = {}  # id of a reference sample -> _reference_constants, while it lives
_constants_lock = threading.Lock()


def _reference_constants(r: np.ndarray) -> tuple[Any, ...]:
    """What the merge needs of a sorted reference sample, computed once per sample (profiles are
    cached, so a sample outlives many calls): where each value's run of equal values starts, the
    mean, the values centred on it, the prefix sums of those and, per value, how many centred
    values are <= it. The entry goes when the sample does."""
    key = id(r)
    found = _constants.get(key)
    if found is not None:
        return found
    centre = float(r.mean()) if r.size else 0.0
    rc = r - centre
    prefix = np.concatenate([[0.0], np.cumsum(rc)])
    upto_ref = np.searchsorted(rc, rc, side="right").astype(np.int64)
    constants = (_run_starts(r), centre, rc, prefix, upto_ref)
    with _constants_lock:
        if key not in _constants:
            _constants[key] = constants
            weakref.finalize(r, _constants.pop, key, None)
        return _constants[key]


def _merge_windows(r, x, starts, counts, edges, run_starts, centre, rc, prefix, upto_ref,  # pragma: no cover
                   ks_d, w, bin_counts):
    """Per window of ``x`` (sorted within), against the sorted reference ``r`` (n values): the KS
    statistic (before clipping), Wasserstein-1 and the counts in the bins ``(e[i-1], e[i]]``.

    F_r, F_c: the empirical CDFs (right-continuous) of r and of the window (m values). KS: sup
    |F_r - F_c| is reached at the end of a run of window values (F_c - F_r) or just before its
    start (F_r - F_c). W1 = integral of |F_r - F_c| in closed form over the window's values:
    G(t) = integral of F_r up to t = (k t - sum of the k reference values <= t) / n; between two
    consecutive window values a < b F_c is a constant c = j/m, and F_r reaches c at t_c, the
    ceil(c n)-th reference value: there |F_r - c| integrates to c (2 t' - a - b) + G(a) + G(b) - 2 G(t')
    with t' = t_c clipped to [a, b]. Values are centred on the reference mean to keep the sums small.
    Compiled by numba (nopython, no interpreter lock): one pass over the window, finding each
    value's place in r by galloping on from the previous one's, instead of a searchsorted pass
    and a few dozen array temporaries of the log's size."""
    n = r.size
    n_edges = edges.size
    for window in range(starts.size):
        m = counts[window]
        if m == 0:
            continue
        first = starts[window]
        upto = 0     # reference values <= x[i]
        in_bin = 0   # edges < x[i]
        best = 0.0
        previous_g = 0.0
        previous_upto = 0
        pieces = 0.0
        head = 0.0
        for i in range(m):
            value = x[first + i]
            if upto < n and r[upto] <= value:  # gallop, then bisect: the first r > value
                low, step = upto, 1
                high = low + 1
                while high < n and r[high] <= value:
                    low, step = high, step * 2
                    high = low + step
                low, high = low + 1, min(high, n)
                while low < high:
                    middle = (low + high) // 2
                    if r[middle] <= value:
                        low = middle + 1
                    else:
                        high = middle
                upto = low
            below = run_starts[upto - 1] if upto > 0 and r[upto - 1] == value else upto  # r < value
            while in_bin < n_edges and edges[in_bin] < value:
                in_bin += 1
            bin_counts[window, in_bin] += 1
            if i == 0 or value != x[first + i - 1]:  # the start of a run of equal values
                gap = below / n - i / m
                if gap > best:
                    best = gap
            if i == m - 1 or value != x[first + i + 1]:  # the end of a run
                gap = (i + 1) / m - upto / n
                if gap > best:
                    best = gap
            centred = value - centre
            g = (upto * centred - prefix[upto]) / n
            if i == 0:
                head = g  # before the first value F_c = 0: the integral of F_r
            else:
                j = i
                a = x[first + i - 1] - centre
                crossing = min((j * n + m - 1) // m - 1, n - 1)  # the ceil(j n / m)-th reference value
                t_c = rc[crossing]
                t_prime = min(max(t_c, a), centred)
                if t_c <= a:
                    k_prime = previous_upto
                elif t_c >= centred:
                    k_prime = upto
                else:
                    k_prime = upto_ref[crossing]
                g_t = (k_prime * t_prime - prefix[k_prime]) / n
                pieces += (j / m) * (2 * t_prime - a - centred) + previous_g + g - 2 * g_t
            previous_g = g
            previous_upto = upto
        total = head + pieces
        # After the last value F_c = 1: the integral of 1 - F_r from it on.
        last = x[first + m - 1] - centre
        top = max(rc[n - 1], last)
        total += (top - last) - ((n * top - prefix[n]) / n - previous_g)
        ks_d[window] = best
        w[window] = total


_compiled: list[Any] = []


def _merge_kernel() -> Any:
    """``_merge_windows`` compiled (once per process; numba's on-disk cache spares later processes
    the compilation)."""
    if not _compiled:
        with _constants_lock:
            if not _compiled:
                import numba

                _compiled.append(numba.njit(nogil=True, cache=True)(_merge_windows))
    return _compiled[0]


def _fill_empty_rows(shares: np.ndarray) -> np.ndarray:
    """drift.fill_empty_shares on each row (every row has a non-zero share)."""
    smallest = np.where(shares > 0, shares, np.inf).min(axis=1, keepdims=True)
    fill = np.where(smallest <= 0.0001, smallest / 10**6, 0.0001)
    return np.where(shares == 0, fill, shares)


def _run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """For each position of a sorted array, where its run of equal values starts."""
    starts = np.ones(sorted_values.size, dtype=bool)
    starts[1:] = sorted_values[1:] != sorted_values[:-1]
    return np.maximum.accumulate(np.where(starts, np.arange(sorted_values.size), 0))


def _ks_p_values(r: np.ndarray, x: np.ndarray, starts: np.ndarray, counts: np.ndarray, ks_d: np.ndarray) -> np.ndarray:
    """scipy's ks_2samp p-value (method auto): exact up to KS_EXACT_MAX_N values a side, else
    Smirnov's asymptotic formula (vectorised), as drift._ks_p_value."""
    n = float(r.size)
    p = np.ones(counts.size)
    big = np.maximum(n, counts.astype(float))
    small = np.minimum(n, counts.astype(float))
    asymptotic = (counts > 0) & (big > KS_EXACT_MAX_N)
    if asymptotic.any():
        effective = np.round(big[asymptotic] * small[asymptotic] / (big[asymptotic] + small[asymptotic]))
        p[asymptotic] = np.clip(drift_stats.kstwo_sf(ks_d[asymptotic], effective), 0, 1)
    for i in np.flatnonzero((counts > 0) & ~asymptotic):  # small windows against a small reference
        p[i] = float(stats.ks_2samp(r, x[starts[i]:starts[i] + counts[i]]).pvalue)
    return p


__all__ = ["DriftWindow", "drift", "resolve_reference"]
