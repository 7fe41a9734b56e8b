"""The run search language: a tokenizer, a recursive-descent parser and a printer.

Grammar (keywords are case-insensitive; NOT binds tighter than AND, AND tighter than OR):

    filter     := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | "(" or_expr ")" | comparison
    comparison := field ("=" | "!=" | "<" | "<=" | ">" | ">=" | "LIKE" | "ILIKE") value
                | field ["NOT"] "IN" "(" value ("," value)* ")"
                | field "IS" ["NOT"] "NULL"
    field      := kind "." key | attribute
    kind       := metrics | params | tags | attributes   (or metric, param, tag, attribute)
    key        := [A-Za-z0-9_.:/-]+ | `quoted` | "quoted"
    value      := number | 'string' | "string"          (escape with \\ or a doubled quote)
    order_item := field ["ASC" | "DESC"]

The parser also checks types, so a filter that parses can always be compiled.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias

from modelward.errors import InvalidInput

Kind: TypeAlias = Literal["metrics", "params", "tags", "attributes"]
Value: TypeAlias = int | float | str


@dataclass(frozen=True)
class Field:
    kind: Kind
    key: str


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str
    value: Value | tuple[Value, ...] | None = None


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr: TypeAlias = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderKey:
    field: Field
    descending: bool = False


KINDS: dict[str, Kind] = {
    "metric": "metrics", "metrics": "metrics", "param": "params", "params": "params",
    "tag": "tags", "tags": "tags", "attribute": "attributes", "attributes": "attributes",
}  # fmt: skip
ATTRIBUTES = frozenset(
    {"id", "name", "status", "start_time", "end_time", "user", "experiment_id", "parent_run_id",
     "lifecycle", "pipeline_run_id", "trigger_type", "process_type", "step_name"}
)  # fmt: skip
ATTRIBUTE_ALIASES = {
    "run_id": "id", "run_name": "name", "user_id": "user", "lifecycle_stage": "lifecycle",
}  # fmt: skip
TIME_ATTRIBUTES = frozenset({"start_time", "end_time"})


@dataclass(frozen=True)
class Vocabulary:
    """The attributes a filter may name (runs by default; experiments below)."""

    attributes: frozenset[str]
    aliases: dict[str, str]
    times: frozenset[str]


RUNS = Vocabulary(ATTRIBUTES, ATTRIBUTE_ALIASES, TIME_ATTRIBUTES)
EXPERIMENTS = Vocabulary(
    frozenset({"name", "experiment_id", "creation_time", "last_update_time", "lifecycle"}),
    {"id": "experiment_id", "lifecycle_stage": "lifecycle"},
    frozenset({"creation_time", "last_update_time"}),
)  # MLflow's experiment search: name, creation_time, last_update_time, tags.<key>

_ORDER_OPS = ("=", "!=", "<", "<=", ">", ">=")
_SET_OPS = ("IN", "NOT IN")
_NULL_OPS = ("IS NULL", "IS NOT NULL")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", *_SET_OPS, *_NULL_OPS)
_METRIC_OPS = (*_ORDER_OPS, *_SET_OPS, *_NULL_OPS)
_TIME_OPS = (*_ORDER_OPS, *_NULL_OPS)

_WORD_START = frozenset(string.ascii_letters + "_")
_WORD = _WORD_START | frozenset(string.digits)
_KEY = _WORD | frozenset(".-/:")
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "ASC", "DESC"})
_SYMBOLS = ("<=", ">=", "!=", "=", "<", ">", "(", ")", ",")  # longest first
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Each "(" or NOT costs a few Python frames; refuse before RecursionError can happen.
_MAX_DEPTH = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_filter(text: str | None, vocabulary: Vocabulary = RUNS) -> Expr | None:
    """Parse a filter such as ``metrics.acc > 0.9 and tags.team = 'nlp'``; None if blank."""
    if text is None or not text.strip():
        return None
    parser = _Parser(text, "Invalid filter", vocabulary)
    expr = parser.or_expr()
    parser.expect_end("AND, OR or end of filter")
    return expr


def parse_order_by(items: list[str] | None, vocabulary: Vocabulary = RUNS) -> list[OrderKey]:
    """Parse order clauses such as ``["metrics.m1 DESC", "start_time"]``."""
    return [_parse_order_item(item, vocabulary) for item in items or []]


def _parse_order_item(item: str, vocabulary: Vocabulary) -> OrderKey:
    parser = _Parser(item, f"Invalid order_by {item!r}", vocabulary)
    field = parser.field()
    descending = False
    if parser.at_keyword("ASC", "DESC"):
        descending = parser.advance().value == "DESC"
    parser.expect_end("ASC, DESC or end of order_by")
    return OrderKey(field, descending)


def as_utc_datetime(value: Value) -> datetime:
    """Epoch milliseconds or an ISO 8601 string as an aware UTC datetime (naive means UTC).

    Raises ValueError or OverflowError for text that is no datetime or out of range.
    """
    if isinstance(value, str):
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return _EPOCH + timedelta(milliseconds=value)


def format_filter(expr: Expr) -> str:
    """Print ``expr`` as filter text that parses back to an equal expression."""
    if isinstance(expr, Comparison):
        return _format_comparison(expr)
    if isinstance(expr, Not):
        return f"NOT {_format_operand(expr.item)}"
    joiner = " AND " if isinstance(expr, And) else " OR "
    return joiner.join(_format_operand(item) for item in expr.items)


def format_field(field: Field) -> str:
    key = field.key
    if not key or any(c not in _KEY for c in key):
        key = "`" + key.replace("\\", "\\\\").replace("`", "\\`") + "`"
    return f"{field.kind}.{key}"


def _format_operand(expr: Expr) -> str:
    return f"({format_filter(expr)})" if isinstance(expr, And | Or) else format_filter(expr)


def _format_comparison(cmp: Comparison) -> str:
    field = format_field(cmp.field)
    if cmp.value is None:
        return f"{field} {cmp.op}"
    if isinstance(cmp.value, tuple):
        return f"{field} {cmp.op} ({', '.join(_format_value(v) for v in cmp.value)})"
    return f"{field} {cmp.op} {_format_value(cmp.value)}"


def _format_value(value: Value) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


@dataclass(frozen=True)
class _Token:
    kind: str  # "ident", "keyword", "string", "number", "symbol" or "end"
    pos: int
    text: str  # the source text, quoted in error messages
    value: Value = ""  # keyword upper-cased, symbol, string contents, number, or key
    prefix: str | None = None  # for identifiers: the part before the first dot

    def describe(self) -> str:
        return "end of input" if self.kind == "end" else repr(self.text)


class _Parser:
    def __init__(self, text: str, heading: str, vocabulary: Vocabulary = RUNS) -> None:
        self.text = text
        self.heading = heading
        self.vocabulary = vocabulary
        self.tokens = self._tokenize()
        self.index = 0
        self.depth = 0

    def error(self, pos: int, detail: str) -> InvalidInput:
        return InvalidInput(f"{self.heading} at position {pos}: {detail}")

    # -- tokens ---------------------------------------------------------------

    def _tokenize(self) -> list[_Token]:
        tokens: list[_Token] = []
        pos = 0
        while True:
            while pos < len(self.text) and self.text[pos].isspace():
                pos += 1
            if pos == len(self.text):
                tokens.append(_Token("end", pos, ""))
                return tokens
            token = self._token_at(pos)
            tokens.append(token)
            pos += len(token.text)

    def _token_at(self, pos: int) -> _Token:
        char = self.text[pos]
        if char in "'\"":
            value, end = self._quoted(pos)
            return _Token("string", pos, self.text[pos:end], value)
        number = _NUMBER.match(self.text, pos)
        if number:
            return self._number(number.group(), pos)
        if char in _WORD_START:
            return self._word(pos)
        for symbol in _SYMBOLS:
            if self.text.startswith(symbol, pos):
                return _Token("symbol", pos, symbol, symbol)
        raise self.error(pos, f"unexpected character {char!r}")

    def _quoted(self, start: int) -> tuple[str, int]:
        """Read a quoted string or key at ``start``; return its contents and end."""
        quote, pos, chars = self.text[start], start + 1, []
        while pos < len(self.text):
            char = self.text[pos]
            if char == "\\" and pos + 1 < len(self.text):
                chars.append(self.text[pos + 1])
                pos += 2
            elif char == quote and self.text.startswith(quote * 2, pos):
                chars.append(quote)
                pos += 2
            elif char == quote:
                return "".join(chars), pos + 1
            elif char == "\x00":
                raise self.error(pos, "NUL characters are not allowed")
            else:
                chars.append(char)
                pos += 1
        raise self.error(start, "unterminated string")

    def _number(self, text: str, pos: int) -> _Token:
        end = pos + len(text)
        if end < len(self.text) and self.text[end] in _WORD | {"."}:
            raise self.error(pos, f"malformed number {self.text[pos : end + 1]!r}")
        try:
            value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
            finite = math.isfinite(float(value))
        except (ValueError, OverflowError):
            finite = False
        if not finite:
            raise self.error(pos, f"number {text!r} is out of range")
        return _Token("number", pos, text, value)

    def _word(self, pos: int) -> _Token:
        end = pos
        while end < len(self.text) and self.text[end] in _WORD:
            end += 1
        word = self.text[pos:end]
        if not self.text.startswith(".", end):
            if word.upper() in _KEYWORDS:
                return _Token("keyword", pos, word, word.upper())
            return _Token("ident", pos, word, word)
        key_pos = end + 1
        if key_pos < len(self.text) and self.text[key_pos] in "`\"":
            key, end = self._quoted(key_pos)
        else:
            end = key_pos
            while end < len(self.text) and self.text[end] in _KEY:
                end += 1
            key = self.text[key_pos:end]
        if not key:
            raise self.error(key_pos, f"expected a key after '{word}.'")
        return _Token("ident", pos, self.text[pos:end], key, prefix=word)

    # -- grammar --------------------------------------------------------------

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "keyword" and token.value in words

    def at_symbol(self, symbol: str) -> bool:
        token = self.peek()
        return token.kind == "symbol" and token.value == symbol

    def expect(self, kind: str, value: str | None, expected: str) -> _Token:
        """Consume the next token if it is a ``kind`` (of ``value``); else fail naming it."""
        token = self.advance()
        if token.kind != kind or value not in (None, token.value):
            raise self.error(token.pos, f"expected {expected}, found {token.describe()}")
        return token

    def expect_end(self, expected: str) -> None:
        self.expect("end", None, expected)

    def nest(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(token.pos, f"nested more than {_MAX_DEPTH} levels deep")

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.at_keyword("OR"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.at_keyword("AND"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Expr:
        if self.at_keyword("NOT"):
            self.nest(self.advance())
            expr: Expr = Not(self.not_expr())
        elif self.at_symbol("("):
            opening = self.advance()
            self.nest(opening)
            expr = self.or_expr()
            self.expect("symbol", ")", f"')' to close '(' at position {opening.pos}")
        else:
            return self.comparison()
        self.depth -= 1
        return expr

    def field(self) -> Field:
        token = self.expect("ident", None, "a field such as metrics.accuracy or tags.team")
        key = str(token.value)
        if token.prefix is None:
            return Field("attributes", self._attribute(key, token.pos))
        kind = KINDS.get(token.prefix.lower())
        if kind is None:
            detail = f"unknown field type '{token.prefix}'; use metrics, params, tags or attributes"
            raise self.error(token.pos, detail)
        if kind == "attributes":
            key = self._attribute(key, token.pos)
        return Field(kind, key)

    def _attribute(self, name: str, pos: int) -> str:
        canonical = self.vocabulary.aliases.get(name.lower(), name.lower())
        if canonical not in self.vocabulary.attributes:
            raise self.error(pos, f"unknown attribute '{name}'")
        return canonical

    def comparison(self) -> Comparison:
        field_token = self.peek()
        field = self.field()
        op_token = self.peek()
        op = self.operator(field_token)
        ops, wanted = _rules(field, self.vocabulary)
        if op not in ops:
            detail = f"operator {op} does not apply to '{field_token.text}'; use {', '.join(ops)}"
            raise self.error(op_token.pos, detail)
        if op in _NULL_OPS:
            return Comparison(field, op)
        values = self.value_list(op_token) if op in _SET_OPS else [self.value(op_token)]
        for token in values:
            self._check_value(field, field_token, op, token, wanted)
        if op in _SET_OPS:
            return Comparison(field, op, tuple(v.value for v in values))
        return Comparison(field, op, values[0].value)

    def operator(self, field_token: _Token) -> str:
        token = self.advance()
        if token.kind == "symbol" and token.value in _ORDER_OPS:
            return str(token.value)
        if token.kind == "keyword" and token.value in ("LIKE", "ILIKE", "IN"):
            return str(token.value)
        if token.kind == "keyword" and token.value == "NOT":
            self.expect("keyword", "IN", "IN after 'NOT'")
            return "NOT IN"
        if token.kind == "keyword" and token.value == "IS":
            negated = self.at_keyword("NOT")
            if negated:
                self.advance()
            self.expect("keyword", "NULL", "NULL after 'IS'")
            return "IS NOT NULL" if negated else "IS NULL"
        detail = f"expected an operator after '{field_token.text}', found {token.describe()}"
        raise self.error(token.pos, detail)

    def value(self, after: _Token) -> _Token:
        token = self.advance()
        if token.kind not in ("string", "number"):
            detail = f"expected a value after '{after.text}', found {token.describe()}"
            raise self.error(token.pos, detail)
        return token

    def value_list(self, op_token: _Token) -> list[_Token]:
        opening = self.expect("symbol", "(", f"'(' after '{op_token.text}'")
        values = [self.value(opening)]
        while self.at_symbol(","):
            values.append(self.value(self.advance()))
        self.expect("symbol", ")", "',' or ')' in the list")
        return values

    def _check_value(
        self, field: Field, field_token: _Token, op: str, token: _Token, wanted: str
    ) -> None:
        if token.kind != wanted and wanted != "any":
            needed = "a number" if wanted == "number" else "a quoted string"
            detail = f"'{field_token.text}' needs {needed}, found {token.describe()}"
            raise self.error(token.pos, detail)
        if field.kind == "attributes" and field.key in self.vocabulary.times:
            self._check_time(token)
        if op in ("LIKE", "ILIKE") and _ends_with_escape(str(token.value)):
            raise self.error(token.pos, "a LIKE pattern must not end with a lone backslash")

    def _check_time(self, token: _Token) -> None:
        try:
            as_utc_datetime(token.value)
        except (ValueError, OverflowError):
            detail = f"expected epoch milliseconds or an ISO 8601 datetime, found {token.text}"
            raise self.error(token.pos, detail) from None


def _rules(field: Field, vocabulary: Vocabulary = RUNS) -> tuple[tuple[str, ...], str]:
    """The operators a field accepts and the kind of value token it compares with."""
    if field.kind == "metrics":
        return _METRIC_OPS, "number"
    if field.kind == "attributes" and field.key in vocabulary.times:
        return _TIME_OPS, "any"  # epoch milliseconds or an ISO 8601 string
    return _STRING_OPS, "string"


def _ends_with_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


__all__ = [
    "EXPERIMENTS", "RUNS", "And", "Comparison", "Expr", "Field", "Not", "Or", "OrderKey", "Vocabulary",
    "as_utc_datetime",
    "format_field", "format_filter", "parse_filter", "parse_order_by",
]  # fmt: skip
