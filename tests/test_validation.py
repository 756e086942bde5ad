"""Cleaning of typed values (bot.validation) and the models that apply it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.candidates import validate_candidate
from bot.errors import InvalidInput, NoteRequired
from bot.ids import parse_verification_id
from bot.models import CandidateIn, Option, Prompt, Result
from bot.validation import MAX_NOTE_LENGTH, clean_email, clean_note, clean_phone, clean_text

# emails


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("jane@example.com", "jane@example.com"),
        ("  jane@example.com\n", "jane@example.com"),
        ("Jane.Doe@EXAMPLE.COM", "Jane.Doe@example.com"),
        ("jane+hiring@mail.example.co.uk", "jane+hiring@mail.example.co.uk"),
    ],
)
def test_valid_emails_are_normalised(typed: str, stored: str) -> None:
    assert clean_email(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "jane",
        "jane@",
        "@example.com",
        "jane@@example.com",
        "jane doe@example.com",
        "jane@exa mple.com",
    ],
)
def test_invalid_emails_are_rejected(typed: str) -> None:
    with pytest.raises(ValueError, match="not a valid email address"):
        clean_email(typed)


# phones


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("+1 312 555 0100", "+13125550100"),
        ("(312) 555-0100", "+13125550100"),
        ("312.555.0100", "+13125550100"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+49 30 901820", "+4930901820"),
    ],
)
def test_valid_phones_become_e164(typed: str, e164: str) -> None:
    assert clean_phone(typed) == e164


@pytest.mark.parametrize("typed", ["12", "555-0100", "+1 000 000 0000", "+999 1234", "call me"])
def test_invalid_phones_are_rejected(typed: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        clean_phone(typed)


def test_a_national_number_is_read_in_the_default_region() -> None:
    assert clean_phone("020 7946 0958", default_region="GB") == "+442079460958"


# text and notes


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [
        ("Jane\x00 Doe", "Jane Doe"),
        ("Jane\x1b[31mDoe", "Jane [31mDoe"),
        ("  Jane\t\tDoe \r\n", "Jane Doe"),
        ("Jane\u200bDoe", "Jane Doe"),
        ("Jane\u202eeoD", "Jane eoD"),
        ("Zoë Ødegård 山田", "Zoë Ødegård 山田"),
        ("\x07\x08", ""),
    ],
)
def test_clean_text_drops_control_characters_and_collapses_space(typed: str, cleaned: str) -> None:
    assert clean_text(typed) == cleaned


def test_notes_are_cleaned_and_empty_notes_are_none() -> None:
    assert clean_note(None) is None
    assert clean_note("") is None
    assert clean_note(" \x00\t ") is None
    assert clean_note("  Notary\nJo Smith ") == "Notary Jo Smith"


def test_notes_are_bounded() -> None:
    assert clean_note("x" * MAX_NOTE_LENGTH) == "x" * MAX_NOTE_LENGTH
    assert clean_note("x" * MAX_NOTE_LENGTH + "   ") == "x" * MAX_NOTE_LENGTH
    with pytest.raises(ValueError, match=f"at most {MAX_NOTE_LENGTH} characters"):
        clean_note("x" * (MAX_NOTE_LENGTH + 1))


# the models and helpers that use them


def details(**overrides) -> dict:
    return {
        "name": "Jane Doe",
        "email": "jane@example.com",
        "home_address": "123 Main St, Springfield, IL 62701",
        "shipping_address": "123 Main St, Springfield, IL 62701",
        **overrides,
    }


def test_candidate_details_are_cleaned() -> None:
    candidate = CandidateIn.model_validate(
        details(name=" Jane\x00Doe ", email=" JANE@Example.com", phone="(312) 555-0100", role=" ")
    )
    assert candidate.name == "Jane Doe"
    assert candidate.email == "JANE@example.com"
    assert candidate.phone == "+13125550100"
    assert candidate.role is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "nope"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"name": "x" * 201}, "name"),
        ({"home_address": "1 A"}, "home_address"),
        ({"shipping_address": "x" * 501}, "shipping_address"),
        ({"role": "r" * 201}, "role"),
    ],
)
def test_candidate_fields_are_checked(overrides: dict, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        CandidateIn.model_validate(details(**overrides))
    assert raised.value.errors()[0]["loc"] == (field,)


def test_validate_candidate_names_every_bad_field() -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_candidate({"email": "nope", "shipping_address": "1 Elm Street"})
    assert set(raised.value.problems) == {"name", "email", "home_address"}
    assert raised.value.problems["name"] == "is required"


def test_validate_candidate_checks_addresses_mean_something() -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_candidate(details(shipping_address="United States"))
    assert raised.value.problems == {
        "shipping_address": "an address needs more than a country name"
    }


@pytest.mark.parametrize("typed", ["VB-1A2B3C4D", " vb-1a2b3c4d ", "Vb-0000ffff"])
def test_verification_ids_are_parsed(typed: str) -> None:
    assert parse_verification_id(typed) == typed.strip().upper()


@pytest.mark.parametrize(
    "typed", ["", "VB-1A2B3C4", "VB-1A2B3C4DE", "VB-1A2B3C4G", "1A2B3C4D", None, 7]
)
def test_bad_verification_ids_are_refused(typed) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_verification_id(typed)
    assert raised.value.field == "verification"


def prompt_of_two_options() -> Prompt:
    return Prompt(
        verification_id="VB-1A2B3C4D",
        candidate_name="Jane Doe",
        playbook_title="Pre-offer verification",
        step_id="camera_interview",
        step_title="Camera-on interview",
        question="?",
        help="",
        source="",
        index=3,
        total=6,
        options=[
            Option(value="matched", label="Camera on, matches", result=Result.PASS),
            Option(value="camera_refused", label="Camera refused", result=Result.BLOCK),
        ],
    )


def test_typed_replies_pick_an_option_by_number_value_or_label() -> None:
    prompt = prompt_of_two_options()
    assert prompt.progress == "Step 3 of 6"
    assert prompt.option_by_input(" 2 ").value == "camera_refused"
    assert prompt.option_by_input("MATCHED").value == "matched"
    assert prompt.option_by_input("camera refused").value == "camera_refused"
    assert prompt.option_by_input("0") is None
    assert prompt.option_by_input("3") is None
    assert prompt.option_by_input("maybe") is None


@pytest.mark.parametrize("typed", ["²", "①", "1²"])
def test_digit_like_characters_match_no_option(typed: str) -> None:
    assert prompt_of_two_options().option_by_input(typed) is None


def test_note_required_names_the_note_field() -> None:
    error = NoteRequired("Notary's commission number")
    assert error.field == "note"
    assert error.note_label == "Notary's commission number"
    assert str(error) == "note: this answer needs a note: Notary's commission number"
