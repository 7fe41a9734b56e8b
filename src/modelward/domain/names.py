"""Ids and the validation of names and keys, shared by every noun."""

from __future__ import annotations

import re
import uuid

from modelward.errors import InvalidInput

MAX_NAME_LENGTH = 256
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000

_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-. /:]+$")
_SEGMENT_PATTERN = re.compile(r"^[^\x00-\x1f/\\]+$")


def new_id() -> str:
    return uuid.uuid4().hex


def validate_hierarchical_name(name: str, kind: str) -> str:
    """Names like 'team/churn/baseline': non-empty '/'-separated segments."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{kind} name must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{kind} name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}")
    for segment in name.split("/"):
        if not segment.strip() or segment in (".", "..") or not _SEGMENT_PATTERN.match(segment):
            raise InvalidInput(
                f"{kind} name {name!r} has an invalid segment {segment!r}: segments are non-empty, "
                "not '.' or '..', and hold no control characters or backslashes"
            )
    return name


def validate_key(key: str, kind: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{kind} key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"{kind} key {key[:40]!r}... is longer than {MAX_KEY_LENGTH} characters")
    if not _KEY_PATTERN.match(key) or ".." in key.split("/") or key.startswith("/"):
        raise InvalidInput(
            f"{kind} key {key!r} is invalid: use letters, digits, '_', '-', '.', ' ', ':' and '/'"
        )
    return key


def validate_value(value: str, kind: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidInput(f"{kind} value is {len(value)} characters long; the limit is {limit}")
    return value
