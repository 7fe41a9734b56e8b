"""Check digits, vectorised over a Series of digit strings.

Each function takes a Series of strings (already stripped of spaces and separators) and
returns a boolean Series on the same index: True where the value has the shape and a
correct check digit.

* Luhn (ISO/IEC 7812) for payment card numbers, with the issuer ranges of the big schemes;
* IBAN (ISO 13616): country length table and the mod-97 check;
* German Steuer-ID (IdNr, 11 digits): ISO 7064 MOD 11,10 check digit and the rule that in
  the first ten digits exactly one digit occurs twice or three times;
* French NIR (numero de securite sociale, 13 digits + 2-digit key): key = 97 - NIR mod 97,
  Corsica's 2A/2B counted as 19/18;
* US SSN and UK NINO have no check digit: their issuing rules (excluded areas and prefixes)
  are checked instead, in ``detectors``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelward.evaluation.personal_data import text

# ISO 13616 lengths of the IBAN countries most likely met; other countries: 15 to 34.
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
    "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
}


def digit_matrix(values: pd.Series, length: int) -> np.ndarray:
    """Rows of digits (uint8) of same-length ASCII digit strings."""
    if values.empty:
        return np.zeros((0, length), dtype=np.uint8)
    raw = "".join(values.tolist()).encode("ascii")
    return (np.frombuffer(raw, dtype=np.uint8) - 48).reshape(-1, length)


def _by_length(values: pd.Series, lengths: range | tuple[int, ...], check) -> pd.Series:
    """Apply ``check(matrix) -> bool array`` to the all-digit values, one length at a time."""
    result = pd.Series(False, index=values.index)
    digits_only = text.fullmatch(values, "[0-9]+")
    sizes = values.str.len()
    for length in lengths:
        chosen = digits_only & (sizes == length)
        if chosen.any():
            result[chosen] = check(digit_matrix(values[chosen], length))
    return result


def _luhn_ok(matrix: np.ndarray) -> np.ndarray:
    doubled = matrix[:, ::-1].astype(np.int16)
    odd = doubled[:, 1::2] * 2
    doubled[:, 1::2] = np.where(odd > 9, odd - 9, odd)
    return doubled.sum(axis=1) % 10 == 0


def _card_issuer_ok(matrix: np.ndarray) -> np.ndarray:
    wide = matrix.astype(np.int32)
    first = wide[:, 0]
    prefix4 = wide[:, 0] * 1000 + wide[:, 1] * 100 + wide[:, 2] * 10 + wide[:, 3]
    # Amex/Diners/JCB 3, Visa 4, Mastercard/Maestro 5, Discover/Maestro/UnionPay 6,
    # Mastercard 2221-2720, the old JCB 1800 and 2131, Laser/Maestro 0604
    return (
        ((first >= 3) & (first <= 6))
        | ((prefix4 >= 2221) & (prefix4 <= 2720))
        | np.isin(prefix4, (1800, 2131, 604))
    )


def luhn_card(values: pd.Series) -> pd.Series:
    return _by_length(values, range(12, 20), lambda m: _luhn_ok(m) & _card_issuer_ok(m))


def luhn_failed_card_shape(values: pd.Series) -> pd.Series:
    """12-19 digit values that fail Luhn: what order numbers look like (for tests, reports)."""
    shaped = _by_length(values, range(12, 20), lambda m: np.ones(len(m), dtype=bool))
    return shaped & ~luhn_card(values)


def _steuer_id_ok(matrix: np.ndarray) -> np.ndarray:
    product = np.full(len(matrix), 10, dtype=np.int16)
    for position in range(10):
        total = (matrix[:, position] + product) % 10
        total = np.where(total == 0, 10, total)
        product = (total * 2) % 11
    check = 11 - product
    check = np.where(check == 10, 0, check)
    counts = (matrix[:, :10, None] == np.arange(10)).sum(axis=1)
    repeated = (counts >= 2).sum(axis=1)
    return (
        (matrix[:, 0] != 0)
        & (check == matrix[:, 10])
        & (repeated == 1)
        & (counts.max(axis=1) <= 3)
    )


def steuer_id(values: pd.Series) -> pd.Series:
    return _by_length(values, (11,), _steuer_id_ok)


def fr_nir(values: pd.Series) -> pd.Series:
    upper = values.str.upper()
    shaped = text.fullmatch(upper, "[1-478][0-9]{2}(?:0[1-9]|1[0-2]|[2-9][0-9])(?:[0-9]{2}|2[AB])[0-9]{8}")
    result = pd.Series(False, index=values.index)
    if shaped.any():
        chosen = upper[shaped]
        body = chosen.str[:13].str.replace("2A", "19", regex=False).str.replace("2B", "18", regex=False)
        body_numbers = body.astype("int64").to_numpy()
        keys = chosen.str[13:].astype("int64").to_numpy()
        result[shaped] = (97 - body_numbers % 97) == keys
    return result


_LETTERS_AS_NUMBERS = str.maketrans({chr(ord("A") + i): str(10 + i) for i in range(26)})


def _iban_mod97(value: str) -> bool:
    rearranged = value[4:] + value[:4]
    return int(rearranged.translate(_LETTERS_AS_NUMBERS)) % 97 == 1


def iban(values: pd.Series) -> pd.Series:
    upper = values.str.upper()
    shaped = text.fullmatch(upper, "[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
    result = pd.Series(False, index=values.index)
    candidates = upper[shaped]
    if len(candidates):
        result[candidates.index] = np.array([
            IBAN_LENGTHS.get(value[:2], len(value)) == len(value) and _iban_mod97(value)
            for value in candidates
        ], dtype=bool)
    return result
