"""What the outbox carries to the chat platforms: findings and decisions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from bot.models import Candidate, EscalationStatus, Finding, Outcome, Platform, Result


class FindingNotice(BaseModel):
    """A red flag for the security channel; the first of a verification opens its thread."""

    kind: Literal["finding"] = "finding"
    escalation_id: int
    verification_id: str
    candidate_name: str
    candidate_email: str
    candidate_role: str | None = None
    hiring_manager: str
    hiring_manager_platform: Platform
    step_id: str
    step_title: str
    answer: str
    answer_label: str
    result: Result
    note: str | None = None
    reason: str
    source: str
    outcome: Outcome
    first: bool

    @classmethod
    def of(
        cls,
        *,
        escalation_id: int,
        verification_id: str,
        candidate: Candidate,
        hiring_manager: str,
        hiring_manager_platform: Platform,
        finding: Finding,
        outcome: Outcome,
        first: bool,
    ) -> FindingNotice:
        """The notice of one finding of a verification."""
        return cls(
            escalation_id=escalation_id,
            verification_id=verification_id,
            candidate_name=candidate.name,
            candidate_email=candidate.email,
            candidate_role=candidate.role,
            hiring_manager=hiring_manager,
            hiring_manager_platform=hiring_manager_platform,
            step_id=finding.step,
            step_title=finding.step_title,
            answer=finding.answer,
            answer_label=finding.answer_label,
            result=finding.result,
            note=finding.note,
            reason=finding.reason,
            source=finding.source,
            outcome=outcome,
            first=first,
        )


class DecisionNotice(BaseModel):
    """The security team's decision, for the hiring manager who asked for the verification."""

    kind: Literal["decision"] = "decision"
    escalation_id: int
    verification_id: str
    candidate_name: str
    status: EscalationStatus
    decided_by: str
    decided_platform: Platform
    reason: str | None = None
    recipient: str
    recipient_platform: Platform


Notice = Annotated[FindingNotice | DecisionNotice, Field(discriminator="kind")]


DECISION_WORDS: dict[EscalationStatus, str] = {
    EscalationStatus.OPEN: "open",
    EscalationStatus.ACKNOWLEDGED: "acknowledged",
    EscalationStatus.CLEARED: "cleared as a false alarm",
    EscalationStatus.CONFIRMED: "confirmed as fraud: do not make the offer",
}
