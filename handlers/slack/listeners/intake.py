"""Verifications other systems started: "Take it", and the shipping address given later."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from handlers.slack.blocks import SHIP_ACTION, TAKE_ACTION
from handlers.slack.context import SlackContext
from handlers.slack.flows import Click
from handlers.slack.handover import SHIP_CALLBACK, open_ship_modal, submit_ship, take
from handlers.slack.payloads import ENVELOPE


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def take_pressed(ack: AsyncAck, context: AsyncBoltContext) -> None:
        await ack()
        ctx.background.spawn(take(ctx, Click.of(context[ENVELOPE])), "slack.take")

    async def ship_pressed(ack: AsyncAck, context: AsyncBoltContext) -> None:
        await ack()
        ctx.background.spawn(open_ship_modal(ctx, Click.of(context[ENVELOPE])), "slack.ship")

    async def ship_submitted(ack: AsyncAck, context: AsyncBoltContext) -> None:
        await submit_ship(ctx, ack, context[ENVELOPE])

    app.action(TAKE_ACTION)(take_pressed)
    app.action(SHIP_ACTION)(ship_pressed)
    app.view(SHIP_CALLBACK)(ship_submitted)
