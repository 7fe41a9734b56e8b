"""What a column's name says: multilingual patterns (English, German, French) per kind.

A name is cut into lower-case ASCII tokens (``customerEMail`` -> ``customer_email``,
``Straße`` -> ``strasse``, ``prénom`` -> ``prenom``); a pattern must cover the whole name,
give or take qualifier tokens around it (``billing_``, ``_2``, ``_number`` ...), so
``email`` and ``customer_email_2`` hint at an e-mail and ``email_verified`` does not.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

NUMBER = r"(?:no|nr|num|number|nummer|numero)"
QUALIFIER = (
    r"(?:customer|cust|client|contact|user|person|personal|patient|employee|emp|member|holder|"
    r"owner|billing|shipping|delivery|home|work|private|privat|business|primary|secondary|alt|"
    r"main|kunde|kunden|raw|clean|hashed|registered|verified_?by|current|previous|the|my|"
    r"du|de|la|le|des|\d+)"
)


@dataclass(frozen=True)
class NameHint:
    kind: str
    scheme: str | None
    confidence: float


# (kind, scheme, confidence of the name alone, pattern of the core tokens)
_PATTERNS: list[tuple[str, str | None, float, str]] = [
    ("email", None, 0.7,
     (r"e_?mail(?:_?addr(?:ess)?|_?adresse)?|mail_?(?:addr(?:ess)?|adresse)|courriel"
     r"|adresse_?(?:e_?)?mail|mail")),
    ("phone", None, 0.7,
     (rf"(?:tele)?phone(?:_?{NUMBER})?|tel(?:efon)?(?:_?{NUMBER})?|telefonnummer|rufnummer"
     rf"|mobil(?:e|nummer)?(?:_?phone)?(?:_?{NUMBER})?|cell(?:_?phone)?(?:_?{NUMBER})?"
     rf"|handy(?:_?nummer)?|portable|fax(?:_?{NUMBER})?|msisdn|{NUMBER}_?(?:de_?)?tel(?:ephone)?")),
    ("person_name", None, 0.65,
     (r"(?:first|last|given|family|middle|maiden|full|sur|fore|nick|display|real|birth)_?name"
     r"|surname|forename|vorname|nachname|familienname|geburtsname|prenom|nom_?(?:de_?)?famille"
     r"|nom_?complet|nom|(?:customer|client|contact|user|person|patient|employee|member|holder"
     r"|owner|account_?holder|card_?holder|kunden?|recipient|sender|passenger)_?name")),
    ("person_name", None, 0.5, r"name"),
    ("address", None, 0.65,
     (r"(?:street|postal|mailing|residential|home|billing|shipping|delivery)?_?addr(?:ess)?"
     r"(?:_?line)?(?:_?\d)?|street(?:_?(?:name|address|line))?|strasse|anschrift|adresse"
     r"|wohnadresse|wohnort_?adresse|rue|voie")),
    ("date_of_birth", None, 0.7,
     (r"dob|d_o_b|birth_?(?:date|day)?|date_?of_?birth|birthdate|birthday|geburtsdatum"
     r"|geburtstag|geb_?datum|date_?(?:de_?)?naissance|naissance|born(?:_?on)?")),
    ("national_id", "us_ssn", 0.75,
     rf"ssn|social_?security(?:_?{NUMBER})?|soc_?sec(?:_?{NUMBER})?"),
    ("national_id", "uk_nino", 0.75,
     rf"nino|ni_?{NUMBER}|national_?insurance(?:_?{NUMBER})?"),
    ("national_id", "de_steuer_id", 0.75,
     r"steuer_?id(?:entifikationsnummer)?|steuer_?identifikationsnummer|idnr|steuernummer"),
    ("national_id", "fr_nir", 0.75,
     rf"nir|insee|{NUMBER}?_?(?:de_?)?secu(?:rite_?sociale)?|securite_?sociale|num_?ss"),
    ("national_id", None, 0.7,
     (rf"national_?id(?:_?{NUMBER})?|passport(?:_?{NUMBER})?|id_?card(?:_?{NUMBER})?"
     rf"|personalausweis(?:_?nummer)?|ausweis(?:_?nummer)?|tax_?id|tin|carte_?d_?identite|cni")),
    ("card_number", None, 0.75,
     (rf"(?:credit_?|debit_?|bank_?|payment_?)?card_?{NUMBER}|credit_?card|debit_?card"
     rf"|cc(?:_?{NUMBER})?|ccn|pan|kreditkarten?(?:_?nummer)?|karten_?nummer"
     r"|carte_?(?:bancaire|bleue|de_?credit)|numero_?de_?carte")),
    ("bank_account", "iban", 0.75,
     rf"iban|bank_?account(?:_?{NUMBER})?|account_?{NUMBER}|konto(?:_?nummer)?|kontonummer|rib"),
    ("ip_address", None, 0.7,
     (r"ip|ip_?addr(?:ess)?|ipv[46](?:_?addr(?:ess)?)?|(?:client|remote|source|src|user|host"
     r"|origin)_?ip(?:_?addr(?:ess)?)?|remote_?addr")),
]

_COMPILED = [
    (kind, scheme, confidence,
     re.compile(rf"^(?:{QUALIFIER}_)*(?:{core})(?:_(?:{QUALIFIER}|{NUMBER}))*$"))
    for kind, scheme, confidence, core in _PATTERNS
]


def normalise(column: object) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(column)).replace("ß", "ss")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def name_hints(column: object) -> list[NameHint]:
    """The kinds a column's name points at, at most one per (kind, scheme), best first."""
    tokens = normalise(column)
    hints: dict[tuple[str, str | None], NameHint] = {}
    for kind, scheme, confidence, pattern in _COMPILED:
        if (kind, scheme) not in hints and pattern.match(tokens):
            hints[(kind, scheme)] = NameHint(kind, scheme, confidence)
    return sorted(hints.values(), key=lambda hint: -hint.confidence)
