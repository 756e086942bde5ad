"""Verifications other systems started: found a hiring manager by email and sent them the first
step, or posted to the hiring channel for someone to take; the shipping address given later."""

from __future__ import annotations

from typing import Any

import structlog
from slack_sdk.errors import SlackApiError

from bot.errors import InvalidInput, VerifybotError
from bot.intake import HANDOVER, HIRING_NOTICE
from bot.models import Actor, AnswerOutcome, Platform
from bot.outbox import DeliveryError
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
from handlers.slack.context import SlackContext, slack_actor
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
__all__ = ["HANDOVER", "HIRING_NOTICE", "SlackHandover"]

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
    """The deferred work `slack.handover`: payload verification_id, emails, intro, actor."""

    def __init__(self, ctx: SlackContext, hiring_channel: str | None) -> None:
        self.ctx = ctx
        self.hiring_channel = hiring_channel

    async def find(self, emails: list[str]) -> str | None:
        """The Slack user id of the first email Slack knows; errors other than unknown raise."""
        for email in emails:
            try:
                response = await self.ctx.client.users_lookupByEmail(email=email)
            except SlackApiError as error:
                if error.response.get("error") in NOT_FOUND:
                    continue
                raise DeliveryError(f"users.lookupByEmail: {error.response.get('error')}") from None
            user = response.get("user") or {}
            if isinstance(user.get("id"), str) and not user.get("deleted"):
                return user["id"]
        return None

    async def __call__(self, payload: dict[str, Any]) -> None:
        integration = Actor(user_id=payload["actor"], platform=Platform(payload["platform"]))
        verification_id = payload["verification_id"]
        intro = payload["intro"]
        user = await self.find(list(payload.get("emails") or []))
        service = self.ctx.service
        if user is not None:
            outcome = await service.assign(integration, verification_id, slack_actor(user))
            if not outcome.duplicate:
                await self._post(user, first_step_message(outcome, intro))
            return
        if not self.hiring_channel:
            log.warning("slack.handover_nobody", verification=verification_id)
            return
        view = await service.view(integration, verification_id)
        emails = ", ".join(payload.get("emails") or []) or "no email"
        lines = [
            f"*{escape(intro)}*",
            f"{escape(view.candidate.name)} ({view.id}): nobody was found in Slack for "
            f"the hiring manager ({escape(emails)}). Whoever takes it answers the verification.",
        ]
        take = button("Take it", TAKE_ACTION, view.id)
        message = {
            "text": f"{intro}: {view.candidate.name} ({view.id}) needs a hiring manager",
            "blocks": [section("\n".join(lines)), actions("vb_take", [take])],
        }
        await self._post(self.hiring_channel, message)

    async def _post(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await self.ctx.client.chat_postMessage(channel=channel, **message)
        except SlackApiError as error:
            raise DeliveryError(f"chat.postMessage: {error.response.get('error')}") from None

    async def notice(self, payload: dict[str, Any]) -> None:
        """The deferred work `slack.hiring_notice`: a line for the hiring channel."""
        if self.hiring_channel:
            await self._post(self.hiring_channel, {"text": escape(str(payload["text"]))})


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
    except InvalidInput as error:
        await ack(response_action="errors", errors={SHIP_BLOCK: error.reason})
        return
    except VerifybotError as error:
        await ack(response_action="errors", errors={SHIP_BLOCK: error.message})
        return
    await ack()
    if outcome.duplicate:
        return
    ctx.background.spawn(post_next(ctx, actor.user_id, outcome), "slack.shipping_given")
