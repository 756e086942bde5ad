"""`/verify start|status|list|cancel|help`: answered in the ack; the start modal after it."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot import presenter
from bot.commands import CommandName, CommandResult, parse_command, run_command
from bot.errors import VerifybotError
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
    actor = slack_actor(command.user_id)
    await ctx.refresh_roles(wait=ROLE_REFRESH_WAIT)
    try:
        result = await run_command(ctx.service, actor, parse_command(command.text))
    except VerifybotError as error:
        await ack(text=escape(error.message))
        return
    match result.name:
        case CommandName.START:
            await start(ctx, ack, command, result)
        case CommandName.STATUS if result.view is not None:
            view = result.view
            own = view.requested_by == actor.user_id and view.platform == actor.platform
            await ack(**summary_message(view, can_continue=own))
        case CommandName.LIST:
            await ack(text=list_text(result.views))
        case CommandName.CANCEL if result.view is not None:
            await ack(**summary_message(result.view))
        case _:
            await ack(text=presenter.usage(USAGE_PREFIX))


async def start(
    ctx: SlackContext, ack: AsyncAck, command: SlashCommand, result: CommandResult
) -> None:
    """Open the candidate modal (the playbook named in the command chosen in it)."""
    if not command.trigger_id:
        await ack(text=presenter.usage(USAGE_PREFIX))
        return
    await ack()
    modal = open_start_modal(ctx, command, result.argument, result.playbook)
    ctx.background.spawn(modal, "slack.start_modal")
