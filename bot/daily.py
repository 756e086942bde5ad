"""Work done once a day by whichever `serve` process claims it first: the retention purge and
the audit head posted to the security channels."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

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


class DailyTasks:
    """Each task runs at most once a day across processes (a claim in the schedules table)."""

    def __init__(self, service: VerificationService, erasure: Erasure) -> None:
        self.service = service
        self.erasure = erasure
        self.store = service.store
        self.tasks: dict[str, Callable[[], Awaitable[None]]] = {
            "retention": self.purge,
            "audit_head": self.post_audit_head,
        }

    async def run_due(self, now: datetime | None = None) -> list[str]:
        """The tasks due at `now` that this process claimed and ran."""
        now = now or self.store.clock()
        ran = []
        for name, task in self.tasks.items():
            with self.store.transaction():
                claimed = self.store.claim_schedule(name, now, now + DAY)
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

    async def run(self) -> None:
        """Until cancelled: check for due tasks every minute."""
        while True:
            with contextlib.suppress(Exception):
                await self.run_due()
            await asyncio.sleep(CHECK_EVERY)
