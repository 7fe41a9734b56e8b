"""Request and response bodies of the serving gateway: bytes in, a frame for the model; predictions
in, bytes out. No server here; the gateway's route calls ``parse_request`` and ``render_predictions``.

Accepted bodies (JSON unless the content type is ``text/csv``)::

    [{"a": 1, "b": 2}, ...]                      records
    {"a": 1, "b": 2}                             record (one row)
    {"a": [1, 3], "b": [2, 4]}                   columnar
    {"dataframe_split": {"columns": [...], "data": [[...]], "index": [...]}}
    {"dataframe_records": [{...}, ...]}
    {"instances": ...} / {"inputs": ...}         records, columns, or a list of rows / a tensor
    a,b\\n1,2\\n                                   csv

MLflow's scoring protocol (the last four JSON forms) takes an optional ``"params"`` object beside
its one key; ``"params"`` is reserved at the top level of the other JSON forms too.

With a signature the frame holds exactly the signature's columns in its order: extra columns are
dropped (as MLflow's scoring server does), integers given for a floating column are cast, a float
without a fraction is accepted for an integer column. A null (or a key missing from a record) is
accepted only in a column whose spec is ``nullable`` (MLflow's ``required: false``); there a missing
column is a column of nulls, and an integer or boolean column holding nulls is an object column of
Python values and ``None``. Datetimes are ISO 8601 strings, read as naive UTC; binary values are
base64 strings. Every problem is an ``InvalidInput`` (``PayloadTooLarge`` over the row limit,
``UnsupportedMediaType`` for a content type we do not read) naming the column, the row and the value.

The common case (rows of plain numbers for a signature of double or float columns) is built as one
2-D numpy array and one DataFrame, without a Python pass per column.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
import pandas as pd

from modelward.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from modelward.formats.signature import ColumnSpec, Signature

FORMATS = ("records", "record", "columnar", "dataframe_split", "dataframe_records", "instances", "inputs", "csv")
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CONTENT_TYPES = ("application/json", "text/csv")


@dataclass(slots=True)
class ScoringInput:
    """A parsed request: ``frame`` is what the model gets (a DataFrame, or an ndarray for a tensor)."""

    frame: Any
    rows: int
    format: str
    params: dict[str, Any] | None = None


@dataclass(slots=True)
class _Table:
    """The request's data before it meets the signature, in one of five shapes (``kind``):
    records (list of dicts), rows (list of lists, ``names`` their columns or None = positional),
    columns (dict of equal-length lists), array (a nested list / tensor), frame (CSV)."""

    kind: str
    data: Any
    rows: int
    names: list[str] | None = None


class _Missing:
    """A key absent from one record (told apart from an explicit null for the error message)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()
_NUMBER = frozenset({int, float})
_NULLS = frozenset({type(None), _Missing})
_FLOAT_TYPES = {"double": np.float64, "float": np.float32}
_INT_RANGES = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
_INT_TYPES = {"long": np.int64, "integer": np.int32}
_MAX_TENSOR_DIMS = 32
_ROW = re.compile(r"\brow (\d+)")


def parse_request(
    body: bytes, content_type: str | None, signature: Signature | None, *, max_rows: int = 10_000
) -> ScoringInput:
    """The request ``body`` read and checked against ``signature``; InvalidInput (or a subclass) otherwise."""
    if _media_type(content_type) == "text/csv":
        table, fmt, params = _csv_table(body, signature), "csv", None
    else:
        table, fmt, params = _json_table(body)
    _check_rows(table.rows, max_rows)
    return ScoringInput(frame=_build(table, signature, fmt, body), rows=table.rows, format=fmt, params=params)


def render_predictions(values: Any, *, probabilities: bool = False) -> bytes:
    """MLflow's response body ``{"predictions": [...]}``; NaN and infinities become null.

    A DataFrame becomes a list of records, a Series a list (its index is dropped). With
    ``probabilities`` an array (or each array of a list, for multi-output models) is rendered as
    rows of floats, one row per input row.
    """
    if probabilities:
        values = _as_probabilities(values)
    return orjson.dumps(
        {"predictions": _jsonable(values)},
        default=_default,
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
    )


