"""The clearance gate: may the offer (or the laptop) go out for this candidate? A pure rule."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from bot.models import Outcome, Result, VerificationView

NO_VERIFICATION = "no verification"
SECURITY_PENDING = "security decision pending"


class Clearance(BaseModel):
    """The gate's answer; `pending` names what is still missing or undecided."""

    email: str
    cleared: bool
    outcome: Outcome | None = None
    verification_id: str | None = None
    pending: list[str] = []


def clearance_of(
    email: str, view: VerificationView | None, steps: Sequence[tuple[str, str]] = ()
) -> Clearance:
    """Cleared only when the verification is `cleared` and no finding awaits security.

    `steps` are the playbook's (step id, title), to name the unanswered ones.
    """
    if view is None:
        return Clearance(email=email, cleared=False, pending=[NO_VERIFICATION])
    answered = {finding.step for finding in view.findings}
    pending = [
        f"{step_id}: {title}"
        for step_id, title in steps
        if step_id not in answered and step_id not in view.waiting
    ]
    pending += view.waiting_for
    if view.awaiting_security:
        pending.append(SECURITY_PENDING)
    if view.cancelled:
        pending.append("verification cancelled")
    for finding in view.problems:
        word = "blocked" if finding.result is Result.BLOCK else "needs review"
        pending.append(f"{finding.step}: {word} ({finding.answer})")
    cleared = view.outcome is Outcome.CLEARED and not view.awaiting_security
    return Clearance(
        email=email,
        cleared=cleared,
        outcome=view.outcome,
        verification_id=view.id,
        pending=[] if cleared else pending,
    )
