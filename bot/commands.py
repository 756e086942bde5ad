"""Parsing of the text commands both chat platforms accept (`start`, `status`, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.validation import clean_text

if TYPE_CHECKING:
    from bot.models import Actor, VerificationView
    from bot.service import VerificationService

MAX_COMMAND_LENGTH = 300


class CommandName(StrEnum):
    START = "start"
    STATUS = "status"
    LIST = "list"
    CANCEL = "cancel"
    HELP = "help"
    SECURITY_CHANNEL = "security channel here"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Command:
    name: CommandName
    argument: str = ""


def parse_command(text: str) -> Command:
    """A command from typed text; a leading `verify` is optional; unknown words give UNKNOWN."""
    words = clean_text(text or "")[:MAX_COMMAND_LENGTH]
    lowered = words.casefold()
    if lowered.startswith("verify ") or lowered == "verify":
        words = words[len("verify") :].strip()
        lowered = words.casefold()
    if not words:
        return Command(CommandName.HELP)
    if lowered == CommandName.SECURITY_CHANNEL.value:
        return Command(CommandName.SECURITY_CHANNEL)
    head, _, rest = words.partition(" ")
    try:
        name = CommandName(head.casefold())
    except ValueError:
        return Command(CommandName.UNKNOWN, words)
    if name is CommandName.SECURITY_CHANNEL:
        return Command(CommandName.UNKNOWN, words)
    return Command(name, rest.strip())


def split_playbook(argument: str, playbook_ids: Iterable[str]) -> tuple[str | None, str]:
    """`device-handover Jane Doe` -> ("device-handover", "Jane Doe") when the first word names
    an installed playbook; else (None, the whole argument)."""
    head, _, rest = argument.strip().partition(" ")
    known = {playbook_id.casefold(): playbook_id for playbook_id in playbook_ids}
    playbook_id = known.get(head.casefold().replace("_", "-"))
    return (playbook_id, rest.strip()) if playbook_id else (None, argument.strip())


@dataclass(frozen=True)
class CommandResult:
    """What a text command did, for a front end to render (Block Kit, a card, text).

    START names the playbook (when the first word is one) and the candidate; the front end
    then opens its form. SECURITY_CHANNEL, HELP and UNKNOWN are the front end's own.
    """

    name: CommandName
    view: VerificationView | None = None
    views: tuple[VerificationView, ...] = ()
    playbook: str | None = None
    argument: str = ""


async def run_command(
    service: VerificationService, actor: Actor, command: Command
) -> CommandResult:
    """The service call a text command makes on every platform; VerifybotError when refused."""
    match command.name:
        case CommandName.START:
            service.check_can_start(actor)
            ids = [playbook.id for playbook in service.playbooks]
            playbook, name = split_playbook(command.argument, ids)
            return CommandResult(command.name, playbook=playbook, argument=name)
        case CommandName.STATUS:
            return CommandResult(command.name, view=await service.status(actor, command.argument))
        case CommandName.LIST:
            return CommandResult(command.name, views=tuple(await service.verifications(actor)))
        case CommandName.CANCEL:
            return CommandResult(command.name, view=await service.cancel(actor, command.argument))
        case _:
            return CommandResult(command.name, argument=command.argument)
