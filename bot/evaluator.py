"""Pure rules: a verification's outcome from its latest answers and its undecided findings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.models import Outcome, Result

SEVERITY: dict[Result, int] = {Result.PASS: 0, Result.REVIEW: 1, Result.BLOCK: 2}


def lowers(before: Result, after: Result) -> bool:
    """block→review, block→pass, review→pass."""
    return SEVERITY[after] < SEVERITY[before]


def held_results(
    latest_results: Mapping[str, Result], undecided: Iterable[tuple[str, Result]]
) -> dict[str, Result]:
    """Each step's result, never lower than a finding of it that awaits a security decision.

    A correction by the hiring manager counts once security resolved the finding it replaced;
    until then the step keeps the worse result.
    """
    held = dict(latest_results)
    for step_id, result in undecided:
        current = held.get(step_id)
        if current is not None and SEVERITY[result] > SEVERITY[current]:
            held[step_id] = result
    return held


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
