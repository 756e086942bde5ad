"""The `verifybot` command line. Commands that do not serve chat never import a chat SDK."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from handlers import cli_chase, cli_intake, cli_records
from handlers.cli_support import (
    DB_OPTION,
    EXIT_BAD_INPUT,
    fail,
    load_playbooks_or_exit,
    load_settings,
    open_core,
)

if TYPE_CHECKING:
    from bot.case import CheckedCase
    from bot.config import Settings
    from bot.playbook import PlaybookRegistry
    from bot.runtime import Core


def _run_in_foreground(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Like asyncio.run, without its SIGINT handler: one Ctrl-C interrupts at once, even
    while the coroutine waits in input()."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _checked_case(path: Path, playbooks: PlaybookRegistry, playbook: str | None) -> CheckedCase:
    """The case file checked against its playbook (or `playbook`); exit 2 naming the field."""
    from bot.case import CaseError, check_case, read_case
    from bot.playbook import canonical_id

    try:
        case = read_case(path)
        if playbook is not None:
            if case.playbook and canonical_id(case.playbook) != canonical_id(playbook):
                fail(
                    f"{path}: playbook: the case is for {case.playbook!r} but --playbook "
                    f"says {playbook!r}; drop one of them"
                )
            case = case.model_copy(update={"playbook": playbook})
        return check_case(case, playbooks, str(path))
    except CaseError as error:
        fail(str(error))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="verifybot")
def main() -> None:
    """verifybot: pre-offer verification of remote hires, with escalation to security."""
    from pydantic import ValidationError

    from bot.config import Settings
    from handlers.logs import configure_logging

    try:
        settings = Settings()
    except ValidationError:  # each command reports bad settings itself, in one line each
        settings = None
    configure_logging(settings, default="WARNING")


@main.command()
@DB_OPTION
@click.option("--script", "script", type=click.Path(path_type=Path), help="Answers from CASE.yml")
@click.option("--playbook", default=None, help="Playbook id (default: pre-offer)")
def demo(db: str | None, script: Path | None, playbook: str | None) -> None:
    """Walk through a verification in the terminal, against the embedded SQLite."""
    from bot.playbook import PlaybookError
    from handlers.console import (
        EXIT_INTERRUPTED,
        ConsoleNotifier,
        Demo,
        Keyboard,
        Script,
        script_values,
    )

    settings = load_settings(db=db)
    playbooks = load_playbooks_or_exit(settings)
    answers: Any = Keyboard()
    if script is not None:
        case = _checked_case(script, playbooks, playbook)
        playbook = case.playbook.id
        candidate = case.candidate.model_dump()
        answers = Script(script_values(candidate, case.answers), click.echo)
    try:
        playbooks.get(playbook)
    except PlaybookError as error:
        fail(str(error))
    core = open_core(settings, playbooks)
    try:
        core.add_notifier(ConsoleNotifier(click.echo), direct=True)
        core.service.notice_interval = timedelta(0)
        code = _run_in_foreground(Demo(core, answers, click.echo).run(playbook))
    except KeyboardInterrupt:
        click.echo("\nInterrupted.")
        code = EXIT_INTERRUPTED
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
    from bot.case import result_json, run_case
    from handlers.console import NOT_SENT, QUEUED, ConsoleNotifier

    settings = load_settings(db=db)
    playbooks = load_playbooks_or_exit(settings)
    checked = _checked_case(case_file, playbooks, None)
    core = open_core(settings, playbooks)
    try:
        chats = [target for target in core.service.security_targets if target != "console"]
        heading = QUEUED if chats else NOT_SENT
        say = lambda line: click.echo(line, err=as_json)  # noqa: E731
        core.add_notifier(ConsoleNotifier(say, heading))
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
@DB_OPTION
def playbook_validate(files: tuple[Path, ...], db: str | None) -> None:
    """Check playbook files (default: every installed playbook), and against the database."""
    from bot.playbook import (
        PlaybookError,
        default_playbook_dir,
        installed_playbook_files,
        load_playbook,
        refuse_repeated_ids,
    )

    try:
        configured = load_settings(db=db).playbooks_dir
        paths = list(files) or installed_playbook_files(default_playbook_dir(configured))
    except PlaybookError as error:
        fail(str(error))
    loaded = []
    failed = False
    with _recorded_versions(db) as conflict:
        for path in paths:
            try:
                playbook = load_playbook(path)
            except PlaybookError as error:
                click.echo(str(error), err=True)
                failed = True
                continue
            loaded.append((path, playbook))
            problem = conflict(playbook, str(path))
            if problem:
                click.echo(problem, err=True)
                failed = True
            else:
                steps = len(playbook.steps)
                click.echo(f"{path}: ok ({playbook.id} v{playbook.version}, {steps} steps)")
    try:
        refuse_repeated_ids(loaded)
    except PlaybookError as error:
        click.echo(f"error: {error}", err=True)
        failed = True
    if failed:
        sys.exit(EXIT_BAD_INPUT)


@contextlib.contextmanager
def _recorded_versions(db: str | None) -> Iterator[Callable[[Any, str], str | None]]:
    """A check of a playbook against the versions the database recorded; none without one."""
    from bot.errors import StoreError
    from bot.keys import is_database_url
    from bot.playbook_versions import version_conflict
    from bot.store import Store

    settings = load_settings(db=db)
    path = settings.database
    if not is_database_url(path) and (path == ":memory:" or not Path(path).is_file()):
        yield lambda playbook, source: None
        return
    try:
        store = Store(path, create=False, key_settings=settings.key_settings())
    except StoreError as error:
        fail(error.message)
    try:
        yield lambda playbook, source: version_conflict(store, playbook, source)
    finally:
        store.close()


@playbook.command("show")
@click.argument("playbook_id")
def playbook_show(playbook_id: str) -> None:
    """Print a playbook's steps and options."""
    from bot.playbook import PlaybookError, PlaybookRegistry

    try:
        configured = load_settings().playbooks_dir
        directory = Path(configured) if configured else None
        shown = PlaybookRegistry.from_directory(directory).get(playbook_id)
    except PlaybookError as error:
        fail(str(error))
    click.echo(f"{shown.title} ({shown.id} v{shown.version})\n{shown.description}\n")
    for number, step in enumerate(shown.steps, start=1):
        kind = f" [computed: {step.check.value}]" if step.check else ""
        click.echo(f"{number}. {step.id}: {step.title}{kind}\n   {step.question}")
        for option in step.options:
            note = " (note required)" if option.note_required else ""
            click.echo(f"     - {option.value} -> {option.result.value}: {option.label}{note}")


