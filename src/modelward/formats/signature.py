"""Model signatures: which input columns (and types) a model takes and what it returns.

Inferred from a sample input (pandas DataFrame, numpy array, or dict of columns) and
enforced on every ``predict``:

* a missing column is an error (InvalidInput naming it);
* an extra column is dropped with a warning;
* a wrong type is an error naming the column and both types, except the safe widenings
  (integer -> long/float/double, float -> double), which are cast.

Type names are MLflow's (``integer``, ``long``, ``float``, ``double``, ``boolean``,
``string``, ``binary``, ``datetime``), so a signature read from an MLmodel file means
the same thing. ``nullable`` is recorded from the sample for documentation; it is not
enforced (a sample without nulls does not prove nulls are wrong).
"""

from __future__ import annotations

import warnings
from typing import Any

from pydantic import BaseModel, Field

from modelward.errors import InvalidInput

TYPES = ("integer", "long", "float", "double", "boolean", "string", "binary", "datetime")
# expected type -> input types accepted (and cast) in its place
_WIDENINGS: dict[str, set[str]] = {
    "long": {"integer"},
    "float": {"integer", "long"},
    "double": {"integer", "long", "float"},
}


class ColumnSpec(BaseModel):
    name: str
    type: str
    nullable: bool = False
    shape: list[int] | None = Field(default=None, description="tensor inputs only, -1 = any size")


class Signature(BaseModel):
    """``input_kind`` says what predict expects: named columns ('dataframe') or one tensor ('ndarray')."""

    input_kind: str = "dataframe"
    inputs: list[ColumnSpec]
    outputs: list[ColumnSpec] = Field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        return cls.model_validate(data)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.inputs]


def type_of_dtype(dtype: Any) -> str:
    """Our type name for a numpy/pandas dtype."""
    import numpy as np

    kind = np.dtype(dtype).kind if not _is_pandas_string(dtype) else "U"
    size = np.dtype(dtype).itemsize if kind in "iuf" else 0
    if kind == "b":
        return "boolean"
    if kind in "iu":
        return "long" if size >= 8 or (kind == "u" and size >= 4) else "integer"
    if kind == "f":
        return "double" if size >= 8 else "float"
    if kind in "US":
        return "string" if kind == "U" else "binary"
    if kind == "M":
        return "datetime"
    return "string"  # object columns: checked value by value in _object_type


def _is_pandas_string(dtype: Any) -> bool:
    return str(dtype) in ("string", "str") or type(dtype).__name__ == "StringDtype"


def _object_type(values: Any) -> str:
    """An object column's type from its non-null values: string, binary or mixed."""
    kinds = {type(v) for v in values if v is not None and v == v}
    if kinds <= {str}:
        return "string"
    if kinds <= {bytes}:
        return "binary"
    if kinds <= {bool}:
        return "boolean"
    if kinds <= {int}:
        return "long"
    if kinds <= {int, float}:
        return "double"
    names = ", ".join(sorted(k.__name__ for k in kinds))
    return f"mixed({names})"


def _column_type(series: Any) -> str:
    if series.dtype == object:
        return _object_type(series.tolist())
    return type_of_dtype(series.dtype)


def _as_frame(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, dict):
        try:
            return pd.DataFrame(data)
        except ValueError:  # all scalars: one row
            return pd.DataFrame([data])
    return data


def infer_signature(model_input: Any, model_output: Any = None) -> Signature:
    """A signature from a sample input (DataFrame, ndarray or dict) and optionally an output."""
    import numpy as np
    import pandas as pd

    data = _as_frame(model_input)
    if isinstance(data, pd.DataFrame):
        inputs = [
            ColumnSpec(name=str(col), type=_column_type(data[col]), nullable=bool(data[col].isna().any()))
            for col in data.columns
        ]
        signature = Signature(input_kind="dataframe", inputs=inputs)
    elif isinstance(data, np.ndarray):
        shape = [-1, *data.shape[1:]]
        signature = Signature(
            input_kind="ndarray", inputs=[ColumnSpec(name="input", type=type_of_dtype(data.dtype), shape=shape)]
        )
    else:
        raise InvalidInput(
            f"cannot infer a signature from {type(model_input).__name__}: "
            "pass a pandas DataFrame, a numpy array or a dict of columns"
        )
    if model_output is not None:
        signature.outputs = _output_specs(model_output)
    return signature


def _output_specs(output: Any) -> list[ColumnSpec]:
    import numpy as np
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        return [ColumnSpec(name=str(c), type=_column_type(output[c])) for c in output.columns]
    if isinstance(output, pd.Series):
        return [ColumnSpec(name=str(output.name or "prediction"), type=_column_type(output))]
    array = np.asarray(output)
    kind = _object_type(array.ravel().tolist()) if array.dtype == object else type_of_dtype(array.dtype)
    return [ColumnSpec(name="prediction", type=kind, shape=[-1, *array.shape[1:]])]


def _check_type(column: str, expected: str, actual: str) -> bool:
    """True when the values must be cast to ``expected``; raises on an incompatible type."""
    if actual == expected:
        return False
    if actual in _WIDENINGS.get(expected, set()):
        return True
    raise InvalidInput(
        f"input column '{column}' has type {actual}, but the model's signature expects {expected}"
    )


_NUMPY_TYPE = {"integer": "int32", "long": "int64", "float": "float32", "double": "float64", "boolean": "bool"}


def enforce(signature: Signature, data: Any) -> Any:
    """``data`` checked against the signature and shaped for the model, or InvalidInput."""
    if signature.input_kind == "ndarray":
        return _enforce_tensor(signature.inputs[0], data)
    return _enforce_frame(signature, data)


def _enforce_frame(signature: Signature, data: Any) -> Any:
    import numpy as np
    import pandas as pd

    data = _as_frame(data)
    if isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] == len(signature.inputs):
        data = pd.DataFrame(data, columns=signature.column_names)
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(
            f"the model expects a table with columns {signature.column_names}; got {type(data).__name__}"
        )
    given = [str(c) for c in data.columns]
    missing = [c for c in signature.column_names if c not in given]
    if missing:
        raise InvalidInput(f"input is missing column(s) {', '.join(repr(m) for m in missing)} required by the model's signature")
    extra = [c for c in given if c not in signature.column_names]
    if extra:
        warnings.warn(
            f"input column(s) {', '.join(repr(e) for e in extra)} are not in the model's signature and are ignored",
            UserWarning, stacklevel=3,
        )
    frame = data.rename(columns=str)[signature.column_names].copy()
    for spec in signature.inputs:
        if _check_type(spec.name, spec.type, _column_type(frame[spec.name])) and spec.type in _NUMPY_TYPE:
            frame[spec.name] = frame[spec.name].astype(_NUMPY_TYPE[spec.type])
    return frame


def _enforce_tensor(spec: ColumnSpec, data: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    array = np.asarray(data)
    if array.dtype == object:
        actual = _object_type(array.ravel().tolist())
    else:
        actual = type_of_dtype(array.dtype)
    if _check_type("input", spec.type, actual) and spec.type in _NUMPY_TYPE:
        array = array.astype(_NUMPY_TYPE[spec.type])
    expected = spec.shape or []
    if len(expected) != array.ndim or any(e not in (-1, a) for e, a in zip(expected, array.shape, strict=False)):
        raise InvalidInput(f"input has shape {list(array.shape)}, but the model's signature expects {expected} (-1 = any)")
    return array
