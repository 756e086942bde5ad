"""Verifications started by other systems (Greenhouse, the API, Workflow Builder), audited reads
and the clearance gate: the service calls integrations make."""

from __future__ import annotations

from pydantic import BaseModel

from bot.clearance import Clearance, clearance_of
from bot.errors import InvalidInput
from bot.ids import parse_verification_id
from bot.intake_jobs import Handover, IntakeJobs
from bot.jobs import JobWorker
from bot.models import Actor, AnswerOutcome, CandidateIn, VerificationView
from bot.service import VerificationService
from bot.validation import clean_email

PRE_OFFER = "pre-offer"
MAX_EXTERNAL_ID = 200


class Started(BaseModel):
    """A verification an integration asked for; `created` is False for a repeat."""

    outcome: AnswerOutcome
    created: bool

    @property
    def verification_id(self) -> str:
        return self.outcome.verification.id


def external_key(source: str, external_id: str) -> str:
    """The start key of a verification started from `source` for its `external_id`."""
    text = external_id.strip()
    if not text or len(text) > MAX_EXTERNAL_ID:
        raise InvalidInput(f"must be 1 to {MAX_EXTERNAL_ID} characters", "external_id")
    return f"{source}:{text}"


class Intake:
    """Starts verifications for integrations, once per external id, and records who asked."""

    def __init__(self, service: VerificationService, jobs: JobWorker) -> None:
        self.service = service
        self.store = service.store
        self.jobs = IntakeJobs(jobs)

    async def start(
        self,
        actor: Actor,
        source: str,
        external_id: str,
        candidate: CandidateIn | dict,
        playbook_id: str | None = None,
        owner: Actor | None = None,
        emails: list[str] | None = None,
        intro: str = "",
    ) -> Started:
        """Start (or find again) the verification of `source`'s `external_id`.

        The verification's owner (who answers) is `owner`, or the actor until someone takes
        it; the intake row records the source, the external id and the actor. With `emails`,
        a new verification's hand-over to the first of them a chat platform knows is queued in
        the same transaction.
        """
        key = external_key(source, external_id)
        with self.store.transaction():
            outcome = await self.service.start(actor, candidate, playbook_id, key, owner=owner)
            if outcome.duplicate:
                self.store.audit(
                    actor.user_id,
                    actor.platform,
                    "verification.start_repeated",
                    outcome.verification.id,
                    {"source": source, "external_id": external_id},
                )
            else:
                verification_id = outcome.verification.id
                self.store.insert_intake(
                    verification_id, source, external_id.strip(), actor.user_id
                )
                if emails is not None:
                    self.jobs.handover(Handover.of(actor, verification_id, emails, intro))
        return Started(outcome=outcome, created=not outcome.duplicate)

    def refused(self, actor: Actor, source: str, external_id: str, why: str) -> None:
        """A delivery that could not start a verification, audited."""
        with self.store.transaction():
            self.store.audit(
                actor.user_id,
                actor.platform,
                "intake.refused",
                None,
                {"source": source, "external_id": external_id, "why": why[:500]},
            )

    def existing(self, source: str, external_id: str) -> str | None:
        """The verification already started for this external id, if any."""
        row = self.store.verification_by_start_key(external_key(source, external_id))
        return row["id"] if row else None

    async def view(self, actor: Actor, verification_id: str) -> VerificationView:
        """A verification, the read audited."""
        verification_id = parse_verification_id(verification_id)
        view = await self.service.view(actor, verification_id)
        with self.store.transaction():
            self.store.audit(actor.user_id, actor.platform, "verification.read", verification_id)
        return view

    async def clearance(self, actor: Actor, email: str) -> Clearance:
        """The gate for the candidate's latest pre-offer verification, the question audited."""
        try:
            address = clean_email(email)
        except ValueError as error:
            raise InvalidInput(str(error), "email") from None
        row = self.store.latest_verification_by_email(address, PRE_OFFER)
        view = await self.service.view(actor, row["id"]) if row else None
        steps = []
        if view is not None:
            playbook = self.service.playbooks.get(view.playbook)
            steps = [(step.id, step.title) for step in playbook.steps]
        answer = clearance_of(address, view, steps)
        with self.store.transaction():
            self.store.audit(
                actor.user_id,
                actor.platform,
                "clearance.asked",
                answer.verification_id,
                {"email_index": self.store.email_index(address), "cleared": answer.cleared},
            )
        return answer


def verification_json(view: VerificationView) -> dict:
    """A verification as `verifybot status --json` and the API show it."""
    return {
        **view.model_dump(mode="json"),
        "progress": view.progress,
        "waiting_for": view.waiting_for,
        "awaiting_security": view.awaiting_security,
    }