@main.group()
def watchlist() -> None:
    """Known facilitator addresses, emails, phones and payout accounts (security's list)."""


@contextlib.contextmanager
def _watchlist(db: str | None, create_db: bool) -> Iterator[Any]:
    """The watchlist of the database, for the terminal's operator; exit 2 on any refusal."""
    from bot.errors import VerifybotError
    from bot.watchlist import Watchlist

    core = open_core(load_settings(db=db), create_db=create_db)
    try:
        yield Watchlist(core.store, core.service.roles)
    except VerifybotError as error:
        fail(error.message)
    finally:
        core.close()


def _watch_line(row: dict[str, Any]) -> str:
    source = f"  ({row['source']})" if row["source"] else ""
    return f"#{row['id']}  {row['kind']:<14} {row['shown']}{source}"


@watchlist.command("add")
@click.argument("kind", metavar="KIND")
@click.argument("value")
@click.option("--source", default=None, help="Where the entry comes from (incident, indictment)")
@DB_OPTION
def watchlist_add(kind: str, value: str, source: str | None, db: str | None) -> None:
    """Add VALUE as KIND: address, email, phone or payout_account."""
    from bot.models import Actor, Platform

    with _watchlist(db, create_db=True) as entries:
        row = entries.add(Actor(user_id="cli", platform=Platform.CLI), kind, value, source)
        click.echo(f"added {_watch_line(row)}")


