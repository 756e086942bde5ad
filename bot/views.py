"""What the service shows: findings, verifications, escalations and answer outcomes."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from bot.candidates import stored_candidate
from bot.ids import (
    VERIFICATION_ID_RUNS,
    VERIFICATION_IDS,
)
from bot.models import (
    Actor,
    AnswerOutcome,
    EscalationStatus,
    EscalationView,
    Finding,
    Outcome,
    Platform,
    Prompt,
    RaisedFinding,
    Result,
    VerificationView,
)
from bot.playbook import Playbook
from bot.records import Records, latest_by_step
from bot.roles import Roles
from bot.sealing import ERASED
from bot.store import Row


class Views(Records):
    """Builds the platform-neutral views from the rows; `security` adds what only it may see."""

    roles: Roles
    local_zone: tzinfo

    def _prompt_for(
        self, row: Row, latest: dict[str, Row] | None = None, candidate: Row | None = None
    ) -> Prompt | None:
        if row["cancelled_at"]:
            return None
        playbook = self._playbook_of(row)
        candidate = candidate or self._candidate_of(row)
        step = self._next_step(playbook, row["id"], latest, candidate)
        if step is None:
            return None
        return playbook.prompt(step, row["id"], candidate["name"])

    def _finding(self, playbook: Playbook, answer: Row, security: bool = False) -> Finding:
        """An answer as shown; what only security may see is left out unless `security`."""
        step = playbook.step(answer["step_id"])
        option = step.option(answer["value"]) if step else None
        return Finding(
            answer_id=answer["id"],
            step=answer["step_id"],
            step_title=step.title if step else answer["step_id"],
            answer=answer["value"],
            answer_label=option.label if option else answer["value"],
            result=Result(answer["result"]),
            reason=answer["reason"],
            source=step.source if step else "",
            note=answer["note"],
            answered_by=answer["answered_by"],
            platform=Platform(answer["platform"]),
            answered_at=datetime.fromisoformat(answer["answered_at"]),
            security_detail=self._linked(answer.get("security_detail")) if security else None,
        )

    def _linked(self, detail: str | None) -> str | None:
        """A finding's security detail with each list of verification ids it holds grouped by
        candidate, named as they are now: `Jane Doe: VB-1, VB-2; John Roe: VB-3`."""
        if not detail:
            return detail
        names = self.store.candidate_names(VERIFICATION_IDS.findall(detail))

        def grouped(run: re.Match[str]) -> str:
            by_person: dict[str, list[str]] = {}
            for verification_id in run.group(0).split(", "):
                name = names.get(verification_id, ERASED)
                by_person.setdefault(name, []).append(verification_id)
            return "; ".join(f"{name}: {', '.join(ids)}" for name, ids in by_person.items())

        return VERIFICATION_ID_RUNS.sub(grouped, detail)

    def _view(
        self,
        row: Row,
        latest: dict[str, Row] | None = None,
        security: bool = False,
        candidate: Row | None = None,
    ) -> VerificationView:
        """The verification; `security` adds what only the security team may see."""
        playbook = self._playbook_of(row)
        latest = self._latest_answers(row["id"]) if latest is None else latest
        ordered = [latest[step.id] for step in playbook.steps if step.id in latest]
        escalation = self.store.escalation_for(row["id"])
        candidate = candidate or self._candidate_of(row)
        return VerificationView(
            id=row["id"],
            playbook=playbook.id,
            playbook_title=playbook.title,
            candidate=stored_candidate(candidate),
            erased=bool(candidate["erased_at"]),
            requested_by=row["requested_by"],
            platform=Platform(row["platform"]),
            outcome=Outcome(row["status"]),
            cancelled=row["cancelled_at"] is not None,
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
            answered=len(ordered),
            total=len(playbook.steps),
            findings=[self._finding(playbook, answer, security) for answer in ordered],
            escalation_id=escalation["id"] if escalation else None,
            escalation_status=EscalationStatus(escalation["status"]) if escalation else None,
            waiting=(
                {}
                if row["cancelled_at"]
                else self._waiting_steps(playbook, row["id"], latest, candidate)
            ),
            **self._handover_fields(row["id"]),
        )

    def _handover_fields(self, verification_id: str) -> dict[str, object]:
        """The other verification of a pre-offer / device hand-over pair, for the view."""
        link = self.store.handover_link(verification_id)
        if link is None:
            return {}
        if link["pre_offer_id"] == verification_id:
            return {
                "handover_id": link["verification_id"],
                "handover_due_at": datetime.fromisoformat(link["due_at"]),
            }
        return {"pre_offer_id": link["pre_offer_id"]}

    def _outcome_of(
        self,
        verification_id: str,
        answer_id: int | None,
        computed_ids: list[int],
        escalated: bool,
        duplicate: bool = False,
        actor: Actor | None = None,
    ) -> AnswerOutcome:
        """What an answer did, as `actor` may see it (security sees what only it may see)."""
        security = actor is not None and self.roles.is_security(actor)
        row = self._verification_row(verification_id)
        playbook = self._playbook_of(row)
        answers = {answer["id"]: answer for answer in self.store.answers(verification_id)}
        latest = latest_by_step(answers.values())
        candidate = self._candidate_of(row)
        view = self._view(row, latest, security, candidate)
        recorded = answers.get(answer_id) if answer_id is not None else None
        return AnswerOutcome(
            recorded=self._finding(playbook, recorded, security) if recorded else None,
            duplicate=duplicate,
            computed=[self._finding(playbook, answers[i], security) for i in computed_ids],
            escalated=escalated,
            verification=view,
            next_prompt=self._prompt_for(row, latest, candidate),
        )

    def _escalation_view(self, row: Row) -> EscalationView:
        """Every finding ever raised, what replaced it, and whether a Clear resolved it."""
        verification = self._verification_row(row["verification_id"])
        playbook = self._playbook_of(verification)
        candidate = stored_candidate(self._candidate_of(verification))
        answers = self.store.answers(row["verification_id"])
        raised = []
        for index, answer in enumerate(answers):
            if answer["result"] == Result.PASS:
                continue
            step_id = answer["step_id"]
            later = next((a for a in answers[index + 1 :] if a["step_id"] == step_id), None)
            raised.append(
                RaisedFinding(
                    **self._finding(playbook, answer, security=True).model_dump(),
                    superseded_by=self._finding(playbook, later) if later else None,
                    resolved=answer["id"] <= row["resolved_through"],
                )
            )
        return EscalationView(
            id=row["id"],
            verification_id=row["verification_id"],
            status=EscalationStatus(row["status"]),
            candidate_name=candidate.name,
            candidate_email=candidate.email,
            candidate_role=candidate.role,
            requested_by=verification["requested_by"],
            requested_platform=Platform(verification["platform"]),
            outcome=Outcome(verification["status"]),
            created_at=datetime.fromisoformat(row["created_at"]),
            decided_by=row["decided_by"],
            decided_at=datetime.fromisoformat(row["decided_at"]) if row["decided_at"] else None,
            decision_reason=row["decision_reason"],
            reopened_at=datetime.fromisoformat(row["reopened_at"]) if row["reopened_at"] else None,
            findings=raised,
        )
