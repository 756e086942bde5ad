"""Verifications other systems started: found a hiring manager by email and sent them the first
step, or posted to the hiring channel for someone to take; the shipping address given later."""

from __future__ import annotations

from typing import Any

import structlog
from slack_sdk.errors import SlackApiError

from bot.errors import InvalidInput, VerifybotError
from bot.intake_jobs import HANDOVER, HIRING_NOTICE, Handover, opened
from bot.jobs import Job, JobWorker, RetryLater
from bot.models import AnswerOutcome, VerificationView
from handlers.slack.blocks import (
    TAKE_ACTION,
    actions,
    button,
    context,
    escape,
    mention,
    prompt_message,
    section,
    summary_message,
)
from handlers.slack.context import SlackContext, retry_after, retryable, slack_actor
from handlers.slack.errors import WEB_API_ERRORS
from handlers.slack.flows import Click, post_next
from handlers.slack.payloads import (
    MessageRef,
    SubmittedView,
    ViewSubmission,
    decode_metadata,
    decode_verification,
    encode_metadata,
    input_value,
)
from handlers.slack.surfaces import TextField, modal, text_input

log = structlog.get_logger("verifybot.slack.handover")

SHIP_CALLBACK = "vb_ship"
SHIP_BLOCK = "shipping_address"
SHIP_INPUT = TextField(SHIP_BLOCK, "Laptop shipping address", 500, multiline=True)
NOT_FOUND = frozenset({"users_not_found", "user_not_found"})


class ShipMetadata(MessageRef):
    verification: str


def first_step_message(outcome: AnswerOutcome, intro: str) -> dict[str, Any]:
    """The first step (or the summary), with a line saying where the verification came from."""
    shown = (
        prompt_message(outcome.next_prompt)
        if outcome.next_prompt is not None
        else summary_message(outcome.verification)
    )
    return {
        "text": f"{intro}\n{shown['text']}",
        "blocks": [context(escape(intro)), *shown["blocks"]],
    }


class SlackHandover:
    """The jobs `slack.handover` and `slack.hiring_notice` (payloads sealed, bot/intake_jobs.py)."""

    def __init__(self, ctx: SlackContext, hiring_channel: str | None) -> None:
        self.ctx = ctx
        self.hiring_channel = hiring_channel

    def register(self, worker: JobWorker) -> None:
        worker.register(HANDOVER, self.handover)
        worker.register(HIRING_NOTICE, self.notice)

    async def find(self, ctx: SlackContext, emails: list[str]) -> str | None:
        """The Slack user id of the first email Slack knows; a failure that may pass retries."""
        for email in emails:
            call = ctx.client.users_lookupByEmail(email=email)
            try:
                response = await call
            except SlackApiError as error:
                if error.response.get("error") in NOT_FOUND:
                    continue
                if retryable(error):
                    raise RetryLater(f"users.lookupByEmail: {error}", retry_after(error)) from None
                log.warning("slack.lookup_failed", error=error.response.get("error"))
                continue
            except WEB_API_ERRORS as error:
                raise RetryLater(f"users.lookupByEmail: {type(error).__name__}") from None
            user = response.get("user") or {}
            if isinstance(user.get("id"), str) and not user.get("deleted"):
                return user["id"]
        return None

    async def handover(self, job: Job) -> None:
        ctx = self.ctx.for_job(job)
        work = Handover.model_validate(opened(ctx.service.store, job.payload))
        service = ctx.service
        try:
            user = await self.find(ctx, work.emails)
            if user is not None:
                outcome = await service.assign(
                    work.integration, work.verification_id, slack_actor(user)
                )
                await ctx.post(user, first_step_message(outcome, work.intro))
                return
            if not self.hiring_channel:
                log.warning("slack.handover_nobody", verification=work.verification_id)
                return
            view = await service.view(work.integration, work.verification_id)
        except VerifybotError as error:
            log.warning("slack.handover_refused", job_id=job.id, error=error.message)
            return
        await ctx.post(self.hiring_channel, take_message(view, work.intro, work.emails))

    async def notice(self, job: Job) -> None:
        """A line for the hiring channel."""
        text = str(opened(self.ctx.service.store, job.payload)["text"])
        if self.hiring_channel:
            await self.ctx.for_job(job).post(self.hiring_channel, {"text": escape(text)})


def take_message(view: VerificationView, intro: str, emails: list[str]) -> dict[str, Any]:
    """The hiring channel's message when nobody was found: whoever takes it answers."""
    lines = [
        f"*{escape(intro)}*",
        f"{escape(view.candidate.name)} ({view.id}): nobody was found in Slack for "
        f"the hiring manager ({escape(', '.join(emails) or 'no email')}). Whoever takes it "
        "answers the verification.",
    ]
    take = button("Take it", TAKE_ACTION, view.id)
    return {
        "text": f"{intro}: {view.candidate.name} ({view.id}) needs a hiring manager",
        "blocks": [section("\n".join(lines)), actions("vb_take", [take])],
    }


async def take(ctx: SlackContext, click: Click) -> None:
    """The "Take it" button: the verification is the presser's; the first step goes to their DM."""
    actor = slack_actor(click.user_id)
    try:
        outcome = await ctx.service.assign(actor, decode_verification(click.value))
    except VerifybotError as error:
        await ctx.tell(click.user_id, click.channel_id, error.message)
        return
    if click.channel_id and click.message_ts:
        view = outcome.verification
        text = f"{escape(view.candidate.name)} ({view.id}) was taken by {mention(actor.user_id)}."
        await ctx.update(click.channel_id, click.message_ts, {"text": text, "blocks": []})
    if not outcome.duplicate:
        await post_next(ctx, actor.user_id, outcome)


def ship_modal(verification_id: str, where: MessageRef) -> dict[str, Any]:
    metadata = ShipMetadata(verification=verification_id, channel=where.channel, ts=where.ts)
    return modal(
        SHIP_CALLBACK,
        "Shipping address",
        [text_input(SHIP_INPUT)],
        "Save",
        private_metadata=encode_metadata(metadata),
    )


async def open_ship_modal(ctx: SlackContext, click: Click) -> None:
    try:
        verification_id = decode_verification(click.value)
    except InvalidInput as error:
        await ctx.tell(click.user_id, click.channel_id, error.message)
        return
    view = ship_modal(verification_id, click.where)
    await ctx.open_modal(click.trigger_id or "", view, click.user_id, click.channel_id)


async def submit_ship(ctx: SlackContext, ack: Any, submission: ViewSubmission) -> None:
    """The address recorded before the ack (errors inline); what it computed posted after."""
    view: SubmittedView = submission.view
    actor = slack_actor(submission.user.id)
    try:
        metadata = decode_metadata(ShipMetadata, view.private_metadata)
        outcome = await ctx.service.give_shipping_address(
            actor, metadata.verification, input_value(view, SHIP_BLOCK) or ""
        )
    except VerifybotError as error:
        await ack(response_action="errors", errors={SHIP_BLOCK: error.reason})
        return
    await ack()
    if outcome.duplicate:
        return
    ctx.background.spawn(post_next(ctx, actor.user_id, outcome), "slack.shipping_given")
