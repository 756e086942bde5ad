"""Typing the candidate's details in a Teams chat: `skip` and `same` on top of the shared form."""

from __future__ import annotations

from bot.candidate_form import CANDIDATE_FIELDS, CandidateField

SKIP = "skip"
SAME = "same"


def question_of(field: CandidateField) -> str:
    """The field's question, with the words that answer it without a value."""
    if field.name == "shipping_address":
        return (
            f"{field.question} Type `{SAME}` if it is the home address, or `{SKIP}` to give "
            "it later."
        )
    if field.optional:
        return f"{field.question} Type `{SKIP}` to leave it out."
    return field.question


def next_field(collected: dict[str, str | None]) -> CandidateField | None:
    """The first field not answered yet, or None when the details are complete."""
    return next((field for field in CANDIDATE_FIELDS if field.name not in collected), None)


def typed_value(field: CandidateField, text: str, collected: dict[str, str | None]) -> str | None:
    """What a typed reply means for `field`: `skip` and `same` are words, not values."""
    word = text.strip().casefold()
    if field.optional and word == SKIP:
        return None
    if field.name == "shipping_address" and word == SAME:
        return collected.get("home_address")
    return text.strip()
