"""Content detectors: which sampled values of a column look like each kind of personal data.

Every detector takes the sampled non-null values as strings (a Series with a 0..n-1 index)
and returns a ``Match``: a boolean mask of the accepted values and, where only part of the
candidates were validated one by one (phone numbers, IPv6), the estimated share. The scan
runs them strongest first and removes the values one detector accepted from the next ones,
so an IBAN is not also a phone number. Everything but the two capped loops is a pandas
``.str`` operation on the whole sample.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from modelward.evaluation.personal_data import checks, text
from modelward.evaluation.personal_data.locale_data import PARTICLES

# The patterns avoid lookarounds, \s, \w, \d and a $ in multi-line values, so pandas runs
# them in pyarrow's RE2 (linear time, no Python call per value) instead of Python's re.
EMAIL = (
    "[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    "(?:[.][A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*[.][A-Za-z]{2,24}"
)
US_SSN = "[0-8][0-9]{2}[- ][0-9]{2}[- ][0-9]{4}"   # then: area not 000/666, group 00, serial 0000
# HMRC: first letter not D F I Q U V, second not D F I O Q U V, suffix A-D; the prefixes in
# NINO_NEVER_ISSUED are excluded after the match.
UK_NINO = "[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]"
NINO_NEVER_ISSUED = ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")
OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"(?:{OCTET}[.]){{3}}{OCTET}"
DATE_LIKE = (
    "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[T ][0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
    "|[0-9]{1,2}[./-][0-9]{1,2}[./-][0-9]{2,4}|[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}"
)
PHONE_SHAPE = (
    r"[+]?[0-9 \t().\-/]{6,24}(?:[ \t]*(?:x|ext[.]?|extension|#)[ \t]*[0-9]{1,6})?"
)
SEPARATORS = r"[ \t\n\-./()]"
NAME_SEPARATORS = r"[ \t\n\-]+"
SHORT_VALUE = 45         # longer values are no id, number or name
PHONE_CHECKS = 500       # phone numbers validated one by one per column, at most
IPV6_CHECKS = 2_000


@dataclass
class Match:
    accepted: pd.Series                  # bool, on the index of the values passed in
    share: float | None = None           # estimated share when not every candidate was checked
    strength: float = 1.0                # how much an accepted value means (0..1)


class Prepared:
    """A column's sampled strings and what several detectors derive from them, computed once."""

    def __init__(self, values: pd.Series) -> None:
        self.values = values
        self.short = values.str.len() <= SHORT_VALUE

    @cached_property
    def compact(self) -> pd.Series:
        """Short values without spaces and separators; long ones empty (they match nothing)."""
        compacted = pd.Series("", index=self.values.index, dtype=self.values.dtype)
        compacted[self.short] = text.replace(self.values[self.short], SEPARATORS, "")
        return compacted

    def compact_of(self, values: pd.Series) -> pd.Series:
        return self.compact.loc[values.index]


_flag = text.fullmatch


def email(values: pd.Series, prepared: Prepared, context) -> Match:
    return Match(_flag(values, EMAIL), strength=0.97)


def iban(values: pd.Series, prepared: Prepared, context) -> Match:
    return Match(checks.iban(prepared.compact_of(values)), strength=0.99)


def fr_nir(values: pd.Series, prepared: Prepared, context) -> Match:
    return Match(checks.fr_nir(prepared.compact_of(values)), strength=0.95)


def de_steuer_id(values: pd.Series, prepared: Prepared, context) -> Match:
    return Match(checks.steuer_id(prepared.compact_of(values)), strength=0.9)


def card_number(values: pd.Series, prepared: Prepared, context) -> Match:
    return Match(checks.luhn_card(prepared.compact_of(values)), strength=0.95)


def us_ssn(values: pd.Series, prepared: Prepared, context) -> Match:
    shaped = _flag(values, US_SSN)
    if shaped.any():
        area, group, serial = values.str[:3], values.str[4:6], values.str[7:]
        shaped &= ~area.isin(("000", "666")) & (group != "00") & (serial != "0000")
    return Match(shaped.fillna(False).astype(bool), strength=0.9)


def uk_nino(values: pd.Series, prepared: Prepared, context) -> Match:
    upper = values.str.upper()
    shaped = _flag(upper, UK_NINO)
    if shaped.any():
        shaped &= ~upper.str[:2].isin(NINO_NEVER_ISSUED)
    return Match(shaped.fillna(False).astype(bool), strength=0.95)


def ip_address(values: pd.Series, prepared: Prepared, context) -> Match:
    accepted = _flag(values, IPV4)
    v6 = _flag(values, "[0-9A-Fa-f:.]{2,45}") & (text.count(values, ":") >= 2)
    candidates = values[v6 & ~accepted].iloc[:IPV6_CHECKS]
    if len(candidates):
        accepted[candidates.index] = np.array([_is_ipv6(value) for value in candidates], dtype=bool)
    return Match(accepted, strength=0.9)


