"""The gateway's codec: request bodies in every accepted format, MLflow's own client bodies, the
error messages, and property tests that nothing but InvalidInput ever escapes."""

from __future__ import annotations

import base64
import datetime
import functools
import json
import warnings

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelward.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from modelward.formats.scoring import FORMATS, ScoringInput, parse_request, render_predictions
from modelward.formats.signature import Signature, enforce

IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS = Signature.from_dict({"inputs": [{"name": name, "type": "double"} for name in IRIS_COLUMNS]})
MIXED = Signature.from_dict({"inputs": [
    {"name": "x", "type": "double"},
    {"name": "n", "type": "long"},
    {"name": "s", "type": "string"},
    {"name": "flag", "type": "boolean"},
    {"name": "small", "type": "integer"},
    {"name": "f", "type": "float"},
    {"name": "when", "type": "datetime"},
    {"name": "blob", "type": "binary"},
    {"name": "maybe", "type": "long", "nullable": True},
]})
TENSOR = Signature.from_dict({"input_kind": "ndarray", "inputs": [{"name": "input", "type": "float", "shape": [-1, 2]}]})
SIGNATURES = {"iris": IRIS, "mixed": MIXED, "tensor": TENSOR, "none": None}

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7, 3, 6, 2]]
IRIS_FRAME = pd.DataFrame(np.array(IRIS_ROWS, dtype=np.float64), columns=IRIS_COLUMNS)

# The codec's column Index has object dtype on purpose (scikit-learn converts a string Index on
# every predict); compare the values, not the Index's dtype.
assert_frame = functools.partial(pd.testing.assert_frame_equal, check_column_type=False)


def parse(body: object, signature: Signature | None = IRIS, content_type: str | None = "application/json",
          **kwargs: object) -> ScoringInput:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse_request(raw, content_type, signature, **kwargs)


def error_of(body: object, signature: Signature | None = IRIS, content_type: str | None = "application/json",
             **kwargs: object) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse(body, signature, content_type, **kwargs)
    return str(caught.value)


def iris_bodies(rows: list[list[float]]) -> dict[str, tuple[bytes, str]]:
    """The same rows in every format the gateway takes."""
    records = [dict(zip(IRIS_COLUMNS, row, strict=True)) for row in rows]
    columns = {name: [row[j] for row in rows] for j, name in enumerate(IRIS_COLUMNS)}
    csv = ",".join(IRIS_COLUMNS) + "\n" + "\n".join(",".join(map(str, row)) for row in rows) + "\n"
    json_bodies = {
        "records": records,
        "columnar": columns,
        "dataframe_split": {"dataframe_split": {"columns": IRIS_COLUMNS, "data": rows}},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs": {"inputs": rows},
    }
    bodies = {name: (orjson.dumps(body), "application/json") for name, body in json_bodies.items()}
    bodies["csv"] = (csv.encode(), "text/csv")
    return bodies


# -- every format, the same frame -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["records", "columnar", "dataframe_split", "dataframe_records", "instances",
                                 "inputs", "csv"])
def test_every_format_gives_the_same_frame(fmt: str) -> None:
    body, content_type = iris_bodies(IRIS_ROWS)[fmt]
    parsed = parse_request(body, content_type, IRIS)
    assert parsed.format == fmt
    assert parsed.rows == 3
    assert parsed.params is None
    assert_frame(parsed.frame, IRIS_FRAME)


def test_a_single_record_is_one_row() -> None:
    parsed = parse(dict(zip(IRIS_COLUMNS, IRIS_ROWS[0], strict=True)))
    assert (parsed.format, parsed.rows) == ("record", 1)
    assert_frame(parsed.frame, IRIS_FRAME.iloc[:1])


def test_extra_columns_are_dropped_and_the_signature_order_kept() -> None:
    shuffled = ["petal_width", "extra", "sepal_length", "petal_length", "sepal_width"]
    data = [[row[3], "junk", row[0], row[2], row[1]] for row in IRIS_ROWS]
    split = parse({"dataframe_split": {"columns": shuffled, "data": data, "index": [7, 8, 9]}})
    records = parse([dict(zip(shuffled, row, strict=True)) for row in data])
    for parsed in (split, records):
        assert list(parsed.frame.columns) == IRIS_COLUMNS
        assert_frame(parsed.frame, IRIS_FRAME)


