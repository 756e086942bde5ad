"""The overdue post's Acknowledge button: queued as a job before the ack, run after it."""

from __future__ import annotations

import re

import structlog
from slack_bolt.async_app import AsyncApp

from bot.errors import VerifybotError
from bot.jobs import Job
from bot.notices import OverdueNotice, OverdueRef
from handlers.slack.chase_blocks import OVERDUE_ACTION, overdue_message
from handlers.slack.context import SlackContext, slack_actor
from handlers.slack.flows import Click
from handlers.slack.listeners.actions import queued_click

log = structlog.get_logger("verifybot.slack")

OVERDUE_ACK = "slack.overdue_ack"
CLICKS = ((re.compile(rf"^{OVERDUE_ACTION}$"), OVERDUE_ACK),)


async def acknowledge(ctx: SlackContext, click: Click) -> None:
    """Recorded once (security only); the post then says who acknowledged it."""
    verification_id = click.value or ""
    try:
        await ctx.service.acknowledge_overdue(slack_actor(click.user_id), verification_id)
    except VerifybotError as error:
        await ctx.tell(click.user_id, click.channel_id, error.message)
        return
    notice = ctx.service.render_notice(OverdueRef(verification_id=verification_id).model_dump())
    if isinstance(notice, OverdueNotice) and click.channel_id and click.message_ts:
        await ctx.update(click.channel_id, click.message_ts, overdue_message(notice))


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def run(job: Job) -> None:
        await acknowledge(ctx.for_job(job), Click.of_job(job.payload))

    ctx.jobs.register(OVERDUE_ACK, run)

    for action, kind in CLICKS:
        app.action(action)(queued_click(ctx, kind))
