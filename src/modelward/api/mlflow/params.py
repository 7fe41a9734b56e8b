"""Typed reading of MLflow request fields, shared by every MLflow route.

MLflow's own server checks each field's JSON type (``_assert_string``, ``_assert_intlike``
in mlflow/server/handlers.py) and answers 400 INVALID_PARAMETER_VALUE for a wrong one; it
never coerces ``{"name": 123}`` into the name "123". These helpers do the same. Query
parameters are always strings, so a GET is checked by the same rules: an integer field
accepts an int or a string of digits (protobuf's JSON writes int64 as a string).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from fastapi import Request

from modelward.api.decoding import INT64_MAX, INT64_MIN, decode_json
from modelward.errors import InvalidInput


async def request_params(request: Request, *, list_keys: Collection[str] = ()) -> dict[str, Any]:
    """Query parameters merged with the JSON body, as every MLflow route reads its arguments
    (MLflow sends GET and some DELETE arguments as a query). A key in ``list_keys`` is always
    a list, even when it is given once. The body goes through the shared decoder."""
    params: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        params[key] = values if len(values) > 1 or key in list_keys else values[0]
    body = await request.body()
    if body.strip():
        decoded = decode_json(body, allow_inf_nan=True)
        if not isinstance(decoded, dict):
            raise InvalidInput(f"request body must be a JSON object, got {_type_name(decoded)}")
        params.update(decoded)
    return params


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "object"}.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """A value as MLflow's messages show it: JSON (``"foo"``, ``123``), cut at 100 characters."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _wrong(key: str, wanted: str, value: Any) -> InvalidInput:
    return InvalidInput(
        f"Invalid value {_shown(value)} for parameter '{key}' supplied: it must be {wanted}, got {_type_name(value)}."
    )


def required_str(params: dict[str, Any], *keys: str) -> str:
    """The first of ``keys`` present (e.g. ``run_id`` or its old name ``run_uuid``); a string."""
    for key in keys:
        value = params.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise _wrong(key, "a string", value)
        return value
    raise InvalidInput(f"Missing value for required parameter '{keys[0]}'.")


def optional_str(params: dict[str, Any], key: str, default: str | None = None) -> str | None:
    """A string, or ``default`` when absent or empty."""
    value = params.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise _wrong(key, "a string", value)
    return value


def optional_int(params: dict[str, Any], key: str, default: int | None = None) -> int | None:
    """An integer (a JSON integer or a string of digits), or ``default`` when absent."""
    value = params.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return in_int64(key, value)
    if isinstance(value, str):
        text = value.strip()
        digits = text.lstrip("+-")
        if digits.isdigit():
            if len(digits.lstrip("0")) > 19:
                raise out_of_range(key, value)
            return in_int64(key, int(text))
    raise _wrong(key, "an integer", value)


def in_int64(key: str, value: int) -> int:
    """``value`` if a 64-bit database column can hold it."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise out_of_range(key, value)
    return value


def out_of_range(key: str, value: Any) -> InvalidInput:
    text = str(value)
    shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} digits)"
    return InvalidInput(f"Invalid value {shown} for parameter '{key}' supplied: it is outside the 64-bit "
                        f"integer range [{INT64_MIN}, {INT64_MAX}].")


def required_number(params: dict[str, Any], key: str) -> float:
    """A JSON number, or MLflow's strings for what JSON cannot write ("NaN", "Infinity")."""
    value = params.get(key)
    if value is None:
        raise InvalidInput(f"Missing value for required parameter '{key}'.")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _wrong(key, "a number", value)
    try:
        return float(value)
    except ValueError:
        raise _wrong(key, "a number", value) from None


__all__ = ["in_int64", "out_of_range", "optional_int", "optional_str", "request_params", "required_number", "required_str"]
