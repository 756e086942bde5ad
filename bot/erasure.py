"""Erasing a candidate's personal data, on request or when its retention ends.

The data key and blind indexes are destroyed and the candidate's columns emptied; the
verification's skeleton (ids, steps, results, decisions, times) and the audit chain stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot import metrics
from bot.errors import InvalidInput, NotFound, PermissionDenied
from bot.ids import VERIFICATION_ID
from bot.models import Actor, EscalationStatus
from bot.roles import Roles
from bot.store import Store
from bot.validation import clean_note

SYSTEM_ACTOR = "verifybot"
FRAUD_KEPT = (
    "{ids}: fraud was confirmed; its evidence is kept (it has its own legal basis). "
    "Give --force to erase it anyway."
)


@dataclass(frozen=True)
class Erased:
    """One candidate record erased, and the verifications it belonged to."""

    candidate_id: int
    verifications: tuple[str, ...]


class Erasure:
    """`verifybot erase` and `verifybot purge`."""

    def __init__(self, store: Store, roles: Roles, retention_days: int) -> None:
        self.store = store
        self.roles = roles
        self.retention = timedelta(days=retention_days)

    def erase(
        self, actor: Actor, reference: str, reason: str | None = None, force: bool = False
    ) -> list[Erased]:
        """Erase every record of the person a verification id or an email names."""
        self._check(actor)
        try:
            reason = clean_note(reason)
        except ValueError as error:
            raise InvalidInput(str(error), "reason") from None
        candidates = self._candidates(reference.strip())
        if not force:
            kept = [v for c in candidates for v in self._confirmed_fraud(c)]
            if kept:
                raise InvalidInput(FRAUD_KEPT.format(ids=", ".join(kept)), "force")
        with self.store.transaction():
            erased = [self._erase_one(actor, c, reason, force) for c in candidates]
        self.store.scrub()
        return erased

    def expired(self) -> list[int]:
        """Candidates whose verifications all finished (cleared or cancelled) before the
        retention period."""
        return self.store.expired_candidates(self.store.clock() - self.retention)

    def purge(self, actor: Actor, dry_run: bool = False) -> list[Erased]:
        """Erase every candidate past retention; `dry_run` says who, erasing nothing."""
        self._check(actor)
        due = self.expired()
        if dry_run:
            return [Erased(c, self._verification_ids(c)) for c in due]
        with self.store.transaction():
            erased = [self._erase_one(actor, c, "retention period ended", False) for c in due]
            self.store.audit(
                actor.user_id,
                actor.platform,
                "retention.purged",
                None,
                {"candidates": len(erased), "retention_days": self.retention.days},
            )
        self.store.scrub()
        return erased

    def _check(self, actor: Actor) -> None:
        if not (self.roles.is_local(actor) or actor.user_id == SYSTEM_ACTOR):
            raise PermissionDenied("Erasure is done by the operator, with `verifybot erase`.")

    def _candidates(self, reference: str) -> list[int]:
        if VERIFICATION_ID.match(reference.upper()):
            row = self.store.verification(reference.upper())
            if row is None:
                raise NotFound(f"no verification {reference.upper()}")
            candidates = self.store.same_person(row["candidate_id"])
        elif "@" in reference:
            candidates = self.store.candidates_by_email(reference)
        else:
            raise InvalidInput("name a verification id (VB-1A2B3C4D) or an email address", "ref")
        if not candidates:
            raise NotFound(f"no candidate data left for {reference!r} (erased already?)")
        return candidates

    def _verification_ids(self, candidate_id: int) -> tuple[str, ...]:
        return tuple(row["id"] for row in self.store.verifications_of_candidate(candidate_id))

    def _confirmed_fraud(self, candidate_id: int) -> list[str]:
        confirmed = []
        for verification_id in self._verification_ids(candidate_id):
            escalation = self.store.escalation_for(verification_id)
            if escalation and escalation["status"] == EscalationStatus.CONFIRMED:
                confirmed.append(verification_id)
        return confirmed

    def _erase_one(
        self, actor: Actor, candidate_id: int, reason: str | None, force: bool
    ) -> Erased:
        verifications = self._verification_ids(candidate_id)
        erasure_id = self.store.erase_candidate(candidate_id, actor.user_id, reason)
        self.store.audit(
            actor.user_id,
            actor.platform,
            "candidate.erased",
            verifications[0] if verifications else None,
            {
                "candidate": candidate_id,
                "erasure": erasure_id,
                "verifications": list(verifications),
                "reason": bool(reason),
                "forced": force,
            },
        )
        metrics.CANDIDATES_ERASED.inc()
        return Erased(candidate_id, verifications)
