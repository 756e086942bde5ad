"""A verification's outcome: derived from its answers and the findings awaiting security,
stored and audited when it changes."""

from __future__ import annotations

from collections.abc import Callable

from bot.evaluator import held_results
from bot.evaluator import outcome as evaluate_outcome
from bot.handover import Handovers
from bot.models import (
    EscalationStatus,
    Outcome,
    Result,
)
from bot.playbook import Playbook
from bot.records import SYSTEM_ACTOR, latest_by_step
from bot.store import Row


class Outcomes(Handovers):
    """Keeps the stored outcome in step with the answers and decisions."""

    on_refresh: Callable[[str], None] | None

    def _refresh_status(self, verification_id: str, playbook: Playbook) -> Outcome:
        row = self._verification_row(verification_id)
        status = self._derive_outcome(row, playbook)
        if status != row["status"]:
            self.store.set_verification_status(verification_id, status.value)
            self.store.audit(
                SYSTEM_ACTOR,
                row["platform"],
                "verification.outcome",
                verification_id,
                {"from": row["status"], "to": status.value},
            )
            if status is Outcome.CLEARED:
                self._schedule_handover(row)
        if self.on_refresh is not None:
            self.on_refresh(verification_id)
        return status

    def _derive_outcome(self, row: Row, playbook: Playbook) -> Outcome:
        return derived_outcome(
            [step.id for step in playbook.steps],
            self.store.answers(row["id"]),
            self.store.escalation_for(row["id"]),
            cancelled=row["cancelled_at"] is not None,
        )


def derived_outcome(
    step_ids: list[str], answers: list[Row], escalation: Row | None, cancelled: bool
) -> Outcome:
    """The outcome of the latest answers, held up by findings that await security.

    A finding security cleared as a false alarm counts as a pass.
    """
    resolved_through = escalation["resolved_through"] if escalation else 0
    undecided = [
        (answer["step_id"], Result(answer["result"]))
        for answer in answers
        if answer["result"] != Result.PASS and answer["id"] > resolved_through
    ]
    latest = {
        step_id: Result.PASS if answer["id"] <= resolved_through else Result(answer["result"])
        for step_id, answer in latest_by_step(answers).items()
    }
    return evaluate_outcome(
        step_ids,
        held_results(latest, undecided),
        cancelled=cancelled,
        fraud_confirmed=bool(escalation and escalation["status"] == EscalationStatus.CONFIRMED),
    )
