"""The candidate details a hiring manager gives before a verification starts."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from bot.address import AddressError, normalize_address
from bot.models import CandidateIn
from bot.service import describe_candidate_error

SKIP = "skip"
SAME = "same"
ADDRESS_FIELDS = frozenset({"home_address", "shipping_address"})


@dataclass(frozen=True)
class CandidateField:
    name: str
    label: str
    question: str
    optional: bool = False


FIELDS: tuple[CandidateField, ...] = (
    CandidateField("name", "Name", "What is the candidate's full name?"),
    CandidateField("email", "Email", "What is the candidate's email address?"),
    CandidateField(
        "phone", "Phone", f"Their phone number? Type `{SKIP}` if you do not have it.", True
    ),
    CandidateField("role", "Role", f"Which role is it for? Type `{SKIP}` to leave it out.", True),
    CandidateField(
        "home_address", "Home address", "Their home address, as on their ID or background check?"
    ),
    CandidateField(
        "shipping_address",
        "Laptop shipping address",
        f"Where should the laptop be shipped? Type `{SAME}` if it is the home address.",
    ),
)
BY_NAME: dict[str, CandidateField] = {field.name: field for field in FIELDS}


def next_field(collected: dict[str, str | None]) -> CandidateField | None:
    """The first field not answered yet, or None when the details are complete."""
    return next((field for field in FIELDS if field.name not in collected), None)


def typed_value(field: CandidateField, text: str, collected: dict[str, str | None]) -> str | None:
    """What a typed reply means for `field`: `skip` and `same` are words, not values."""
    word = text.strip().casefold()
    if field.optional and word == SKIP:
        return None
    if field.name == "shipping_address" and word == SAME:
        return collected.get("home_address")
    return text.strip()


def field_problem(field: CandidateField, value: str | None) -> str | None:
    """Why `value` cannot be the candidate's `field` (the service's own rules), or None."""
    if value is None or not value.strip():
        return None if field.optional else "is required"
    try:
        CandidateIn.__pydantic_validator__.validate_assignment(
            CandidateIn.model_construct(), field.name, value
        )
    except ValidationError as error:
        return describe_candidate_error(error).get(field.name, "is not valid")
    if field.name in ADDRESS_FIELDS:
        try:
            normalize_address(value)
        except AddressError as error:
            return str(error)
    return None