# -- reading the body ------------------------------------------------------------------------------


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return "application/json"
    mime, *parameters = (part.strip() for part in content_type.split(";"))
    mime = mime.lower()
    if mime not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"content type '{mime}' is not supported: send application/json or text/csv"
        )
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        key, value = key.strip().lower(), value.strip().strip('"').lower()
        if key != "charset":
            raise UnsupportedMediaType(
                f"content type parameter '{key}' is not supported: name the format in the body "
                f"(one of {', '.join(MLFLOW_KEYS)})"
            )
        if value not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(f"charset '{value}' is not supported: send UTF-8")
    return mime


def _check_rows(rows: int, max_rows: int) -> None:
    if rows == 0:
        raise InvalidInput("empty input: no rows")
    if rows > max_rows:
        raise PayloadTooLarge(f"request has {rows} rows, the limit is {max_rows}")


def _json_table(body: bytes) -> tuple[_Table, str, dict[str, Any] | None]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}") from None
    if isinstance(document, list):
        return _records_table("records", document), "records", None
    if not isinstance(document, dict):
        raise InvalidInput(f"the body must be a JSON object or array, got {_json_type(document)}")
    params = _params(document.get("params"))
    keys = [key for key in document if key in MLFLOW_KEYS]
    if len(keys) > 1:
        raise InvalidInput(
            f"the body holds {' and '.join(repr(k) for k in keys)}: send exactly one of {', '.join(MLFLOW_KEYS)}"
        )
    if not keys:
        columns = {k: v for k, v in document.items() if k != "params"} if "params" in document else document
        table, fmt = _dict_table(columns)
        return table, fmt, params
    fmt = keys[0]
    unknown = [key for key in document if key not in (fmt, "params")]
    if unknown:
        raise InvalidInput(
            f"unknown top-level key(s) {', '.join(repr(k) for k in unknown)} beside '{fmt}': "
            "only 'params' may accompany it"
        )
    return _mlflow_table(fmt, document[fmt]), fmt, params