def _is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def date_like(values: pd.Series) -> pd.Series:
    return _flag(values, DATE_LIKE)


def phone(values: pd.Series, prepared: Prepared, context) -> Match:
    """Phone numbers the ``phonenumbers`` library can place in one of the locales' regions.

    A candidate has the shape of a phone number and 7 to 18 digits; at most PHONE_CHECKS of
    them are parsed, and the share of those that are possible numbers (the right length for
    the region) scales the candidates' share. Valid numbers (a known range) add strength.
    """
    import phonenumbers

    shaped = _flag(values, PHONE_SHAPE)
    candidates = shaped & text.count(values, "[0-9]").between(7, 18) & ~date_like(values)
    accepted = pd.Series(False, index=values.index)
    checked = values[candidates].iloc[:PHONE_CHECKS]
    if checked.empty:
        return Match(accepted, share=0.0)
    numbers = [_parse_phone(phonenumbers, value, context.regions) for value in checked]
    accepted[checked.index] = np.array([number is not None for number in numbers], dtype=bool)
    possible = sum(number is not None for number in numbers)
    valid = sum(phonenumbers.is_valid_number(number) for number in numbers if number is not None)
    if possible * 2 >= len(checked):  # the unchecked rest is taken to be like the checked part
        unchecked = candidates.copy()
        unchecked[checked.index] = False
        accepted |= unchecked
    share = float(candidates.mean()) * possible / len(checked)
    valid_share = valid / possible if possible else 0.0
    return Match(accepted, share=share, strength=0.75 + 0.2 * valid_share)


def _parse_phone(phonenumbers, value: str, regions: tuple[str, ...]):
    for region in (None,) if value.startswith("+") else regions:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return number
    return None


def address(values: pd.Series, prepared: Prepared, context) -> Match:
    # The street patterns end a street at a space, a comma or a line end: a final "\n" gives
    # every value a line end to match without "$" (which would send pandas back to Python's re).
    lines = values + "\n"
    accepted = pd.Series(False, index=values.index)
    for pattern in context.street_patterns:
        remaining = ~accepted
        if not remaining.any():
            break
        accepted[remaining] = text.contains(lines[remaining], pattern)
    return Match(accepted.astype(bool), strength=0.85)


def person_name(values: pd.Series, prepared: Prepared, context) -> Match:
    """Values of one to six words, each capitalised (or a title or particle), at least half of
    the name words in the locales' first- or last-name lists; and enough distinct ones that a
    column of colours ("Brown", "White") is not a column of surnames."""
    accepted = pd.Series(False, index=values.index)
    gate = (
        prepared.short.loc[values.index]
        & ~text.contains(values, "[0-9@/:;!?()_=+<>#%&*]")
        & (text.count(values, " ") <= 5)
    )
    candidates = values[gate]
    if candidates.empty:
        return Match(accepted, strength=0.85)
    words = candidates.str.split(NAME_SEPARATORS, regex=True)
    count = words.str.len()
    word = words.explode()
    bare = word.str.replace("[.'’]", "", regex=True)
    lower = bare.str.lower()
    titled = text.is_in(lower, context.titles | PARTICLES)
    shaped = (bare.str.isalpha().fillna(False) & bare.str[:1].str.isupper().fillna(False)) | titled
    known = text.is_in(lower, context.names) & ~titled
    per_value = pd.DataFrame({"shaped": shaped, "core": ~titled, "known": known}).groupby(level=0).sum()
    per_value = per_value.reindex(candidates.index, fill_value=0)
    named = (
        (per_value["shaped"] == count) & (count <= 6) & (per_value["known"] >= 1)
        & (per_value["known"] * 2 >= per_value["core"])
    )
    accepted[named[named].index] = True
    distinct = values[accepted].nunique()
    if distinct < min(50, 0.5 * int(accepted.sum())):
        accepted[:] = False
    return Match(accepted, strength=0.85)


Detector = Callable[[pd.Series, Prepared, object], Match]

# Strongest first: checksums, then fixed formats, then the looser shapes.
STRING_DETECTORS: list[tuple[str, str | None, Detector]] = [
    ("email", None, email),
    ("bank_account", "iban", iban),
    ("national_id", "fr_nir", fr_nir),
    ("national_id", "de_steuer_id", de_steuer_id),
    ("card_number", None, card_number),
    ("national_id", "us_ssn", us_ssn),
    ("national_id", "uk_nino", uk_nino),
    ("ip_address", None, ip_address),
    ("phone", None, phone),
    ("address", None, address),
    ("person_name", None, person_name),
]
INTEGER_DETECTORS: list[tuple[str, str | None, Detector]] = [
    ("national_id", "fr_nir", fr_nir),
    ("national_id", "de_steuer_id", de_steuer_id),
    ("card_number", None, card_number),
]
