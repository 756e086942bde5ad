"""Postal address normalisation, to compare home and shipping addresses and spot laptop farms.

``normalize_address`` turns an address into an upper-case, space-separated canonical form:
equal forms mean "the same place".  US addresses go through scourgify (USPS abbreviations,
ZIP compared on its first five digits); foreign or unparseable addresses fall back to a
deterministic token-level normalisation that applies the same abbreviation tables.

Before that, what a person could type to make one address look like another is undone: NFKC,
format characters (zero-width spaces...) dropped, confusable letters mapped to their Latin
skeleton (Unicode TS #39, through confusable-homoglyphs), care-of and attention lines and a
leading recipient-name line dropped.  ``address_keys`` adds the keys the cross-candidate
comparisons use: the place without its ZIP (a missing ZIP still matches) and the building
without its unit.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import NamedTuple

MAX_ADDRESS_LENGTH = 500
UNIT_MARK = "#"

_UNIT_DESIGNATORS = frozenset({"#", "APT", "APARTMENT", "UNIT", "STE", "SUITE", "FLAT"})
_BUILDING_UNITS = frozenset({UNIT_MARK, "FL", "FLOOR", "RM", "ROOM", "BLDG", "LOT", "SPC"})
_TOKEN = re.compile(r"[^\s,]+")
_CARE_OF = re.compile(r"\s*(?:C\s*/\s*O|CARE\s+OF|ATTN|ATTENTION)\b", re.IGNORECASE)
_STREET_START = re.compile(r"\s*\d+\w*\s+[^\W\d]")
_HOUSE_NUMBER = re.compile(r"(?<![\w/])\d+\w*\s+\w")
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

# Trailing country names (upper case, accents stripped) that mark an address as not US,
# with their ISO 3166 codes.
# US state names win over these, so "New Mexico" stays US; "Georgia" is deliberately absent.
_FOREIGN_COUNTRIES: dict[str, str] = {
    "ARGENTINA": "AR", "AUSTRALIA": "AU", "AUSTRIA": "AT", "OSTERREICH": "AT",
    "BANGLADESH": "BD", "BELARUS": "BY", "BELGIUM": "BE", "BELGIQUE": "BE", "BELGIE": "BE",
    "BOLIVIA": "BO", "BRAZIL": "BR", "BRASIL": "BR", "BULGARIA": "BG", "CANADA": "CA",
    "CHILE": "CL", "CHINA": "CN", "COLOMBIA": "CO", "COSTA RICA": "CR", "CROATIA": "HR",
    "HRVATSKA": "HR", "CYPRUS": "CY", "CZECHIA": "CZ", "CZECH REPUBLIC": "CZ", "DENMARK": "DK",
    "DANMARK": "DK", "DOMINICAN REPUBLIC": "DO", "ECUADOR": "EC", "EGYPT": "EG",
    "EL SALVADOR": "SV", "ENGLAND": "GB", "ESTONIA": "EE", "FINLAND": "FI", "SUOMI": "FI",
    "FRANCE": "FR", "GERMANY": "DE", "DEUTSCHLAND": "DE", "GHANA": "GH", "GREAT BRITAIN": "GB",
    "GREECE": "GR", "GUATEMALA": "GT", "HONDURAS": "HN", "HONG KONG": "HK", "HUNGARY": "HU",
    "ICELAND": "IS", "INDIA": "IN", "INDONESIA": "ID", "IRELAND": "IE", "ISRAEL": "IL",
    "ITALY": "IT", "ITALIA": "IT", "JAMAICA": "JM", "JAPAN": "JP", "KENYA": "KE", "KOREA": "KR",
    "SOUTH KOREA": "KR", "LATVIA": "LV", "LITHUANIA": "LT", "LUXEMBOURG": "LU",
    "MALAYSIA": "MY", "MALTA": "MT", "MEXICO": "MX", "MOLDOVA": "MD", "MOROCCO": "MA",
    "NEPAL": "NP", "NETHERLANDS": "NL", "NEDERLAND": "NL", "NEW ZEALAND": "NZ",
    "NICARAGUA": "NI", "NIGERIA": "NG", "NORTHERN IRELAND": "GB", "NORWAY": "NO", "NORGE": "NO",
    "PAKISTAN": "PK", "PANAMA": "PA", "PARAGUAY": "PY", "PERU": "PE", "PHILIPPINES": "PH",
    "POLAND": "PL", "POLSKA": "PL", "PORTUGAL": "PT", "ROMANIA": "RO", "RUSSIA": "RU",
    "RUSSIAN FEDERATION": "RU", "SAUDI ARABIA": "SA", "SCOTLAND": "GB", "SERBIA": "RS",
    "SINGAPORE": "SG", "SLOVAKIA": "SK", "SLOVENIA": "SI", "SOUTH AFRICA": "ZA", "SPAIN": "ES",
    "ESPANA": "ES", "SRI LANKA": "LK", "SWEDEN": "SE", "SVERIGE": "SE", "SWITZERLAND": "CH",
    "SCHWEIZ": "CH", "SUISSE": "CH", "TAIWAN": "TW", "THAILAND": "TH", "TURKEY": "TR",
    "TURKIYE": "TR", "UKRAINE": "UA", "UNITED ARAB EMIRATES": "AE", "UAE": "AE", "UK": "GB",
    "UNITED KINGDOM": "GB", "URUGUAY": "UY", "VENEZUELA": "VE", "VIETNAM": "VN",
    "VIET NAM": "VN", "WALES": "GB",
}  # fmt: skip


class AddressError(ValueError):
    """An address that is empty, too long or otherwise meaningless."""


class AddressKeys(NamedTuple):
    """The comparable forms of one address.

    `place` is `canonical` without the ZIP code: two addresses are the same place when their
    places are equal and their ZIPs are equal or one is missing. `building` is `place` without
    the unit (Apt, #, Unit, Suite, Fl...). `country` is an ISO 3166 code when it is known.
    """

    canonical: str
    place: str
    building: str
    zip: str | None
    country: str | None


class _Tables(NamedTuple):
    street_types: frozenset[str]
    token_map: dict[str, str]
    states: frozenset[str]
    state_names: frozenset[str]


def normalize_address(raw: str) -> str:
    """A canonical, comparable form of a postal address (US or foreign)."""
    return address_keys(raw).canonical


def address_keys(raw: str) -> AddressKeys:
    """The canonical form, place, building, ZIP and country of an address; AddressError."""
    if not isinstance(raw, str):
        raise AddressError("an address must be text")
    if len(raw) > MAX_ADDRESS_LENGTH:
        raise AddressError(f"an address must be at most {MAX_ADDRESS_LENGTH} characters")
    return _keys_cached(raw)


def same_place(first: AddressKeys, second: AddressKeys) -> bool:
    """The same place: equal canonical forms, or equal places with one ZIP left out."""
    if first.canonical == second.canonical:
        return True
    zips_agree = first.zip is None or second.zip is None or first.zip == second.zip
    return first.place == second.place and zips_agree


@lru_cache(maxsize=4096)
def _keys_cached(raw: str) -> AddressKeys:
    text = _prepare(_without_recipient_lines(_visible_form(raw)))
    if not _has_word_character(text):
        raise AddressError("an address is required")
    is_us = _US_SUFFIX.search(text) is not None
    body = _US_SUFFIX.sub("", text).strip(" ,")
    if not _has_word_character(body):
        raise AddressError("an address needs more than a country name")
    keys = _keys_of(_merge_compound_directionals(body), is_us)
    if not _has_word_character(keys.canonical):
        raise AddressError("an address is required")
    return keys


def _keys_of(body: str, is_us: bool) -> AddressKeys:
    """The scourgify form for a sound US address, else the token-level form."""
    if not _looks_foreign(body):
        us_keys = _normalize_us(body)
        if us_keys is not None:
            return us_keys
    tokens = _canonical_tokens(_tokenize(body))
    canonical = " ".join(tokens)
    building = " ".join(_without_units(tokens)) or canonical
    country = "US" if is_us else _country_of(body)
    return AddressKeys(canonical, canonical, building, None, country)


def _without_units(tokens: list[str]) -> list[str]:
    """The tokens less each unit designator and the unit that follows it."""
    kept: list[str] = []
    skip = False
    for token in tokens:
        if skip:
            skip = False
            continue
        if token == UNIT_MARK:
            skip = True
            continue
        kept.append(token)
    return kept


def _visible_form(raw: str) -> str:
    """NFKC, format characters dropped, confusable look-alikes mapped to Latin letters/digits."""
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return _TOKEN.sub(lambda match: _skeleton_token(match[0]), text)


def _skeleton_token(token: str) -> str:
    """A word with a Latin letter or digit in it, or made only of Latin look-alikes, in Latin.

    A word of another script with letters that look like no Latin letter stays as it is.
    """
    if token.isascii():
        return token
    mapped = [_latin_lookalike(ch) for ch in token]
    if any(ch.isascii() and ch.isalnum() for ch in token) or all(m is not None for m in mapped):
        return "".join(m if m is not None else ch for ch, m in zip(token, mapped, strict=True))
    return token


@cache
def _latin_lookalike(ch: str) -> str | None:
    """The ASCII letter or digit `ch` is confusable with (TS #39 data), or None."""
    if ch.isascii():
        return ch
    from confusable_homoglyphs.confusables import confusables_data

    for form in dict.fromkeys((ch.lower(), ch, ch.upper())):
        for homoglyph in confusables_data.get(form, ()):
            glyph = homoglyph["c"]
            if len(glyph) == 1 and glyph.isascii() and glyph.isalnum():
                return glyph
    return None


def _without_recipient_lines(text: str) -> str:
    """Care-of and attention parts dropped, and a leading line naming the recipient.

    On one line, a leading part without digits is the recipient's name when a house number and
    street follow it and more parts (the city) come after.
    """
    lines = [line for line in (_without_care_of(line) for line in text.splitlines()) if line]
    if len(lines) > 1 and not _has_digit(lines[0]) and any(_has_digit(line) for line in lines):
        lines = lines[1:]
    parts = ", ".join(lines).split(",")
    if len(parts) > 2 and not _has_digit(parts[0]) and _STREET_START.match(parts[1]):
        parts = parts[1:]
    return ",".join(parts)


def _without_care_of(line: str) -> str:
    """A line's comma-separated parts less those that start with c/o, care of, attn, attention.

    A care-of part that goes on into a house number keeps the address from that number on.
    """
    kept = []
    for part in line.split(","):
        if _CARE_OF.match(part):
            number = _HOUSE_NUMBER.search(part)
            if number is None:
                continue
            part = part[number.start() :]
        if part.strip():
            kept.append(part.strip())
    return ", ".join(kept)


def _has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


def _country_of(body: str) -> str | None:
    """The ISO code of a trailing country name or a UK / Canadian postcode, if any."""
    words = body.replace(",", " ").split()
    for size in range(min(4, len(words)), 0, -1):
        code = _FOREIGN_COUNTRIES.get(" ".join(words[-size:]))
        if code:
            return code
    if _UK_POSTCODE.search(body):
        return "GB"
    if _CA_POSTCODE.search(body):
        return "CA"
    return None


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


def _normalize_us(body: str) -> AddressKeys | None:
    """The scourgify keys of a US address, or None when it cannot be a sound US parse."""
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
    unit = " ".join(_canonical_units(line2.split(), _BUILDING_UNITS)) if line2 else None
    zip5 = postal[:5] if postal else None
    place = " ".join(part for part in (line1, unit, city, state) if part)
    building = " ".join(part for part in (line1, city, state) if part)
    canonical = f"{place} {zip5}" if zip5 else place
    country = "US" if state or zip5 else None
    return AddressKeys(canonical, place, building, zip5, country)


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


def _canonical_units(
    tokens: list[str], designators: frozenset[str] = frozenset({UNIT_MARK})
) -> list[str]:
    """APT / UNIT / STE / SUITE / FLAT / # become one '#'; '4-B' or '04B' after it is '4B'."""
    result: list[str] = []
    for token in tokens:
        token = UNIT_MARK if token in _UNIT_DESIGNATORS else token
        if token == UNIT_MARK and result and result[-1] == UNIT_MARK:
            continue
        if result and result[-1] in designators:
            token = token.replace("-", "").lstrip("0") or "0"
        result.append(token)
    return result


def _short_zip(token: str) -> str:
    """ZIP+4 (62701-1234) compared on its five-digit ZIP."""
    match = _ZIP_PLUS_FOUR.match(token)
    return match[1] if match else token