def _params(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise InvalidInput(f"params must be a JSON object of name: value, got {_json_type(value)}")


def _mlflow_table(fmt: str, payload: Any) -> _Table:
    if fmt == "dataframe_records":
        return _records_table(fmt, payload)
    if fmt == "dataframe_split":
        return _split_table(payload)
    # instances / inputs: records, a dict of columns (or one record), or rows / a tensor
    if isinstance(payload, dict):
        return _dict_table(payload)[0]
    if isinstance(payload, list) and payload and all(type(item) is dict for item in payload):
        return _records_table(fmt, payload)
    if isinstance(payload, list) and any(type(item) is dict for item in payload):
        raise InvalidInput(f"{fmt}: a list must hold either records (objects) or rows, not both")
    rows = payload if isinstance(payload, list) else [payload]  # a single value is one row, never a 0-d array
    return _Table("array", rows, len(rows))


def _records_table(fmt: str, payload: Any) -> _Table:
    if not isinstance(payload, list):
        raise InvalidInput(f"{fmt}: expected a JSON array of records, got {_json_type(payload)}")
    for row, record in enumerate(payload):
        if type(record) is not dict:
            hint = " (send rows or a tensor as {\"inputs\": [...]})" if fmt == "records" else ""
            raise InvalidInput(f"{fmt}: item {row} is {_json_type(record)}, expected an object (one record){hint}")
    return _Table("records", payload, len(payload))


def _dict_table(columns: dict[str, Any]) -> tuple[_Table, str]:
    """A dict of equal-length lists (columnar) or of single values (one record)."""
    listed = [name for name, values in columns.items() if type(values) is list]
    if not listed:
        return _Table("records", [columns], 1 if columns else 0), "record"
    if len(listed) < len(columns):
        single = next(name for name in columns if name not in listed)
        raise InvalidInput(
            f"columnar input: column '{single}' holds a single value, column '{listed[0]}' a list: send every "
            "column as a list (columnar) or every column as one value (one record)"
        )
    first = listed[0]
    for name in listed[1:]:
        if len(columns[name]) != len(columns[first]):
            raise InvalidInput(
                f"columnar input: column '{name}' has {len(columns[name])} values, column '{first}' has {len(columns[first])}"
            )
    return _Table("columns", columns, len(columns[first])), "columnar"


def _split_table(payload: Any) -> _Table:
    if not isinstance(payload, dict):
        raise InvalidInput(f"dataframe_split: expected an object with 'columns' and 'data', got {_json_type(payload)}")
    unknown = [key for key in payload if key not in ("columns", "data", "index")]
    if unknown:
        raise InvalidInput(
            f"dataframe_split: unknown key(s) {', '.join(repr(k) for k in unknown)}; it takes 'columns', 'data' and 'index'"
        )
    if "data" not in payload:
        raise InvalidInput("dataframe_split: 'data' is missing")
    data, names = payload["data"], _split_columns(payload.get("columns"))
    if not isinstance(data, list):
        raise InvalidInput(f"dataframe_split: 'data' must be a list of rows, got {_json_type(data)}")
    if names is not None and len(names) == 1 and not any(type(row) is list for row in data):
        data = [[value] for value in data]  # one column may be sent as a flat list
    _check_row_widths("dataframe_split", data, len(names) if names is not None else None, "there are {} columns")
    index = payload.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        size = f"{len(index)} values" if isinstance(index, list) else _json_type(index)
        raise InvalidInput(f"dataframe_split: 'index' has {size}, 'data' has {len(data)} rows")
    return _Table("rows", data, len(data), names)


def _split_columns(columns: Any) -> list[str] | None:
    if columns is None:
        return None
    if not isinstance(columns, list):
        raise InvalidInput(f"dataframe_split: 'columns' must be a list of names, got {_json_type(columns)}")
    names: list[str] = []
    for position, name in enumerate(columns):
        if type(name) not in (str, int):
            raise InvalidInput(f"dataframe_split: column name {position} is {_json_type(name)}, expected a string")
        names.append(str(name))
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise InvalidInput(f"dataframe_split: column '{twice}' appears more than once")
    return names


def _check_row_widths(fmt: str, data: list[Any], width: int | None, expected: str) -> None:
    """Every row a list of ``width`` values (of the first row's width when ``width`` is None)."""
    for row, values in enumerate(data):
        if type(values) is not list:
            raise InvalidInput(f"{fmt}: row {row} is {_json_type(values)}, expected a list of values")
        if width is None:
            width = len(values)
        if len(values) != width:
            raise InvalidInput(f"{fmt}: row {row} has {len(values)} values, {expected.format(width)}")


def _csv_table(body: bytes, signature: Signature | None) -> _Table:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"body is not valid UTF-8 text: {exc}") from None
    if not text.strip():
        raise InvalidInput("empty input: no rows")
    textual = {}
    if signature is not None and signature.input_kind != "ndarray":
        textual = {spec.name: str for spec in signature.inputs if spec.type in ("string", "binary", "datetime")}
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=textual or None)
    except pd.errors.EmptyDataError:
        raise InvalidInput("empty input: no rows") from None
    except Exception as exc:  # the parser's many error types, on untrusted bytes
        raise InvalidInput(f"body is not valid CSV: {exc}") from None
    return _Table("frame", frame, len(frame))


# -- building the model's input ----------------------------------------------------------------------


def _build(table: _Table, signature: Signature | None, fmt: str, body: bytes) -> Any:
    if signature is None:
        return _unchecked(table, fmt)
    if signature.input_kind == "ndarray":
        return _tensor(table, signature.inputs[0], fmt, body)
    return _frame(table, signature.inputs, fmt)