MIXED_RECORDS = [
    {"x": 1, "n": 2, "s": "a", "flag": True, "small": 3, "f": 0.5, "when": "2024-05-01T10:00:00Z",
     "blob": "aGk=", "maybe": None},
    {"x": 2.5, "n": 4.0, "s": "b", "flag": False, "small": -3, "f": 2, "when": "2024-05-02",
     "blob": "", "maybe": 7},
]


def mixed_expected() -> pd.DataFrame:
    return pd.DataFrame({
        "x": np.array([1.0, 2.5]),
        "n": np.array([2, 4], dtype=np.int64),
        "s": ["a", "b"],
        "flag": np.array([True, False]),
        "small": np.array([3, -3], dtype=np.int32),
        "f": np.array([0.5, 2.0], dtype=np.float32),
        "when": np.array(["2024-05-01T10:00:00", "2024-05-02T00:00:00"], dtype="datetime64[us]"),
        "blob": np.array([b"hi", b""], dtype=object),
        "maybe": np.array([None, 7], dtype=object),
    })


@pytest.mark.parametrize("fmt", ["records", "columnar", "dataframe_split", "dataframe_records", "instances",
                                 "inputs"])
def test_mixed_types_are_cast_the_same_way_in_every_format(fmt: str) -> None:
    names = list(MIXED_RECORDS[0])
    columns = {name: [record[name] for record in MIXED_RECORDS] for name in names}
    bodies = {
        "records": MIXED_RECORDS,
        "columnar": columns,
        "dataframe_split": {"dataframe_split": {"columns": names, "data": [list(r.values()) for r in MIXED_RECORDS]}},
        "dataframe_records": {"dataframe_records": MIXED_RECORDS},
        "instances": {"instances": MIXED_RECORDS},
        "inputs": {"inputs": columns},
    }
    parsed = parse(bodies[fmt], MIXED)
    assert_frame(parsed.frame, mixed_expected())


def test_mixed_types_from_csv() -> None:
    csv = ("x,n,s,flag,small,f,when,blob,maybe\n"
           "1,2,a,True,3,0.5,2024-05-01T10:00:00Z,aGk=,\n"
           "2.5,4,b,False,-3,2,2024-05-02,aGk=,7\n")
    frame = parse(csv.encode(), MIXED, "text/csv").frame
    expected = mixed_expected()
    expected["blob"] = np.array([b"hi", b"hi"], dtype=object)  # CSV has no empty string: an empty cell is null
    assert_frame(frame, expected)


def test_the_frame_passes_the_signature_s_own_enforce_unchanged() -> None:
    frame = parse(MIXED_RECORDS, MIXED).frame
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no extra columns either
        assert_frame(enforce(MIXED, frame), frame)


def test_an_absent_nullable_column_is_a_column_of_nulls() -> None:
    records = [{k: v for k, v in record.items() if k != "maybe"} for record in MIXED_RECORDS]
    frame = parse(records, MIXED).frame
    assert list(frame.columns) == MIXED.column_names
    assert frame["maybe"].tolist() == [None, None]


def test_params_travel_beside_any_mlflow_key() -> None:
    parsed = parse({"inputs": IRIS_ROWS, "params": {"threshold": 0.3, "top_k": 2}})
    assert parsed.params == {"threshold": 0.3, "top_k": 2}
    assert parse({"params": {"k": 1}, **dict(zip(IRIS_COLUMNS, IRIS_ROWS[0], strict=True))}).params == {"k": 1}


def test_tensor_signatures_give_an_array() -> None:
    for body in ({"inputs": [[1, 2], [3.5, 4]]}, {"instances": [[1, 2], [3.5, 4]]},
                 {"inputs": {"input": [[1, 2], [3.5, 4]]}},
                 {"dataframe_split": {"data": [[1, 2], [3.5, 4]]}}):
        parsed = parse(body, TENSOR)
        assert parsed.frame.dtype == np.float32
        np.testing.assert_array_equal(parsed.frame, np.array([[1, 2], [3.5, 4]], dtype=np.float32))
        assert parsed.rows == 2


