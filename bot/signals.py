"""Computed checks: answers the engine derives from the candidate's details and other records."""

from __future__ import annotations

from dataclasses import dataclass

from bot.playbook import Check
from bot.store import Store


@dataclass(frozen=True)
class ComputedAnswer:
    value: str
    reason: str
    related_verifications: tuple[str, ...] = ()


def address_match(store: Store, candidate: dict) -> ComputedAnswer:
    """match / mismatch of home and shipping address, or shared with another candidate."""
    others = store.others_shipping_to(
        candidate["shipping_normalized"], candidate["id"], candidate["email"]
    )
    if others:
        named = ", ".join(f"{row['verification_id']} ({row['candidate_name']})" for row in others)
        return ComputedAnswer(
            value="shared",
            reason=(
                f"The laptop shipping address {candidate['shipping_address']!r} is also the "
                f"shipping address of {len(others)} other verification(s): {named}. "
                "Several identities shipping to one address is the laptop-farm pattern."
            ),
            related_verifications=tuple(row["verification_id"] for row in others),
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
