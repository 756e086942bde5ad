"""The Workflow Builder step `verify_candidate`: `function_executed` starts a verification for
the hiring manager; the job `slack.workflow_complete` completes the step once it is finished."""

from __future__ import annotations

import re
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError
from slack_bolt.async_app import AsyncApp

from bot.candidates import InvalidCandidate
from bot.errors import VerifybotError
from bot.intake import PRE_OFFER, Intake
from bot.intake_jobs import WORKFLOW_COMPLETE
from bot.jobs import Job
from bot.workflow import ACTOR, SOURCE, outputs, view_finished
from handlers.slack.context import SlackContext, slack_actor
from handlers.slack.jobs import FIRST_STEP, FirstStep

log = structlog.get_logger("verifybot.slack.workflow")

CALLBACK_ID = "verify_candidate"
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
INPUT_FIELDS = {
    "candidate_name": "name",
    "candidate_email": "email",
    "role": "role",
    "home_address": "home_address",
    "shipping_address": "shipping_address",
}


class Completion(BaseModel):
    execution_id: str
    verification_id: str


def candidate_of(inputs: dict[str, Any]) -> dict[str, Any]:
    """The step's inputs as the service's candidate fields; blank optional ones left out."""
    details = {}
    for name, field in INPUT_FIELDS.items():
        value = inputs.get(name)
        if isinstance(value, str) and value.strip():
            details[field] = value
    return details


class WorkflowStep:
    """Starts on `function_executed` and completes from a durable job."""

    def __init__(self, ctx: SlackContext, intake: Intake) -> None:
        self.ctx = ctx
        self.intake = intake
        self.store = ctx.service.store

    def register(self, app: AsyncApp) -> None:
        app.function(CALLBACK_ID)(self.executed)
        self.ctx.jobs.register(WORKFLOW_COMPLETE, self.complete)

    async def executed(self, body: dict[str, Any]) -> None:
        """Acked by bolt; the verification started (once per execution), or the step failed."""
        event = body.get("event") or {}
        execution_id = event.get("function_execution_id")
        inputs = event.get("inputs") or {}
        if not isinstance(execution_id, str) or not isinstance(inputs, dict):
            log.info("slack.workflow_malformed")
            return
        problem = await self.start(execution_id, inputs)
        if problem is not None:
            log.info("slack.workflow_refused", execution=execution_id)
            await self.ctx.safely(
                self.ctx.client.functions_completeError(
                    function_execution_id=execution_id, error=problem
                ),
                "functions.completeError",
            )

    async def start(self, execution_id: str, inputs: dict[str, Any]) -> str | None:
        """The verification and the hiring manager's first step queued; the problem otherwise."""
        manager = inputs.get("hiring_manager")
        if not isinstance(manager, str) or not USER_ID.match(manager):
            return "hiring_manager: choose the Slack user who answers the verification"
        owner = slack_actor(manager)
        if not self.ctx.service.roles.can_start(owner):
            return f"hiring_manager: <@{manager}> may not run verifications (not a hiring manager)"
        try:
            with self.store.transaction():
                started = await self.intake.start(
                    ACTOR, SOURCE, execution_id, candidate_of(inputs), PRE_OFFER, owner=owner
                )
                verification_id = started.verification_id
                self.store.insert_workflow_execution(execution_id, verification_id)
                first = FirstStep(user_id=manager, verification_id=verification_id)
                self.ctx.jobs.enqueue(
                    FIRST_STEP, first.model_dump(), f"workflow:first:{execution_id}"
                )
        except InvalidCandidate as error:
            return "; ".join(f"{INPUT_NAMES.get(k, k)}: {v}" for k, v in error.problems.items())
        except VerifybotError as error:
            return error.message
        log.info("slack.workflow_started", verification=verification_id, created=started.created)
        return None

    async def complete(self, job: Job) -> None:
        """functions.completeSuccess with the outputs, if the verification is finished now (a
        later change queues another job otherwise); a Web API failure that may pass retries."""
        try:
            work = Completion.model_validate(job.payload)
        except ValidationError:
            log.warning("slack.workflow_job_malformed", job_id=job.id)
            return
        execution = self.store.workflow_execution(work.execution_id)
        if execution is None or execution["status"] != "running":
            return
        view = await self.ctx.service.view(ACTOR, work.verification_id)
        if not view_finished(view):
            log.info("slack.workflow_not_finished", verification=view.id)
            return
        ctx = self.ctx.for_job(job)
        args = {"function_execution_id": work.execution_id, "outputs": outputs(view)}
        response = await ctx.once(
            "functions.completeSuccess", args, ctx.client.functions_completeSuccess
        )
        status = "completed" if response is not None else "failed"
        with self.store.transaction():
            self.store.end_workflow_execution(work.execution_id, status)
        log.info("slack.workflow_completed", verification=view.id, status=status)


INPUT_NAMES = {field: name for name, field in INPUT_FIELDS.items()}
