"""The `verifybot` command line. Commands that do not serve chat never import a chat SDK."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.runtime import Core

EXIT_BAD_INPUT = 2
DB_OPTION = click.option(
    "--db",
    envvar="VERIFYBOT_DB",
    default=None,
    help="SQLite database file [env VERIFYBOT_DB; default ./verifybot.db]",
)


def _settings(**overrides: Any) -> Settings:
    from bot.config import Settings

    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def _core(db: str | None) -> Core:
    from bot.config import SettingsError
    from bot.playbook import PlaybookError
    from bot.runtime import build_core

    try:
        return build_core(_settings(db=db))
    except SettingsError as error:
        _fail(str(error))
    except PlaybookError as error:
        raise click.ClickException(str(error)) from None


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="verifybot")
def main() -> None:
    """verifybot: pre-offer verification of remote hires, with escalation to security."""
    from handlers.logs import configure_logging

    configure_logging(default="WARNING")


@main.command()
@DB_OPTION
@click.option("--script", "script", type=click.Path(path_type=Path), help="Answers from CASE.yml")
@click.option("--playbook", default=None, help="Playbook id (default: pre-offer)")
def demo(db: str | None, script: Path | None, playbook: str | None) -> None:
    """Walk through a verification in the terminal, against the embedded SQLite."""
    from bot.case import CaseError, check_case, read_case
    from handlers.console import ConsoleNotifier, Demo, Keyboard, Script, script_values

    core = _core(db)
    try:
        core.add_notifier(ConsoleNotifier(click.echo), direct=True)
        core.service.notice_interval = timedelta(0)
        answers: Any = Keyboard()
        if script is not None:
            try:
                case = check_case(read_case(script), core.service.playbooks, str(script))
            except CaseError as error:
                _fail(str(error))
            playbook = playbook or case.playbook.id
            candidate = case.candidate.model_dump()
            answers = Script(script_values(candidate, case.answers), click.echo)
        try:
            code = asyncio.run(Demo(core, answers, click.echo).run(playbook))
        except ValueError as error:
            _fail(str(error))
    finally:
        core.close()
    sys.exit(code)


@main.command()
@click.argument("case_file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object")
@DB_OPTION
def check(case_file: Path, as_json: bool, db: str | None) -> None:
    """Run one case from CASE_FILE without a conversation, and record it."""
    from bot import presenter
    from bot.case import CaseError, check_case, read_case, result_json, run_case
    from handlers.console import ConsoleNotifier

    try:
        case = read_case(case_file)
    except CaseError as error:
        _fail(str(error))
    core = _core(db)
    try:
        try:
            checked = check_case(case, core.service.playbooks, str(case_file))
        except CaseError as error:
            _fail(str(error))
        core.add_notifier(ConsoleNotifier(lambda line: click.echo(line, err=as_json)))
        view = asyncio.run(_run_and_deliver(core, checked, run_case))
    finally:
        core.close()
    if as_json:
        click.echo(json.dumps(result_json(view), indent=2))
    else:
        for line in presenter.summary_lines(view):
            click.echo(line)


async def _run_and_deliver(core: Core, checked: Any, run_case: Any) -> Any:
    view = await run_case(core.service, checked)
    await core.worker.run_once()
    return view


@main.group()
def playbook() -> None:
    """Validate and show playbooks."""


@playbook.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def playbook_validate(files: tuple[Path, ...]) -> None:
    """Check playbook files (default: every installed playbook)."""
    from bot.playbook import (
        PlaybookError,
        PlaybookRegistry,
        default_playbook_dir,
        load_playbook,
        playbook_files,
    )

    paths = list(files) or playbook_files(default_playbook_dir())
    loaded = []
    failed = False
    for path in paths:
        try:
            playbook = load_playbook(path)
        except PlaybookError as error:
            click.echo(str(error), err=True)
            failed = True
        else:
            loaded.append(playbook)
            steps = len(playbook.steps)
            click.echo(f"{path}: ok ({playbook.id} v{playbook.version}, {steps} steps)")
    if loaded:
        try:
            PlaybookRegistry(loaded)
        except PlaybookError as error:
            click.echo(f"error: {error}", err=True)
            failed = True
    if failed:
        sys.exit(EXIT_BAD_INPUT)


@playbook.command("show")
@click.argument("playbook_id")
def playbook_show(playbook_id: str) -> None:
    """Print a playbook's steps and options."""
    from bot.playbook import PlaybookError, PlaybookRegistry

    try:
        shown = PlaybookRegistry.from_directory().get(playbook_id)
    except PlaybookError as error:
        _fail(str(error))
    click.echo(f"{shown.title} ({shown.id} v{shown.version})\n{shown.description}\n")
    for number, step in enumerate(shown.steps, start=1):
        kind = f" [computed: {step.check.value}]" if step.check else ""
        click.echo(f"{number}. {step.id}: {step.title}{kind}\n   {step.question}")
        for option in step.options:
            note = " (note required)" if option.note_required else ""
            click.echo(f"     - {option.value} -> {option.result.value}: {option.label}{note}")