def _unchecked(table: _Table, fmt: str) -> Any:
    """No signature: the data as pandas or numpy reads it."""
    try:
        if table.kind == "frame":
            return table.data
        if table.kind == "array":
            return np.asarray(table.data)
        if table.kind == "rows":
            return pd.DataFrame(table.data, columns=table.names)
        return pd.DataFrame(table.data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"{fmt}: cannot read the data as a table or array: {exc}") from None


def _frame(table: _Table, specs: list[ColumnSpec], fmt: str) -> pd.DataFrame:
    names = [spec.name for spec in specs]
    fast = _numeric_frame(table, specs, names)
    if fast is not None:
        return fast
    values = _values_by_column(table, names, fmt)
    absent = [spec.name for spec in specs if values[spec.name] is None and not spec.nullable]
    if absent:
        plural = "s" if len(absent) > 1 else ""
        raise InvalidInput(
            f"missing column{plural} {', '.join(repr(n) for n in absent)} required by the model's signature"
        )
    typed = {
        spec.name: _convert(spec, values[spec.name] or [None] * table.rows, f"column '{spec.name}'")
        for spec in specs
    }
    return pd.DataFrame(typed, index=pd.RangeIndex(table.rows), columns=_column_index(tuple(names)))


@lru_cache(maxsize=512)
def _shared_column_index(names: tuple[str, ...]) -> pd.Index:
    # object dtype: scikit-learn's feature-name check converts pandas 3's string Index on every call.
    return pd.Index(names, dtype=object)


def _column_index(names: tuple[str, ...]) -> pd.Index:
    """The columns' Index, built once per signature: building one from a list of strings costs
    more than the rest of a one-row request. A view, so a model renaming it changes only its own."""
    return _shared_column_index(names).view()


def _numeric_frame(table: _Table, specs: list[ColumnSpec], names: list[str]) -> pd.DataFrame | None:
    """The hot path: rows of plain numbers for all-double (or all-float) columns, as one 2-D array.
    None when the data is anything else; the general path then builds it or names the problem."""
    dtype = _FLOAT_TYPES.get(specs[0].type) if specs else None
    if dtype is None or any(spec.type != specs[0].type for spec in specs):
        return None
    try:
        if table.kind == "records":
            rows = [[record[name] for name in names] for record in table.data]
        elif table.kind in ("rows", "array") and (table.names is None or table.names == names):
            rows = table.data
        elif table.kind == "columns":
            rows = [table.data[name] for name in names]  # column-major, transposed below
        elif table.kind == "frame":
            return _numeric_csv_frame(table.data, names, dtype, all(spec.nullable for spec in specs))
        else:
            return None
        if not {type(value) for row in rows for value in row} <= _NUMBER:
            return None
        with np.errstate(over="ignore"):  # a float32 overflow is found below and named by the general path
            array = np.array(rows, dtype=dtype)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if table.kind == "columns":
        array = array.T
    if array.shape != (table.rows, len(names)) or (dtype is np.float32 and not np.isfinite(array).all()):
        return None
    return pd.DataFrame(array, columns=_column_index(tuple(names)))


def _numeric_csv_frame(frame: pd.DataFrame, names: list[str], dtype: Any, nullable: bool) -> pd.DataFrame | None:
    given = frame.columns.tolist()  # iterating pandas' string Index itself is slow
    kinds = dict(zip(given, (dtype.kind for dtype in frame.dtypes.tolist()), strict=True))
    if any(kinds.get(name, "O") not in "iuf" for name in names):
        return None
    if given != names:
        frame = frame.iloc[:, [given.index(name) for name in names]]
    with np.errstate(over="ignore"):
        array = frame.to_numpy(dtype=dtype)
    if (not nullable and np.isnan(array).any()) or (dtype is np.float32 and np.isinf(array).any()):
        return None  # an empty cell in a column that is not nullable, or an overflow: named by the general path
    return pd.DataFrame(array, columns=_column_index(tuple(names)))