def test_without_a_signature_the_data_is_read_as_given() -> None:
    frame = parse([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], None).frame
    assert_frame(frame, pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    array = parse({"instances": [[1, 2], [3, 4]]}, None)
    assert isinstance(array.frame, np.ndarray) and array.frame.tolist() == [[1, 2], [3, 4]]
    scalar = parse({"inputs": 5}, None)
    assert scalar.frame.shape == (1,) and scalar.rows == 1  # never a 0-d array
    split = parse({"dataframe_split": {"columns": ["a"], "data": [[1], [2]]}}, None).frame
    assert_frame(split, pd.DataFrame({"a": [1, 2]}))


# -- MLflow's clients' bodies --------------------------------------------------------------------------


def mlflow_serving_input(example: object) -> bytes:
    from mlflow.models.utils import convert_input_example_to_serving_input

    return convert_input_example_to_serving_input(example).encode()


def test_mlflow_serving_input_of_a_dataframe() -> None:
    body = mlflow_serving_input(IRIS_FRAME)
    assert b"dataframe_split" in body
    assert_frame(parse(body).frame, IRIS_FRAME)


def test_mlflow_serving_input_with_params() -> None:
    parsed = parse(mlflow_serving_input((IRIS_FRAME, {"temperature": 0.5, "k": 3})))
    assert parsed.params == {"temperature": 0.5, "k": 3}
    assert_frame(parsed.frame, IRIS_FRAME)


def test_mlflow_serving_input_of_a_mixed_dataframe() -> None:
    example = pd.DataFrame({"x": [1.0, 2.5], "n": [2, 4], "s": ["a", "b"], "flag": [True, False]})
    signature = Signature.from_dict({"inputs": [{"name": "x", "type": "double"}, {"name": "n", "type": "long"},
                                                {"name": "s", "type": "string"}, {"name": "flag", "type": "boolean"}]})
    assert_frame(parse(mlflow_serving_input(example), signature).frame, example)


def test_mlflow_serving_input_of_an_ndarray() -> None:
    array = np.array([[1.0, 2.0], [3.0, 4.0]])
    body = mlflow_serving_input(array)
    assert orjson.loads(body) == {"inputs": [[1.0, 2.0], [3.0, 4.0]]}
    np.testing.assert_array_equal(parse(body, TENSOR).frame, array.astype(np.float32))
    two = Signature.from_dict({"inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]})
    assert_frame(parse(body, two).frame, pd.DataFrame(array, columns=["a", "b"]))


def test_mlflow_serving_input_of_a_dict_of_arrays_records_and_one_record() -> None:
    expected = IRIS_FRAME.iloc[:2]
    columns = {name: expected[name].to_numpy() for name in IRIS_COLUMNS}
    records = expected.to_dict(orient="records")
    for example, fmt in ((columns, "inputs"), (records, "inputs")):
        parsed = parse(mlflow_serving_input(example))
        assert parsed.format == fmt
        assert_frame(parsed.frame, expected)
    single = parse(mlflow_serving_input(records[0]))
    assert_frame(single.frame, expected.iloc[:1])


def test_mlflow_scoring_client_bodies() -> None:
    from mlflow.utils.proto_json_utils import dump_input_data

    frame = IRIS_FRAME.copy()
    frame.index = [10, 11, 12]  # dump_input_data sends the index; the model does not see it
    parsed = parse(dump_input_data(frame, params={"k": 1}).encode())
    assert parsed.params == {"k": 1}
    assert_frame(parsed.frame, IRIS_FRAME)
    tensor = parse(dump_input_data(np.array([[1.0, 2.0]])).encode(), TENSOR)
    assert tensor.frame.tolist() == [[1.0, 2.0]]


def test_pandas_bodies_mlflow_documents() -> None:
    for body in ({"dataframe_split": IRIS_FRAME.to_dict(orient="split")},
                 {"dataframe_records": IRIS_FRAME.to_dict(orient="records")},
                 {"dataframe_split": json.loads(IRIS_FRAME.to_json(orient="split"))}):
        assert_frame(parse(body).frame, IRIS_FRAME)
    assert_frame(parse(IRIS_FRAME.to_csv(index=False).encode(), content_type="text/csv").frame,
                                  IRIS_FRAME)


def test_mlflow_reads_our_responses() -> None:
    from mlflow.deployments import PredictionsResponse

    labels = np.array([0, 2, 1])
    response = PredictionsResponse.from_json(render_predictions(labels).decode())
    np.testing.assert_array_equal(response.get_predictions(predictions_format="ndarray"), labels)
    proba = pd.DataFrame({"setosa": [0.9, 0.1], "virginica": [0.1, 0.9]})
    back = PredictionsResponse.from_json(render_predictions(proba, probabilities=True).decode())
    assert_frame(back.get_predictions(), proba)


# -- the error messages ---------------------------------------------------------------------------------


def iris_records(count: int = 4) -> list[dict[str, object]]:
    return [dict(zip(IRIS_COLUMNS, [5.1, 3.5, 1.4, 0.2], strict=True)) for _ in range(count)]


def test_a_wrong_type_names_the_column_the_value_and_the_row() -> None:
    records = iris_records()
    records[3]["petal_length"] = "abc"
    assert error_of(records) == "column 'petal_length': expected double, got string 'abc' (row 3)"
    split = {"dataframe_split": {"columns": IRIS_COLUMNS, "data": [list(r.values()) for r in records]}}
    assert error_of(split) == "column 'petal_length': expected double, got string 'abc' (row 3)"


def test_booleans_and_nested_values_are_not_numbers() -> None:
    records = iris_records(1)
    records[0]["sepal_width"] = True
    assert error_of(records) == "column 'sepal_width': expected double, got boolean true (row 0)"
    records[0]["sepal_width"] = [1, 2]
    assert error_of(records) == "column 'sepal_width': expected double, got array [1,2] (row 0)"


def test_a_missing_column() -> None:
    records = [{k: v for k, v in r.items() if k != "sepal_width"} for r in iris_records(2)]
    assert error_of(records) == "missing column 'sepal_width' required by the model's signature"
    records[1]["sepal_width"] = 3.0
    assert error_of(records) == "column 'sepal_width' is missing in row 0 and is not optional"


def test_a_null_in_a_column_that_is_not_optional() -> None:
    signature = Signature.from_dict({"inputs": [{"name": "x", "type": "double"}, {"name": "n", "type": "long"}]})
    assert error_of([{"x": None, "n": 1}], signature) == "column 'x' holds null in row 0 and is not optional"
    assert error_of({"x": [1.0, 2.0], "n": [1, None]}, signature) == "column 'n' holds null in row 1 and is not optional"
    assert error_of(b"x,n\n1.5,\n", signature, "text/csv") == "column 'n' holds null in row 0 and is not optional"
    assert error_of(b"x,n\n,1\n", signature, "text/csv") == "column 'x' holds null in row 0 and is not optional"


def test_columns_of_different_lengths() -> None:
    assert error_of({"a": [1, 2], "b": [1, 2, 3]}, None) == "columnar input: column 'b' has 3 values, column 'a' has 2"
    message = error_of({"a": [1, 2], "b": 3}, None)
    assert "column 'b' holds a single value" in message and "'a'" in message


def test_the_row_limit() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        parse({"inputs": [[1.0, 2.0, 3.0, 4.0]] * 20001})
    assert str(caught.value) == "request has 20001 rows, the limit is 10000"
    assert error_of(iris_records(3), max_rows=2) == "request has 3 rows, the limit is 2"


def test_bodies_that_are_not_json_or_csv() -> None:
    assert error_of(b'[{"a": 1}').startswith("body is not valid JSON: ")
    assert error_of(b'{"a": NaN}').startswith("body is not valid JSON: ")
    assert error_of(b"\xff\xfe", content_type="text/csv").startswith("body is not valid UTF-8 text")
    assert error_of(b'"just text"') == "the body must be a JSON object or array, got string"


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"inputs": []}', b'{"dataframe_split": {"columns": [], "data": []}}',
                                  b'{"a": []}'])
