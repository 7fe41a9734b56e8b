"""Personal data in tables: find it (``scan``), then keep it out (``protect``).

    result = scan(frame, locales=("en_US", "de_DE"))
    result.findings            # per column: kind, scheme, evidence, confidence, masked examples
    result.model_dump(mode="json")
    safe = protect(frame, {"email": "hash", "notes": "drop"}, secret=key)

``scan`` reads a bounded, seeded sample of each column (10,000 non-null values by default)
and looks at three things: the column's name (multilingual patterns), its type (dates that
could be birth dates) and its content (validated detectors: e-mail, phone numbers with
``phonenumbers``, card numbers with Luhn, IBAN with mod 97, national ids with their check
digits or issuing rules, names against Faker's per-locale name lists, street patterns per
language, IP addresses). Pure computation: no store, no network.
"""

from __future__ import annotations

from modelward.evaluation.personal_data.protect import (
    ProtectionRules,
    protect,
    protection_rules,
    rules_from_scan,
)
from modelward.evaluation.personal_data.results import Finding, ScanResult, ScanSummary
from modelward.evaluation.personal_data.scan import scan

__all__ = [
    "Finding",
    "ProtectionRules",
    "ScanResult",
    "ScanSummary",
    "protect",
    "protection_rules",
    "rules_from_scan",
    "scan",
]
