"""Tests for bot.address: which address forms mean the same place, and which do not."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from bot.address import (
    MAX_ADDRESS_LENGTH,
    AddressError,
    address_keys,
    normalize_address,
    same_place,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

SAME_PLACE = [
    ("123 Main Street, Apt 4B", "123 MAIN ST #4b"),
    ("123 Main Street, Apt 4B", "123 main st unit 4b"),
    ("123 Main St Apartment 4B", "123 Main St Apt. #4B"),
    ("123 Main St Apt 4-B", "123 Main St # 4B"),
    ("Apt 4B, 123 Main St", "123 Main St Apt 4B"),
    ("123 Main St Suite 200", "123 Main St Ste. 200"),
    ("123 Main St Suite 200", "123 Main St #200"),
    ("  123   main   STREET  ", "123 Main St."),
    ("123 Main Street, Springfield, IL 62701", "123 Main St Springfield IL 62701"),
    ("123 Main St, Springfield, IL 62701", "123 Main St, Springfield, Illinois 62701"),
    ("123 Main St, Springfield, IL 62701", "123 Main St, Springfield, IL 62701-1234"),
    (
        "123 Main Street, Apt 4B, Springfield, IL 62701",
        "123 MAIN ST #4B SPRINGFIELD ILLINOIS 62701-1234 USA",
    ),
    ("123 Main St, Springfield, IL 62701", "123 Main St, Springfield, IL 62701, United States"),
    ("456 Oak Avenue", "456 oak ave"),
    ("789 Sunset Boulevard", "789 Sunset Blvd"),
    ("12 Elm Road", "12 ELM RD"),
    ("34 Pine Drive", "34 pine dr."),
    ("56 Maple Lane", "56 Maple Ln"),
    ("123 North Main Street", "123 N. Main St"),
    ("500 South West Park Avenue", "500 SW Park Ave"),
    ("500 South-West Park Ave", "500 S.W. Park Ave"),
    ("500 Southwest Park Ave, Portland, OR 97205", "500 SW PARK AVENUE PORTLAND OREGON 97205"),
    (
        "1600 Pennsylvania Avenue Northwest, Washington, D.C. 20500",
        "1600 Pennsylvania Ave NW Washington DC 20500",
    ),
    ("PO Box 5, Springfield, IL 62701-1234", "P.O. Box 5 Springfield IL 62701"),
]

DIFFERENT_PLACES = [
    ("123 Main St", "124 Main St"),
    ("123 Main St Apt 4B", "123 Main St Apt 4C"),
    ("123 Main St Apt 4B", "123 Main St"),
    ("123 N Main St", "123 S Main St"),
    ("123 Main St, Springfield, IL 62701", "123 Main St, Springfield, IL 62702"),
    ("123 Main St, Springfield, IL 62701", "123 Main St, Springfield, MO 62701"),
    ("123 Main St", "123 Main Ave"),
    ("123 Main St", "123 Maine St"),
    ("123 Main St Suite 200", "123 Main St Floor 200"),
    ("100 South West Street", "100 Southwest Street"),
    ("10 Downing Street, London SW1A 2AA", "11 Downing Street, London SW1A 2AA"),
    ("Hauptstraße 5, 10115 Berlin", "Hauptstraße 7, 10115 Berlin"),
    ("Hauptstraße 5, 10115 Berlin", "Hauptstraße 5, 10117 Berlin"),
]

FOREIGN_SAME_PLACE = [
    (
        "10 Downing Street, London SW1A 2AA, United Kingdom",
        "10 downing st london sw1a 2aa united kingdom",
    ),
    ("221B Baker Street, London NW1 6XE", "221b baker st. london nw1 6xe"),
    ("Hauptstraße 5, 10115 Berlin", "HAUPTSTRASSE 5 10115 BERLIN"),
    ("Kurfürstendamm 21, 10719 Berlin, Germany", "KURFURSTENDAMM 21 10719 BERLIN GERMANY"),
    ("Flat 3, 22 Baker Street, London", "Apartment 3 22 baker st london"),
    ("1 Main St, Toronto, ON M5V 2T6, Canada", "1 MAIN STREET TORONTO ON M5V 2T6 CANADA"),
    ("12 George St, Sydney NSW 2000, Australia", "12 George Street Sydney NSW 2000 Australia"),
    ("Calle Mayor 10, 28013 Madrid, España", "calle mayor 10 28013 madrid espana"),
    ("ул. Тверская, 1, Москва", "УЛ ТВЕРСКАЯ 1 МОСКВА"),
    ("東京都千代田区1-1", "東京都千代田区１－１"),
]


@pytest.mark.parametrize(("first", "second"), SAME_PLACE)
def test_equivalent_us_forms_match(first: str, second: str) -> None:
    assert normalize_address(first) == normalize_address(second)


@pytest.mark.parametrize(("first", "second"), DIFFERENT_PLACES)
def test_different_addresses_stay_different(first: str, second: str) -> None:
    assert normalize_address(first) != normalize_address(second)


@pytest.mark.parametrize(("first", "second"), FOREIGN_SAME_PLACE)
def test_equivalent_foreign_forms_match(first: str, second: str) -> None:
    assert normalize_address(first) == normalize_address(second)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123 Main Street, Apt 4B", "123 MAIN ST # 4B"),
        ("123 Main St, Springfield, Illinois 62701-1234", "123 MAIN ST SPRINGFIELD IL 62701"),
        ("Hauptstraße 5, 10115 Berlin", "HAUPTSTRASSE 5 10115 BERLIN"),
        (
            "10 Downing Street, London SW1A 2AA, United Kingdom",
            "10 DOWNING ST LONDON SW1A 2AA UNITED KINGDOM",
        ),
    ],
)
def test_canonical_form_is_readable(raw: str, expected: str) -> None:
    assert normalize_address(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("221B Baker Street, London NW1 6XE", "221B BAKER ST LONDON NW1 6XE"),
        ("1 Main St, Toronto, ON M5V 2T6, Canada", "1 MAIN ST TORONTO ON M5V 2T6 CANADA"),
        ("12 George St, Sydney NSW 2000, Australia", "12 GEORGE ST SYDNEY NSW 2000 AUSTRALIA"),
        ("Kurfürstendamm 21, 10719 Berlin, Germany", "KURFURSTENDAMM 21 10719 BERLIN GERMANY"),
    ],
)
def test_foreign_addresses_keep_every_part(raw: str, expected: str) -> None:
    """No postcode is taken for a unit number and no country for a US city."""
    assert normalize_address(raw) == expected


def test_us_state_names_that_look_like_countries_stay_us() -> None:
    assert normalize_address("123 Main St, Albuquerque, New Mexico") == normalize_address(
        "123 Main St, Albuquerque, NM"
    )
    assert normalize_address("123 Main St, Atlanta, Georgia 30301") == normalize_address(
        "123 Main St, Atlanta, GA 30301"
    )


def test_word_order_matters() -> None:
    assert normalize_address("Flat 3, 22 Baker Street, London") != normalize_address(
        "22 Baker Street Flat 3 London"
    )


def test_output_is_upper_case_and_single_spaced() -> None:
    normalized = normalize_address("  123   main st.,  apt #4b ,, springfield , il 62701 ")
    assert normalized == normalized.upper()
    assert "  " not in normalized
    assert normalized == normalized.strip()
    assert unicodedata.is_normalized("NFC", normalized)


@pytest.mark.parametrize(
    "raw",
    [
        "123 Main Street, Apt 4B, Springfield, IL 62701",
        "Hauptstraße 5, 10115 Berlin",
        "Flat 3, 22 Baker Street, London",
    ],
)
def test_is_deterministic(raw: str) -> None:
    first = normalize_address(raw)
    assert all(normalize_address(raw) == first for _ in range(3))
    assert normalize_address(first) == first


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "an address is required"),
        ("   \t\n ", "an address is required"),
        ("!!! ... ,,, ---", "an address is required"),
        ("#", "an address is required"),
        ("Apt #", "an address is required"),
        ("USA", "more than a country name"),
        ("United States", "more than a country name"),
        ("x" * (MAX_ADDRESS_LENGTH + 1), f"at most {MAX_ADDRESS_LENGTH} characters"),
    ],
)
def test_meaningless_input_is_rejected(raw: str, message: str) -> None:
    with pytest.raises(AddressError, match=message):
        normalize_address(raw)


def test_longest_allowed_input_is_accepted() -> None:
    raw = ("123 Main Street " * 40)[:MAX_ADDRESS_LENGTH]
    assert normalize_address(raw)


def test_non_text_is_rejected() -> None:
    with pytest.raises(AddressError, match="must be text"):
        normalize_address(None)  # type: ignore[arg-type]


def test_address_error_is_a_value_error() -> None:
    assert issubclass(AddressError, ValueError)


def test_module_import_does_not_load_scourgify() -> None:
    """The CLI imports bot.address at start-up; scourgify must load only on first use."""
    code = "import sys, bot.address; print('scourgify' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert result.stdout.strip() == "False"


# evasions: what a person could type to make one address look like another

FARM = "123 Main Street, Springfield, IL 62701"
EVASIONS = [
    pytest.param("123 M\u0430in Street, Springfield, IL 62701", id="cyrillic-a-in-main"),
    pytest.param("123 MAIN STR\u0415ET, SPRINGFIELD, IL 62701", id="cyrillic-capital-e"),
    pytest.param("12\u0417 Main Street, Springfield, IL 62701", id="cyrillic-ze-for-3"),
    pytest.param("123 Ma\u200bin Street, Springfield, IL 62701", id="zero-width-space"),
    pytest.param(
        "123 Main\u2060 St\u00ad\u00adreet, Spring\u200dfield, IL 62701", id="format-chars"
    ),
    pytest.param("１２３ Ｍａｉｎ Street, Springfield, IL 62701", id="full-width"),
    pytest.param("c/o J. Smith, 123 Main Street, Springfield, IL 62701", id="c/o-prefix"),
    pytest.param("C/O J Smith 123 Main Street, Springfield, IL 62701", id="c/o-without-comma"),
    pytest.param("\u2105 J. Smith, 123 Main Street, Springfield, IL 62701", id="care-of-sign"),
    pytest.param("Care of Jane Roe, 123 Main St, Springfield IL 62701", id="care-of-words"),
    pytest.param("Attn: IT, 123 Main Street, Springfield, IL 62701", id="attn-prefix"),
    pytest.param("ATTENTION Receiving, 123 Main St, Springfield, IL 62701", id="attention"),
    pytest.param("123 Main St, Attn: IT Dept, Springfield, IL 62701", id="attn-in-the-middle"),
    pytest.param("J. Smith\n123 Main Street\nSpringfield, IL 62701", id="recipient-name-line"),
    pytest.param("J. Smith, 123 Main Street, Springfield, IL 62701", id="recipient-name-part"),
    pytest.param("123 Main Street, Springfield, IL", id="zip-left-out"),
    pytest.param("123 Main St Springfield Illinois", id="zip-left-out-state-spelled"),
]


@pytest.mark.parametrize("evasive", EVASIONS)
def test_each_evasion_is_still_the_same_place(evasive: str) -> None:
    assert same_place(address_keys(evasive), address_keys(FARM))


LOOK_ALIKES = [
    pytest.param("124 Main Street, Springfield, IL 62701", id="neighbouring-number"),
    pytest.param("122 Main Street, Springfield, IL", id="neighbour-without-zip"),
    pytest.param("123 Main Street, Springfield, MO 65801", id="same-street-other-state"),
    pytest.param("123 Main Street, Chicago, IL", id="same-street-other-city"),
    pytest.param("123 Main Street, Springfield, IL 62702", id="other-zip"),
    pytest.param("123 Main Avenue, Springfield, IL 62701", id="other-street-type"),
    pytest.param("123 Maine Street, Springfield, IL 62701", id="other-street-name"),
    pytest.param("123 Main Street, Apt 2, Springfield, IL 62701", id="invented-unit"),
]


@pytest.mark.parametrize("other", LOOK_ALIKES)
def test_look_alikes_stay_different_places(other: str) -> None:
    assert not same_place(address_keys(other), address_keys(FARM))


BUILDINGS = [
    # (first, second, same place, same building)
    ("123 Main Street, Apt 2, Springfield, IL 62701", FARM, False, True),
    ("123 Main St #2, Springfield, IL 62701", "123 Main St Unit 2, Springfield IL", True, True),
    ("123 Main St Apt 02, Springfield, IL", "123 Main St Suite 2, Springfield, IL", True, True),
    ("123 Main St Apt 2, Springfield, IL", "123 Main St Apt 3, Springfield, IL", False, True),
    ("123 Main St Fl 2, Springfield, IL", "123 Main St Apt 2, Springfield, IL", False, True),
    ("123 Main St Apt 2, Springfield, IL", "124 Main St Apt 2, Springfield, IL", False, False),
    ("Flat 3, 22 Baker Street, London", "Flat 4, 22 Baker Street, London", False, True),
    ("Flat 3, 22 Baker Street, London", "22 Baker Street, London", False, True),
]


@pytest.mark.parametrize(("first", "second", "place", "building"), BUILDINGS)
def test_units_are_compared_as_units(first: str, second: str, place: bool, building: bool) -> None:
    one, other = address_keys(first), address_keys(second)
    assert same_place(one, other) is place
    assert (one.building == other.building) is building


def test_words_of_other_scripts_are_not_rewritten() -> None:
    assert normalize_address("ул. Тверская, 1, Москва").startswith("УЛ ТВЕРСКАЯ 1")
    assert normalize_address("東京都千代田区1-1") == "東京都千代田区1-1"


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        (FARM, "US"),
        ("10 Downing Street, London SW1A 2AA", "GB"),
        ("Hauptstraße 5, 10115 Berlin, Germany", "DE"),
        ("1 Main St, Toronto, ON M5V 2T6", "CA"),
        ("ул. Тверская, 1, Москва", None),
    ],
)
def test_the_country_of_an_address(raw: str, country: str | None) -> None:
    assert address_keys(raw).country == country
