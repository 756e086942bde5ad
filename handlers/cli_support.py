"""What every `verifybot` command shares: the --db option, settings, the core, one-line errors."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.playbook import PlaybookRegistry
    from bot.runtime import Core

EXIT_BAD_INPUT = 2
DB_OPTION = click.option(
    "--db",
    envvar="VERIFYBOT_DB",
    default=None,
    help="SQLite database file [env VERIFYBOT_DB; default ./verifybot.db; "
    "VERIFYBOT_DATABASE_URL instead, unless --db is given]",
)


def fail(*lines: str) -> NoReturn:
    """Each line on stderr as `error: ...`, then exit 2."""
    for line in lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def load_settings(**overrides: Any) -> Settings:
    """Settings with the command line's overrides; exit 2 with one line per bad setting."""
    from pydantic import ValidationError

    from bot.config import Settings
    from handlers.settings_check import validation_problems

    try:
        settings = Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as error:
        fail(*validation_problems(error))
    if overrides.get("db") is not None and _given_on_the_command_line("db"):
        return settings.model_copy(update={"database_url": None})
    return settings


def _given_on_the_command_line(parameter: str) -> bool:
    """`--db PATH` typed (not from VERIFYBOT_DB) names a SQLite file even when
    VERIFYBOT_DATABASE_URL is set: reading a backup in place, for one."""
    from click.core import ParameterSource

    context = click.get_current_context(silent=True)
    return context is not None and context.get_parameter_source(parameter) is (
        ParameterSource.COMMANDLINE
    )


def load_playbooks_or_exit(settings: Settings) -> PlaybookRegistry:
    from bot.playbook import PlaybookError
    from bot.runtime import load_playbooks

    try:
        return load_playbooks(settings)
    except PlaybookError as error:
        fail(*str(error).splitlines())


def open_core(
    settings: Settings, playbooks: PlaybookRegistry | None = None, create_db: bool = True
) -> Core:
    """The wired core; exit 2 naming the path when the playbooks or the database are unusable."""
    from bot.config import SettingsError
    from bot.errors import StoreError
    from bot.playbook import PlaybookError
    from bot.runtime import build_core

    playbooks = playbooks or load_playbooks_or_exit(settings)
    try:
        return build_core(settings, playbooks=playbooks, create_db=create_db)
    except StoreError as error:
        fail(error.message)
    except SettingsError as error:
        fail(str(error))
    except PlaybookError as error:
        fail(*str(error).splitlines())
