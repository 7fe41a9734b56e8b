"""The prediction log on disk: append-only Parquet parts under the artifact root, read with
DuckDB, plus the per-request index and the feedback in the database.

A part holds one flush of one partition:
``predictions/endpoint=<name>/date=<YYYY-MM-DD>/part-<utc stamp>-<uuid>.parquet``. The file is
written before its index rows, so a crash leaves at most a file nothing points to, never an index
row pointing at nothing. Every row of a part names the part it is in (``part``), so a reader joins
the index on (request_id, mode, part) and a request id a client sent twice resolves to the one
record the index kept (the first).

A part whose records' inputs are frames of one column layout also has a companion,
``part-....rows.parquet``: one row per input row (request_id, mode, row position, then one typed
column per input column), so drift reads the inputs column by column instead of parsing the
JSON. It is written before its part: a part that exists has its companion if it ever will.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Text, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from modelward.artifacts import ArtifactStore
from modelward.domain.predictions import SERVER_ERROR_STATUS, PredictionRecord, Rows
from modelward.store.backend import rows_written
from modelward.store.dialect import aware, bucket_epoch, insert_ignoring_conflict, time_bucket, upsert
from modelward.store.rows.predictions import PredictionFeedbackRow, PredictionIndexRow

if TYPE_CHECKING:  # pyarrow (and numpy under it) loads at the first flush or read, not at start-up
    import pyarrow as pa

PREFIX = "predictions"
IN_CHUNK = 1000  # ids per IN (...) list: far below SQLite's bound on bound parameters


@functools.cache
def parquet_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([
        ("request_id", pa.string()),
        ("mode", pa.string()),
        ("endpoint", pa.string()),
        ("model_name", pa.string()),
        ("version", pa.int64()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("latency_ms", pa.float64()),
        ("status", pa.int32()),
        ("error", pa.string()),
        ("inputs", pa.string()),  # JSON text
        ("outputs", pa.string()),  # JSON text
        ("rows", pa.int64()),
        ("part", pa.string()),
    ])


# -- writing -----------------------------------------------------------------------------------

def partition_of(record: PredictionRecord) -> tuple[str, date]:
    return record.endpoint, record.at.astimezone(UTC).date()


def new_part_name(endpoint: str, day: date) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return (f"{PREFIX}/endpoint={quote(endpoint, safe='')}/date={day.isoformat()}/"
            f"part-{stamp}-{uuid.uuid4().hex}.parquet")


def write_part(artifacts: ArtifactStore, part: str, records: Sequence[PredictionRecord]) -> None:
    """One Parquet file holding ``records`` (all of one partition), written whole, after its
    companion rows file when the records' inputs are frames of one layout."""
    import pyarrow as pa

    try:
        rows = input_rows_table(records)
    except (TypeError, ValueError, pa.ArrowException):  # values numpy cannot even print: the JSON will do
        rows = None
    if rows is not None:
        # Dictionaries only for the keys (on float columns they cost the writer twice the time);
        # lz4: read 2.5 times as fast as zstd, for files a quarter larger.
        artifacts.put_dataset_file(rows_file_of(part), _parquet_bytes(
            rows, compression="lz4", use_dictionary=list(ROWS_KEYS[:2]), write_statistics=False))
    table = pa.table({
        "request_id": [r.request_id for r in records],
        "mode": [r.mode for r in records],
        "endpoint": [r.endpoint for r in records],
        "model_name": [r.model_name for r in records],
        "version": [int(r.version) for r in records],
        "at": [r.at for r in records],
        "latency_ms": [float(r.latency_ms) for r in records],
        "status": [int(r.status) for r in records],
        "error": [r.error for r in records],
        "inputs": [_to_json(r.inputs) for r in records],
        "outputs": [_to_json(r.outputs) for r in records],
        "rows": [int(r.rows) for r in records],
        "part": [part] * len(records),
    }, schema=parquet_schema())
    artifacts.put_dataset_file(part, _parquet_bytes(table))


