"""Workflow Builder's `verify_candidate` step, the platform-neutral part: when its verification
is finished, what the step outputs, and the completion job queued when the state changes."""

from __future__ import annotations

from typing import Any

from bot.clearance import clearance_of
from bot.intake_jobs import WORKFLOW_COMPLETE
from bot.jobs import JobWorker
from bot.models import (
    AWAITING_DECISION,
    Actor,
    EscalationStatus,
    Outcome,
    Platform,
    VerificationView,
)
from bot.store import Store

SOURCE = "workflow"
ACTOR = Actor(user_id="slack-workflow", platform=Platform.API)


def is_finished(outcome: Outcome, escalation: EscalationStatus | None) -> bool:
    """Cleared, blocked, needing review or cancelled, with no finding awaiting security."""
    return outcome is not Outcome.IN_PROGRESS and escalation not in AWAITING_DECISION


def view_finished(view: VerificationView) -> bool:
    return is_finished(view.outcome, view.escalation_status)


def outputs(view: VerificationView) -> dict[str, Any]:
    """The step's outputs: `cleared` is the clearance gate's answer."""
    cleared = clearance_of(view.candidate.email, view).cleared
    return {"verification_id": view.id, "outcome": view.outcome.value, "cleared": cleared}


class CompletionWatch:
    """Called by the service whenever a verification's state may have changed (inside its
    transaction): queues the completion of each running step whose verification looks
    finished, once per state; the job looks again (an escalation may open a moment later)."""

    def __init__(self, store: Store, jobs: JobWorker) -> None:
        self.store = store
        self.jobs = jobs

    def __call__(self, verification_id: str) -> None:
        running = self.store.running_workflow_executions(verification_id)
        if not running:
            return
        row = self.store.verification(verification_id)
        escalation = self.store.escalation_for(verification_id)
        status = EscalationStatus(escalation["status"]) if escalation else None
        if row is None or not is_finished(Outcome(row["status"]), status):
            return
        state = f"{row['status']}:{status.value if status else 'none'}"
        for execution in running:
            execution_id = execution["execution_id"]
            payload = {"execution_id": execution_id, "verification_id": verification_id}
            key = f"workflow:complete:{execution_id}:{state}"
            self.jobs.enqueue(WORKFLOW_COMPLETE, payload, key)
