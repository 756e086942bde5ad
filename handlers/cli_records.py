"""`verifybot audit`, `erase` and `purge`: proving the record untouched, and erasing what must
go. handlers/cli.py adds them to the `verifybot` command group."""

from __future__ import annotations

import click

from handlers.cli_support import DB_OPTION, fail, load_settings, open_core

EXIT_TAMPERED = 1


@click.group()
def audit() -> None:
    """Check the audit trail."""


@audit.command("verify")
@DB_OPTION
@click.option("--anchor", default=None, help="COUNT:MAC from an earlier `verifybot audit head`")
def audit_verify(db: str | None, anchor: str | None) -> None:
    """Check the keyed chain and replay it against the state tables; exit 1 on tampering."""
    from bot.audit import AuditFailure, parse_anchor, verify

    try:
        wanted = parse_anchor(anchor) if anchor else None
    except ValueError as error:
        fail(f"--anchor: {error}")
    core = open_core(load_settings(db=db), create_db=False)
    try:
        report = verify(core.store, wanted)
    except AuditFailure as failure:
        click.echo(f"audit: FAILED: {failure}", err=True)
        raise SystemExit(EXIT_TAMPERED) from None
    finally:
        core.close()
    click.echo(report.line)


@audit.command("head")
@DB_OPTION
def audit_head(db: str | None) -> None:
    """Print COUNT:MAC, the anchor to keep for `audit verify --anchor`."""
    core = open_core(load_settings(db=db), create_db=False)
    try:
        count, head = core.store.audit_head()
    finally:
        core.close()
    click.echo(f"{count}:{head}")


@click.command()
@click.argument("reference")
@click.option("--reason", default=None, help="Why (kept sealed, in the audit trail)")
@click.option("--force", is_flag=True, help="Erase even where fraud was confirmed")
@DB_OPTION
def erase(reference: str, reason: str | None, force: bool, db: str | None) -> None:
    """Erase the personal data of the candidate of VB-ID, or of EMAIL."""
    from bot.errors import VerifybotError
    from bot.models import Actor, Platform

    core = open_core(load_settings(db=db), create_db=False)
    try:
        actor = Actor(user_id="cli", platform=Platform.CLI)
        try:
            erased = core.erasure.erase(actor, reference, reason, force)
        except VerifybotError as error:
            fail(error.message)
    finally:
        core.close()
    for record in erased:
        click.echo(f"erased candidate {record.candidate_id}: {', '.join(record.verifications)}")


@click.command()
@click.option("--dry-run", is_flag=True, help="Say whom it would erase; erase nothing")
@DB_OPTION
def purge(dry_run: bool, db: str | None) -> None:
    """Erase every candidate whose verifications all finished before the retention period."""
    from bot.models import Actor, Platform

    core = open_core(load_settings(db=db), create_db=False)
    try:
        days = core.settings.retention_days
        erased = core.erasure.purge(Actor(user_id="cli", platform=Platform.CLI), dry_run)
    finally:
        core.close()
    verb = "would erase" if dry_run else "erased"
    for record in erased:
        click.echo(f"{verb} candidate {record.candidate_id}: {', '.join(record.verifications)}")
    click.echo(f"{len(erased)} candidate(s) {verb} (finished more than {days} days ago)")