def _parquet_bytes(table: pa.Table, compression: str = "zstd", **options: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=compression, **options)
    return sink.getvalue().to_pybytes()


ROWS_SUFFIX = ".rows.parquet"
ROWS_KEYS = ("request_id", "mode", "row")  # the companion's own columns, before the input columns


def rows_file_of(part: str) -> str:
    """The name of the companion rows file of ``part``."""
    return part.removesuffix(".parquet") + ROWS_SUFFIX


def input_rows_table(records: Sequence[PredictionRecord]) -> pa.Table | None:
    """The companion of a part: every input row of ``records`` with its request id, mode and
    position in the request, one typed column per input column (float64 for a numeric frame,
    bool for a bool column, else text; nulls, NaN and infinities, which JSON writes as null,
    null). None unless every input is a frame (Rows or a DataFrame) with the same columns, none
    named as a key column, and (request_id, mode) names one record: then readers parse the JSON."""
    import numpy as np
    import pyarrow as pa

    frames = [_rows_of(r.inputs) for r in records]
    if not frames or any(f is None for f in frames):
        return None
    columns = tuple(frames[0].columns)
    if (len(set(columns)) != len(columns) or set(columns) & set(ROWS_KEYS)
            or len({(r.request_id, r.mode) for r in records}) != len(records)):
        return None
    values = [np.asarray(f.values) for f in frames]
    if any(tuple(f.columns) != columns or v.ndim != 2 or v.shape[1] != len(columns) for f, v in zip(frames, values)):
        return None
    counts = np.array([v.shape[0] for v in values], dtype=np.int64)
    starts = np.cumsum(counts) - counts
    table = {
        "request_id": pa.array(np.repeat(np.array([r.request_id for r in records], dtype=object), counts),
                               pa.string()),
        "mode": pa.array(np.repeat(np.array([r.mode for r in records], dtype=object), counts), pa.string()),
        "row": pa.array((np.arange(counts.sum()) - np.repeat(starts, counts)).astype(np.int32)),
    }
    stacked = np.concatenate(values) if values else np.empty((0, len(columns)))
    for j, name in enumerate(columns):
        table[name] = _typed_column(stacked[:, j])
    return pa.table(table)


def _rows_of(inputs: Any) -> Rows | None:
    if isinstance(inputs, Rows):
        return inputs
    if hasattr(inputs, "to_numpy") and hasattr(inputs, "columns"):  # a DataFrame logged as it is
        return Rows([str(c) for c in inputs.columns], inputs.to_numpy())
    return None


def _typed_column(values: Any) -> pa.Array:
    """One input column as Arrow: numbers as float64 (non-finite as null), bools as bool, text as
    text, anything else (mixed kinds, dates, ...) as its str() text; None and NaN as null."""
    import numpy as np
    import pyarrow as pa

    if values.dtype.kind == "b":
        return pa.array(values)
    if values.dtype.kind in "iuf":
        numbers = values.astype(np.float64)
        return pa.array(numbers, mask=~np.isfinite(numbers))
    try:
        found = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        found = None
    if found is not None and (pa.types.is_integer(found.type) or pa.types.is_floating(found.type)):
        numbers = found.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return pa.array(numbers, mask=~np.isfinite(numbers))  # nulls read as NaN, not finite
    if found is not None and (pa.types.is_boolean(found.type) or pa.types.is_string(found.type)):
        return found
    if found is not None and pa.types.is_null(found.type):
        return pa.nulls(len(values), pa.string())
    import pandas as pd

    missing = np.asarray(pd.isna(values), dtype=bool)
    return pa.array(values.astype(str), pa.string(), mask=missing)


