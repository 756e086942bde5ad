"""Button presses: acked at once, handled in the background."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.models import Decision
from handlers.slack.blocks import ANSWER_ACTION, CHANGE_ACTION, DECIDE_ACTION, RESUME_ACTION
from handlers.slack.context import SlackContext
from handlers.slack.flows import Click, decide, record_answer, resume, show_change
from handlers.slack.payloads import ENVELOPE

ANSWER = re.compile(rf"^{ANSWER_ACTION}:\d{{1,2}}$")
DECIDE = re.compile(rf"^{DECIDE_ACTION}:({'|'.join(d.value for d in Decision)})$")

Flow = Callable[[SlackContext, Click], Coroutine[Any, Any, None]]


async def decide_pressed(ctx: SlackContext, click: Click) -> None:
    await decide(ctx, click, Decision(click.action_id.partition(":")[2]))


def register(app: AsyncApp, ctx: SlackContext) -> None:
    def listener(flow: Flow, name: str) -> Callable[..., Coroutine[Any, Any, None]]:
        async def pressed(ack: AsyncAck, context: AsyncBoltContext) -> None:
            await ack()
            ctx.background.spawn(flow(ctx, Click.of(context[ENVELOPE])), name)

        pressed.__name__ = name.replace(".", "_")
        return pressed

    app.action(ANSWER)(listener(record_answer, "slack.answer"))
    app.action(CHANGE_ACTION)(listener(show_change, "slack.change"))
    app.action(RESUME_ACTION)(listener(resume, "slack.resume"))
    app.action(DECIDE)(listener(decide_pressed, "slack.decide"))
