"""The one door for request input: every JSON body and typed parameter passes here first.

What passes can be stored and read back; what does not is an ``InvalidInput`` (400) that
names the field:

- a JSON body is parsed once by pydantic's parser (jiter): invalid UTF-8, lone surrogates
  and nesting past its recursion limit are refused by the parser itself;
- an integer outside the 64-bit range of the databases, a number too large for a double
  (``1e999999``) and a NUL character (PostgreSQL text cannot hold one) are refused with the
  path of the field. A cheap scan of the raw bytes decides whether the value needs walking,
  so a 1,000-point batch pays for a byte translation, not a walk;
- integer and float path and query parameters are range-checked the same way before
  FastAPI converts them (:class:`JsonRoute`);
- free-form JSON fields (a run's ``environment``, card content, KPIs) are bounded in depth
  and size by :data:`FreeJSON`, so no stored value is too deep to serialise again.

Routes use :class:`JsonRoute` (MLflow's routes through its subclass ``MlflowRoute``); the
MLflow parameter readers call :func:`decode_json` on the body.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator
from pydantic_core import from_json

from modelward.api.routing import DeferredRoute
from modelward.errors import InvalidInput, ModelwardError
from modelward.store.failures import failure_of

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_FREE_JSON_DEPTH = 32
MAX_FREE_JSON_BYTES = 64 * 1024

# The scan reads a translation of the body (digits as 0, E as e, + dropped), so that each
# suspect is one substring search; a false alarm only costs a walk of the value.
_SCAN_TABLE = bytes.maketrans(b"0123456789E", b"0000000000e")
_LONG_DIGIT_RUN = b"0" * 19  # 19 digits in a row: perhaps an integer beyond 64 bits
_LONG_EXPONENT = b"e000"  # an exponent of 3 digits or more: perhaps beyond a double
_NUL_ESCAPE = b"\\u0000"  # also what a \u00NN escape of other digits turns into


def decode_json(raw: bytes, *, allow_inf_nan: bool = False, what: str = "request body") -> Any:
    """Parse ``raw`` as JSON and refuse what the store cannot hold. ``allow_inf_nan`` accepts
    the ``NaN`` and ``Infinity`` literals some MLflow clients send for metric values."""
    try:
        value = from_json(raw, allow_inf_nan=allow_inf_nan)
    except ValueError as exc:
        if "recursion limit" in str(exc):
            raise InvalidInput(f"{what} is nested too deeply ({exc})") from None
        raise InvalidInput(f"{what} is invalid JSON: {exc}") from None
    if _may_be_unstorable(raw):
        allow_infinity = allow_inf_nan and b"Infinity" in raw
        problem = unstorable(value, allow_infinity=allow_infinity)
        if problem is not None:
            raise InvalidInput(f"{what}: {problem}")
    return value


def _may_be_unstorable(raw: bytes) -> bool:
    scanned = raw.translate(_SCAN_TABLE, b"+")
    return _LONG_DIGIT_RUN in scanned or _LONG_EXPONENT in scanned or _NUL_ESCAPE in scanned


def unstorable(value: Any, *, max_depth: int | None = None, allow_infinity: bool = True) -> str | None:
    """The first problem in a decoded JSON value, as "field 'a.b[2]' ...", or None."""
    found = _problem(value, 0, max_depth, allow_infinity)
    if found is None:
        return None
    path, problem = found
    return f"field '{_dotted(reversed(path))}' {problem}" if path else problem


def _problem(value: Any, depth: int, max_depth: int | None, allow_infinity: bool) -> tuple[list[Any], str] | None:
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        problem = _scalar_problem(value, allow_infinity)
        return None if problem is None else ([], problem)
    if max_depth is not None and depth >= max_depth:
        return [], f"is nested deeper than {max_depth} levels"
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return [key], "has a NUL character in its name"
        found = _problem(item, depth + 1, max_depth, allow_infinity)
        if found is not None:
            found[0].append(key)
            return found
    return None


def _scalar_problem(value: Any, allow_infinity: bool) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return f"holds {_short(value)}, outside the 64-bit integer range [{INT64_MIN}, {INT64_MAX}]"
    elif isinstance(value, float):
        if math.isinf(value) and not allow_infinity:
            return "holds a number too large for a 64-bit float"
    elif isinstance(value, str) and "\x00" in value:
        return "holds a NUL character"
    return None


def _short(value: int) -> str:
    text = str(value) if value.bit_length() < 4000 else "a number"
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} digits)"


def _dotted(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# -- free-form JSON fields ---------------------------------------------------------------


def _bounded_free_json(value: Any) -> Any:
    problem = unstorable(value, max_depth=MAX_FREE_JSON_DEPTH, allow_infinity=False)
    if problem is None and not _finite(value):
        problem = "holds NaN or an infinity, which JSON cannot store"
    if problem is not None:
        raise ValueError(problem)
    size = len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    if size > MAX_FREE_JSON_BYTES:
        raise ValueError(f"is {size} bytes as JSON; the limit is {MAX_FREE_JSON_BYTES}")
    return value


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    return True


FreeJSON = Annotated[dict[str, Any], AfterValidator(_bounded_free_json)]
"""A free-form JSON object a client may store: at most 32 levels deep and 64 KiB."""


# -- the route class every API router uses -------------------------------------------------


class JsonRequest(Request):
    """A request whose ``json()`` is :func:`decode_json` (FastAPI reads bodies through it)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode_json(await self.body())
        return self._json


