"""`verifybot ship`: the laptop shipping address of a verification that started without it.
handlers/cli.py adds it to the `verifybot` command group."""

from __future__ import annotations

import asyncio

import click

from handlers.cli_support import DB_OPTION, fail, load_settings, open_core


@click.command()
@click.argument("verification_id", metavar="VB-ID")
@click.argument("address")
@DB_OPTION
def ship(verification_id: str, address: str, db: str | None) -> None:
    """Give the laptop shipping address of VB-ID; its check then runs."""
    from bot import presenter
    from bot.errors import VerifybotError
    from bot.models import Actor, Platform

    core = open_core(load_settings(db=db), create_db=False)
    try:
        actor = Actor(user_id="cli", platform=Platform.CLI)
        try:
            outcome = asyncio.run(
                core.service.give_shipping_address(actor, verification_id, address)
            )
        except VerifybotError as error:
            fail(error.message)
    finally:
        core.close()
    if outcome.duplicate:
        click.echo("That shipping address was already given: nothing changed.")
    for finding in outcome.computed:
        click.echo(presenter.finding_line(finding))
    for line in presenter.summary_lines(outcome.verification):
        click.echo(line)
