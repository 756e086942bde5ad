"""`/verify start|status|list|cancel|help`: answered in the ack; the start modal after it."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot import presenter
from bot.commands import CommandName, parse_command
from bot.errors import VerifybotError
from bot.models import Actor
from handlers.slack.blocks import escape, list_text, summary_message
from handlers.slack.context import ROLE_REFRESH_WAIT, SlackContext, slack_actor
from handlers.slack.flows import open_start_modal
from handlers.slack.payloads import ENVELOPE, SlashCommand

COMMAND = "/verify"
USAGE_PREFIX = f"{COMMAND} "


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def verify_command(ack: AsyncAck, context: AsyncBoltContext) -> None:
        await handle_verify(ctx, ack, context[ENVELOPE])

    app.command(COMMAND)(verify_command)


async def handle_verify(ctx: SlackContext, ack: AsyncAck, command: SlashCommand) -> None:
    parsed = parse_command(command.text)
    actor = slack_actor(command.user_id)
    await ctx.refresh_roles(wait=ROLE_REFRESH_WAIT)
    try:
        if parsed.name is CommandName.START:
            await start(ctx, ack, command, actor, parsed.argument)
        elif parsed.name is CommandName.STATUS:
            view = await ctx.service.status(actor, parsed.argument)
            own = view.requested_by == actor.user_id and view.platform == actor.platform
            await ack(**summary_message(view, can_continue=own))
        elif parsed.name is CommandName.LIST:
            await ack(text=list_text(await ctx.service.verifications(actor)))
        elif parsed.name is CommandName.CANCEL:
            await ack(**summary_message(await ctx.service.cancel(actor, parsed.argument)))
        else:
            await ack(text=presenter.usage(USAGE_PREFIX))
    except VerifybotError as error:
        await ack(text=escape(error.message))


async def start(
    ctx: SlackContext, ack: AsyncAck, command: SlashCommand, actor: Actor, name: str
) -> None:
    """Open the candidate modal, for a person who may start verifications."""
    ctx.service.check_can_start(actor)
    if not command.trigger_id:
        await ack(text=presenter.usage(USAGE_PREFIX))
        return
    await ack()
    ctx.background.spawn(open_start_modal(ctx, command, name), "slack.start_modal")
