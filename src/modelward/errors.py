"""The whole error hierarchy of modelward, in one module.

    ModelwardError                  base of everything we raise on purpose
    ├── InvalidInput                bad argument, malformed filter, bad path   (400)
    │   ├── PayloadTooLarge         request or batch over a limit              (413)
    │   └── UnsupportedMediaType    a body of a type the route does not take   (415)
    ├── Unauthenticated             no or bad credentials                      (401)
    ├── PermissionDenied            authenticated, but the role may not        (403)
    ├── NotFound                    no such experiment, run, artifact, ...     (404)
    ├── AlreadyExists               name or key taken                          (409)
    ├── Conflict                    state forbids the change (deleted run ...) (409)
    │   └── InvalidTransition       illegal life-cycle transition              (409)
    ├── PolicyViolation             a governance rule refuses the action       (422)
    ├── IntegrityError              stored bytes do not match their digest     (409)
    ├── ServiceUnavailable          store unreachable or not migrated          (503)
    └── InsufficientStorage         the disk or database is full               (507)

Each class carries a stable ``error_code``; the REST server sends it in every error
body and the SDK turns it back into the same class, so embedded and remote use raise
the same exceptions. The HTTP status of each class lives in one table,
``modelward.api.errors.STATUS_BY_ERROR``.
"""

from __future__ import annotations


class ModelwardError(Exception):
    """Base class of every error modelward raises on purpose."""

    error_code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(ModelwardError):
    error_code = "INVALID_PARAMETER_VALUE"


class PayloadTooLarge(InvalidInput):
    error_code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(InvalidInput):
    error_code = "UNSUPPORTED_MEDIA_TYPE"


class Unauthenticated(ModelwardError):
    error_code = "UNAUTHENTICATED"


class PermissionDenied(ModelwardError):
    error_code = "PERMISSION_DENIED"


class NotFound(ModelwardError):
    error_code = "RESOURCE_DOES_NOT_EXIST"


class AlreadyExists(ModelwardError):
    error_code = "RESOURCE_ALREADY_EXISTS"


class Conflict(ModelwardError):
    error_code = "INVALID_STATE"


class InvalidTransition(Conflict):
    error_code = "INVALID_TRANSITION"


class PolicyViolation(ModelwardError):
    error_code = "POLICY_VIOLATION"


class IntegrityError(ModelwardError):
    error_code = "DATA_INTEGRITY"


class ServiceUnavailable(ModelwardError):
    error_code = "TEMPORARILY_UNAVAILABLE"


class InsufficientStorage(ModelwardError):
    error_code = "INSUFFICIENT_STORAGE"


def _all_error_classes() -> list[type[ModelwardError]]:
    found: list[type[ModelwardError]] = [ModelwardError]
    queue: list[type[ModelwardError]] = [ModelwardError]
    while queue:
        for sub in queue.pop().__subclasses__():
            found.append(sub)
            queue.append(sub)
    return found


def error_class_for_code(error_code: str) -> type[ModelwardError]:
    """The exception class that sends ``error_code`` (ModelwardError if unknown)."""
    for cls in _all_error_classes():
        if cls.error_code == error_code:
            return cls
    return ModelwardError


__all__ = [
    "AlreadyExists",
    "Conflict",
    "InsufficientStorage",
    "IntegrityError",
    "InvalidInput",
    "InvalidTransition",
    "ModelwardError",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PolicyViolation",
    "ServiceUnavailable",
    "Unauthenticated",
    "UnsupportedMediaType",
    "error_class_for_code",
]
