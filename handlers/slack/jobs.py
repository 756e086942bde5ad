"""The Slack work done after an ack, as durable jobs: queued before the ack, run after it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from pydantic import BaseModel

from bot.errors import VerifybotError
from bot.jobs import Job, JobWorker
from bot.models import AnswerOutcome, Decision
from handlers.slack.context import SlackContext, slack_actor
from handlers.slack.flows import (
    Click,
    decide,
    post_next,
    record_answer,
    recorded_outcome,
    resume,
    show_change,
    show_decision,
    show_outcome,
)
from handlers.slack.payloads import MessageRef

log = structlog.get_logger("verifybot.slack")

ANSWER = "slack.answer"
CHANGE = "slack.change"
RESUME = "slack.resume"
DECIDE = "slack.decide"
FIRST_STEP = "slack.first_step"
NOTE_RECORDED = "slack.note_recorded"
CLEARED = "slack.cleared"

Flow = Callable[[SlackContext, dict[str, Any]], Coroutine[Any, Any, None]]


class FirstStep(BaseModel):
    """After the start form: the verification's first step to the hiring manager."""

    user_id: str
    verification_id: str
    computed: list[int] = []


class NoteRecorded(BaseModel):
    """After the note form: the step's message updated, then the next step."""

    user_id: str
    answer_id: int
    computed: list[int] = []
    duplicate: bool = False
    change: bool = False
    channel: str | None = None
    ts: str | None = None


class Cleared(BaseModel):
    """After the clear form: the escalation's message shows the decision."""

    user_id: str
    escalation_id: int
    channel: str | None = None
    ts: str | None = None


async def answer_pressed(ctx: SlackContext, payload: dict[str, Any]) -> None:
    await record_answer(ctx, Click.of_job(payload))


async def change_pressed(ctx: SlackContext, payload: dict[str, Any]) -> None:
    await show_change(ctx, Click.of_job(payload))


async def resume_pressed(ctx: SlackContext, payload: dict[str, Any]) -> None:
    await resume(ctx, Click.of_job(payload))


async def decide_pressed(ctx: SlackContext, payload: dict[str, Any]) -> None:
    click = Click.of_job(payload)
    await decide(ctx, click, Decision(click.action_id.partition(":")[2]))


async def first_step(ctx: SlackContext, payload: dict[str, Any]) -> None:
    job = FirstStep.model_validate(payload)
    actor = slack_actor(job.user_id)
    view = await ctx.service.view(actor, job.verification_id)
    outcome = AnswerOutcome(
        recorded=None,
        computed=[f for f in view.findings if f.answer_id in job.computed],
        verification=view,
        next_prompt=await ctx.service.next_prompt(actor, job.verification_id),
    )
    await post_next(ctx, job.user_id, outcome)


async def note_recorded(ctx: SlackContext, payload: dict[str, Any]) -> None:
    job = NoteRecorded.model_validate(payload)
    answer = ctx.service.store.answer(job.answer_id)
    if answer is None:
        return
    actor = slack_actor(job.user_id)
    outcome = await recorded_outcome(ctx, actor, answer, job.computed, job.duplicate)
    where = MessageRef(channel=job.channel, ts=job.ts)
    await show_outcome(ctx, job.user_id, where, outcome, job.change)


async def cleared(ctx: SlackContext, payload: dict[str, Any]) -> None:
    job = Cleared.model_validate(payload)
    escalation = await ctx.service.escalation(slack_actor(job.user_id), job.escalation_id)
    await show_decision(ctx, job.user_id, MessageRef(channel=job.channel, ts=job.ts), escalation)


FLOWS: dict[str, Flow] = {
    ANSWER: answer_pressed,
    CHANGE: change_pressed,
    RESUME: resume_pressed,
    DECIDE: decide_pressed,
    FIRST_STEP: first_step,
    NOTE_RECORDED: note_recorded,
    CLEARED: cleared,
}


def register_jobs(worker: JobWorker, ctx: SlackContext) -> None:
    """Each kind runs its flow with a context whose Web API failures retry the job; what the
    service refuses (the verification gone, a role lost meanwhile) ends the job."""

    def handler(flow: Flow) -> Callable[[Job], Coroutine[Any, Any, None]]:
        async def run(job: Job) -> None:
            try:
                await flow(ctx.for_job(job), job.payload)
            except VerifybotError as error:
                log.warning("slack.job_refused", job_id=job.id, kind=job.kind, error=error.message)

        return run

    for kind, flow in FLOWS.items():
        worker.register(kind, handler(flow))