def _values_by_column(table: _Table, names: list[str], fmt: str) -> dict[str, list[Any] | None]:
    """Each signature column's values as a list (None: the column is absent)."""
    data = table.data
    if table.kind == "records":
        found: dict[str, list[Any] | None] = {}
        for name in names:
            values = [record.get(name, _MISSING) for record in data]
            found[name] = None if all(v is _MISSING for v in values) else values
        return found
    if table.kind == "columns":
        return {name: data.get(name) for name in names}
    if table.kind == "frame":
        return {name: data[name].tolist() if name in data.columns else None for name in names}
    if table.kind == "array":  # instances/inputs as rows (or one column's values) for a frame signature
        data = _positional_rows(data, names, fmt)
    position = {name: j for j, name in enumerate(names if table.names is None else table.names)}
    if table.names is None:
        _check_row_widths(fmt, data, len(names), f"the model's signature has {{}} columns ({', '.join(names)})")
    return {name: [row[position[name]] for row in data] if name in position else None for name in names}


def _positional_rows(data: list[Any], names: list[str], fmt: str) -> list[list[Any]]:
    if any(type(row) is list for row in data):
        return data  # rows; _check_row_widths names a row that is not one
    if len(names) == 1:
        return [[value] for value in data]
    raise InvalidInput(
        f"{fmt}: a list of single values fits a one-column signature; this one has {len(names)} columns "
        f"({', '.join(names)}): send rows (lists), records or columns"
    )


# -- one column's values, checked and typed ------------------------------------------------------------


def _convert(spec: ColumnSpec, values: list[Any], label: str) -> Any:
    types = set(map(type, values))
    if spec.type in _FLOAT_TYPES:
        return _floats(spec, values, label, types)
    if spec.type in _INT_TYPES:
        return _integers(spec, values, label, types)
    if spec.type == "boolean":
        if types == {bool}:
            return np.array(values, dtype=bool)
        return np.array(_checked(spec, values, label, {bool}), dtype=object)
    if spec.type == "binary":
        return np.array([_binary(v, label, row) for row, v in enumerate(_checked(spec, values, label, {str, bytes}))],
                        dtype=object)
    if spec.type == "datetime":
        return _datetimes(spec, values, label, types)
    # string, and any type name we do not know: keep text as text
    return values if types == {str} else _checked(spec, values, label, {str})


def _checked(spec: ColumnSpec, values: list[Any], label: str, accepted: set[type] | frozenset[type]) -> list[Any]:
    """``values`` with every null as None; InvalidInput at the first value of another type or a
    null in a column that is not nullable."""
    out = []
    for row, value in enumerate(values):
        if _is_null(value):
            if not spec.nullable:
                raise _null_error(label, row, value)
            out.append(None)
        elif type(value) in accepted:
            out.append(value)
        else:
            raise InvalidInput(f"{label}: expected {spec.type}, got {_shown(value)} (row {row})")
    return out


def _is_null(value: Any) -> bool:
    return value is None or value is _MISSING or (type(value) is float and value != value)


def _null_error(label: str, row: int, value: Any) -> InvalidInput:
    if value is _MISSING:
        return InvalidInput(f"{label} is missing in row {row} and is not optional")
    return InvalidInput(f"{label} holds null in row {row} and is not optional")


def _floats(spec: ColumnSpec, values: list[Any], label: str, types: set[type]) -> np.ndarray:
    if not types <= _NUMBER:
        values = [np.nan if v is None else v for v in _checked(spec, values, label, _NUMBER)]
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:
        row = next(i for i, v in enumerate(values) if type(v) is int and abs(v) > 1e308)
        raise InvalidInput(f"{label}: {values[row]} is out of range for {spec.type} (row {row})") from None
    if not spec.nullable:
        nulls = np.isnan(array)
        if nulls.any():
            raise _null_error(label, int(nulls.argmax()), None)
    if spec.type == "float":
        with np.errstate(over="ignore"):
            narrowed = array.astype(np.float32)
        overflow = np.isinf(narrowed) & ~np.isinf(array)
        if overflow.any():
            row = int(overflow.argmax())
            raise InvalidInput(f"{label}: {values[row]!r} is out of range for float (row {row})")
        return narrowed
    return array


