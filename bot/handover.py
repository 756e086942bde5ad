"""The device hand-over that follows a cleared pre-offer verification, and overdue posts."""

from __future__ import annotations

from datetime import date, datetime, time

from bot import metrics
from bot.ids import (
    parse_verification_id,
)
from bot.models import (
    Actor,
    Outcome,
)
from bot.notices import (
    StepRef,
)
from bot.playbook import canonical_id
from bot.records import SYSTEM_ACTOR
from bot.rendering import NoticeRendering
from bot.store import Row

PRE_OFFER = "pre-offer"
HANDOVER = "device-handover"


class Handovers(NoticeRendering):
    """Schedules and starts the device hand-over; records an overdue post's acknowledgement."""

    security_targets: tuple[str, ...]

    def _schedule_handover(self, row: Row) -> None:
        """Once per pre-offer verification: the hand-over, due on the start date or at once."""
        if canonical_id(row["playbook_id"]) != PRE_OFFER or not self._has_playbook(HANDOVER):
            return
        now = self.store.clock()
        start_date = self._candidate_of(row).get("start_date")
        try:
            due = datetime.combine(date.fromisoformat(str(start_date)), time(0), self.local_zone)
        except (TypeError, ValueError):
            due = now
        if self.store.schedule_handover(row["id"], max(due, now)):
            self.store.audit(
                SYSTEM_ACTOR,
                row["platform"],
                "handover.scheduled",
                row["id"],
                {"on_start_date": due > now},
            )

    def _has_playbook(self, playbook_id: str) -> bool:
        return any(canonical_id(p.id) == playbook_id for p in self.playbooks)

    def start_handover(self, pre_offer_id: str, owner: Actor) -> str | None:
        """Start the due hand-over of `pre_offer_id` for the same candidate, owned by `owner`.

        Call inside a transaction (it holds the write lock, so the check that nobody started
        it yet stands); None when another process started it first.
        """
        pre_offer = self._verification_row(pre_offer_id)
        playbook = self._playbook(HANDOVER)
        link = self.store.handover_link(pre_offer_id)
        if link is None or link["verification_id"] is not None:
            return None
        verification_id = self.store.unused_verification_id()
        self._record_playbook(playbook, Actor(user_id=SYSTEM_ACTOR, platform=owner.platform))
        self.store.insert_verification(
            {
                "id": verification_id,
                "candidate_id": pre_offer["candidate_id"],
                "playbook_id": playbook.id,
                "playbook_version": playbook.version,
                "requested_by": owner.user_id,
                "platform": owner.platform.value,
                "status": Outcome.IN_PROGRESS.value,
            }
        )
        self.store.audit(
            SYSTEM_ACTOR,
            owner.platform,
            "verification.started",
            verification_id,
            {
                "playbook": playbook.id,
                "version": playbook.version,
                "candidate": pre_offer["candidate_id"],
                "requested_by": owner.user_id,
                "platform": owner.platform.value,
                "pre_offer": pre_offer_id,
            },
        )
        self.store.claim_handover(pre_offer_id, verification_id)
        metrics.VERIFICATIONS_STARTED.labels(owner.platform.value).inc()
        return verification_id

    def send_step(self, verification_id: str) -> None:
        """Queue the verification's current step for its owner's own chat (it was started in a
        shared conversation); delivered when that chat can be reached."""
        row = self._verification_row(parse_verification_id(verification_id))
        ref = StepRef(verification_id=row["id"])
        with self.store.transaction():
            self.store.enqueue(None, ref.kind, row["platform"], ref.model_dump(mode="json"))
        self.outbox_written()

    async def acknowledge_overdue(self, actor: Actor, verification_id: str) -> bool:
        """Security saw the overdue post; True the first time (audited), False after."""
        if not self.roles.is_security(actor):
            self._refuse(
                actor, "overdue.acknowledge", None, self.roles.security_denial_reason(actor)
            )
        verification_id = parse_verification_id(verification_id)
        self._verification_row(verification_id)
        with self.store.transaction():
            first = self.store.claim_chase(
                f"overdue-ack:{verification_id}",
                verification_id,
                "overdue-ack",
                0,
                self.store.clock(),
                done_by=actor.user_id,
            )
            if first:
                self.store.audit(
                    actor.user_id, actor.platform, "overdue.acknowledged", verification_id
                )
        return first
