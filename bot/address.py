"""Postal address normalisation, to compare home and shipping addresses and spot laptop farms.

``normalize_address`` turns an address into an upper-case, space-separated canonical form:
equal forms mean "the same place".  US addresses go through scourgify (USPS abbreviations,
ZIP compared on its first five digits); foreign or unparseable addresses fall back to a
deterministic token-level normalisation that applies the same abbreviation tables.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import NamedTuple

MAX_ADDRESS_LENGTH = 500
UNIT_MARK = "#"

_UNIT_DESIGNATORS = frozenset({"#", "APT", "APARTMENT", "UNIT", "STE", "SUITE", "FLAT"})
_US_TERRITORIES = frozenset({"PR", "VI", "GU", "AS", "MP", "AA", "AE", "AP"})
_US_SUFFIX = re.compile(r"[\s,]*\b(?:UNITED STATES(?: OF AMERICA)?|U ?S ?A|U ?S)\s*$")
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d(?!ST\b|ND\b|RD\b|TH\b)[A-Z]{2}\b")
_CA_POSTCODE = re.compile(r"\b[A-Z]\d[A-Z] ?\d[A-Z]\d\b")
_ZIP = re.compile(r"^\d{5}(?:-?\d{4})?$")
_ZIP_PLUS_FOUR = re.compile(r"^(\d{5})-\d{4}$")
_COMPOUND_DIRECTIONAL = re.compile(
    r"\b(NORTH|SOUTH|N|S)[\s-]+(EAST|WEST|E|W)\b(?=\s+([^\s,]+)(?:\s+([^\s,]+))?)"
)
_APOSTROPHES_AND_DOTS = re.compile(r"['.’ʼ`´]")
_STRAY_SLASH = re.compile(r"(?<!\d)/|/(?!\d)")
_STRAY_HYPHEN = re.compile(r"(?<!\w)-|-(?!\w)")
_COMMAS = re.compile(r"\s*,[\s,]*")
_WHITESPACE = re.compile(r"\s+")

# Trailing country names (upper case, accents stripped) that mark an address as not US.
# US state names win over these, so "New Mexico" stays US; "Georgia" is deliberately absent.
_FOREIGN_COUNTRIES = frozenset(
    {
        "ARGENTINA", "AUSTRALIA", "AUSTRIA", "OSTERREICH", "BANGLADESH", "BELARUS",
        "BELGIUM", "BELGIQUE", "BELGIE", "BOLIVIA", "BRAZIL", "BRASIL", "BULGARIA",
        "CANADA", "CHILE", "CHINA", "COLOMBIA", "COSTA RICA", "CROATIA", "HRVATSKA",
        "CYPRUS", "CZECHIA", "CZECH REPUBLIC", "DENMARK", "DANMARK", "DOMINICAN REPUBLIC",
        "ECUADOR", "EGYPT", "EL SALVADOR", "ENGLAND", "ESTONIA", "FINLAND", "SUOMI",
        "FRANCE", "GERMANY", "DEUTSCHLAND", "GHANA", "GREAT BRITAIN", "GREECE",
        "GUATEMALA", "HONDURAS", "HONG KONG", "HUNGARY", "ICELAND", "INDIA", "INDONESIA",
        "IRELAND", "ISRAEL", "ITALY", "ITALIA", "JAMAICA", "JAPAN", "KENYA", "KOREA",
        "SOUTH KOREA", "LATVIA", "LITHUANIA", "LUXEMBOURG", "MALAYSIA", "MALTA", "MEXICO",
        "MOLDOVA", "MOROCCO", "NEPAL", "NETHERLANDS", "NEDERLAND", "NEW ZEALAND",
        "NICARAGUA", "NIGERIA", "NORTHERN IRELAND", "NORWAY", "NORGE", "PAKISTAN",
        "PANAMA", "PARAGUAY", "PERU", "PHILIPPINES", "POLAND", "POLSKA", "PORTUGAL",
        "ROMANIA", "RUSSIA", "RUSSIAN FEDERATION", "SAUDI ARABIA", "SCOTLAND", "SERBIA",
        "SINGAPORE", "SLOVAKIA", "SLOVENIA", "SOUTH AFRICA", "SPAIN", "ESPANA",
        "SRI LANKA", "SWEDEN", "SVERIGE", "SWITZERLAND", "SCHWEIZ", "SUISSE", "TAIWAN",
        "THAILAND", "TURKEY", "TURKIYE", "UKRAINE", "UNITED ARAB EMIRATES", "UAE", "UK",
        "UNITED KINGDOM", "URUGUAY", "VENEZUELA", "VIETNAM", "VIET NAM", "WALES",
    }
)  # fmt: skip


class AddressError(ValueError):
    """An address that is empty, too long or otherwise meaningless."""


class _Tables(NamedTuple):
    street_types: frozenset[str]
    token_map: dict[str, str]
    states: frozenset[str]
    state_names: frozenset[str]


def normalize_address(raw: str) -> str:
    """A canonical, comparable form of a postal address (US or foreign)."""
    if not isinstance(raw, str):
        raise AddressError("an address must be text")
    if len(raw) > MAX_ADDRESS_LENGTH:
        raise AddressError(f"an address must be at most {MAX_ADDRESS_LENGTH} characters")
    return _normalize_cached(raw)


@lru_cache(maxsize=4096)
def _normalize_cached(raw: str) -> str:
    text = _prepare(raw)
    if not _has_word_character(text):
        raise AddressError("an address is required")
    body = _US_SUFFIX.sub("", text).strip(" ,")
    if not _has_word_character(body):
        raise AddressError("an address needs more than a country name")
    canonical = _canonical_form(_merge_compound_directionals(body))
    if not _has_word_character(canonical):
        raise AddressError("an address is required")
    return canonical


def _canonical_form(body: str) -> str:
    """The scourgify form for a sound US address, else the token-level form."""
    if not _looks_foreign(body):
        us_form = _normalize_us(body)
        if us_form is not None:
            return us_form
    return " ".join(_canonical_tokens(_tokenize(body)))


@cache
def _tables() -> _Tables:
    """Lookup tables built from scourgify's USPS constants, imported on first use."""
    from scourgify.address_constants import (
        DIRECTIONAL_REPLACEMENTS,
        OCCUPANCY_TYPE_ABBREVIATIONS,
        STATE_ABBREVIATIONS,
        STREET_TYPE_ABBREVIATIONS,
    )

    # Short street-type variants (LA, DAM, KEY ...) are real words abroad: map full words only.
    token_map = {
        key: value
        for key, value in STREET_TYPE_ABBREVIATIONS.items()
        if len(key) >= 4 and key.isalpha()
    }
    token_map.update(OCCUPANCY_TYPE_ABBREVIATIONS)
    token_map.update(DIRECTIONAL_REPLACEMENTS)
    token_map.update(dict.fromkeys(_UNIT_DESIGNATORS, UNIT_MARK))
    return _Tables(
        street_types=frozenset(STREET_TYPE_ABBREVIATIONS),
        token_map=token_map,
        states=frozenset(STATE_ABBREVIATIONS.values()) | _US_TERRITORIES,
        state_names=frozenset(STATE_ABBREVIATIONS),
    )


