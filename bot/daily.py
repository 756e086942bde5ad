"""Work done once a day by whichever `serve` process claims it first: the retention purge, the
audit head posted to the security channels, and the security digest at VERIFYBOT_DIGEST_AT."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta, tzinfo

import structlog

from bot.chase import Chaser
from bot.digest import post_digest
from bot.erasure import SYSTEM_ACTOR, Erasure
from bot.models import Actor, Platform
from bot.notices import TextNotice
from bot.service import VerificationService
from bot.store import Store

log = structlog.get_logger("verifybot.daily")

DAY = timedelta(days=1)
CHECK_EVERY = 60.0
SYSTEM = Actor(user_id=SYSTEM_ACTOR, platform=Platform.CLI)


def audit_head_notice(store: Store) -> TextNotice:
    count, head = store.audit_head()
    return TextNotice(
        title="verifybot audit head",
        lines=[
            f"{count} events, head {head}",
            f"Keep it: `verifybot audit verify --anchor {count}:{head[:32]}` proves later "
            "that no event was cut from the end of the log.",
        ],
    )


def next_at(now: datetime, at: time, zone: tzinfo) -> datetime:
    """The next moment after `now` that the clocks of `zone` show `at`."""
    today = now.astimezone(zone).date()
    for day in (today, today + DAY, today + 2 * DAY):
        moment = datetime.combine(day, at, zone).astimezone(UTC)
        if moment > now:
            return moment
    raise ValueError("no next time of day")  # pragma: no cover


class DailyTasks:
    """Each task runs at most once a day across processes (a claim in the schedules table)."""

    def __init__(
        self,
        service: VerificationService,
        erasure: Erasure,
        chaser: Chaser | None = None,
        digest_at: time = time(9, 0),
        zone: tzinfo = UTC,
    ) -> None:
        self.service = service
        self.erasure = erasure
        self.chaser = chaser
        self.digest_at = digest_at
        self.zone = zone
        self.store = service.store
        self.tasks: dict[str, Callable[[], Awaitable[None]]] = {
            "retention": self.purge,
            "audit_head": self.post_audit_head,
        }
        if chaser is not None:
            self.tasks["digest"] = self.post_digest

    def _next_run(self, name: str, now: datetime) -> tuple[datetime, datetime | None]:
        """(the run after this one, the first run of a task never run) for task `name`."""
        if name == "digest":
            upcoming = next_at(now, self.digest_at, self.zone)
            return upcoming, upcoming
        return now + DAY, None

    async def run_due(self, now: datetime | None = None) -> list[str]:
        """The tasks due at `now` that this process claimed and ran."""
        now = now or self.store.clock()
        ran = []
        for name, task in self.tasks.items():
            next_run, first_run = self._next_run(name, now)
            with self.store.transaction():
                claimed = self.store.claim_schedule(name, now, next_run, first_run)
            if claimed:
                try:
                    await task()
                except Exception:
                    log.exception("daily.task_failed", task=name)
                ran.append(name)
        return ran

    async def purge(self) -> None:
        erased = self.erasure.purge(SYSTEM)
        log.info("daily.retention_purged", candidates=len(erased))

    async def post_audit_head(self) -> None:
        notice = audit_head_notice(self.store)
        with self.store.transaction():
            for target in self.service.security_targets:
                self.store.enqueue(None, notice.kind, target, notice.model_dump(mode="json"))
        self.service.outbox_written()

    async def post_digest(self) -> None:
        if self.chaser is not None:
            post_digest(self.chaser, self.store.clock())

    async def run(self) -> None:
        """Until cancelled: check for due tasks every minute."""
        while True:
            with contextlib.suppress(Exception):
                await self.run_due()
            await asyncio.sleep(CHECK_EVERY)
