"""Computed checks: answers the engine derives from the candidate's details and other records."""

from __future__ import annotations

from dataclasses import dataclass

from bot.playbook import Check
from bot.store import Store


@dataclass(frozen=True)
class ComputedAnswer:
    """A computed result; `reason` is what the hiring manager sees, `security_detail` is not."""

    value: str
    reason: str
    related_verifications: tuple[str, ...] = ()
    security_detail: str | None = None


def address_match(store: Store, candidate: dict) -> ComputedAnswer:
    """match / mismatch of home and shipping address, or shared with another candidate.

    The hiring manager learns that the address is shared, never with whom: the other
    verifications are for the security team only.
    """
    others = store.others_shipping_to(
        candidate["shipping_normalized"], candidate["id"], candidate["email"]
    )
    if others:
        return ComputedAnswer(
            value="shared",
            reason=(
                "The laptop shipping address is also the shipping address of another "
                "candidate. Several identities shipping to one address is the laptop-farm "
                "pattern; the security team has been told."
            ),
            related_verifications=tuple(row["verification_id"] for row in others),
            security_detail=(
                f"Shipping address {candidate['shipping_address']!r} is also given in: "
                f"{', '.join(row['verification_id'] for row in others)}."
            ),
        )
    if candidate["shipping_normalized"] == candidate["home_normalized"]:
        return ComputedAnswer(
            value="match",
            reason="The laptop shipping address is the claimed home address.",
        )
    return ComputedAnswer(
        value="mismatch",
        reason=(
            f"The laptop shipping address {candidate['shipping_address']!r} differs from the "
            f"claimed home address {candidate['home_address']!r}."
        ),
    )


COMPUTED_CHECKS = {Check.ADDRESS_MATCH: address_match}

COMPUTED_INPUTS: dict[Check, tuple[str, str]] = {
    Check.ADDRESS_MATCH: ("shipping_address", "the laptop shipping address"),
}


def waiting_for(check: Check, candidate: dict) -> str | None:
    """What a computed check still needs from the candidate's details, or None when ready."""
    field, description = COMPUTED_INPUTS.get(check, ("", ""))
    return description if field and not candidate.get(field) else None