def _prepare(raw: str) -> str:
    """Upper case, accents off Latin letters, punctuation reduced to , # - and digit/digit."""
    text = _strip_latin_accents(unicodedata.normalize("NFKC", raw).casefold()).upper()
    text = _APOSTROPHES_AND_DOTS.sub("", text)
    text = "".join(ch if _is_kept(ch) else " " for ch in text)
    text = _STRAY_SLASH.sub(" ", text)
    text = _STRAY_HYPHEN.sub(" ", text).replace(UNIT_MARK, f" {UNIT_MARK} ")
    text = _COMMAS.sub(", ", _WHITESPACE.sub(" ", text))
    return text.strip(" ,")


def _strip_latin_accents(text: str) -> str:
    """Drop combining marks on Latin letters only (é→e), leaving other scripts intact."""
    kept: list[str] = []
    base_is_latin = False
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            if not base_is_latin:
                kept.append(ch)
            continue
        base_is_latin = "LATIN" in unicodedata.name(ch, "")
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


def _is_kept(ch: str) -> bool:
    """Letters, digits, marks, spaces and the few symbols that carry address meaning."""
    return ch in ",#-/ " or unicodedata.category(ch)[0] in "LNM"


def _has_word_character(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def _merge_compound_directionals(text: str) -> str:
    """'SOUTH WEST PARK AVE' → 'SOUTHWEST PARK AVE', but 'SOUTH WEST ST' stays (West St)."""
    merged = {"N": "NORTH", "S": "SOUTH", "E": "EAST", "W": "WEST"}
    street_types = _tables().street_types

    def merge(match: re.Match[str]) -> str:
        if match[3] in street_types and match[4] not in street_types:
            return match[0]
        return merged.get(match[1], match[1]) + merged.get(match[2], match[2])

    return _COMPOUND_DIRECTIONAL.sub(merge, text)


def _looks_foreign(body: str) -> bool:
    """True for a UK / Canadian postcode or a trailing non-US country name."""
    if _UK_POSTCODE.search(body) or _CA_POSTCODE.search(body):
        return True
    words = body.replace(",", " ").split()
    for size in range(min(4, len(words)), 0, -1):
        tail = " ".join(words[-size:])
        if tail in _tables().state_names:
            return False
        if tail in _FOREIGN_COUNTRIES:
            return True
    return False


def _normalize_us(body: str) -> str | None:
    """The scourgify form of a US address, or None when it cannot be a sound US parse."""
    from scourgify import normalize_address_record
    from scourgify.exceptions import AddressNormalizationError
    from usaddress import RepeatedLabelError

    try:
        record = normalize_address_record(body)
    except (AddressNormalizationError, RepeatedLabelError, ValueError, KeyError, IndexError):
        return None
    line1, line2, city, state, postal = (
        record.get(key)
        for key in ("address_line_1", "address_line_2", "city", "state", "postal_code")
    )
    if not _plausible_us(line1, city, state, postal) or (line2 and "," in line2):
        return None
    unit = " ".join(_canonical_units(line2.split())) if line2 else None
    zip5 = postal[:5] if postal else None
    return " ".join(part for part in (line1, unit, city, state, zip5) if part)


def _plausible_us(line1: str | None, city: str | None, state: str | None, zip_: str | None) -> bool:
    """Reject parses that only make sense abroad: no US state, a non-US postcode, stray commas."""
    if not line1 or "," in line1 or (city and "," in city):
        return False
    if state is not None and state not in _tables().states:
        return False
    if zip_ is not None and not _ZIP.match(zip_):
        return False
    return state is not None or (city is None and zip_ is None)


def _tokenize(body: str) -> list[str]:
    """Split on spaces and commas; hyphenated words split, hyphenated numbers stay whole."""
    tokens: list[str] = []
    for token in body.replace(",", " ").split():
        parts = token.split("-")
        tokens.extend(parts if all(part.isalpha() for part in parts) else [token])
    return tokens


def _canonical_tokens(tokens: list[str]) -> list[str]:
    """Apply the USPS street-type, directional and unit tables token by token."""
    token_map = _tables().token_map
    mapped = [token_map.get(token, token) for token in tokens]
    mapped = [_short_zip(token) for token in mapped]
    return _canonical_units(mapped)


def _canonical_units(tokens: list[str]) -> list[str]:
    """APT / UNIT / STE / SUITE / FLAT / # become one '#', and '4-B' after it becomes '4B'."""
    result: list[str] = []
    for token in tokens:
        token = UNIT_MARK if token in _UNIT_DESIGNATORS else token
        if token == UNIT_MARK and result and result[-1] == UNIT_MARK:
            continue
        if result and result[-1] == UNIT_MARK:
            token = token.replace("-", "")
        result.append(token)
    return result


def _short_zip(token: str) -> str:
    """ZIP+4 (62701-1234) compared on its five-digit ZIP."""
    match = _ZIP_PLUS_FOUR.match(token)
    return match[1] if match else token
