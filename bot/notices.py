"""What the outbox carries to the chat platforms: findings and decisions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from bot.models import EscalationStatus, EscalationView, Finding, Platform

MAX_NOTICE_ITEMS = 10


class NoticeItem(BaseModel):
    """One thing that happened to an escalation: a finding raised, or an answer lowered."""

    finding: Finding
    previous: Finding | None = Field(
        None, description="the answer this one replaced, when the change lowered its result"
    )
    reopened: bool = False

    @property
    def lowered(self) -> bool:
        return self.previous is not None

    @property
    def needs_decision(self) -> bool:
        """Shown with the decision buttons: a lowered result or a reopened escalation."""
        return self.lowered or self.reopened


class FindingNotice(BaseModel):
    """News of an escalation for the security channel: the first opens the thread.

    `escalation` is the whole escalation as it stood when the notice was last written (every
    finding ever raised); `items` is what is new. Notices written while one is waiting to be
    sent are merged into it, so a burst of changes is one post.
    """

    kind: Literal["finding"] = "finding"
    escalation: EscalationView
    items: list[NoticeItem]
    first: bool
    left_out: int = Field(0, description="earlier items merged away to keep the post short")

    @property
    def escalation_id(self) -> int:
        return self.escalation.id

    @property
    def verification_id(self) -> str:
        return self.escalation.verification_id

    @property
    def needs_decision(self) -> bool:
        return any(item.needs_decision for item in self.items)

    def merged(self, later: FindingNotice) -> FindingNotice:
        """This notice, not sent yet, with a later one's news added and its escalation state."""
        items = [*self.items, *later.items]
        kept = items[-MAX_NOTICE_ITEMS:]
        return FindingNotice(
            escalation=later.escalation,
            items=kept,
            first=self.first,
            left_out=self.left_out + later.left_out + len(items) - len(kept),
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
