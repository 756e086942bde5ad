"""Platform-neutral values the service hands to every front end."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from bot.identity import payout_key
from bot.validation import clean_email, clean_lines, clean_phone, clean_text


class Result(StrEnum):
    PASS = "pass"
    REVIEW = "review"
    BLOCK = "block"


class Outcome(StrEnum):
    IN_PROGRESS = "in_progress"
    NEEDS_REVIEW = "needs_review"
    CLEARED = "cleared"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


class Platform(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    CONSOLE = "console"
    CLI = "cli"
    API = "api"
    GREENHOUSE = "greenhouse"


class Decision(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    CLEAR = "clear"
    CONFIRM = "confirm"


class EscalationStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    CONFIRMED = "confirmed"


AVAILABLE_DECISIONS: dict[EscalationStatus, tuple[Decision, ...]] = {
    EscalationStatus.OPEN: (Decision.ACKNOWLEDGE, Decision.CLEAR, Decision.CONFIRM),
    EscalationStatus.ACKNOWLEDGED: (Decision.CLEAR, Decision.CONFIRM),
    EscalationStatus.CLEARED: (),
    EscalationStatus.CONFIRMED: (),
}


AWAITING_DECISION = frozenset({EscalationStatus.OPEN, EscalationStatus.ACKNOWLEDGED})


DECISION_STATUS: dict[Decision, EscalationStatus] = {
    Decision.ACKNOWLEDGE: EscalationStatus.ACKNOWLEDGED,
    Decision.CLEAR: EscalationStatus.CLEARED,
    Decision.CONFIRM: EscalationStatus.CONFIRMED,
}


class Actor(BaseModel):
    """Who did something, and through which front end."""

    model_config = ConfigDict(frozen=True)

    user_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    platform: Platform
    display_name: str | None = None

    @property
    def mention(self) -> str:
        return self.display_name or self.user_id


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
AddressText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class CandidateIn(BaseModel):
    """The candidate's details as a hiring manager typed them; validated."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    email: str
    phone: str | None = None
    role: ShortText | None = None
    home_address: AddressText
    shipping_address: AddressText | None = Field(
        None, description="the laptop shipping address; may be given later"
    )
    payout_account: str | None = Field(
        None, description="bank account, IBAN or payout email; stored only as a keyed hash"
    )
    referred_by: str | None = Field(None, description="the referrer's email")
    start_date: str | None = Field(
        None, description="the first working day (YYYY-MM-DD): the device hand-over is due then"
    )

    @field_validator("name", "role", mode="before")
    @classmethod
    def _clean_text(cls, value: object) -> object:
        return clean_text(value) if isinstance(value, str) else value

    @field_validator("home_address", "shipping_address", mode="before")
    @classmethod
    def _clean_address(cls, value: object, info: ValidationInfo) -> object:
        """Line breaks kept: a first line naming the recipient is not part of the address; a
        blank shipping address is not given yet."""
        if not isinstance(value, str):
            return value
        if not value.strip() and info.field_name == "shipping_address":
            return None
        return clean_lines(value)

    @field_validator("start_date", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, date):
            return value.isoformat()
        try:
            return date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise ValueError("must be a date written YYYY-MM-DD") from None

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        return clean_email(value)

    @field_validator("phone")
    @classmethod
    def _valid_phone(cls, value: str | None) -> str | None:
        return clean_phone(value) if value else None

    @field_validator("role", mode="after")
    @classmethod
    def _empty_role_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("payout_account")
    @classmethod
    def _valid_payout(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        payout_key(value)
        return value.strip()

    @field_validator("referred_by")
    @classmethod
    def _valid_referrer(cls, value: str | None) -> str | None:
        return clean_email(value) if value and value.strip() else None


class Candidate(CandidateIn):
    model_config = ConfigDict(extra="ignore")

    id: int
    home_normalized: str
    shipping_normalized: str | None = None


Identifier = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$", strip_whitespace=True)
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=3000)]


class Option(BaseModel):
    """One answer a playbook step offers, and the result it gives."""

    model_config = ConfigDict(extra="forbid")

    value: Identifier
    label: Text
    result: Result
    note_required: bool = False
    note_label: Text | None = None


