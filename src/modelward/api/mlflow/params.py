"""Typed reading of MLflow request fields, shared by every MLflow route.

MLflow's own server checks each field's JSON type (``_assert_string``, ``_assert_intlike``
in mlflow/server/handlers.py) and answers 400 INVALID_PARAMETER_VALUE for a wrong one; it
never coerces ``{"name": 123}`` into the name "123". These helpers do the same. Query
parameters are always strings, so a GET is checked by the same rules: an integer field
accepts an int or a string of digits (protobuf's JSON writes int64 as a string).
"""

from __future__ import annotations

from typing import Any

from modelward.errors import InvalidInput


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "object"}.get(type(value), type(value).__name__)


def _wrong(key: str, wanted: str, value: Any) -> InvalidInput:
    return InvalidInput(
        f"Invalid value {value!r} for parameter '{key}' supplied: it must be {wanted}, got {_type_name(value)}."
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
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
    raise _wrong(key, "an integer", value)


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


__all__ = ["optional_int", "optional_str", "required_number", "required_str"]