def test_empty_input(body: bytes) -> None:
    assert error_of(body) == "empty input: no rows"
    assert error_of(body, None) == "empty input: no rows"


def test_empty_csv() -> None:
    assert error_of(b"", content_type="text/csv") == "empty input: no rows"
    assert error_of(",".join(IRIS_COLUMNS).encode(), content_type="text/csv") == "empty input: no rows"


def test_exactly_one_mlflow_key() -> None:
    message = error_of({"inputs": [[1]], "instances": [[1]]})
    assert "'inputs'" in message and "'instances'" in message
    message = error_of({"inputs": [[1]], "signature_name": "x", "foo": 1})
    assert "'signature_name'" in message and "'foo'" in message and "'inputs'" in message


def test_integer_columns() -> None:
    signature = Signature.from_dict({"inputs": [{"name": "n", "type": "long"}, {"name": "i", "type": "integer"}]})
    frame = parse({"n": [1, 2.0], "i": [3, 4]}, signature).frame
    assert frame["n"].tolist() == [1, 2] and frame["n"].dtype == np.int64 and frame["i"].dtype == np.int32
    assert error_of({"n": [1, 2.5], "i": [3, 4]}, signature) == "column 'n': expected long, got double 2.5 (row 1)"
    assert error_of({"n": [1, 2], "i": [3, 2**40]}, signature) == f"column 'i': {2**40} is out of range for integer (row 1)"
    assert error_of(b'{"n": [1, 99999999999999999999], "i": [3, 4]}', signature) \
        == "column 'n': 100000000000000000000 is out of range for long (row 1)"  # orjson reads it as 1e20
    assert error_of(b'{"n": [18446744073709551615], "i": [3]}', signature) \
        == "column 'n': 18446744073709551615 is out of range for long (row 0)"


