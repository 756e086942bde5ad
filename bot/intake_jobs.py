"""The durable jobs of the intake: their kinds, and payloads that are ids only or sealed.

A payload that names a person (a hiring manager's email, a line for the hiring channel) is
sealed with the master key under a context naming its job; the handler opens it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from bot.jobs import JobWorker
from bot.models import Actor, Platform
from bot.store import Store

HANDOVER = "slack.handover"
HIRING_NOTICE = "slack.hiring_notice"
OFFER_CREATED = "greenhouse.offer_created"
WORKFLOW_COMPLETE = "slack.workflow_complete"


class Handover(BaseModel):
    """Find the hiring manager by email and send them the first step, or ask the hiring channel."""

    verification_id: str
    emails: list[str]
    intro: str
    actor: str
    platform: Platform

    @property
    def integration(self) -> Actor:
        return Actor(user_id=self.actor, platform=self.platform)

    @classmethod
    def of(cls, actor: Actor, verification_id: str, emails: list[str], intro: str) -> Handover:
        return cls(
            verification_id=verification_id,
            emails=emails,
            intro=intro,
            actor=actor.user_id,
            platform=actor.platform,
        )


class OfferCreated(BaseModel):
    """An offer_created delivery: ids only (Greenhouse's notes stay out of the database)."""

    offer_id: int | None = None
    application_id: int
    job_id: int | None = None


def sealed(store: Store, key: str, data: dict[str, Any]) -> dict[str, Any]:
    """A job payload whose content only the master key opens."""
    context = f"job:{key}"
    return {"sealed": store.vault.seal_master(json.dumps(data), context), "context": context}


def opened(store: Store, payload: dict[str, Any]) -> dict[str, Any]:
    """A job payload as it was written: unsealed if it was sealed (also rows that came from the
    former deferred_work table, sealed under `deferred_work:<key>`)."""
    if "sealed" not in payload:
        return payload
    return json.loads(store.vault.unseal_master(payload["sealed"], payload["context"]))


class IntakeJobs:
    """Queues the intake's jobs; every call may run inside the caller's transaction."""

    def __init__(self, jobs: JobWorker) -> None:
        self.jobs = jobs
        self.store = jobs.store

    def handover(self, handover: Handover) -> bool:
        key = f"handover:{handover.verification_id}"
        payload = sealed(self.store, key, handover.model_dump(mode="json"))
        return self.jobs.enqueue(HANDOVER, payload, key)

    def hiring_notice(self, key: str, text: str) -> bool:
        return self.jobs.enqueue(HIRING_NOTICE, sealed(self.store, key, {"text": text}), key)

    def offer_created(self, offer: OfferCreated) -> bool:
        key = f"greenhouse:offer:{offer.application_id}"
        return self.jobs.enqueue(OFFER_CREATED, offer.model_dump(mode="json"), key)
