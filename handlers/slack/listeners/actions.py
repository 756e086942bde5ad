"""Button presses: queued as a job in the database, then acked, then run by the job worker."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.jobs import QueueBusy
from bot.models import Decision
from handlers.slack import jobs
from handlers.slack.blocks import ANSWER_ACTION, CHANGE_ACTION, DECIDE_ACTION, RESUME_ACTION
from handlers.slack.context import SlackContext
from handlers.slack.flows import Click
from handlers.slack.payloads import ENVELOPE

log = structlog.get_logger("verifybot.slack")

ANSWER = re.compile(rf"^{ANSWER_ACTION}:\d{{1,2}}$")
DECIDE = re.compile(rf"^{DECIDE_ACTION}:({'|'.join(d.value for d in Decision)})$")
BUSY = json.dumps({"ok": False, "error": "busy, try again"})
CLICKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (ANSWER, jobs.ANSWER),
    (re.compile(rf"^{CHANGE_ACTION}$"), jobs.CHANGE),
    (re.compile(rf"^{RESUME_ACTION}$"), jobs.RESUME),
    (DECIDE, jobs.DECIDE),
)


def not_queued(kind: str) -> BoltResponse:
    """No ack: Slack shows the person that the click failed, so nothing acked is lost."""
    log.error("slack.click_not_queued", kind=kind, reason="the database stayed locked")
    return BoltResponse(status=503, body=BUSY)


def queued_click(
    ctx: SlackContext, kind: str
) -> Callable[..., Coroutine[Any, Any, BoltResponse | None]]:
    """The listener of a button whose work is a job of `kind`: queued, then acked."""

    async def pressed(ack: AsyncAck, context: AsyncBoltContext) -> BoltResponse | None:
        click = Click.of(context[ENVELOPE])
        try:
            await ctx.jobs.submit(kind, click.job_payload(), click.job_key())
        except QueueBusy:
            return not_queued(kind)
        await ack()
        return None

    pressed.__name__ = kind.replace(".", "_")
    return pressed


def register(app: AsyncApp, ctx: SlackContext) -> None:
    for action, kind in CLICKS:
        app.action(action)(queued_click(ctx, kind))