class Prompt(BaseModel):
    """The next question of a verification, for any front end to render."""

    verification_id: str
    candidate_name: str
    playbook_title: str
    step_id: str
    step_title: str
    question: str
    help: str
    source: str
    index: int = Field(description="1-based position of the step")
    total: int
    options: list[Option]

    @property
    def progress(self) -> str:
        return f"Step {self.index} of {self.total}"

    def option(self, value: str) -> Option | None:
        return next((o for o in self.options if o.value == value), None)

    def option_by_input(self, text: str) -> Option | None:
        """The option a typed reply means: its number, its value or its label."""
        typed = text.strip().casefold()
        if typed.isascii() and typed.isdecimal() and 1 <= int(typed) <= len(self.options):
            return self.options[int(typed) - 1]
        return next(
            (o for o in self.options if typed in (o.value.casefold(), o.label.casefold())),
            None,
        )


class Finding(BaseModel):
    """One recorded answer, as it counts now."""

    answer_id: int
    step: str
    step_title: str
    answer: str
    answer_label: str
    result: Result
    reason: str
    source: str = ""
    note: str | None = None
    answered_by: str
    platform: Platform
    answered_at: datetime
    security_detail: str | None = Field(
        None, description="what only security may see: the other verifications involved"
    )


class RaisedFinding(Finding):
    """A review or block result as security sees it: what replaced it, and if it is decided."""

    superseded_by: Finding | None = None
    resolved: bool = False


class SameName(BaseModel):
    """Another verification of a candidate with the same name, for `status NAME`."""

    id: str
    created_at: datetime
    outcome: Outcome


class VerificationView(BaseModel):
    id: str
    playbook: str
    playbook_title: str
    candidate: Candidate
    requested_by: str
    platform: Platform
    outcome: Outcome
    cancelled: bool = False
    erased: bool = Field(False, description="the candidate's personal data was erased")
    created_at: datetime
    updated_at: datetime
    answered: int
    total: int
    findings: list[Finding]
    escalation_id: int | None = None
    escalation_status: EscalationStatus | None = None
    pre_offer_id: str | None = Field(
        None, description="for a device hand-over: the pre-offer verification it follows"
    )
    handover_id: str | None = Field(
        None, description="for a cleared pre-offer verification: its device hand-over, once started"
    )
    handover_due_at: datetime | None = None
    waiting: dict[str, str] = Field(
        {}, description="computed steps still waiting for a detail: step id -> what they need"
    )
    same_name: list[SameName] = Field(
        [], description="older verifications of candidates with the same name (status NAME)"
    )

    @property
    def waiting_for(self) -> list[str]:
        """What the verification waits for, e.g. ["the laptop shipping address"]."""
        return sorted(set(self.waiting.values()))

    @property
    def awaiting_shipping_address(self) -> bool:
        return self.candidate.shipping_address is None and bool(self.waiting)

    @property
    def awaiting_security(self) -> bool:
        """A finding waits for a security decision, so the outcome cannot be lowered yet."""
        return self.escalation_status in AWAITING_DECISION

    @property
    def steps_left(self) -> bool:
        """Steps the hiring manager can still answer."""
        return self.answered < self.total and not self.cancelled and not self.final

    @property
    def open(self) -> bool:
        """Still to be finished: steps the hiring manager can answer, or a finding awaiting
        security (confirmed fraud is finished)."""
        return self.steps_left or (not self.cancelled and self.awaiting_security)

    @property
    def final(self) -> bool:
        """Security confirmed fraud: nothing may be answered, changed or cancelled any more."""
        return self.escalation_status is EscalationStatus.CONFIRMED

    @property
    def progress(self) -> str:
        return f"{self.answered} of {self.total} steps answered"

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.result is not Result.PASS]


class AnswerOutcome(BaseModel):
    """What recording an answer did, and what to ask next."""

    recorded: Finding | None
    duplicate: bool = False
    computed: list[Finding] = []
    escalated: bool = False
    verification: VerificationView
    next_prompt: Prompt | None = None

    @property
    def finished(self) -> bool:
        return self.next_prompt is None


class EscalationView(BaseModel):
    """An escalation as the security channel shows it: every finding ever raised."""

    id: int
    verification_id: str
    status: EscalationStatus
    candidate_name: str
    candidate_email: str = ""
    candidate_role: str | None = None
    requested_by: str
    requested_platform: Platform
    outcome: Outcome
    created_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    reopened_at: datetime | None = None
    findings: list[RaisedFinding] = []

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return AVAILABLE_DECISIONS[self.status]

    @property
    def worst_result(self) -> Result:
        """The worst result among the findings not yet resolved (else among all)."""
        pending = [f.result for f in self.findings if not f.resolved] or [
            f.result for f in self.findings
        ]
        return Result.BLOCK if Result.BLOCK in pending else Result.REVIEW
