"""Candidate details: validated from what a person typed, and read back as stored."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bot.address import AddressError, AddressKeys, address_keys, normalize_address
from bot.errors import InvalidInput
from bot.identity import email_key, name_key, payout_key, payout_last4
from bot.models import (
    Candidate,
    CandidateIn,
)
from bot.store import Row


def describe_candidate_error(error: ValidationError) -> dict[str, str]:
    """Field name -> message, for inline form errors."""
    problems: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "candidate"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required"
        elif item["type"] == "string_too_short":
            message = "is required" if not item.get("input") else message
        elif item["type"] == "extra_forbidden":
            message = "is not a known field"
        problems.setdefault(field, message)
    return problems


class InvalidCandidate(InvalidInput):
    """Candidate details that failed validation; `problems` maps each field to its message."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = problems


def stored_candidate(row: Row) -> Candidate:
    """A candidate as stored: validated when it was written, so not validated again.

    The payout account was never stored: it is shown by its last 4 characters.
    """
    values: dict[str, Any] = {name: row.get(name) for name in Candidate.model_fields}
    values["payout_account"] = f"****{row['payout_last4']}" if row.get("payout_last4") else None
    return Candidate.model_construct(**values)


def validate_candidate(data: dict) -> CandidateIn:
    try:
        candidate = CandidateIn.model_validate(data)
    except ValidationError as error:
        raise InvalidCandidate(describe_candidate_error(error)) from None
    for field in ("home_address", "shipping_address"):
        if getattr(candidate, field) is None:
            continue
        try:
            normalize_address(getattr(candidate, field))
        except AddressError as error:
            raise InvalidCandidate({field: str(error)}) from None
    return candidate


def candidate_row(details: CandidateIn) -> Row:
    """The candidate as stored: with the normalised keys compared across candidates, and
    the payout account only as its normalised key (the store keeps a keyed hash of it)
    and its last 4 characters."""
    row = details.model_dump(exclude={"payout_account"})
    for field in ("home", "shipping"):
        address = getattr(details, f"{field}_address")
        if address is None:
            continue
        keys = address_keys_of(address, f"{field}_address")
        row |= {
            f"{field}_normalized": keys.canonical,
            f"{field}_place": keys.place,
            f"{field}_zip": keys.zip,
            f"{field}_building": keys.building,
        }
    row |= {"email_key": email_key(details.email), "name_key": name_key(details.name)}
    if details.payout_account:
        payout = payout_key(details.payout_account)
        row |= {"payout_key": payout, "payout_last4": payout_last4(payout)}
    return row


def address_keys_of(address: str, field: str) -> AddressKeys:
    """The address's keys; InvalidCandidate naming `field` when it cannot be read."""
    try:
        return address_keys(address)
    except AddressError as error:
        raise InvalidCandidate({field: str(error)}) from None
