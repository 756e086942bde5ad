"""No verification stalls: reminders to the hiring manager, overdue posts and re-surfaced findings
for security, and the device hand-over when it falls due.

Everything is computed from the database by a scan that `serve` runs every minute: each message
is claimed with a row of the `chases` table (its key says what and which one) in the same
transaction as its outbox row, so a restart sends what fell due while it was down once, and two
processes on one database never send one twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from bot.durations import WorkClock
from bot.models import Actor, Platform
from bot.notices import HandoverRef, OverdueRef, ReminderRef, ResurfaceRef
from bot.roles import INTEGRATIONS
from bot.service import SYSTEM_ACTOR, VerificationService
from bot.store import Row

log = structlog.get_logger("verifybot.chase")

MAX_REMINDERS = 3
MAX_RESURFACES = 3
CHECK_EVERY = 60.0
IT_CHANNEL_OWNER = "it-channel"


@dataclass
class ChaseReport:
    """What one scan queued."""

    reminders: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    resurfaced: list[int] = field(default_factory=list)
    handovers: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.reminders) + len(self.overdue) + len(self.resurfaced) + len(self.handovers)


def reminder_due(clock: WorkClock, since: datetime, every: timedelta, now: datetime) -> int:
    """How many reminders (at most MAX_REMINDERS) are due `now` for a spell quiet `since`."""
    due = 0
    for seq in range(1, MAX_REMINDERS + 1):
        if clock.add(since, every * seq) > now:
            break
        due = seq
    return due


def parse_at(value: str) -> datetime:
    return datetime.fromisoformat(value)


class Chaser:
    """The scan: what is due is queued once, whichever process gets there first."""

    def __init__(
        self,
        service: VerificationService,
        remind_after: timedelta,
        overdue_after: timedelta,
        work_clock: WorkClock | None = None,
        it_channels: Mapping[str, str] | None = None,
    ) -> None:
        self.service = service
        self.store = service.store
        self.remind_after = remind_after
        self.overdue_after = overdue_after
        self.work_clock = work_clock or WorkClock()
        self.it_channels = dict(it_channels or {})

    def overdue_at(self, started: datetime) -> datetime:
        return self.work_clock.add(started, self.overdue_after)

    async def run_due(self, now: datetime | None = None) -> ChaseReport:
        now = now or self.store.clock()
        report = ChaseReport()
        self._handovers(now, report)
        for row in self.store.unfinished_verifications():
            self._remind(row, now, report)
            self._overdue(row, now, report)
        self._resurface(now, report)
        if report.total:
            self.service.outbox_written()
            log.info(
                "chase.queued",
                reminders=len(report.reminders),
                overdue=len(report.overdue),
                resurfaced=len(report.resurfaced),
                handovers=len(report.handovers),
            )
        return report

    def _remind(self, row: Row, now: datetime, report: ChaseReport) -> None:
        target = row["platform"]
        if target not in self.service.direct_targets:
            return
        since = parse_at(row["last_activity_at"])
        seq = reminder_due(self.work_clock, since, self.remind_after, now)
        if not seq:
            return
        key = f"remind:{row['id']}:{row['last_activity_at']}:{seq}"
        ref = ReminderRef(verification_id=row["id"], seq=seq, idle_since=since)
        due = self.work_clock.add(since, self.remind_after * seq)
        with self.store.transaction():
            if self.store.claim_chase(key, row["id"], "reminder", seq, due):
                self.store.enqueue(None, ref.kind, target, ref.model_dump(mode="json"))
                report.reminders.append(row["id"])

    def _overdue(self, row: Row, now: datetime, report: ChaseReport) -> None:
        due = self.overdue_at(parse_at(row["created_at"]))
        targets = self.service.security_targets
        if due > now or not targets:
            return
        ref = OverdueRef(verification_id=row["id"])
        with self.store.transaction():
            if self.store.claim_chase(f"overdue:{row['id']}", row["id"], "overdue", 1, due):
                for target in targets:
                    self.store.enqueue(None, ref.kind, target, ref.model_dump(mode="json"))
                self.store.audit(SYSTEM_ACTOR, row["platform"], "verification.overdue", row["id"])
                report.overdue.append(row["id"])

    def _resurface(self, now: datetime, report: ChaseReport) -> None:
        targets = self.service.security_targets
        if not targets:
            return
        oldest: dict[int, Row] = {}
        for finding in self.store.undecided_findings():
            oldest.setdefault(finding["escalation_id"], finding)
        for escalation_id, finding in oldest.items():
            since = parse_at(finding["answered_at"])
            seq = reminder_due(self.work_clock, since, self.remind_after, now)
            if not seq:
                continue
            verification_id = finding["verification_id"]
            key = f"resurface:{escalation_id}:{finding['resolved_through']}:{seq}"
            ref = ResurfaceRef(escalation_id=escalation_id, seq=seq, waiting_since=since)
            due = self.work_clock.add(since, self.remind_after * seq)
            with self.store.transaction():
                if self.store.claim_chase(key, verification_id, "resurface", seq, due):
                    for target in targets:
                        self.store.enqueue(
                            escalation_id, ref.kind, target, ref.model_dump(mode="json")
                        )
                    report.resurfaced.append(escalation_id)

    def _handovers(self, now: datetime, report: ChaseReport) -> None:
        for due in self.store.due_handovers(now):
            pre_offer = self.store.verification(due["pre_offer_id"])
            if pre_offer is None or pre_offer["cancelled_at"]:
                continue
            target = pre_offer["platform"]
            channel = self.it_channels.get(target)
            owner = (
                Actor(user_id=IT_CHANNEL_OWNER, platform=Platform.API)
                if channel
                else Actor(user_id=pre_offer["requested_by"], platform=Platform(target))
            )
            with self.store.transaction():
                verification_id = self.service.start_handover(due["pre_offer_id"], owner)
                if verification_id is None:
                    continue
                if target in self.service.direct_targets and Platform(target) not in INTEGRATIONS:
                    ref = HandoverRef(verification_id=verification_id, to_it_channel=bool(channel))
                    self.store.enqueue(None, ref.kind, target, ref.model_dump(mode="json"))
            report.handovers.append(verification_id)

    async def run(self) -> None:
        """Until cancelled: scan every minute."""
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("chase.scan_failed")
            await asyncio.sleep(CHECK_EVERY)
