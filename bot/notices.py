"""What the outbox carries to the chat platforms: findings and decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from bot.models import EscalationStatus, EscalationView, Finding, Platform, Prompt

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

    `escalation` is the whole escalation as it stands when the notice is delivered (every
    finding ever raised); `items` is what is new. Notices written while one is waiting to be
    sent are merged into it (FindingRef.merged), so a burst of changes is one post.
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


class TextNotice(BaseModel):
    """A message for the security channels outside any escalation: the audit head, a digest.

    It holds no personal data, so the outbox keeps it whole.
    """

    kind: Literal["text"] = "text"
    title: str
    lines: list[str] = []


class ReminderNotice(BaseModel):
    """A verification nobody answered for a while, for its hiring manager, with a way on."""

    kind: Literal["reminder"] = "reminder"
    verification_id: str
    candidate_name: str
    seq: int = Field(description="1 for the first reminder of a quiet spell, up to 3")
    idle_since: datetime
    prompt: Prompt | None = Field(None, description="the step it waits on")
    waiting_for: list[str] = Field([], description="what it waits for when no step can be answered")
    answered: int
    total: int
    recipient: str
    recipient_platform: Platform
    now: datetime = Field(description="when it was rendered, for `idle for 2d`")


class OverdueNotice(BaseModel):
    """A verification still unfinished long after it started, for the security channels."""

    kind: Literal["overdue"] = "overdue"
    verification_id: str
    candidate_name: str
    playbook_title: str
    requested_by: str
    requested_platform: Platform
    started_at: datetime
    missing: list[str]
    acknowledged_by: str | None = None
    now: datetime


class ResurfaceNotice(BaseModel):
    """Findings still waiting for a security decision, raised again in the escalation's thread."""

    kind: Literal["resurface"] = "resurface"
    escalation: EscalationView
    seq: int
    waiting_since: datetime
    undecided: int
    now: datetime


class HandoverNotice(BaseModel):
    """The device hand-over, started after the pre-offer verification was cleared."""

    kind: Literal["handover"] = "handover"
    verification_id: str
    pre_offer_id: str
    candidate_name: str
    prompt: Prompt | None
    recipient: str = Field(description="the hiring manager, or the IT channel")
    recipient_platform: Platform
    to_it_channel: bool = False


class StepNotice(BaseModel):
    """A verification started in a shared conversation: its step, for the owner's own chat."""

    kind: Literal["step"] = "step"
    verification_id: str
    candidate_name: str
    playbook_title: str
    prompt: Prompt | None
    recipient: str
    recipient_platform: Platform


Notice = Annotated[
    FindingNotice
    | DecisionNotice
    | TextNotice
    | ReminderNotice
    | OverdueNotice
    | ResurfaceNotice
    | HandoverNotice
    | StepNotice,
    Field(discriminator="kind"),
]


class ItemRef(BaseModel):
    """A NoticeItem by reference: the answer, the one it lowered, and if it reopened."""

    answer_id: int
    previous_id: int | None = None
    reopened: bool = False


class FindingRef(BaseModel):
    """What the outbox keeps of a FindingNotice: ids only, rendered when it is delivered.

    So a notice carries no personal data in the database, and one about a candidate erased
    meanwhile is delivered without any.
    """

    kind: Literal["finding"] = "finding"
    escalation_id: int
    items: list[ItemRef] = []
    first: bool = False
    left_out: int = 0

    def merged(self, later: FindingRef) -> FindingRef:
        """This notice, not sent yet, with a later one's news added."""
        items = [*self.items, *later.items]
        kept = items[-MAX_NOTICE_ITEMS:]
        return FindingRef(
            escalation_id=self.escalation_id,
            items=kept,
            first=self.first,
            left_out=self.left_out + later.left_out + len(items) - len(kept),
        )


class DecisionRef(BaseModel):
    """What the outbox keeps of a DecisionNotice; the reason is read when it is delivered."""

    kind: Literal["decision"] = "decision"
    escalation_id: int
    status: EscalationStatus
    decided_by: str
    decided_platform: Platform
    recipient: str
    recipient_platform: Platform


class ReminderRef(BaseModel):
    """What the outbox keeps of a ReminderNotice: ids only."""

    kind: Literal["reminder"] = "reminder"
    verification_id: str
    seq: int
    idle_since: datetime


class OverdueRef(BaseModel):
    kind: Literal["overdue"] = "overdue"
    verification_id: str


class ResurfaceRef(BaseModel):
    kind: Literal["resurface"] = "resurface"
    escalation_id: int
    seq: int
    waiting_since: datetime


class HandoverRef(BaseModel):
    kind: Literal["handover"] = "handover"
    verification_id: str
    to_it_channel: bool = False


class StepRef(BaseModel):
    kind: Literal["step"] = "step"
    verification_id: str


AnyRef = (
    FindingRef
    | DecisionRef
    | TextNotice
    | ReminderRef
    | OverdueRef
    | ResurfaceRef
    | HandoverRef
    | StepRef
)
NoticeRef = Annotated[AnyRef, Field(discriminator="kind")]
NOTICE_REF: TypeAdapter[AnyRef] = TypeAdapter(NoticeRef)
THREADED_KINDS = frozenset({"finding", "resurface"})


def notice_ref(payload: dict[str, Any]) -> AnyRef:
    """An outbox row's reference; a row an earlier version wrote in full becomes one too."""
    try:
        return NOTICE_REF.validate_python(payload)
    except ValidationError:
        pass
    escalation_id = payload.get("escalation_id") or payload.get("escalation", {}).get("id")
    if payload.get("kind") == "decision":
        return DecisionRef(
            escalation_id=escalation_id,
            status=payload["status"],
            decided_by=payload["decided_by"],
            decided_platform=payload["decided_platform"],
            recipient=payload["recipient"],
            recipient_platform=payload["recipient_platform"],
        )
    return FindingRef(escalation_id=escalation_id, first=bool(payload.get("first")))


DECISION_WORDS: dict[EscalationStatus, str] = {
    EscalationStatus.OPEN: "open",
    EscalationStatus.ACKNOWLEDGED: "acknowledged",
    EscalationStatus.CLEARED: "cleared as a false alarm",
    EscalationStatus.CONFIRMED: "confirmed as fraud: do not make the offer",
}
