"""THE table from error class to HTTP status, and the one JSON error body.

Every error leaves the server as ``{"error_code": ..., "message": ...}``: the shape
MLflow's clients already parse, used by the native API too so there is one shape.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelward import errors
from modelward.store.failures import failure_of

log = logging.getLogger("modelward.api")

STATUS_BY_ERROR: dict[type[errors.ModelwardError], int] = {
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.InvalidTransition: 409,
    errors.Conflict: 409,
    errors.PolicyViolation: 422,
    # Stored bytes that no longer match their digest stay so on every retry: a 4xx, so that
    # clients which retry a 500 (the mlflow client, for minutes) report it at once.
    errors.IntegrityError: 409,
    errors.ServiceUnavailable: 503,
    errors.InsufficientStorage: 507,
    errors.ModelwardError: 500,
}

_HTTP_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
               404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}

# Seconds a client is told to wait before retrying a 503 (Retry-After): a database restart or
# failover, or the object store coming back, is a matter of seconds.
RETRY_AFTER_S = 1


def status_of(exc: errors.ModelwardError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]  # type: ignore[index]
    return 500


def error_body(error_code: str, message: str) -> dict[str, str]:
    return {"error_code": error_code, "message": message}


def headers_for(status: int) -> dict[str, str] | None:
    """The headers an error answer of ``status`` carries: the auth challenge of a 401, and the
    Retry-After of a 503 (the mlflow client and our SDK wait that long, then retry)."""
    if status == 401:
        return {"WWW-Authenticate": 'Bearer realm="modelward"'}
    if status == 503:
        return {"Retry-After": str(RETRY_AFTER_S)}
    return None


def _wants_page(request: Request) -> bool:
    return request.url.path.startswith("/ui/")


def _page(request: Request, status: int, message: str) -> Response:
    """Errors on web pages: in words on a page; a missing sign-in goes to the sign-in page."""
    from modelward.ui.rendering import render

    if status == 401:
        return RedirectResponse(f"/ui/login?{urlencode({'next': request.url.path})}", status_code=303)
    titles = {403: "Not allowed", 404: "Not found", 409: "Not possible now", 413: "Too large"}
    title = titles.get(status, "Something went wrong" if status >= 500 else "Cannot do that")
    return render(request, "error.html", status_code=status, title=title, message=message)


async def _on_modelward_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.ModelwardError)
    status = status_of(exc)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    if _wants_page(request):
        return _page(request, status, exc.message)
    return JSONResponse(error_body(exc.error_code, exc.message), status, headers=headers_for(status))


def describe_validation_error(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        if error.get("type") == "json_invalid":
            problems.append(f"invalid JSON: {error.get('ctx', {}).get('error', error.get('msg'))}")
        else:
            problems.append(f"{where or 'body'}: {error.get('msg')}")
    return "; ".join(problems) or "invalid request"


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _wants_page(request):
        return _page(request, 400, describe_validation_error(exc))
    return JSONResponse(error_body("INVALID_PARAMETER_VALUE", describe_validation_error(exc)), 400)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no endpoint {request.method} {request.url.path}"
    if _wants_page(request):
        return _page(request, exc.status_code, "There is no such page." if exc.status_code == 404 else message)
    return JSONResponse(error_body(code, message), exc.status_code, headers=headers_for(exc.status_code))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    known = failure_of(exc)
    if known is not None:  # raised outside a JsonRoute (a middleware, a page): the same answer
        return await _on_modelward_error(request, known)
    if isinstance(exc.__cause__, errors.ModelwardError):
        # Raised by a streamed body after its headers went out (a download aborted on a
        # digest mismatch): the cut connection tells the client; one line tells the operator.
        log.error("%s %s aborted mid-response: %s", request.method, request.url.path, exc.__cause__)
    else:
        log.exception("%s %s crashed", request.method, request.url.path)
    if _wants_page(request):
        response = _page(request, 500, "The server hit an unexpected error; it is in the server log.")
    else:
        response = JSONResponse(error_body("INTERNAL_ERROR", "internal server error; see the server log"), 500)
    # Starlette re-raises the crash after this answer and the server then drops the connection:
    # say so, or a keep-alive client sends its next request into a closed socket.
    response.headers["connection"] = "close"
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.ModelwardError, _on_modelward_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
