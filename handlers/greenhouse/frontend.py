"""GreenhouseFrontend: `POST /hooks/greenhouse`, signed with VERIFYBOT_GREENHOUSE_SECRET."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError

from bot.candidates import InvalidCandidate, validate_candidate
from bot.intake import PRE_OFFER, Intake, Started
from bot.intake_jobs import OFFER_CREATED, OfferCreated
from bot.jobs import Job, RetryLater
from bot.models import Actor, Platform
from bot.runtime import Core
from handlers.api.http import HttpError, parse_json, read_body
from handlers.greenhouse.harvest import Harvest, HarvestRefused, HarvestUnavailable
from handlers.greenhouse.payloads import (
    Delivery,
    StageChange,
    candidate_details,
    hiring_contacts,
)

log = structlog.get_logger("verifybot.greenhouse")

PATH = "/hooks/greenhouse"
SOURCE = "greenhouse"
STAGE_CHANGE = "candidate_stage_change"
OFFER_CREATED_ACTION = "offer_created"
MAX_DELIVERY_BYTES = 1024 * 1024
ACTOR = Actor(user_id="greenhouse", platform=Platform.GREENHOUSE)
OPTIONAL_FIELDS = frozenset({"phone", "role"})


def signature_valid(secret: bytes, raw: bytes, header: str) -> bool:
    """`Signature: sha256 <hex>`: HMAC-SHA256 of the raw body, compared in constant time."""
    scheme, _, given = header.strip().partition(" ")
    if scheme != "sha256" or not given.isascii():
        return False
    expected = hmac.new(secret, raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


class GreenhouseFrontend:
    """Starts a pre-offer verification when an application reaches the offer stage, or when an
    offer is created (its details fetched from Harvest by a durable job)."""

    name = "greenhouse"

    def __init__(self, core: Core) -> None:
        settings = core.settings
        secret = settings.greenhouse_secret
        if secret is None:
            raise ValueError("the Greenhouse web hook needs VERIFYBOT_GREENHOUSE_SECRET")
        self.core = core
        self.secret = secret.get_secret_value().encode()
        self.stage = settings.greenhouse_stage.strip().casefold()
        self.intake = Intake(core.service, core.jobs)
        key = settings.greenhouse_api_key
        self.harvest = Harvest(settings.greenhouse_api_url, key.get_secret_value()) if key else None
        if self.harvest is not None:
            core.jobs.register(OFFER_CREATED, self.fetch_offer)

    def attach(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.handle)
        app.cleanup_ctx.append(self._lifetime)

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        yield
        if self.harvest is not None:
            await self.harvest.close()

    async def handle(self, request: web.Request) -> web.Response:
        try:
            raw = await read_body(request, MAX_DELIVERY_BYTES)
            if not signature_valid(self.secret, raw, request.headers.get("Signature", "")):
                log.info("greenhouse.refused", reason="bad signature")
                raise HttpError(401, "invalid signature")
            data = parse_json(raw)
            try:
                delivery = Delivery.model_validate(data)
            except ValidationError:
                raise HttpError(400, "not a Greenhouse web hook delivery") from None
            return await self.dispatch(delivery)
        except HttpError as error:
            return error.response()

    async def dispatch(self, delivery: Delivery) -> web.Response:
        if delivery.action == OFFER_CREATED_ACTION:
            return self.queue_offer(delivery.payload)
        if delivery.action != STAGE_CHANGE:
            return web.json_response({"ok": True, "ignored": delivery.action[:100]})
        try:
            change = StageChange.model_validate(delivery.payload)
        except ValidationError:
            return self.unusable("the delivery has no application with a candidate", None)
        application = change.application
        stage = (application.current_stage.name if application.current_stage else "") or ""
        if stage.strip().casefold() != self.stage:
            return web.json_response({"ok": True, "ignored": f"stage {stage[:100]}"})
        intro = f"Started from Greenhouse: application {application.id} moved to {stage}."
        details = candidate_details(application)
        try:
            started = await self.start(application.id, details, hiring_contacts(application), intro)
        except InvalidCandidate as error:
            return self.unusable(error.message, application.id)
        log.info("greenhouse.stage_change", verification=started.verification_id)
        return web.json_response(
            {"ok": True, "verification_id": started.verification_id, "created": started.created}
        )

    async def start(
        self, application_id: int, details: dict[str, Any], emails: list[str], intro: str
    ) -> Started:
        """The application's verification, once, handed to the first of `emails` Slack knows;
        an optional detail Greenhouse holds in a form verifybot refuses (a phone) is left out."""
        external_id = f"application:{application_id}"
        try:
            validate_candidate(details)
        except InvalidCandidate as error:
            if not set(error.problems) <= OPTIONAL_FIELDS:
                raise
            details = {k: v for k, v in details.items() if k not in error.problems}
        return await self.intake.start(
            ACTOR, SOURCE, external_id, details, PRE_OFFER, emails=emails, intro=intro
        )

    def queue_offer(self, payload: dict[str, Any]) -> web.Response:
        """offer_created carries only ids: a job fetches the rest from Harvest."""
        try:
            offer = OfferCreated.model_validate(
                {**payload, "offer_id": payload.get("id"), "job_id": payload.get("job_id")}
            )
        except ValidationError:
            return self.unusable("the offer has no application id", None)
        if self.harvest is None:
            log.warning(
                "greenhouse.offer_needs_api_key",
                hint="set VERIFYBOT_GREENHOUSE_API_KEY to start verifications from offers",
            )
            return web.json_response(
                {"ok": True, "ignored": "offer_created needs VERIFYBOT_GREENHOUSE_API_KEY"}
            )
        queued = self.intake.jobs.offer_created(offer)
        log.info("greenhouse.offer_created_queued", created=queued)
        return web.json_response({"ok": True, "queued": OFFER_CREATED_ACTION})

    async def fetch_offer(self, job: Job) -> None:
        """The job `greenhouse.offer_created`: Harvest, then the verification; Harvest down or
        slow retries the job, so the offer is never lost."""
        offer = OfferCreated.model_validate(job.payload)
        application_id = offer.application_id
        if self.intake.existing(SOURCE, f"application:{application_id}") is not None:
            log.info("greenhouse.offer_already_started")
            return
        assert self.harvest is not None
        try:
            details = await self.harvest.offer(application_id, offer.job_id)
        except HarvestUnavailable as error:
            raise RetryLater(f"Harvest: {error}", error.retry_after) from None
        except HarvestRefused as error:
            self.unusable(f"Harvest did not give its details ({error})", application_id)
            return
        intro = f"Started from Greenhouse: an offer was created for application {application_id}."
        try:
            started = await self.start(application_id, details.candidate, details.emails, intro)
        except InvalidCandidate as error:
            self.unusable(error.message, application_id)
            return
        log.info("greenhouse.offer_created", verification=started.verification_id)

    def unusable(self, why: str, application_id: int | None) -> web.Response:
        """A delivery that is not a usable candidate: audited, told to the hiring channel, 200."""
        where = f"application {application_id}" if application_id is not None else "a delivery"
        message = f"Greenhouse {where} could not start a verification: {why}"
        with self.core.store.transaction():
            self.intake.refused(ACTOR, SOURCE, str(application_id or ""), why)
            digest = hashlib.sha256(why.encode()).hexdigest()[:16]
            self.intake.jobs.hiring_notice(
                f"greenhouse:unusable:{application_id}:{digest}", message
            )
        return web.json_response({"ok": False, "error": message})
