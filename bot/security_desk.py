"""What the security team does: decide escalations, see them, name its channel."""

from __future__ import annotations

from bot.errors import InvalidInput, NotFound
from bot.ids import (
    parse_escalation_id,
    security_channel_key,
)
from bot.models import (
    AVAILABLE_DECISIONS,
    DECISION_STATUS,
    Actor,
    Decision,
    EscalationStatus,
    EscalationView,
    Platform,
)
from bot.notices import (
    DecisionRef,
)
from bot.outcomes import Outcomes
from bot.store import Row
from bot.validation import clean_note


class SecurityDesk(Outcomes):
    """Decisions on escalations, which only security users may take."""

    direct_targets: tuple[str, ...]

    async def decide(
        self, actor: Actor, escalation_id: int | str, decision: Decision | str, reason: str | None
    ) -> tuple[EscalationView, bool]:
        """Record a security decision; (the escalation, True when something changed)."""
        if not self.roles.is_security(actor):
            self._refuse(actor, "escalation.decide", None, self.roles.security_denial_reason(actor))
        escalation_id = parse_escalation_id(escalation_id)
        try:
            decision = Decision(decision)
        except ValueError:
            raise InvalidInput("unknown decision", "decision") from None
        row = self.store.escalation(escalation_id)
        if row is None:
            raise NotFound(f"no escalation {escalation_id}")
        try:
            reason = clean_note(reason)
        except ValueError as error:
            raise InvalidInput(str(error), "reason") from None
        if decision is Decision.CLEAR and not reason:
            raise InvalidInput("say why this is a false alarm", "reason")
        status = DECISION_STATUS[decision]
        current = EscalationStatus(row["status"])
        if current == status:
            return self._escalation_view(self._escalation_row(escalation_id)), False
        if decision not in AVAILABLE_DECISIONS[current]:
            raise InvalidInput(
                f"this escalation was already {current.value} by {row['decided_by']}", "decision"
            )
        verification = self._verification_row(row["verification_id"])
        with self.store.transaction():
            resolved_through = (
                max((a["id"] for a in self.store.answers(row["verification_id"])), default=0)
                if decision is Decision.CLEAR
                else None
            )
            self.store.decide_escalation(
                escalation_id,
                status.value,
                actor.user_id,
                actor.platform.value,
                reason,
                resolved_through,
            )
            self.store.audit(
                actor.user_id,
                actor.platform,
                f"escalation.{status.value}",
                row["verification_id"],
                {
                    "escalation": escalation_id,
                    "reason": bool(reason),
                    "resolved_through": resolved_through,
                },
            )
            self._refresh_status(row["verification_id"], self._playbook_of(verification))
            notified = verification["platform"] in self.direct_targets
            if notified:
                notice = DecisionRef(
                    escalation_id=escalation_id,
                    status=status,
                    decided_by=actor.user_id,
                    decided_platform=actor.platform,
                    recipient=verification["requested_by"],
                    recipient_platform=Platform(verification["platform"]),
                )
                self.store.enqueue(
                    escalation_id,
                    notice.kind,
                    verification["platform"],
                    notice.model_dump(mode="json"),
                )
        self._outbox_written(notified)
        return self._escalation_view(self._escalation_row(escalation_id)), True

    async def escalation(self, actor: Actor, escalation_id: int | str) -> EscalationView:
        if not self.roles.is_security(actor):
            self._refuse(actor, "escalation.view", None, "not a security user")
        row = self.store.escalation(parse_escalation_id(escalation_id))
        if row is None:
            raise NotFound(f"no escalation {escalation_id}")
        return self._escalation_view(row)

    def register_security_channel(self, actor: Actor, reference: Row) -> None:
        """Escalations of the actor's platform go to the conversation `reference` names.

        Only a security user may say so; a refusal is audited like any other.
        """
        if not self.roles.is_security(actor):
            self._refuse(actor, "security_channel.register", None, "not a security user")
        conversation = reference.get("conversation") or {}
        with self.store.transaction():
            self.store.save_conversation_ref(
                security_channel_key(actor.platform), actor.platform.value, reference, actor.user_id
            )
            self.store.audit(
                actor.user_id,
                actor.platform,
                "security_channel.registered",
                None,
                {"conversation": conversation.get("id")},
            )

    def message_ref(self, escalation_id: int, target: str) -> str | None:
        """The platform's id of an escalation's first message in a security channel."""
        return self.store.message_ref(escalation_id, target)

    async def open_escalations(self, actor: Actor, limit: int = 20) -> list[EscalationView]:
        if not self.roles.is_security(actor):
            return []
        rows = self.store.escalations(
            [EscalationStatus.OPEN.value, EscalationStatus.ACKNOWLEDGED.value], limit
        )
        return [self._escalation_view(row) for row in rows]
