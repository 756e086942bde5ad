"""The rows a verification is made of, read for the service (NotFound when one is missing)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar, cast

from bot import metrics
from bot.errors import InvalidInput, NotFound, PermissionDenied
from bot.ids import (
    parse_verification_id,
)
from bot.models import (
    Actor,
    EscalationStatus,
    Platform,
)
from bot.playbook import Playbook, PlaybookError, PlaybookRegistry, Step
from bot.playbook_versions import PlaybookVersions
from bot.roles import Roles
from bot.signals import waiting_for
from bot.store import Row, Store

Method = TypeVar("Method", bound=Callable[..., Coroutine[Any, Any, Any]])

SYSTEM_ACTOR = "verifybot"
FINAL = "fraud was confirmed by security; the verification is final and nothing was changed"


def latest_by_step(answers: Iterable[Row]) -> dict[str, Row]:
    """Each step's answer that counts: the last one appended."""
    return {answer["step_id"]: answer for answer in answers}


def owner_of(row: Row) -> Actor:
    """Who started a verification: its requested_by on its platform."""
    return Actor(user_id=row["requested_by"], platform=Platform(row["platform"]))


def reads_once(method: Method) -> Method:
    """A service call that reads each row once (Store.remembering); for calls that await no
    other task's work, so that nothing else runs inside them."""

    @functools.wraps(method)
    async def call(self: Records, *args: Any, **kwargs: Any) -> Any:
        with self.store.remembering():
            return await method(self, *args, **kwargs)

    return cast(Method, call)


class Records:
    """Read access to verifications, candidates, answers, escalations and their playbooks."""

    store: Store
    playbooks: PlaybookRegistry
    versions: PlaybookVersions
    roles: Roles
    on_outbox: Callable[[], None] | None

    def _candidate_of(self, verification: Row) -> Row:
        candidate = self.store.candidate(verification["candidate_id"])
        if candidate is None:
            raise NotFound(f"no candidate for {verification['id']}")
        return candidate

    def _answer_row(self, answer_id: int) -> Row:
        answer = self.store.answer(answer_id)
        if answer is None:
            raise NotFound(f"no answer {answer_id}")
        return answer

    def _escalation_row(self, escalation_id: int) -> Row:
        row = self.store.escalation(escalation_id)
        if row is None:
            raise NotFound(f"no escalation {escalation_id}")
        return row

    def _verification_row(self, verification_id: str) -> Row:
        row = self.store.verification(verification_id)
        if row is None:
            raise NotFound(f"no verification {verification_id}")
        return row

    def _playbook_of(self, row: Row) -> Playbook:
        """The playbook version the verification started with, as recorded."""
        try:
            return self.versions.get(row["playbook_id"], row["playbook_version"])
        except PlaybookError as error:
            raise NotFound(str(error)) from None

    def playbook_for(self, verification_id: str) -> Playbook:
        """The playbook a verification is read with (for a front end that has its view)."""
        return self._playbook_of(self._verification_row(parse_verification_id(verification_id)))

    def _latest_answers(self, verification_id: str) -> dict[str, Row]:
        return latest_by_step(self.store.answers(verification_id))

    def _next_step(
        self,
        playbook: Playbook,
        verification_id: str,
        latest: dict[str, Row] | None = None,
        candidate: Row | None = None,
    ) -> Step | None:
        """The first unanswered step, passing over computed ones still waiting for input."""
        answered = self._latest_answers(verification_id) if latest is None else latest
        waiting = self._waiting_steps(playbook, verification_id, answered, candidate)
        return next(
            (s for s in playbook.steps if s.id not in answered and s.id not in waiting), None
        )

    def _waiting_steps(
        self,
        playbook: Playbook,
        verification_id: str,
        answered: dict[str, Row],
        candidate: Row | None = None,
    ) -> dict[str, str]:
        """Unanswered computed steps that wait for a detail: step id -> what they wait for
        (`candidate`, when the caller has it opened already, saves opening it again)."""
        pending = [s for s in playbook.steps if s.computed and s.id not in answered]
        if not pending:
            return {}
        if candidate is None:
            candidate = self._candidate_of(self._verification_row(verification_id))
        found = {s.id: waiting_for(s.check, candidate) for s in pending if s.check is not None}
        return {step_id: what for step_id, what in found.items() if what}

    # who may see or change a verification

    def _refuse(
        self,
        actor: Actor,
        action: str,
        verification_id: str | None,
        why: str,
        message: str | None = None,
    ) -> None:
        with self.store.transaction():
            self.store.audit(
                actor.user_id,
                actor.platform,
                "refused",
                verification_id,
                {"action": action, "why": why},
            )
        metrics.REFUSALS.labels(action).inc()
        raise PermissionDenied(message or f"You are not allowed to do that ({why}).")

    def _refuse_if_final(self, actor: Actor, action: str, row: Row) -> None:
        escalation = self.store.escalation_for(row["id"])
        if escalation and escalation["status"] == EscalationStatus.CONFIRMED:
            self._refuse(actor, action, row["id"], FINAL, message=f"Refused: {FINAL}.")

    def _check_view(self, actor: Actor, row: Row) -> None:
        if not self.roles.can_view(actor, owner_of(row)):
            self._refuse(actor, "verification.view", row["id"], "not this verification's owner")

    def _playbook(self, playbook_id: str | None) -> Playbook:
        try:
            return self.playbooks.get(playbook_id)
        except PlaybookError as error:
            raise InvalidInput(str(error), "playbook") from None

    def _record_playbook(self, playbook: Playbook, actor: Actor) -> None:
        """Keep the playbook version a verification starts with; InvalidInput if it conflicts."""
        try:
            self.versions.record(playbook, actor)
        except PlaybookError as error:
            raise InvalidInput(str(error), "playbook") from None

    def _outbox_written(self, written: bool) -> None:
        if written:
            self.outbox_written()

    def outbox_written(self) -> None:
        """Wake the outbox worker: rows were written for it."""
        if self.on_outbox is not None:
            self.on_outbox()