def _integers(spec: ColumnSpec, values: list[Any], label: str, types: set[type]) -> np.ndarray:
    low, high = _INT_RANGES[spec.type]
    if types == {int}:
        try:
            array = np.array(values, dtype=np.int64)
            if spec.type == "long" or (array.min() >= low and array.max() <= high):
                return array.astype(_INT_TYPES[spec.type], copy=False)
        except OverflowError:
            pass  # the loop below names the value
    out: list[Any] = []
    for row, value in enumerate(_checked(spec, values, label, _NUMBER)):
        if type(value) is float:
            if not value.is_integer():
                raise InvalidInput(f"{label}: expected {spec.type}, got {_shown(value)} (row {row})")
            value = int(value)
        if value is not None and not low <= value <= high:
            raise InvalidInput(f"{label}: {value} is out of range for {spec.type} (row {row})")
        out.append(value)
    if any(value is None for value in out):
        return np.array(out, dtype=object)
    return np.array(out, dtype=_INT_TYPES[spec.type])


def _binary(value: Any, label: str, row: int) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{label}: expected binary as base64, got {_shown(value)} (row {row})") from None


def _datetimes(spec: ColumnSpec, values: list[Any], label: str, types: set[type]) -> np.ndarray:
    texts = values if types == {str} else _checked(spec, values, label, {str})
    try:
        parsed = pd.to_datetime(pd.Series(texts, dtype=object), format="ISO8601", utc=True, errors="coerce")
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"{label}: cannot read the values as ISO 8601 datetimes: {exc}") from None
    unreadable = parsed.isna().to_numpy() & np.array([text is not None for text in texts], dtype=bool)
    if unreadable.any():
        row = int(unreadable.argmax())
        raise InvalidInput(f"{label}: expected datetime (ISO 8601), got {_shown(texts[row])} (row {row})")
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.to_numpy().astype("datetime64[us]")  # one resolution, whatever pandas inferred


# -- tensors -----------------------------------------------------------------------------------------


def _tensor(table: _Table, spec: ColumnSpec, fmt: str, body: bytes) -> np.ndarray:
    raw = _tensor_data(table, spec, fmt)
    label = f"input '{spec.name}'"
    array = _plain_numeric_tensor(raw, spec, body)
    if array is None:
        flat, shape = _flatten(raw, label)
        per_row = max(int(np.prod(shape[1:])), 1) if len(shape) > 1 else 1
        try:
            converted = _convert(spec, flat, label)
        except InvalidInput as exc:  # name the tensor's row, not the position in the flat list
            message = _ROW.sub(lambda m: f"row {int(m.group(1)) // per_row}", str(exc), count=1)
            raise InvalidInput(message) from None
        array = np.asarray(converted).reshape(shape)
    expected = spec.shape or []
    if spec.shape is not None and (
        len(expected) != array.ndim or any(e not in (-1, a) for e, a in zip(expected, array.shape, strict=False))
    ):
        raise InvalidInput(
            f"{label} has shape {list(array.shape)}, but the model's signature expects {expected} (-1 = any size)"
        )
    return array


def _tensor_data(table: _Table, spec: ColumnSpec, fmt: str) -> Any:
    if table.kind in ("array", "rows"):
        return table.data
    if table.kind == "columns" and list(table.data) == [spec.name]:
        return table.data[spec.name]
    frame = _unchecked(table, fmt)
    return frame.to_numpy().tolist()


def _plain_numeric_tensor(raw: Any, spec: ColumnSpec, body: bytes) -> np.ndarray | None:
    """numpy's reading of ``raw`` when it is plainly numbers for a numeric spec, else None.
    numpy would read a JSON ``true`` as 1, so a body holding a boolean literal takes the checked path."""
    dtype = _FLOAT_TYPES.get(spec.type) or _INT_TYPES.get(spec.type)
    if dtype is None or b"true" in body or b"false" in body:
        return None
    try:
        array = np.asarray(raw)
    except (ValueError, TypeError, OverflowError):
        return None
    if array.dtype.kind == "f" and spec.type in _FLOAT_TYPES:
        with np.errstate(over="ignore"):
            typed = array.astype(dtype, copy=False)
        return typed if np.isfinite(typed).all() else None  # an overflow is named by the checked path
    if array.dtype.kind == "i" and (spec.type in _FLOAT_TYPES or spec.type == "long"):
        return array.astype(dtype, copy=False)
    return None


