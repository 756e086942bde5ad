"""`verifybot digest` and `verifybot export`: the security digest on demand, and the record as
CSV or JSON lines. handlers/cli.py adds them to the `verifybot` command group."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from handlers.cli_support import DB_OPTION, fail, load_settings, open_core

OUTCOMES = ("in_progress", "needs_review", "cleared", "blocked", "cancelled")


@click.command()
@click.option("--post", is_flag=True, help="Queue it for the security channels now")
@DB_OPTION
def digest(post: bool, db: str | None) -> None:
    """Print the security digest (what happened since the last one, what is open or overdue)."""
    from bot.digest import build_digest, post_digest

    core = open_core(load_settings(db=db), create_db=False)
    try:
        now = core.store.clock()
        chaser = core.chaser
        report = post_digest(chaser, now) if post else build_digest(chaser, now)
        targets = core.service.security_targets
    finally:
        core.close()
    notice = report.notice()
    click.echo(notice.title)
    for line in notice.lines:
        click.echo(line)
    if post:
        click.echo(
            f"queued for {', '.join(targets)} (delivered by `verifybot serve`)"
            if targets
            else "no security channel is configured: recorded, not sent"
        )


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r}: write a date as YYYY-MM-DD")


@click.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv")
@click.option("--since", default=None, help="Started on or after DATE (YYYY-MM-DD, UTC)")
@click.option("--until", default=None, help="Started on or before DATE (YYYY-MM-DD, UTC)")
@click.option("--outcome", "outcomes", multiple=True, type=click.Choice(OUTCOMES))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="A new file")
@click.option("--include-personal-data", "personal", is_flag=True, help="Names, emails, notes")
@DB_OPTION
def export(
    fmt: str,
    since: str | None,
    until: str | None,
    outcomes: tuple[str, ...],
    out: Path | None,
    personal: bool,
    db: str | None,
) -> None:
    """One row per verification; personal data only with --include-personal-data (audited)."""
    from bot.export import ExportFilter, export_records, to_csv, to_jsonl
    from bot.models import Actor, Platform

    which = ExportFilter(_day(since, "--since"), _day(until, "--until"), frozenset(outcomes))
    if which.since and which.until and which.since > which.until:
        fail(f"--since {since} is after --until {until}")
    if out is not None and out.exists():
        fail(f"{out}: already exists; an export never overwrites, give a new file name")
    if out is not None and not out.parent.is_dir():
        fail(f"{out}: no such directory; give a file in an existing directory")
    core = open_core(load_settings(db=db), create_db=False)
    try:
        actor = Actor(user_id="cli", platform=Platform.CLI)
        records = export_records(core.service, actor, which, personal, fmt)
    finally:
        core.close()
    text = to_csv(records, personal) if fmt == "csv" else to_jsonl(records)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        with out.open("x", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as error:
        fail(f"{out}: cannot write the export ({error.strerror})")
    click.echo(f"{len(records)} verifications written to {out}", err=True)
