"""Per-locale reference data: name lists, street patterns, phone regions.

Name lists come from Faker's person providers (MIT licensed; the lists are data, read once
per locale and kept): first names, last names, and the titles around them ("Dr.",
"Dipl.-Ing.", "MBA."). Street patterns are ours per language, with Faker's street
suffixes for the English ones. Phone regions are the locale's country (``de_DE`` -> DE).
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache

from modelward.errors import InvalidInput

DEFAULT_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR")

# Lower-case words that may stand between the capitalised parts of a name.
PARTICLES = frozenset({
    "von", "van", "der", "den", "de", "del", "della", "di", "da", "du", "des", "la", "le",
    "zu", "zum", "und", "ter", "ten", "y", "bin", "al", "el", "st",
})
TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lord", "lady", "jr", "sr",
    "ii", "iii", "iv", "v", "md", "phd", "dds", "dvm", "herr", "frau", "ing", "dipl", "univ",
    "bsc", "ba", "beng", "mba", "msc", "ma", "m", "mme", "mlle", "monsieur", "madame", "ind",
    "misc",
})

_GERMAN_STREETS = (
    r"stra(?:ß|ss)e|str\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|pfad|markt"
    r"|hof|berg|graben|kamp|zeile|promenade|wall|brücke|bruecke|park|zentrum"
)
_FRENCH_STREETS = (
    r"rue|avenue|av\.|boulevard|bd|chemin|allée|allee|impasse|place|quai|route|cours|square"
    r"|passage|voie|sentier|rond-point|esplanade|faubourg|résidence|residence|hameau|lieu-dit"
)
_ENGLISH_STREETS_EXTRA = (
    "St", "St.", "Rd", "Rd.", "Ave", "Ave.", "Blvd", "Blvd.", "Ln", "Dr", "Dr.", "Ct", "Pl",
    "Sq", "Ter", "Pkwy", "Hwy", "Close", "Crescent", "Gardens", "Grove", "Mews", "Row",
    "Walk", "Yard", "Wharf", "Lane", "Road", "Street", "Avenue", "Drive", "Court", "Place",
)


def _provider(kind: str, locale: str):
    try:
        return importlib.import_module(f"faker.providers.{kind}.{locale}").Provider
    except ModuleNotFoundError:
        return None


def check_locales(locales: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if isinstance(locales, str) or not locales:
        raise InvalidInput("locales must be a non-empty list such as ['en_US', 'de_DE']")
    for locale in locales:
        if not isinstance(locale, str) or not re.fullmatch(r"[a-z]{2,3}_[A-Z]{2}", locale):
            raise InvalidInput(f"locale {locale!r} is not of the form 'en_US'")
        if _provider("person", locale) is None:
            raise InvalidInput(f"locale {locale!r} has no name list (Faker has no such locale)")
    return tuple(dict.fromkeys(locales))


def _names(values) -> set[str]:
    return {str(value).lower() for value in values} if values else set()


@lru_cache(maxsize=64)
def known_names(locale: str) -> frozenset[str]:
    """First and last names of a locale, lower-case."""
    provider = _provider("person", locale)
    found: set[str] = set()
    for attribute in ("first_names", "first_names_male", "first_names_female",
                      "first_names_nonbinary", "last_names"):
        found |= _names(getattr(provider, attribute, None))
    return frozenset(found)


@lru_cache(maxsize=64)
def known_titles(locale: str) -> frozenset[str]:
    provider = _provider("person", locale)
    found = set(TITLES)
    for attribute in dir(provider):
        if attribute.startswith(("prefixes", "suffixes")):
            for title in getattr(provider, attribute) or ():
                for part in re.split(r"[\s\-]+", str(title)):
                    found.add(part.replace(".", "").lower())
    return frozenset(word for word in found if word)


@lru_cache(maxsize=32)
def names_and_titles(locales: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    names: set[str] = set()
    titles: set[str] = set()
    for locale in locales:
        names |= known_names(locale)
        titles |= known_titles(locale)
    return frozenset(names - PARTICLES - titles), frozenset(titles)


def phone_regions(locales: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(locale.split("_")[1] for locale in locales))


def _english_suffixes(locale: str) -> set[str]:
    provider = _provider("address", locale)
    return {str(suffix) for suffix in getattr(provider, "street_suffixes", ()) or ()}


@lru_cache(maxsize=32)
def street_patterns(locales: tuple[str, ...]) -> tuple[str, ...]:
    """Regexes that a street address matches at the start of a line, one or two per language.

    Written for RE2 as much as for Python's re (no lookarounds, no backslash classes, no $):
    the caller appends a newline to every value, so a street can end at a line end."""
    languages = {locale.split("_")[0] for locale in locales}
    patterns = []
    start = "(?:^|\n)[ \t]*"
    house = "[0-9]{1,5}[A-Za-z]?(?:[ ]?[-/][ ]?[0-9]{1,4}[A-Za-z]?)?"
    if "en" in languages or not languages & {"de", "fr"}:
        suffixes = set(_ENGLISH_STREETS_EXTRA)
        for locale in locales:
            if locale.startswith("en_"):
                suffixes |= _english_suffixes(locale)
        alternatives = "|".join(sorted((re.escape(s) for s in suffixes), key=len, reverse=True))
        unit = "(?:Flat|Studio|Apt[.]?|Apartment|Suite|Unit)[ \t]+[0-9A-Za-z]+"
        words = "(?:[A-Z][^ \t\n,]*[ \t]+){1,4}"
        end = "[ \t\n,]"
        patterns.append(f"{start}(?:{unit},?[ \t]+)?{house}[ \t]+{words}(?:{alternatives}){end}")
        patterns.append(f"{start}{unit}[ \t]*[\n,][ \t]*{words}(?:{alternatives}){end}")
    if "de" in languages:
        patterns.append(
            f"{start}[^0-9 \t\n,][^\n0-9,]{{0,60}}?(?i:{_GERMAN_STREETS})[ \t]+{house}[ \t]*[\n,]"
        )
    if "fr" in languages:
        patterns.append(
            f"{start}(?:{house}(?:[ ]?(?:bis|ter|quater))?,?[ \t]+)?(?i:{_FRENCH_STREETS})[ \t]+"
            "(?:(?:de la|de l'|de|du|des|d')[ \t]*)?[A-ZÀ-ÖØ-Þ]"
        )
    return tuple(patterns)