def insert_index(session: Session, part: str, records: Sequence[PredictionRecord]) -> None:
    """The index rows of one part. A (request_id, mode) already indexed keeps its first record."""
    values = [
        {"request_id": r.request_id, "mode": r.mode, "endpoint": r.endpoint, "model_name": r.model_name,
         "version": int(r.version), "at": r.at, "status": int(r.status), "latency_ms": float(r.latency_ms),
         "rows": int(r.rows), "part": part}
        for r in records
    ]
    statement = insert_ignoring_conflict(session, PredictionIndexRow, keys=["request_id", "mode"])
    session.connection().execute(statement, values)
    rows_written(session, PredictionIndexRow.__tablename__, len(values))


def _to_json(value: Any) -> str:
    """JSON text of inputs or outputs, on the writer thread: orjson, and a frame as its rows read
    once from numpy (pandas' to_dict cost 0.17 ms a one-row frame, CPU taken from requests)."""
    import orjson

    if isinstance(value, Rows):
        value = [dict(zip(value.columns, row)) for row in value.values.tolist()]
    elif hasattr(value, "to_numpy") and hasattr(value, "columns"):
        columns = [str(c) for c in value.columns]
        value = [dict(zip(columns, row)) for row in value.to_numpy().tolist()]
    try:
        return orjson.dumps(value, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except (TypeError, ValueError) as exc:  # one odd answer must not cost the whole batch
        return json.dumps({"unserialisable": f"{type(value).__name__}: {exc}"})


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays, pandas frames, dates, decimals: as close as JSON gets.
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return value.to_dict(orient="records")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


# -- reading the Parquet parts -----------------------------------------------------------------

def read_records(artifacts: ArtifactStore, wanted: Sequence[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """The full records of ``wanted`` (request_id, mode, part) triples, newest first, with
    ``inputs``/``outputs`` parsed.

    pyarrow scans a dataset of just the parts named, through the artifact store's own file system
    (so S3 needs no DuckDB extension), keeping only the rows of the ids asked for; DuckDB joins
    them to the keys. The scan runs here, not inside DuckDB: a DuckDB thread must never wait on a
    Python file system callback for the interpreter lock."""
    if not wanted:
        return []
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    filesystem, root = artifacts.arrow_filesystem()
    parts = sorted({part for _, _, part in wanted})
    dataset = ds.dataset([f"{root}/{part}" for part in parts], schema=parquet_schema(), format="parquet",
                         filesystem=filesystem)
    rows = dataset.to_table(filter=pc.field("request_id").isin(sorted({w[0] for w in wanted})))
    keys = pa.table({"request_id": [w[0] for w in wanted], "mode": [w[1] for w in wanted],
                     "part": [w[2] for w in wanted]})
    with duckdb.connect() as connection:
        connection.register("log", rows)
        connection.register("wanted", keys)
        result = connection.sql(
            "SELECT l.* EXCLUDE (part) FROM log l "
            "JOIN wanted w ON l.request_id = w.request_id AND l.mode = w.mode AND l.part = w.part "
            "ORDER BY l.at DESC, l.request_id, l.mode"
        ).to_arrow_table()
    records = result.to_pylist()
    for record in records:
        record["at"] = record["at"].astimezone(UTC)
        record["inputs"] = json.loads(record["inputs"])
        record["outputs"] = json.loads(record["outputs"])
    return records


def rows_files(artifacts: ArtifactStore, parts: Iterable[str]) -> dict[str, str]:
    """part -> the name of its companion rows file, for the ``parts`` that have one (each
    partition folder listed once)."""
    wanted = set(parts)
    folders = sorted({part.rsplit("/", 1)[0] for part in wanted})
    found = {name for folder in folders for name in artifacts.list_dataset_files(folder)}
    return {part: rows_file_of(part) for part in sorted(wanted) if rows_file_of(part) in found}


def read_rows_file(artifacts: ArtifactStore, name: str, columns: Sequence[str]) -> tuple[pa.Table, pa.Schema]:
    """(the key columns and those of ``columns`` that the companion rows file ``name`` holds,
    its whole schema: every input column, typed as written), reading only those columns."""
    import pyarrow.parquet as pq

    filesystem, root = artifacts.arrow_filesystem()
    with filesystem.open_input_file(f"{root}/{name}") as source:  # type: ignore[attr-defined]
        found = pq.ParquetFile(source)
        schema = found.schema_arrow
        return found.read(columns=[*ROWS_KEYS, *(c for c in columns if c in schema.names)]), schema


# -- the index -----------------------------------------------------------------------------------

def index_rows(
    session: Session, endpoint: str, *, since: datetime | None, until: datetime | None,
    version: int | None, mode: str | None, limit: int,
) -> list[PredictionIndexRow]:
    query = select(PredictionIndexRow).where(PredictionIndexRow.endpoint == endpoint)
    query = _in_window(query, since, until)
    if version is not None:
        query = query.where(PredictionIndexRow.version == version)
    if mode is not None:
        query = query.where(PredictionIndexRow.mode == mode)
    query = query.order_by(PredictionIndexRow.at.desc(), PredictionIndexRow.request_id).limit(limit)
    return list(session.scalars(query))


def index_rows_of_request(session: Session, request_id: str) -> list[PredictionIndexRow]:
    query = select(PredictionIndexRow).where(PredictionIndexRow.request_id == request_id)
    return list(session.scalars(query.order_by(PredictionIndexRow.mode)))


def live_rows_of(session: Session, endpoint: str, request_ids: Iterable[str]) -> dict[str, int]:
    """request id -> its number of input rows, for the ids of ``endpoint`` that are indexed."""
    found: dict[str, int] = {}
    ids = sorted(set(request_ids))
    for start in range(0, len(ids), IN_CHUNK):
        query = (select(PredictionIndexRow.request_id, func.max(PredictionIndexRow.rows))
                 .where(PredictionIndexRow.endpoint == endpoint,
                        PredictionIndexRow.request_id.in_(ids[start:start + IN_CHUNK]))
                 .group_by(PredictionIndexRow.request_id))
        found.update({request_id: rows for request_id, rows in session.execute(query)})
    return found


def latency_figures(
    session: Session, endpoint: str, *, since: datetime, until: datetime | None,
) -> dict[tuple[int, str], dict[str, Any]]:
    """(version, mode) -> requests, errors, p50_ms, p95_ms (linear interpolation, as numpy)."""
    row = PredictionIndexRow
    is_error = case((row.status >= SERVER_ERROR_STATUS, 1), else_=0)
    columns = [row.version, row.mode, func.count(), func.sum(is_error)]
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        columns += [func.percentile_cont(0.5).within_group(row.latency_ms),
                    func.percentile_cont(0.95).within_group(row.latency_ms)]
    query = _in_window(select(*columns).where(row.endpoint == endpoint), since, until).group_by(row.version, row.mode)
    figures: dict[tuple[int, str], dict[str, Any]] = {}
    for version, mode, requests, errors, *percentiles in session.execute(query):
        p50, p95 = percentiles if postgres else (None, None)
        figures[(version, mode)] = {"requests": requests, "errors": int(errors or 0),
                                    "p50_ms": _float(p50), "p95_ms": _float(p95)}
    if not postgres:
        _add_percentiles_in_python(session, endpoint, since, until, figures)
    return figures


def _add_percentiles_in_python(
    session: Session, endpoint: str, since: datetime, until: datetime | None,
    figures: dict[tuple[int, str], dict[str, Any]],
) -> None:
    # SQLite has no percentile function: stream the latencies of each group in order.
    row = PredictionIndexRow
    for (version, mode), entry in figures.items():
        query = _in_window(select(row.latency_ms).where(row.endpoint == endpoint, row.version == version,
                                                        row.mode == mode), since, until)
        latencies = list(session.scalars(query.order_by(row.latency_ms)))
        entry["p50_ms"], entry["p95_ms"] = _percentile(latencies, 0.5), _percentile(latencies, 0.95)


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def answered_with_feedback(
    session: Session, endpoint: str, *, since: datetime, until: datetime | None,
) -> list[tuple[str, str, int, str, Any]]:
    """(request_id, mode, version, part, ground_truth) of the successful answers that have feedback."""
    row, feedback = PredictionIndexRow, PredictionFeedbackRow
    query = (select(row.request_id, row.mode, row.version, row.part, feedback.ground_truth)
             .join(feedback, feedback.request_id == row.request_id)
             .where(row.endpoint == endpoint, row.status < 400))
    return [tuple(r) for r in session.execute(_in_window(query, since, until))]  # type: ignore[misc]


def answered(
    session: Session, endpoint: str, *, since: datetime, until: datetime | None, mode: str,
) -> list[tuple[str, int, str, datetime]]:
    """(request_id, version, part, at) of the successful answers given in ``mode``."""
    row = PredictionIndexRow
    query = select(row.request_id, row.version, row.part, row.at).where(
        row.endpoint == endpoint, row.mode == mode, row.status < 400)
    return [(r, v, p, aware(a)) for r, v, p, a in session.execute(_in_window(query, since, until))]


def live_answers_of(session: Session, endpoint: str, request_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
    """request id -> (version, part) of the successful live answers to ``request_ids``."""
    row = PredictionIndexRow
    found: dict[str, tuple[int, str]] = {}
    ids = sorted(set(request_ids))
    for start in range(0, len(ids), IN_CHUNK):
        query = select(row.request_id, row.version, row.part).where(
            row.endpoint == endpoint, row.mode == "live", row.status < 400,
            row.request_id.in_(ids[start:start + IN_CHUNK]))
        found.update({request_id: (version, part) for request_id, version, part in session.execute(query)})
    return found


def _in_window(query: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        query = query.where(PredictionIndexRow.at >= since)
    if until is not None:
        query = query.where(PredictionIndexRow.at < until)
    return query


def index_entry(row: PredictionIndexRow) -> dict[str, Any]:
    return {"request_id": row.request_id, "mode": row.mode, "endpoint": row.endpoint,
            "model_name": row.model_name, "version": row.version, "at": aware(row.at), "status": row.status,
            "latency_ms": row.latency_ms, "rows": row.rows, "part": row.part}


# -- feedback ------------------------------------------------------------------------------------

def upsert_feedback(session: Session, values: list[dict[str, Any]]) -> None:
    """Feedback given again for a request replaces the earlier one."""
    upsert(session, PredictionFeedbackRow, values, keys=["request_id"],
           update=["endpoint", "ground_truth", "values", "at", "actor"])
    rows_written(session, PredictionFeedbackRow.__tablename__, len(values))


def feedback_of(session: Session, request_id: str) -> dict[str, Any] | None:
    row = session.get(PredictionFeedbackRow, request_id)
    if row is None:
        return None
    return {"request_id": row.request_id, "endpoint": row.endpoint, "ground_truth": row.ground_truth,
            "values": row.values, "at": aware(row.at), "actor": row.actor}


# -- windows for monitoring (modelward.services.monitoring) -----------------------------------------

def _monitored(query: Any, endpoint: str, since: datetime, until: datetime, version: int | None, mode: str) -> Any:
    query = _in_window(query.where(PredictionIndexRow.endpoint == endpoint, PredictionIndexRow.mode == mode),
                       since, until)
    return query if version is None else query.where(PredictionIndexRow.version == version)


def window_counts(
    session: Session, endpoint: str, *, since: datetime, until: datetime, width_s: int | None, version: int | None,
    mode: str,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Per (window start in epoch seconds, version): requests, rows, 4xx and 5xx answers, ordered;
    and part -> its index rows in range. One GROUP BY (window, version, part) on the database.
    ``width_s=None``: one window, the range, starting at ``since``."""
    row = PredictionIndexRow
    whole = literal_column(str(int(since.timestamp())))  # an int we made: safe inline, and never grouped by
    bucket = (whole if width_s is None else time_bucket(session, PredictionIndexRow.at, width_s)).label("bucket")
    client = func.sum(case(((row.status >= 400) & (row.status < SERVER_ERROR_STATUS), 1), else_=0))
    server = func.sum(case((row.status >= SERVER_ERROR_STATUS, 1), else_=0))
    query = _monitored(select(bucket, row.version, row.part, func.count(), func.sum(row.rows), client, server,
                              func.min(row.model_name)), endpoint, since, until, version, mode)
    windows: dict[tuple[int, int], dict[str, Any]] = {}
    parts: dict[str, int] = {}
    grouping = (row.version, row.part) if width_s is None else (bucket, row.version, row.part)
    for b, v, part, n, r, c, s, m in session.execute(query.group_by(*grouping)):
        parts[part] = parts.get(part, 0) + int(n)
        key = (bucket_epoch(b), int(v))
        entry = windows.setdefault(key, {"bucket": key[0], "version": key[1], "requests": 0, "rows": 0,
                                         "errors_4xx": 0, "errors_5xx": 0, "model_name": m})
        entry["requests"] += int(n)
        entry["rows"] += int(r or 0)
        entry["errors_4xx"] += int(c or 0)
        entry["errors_5xx"] += int(s or 0)
    return [windows[key] for key in sorted(windows)], parts


def window_parts(
    session: Session, endpoint: str, *, since: datetime, until: datetime, version: int | None, mode: str,
) -> dict[str, int]:
    """part -> how many index rows in the window point at it."""
    row = PredictionIndexRow
    query = _monitored(select(row.part, func.count()), endpoint, since, until, version, mode).group_by(row.part)
    return {part: int(count) for part, count in session.execute(query)}


def window_keys_of_parts(
    session: Session, endpoint: str, parts: Sequence[str], *, since: datetime, until: datetime,
    version: int | None, mode: str,
) -> list[tuple[str, str]]:
    """(request_id, part) of the index rows in the window pointing at ``parts``."""
    row = PredictionIndexRow
    found: list[tuple[str, str]] = []
    for start in range(0, len(parts), IN_CHUNK):
        query = _monitored(select(row.request_id, row.part), endpoint, since, until, version, mode)
        found.extend(tuple(r) for r in session.execute(query.where(row.part.in_(parts[start:start + IN_CHUNK]))))
    return found  # type: ignore[return-value]


FEEDBACK_CLOCK_SKEW = timedelta(days=1)  # feedback stamped this much before an answer still counts


def window_feedback(session: Session, endpoint: str, *, since: datetime) -> tuple[list[str], list[str]]:
    """(request ids, ground truth as JSON text) of the feedback on ``endpoint`` given since ``since``
    (less FEEDBACK_CLOCK_SKEW: truth comes after the answer, so this holds all of the range's; the
    caller joins it to the answers by request id). The JSON stays text: the caller decodes it
    column-wise, never row by row in Python."""
    feedback = PredictionFeedbackRow
    query = select(feedback.request_id, cast(feedback.ground_truth, Text)).where(
        feedback.endpoint == endpoint, feedback.at >= since - FEEDBACK_CLOCK_SKEW)
    rows = _plain_rows(session, query)
    return [r[0] for r in rows], [r[1] for r in rows]


def _plain_rows(session: Session, query: Any) -> list[tuple[Any, ...]]:
    """The rows of ``query`` as the driver's plain tuples: for hundreds of thousands of rows,
    building SQLAlchemy Row objects costs several times the query itself."""
    dialect = session.get_bind().dialect
    compiled = query.compile(dialect=dialect)
    params = compiled.construct_params()
    for name, bind in compiled.binds.items():
        processor = bind.type._cached_bind_processor(dialect)
        if processor is not None and name in params:
            params[name] = processor(params[name])
    arguments = [params[name] for name in compiled.positiontup] if compiled.positional else params
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(str(compiled), arguments)
        return cursor.fetchall()
    finally:
        cursor.close()


# -- erasure (``services.erasure``) ------------------------------------------------------------

def parts_of(artifacts: ArtifactStore, endpoint: str | None = None) -> list[str]:
    """Every part of the log (of ``endpoint``, if given), companions left out, sorted."""
    prefix = f"{PREFIX}/endpoint={quote(endpoint, safe='')}" if endpoint is not None else PREFIX
    return [name for name in artifacts.list_dataset_files(prefix)
            if name.endswith(".parquet") and not name.endswith(ROWS_SUFFIX)
            and name.rsplit("/", 1)[-1].startswith("part-")]


def endpoint_of_part(part: str) -> str:
    from urllib.parse import unquote

    segment = next((s for s in part.split("/") if s.startswith("endpoint=")), "endpoint=")
    return unquote(segment.removeprefix("endpoint="))


def read_part_inputs(artifacts: ArtifactStore, part: str) -> pa.Table:
    """(request_id, mode, inputs JSON text) of every record in ``part``."""
    import pyarrow.parquet as pq

    filesystem, root = artifacts.arrow_filesystem()
    with filesystem.open_input_file(f"{root}/{part}") as source:  # type: ignore[attr-defined]
        return pq.ParquetFile(source).read(columns=["request_id", "mode", "inputs"])


def rewrite_part_without(artifacts: ArtifactStore, part: str, removed: set[tuple[str, str]]) -> tuple[int, int]:
    """Rewrite ``part`` (and its companion rows file first) without the records whose
    (request_id, mode) is in ``removed``, each file whole under its own name; (removed, kept)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    filesystem, root = artifacts.arrow_filesystem()

    def without(name: str) -> tuple[pa.Table, pa.Table]:
        with filesystem.open_input_file(f"{root}/{name}") as source:  # type: ignore[attr-defined]
            table = pq.ParquetFile(source).read()
        keys = pc.binary_join_element_wise(table["request_id"], table["mode"], "\x00")
        doomed = pa.array(sorted(f"{r}\x00{m}" for r, m in removed), pa.string())
        keep = pc.invert(pc.is_in(keys, value_set=doomed))
        return table.filter(keep), table

    companion = rows_file_of(part)
    if companion in rows_files(artifacts, [part]).values():
        kept_rows, _ = without(companion)
        artifacts.put_dataset_file(companion, _parquet_bytes(kept_rows, compression="lz4"))
    kept, whole = without(part)
    artifacts.put_dataset_file(part, _parquet_bytes(kept))  # the schema it was written with
    return whole.num_rows - kept.num_rows, kept.num_rows


def forget_records(session: Session, part: str, keys: Sequence[tuple[str, str]]) -> int:
    """Delete the index rows of ``keys`` (request_id, mode) that point at ``part``, and the
    feedback of requests left with no index row; the number of index rows deleted."""
    from sqlalchemy import delete, tuple_

    removed = 0
    for start in range(0, len(keys), IN_CHUNK):
        chunk = list(keys[start:start + IN_CHUNK])
        result = session.execute(delete(PredictionIndexRow).where(
            PredictionIndexRow.part == part,
            tuple_(PredictionIndexRow.request_id, PredictionIndexRow.mode).in_(chunk)))
        removed += result.rowcount or 0  # type: ignore[attr-defined]
        ids = sorted({request_id for request_id, _ in chunk})
        still = set(session.scalars(select(PredictionIndexRow.request_id).where(PredictionIndexRow.request_id.in_(ids))))
        gone = [request_id for request_id in ids if request_id not in still]
        if gone:
            session.execute(delete(PredictionFeedbackRow).where(PredictionFeedbackRow.request_id.in_(gone)))
    return removed
