"""Pure rules: a verification's outcome from its latest answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.models import Outcome, Result


def outcome(
    step_ids: Iterable[str],
    latest_results: Mapping[str, Result],
    cancelled: bool = False,
    fraud_confirmed: bool = False,
) -> Outcome:
    """blocked on any block; else in_progress until all answered; then needs_review or cleared."""
    if fraud_confirmed or Result.BLOCK in latest_results.values():
        return Outcome.BLOCKED
    if cancelled:
        return Outcome.CANCELLED
    if any(step_id not in latest_results for step_id in step_ids):
        return Outcome.IN_PROGRESS
    if Result.REVIEW in latest_results.values():
        return Outcome.NEEDS_REVIEW
    return Outcome.CLEARED
