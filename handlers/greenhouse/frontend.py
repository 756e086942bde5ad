"""GreenhouseFrontend: `POST /hooks/greenhouse`, signed with VERIFYBOT_GREENHOUSE_SECRET."""

from __future__ import annotations

import hashlib
import hmac

import structlog
from aiohttp import web
from pydantic import ValidationError

from bot.intake import HANDOVER, HIRING_NOTICE, Intake, handover_payload
from bot.models import Actor, Platform
from bot.runtime import Core
from bot.service import InvalidCandidate
from handlers.api.http import HttpError, parse_json, read_body
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
OFFER_CREATED = "offer_created"
MAX_DELIVERY_BYTES = 1024 * 1024
ACTOR = Actor(user_id="greenhouse", platform=Platform.GREENHOUSE)


def signature_valid(secret: bytes, raw: bytes, header: str) -> bool:
    """`Signature: sha256 <hex>`: HMAC-SHA256 of the raw body, compared in constant time."""
    scheme, _, given = header.strip().partition(" ")
    if scheme != "sha256" or not given.isascii():
        return False
    expected = hmac.new(secret, raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


class GreenhouseFrontend:
    """Starts a pre-offer verification when an application reaches the offer stage."""

    name = "greenhouse"

    def __init__(self, core: Core) -> None:
        secret = core.settings.greenhouse_secret
        if secret is None:
            raise ValueError("the Greenhouse web hook needs VERIFYBOT_GREENHOUSE_SECRET")
        self.core = core
        self.secret = secret.get_secret_value().encode()
        self.stage = core.settings.greenhouse_stage.strip().casefold()
        self.intake = Intake(core.service)

    def attach(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.handle)

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
            event_id = request.headers.get("Greenhouse-Event-ID", "")[:200]
            return await self.dispatch(delivery, event_id)
        except HttpError as error:
            return error.response()

    async def dispatch(self, delivery: Delivery, event_id: str) -> web.Response:
        if delivery.action == OFFER_CREATED:
            return self.park_offer(delivery, event_id)
        if delivery.action != STAGE_CHANGE:
            return web.json_response({"ok": True, "ignored": delivery.action[:100]})
        try:
            change = StageChange.model_validate(delivery.payload)
        except ValidationError:
            return await self.unusable("the delivery has no application with a candidate", None)
        application = change.application
        stage = (application.current_stage.name if application.current_stage else "") or ""
        if stage.strip().casefold() != self.stage:
            return web.json_response({"ok": True, "ignored": f"stage {stage[:100]}"})
        external_id = f"application:{application.id}"
        try:
            started = await self.intake.start(
                ACTOR, SOURCE, external_id, candidate_details(application), "pre-offer"
            )
        except InvalidCandidate as error:
            return await self.unusable(error.message, application.id)
        verification_id = started.verification_id
        if started.created and self.core.deferred is not None:
            intro = f"Started from Greenhouse: application {application.id} moved to {stage}."
            payload = handover_payload(ACTOR, verification_id, hiring_contacts(application), intro)
            self.core.deferred.enqueue(HANDOVER, f"handover:{verification_id}", payload)
        log.info("greenhouse.stage_change", verification=verification_id, created=started.created)
        return web.json_response(
            {"ok": True, "verification_id": verification_id, "created": started.created}
        )

    def park_offer(self, delivery: Delivery, event_id: str) -> web.Response:
        """offer_created carries only ids; its work waits in the database for the Harvest fetch."""
        application_id = delivery.payload.get("application_id")
        key = f"greenhouse:offer:{application_id if application_id is not None else event_id}"
        if self.core.deferred is not None:
            self.core.deferred.enqueue("greenhouse.offer_created", key[:300], delivery.payload)
        log.info("greenhouse.offer_created_queued")
        return web.json_response({"ok": True, "queued": OFFER_CREATED})

    async def unusable(self, why: str, application_id: int | None) -> web.Response:
        """A delivery that is not a usable candidate: audited, told to the hiring channel, 200."""
        where = f"application {application_id}" if application_id is not None else "a delivery"
        message = f"Greenhouse {where} could not start a verification: {why}"
        self.intake.refused(ACTOR, SOURCE, str(application_id or ""), why)
        if self.core.deferred is not None:
            digest = hashlib.sha256(why.encode()).hexdigest()[:16]
            key = f"greenhouse:unusable:{application_id}:{digest}"
            self.core.deferred.enqueue(HIRING_NOTICE, key, {"text": message})
        return web.json_response({"ok": False, "error": message})
