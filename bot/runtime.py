"""Wiring of the core: the store, playbooks, roles, service and outbox worker for one process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.chase import Chaser
from bot.config import Settings
from bot.daily import DailyTasks
from bot.durations import zone
from bot.erasure import Erasure
from bot.ids import security_channel_key
from bot.jobs import JobWorker
from bot.models import Platform
from bot.outbox import Backoff, Notifier, OutboxWorker
from bot.playbook import PlaybookRegistry
from bot.roles import Roles
from bot.service import VerificationService
from bot.store import Clock, Store, utc_now
from bot.workflow import CompletionWatch


def configured_security_targets(settings: Settings, store: Store) -> tuple[str, ...]:
    """The chat security channels this installation has, whether or not this process serves them.

    A `verifybot check` run from a terminal writes its escalations for these too, and
    `verifybot serve` delivers them.
    """
    targets: list[str] = []
    slack_token = settings.slack_signing_secret or settings.slack_app_token
    if settings.slack_bot_token and slack_token and settings.slack_security_channel:
        targets.append("slack")
    teams_channel = (
        settings.teams_security_conversation_id and settings.teams_service_url
    ) or store.conversation_ref(security_channel_key(Platform.TEAMS))
    if settings.teams_configured and teams_channel:
        targets.append("teams")
    return tuple(targets)


@dataclass
class Core:
    """Everything a front end needs from bot/."""

    settings: Settings
    store: Store
    service: VerificationService
    worker: OutboxWorker
    erasure: Erasure
    jobs: JobWorker
    notifiers: list[Notifier] = field(default_factory=list)

    @property
    def chaser(self) -> Chaser:
        """Reminders, overdue posts, re-surfaced findings and due hand-overs."""
        it_channels = {
            "slack": self.settings.slack_it_channel,
            "teams": self.settings.teams_it_conversation_id,
        }
        return Chaser(
            self.service,
            self.settings.remind_after,
            self.settings.overdue_after,
            self.settings.work_clock,
            {target: channel for target, channel in it_channels.items() if channel},
        )

    @property
    def daily(self) -> DailyTasks:
        return DailyTasks(
            self.service,
            self.erasure,
            self.chaser,
            self.settings.digest_at,
            zone(self.settings.timezone),
        )

    def add_notifier(self, notifier: Notifier, security: bool = True, direct: bool = True) -> None:
        """Deliver escalations (security) and decisions (direct) through `notifier` too.

        A notifier for Teams when Teams is not configured is a mistake: its rows would wait
        for ever. ValueError.
        """
        if notifier.target == Platform.TEAMS and not self.settings.teams_configured:
            raise ValueError("Teams is not configured: no Teams notifier may be added")
        self.notifiers.append(notifier)
        self.worker.notifiers[notifier.target] = notifier
        if security and notifier.target not in self.service.security_targets:
            self.service.security_targets += (notifier.target,)
        if direct and notifier.target not in self.service.direct_targets:
            self.service.direct_targets += (notifier.target,)

    def close(self) -> None:
        self.store.close()


def load_playbooks(settings: Settings) -> PlaybookRegistry:
    """The playbooks of `settings` (VERIFYBOT_PLAYBOOKS, else the shipped ones)."""
    return PlaybookRegistry.from_directory(
        Path(settings.playbooks_dir) if settings.playbooks_dir else None
    )


def build_core(
    settings: Settings,
    notifiers: Sequence[Notifier] = (),
    clock: Clock = utc_now,
    backoff: Backoff | None = None,
    *,
    playbooks: PlaybookRegistry | None = None,
    create_db: bool = True,
) -> Core:
    """The core of one process; roles and playbooks load before the database opens, so a bad
    setting or playbook directory writes nothing. `create_db=False` refuses a database file that
    does not exist.

    PlaybookError when a playbook cannot be used, among them an installed playbook whose
    version the database recorded with other content: no process starts with it.
    """
    roles = Roles.from_settings(settings, clock=clock)
    playbooks = playbooks or load_playbooks(settings)
    store = Store(
        settings.database,
        clock=clock,
        create=create_db,
        key_settings=settings.key_settings(),
        pool_size=settings.database_pool_size,
    )
    worker = OutboxWorker(
        store,
        [],
        backoff=backoff or Backoff(cap=settings.outbox_retry_cap_seconds),
        lease_seconds=settings.outbox_lease_seconds,
    )
    service = VerificationService(
        store,
        playbooks,
        roles,
        security_targets=configured_security_targets(settings, store),
        on_outbox=worker.kick,
        notice_interval=settings.notice_interval,
        local_zone=zone(settings.timezone),
    )
    worker.render = service.render_notice
    try:
        service.versions.check_installed()
        service.versions.record_unrecorded()
    except BaseException:
        store.close()
        raise
    erasure = Erasure(store, roles, settings.retention_days)
    jobs = JobWorker(store, backoff=backoff, lease_seconds=settings.job_lease_seconds)
    service.on_refresh = CompletionWatch(store, jobs)
    core = Core(
        settings=settings,
        store=store,
        service=service,
        worker=worker,
        erasure=erasure,
        jobs=jobs,
    )
    for notifier in notifiers:
        core.add_notifier(notifier)
    return core
