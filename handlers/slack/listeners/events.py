"""Events API: the App Home tab."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from handlers.slack.context import SlackContext
from handlers.slack.flows import publish_home
from handlers.slack.payloads import ENVELOPE, EventCallback

HOME_EVENT = "app_home_opened"


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def home_opened(ack: AsyncAck, context: AsyncBoltContext) -> None:
        await ack()
        callback: EventCallback = context[ENVELOPE]
        user = callback.event.user
        if user and callback.event.tab in (None, "home"):
            ctx.background.spawn(publish_home(ctx, user), "slack.home")

    app.event(HOME_EVENT)(home_opened)
