"""Keeping personal data out of what is stored: hash or drop the columns the rules name.

    rules = protection_rules({"email": "hash", "phone": "drop"})
    safe = protect(frame, rules, secret=key)

``hash`` replaces each non-null value by the hex HMAC-SHA256 of its text (``str(value)``)
under a secret key: the same value and key give the same hash in every call and process,
so hashed columns still join and count, and nobody without the key can test a guess.
Note that 42 and "42" hash alike, and 42.0 does not. Nulls stay null. ``drop`` removes
the column. The frame passed in is never changed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from modelward.errors import InvalidInput
from modelward.evaluation.personal_data.results import ScanResult

Action = Literal["hash", "drop"]
MIN_SECRET_BYTES = 16


class ProtectionRules(BaseModel):
    """Which columns to hash or drop; ``missing``: what a rule for an absent column does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: dict[str, Action]
    missing: Literal["error", "ignore"] = "error"

    @property
    def hashed(self) -> list[str]:
        return [column for column, action in self.columns.items() if action == "hash"]

    @property
    def dropped(self) -> list[str]:
        return [column for column, action in self.columns.items() if action == "drop"]


def protection_rules(declaration: ProtectionRules | Mapping) -> ProtectionRules:
    """Rules from a declaration: ``{"columns": {col: action}, "missing": ...}`` or ``{col: action}``."""
    if isinstance(declaration, ProtectionRules):
        return declaration
    if not isinstance(declaration, Mapping):
        raise InvalidInput(
            f"protection rules must be a mapping of column to 'hash' or 'drop', "
            f"not {type(declaration).__name__}"
        )
    body = dict(declaration)
    if not isinstance(body.get("columns"), Mapping):
        body = {"columns": body}
    columns = body["columns"]
    for column, action in columns.items():
        if not isinstance(column, str) or not column:
            raise InvalidInput(f"protection rules: column names must be non-empty strings, not {column!r}")
        if action not in ("hash", "drop"):
            raise InvalidInput(
                f"protection rule for column {column!r} is {action!r}: the action must be 'hash' or 'drop'"
            )
    try:
        return ProtectionRules.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "rules"
        raise InvalidInput(f"protection rules: {where}: {first['msg']}") from None


def rules_from_scan(
    result: ScanResult, *, action: Action = "hash", min_confidence: float = 0.5,
) -> ProtectionRules:
    """A starting point: ``action`` for every column with a finding of at least ``min_confidence``."""
    columns = {
        finding.column: action for finding in result.findings if finding.confidence >= min_confidence
    }
    return ProtectionRules(columns=columns)


def protect(
    frame: pd.DataFrame, rules: ProtectionRules | Mapping, *, secret: bytes | str | None = None,
) -> pd.DataFrame:
    """A copy of ``frame`` with the rules' columns hashed (keyed HMAC-SHA256, hex) or dropped."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"protect takes a pandas DataFrame, not {type(frame).__name__}")
    rules = protection_rules(rules)
    absent = [column for column in rules.columns if column not in frame.columns]
    if absent and rules.missing == "error":
        raise InvalidInput(f"protection rules name columns the data does not have: {', '.join(map(repr, absent))}")
    hashed = [column for column in rules.hashed if column in frame.columns]
    key = _key(secret) if hashed else b""
    result = frame.drop(columns=[column for column in rules.dropped if column in frame.columns])
    for column in hashed:
        result[column] = hash_values(frame[column], key)
    return result


def _key(secret: bytes | str | None) -> bytes:
    if secret is None:
        raise InvalidInput("hashing columns needs a secret key (bytes or text of at least 16 bytes)")
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_SECRET_BYTES:
        raise InvalidInput(f"the hashing secret must be at least {MIN_SECRET_BYTES} bytes long")
    return bytes(key)


def hash_values(values: pd.Series, key: bytes) -> pd.Series:
    """The keyed hash of each non-null value; each distinct value is hashed once."""
    present = values.notna()
    codes, uniques = pd.factorize(values[present])
    base = hmac.new(key, digestmod=hashlib.sha256)
    digests = np.array([_digest(base, value) for value in uniques], dtype=object)
    hashed = pd.Series(digests[codes], index=values.index[present], dtype=object)
    return hashed.reindex(values.index).rename(values.name)


def _digest(base: hmac.HMAC, value: object) -> str:
    mac = base.copy()
    mac.update(str(value).encode("utf-8"))
    return mac.hexdigest()