@main.command()
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object")
@DB_OPTION
def status(reference: str, as_json: bool, db: str | None) -> None:
    """Show a verification by candidate NAME or verification ID."""
    from bot import presenter
    from bot.errors import VerifybotError
    from bot.models import Actor, Platform

    core = _core(db)
    try:
        actor = Actor(user_id="cli", platform=Platform.CLI)
        try:
            view = asyncio.run(core.service.status(actor, reference))
        except VerifybotError as error:
            _fail(error.message)
    finally:
        core.close()
    if as_json:
        from bot.intake import verification_json

        click.echo(json.dumps(verification_json(view), indent=2))
        return
    for line in presenter.summary_lines(view):
        click.echo(line)


@main.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include finished verifications")
@DB_OPTION
def list_command(show_all: bool, db: str | None) -> None:
    """List verifications, newest first."""
    from bot import presenter
    from bot.models import Actor, Platform

    core = _core(db)
    try:
        actor = Actor(user_id="cli", platform=Platform.CLI)
        views = asyncio.run(core.service.list(actor, open_only=not show_all))
    finally:
        core.close()
    if not views:
        click.echo("No open verifications." if not show_all else "No verifications.")
    for view in views:
        click.echo(
            f"{view.id}  {view.candidate.name:<24} {presenter.outcome_label(view.outcome):<32} "
            f"{view.progress}  by {view.requested_by} ({view.platform.value})"
        )


@main.command()
@click.option("--host", envvar="VERIFYBOT_HOST", default=None, help="[env VERIFYBOT_HOST]")
@click.option(
    "--port", envvar="VERIFYBOT_PORT", type=int, default=None, help="[env VERIFYBOT_PORT]"
)
@click.option("--socket-mode", is_flag=True, help="Slack Socket Mode (needs SLACK_APP_TOKEN)")
@DB_OPTION
def serve(host: str | None, port: int | None, socket_mode: bool, db: str | None) -> None:
    """Serve Slack (/slack/events) and Teams (/api/messages) on one aiohttp app."""
    from pydantic import ValidationError

    from bot.config import SettingsError
    from handlers.logs import configure_logging
    from handlers.server import ConfigError
    from handlers.server import serve as run_server

    configure_logging(default="INFO")
    try:
        settings = _settings(host=host, port=port, db=db)
        settings.check_roles()
    except (ValidationError, SettingsError) as error:
        _fail(str(error))
    try:
        asyncio.run(run_server(settings, socket_mode=socket_mode))
    except ConfigError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        click.echo("verifybot stopped.", err=True)


@main.command()
@click.option("--url", default=None, help="Public base URL, e.g. https://verifybot.example.com")
def manifest(url: str | None) -> None:
    """Print the Slack app manifest with the request URLs filled in."""
    from handlers.slack.manifest import render_manifest

    try:
        click.echo(render_manifest(url), nl=False)
    except ValueError as error:
        _fail(str(error))


@main.command("teams-package")
@click.option("--app-id", required=True, help="The Azure Bot's Microsoft App ID (a GUID)")
@click.option("--out", type=click.Path(path_type=Path), default=Path("verifybot-teams.zip"))
def teams_package(app_id: str, out: Path) -> None:
    """Build the Teams app package (manifest.json and icons) for upload."""
    from handlers.teams.package import build_package

    try:
        written = build_package(app_id, out)
    except ValueError as error:
        _fail(str(error))
    click.echo(f"wrote {written}")


if __name__ == "__main__":
    main()