def _flatten(raw: Any, label: str) -> tuple[list[Any], tuple[int, ...]]:
    """The values of a regular nested list, flat, and its shape; InvalidInput if it is ragged."""
    shape: list[int] = []
    level = raw
    while type(level) is list:
        shape.append(len(level))
        if len(shape) > _MAX_TENSOR_DIMS:
            raise InvalidInput(f"{label} has more than {_MAX_TENSOR_DIMS} dimensions")
        level = level[0] if level else None
    flat: list[Any] = []

    def walk(node: Any, depth: int, row: int) -> None:
        if depth == len(shape):
            if type(node) is list:
                raise InvalidInput(f"{label}: not a regular n-dimensional array (row {row} is nested deeper)")
            flat.append(node)
            return
        if type(node) is not list or len(node) != shape[depth]:
            raise InvalidInput(f"{label}: not a regular n-dimensional array (row {row} has another shape)")
        for position, child in enumerate(node):
            walk(child, depth + 1, position if depth == 0 else row)

    walk(raw, 0, 0)
    return flat, tuple(shape)


# -- error-message helpers -----------------------------------------------------------------------------

_JSON_TYPES = {str: "string", bool: "boolean", int: "long", float: "double", list: "array", dict: "object",
               type(None): "null"}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _shown(value: Any, limit: int = 40) -> str:
    """``value`` for an error message: its JSON type and a short rendering."""
    if isinstance(value, str):
        text = repr(value if len(value) <= limit else value[:limit] + "...")
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, dict)):
        try:
            text = orjson.dumps(value).decode()
        except orjson.JSONEncodeError:
            text = "[...]" if isinstance(value, list) else "{...}"
        text = text if len(text) <= limit else text[:limit] + "..."
    else:
        text = repr(value)
    return f"{_json_type(value)} {text}"


# -- rendering predictions -------------------------------------------------------------------------------


def _jsonable(values: Any) -> Any:
    if isinstance(values, pd.DataFrame):
        return values.to_dict(orient="records")
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy()
    if isinstance(values, np.ndarray) and values.dtype.kind in "Mm":
        return _datetime_list(values)
    if isinstance(values, (list, tuple)):
        return [_jsonable(item) if isinstance(item, (np.ndarray, pd.Series, pd.DataFrame)) else item for item in values]
    return values


def _as_probabilities(values: Any) -> Any:
    if isinstance(values, (list, tuple)) and values and all(isinstance(v, np.ndarray) for v in values):
        return [_as_probabilities(v) for v in values]
    if isinstance(values, (np.ndarray, list, tuple)):
        try:
            return np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            return values
    return values


def _datetime_list(values: np.ndarray) -> list[Any]:
    # orjson writes numpy's NaT as a date in 1677, so datetimes are converted here
    text = np.datetime_as_string(values) if values.dtype.kind == "M" else values.astype(str)
    return np.where(np.isnat(values), None, text).tolist()


def _default(value: Any) -> Any:
    """What orjson cannot write itself."""
    if isinstance(value, np.ndarray):
        return _datetime_list(value) if value.dtype.kind in "Mm" else value.tolist()
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return None if np.isnat(value) else str(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Series, pd.Index)):
        return _jsonable(value)
    if isinstance(value, pd.DataFrame):
        return value.to_dict(orient="records")
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return list(value)
    try:
        return float(value)  # Decimal, Fraction and other numbers
    except (TypeError, ValueError):
        raise TypeError(f"cannot render a prediction of type {type(value).__name__} as JSON") from None


__all__ = ["CONTENT_TYPES", "FORMATS", "MLFLOW_KEYS", "ScoringInput", "parse_request", "render_predictions"]
