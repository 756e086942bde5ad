"""The candidate details every front end asks for, and the check of one typed value."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from bot.address import AddressError, normalize_address
from bot.candidates import describe_candidate_error
from bot.models import CandidateIn

ADDRESS_FIELDS = frozenset({"home_address", "shipping_address"})


@dataclass(frozen=True)
class CandidateField:
    name: str
    label: str
    question: str
    max_length: int
    optional: bool = False
    multiline: bool = False


CANDIDATE_FIELDS: tuple[CandidateField, ...] = (
    CandidateField("name", "Candidate name", "What is the candidate's full name?", 200),
    CandidateField("email", "Email", "What is the candidate's email address?", 254),
    CandidateField("phone", "Phone", "Their phone number?", 40, optional=True),
    CandidateField("role", "Role", "Which role is it for?", 200, optional=True),
    CandidateField(
        "home_address",
        "Home address",
        "Their home address, as on their ID or background check?",
        500,
        multiline=True,
    ),
    CandidateField(
        "shipping_address",
        "Laptop shipping address",
        "Where should the laptop be shipped?",
        500,
        optional=True,
        multiline=True,
    ),
    CandidateField(
        "referred_by", "Referred by", "Who referred them (their email)?", 254, optional=True
    ),
    # Last, so that a chat asking one field per message never keeps it between two messages.
    CandidateField(
        "payout_account",
        "Payout account",
        "The bank account, IBAN or payout email their pay would go to?",
        254,
        optional=True,
    ),
)
FIELDS_BY_NAME: dict[str, CandidateField] = {field.name: field for field in CANDIDATE_FIELDS}


def field_problem(field: CandidateField, value: str | None) -> str | None:
    """Why `value` cannot be the candidate's `field` (the service's own rules), or None."""
    if value is None or not value.strip():
        return None if field.optional else "is required"
    try:
        blank = CandidateIn.model_construct(name="", email="", home_address="")
        CandidateIn.__pydantic_validator__.validate_assignment(blank, field.name, value)
    except ValidationError as error:
        return describe_candidate_error(error).get(field.name, "is not valid")
    if field.name in ADDRESS_FIELDS:
        try:
            normalize_address(value)
        except AddressError as error:
            return str(error)
    return None