@watchlist.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@DB_OPTION
def watchlist_import(file: Path, db: str | None) -> None:
    """Add every row of FILE.csv (columns kind,value,source); one bad row imports nothing."""
    from bot.models import Actor, Platform

    with _watchlist(db, create_db=True) as entries:
        entries.read_csv(file)
        rows = entries.import_csv(Actor(user_id="cli", platform=Platform.CLI), file)
        click.echo(f"imported {len(rows)} entries from {file}")


@watchlist.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include removed entries")
@DB_OPTION
def watchlist_list(show_all: bool, db: str | None) -> None:
    """The current entries (`--all`: removed ones too), oldest first."""
    from bot.models import Actor, Platform

    with _watchlist(db, create_db=False) as entries:
        rows = entries.list(Actor(user_id="cli", platform=Platform.CLI), show_all)
        if not rows:
            click.echo("The watchlist is empty.")
        for row in rows:
            removed = f"  [removed {row['removed_at'][:10]}]" if row["removed_at"] else ""
            click.echo(_watch_line(row) + removed)


@watchlist.command("remove")
@click.argument("watch_id", metavar="ID")
@DB_OPTION
def watchlist_remove(watch_id: str, db: str | None) -> None:
    """Remove entry ID (it stays in the database for the record)."""
    from bot.models import Actor, Platform

    with _watchlist(db, create_db=False) as entries:
        row = entries.remove(Actor(user_id="cli", platform=Platform.CLI), watch_id.lstrip("#"))
        click.echo(f"removed {_watch_line(row)}")


@main.command()
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object")
@DB_OPTION
def status(reference: str, as_json: bool, db: str | None) -> None:
    """Show a verification by candidate NAME or verification ID."""
    from bot import presenter
    from bot.errors import VerifybotError
    from bot.models import Actor, Platform

    core = open_core(load_settings(db=db), create_db=False)
    try:
        actor = Actor(user_id="cli", platform=Platform.CLI)
        try:
            view = asyncio.run(core.service.status(actor, reference))
        except VerifybotError as error:
            fail(error.message)
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

    core = open_core(load_settings(db=db), create_db=False)
    try:
        actor = Actor(user_id="cli", platform=Platform.CLI)
        views = asyncio.run(core.service.verifications(actor, open_only=not show_all))
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
@click.option(
    "--web-only",
    is_flag=True,
    help="answer requests only; `verifybot work` runs the work after them (PostgreSQL) "
    "[env VERIFYBOT_WEB_ONLY]",
)
@DB_OPTION
def serve(
    host: str | None, port: int | None, socket_mode: bool, web_only: bool, db: str | None
) -> None:
    """Serve Slack (/slack/events) and Teams (/api/messages) on one aiohttp app."""
    from handlers.server import serve as run_server
    from handlers.settings_check import serve_settings

    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "db": db,
        "web_only": True if web_only else None,
    }
    settings, problems = serve_settings(
        socket_mode, **{key: value for key, value in overrides.items() if value is not None}
    )
    _run_until_stopped(
        settings, problems, lambda ready: run_server(ready, socket_mode=socket_mode), "verifybot"
    )


@main.command()
@click.option("--host", envvar="VERIFYBOT_HOST", default=None, help="[env VERIFYBOT_HOST]")
@click.option("--port", type=int, default=None, help="serve /healthz and /metrics on this port")
def work(host: str | None, port: int | None) -> None:
    """Run the work after the acks (jobs, notices, reminders, daily tasks) beside
    `verifybot serve --web-only` processes, on PostgreSQL."""
    from handlers.settings_check import serve_settings
    from handlers.worker import work as run_worker

    overrides: dict[str, Any] = {"host": host, "port": port}
    settings, problems = serve_settings(
        False,
        listen=port is not None,
        worker=True,
        **{key: value for key, value in overrides.items() if value is not None},
    )
    _run_until_stopped(
        settings, problems, lambda ready: run_worker(ready, health_port=port), "verifybot work"
    )


