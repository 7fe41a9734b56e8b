"""Masked examples: enough shape to recognise the kind, never the value itself.

Values of three characters or fewer become ``***``. E-mail: first letter of the local part
and of the domain, and the top-level domain (``j***@e***.com``). Digit-like values (phone,
card, ids, IBAN): every letter and digit a ``*`` except the last two digits (and an IBAN's
country). Dates: every letter and digit a ``*``. Words (names, addresses): the first
letter of each word, then ``***``. Whatever the kind, a result that would still contain the
value is ``***``.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def mask(kind: str, value: object) -> str:
    text = str(value)
    if len(text) <= 3:
        return "***"
    masked = _mask(kind, text)
    return "***" if text in masked else masked  # e.g. a value of punctuation only


def _mask(kind: str, text: str) -> str:
    if kind == "email" and "@" in text:
        return _mask_email(text)
    if kind in ("phone", "card_number", "national_id", "bank_account", "ip_address"):
        return _mask_digits(text, keep_prefix=2 if kind == "bank_account" else 0)
    if kind == "date_of_birth":
        return re.sub(r"\w", "*", text)
    return _mask_words(text)


def _mask_email(text: str) -> str:
    local, _, domain = text.rpartition("@")
    labels = domain.split(".")
    head = f"{local[:1]}***@{labels[0][:1]}***"
    return f"{head}.{labels[-1]}" if len(labels) > 1 else head


def _mask_digits(text: str, keep_prefix: int) -> str:
    positions = [index for index, char in enumerate(text) if char.isdigit()]
    kept = set(positions[-2:]) if len(positions) > 4 else set()
    kept |= set(range(keep_prefix))
    masked = "".join(
        char if index in kept or not char.isalnum() else "*" for index, char in enumerate(text)
    )
    return masked if masked != text else "*" * len(text)


def _mask_words(text: str) -> str:
    masked = _WORD.sub(lambda match: match.group()[0] + "***", text)
    return re.sub(r"\d", "*", masked)
