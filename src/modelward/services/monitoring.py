"""Continuous evaluation: what each model version of an endpoint did, window by window.

``windows`` cuts [since, until) into UTC minutes, hours or days and gives one ``Window`` per
(window, version) that answered in it. The work is split so that no Python loop ever runs over
answers:

* counts (requests, rows, 4xx and 5xx) are a GROUP BY on the database over ``prediction_index``;
* the Parquet parts the index names for the range are read once with pyarrow (through the
  artifact store's own file system); DuckDB, in memory, keeps only the rows the index kept (a part
  whose row count differs from its index count is checked key by key), computes latency
  percentiles and error classes, unpacks the JSON outputs and the ground truth into one row per
  predicted row, and joins them by request id and position;
* the figures per window come from ``modelward.evaluation.estimation`` on whole columns.

Classification answers are labels, or class probabilities (predict_proba: one list per row,
columns in the order of the model's classes). Probabilities give ROC AUC, log loss, calibration
error and the confidence-based estimate (CBPE) of every window, labelled or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from modelward.domain.windows import WINDOW_SECONDS, Window
from modelward.errors import InvalidInput
from modelward.evaluation import estimation
from modelward.services.backend import Backend
from modelward.store import predictions as store

MODES = ("live", "shadow")
TASKS = ("classification", "regression")
MIN_REFERENCE_ROWS = 100  # labelled rows a window needs to calibrate the estimate of later ones
ERROR_CLASS_LENGTH = 120
_COLUMNS = ["request_id", "version", "at", "latency_ms", "status", "error", "outputs", "part"]


def windows(
    backend: Backend, endpoint: str, *, since: datetime, until: datetime, every: str | None = "hour",
    version: int | None = None, mode: str = "live", task: str | None = None, classes: Sequence[Any] | None = None,
    positive_label: Any = None, reference: tuple[datetime, datetime] | None = None,
) -> list[Window]:
    """One Window per (UTC window, version) with answers in [since, until), ordered by start and version;
    ``every=None``: one window per version covering exactly [since, until) (what an alert rule reads).

    ``task`` defaults to the task of the model's effective policy (and ``positive_label`` to its
    positive label). ``classes``: the model's classes in predict_proba column order (default: the
    column numbers when the labels are 0..K-1, else the sorted labels). ``reference``: a range
    whose labelled probabilities calibrate the estimate; without one, the first window of each
    version with enough labelled rows does, and without that the probabilities are taken as they are."""
    if every is not None and every not in WINDOW_SECONDS:
        raise InvalidInput(f"every must be one of {', '.join(WINDOW_SECONDS)}, got {every!r}")
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if task is not None and task not in TASKS:
        raise InvalidInput(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    since, until = _utc(since, "since"), _utc(until, "until")
    if until <= since:
        raise InvalidInput(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    width = WINDOW_SECONDS[every] if every is not None else None
    scope = {"since": since, "until": until, "version": version, "mode": mode}
    with backend.read() as session:
        counts, parts = store.window_counts(session, endpoint, width_s=width, **scope)
        if not counts:
            return []
        truth = store.window_feedback(session, endpoint, since=since)
    if task is None:
        task, policy_positive = _policy_task(backend, counts[0]["model_name"])
        positive_label = positive_label if positive_label is not None else policy_positive
    keys = [(c["bucket"], c["version"]) for c in counts]
    with _Log(backend, endpoint, parts, width=width, **scope) as log:
        latency, error_classes = log.latency_and_errors()
        rows = log.scored_rows(truth)
    figures = _Figures(keys, task, classes, positive_label)
    quality = figures.realised(rows)
    estimated = figures.estimated(rows, _reference_rows(backend, endpoint, reference, mode, version))
    return [_window(i, c, width, since, until, task, latency, error_classes, quality, estimated, mode)
            for i, c in enumerate(counts)]


def decay_report(window_list: list[Window], metric: str, **options: Any) -> dict[str, Any]:
    """Trend and first change of ``metric`` over windows of one version (see estimation.decay_report)."""
    versions = {w.version for w in window_list}
    if len(versions) > 1:
        raise InvalidInput(f"decay is judged per version; these windows hold versions {sorted(versions)}")
    return estimation.decay_report(window_list, metric, **options)


# -- reading the log ------------------------------------------------------------------------------

class _Log:
    """The answers of one query in an in-memory DuckDB: table ``answers`` (one row per request).
    ``width=None``: one bucket, the range itself (its start in epoch seconds)."""

    def __init__(self, backend: Backend, endpoint: str, parts: dict[str, int], *, width: int | None, since: datetime,
                 until: datetime, version: int | None, mode: str) -> None:
        self.backend, self.endpoint, self.parts, self.width = backend, endpoint, parts, width
        self.scope = {"since": since, "until": until, "version": version, "mode": mode}

    def __enter__(self) -> _Log:
        import duckdb

        self.db = duckdb.connect()
        self.db.register("raw", self._read())
        self._keep_indexed()
        return self

    def __exit__(self, *_: Any) -> None:
        self.db.close()

    def _read(self) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        filesystem, root = self.backend.artifacts.arrow_filesystem()
        dataset = ds.dataset([f"{root}/{part}" for part in sorted(self.parts)], schema=_scan_schema(),
                             format="parquet", filesystem=filesystem)
        stamp = pa.timestamp("us", tz="UTC")
        wanted = ((pc.field("at") >= pa.scalar(self.scope["since"], type=stamp))
                  & (pc.field("at") < pa.scalar(self.scope["until"], type=stamp))
                  & (pc.field("mode") == self.scope["mode"]))
        if self.scope["version"] is not None:
            wanted &= pc.field("version") == self.scope["version"]
        table = dataset.to_table(columns=_COLUMNS, filter=wanted)
        if self.width is None:
            bucket = pa.array(np.full(len(table), int(self.scope["since"].timestamp()), dtype=np.int64))
        else:
            micros = pc.cast(table["at"], pa.int64())
            bucket = pc.multiply(pc.divide(micros, self.width * 1_000_000), self.width)  # integer division
        return table.append_column("bucket", bucket).append_column("seq", pa.array(np.arange(len(table))))

    def _keep_indexed(self) -> None:
        """Rows the index does not point at (a request id logged twice keeps its first) are dropped:
        parts whose rows in range outnumber their index rows are checked key by key."""
        import pyarrow as pa

        found = dict(self.db.sql("SELECT part, count(*) FROM raw GROUP BY part").fetchall())
        suspect = sorted(part for part, n in found.items() if n != self.parts.get(part))
        if not suspect:
            self.db.sql("CREATE VIEW answers AS SELECT * FROM raw")
            return
        with self.backend.read() as session:
            keys = store.window_keys_of_parts(session, self.endpoint, suspect, **self.scope)
        self.db.register("kept", pa.table({"request_id": [k[0] for k in keys], "part": [k[1] for k in keys]}))
        self.db.register("suspect", pa.table({"part": suspect}))
        self.db.sql("""
            CREATE TABLE answers AS
            SELECT * FROM raw WHERE part NOT IN (SELECT part FROM suspect)
            UNION ALL
            SELECT * EXCLUDE (n) FROM (
                SELECT r.*, row_number() OVER (PARTITION BY r.request_id, r.part ORDER BY r.seq) AS n
                FROM raw r JOIN kept k ON r.request_id = k.request_id AND r.part = k.part) WHERE n = 1
        """)

    def latency_and_errors(self) -> tuple[dict[tuple[int, int], list[float]], dict[tuple[int, int], dict[str, int]]]:
        latency = {(b, v): list(q) for b, v, q in self.db.sql(
            "SELECT bucket, version, quantile_cont(latency_ms, [0.5, 0.95, 0.99]) FROM answers "
            "GROUP BY bucket, version").fetchall()}
        classes: dict[tuple[int, int], dict[str, int]] = {}
        for b, v, text, n in self.db.sql(f"""
                SELECT bucket, version, left(regexp_replace(regexp_replace(coalesce(error, 'status ' || status),
                       '''[^'']*''|"[^"]*"', '<name>', 'g'), '[0-9]+', '<n>', 'g'), {ERROR_CLASS_LENGTH}) AS kind,
                       count(*) FROM answers WHERE status >= 400 GROUP BY ALL ORDER BY ALL""").fetchall():
            classes.setdefault((b, v), {})[text] = n
        return latency, classes

    def scored_rows(self, truth: tuple[list[str], list[str]]) -> dict[str, np.ndarray]:
        """One entry per predicted row of the successful answers: window, version, the prediction
        (label, number or probabilities) and its ground truth where feedback lines up."""
        import pyarrow as pa

        ids, texts = truth
        self.db.register("feedback", pa.table({"request_id": pa.array(ids, pa.string()),
                                               "truth": pa.array(texts, pa.string())}))
        # Answers written as lists of probability lists (json.dumps of predict_proba, the common
        # case) take a fast typed parse; anything else the general JSON path.
        table = self.db.sql(f"""
            WITH answer AS (
                SELECT bucket, version, request_id, outputs FROM answers WHERE status < 400 AND outputs IS NOT NULL),
            probability_rows AS (
                SELECT bucket, version, request_id, len(p) AS n, unnest(p) AS proba, unnest(range(len(p))) AS pos,
                       NULL::DOUBLE AS predicted_number, NULL::VARCHAR AS predicted_text
                FROM (SELECT *, from_json(outputs, '[["DOUBLE"]]') AS p FROM answer WHERE starts_with(outputs, '[['))),
            other_items AS (
                SELECT bucket, version, request_id, len(items) AS n, unnest(items) AS item,
                       unnest(range(len(items))) AS pos
                FROM (SELECT *, {_items("outputs")} AS items FROM answer WHERE NOT starts_with(outputs, '[['))),
            other_rows AS (
                SELECT bucket, version, request_id, n,
                       CASE WHEN kind = 'ARRAY' THEN try_cast(item AS DOUBLE[]) END AS proba, pos, {_scalar("predicted")}
                FROM (SELECT *, json_type(item) AS kind FROM other_items)),
            answer_rows AS (SELECT * FROM probability_rows UNION ALL BY NAME SELECT * FROM other_rows),
            truth_items AS (
                SELECT request_id, len(items) AS n, unnest(items) AS item, unnest(range(len(items))) AS pos
                FROM (SELECT request_id, {_items("truth")} AS items FROM feedback)),
            truth_rows AS (
                SELECT request_id, n, pos, {_scalar("true")} FROM (SELECT *, json_type(item) AS kind FROM truth_items))
            SELECT a.bucket, a.version, a.predicted_number, a.predicted_text, a.proba,
                   t.request_id IS NOT NULL AS labelled, t.true_number, t.true_text
            FROM answer_rows a LEFT JOIN truth_rows t
              ON t.request_id = a.request_id AND t.pos = a.pos AND t.n = a.n
        """).to_arrow_table()
        return _columns(table)


def _scan_schema() -> Any:
    """The parts' schema with ``part`` read as a dictionary: one value per file, so decoding it as
    plain text would copy the same long name into every row (a third of what a scan reads)."""
    import pyarrow as pa

    schema = store.parquet_schema()
    return schema.set(schema.get_field_index("part"), pa.field("part", pa.dictionary(pa.int32(), pa.string())))


def _items(column: str) -> str:
    """SQL: the JSON text ``column`` as a list of one JSON value per row (``{"predictions": [...]}``
    unwrapped, a scalar as one row)."""
    unwrapped = (f"(CASE WHEN starts_with({column}, '{{') THEN json_extract({column}, '$.predictions') "
                 f"ELSE {column}::JSON END)")
    return (f"(CASE WHEN json_type({unwrapped}) = 'ARRAY' THEN json_extract({unwrapped}, '$[*]') "
            f"ELSE [{unwrapped}] END)")


def _scalar(name: str) -> str:
    """SQL: a JSON value ``item`` of type ``kind`` as a number (numbers, booleans) or a text label."""
    return (f"CASE WHEN kind IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT') THEN CAST(item AS DOUBLE) "
            f"WHEN kind = 'BOOLEAN' THEN CAST(CAST(item AS BOOLEAN) AS DOUBLE) END AS {name}_number, "
            f"CASE WHEN kind = 'VARCHAR' THEN json_extract_string(item, '$') END AS {name}_text")


def _columns(table: Any) -> dict[str, np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pc

    out: dict[str, Any] = {name: table[name].to_numpy(zero_copy_only=False) for name in
                           ("bucket", "version", "predicted_number", "predicted_text", "labelled", "true_number",
                            "true_text")}
    proba = table["proba"].combine_chunks() if table.num_rows else pa.array([], pa.list_(pa.float64()))
    lengths = pc.fill_null(pc.list_value_length(proba), 0).to_numpy(zero_copy_only=False)
    width = int(lengths.max()) if len(lengths) else 0
    out["has_proba"] = (lengths == width) & (width >= 2)
    matrix = np.full((len(lengths), max(width, 1)), np.nan)
    if width >= 2 and out["has_proba"].any():
        flat = pc.list_flatten(proba.filter(pa.array(out["has_proba"]))).to_numpy(zero_copy_only=False)
        matrix[out["has_proba"]] = flat.astype(float).reshape(-1, width)
    out["proba"] = matrix
    return out


def _reference_rows(backend: Backend, endpoint: str, reference: tuple[datetime, datetime] | None, mode: str,
                    version: int | None) -> dict[str, np.ndarray] | None:
    """The scored rows of the reference range (one bucket spanning it), or None without one."""
    if reference is None:
        return None
    since, until = _utc(reference[0], "reference start"), _utc(reference[1], "reference end")
    scope = {"since": since, "until": until, "version": version, "mode": mode}
    with backend.read() as session:
        parts = store.window_parts(session, endpoint, **scope)
        truth = store.window_feedback(session, endpoint, since=since)
    if not parts:
        return None
    with _Log(backend, endpoint, parts, width=int((until - since).total_seconds()) or 1, **scope) as log:
        return log.scored_rows(truth)


# -- figures --------------------------------------------------------------------------------------

class _Figures:
    """Turns scored rows into per-window figures: rows are mapped to window numbers (the order of
    ``keys``, the database's windows) and classes to column numbers once, for all windows together."""

    def __init__(self, keys: list[tuple[int, int]], task: str, classes: Sequence[Any] | None, positive_label: Any):
        self.keys, self.task, self.classes, self.positive_label = keys, task, classes, positive_label
        self.key_index = {key: i for i, key in enumerate(keys)}

    def groups_of(self, rows: dict[str, np.ndarray]) -> np.ndarray:
        """Each row's window number (-1: a window the database did not count, never expected)."""
        if not len(rows["bucket"]):
            return np.zeros(0, dtype=np.int64)
        width = max(v for _, v in self.keys) + 1
        lookup = {b * width + v: i for (b, v), i in self.key_index.items()}
        combined = rows["bucket"].astype(np.int64) * width + rows["version"].astype(np.int64)
        unique, inverse = np.unique(combined, return_inverse=True)
        return np.array([lookup.get(int(u), -1) for u in unique], dtype=np.int64)[inverse]  # a loop over windows

    def realised(self, rows: dict[str, np.ndarray]) -> dict[int, dict[str, Any]]:
        """window number -> {"rows": labelled rows, "metrics": {...}}."""
        groups = self.groups_of(rows)
        chosen = rows["labelled"].astype(bool) & (groups >= 0)
        if not chosen.any():
            return {}
        if self.task == "regression":
            return self._regression(rows, groups, chosen)
        return self._classification(rows, groups, chosen)

    def _regression(self, rows: dict[str, np.ndarray], groups: np.ndarray, chosen: np.ndarray) -> dict[int, dict[str, Any]]:
        chosen &= np.isfinite(rows["true_number"].astype(float)) & np.isfinite(rows["predicted_number"].astype(float))
        figures = estimation.regression_by_window(groups[chosen], len(self.keys), rows["true_number"][chosen].astype(float),
                                                  rows["predicted_number"][chosen].astype(float))
        return _by_window(figures, ("mae", "rmse", "r2"))

    def _classification(self, rows: dict[str, np.ndarray], groups: np.ndarray, chosen: np.ndarray) -> dict[int, dict[str, Any]]:
        """Label figures for every window; ROC AUC, log loss and calibration too for the windows
        whose answers all carry probabilities. Versions answering labels and versions answering
        probabilities may share a query (and a version both, in one window): a probability row's
        label is its most probable class."""
        true_labels = _labels(rows["true_number"], rows["true_text"])
        has_proba = rows["has_proba"].astype(bool)
        predicted_labels = _labels(rows["predicted_number"], rows["predicted_text"])
        proba_classes = (self._proba_classes(true_labels[chosen & has_proba], rows["proba"].shape[1])
                         if (chosen & has_proba).any() else None)
        if proba_classes is not None:
            most_probable = np.asarray(proba_classes, dtype=object)[rows["proba"].argmax(axis=1)]
            if predicted_labels.dtype.kind == "f" and all(isinstance(c, float) for c in proba_classes):
                most_probable = most_probable.astype(float)
            predicted_labels = np.where(has_proba, most_probable, predicted_labels)
        else:
            chosen &= ~has_proba  # probabilities whose classes cannot be named
        if self.classes is not None:
            classes = list(self.classes)
        elif proba_classes is not None:
            classes = proba_classes
        else:
            classes = _sorted_union(true_labels[chosen], predicted_labels[chosen])
        predicted, true = _index_of(predicted_labels, classes), _index_of(true_labels, classes)
        chosen &= (predicted >= 0) & (true >= 0)
        positive = self._positive(classes)
        names = ("accuracy", "precision", "recall", "specificity", "f1")
        found = _by_window(estimation.classification_by_window(
            groups[chosen], len(self.keys), true[chosen], predicted[chosen], len(classes), positive), names)
        without = np.bincount(groups[chosen & ~has_proba], minlength=len(self.keys))
        with_proba = chosen & has_proba & (without[np.maximum(groups, 0)] == 0)
        if with_proba.any() and rows["proba"].shape[1] == len(classes):
            found.update(_by_window(estimation.classification_by_window(
                groups[with_proba], len(self.keys), true[with_proba], predicted[with_proba], len(classes), positive,
                rows["proba"][with_proba]), names + ("roc_auc", "log_loss", "calibration_error")))
        return found

    def _proba_classes(self, true_labels: np.ndarray, width: int) -> list[Any] | None:
        if self.classes is not None:
            return list(self.classes) if len(self.classes) == width else None
        present = _sorted_union(true_labels, true_labels[:0])
        if all(isinstance(c, float) and c.is_integer() and 0 <= c < width for c in present):
            return [float(k) for k in range(width)]
        return present if len(present) == width else None

    def _positive(self, classes: list[Any]) -> int | None:
        if len(classes) != 2:
            return None
        if self.positive_label is None:
            return 1
        wanted = _label_key(self.positive_label)
        return classes.index(wanted) if wanted in classes else 1

    def estimated(self, rows: dict[str, np.ndarray], reference: dict[str, np.ndarray] | None) -> dict[int, dict[str, Any]]:
        """window number -> {"rows", "metrics", "basis"}: CBPE from the probabilities of every row."""
        if self.task != "classification":
            return {}
        groups = self.groups_of(rows)
        chosen = rows["has_proba"] & (groups >= 0)
        if not chosen.any():
            return {}
        proba, groups = rows["proba"][chosen], groups[chosen]
        width = proba.shape[1]
        positive = self._positive(list(self.classes) if self.classes is not None else list(range(width)))
        calibrations, bases = self._calibrations(rows, reference, width)
        versions = np.array([v for _, v in self.keys])[groups]
        result: dict[int, dict[str, Any]] = {}
        for version in np.unique(versions):  # a loop over versions: each has its own calibration
            mine = versions == version
            calibration = calibrations.get(int(version))
            figures = estimation.cbpe(proba[mine], groups=groups[mine], n_groups=len(self.keys), positive=positive,
                                      calibration=calibration)
            for index, entry in _by_window(figures, ("accuracy", "precision", "recall", "specificity", "f1",
                                                     "roc_auc")).items():
                result[index] = {**entry, "basis": bases.get(int(version), "assumed calibrated: no labelled "
                                                             "reference with probabilities")}
        return result

    def _calibrations(self, rows: dict[str, np.ndarray], reference: dict[str, np.ndarray] | None,
                      width: int) -> tuple[dict[int, estimation.Calibration], dict[int, str]]:
        """Per version: isotonic maps fitted on the reference range, or else on its first window with
        at least MIN_REFERENCE_ROWS labelled rows holding every class."""
        calibrations: dict[int, estimation.Calibration] = {}
        bases: dict[int, str] = {}
        source = reference if reference is not None else rows
        labelled = source["labelled"].astype(bool) & source["has_proba"]
        if not labelled.any() or source["proba"].shape[1] != width:
            return calibrations, bases
        true_labels = _labels(source["true_number"], source["true_text"])
        classes = self._proba_classes(true_labels[labelled], width)
        if classes is None:
            return calibrations, bases
        true = _index_of(true_labels, classes)
        versions = source["version"].astype(np.int64)
        for version in np.unique(versions[labelled]):
            mine = labelled & (versions == version) & (true >= 0)
            if reference is None:  # the first window of this version with enough labels
                mine &= self._first_reference_window(source["bucket"], mine, true, width)
            if mine.sum() < MIN_REFERENCE_ROWS or len(np.unique(true[mine])) < width:
                continue
            calibrations[int(version)] = estimation.fit_calibration(source["proba"][mine], true[mine])
            start = datetime.fromtimestamp(int(source["bucket"][mine].min()), UTC)
            where = "the reference range" if reference is not None else f"the window from {start.isoformat()}"
            bases[int(version)] = f"isotonic calibration on {int(mine.sum())} labelled rows of {where}"
        return calibrations, bases

    @staticmethod
    def _first_reference_window(buckets: np.ndarray, mine: np.ndarray, true: np.ndarray, width: int) -> np.ndarray:
        for bucket in np.unique(buckets[mine]):  # a loop over windows
            inside = mine & (buckets == bucket)
            if inside.sum() >= MIN_REFERENCE_ROWS and len(np.unique(true[inside])) == width:
                return buckets == bucket
        return np.zeros(len(buckets), dtype=bool)


def _by_window(figures: dict[str, np.ndarray], names: tuple[str, ...]) -> dict[int, dict[str, Any]]:
    counts = figures["rows"]
    return {int(i): {"rows": int(counts[i]),
                     "metrics": {n: (float(figures[n][i]) if np.isfinite(figures[n][i]) else None) for n in names}}
            for i in np.flatnonzero(counts > 0)}


def _label_key(value: Any) -> Any:
    """Labels compare as numbers when they are numbers (1 == 1.0 == true), else as text."""
    if isinstance(value, (bool, int, float, np.integer, np.floating)):
        return float(value)
    return str(value)


def _labels(numbers: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """The labels of a column: floats (NaN where absent) when none is text, else objects
    (floats and strings, None where absent)."""
    numbers = numbers.astype(float)
    if not (texts != None).any():  # noqa: E711  elementwise on an object array
        return numbers
    return np.where(np.isfinite(numbers), numbers.astype(object), texts)


def _sorted_union(a: np.ndarray, b: np.ndarray) -> list[Any]:
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        values = np.unique(np.concatenate([a, b]))
        return [float(v) for v in values[np.isfinite(values)]]  # a loop over classes
    present = {x for x in set(a.tolist()) | set(b.tolist()) if x is not None and x == x}
    return sorted(present, key=lambda x: (isinstance(x, str), x))


def _index_of(labels: np.ndarray, classes: list[Any]) -> np.ndarray:
    """Each label's position in ``classes``; -1 for a label outside them (or none)."""
    keys = [_label_key(c) for c in classes]
    if not keys:
        return np.full(len(labels), -1, dtype=np.int64)
    if labels.dtype.kind == "f" and all(isinstance(k, float) for k in keys):
        ordered = np.argsort(keys)
        sorted_keys = np.asarray(keys, dtype=float)[ordered]
        at = np.clip(np.searchsorted(sorted_keys, labels), 0, len(keys) - 1)
        return np.where(sorted_keys[at] == labels, ordered[at], -1).astype(np.int64)
    by_text = {str(k): i for i, k in enumerate(keys)}
    if not len(labels):
        return np.zeros(0, np.int64)
    unique, inverse = np.unique(labels.astype(str), return_inverse=True)
    return np.array([by_text.get(u, -1) for u in unique], dtype=np.int64)[inverse]  # a loop over distinct labels


def _policy_task(backend: Backend, model_name: str) -> tuple[str, Any]:
    from modelward.services.policies import effective_policy

    policy = effective_policy(backend, model_name)
    return policy.task.value, policy.positive_label


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise InvalidInput(f"{name} must be a date and time, got {moment!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _window(index: int, count: dict[str, Any], width: int | None, since: datetime, until: datetime, task: str,
            latency: dict[tuple[int, int], list[float]], error_classes: dict[tuple[int, int], dict[str, int]],
            quality: dict[int, dict[str, Any]], estimated: dict[int, dict[str, Any]], mode: str) -> Window:
    key = (count["bucket"], count["version"])
    start = datetime.fromtimestamp(count["bucket"], UTC)
    end = until if width is None else start + timedelta(seconds=width)
    seconds = (min(end, until) - max(start, since)).total_seconds()
    requests, errors = count["requests"], count["errors_4xx"] + count["errors_5xx"]
    p50, p95, p99 = latency.get(key, [None, None, None])
    realised, guessed = quality.get(index, {}), estimated.get(index, {})
    return Window(start=start, end=end, version=count["version"], mode=mode, requests=requests, rows=count["rows"],
                  errors={"4xx": count["errors_4xx"], "5xx": count["errors_5xx"]},
                  error_classes=error_classes.get(key, {}), error_rate=errors / requests,
                  server_error_rate=count["errors_5xx"] / requests, seconds=seconds,
                  requests_per_s=requests / seconds, rows_per_s=count["rows"] / seconds,
                  latency_p50_ms=p50, latency_p95_ms=p95, latency_p99_ms=p99, task=task,
                  labelled_rows=realised.get("rows", 0), quality=realised.get("metrics", {}),
                  estimated_rows=guessed.get("rows", 0), estimated=guessed.get("metrics", {}),
                  estimation_basis=guessed.get("basis"))