class JsonRoute(DeferredRoute):
    """An APIRoute that decodes its JSON body at the door and range-checks its numeric
    path and query parameters, so both fail as our 400 naming the field (FastAPI would
    turn a decoder error into "There was an error parsing the body"); a write that finds
    the disk full leaves as ``InsufficientStorage`` (507), one that finds the database or the
    object store unreachable as ``ServiceUnavailable`` (503 with Retry-After), not as a crash."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        inputs: tuple[dict[tuple[str, str], type], bool] | None = None  # read at the first request,
        # so that building this handler does not set off the route's deferred analysis

        async def handle(request: Request) -> Response:
            nonlocal inputs
            if inputs is None:
                inputs = numeric_parameters(self), self.body_field is not None
            numeric, decodes_body = inputs
            request = JsonRequest(request.scope, request.receive)
            check_numeric_parameters(request, numeric)
            if decodes_body and _is_json(request):
                await request.json()
            try:
                return await handler(request)
            except ModelwardError:
                raise
            except Exception as exc:
                known = failure_of(exc)  # a full disk (507), an unreachable database or object store (503)
                if known is None:
                    raise
                raise known from exc

        return handle


def _is_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def numeric_parameters(route: APIRoute) -> dict[tuple[str, str], type]:
    """(``path`` or ``query``, name) -> int or float, for the route and its dependencies."""
    found: dict[tuple[str, str], type] = {}
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        pending.extend(dependant.dependencies)
        for where, fields in (("path", dependant.path_params), ("query", dependant.query_params)):
            for field in fields:
                kind = _numeric_kind(field.field_info.annotation)
                if kind is not None:
                    found[(where, field.alias or field.name)] = kind
    return found


def _numeric_kind(annotation: Any) -> type | None:
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    for candidate in candidates:
        if candidate in (int, float):
            return candidate  # type: ignore[no-any-return]
    return None


def check_numeric_parameters(request: Request, numeric: dict[tuple[str, str], type]) -> None:
    for (where, name), kind in numeric.items():
        raw = request.path_params.get(name) if where == "path" else request.query_params.get(name)
        if not isinstance(raw, str) or not raw:
            continue
        problem = _int_text_problem(raw) if kind is int else _float_text_problem(raw)
        if problem is not None:
            raise InvalidInput(f"{where} parameter '{name}' {problem}")


def _int_text_problem(text: str) -> str | None:
    text = text.strip()
    digits = text.lstrip("+-").lstrip("0")
    if not digits.isdigit() or len(digits) < 19:
        return None
    if len(digits) > 19 or not INT64_MIN <= int(text) <= INT64_MAX:
        return f"is outside the 64-bit integer range [{INT64_MIN}, {INT64_MAX}]"
    return None


def _float_text_problem(text: str) -> str | None:
    try:
        value = float(text)
    except ValueError:
        return None  # FastAPI refuses it, naming the parameter
    return None if math.isfinite(value) else "must be a finite number"


__all__ = ["FreeJSON", "INT64_MAX", "INT64_MIN", "JsonRequest", "JsonRoute", "decode_json", "unstorable"]
