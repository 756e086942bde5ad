"""Outbox rows hold ids; this renders the notice they refer to, as things stand at delivery."""

from __future__ import annotations

from bot.models import (
    AWAITING_DECISION,
    Outcome,
    Platform,
)
from bot.notices import (
    DecisionNotice,
    DecisionRef,
    FindingNotice,
    HandoverNotice,
    HandoverRef,
    Notice,
    NoticeItem,
    OverdueNotice,
    OverdueRef,
    ReminderNotice,
    ReminderRef,
    ResurfaceNotice,
    ResurfaceRef,
    StepNotice,
    StepRef,
    TextNotice,
    notice_ref,
)
from bot.store import Row
from bot.views import Views

AWAITING_STATUSES = frozenset(status.value for status in AWAITING_DECISION)


class NoticeRendering(Views):
    """`render_notice` for the outbox worker."""

    def render_notice(self, payload: Row) -> Notice | None:
        """The notice an outbox row refers to, as things stand now; None if it is gone."""
        ref = notice_ref(payload)
        if isinstance(ref, TextNotice):
            return ref
        if isinstance(ref, ReminderRef | OverdueRef | HandoverRef | ResurfaceRef | StepRef):
            return self._render_chase(ref)
        row = self.store.escalation(ref.escalation_id)
        if row is None:
            return None
        if isinstance(ref, DecisionRef):
            verification = self._verification_row(row["verification_id"])
            candidate = self.store.candidate(verification["candidate_id"])
            return DecisionNotice(
                escalation_id=ref.escalation_id,
                verification_id=row["verification_id"],
                candidate_name=candidate["name"] if candidate else "",
                status=ref.status,
                decided_by=ref.decided_by,
                decided_platform=ref.decided_platform,
                reason=row["decision_reason"] if row["status"] == ref.status else None,
                recipient=ref.recipient,
                recipient_platform=ref.recipient_platform,
            )
        escalation = self._escalation_view(row)
        playbook = self._playbook_of(self._verification_row(row["verification_id"]))
        items = []
        for item in ref.items:
            answer = self.store.answer(item.answer_id)
            previous = self.store.answer(item.previous_id) if item.previous_id else None
            if answer is None:
                continue
            items.append(
                NoticeItem(
                    finding=self._finding(playbook, answer, security=True),
                    previous=self._finding(playbook, previous, security=True) if previous else None,
                    reopened=item.reopened,
                )
            )
        return FindingNotice(
            escalation=escalation, items=items, first=ref.first, left_out=ref.left_out
        )

    def _render_chase(
        self, ref: ReminderRef | OverdueRef | HandoverRef | ResurfaceRef | StepRef
    ) -> Notice | None:
        """A reminder, an overdue post, a re-surfaced escalation or a hand-over, as of now.

        None (dropped) when what it is about is over: answered, finished, decided, erased.
        """
        if isinstance(ref, ResurfaceRef):
            row = self.store.escalation(ref.escalation_id)
            if row is None or row["status"] not in AWAITING_STATUSES:
                return None
            escalation = self._escalation_view(row)
            undecided = [f for f in escalation.findings if not f.resolved and not f.superseded_by]
            if not undecided:
                return None
            return ResurfaceNotice(
                escalation=escalation,
                seq=ref.seq,
                waiting_since=ref.waiting_since,
                undecided=len(undecided),
                now=self.store.clock(),
            )
        row = self.store.verification(ref.verification_id)
        if row is None or row["cancelled_at"]:
            return None
        view = self._view(row)
        if view.erased:
            return None
        if isinstance(ref, StepRef):
            return StepNotice(
                verification_id=row["id"],
                candidate_name=view.candidate.name,
                playbook_title=view.playbook_title,
                prompt=self._prompt_for(row),
                recipient=row["requested_by"],
                recipient_platform=Platform(row["platform"]),
            )
        if isinstance(ref, HandoverRef):
            pre_offer = self.store.handover_link(row["id"])
            return HandoverNotice(
                verification_id=row["id"],
                pre_offer_id=pre_offer["pre_offer_id"] if pre_offer else "",
                candidate_name=view.candidate.name,
                prompt=self._prompt_for(row),
                recipient=row["requested_by"],
                recipient_platform=Platform(row["platform"]),
                to_it_channel=ref.to_it_channel,
            )
        if view.outcome is not Outcome.IN_PROGRESS:
            return None
        prompt = self._prompt_for(row)
        if isinstance(ref, ReminderRef):
            return ReminderNotice(
                verification_id=row["id"],
                candidate_name=view.candidate.name,
                seq=ref.seq,
                idle_since=ref.idle_since,
                prompt=prompt,
                waiting_for=view.waiting_for,
                answered=view.answered,
                total=view.total,
                recipient=row["requested_by"],
                recipient_platform=Platform(row["platform"]),
                now=self.store.clock(),
            )
        playbook = self._playbook_of(row)
        answered = {finding.step for finding in view.findings}
        missing = [step.title for step in playbook.steps if step.id not in answered]
        acknowledged = self.store.chases(row["id"], "overdue-ack")
        return OverdueNotice(
            verification_id=row["id"],
            candidate_name=view.candidate.name,
            playbook_title=view.playbook_title,
            requested_by=row["requested_by"],
            requested_platform=Platform(row["platform"]),
            started_at=view.created_at,
            missing=missing,
            acknowledged_by=acknowledged[0]["done_by"] if acknowledged else None,
            now=self.store.clock(),
        )