def test_strings_datetimes_binary_and_floats() -> None:
    def one(value: object, name: str) -> str:
        record = dict(MIXED_RECORDS[0])
        record[name] = value
        return error_of([record], MIXED)

    assert one(5, "s") == "column 's': expected string, got long 5 (row 0)"
    assert one("yes", "flag") == "column 'flag': expected boolean, got string 'yes' (row 0)"
    assert one("not a date", "when") == "column 'when': expected datetime (ISO 8601), got string 'not a date' (row 0)"
    assert one("%%%", "blob") == "column 'blob': expected binary as base64, got string '%%%' (row 0)"
    assert one(1e39, "f") == "column 'f': 1e+39 is out of range for float (row 0)"


def test_rows_that_do_not_fit() -> None:
    assert error_of({"dataframe_split": {"columns": IRIS_COLUMNS, "data": [[1, 2, 3, 4], [1, 2, 3]]}}) \
        == "dataframe_split: row 1 has 3 values, there are 4 columns"
    assert "row 0 has 3 values" in error_of({"inputs": [[1, 2, 3]]})
    assert "one-column signature" in error_of({"inputs": [1, 2, 3, 4]})
    assert "column 'a' appears more than once" in error_of({"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}})
    assert "'oops'" in error_of({"dataframe_split": {"data": [[1]], "oops": 1}})
    assert error_of([[1, 2, 3, 4]]).startswith("records: item 0 is array, expected an object")


def test_tensor_errors_name_the_input() -> None:
    assert error_of({"inputs": [[1, 2], [3, "x"]]}, TENSOR) == "input 'input': expected float, got string 'x' (row 1)"
    assert error_of({"inputs": [[1, 2], [3, True]]}, TENSOR) == "input 'input': expected float, got boolean true (row 1)"
    assert "not a regular n-dimensional array" in error_of({"inputs": [[1, 2], [3]]}, TENSOR)
    assert error_of({"inputs": [[1, 2, 3]]}, TENSOR) \
        == "input 'input' has shape [1, 3], but the model's signature expects [-1, 2] (-1 = any size)"


def test_content_types() -> None:
    body = orjson.dumps(iris_records(1))
    assert parse_request(body, None, IRIS).rows == 1
    assert parse_request(body, "application/json; charset=UTF-8", IRIS).rows == 1
    for content_type in ("application/x-www-form-urlencoded", "application/json; format=pandas-split",
                         "application/json; charset=latin-1"):
        with pytest.raises(UnsupportedMediaType):
            parse_request(body, content_type, IRIS)


def test_params_must_be_an_object() -> None:
    assert error_of({"inputs": [[1.0, 2.0, 3.0, 4.0]], "params": [1]}) \
        == "params must be a JSON object of name: value, got array"


# -- rendering ---------------------------------------------------------------------------------------------


def rendered(values: object, **kwargs: bool) -> object:
    return orjson.loads(render_predictions(values, **kwargs))["predictions"]  # orjson.loads refuses NaN


def test_render_numpy_pandas_and_lists() -> None:
    assert rendered(np.array([0, 1, 2])) == [0, 1, 2]
    assert rendered(np.array([[0.25, 0.75]], dtype=np.float32)) == [[0.25, 0.75]]
    assert rendered(np.array(["setosa", "virginica"])) == ["setosa", "virginica"]
    assert rendered(np.array([[1, 2], [3, 4]])[:, 1]) == [2, 4]  # not contiguous
    assert rendered(pd.Series([1.5, 2.5], index=[7, 8], name="p")) == [1.5, 2.5]
    assert rendered(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert rendered([np.int64(1), np.float32(0.5), np.bool_(True)]) == [1, 0.5, True]
    assert rendered(np.float64(3.0)) == 3.0
    assert rendered(np.array([b"hi"], dtype=object)) == ["aGk="]


def test_render_nan_and_infinities_as_null() -> None:
    assert rendered(np.array([np.nan, np.inf, -np.inf, 1.0])) == [None, None, None, 1.0]
    assert rendered([float("nan"), 1]) == [None, 1]
    assert rendered(pd.DataFrame({"a": [np.nan]})) == [{"a": None}]
    assert rendered(np.array([np.nan, 0.5]), probabilities=True) == [None, 0.5]


def test_render_datetimes() -> None:
    when = np.array(["2024-05-01T10:00:00", "NaT"], dtype="datetime64[ns]")
    assert rendered(when) == ["2024-05-01T10:00:00.000000000", None]
    assert rendered(pd.DataFrame({"t": pd.to_datetime(["2024-05-01", None])})) == [{"t": "2024-05-01T00:00:00"}, {"t": None}]


def test_render_probabilities_as_float_rows() -> None:
    assert rendered(np.array([[1, 0], [0, 1]]), probabilities=True) == [[1.0, 0.0], [0.0, 1.0]]
    multi_output = [np.array([[0.5, 0.5]]), np.array([[0.2, 0.8]])]
    assert rendered(multi_output, probabilities=True) == [[[0.5, 0.5]], [[0.2, 0.8]]]


# -- properties: only InvalidInput, and a valid input is exactly the signature's columns -----------------

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.sampled_from(["2024-05-01", "aGk=", "1.5", "", "NaN"]),
)
_KEYS = st.one_of(st.sampled_from([*IRIS_COLUMNS, *MIXED.column_names, "input", "params", "extra"]), st.text(max_size=5))
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_KEYS, children, max_size=6),
    max_leaves=40,
)
_WRAPPED = st.one_of(
    _JSON,
    st.builds(lambda key, payload: {key: payload}, st.sampled_from(["dataframe_split", "dataframe_records",
                                                                     "instances", "inputs"]), _JSON),
    st.builds(lambda cols, data, extra: {"dataframe_split": {"columns": cols, "data": data, **extra}},
              st.lists(_KEYS, max_size=5), st.lists(st.lists(_SCALARS, max_size=5), max_size=4),
              st.dictionaries(st.sampled_from(["index", "params"]), _JSON, max_size=1)),
    st.lists(st.dictionaries(_KEYS, _SCALARS, max_size=9), max_size=4),
)
_PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_outcome(body: bytes, content_type: str, signature: Signature | None) -> None:
    try:
        parsed = parse_request(body, content_type, signature, max_rows=50)
    except InvalidInput:
        return
    assert parsed.format in FORMATS
    assert parsed.rows >= 1
    if signature is not None and signature.input_kind == "dataframe":
        assert isinstance(parsed.frame, pd.DataFrame)
        assert list(parsed.frame.columns) == signature.column_names
        assert len(parsed.frame) == parsed.rows
    elif signature is not None:
        assert isinstance(parsed.frame, np.ndarray) and parsed.frame.dtype == np.float32


