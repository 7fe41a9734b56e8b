"""Registry nouns: registered models, their versions, aliases and alias history. No I/O here.

Also the two pure rules the registry needs: how a version's artifact digest is computed
from its files, and the small filter language of registry search.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelward.errors import InvalidInput

MAX_MODEL_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 255
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
# MLflow reserves these: "latest" and "v<N>" already mean something in models:/ URIs.
_RESERVED_ALIAS = re.compile(r"^(latest|v[0-9]+)$", re.IGNORECASE)

CANDIDATE = "candidate"
ARCHIVED = "archived"

STAGE_TAG = "mlflow.current_stage"
"""MLflow's (deprecated) stage of a version, kept as this version tag; set only through ``set_stage``."""
STAGES = ("None", "Staging", "Production", "Archived")
POINTER_STAGES = ("Staging", "Production")
"""Stages that, like an alias, point serving at a version: policy treats them as aliases of that name."""


class RegisteredModel(BaseModel):
    id: str
    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, int] = Field(default_factory=dict, description="alias -> version number")
    latest_version: int | None = None
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime


class VersionFile(BaseModel):
    path: str
    digest: str
    size: int


class ModelVersion(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")
    model_name: str
    version: int
    description: str | None = None
    status: str = CANDIDATE
    source: str
    source_run_id: str | None = None
    artifact_digest: str
    files: list[VersionFile] = Field(default_factory=list)
    flavor: str | None = None
    signature: dict[str, Any] | None = None
    requirements: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    card: dict[str, Any] | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


class AliasEvent(BaseModel):
    """One move of an alias: to a version, or away (version None) when it was deleted."""

    model_name: str
    alias: str
    version: int | None
    actor: str | None
    at: datetime
    reason: str | None = None


class ModelPage(BaseModel):
    models: list[RegisteredModel]
    next_page_token: str | None = None


class VersionPage(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")
    versions: list[ModelVersion]
    next_page_token: str | None = None


class VersionComparison(BaseModel):
    """Versions side by side; each mapping is keyed by the version number (as a string)."""

    model_config = ConfigDict(ser_json_inf_nan="strings")
    model_name: str
    versions: list[int]
    metrics: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    params: dict[str, dict[str, str | None]] = Field(default_factory=dict)
    data_digests: dict[str, list[str]] = Field(default_factory=dict)
    signature: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    requirements: dict[str, list[str]] = Field(default_factory=dict)
    card: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    artifact_digest: dict[str, str] = Field(default_factory=dict)
    differences: list[str] = Field(default_factory=list, description="fields whose values differ")


# -- rules ---------------------------------------------------------------------------------


def validate_model_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("model name must be a non-empty string")
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidInput(f"model name is {len(name)} characters long; the limit is {MAX_MODEL_NAME_LENGTH}")
    if not _MODEL_NAME.match(name) or name != name.strip():
        raise InvalidInput(
            f"model name {name!r} is invalid: start with a letter or digit, then use letters, "
            "digits, '_', '-', '.' and spaces (no '/', '@' or ':', which models:/ URIs use)"
        )
    return name


def validate_alias(alias: str) -> str:
    if not isinstance(alias, str) or not alias:
        raise InvalidInput("alias must be a non-empty string")
    if len(alias) > MAX_ALIAS_LENGTH or not _ALIAS.match(alias):
        raise InvalidInput(
            f"alias {alias!r} is invalid: start with a letter or '_', then letters, digits, '_' or '-'"
        )
    if _RESERVED_ALIAS.match(alias):
        raise InvalidInput(f"alias {alias!r} is reserved ('latest' and 'v<number>' have a meaning in models:/ URIs)")
    return alias


def manifest_digest(files: list[VersionFile]) -> str:
    """SHA-256 over the sorted manifest lines ``path\\tdigest\\n``: the version's identity."""
    hasher = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.path):
        hasher.update(f"{item.path}\t{item.digest}\n".encode())
    return hasher.hexdigest()


# -- registry search -------------------------------------------------------------------------

MODEL_FIELDS = frozenset({"name"})
VERSION_FIELDS = frozenset({"name", "version_number", "run_id", "status", "source", "flavor"})
NUMERIC_FIELDS = frozenset({"version_number"})
FIELD_ALIASES = {"version": "version_number", "source_run_id": "run_id", "source_path": "source"}
_OPS = ("=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN")
_STRING_ONLY_OPS = ("LIKE", "ILIKE")


@dataclass(frozen=True)
class Condition:
    """One comparison: ``field`` is an attribute name, or ``tags.<key>`` when ``tag`` is set."""

    field: str
    op: str
    value: str | int | float | tuple[str | int | float, ...]
    tag: str | None = None


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
      | (?P<number>[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![A-Za-z_])
      | (?P<tagkey>tags?\.(?:`[^`]+`|"[^"]+"|[A-Za-z0-9_.:/\-]+))
      | (?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            start = len(text) - len(text[pos:].lstrip())
            raise InvalidInput(f"invalid filter at position {start}: unexpected {text[start:start + 12]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


def _unquote(token: str) -> str:
    quote, body = token[0], token[1:-1]
    return re.sub(r"\\(.)", r"\1", body.replace(quote * 2, quote))


def parse_registry_filter(text: str | None, *, fields: frozenset[str]) -> list[Condition]:
    """Parse ``name LIKE 'churn%' AND tags.team = 'risk' AND version_number > 3``.

    Conditions are AND-combined; an error names the token it stopped at.
    """
    if text is None or not text.strip():
        return []
    tokens = _tokens(text)
    conditions: list[Condition] = []
    index = 0
    while True:
        condition, index = _condition(tokens, index, fields, text)
        conditions.append(condition)
        if index == len(tokens):
            return conditions
        kind, value, pos = tokens[index]
        if kind != "word" or value.upper() != "AND":
            raise InvalidInput(f"invalid filter at position {pos}: expected AND or end, found {value!r}")
        index += 1


def _condition(
    tokens: list[tuple[str, str, int]], index: int, fields: frozenset[str], text: str
) -> tuple[Condition, int]:
    def at(i: int) -> tuple[str, str, int]:
        if i >= len(tokens):
            raise InvalidInput(f"invalid filter at position {len(text)}: unexpected end of filter")
        return tokens[i]

    kind, word, pos = at(index)
    tag: str | None = None
    if kind == "tagkey":
        tag = word.split(".", 1)[1].strip('`"')
        field = "tags"
    elif kind == "word":
        field = FIELD_ALIASES.get(word.lower(), word.lower())
        if field not in fields:
            raise InvalidInput(
                f"invalid filter at position {pos}: unknown field {word!r}; "
                f"use {', '.join(sorted(fields))} or tags.<key>"
            )
    else:
        raise InvalidInput(f"invalid filter at position {pos}: expected a field, found {word!r}")
    op, index = _operator(tokens, index + 1, at)
    if op in ("IN", "NOT IN"):
        values, index = _value_list(tokens, index, at)
        return Condition(field, op, tuple(_typed(field, v, p) for v, p in values), tag), index
    vkind, raw, vpos = at(index)
    if vkind not in ("string", "number"):
        raise InvalidInput(f"invalid filter at position {vpos}: expected a quoted string or number, found {raw!r}")
    value = _typed(field, raw, vpos)
    if op in _STRING_ONLY_OPS and not isinstance(value, str):
        raise InvalidInput(f"invalid filter at position {vpos}: {op} needs a quoted string")
    return Condition(field, op, value, tag), index + 1


def _operator(tokens: list[tuple[str, str, int]], index: int, at: Any) -> tuple[str, int]:
    kind, word, pos = at(index)
    upper = word.upper()
    if kind == "op" and word in _OPS:
        return word, index + 1
    if kind == "op" and word == "<>":
        return "!=", index + 1
    if kind == "word" and upper in ("LIKE", "ILIKE", "IN"):
        return upper, index + 1
    if kind == "word" and upper == "NOT" and at(index + 1)[1].upper() == "IN":
        return "NOT IN", index + 2
    raise InvalidInput(f"invalid filter at position {pos}: expected an operator, found {word!r}")


def _value_list(tokens: list[tuple[str, str, int]], index: int, at: Any) -> tuple[list[tuple[str, int]], int]:
    kind, word, pos = at(index)
    if word != "(":
        raise InvalidInput(f"invalid filter at position {pos}: expected '(' after IN, found {word!r}")
    values, index = [], index + 1
    while True:
        vkind, raw, vpos = at(index)
        if vkind not in ("string", "number"):
            raise InvalidInput(f"invalid filter at position {vpos}: expected a value, found {raw!r}")
        values.append((raw, vpos))
        _, sep, spos = at(index + 1)
        index += 2
        if sep == ")":
            return values, index
        if sep != ",":
            raise InvalidInput(f"invalid filter at position {spos}: expected ',' or ')', found {sep!r}")


def _typed(field: str, raw: str, pos: int) -> str | int | float:
    if raw[0] in "'\"":
        value: str | int | float = _unquote(raw)
    else:
        value = float(raw) if any(c in raw for c in ".eE") else int(raw)
    if field in NUMERIC_FIELDS:
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(f"invalid filter at position {pos}: {field} needs a number, found {raw!r}") from None
    return value if isinstance(value, str) else str(value)