def _run_until_stopped(
    settings: Settings | None,
    problems: list[str],
    run: Callable[[Settings], Coroutine[Any, Any, None]],
    name: str,
) -> None:
    """`run(settings)` until interrupted; each problem, and any error it stops on, in one line."""
    from bot.config import SettingsError
    from bot.errors import StoreError
    from bot.playbook import PlaybookError
    from handlers.logs import configure_logging
    from handlers.server import ConfigError

    if settings is None:
        fail(*problems)
    configure_logging(settings, default="INFO")
    try:
        settings.check_roles()
    except SettingsError as error:
        fail(str(error))
    try:
        asyncio.run(run(settings))
    except (ConfigError, PlaybookError) as error:
        fail(*str(error).splitlines())
    except StoreError as error:
        fail(error.message)
    except KeyboardInterrupt:
        click.echo(f"{name} stopped.", err=True)


@main.command()
@click.option("--url", required=True, help="Public base URL, e.g. https://verifybot.example.com")
def manifest(url: str) -> None:
    """Print the Slack app manifest with the request URLs filled in."""
    from urllib.parse import urlsplit

    from handlers.slack.manifest import render_manifest

    parts = urlsplit(url.strip())
    if parts.username is not None or parts.password is not None:
        fail(
            "--url must not carry a user name or password: Slack calls the URL as it is, "
            "so give https://HOST[/PREFIX] and keep credentials out of the manifest"
        )
    try:
        click.echo(render_manifest(url), nl=False)
    except ValueError as error:
        fail(str(error))


@main.command("teams-package")
@click.option("--app-id", required=True, help="The Azure Bot's Microsoft App ID (a GUID)")
@click.option("--website-url", required=True, help="https:// page about the app (websiteUrl)")
@click.option("--privacy-url", required=True, help="https:// privacy statement (privacyUrl)")
@click.option("--terms-url", required=True, help="https:// terms of use (termsOfUseUrl)")
@click.option("--out", type=click.Path(path_type=Path), default=Path("verifybot-teams.zip"))
def teams_package(
    app_id: str, website_url: str, privacy_url: str, terms_url: str, out: Path
) -> None:
    """Build the Teams app package (manifest.json and icons) for upload."""
    from handlers.teams.package import build_package, developer_urls

    try:
        developer = developer_urls(website_url, privacy_url, terms_url)
        written = build_package(app_id, out, developer=developer)
    except ValueError as error:
        fail(str(error))
    click.echo(f"wrote {written}")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@DB_OPTION
def backup(path: Path, db: str | None) -> None:
    """Copy the database to the new file PATH (SQLite's online backup; safe while serving)."""
    from bot.errors import StoreError
    from bot.store import Store

    settings = load_settings(db=db)
    try:
        store = Store(settings.database, create=False, key_settings=settings.key_settings())
    except StoreError as error:
        fail(error.message)
    try:
        written = store.backup(path)
        sources = sorted(set(store.vault.keys.sources.values()))
    except StoreError as error:
        fail(error.message)
    finally:
        store.close()
    click.echo(f"backed up {settings.db} to {written}")
    kept = ", ".join("the VERIFYBOT_*_KEY settings" if s == "setting" else s for s in sources)
    click.echo(f"The backup holds no keys: keep a copy of {kept} apart from it.")


for command in (
    cli_records.audit,
    cli_records.erase,
    cli_records.purge,
    cli_intake.ship,
    cli_chase.digest,
    cli_chase.export,
):
    main.add_command(command)

if __name__ == "__main__":
    main()