@_PROPERTY
@given(document=_WRAPPED, signature=st.sampled_from(list(SIGNATURES.values())))
def test_arbitrary_json_only_ever_raises_invalid_input(document: object, signature: Signature | None) -> None:
    _check_outcome(json.dumps(document).encode(), "application/json", signature)


@_PROPERTY
@given(body=st.one_of(st.binary(max_size=64), st.text(alphabet=',\n"aex01.-+ :TZ', max_size=64).map(str.encode)),
       content_type=st.sampled_from(["application/json", "text/csv"]),
       signature=st.sampled_from(list(SIGNATURES.values())))
def test_arbitrary_bytes_only_ever_raise_invalid_input(body: bytes, content_type: str,
                                                       signature: Signature | None) -> None:
    _check_outcome(body, content_type, signature)


@_PROPERTY
@given(rows=st.lists(st.fixed_dictionaries({
    "x": st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False)),
    "n": st.integers(-(2**63), 2**63 - 1),
    "s": st.text(max_size=5),
    "flag": st.booleans(),
    "small": st.integers(-(2**31), 2**31 - 1),
    "f": st.floats(width=32, allow_nan=False, allow_infinity=False),
    "when": st.datetimes(min_value=datetime.datetime(1900, 1, 1)).map(lambda d: d.isoformat()),
    "blob": st.binary(max_size=5).map(lambda b: base64.b64encode(b).decode()),
    "maybe": st.one_of(st.none(), st.integers(-5, 5)),
}), min_size=1, max_size=5), extra=st.booleans())
def test_valid_input_is_exactly_the_signature_s_columns_in_every_format(rows: list[dict], extra: bool) -> None:
    names = list(rows[0])[::-1]  # the body's column order is not the signature's
    if extra:
        names.insert(1, "extra")
        rows = [{**row, "extra": "ignored"} for row in rows]
    columns = {name: [row[name] for row in rows] for name in names}
    bodies = [
        [{name: row[name] for name in names} for row in rows],
        columns,
        {"dataframe_split": {"columns": names, "data": [[row[name] for name in names] for row in rows]}},
        {"dataframe_records": rows},
        {"instances": rows},
        {"inputs": columns},
    ]
    frames = [parse(body, MIXED).frame for body in bodies]
    for frame in frames:
        assert list(frame.columns) == MIXED.column_names
        assert frame["n"].tolist() == [row["n"] for row in rows]
        assert_frame(frame, frames[0])


@_PROPERTY
@given(rows=st.lists(st.lists(st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False)),
                              min_size=4, max_size=4), min_size=1, max_size=6))
def test_iris_fast_path_agrees_with_the_general_path(rows: list[list[float]]) -> None:
    expected = pd.DataFrame(np.array(rows, dtype=np.float64), columns=IRIS_COLUMNS)
    for fmt, (body, content_type) in iris_bodies(rows).items():
        if fmt == "csv":
            continue  # CSV text rounds floats through repr; covered by the fixed rows above
        assert_frame(parse_request(body, content_type, IRIS).frame, expected, check_exact=True)
    general = {"dataframe_split": {"columns": [*IRIS_COLUMNS[::-1], "extra"],
                                   "data": [[*row[::-1], None] for row in rows]}}
    assert_frame(parse(general).frame, expected, check_exact=True)
