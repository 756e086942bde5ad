"""ApiFrontend: bearer-token auth and the `/api/v1` routes, thin over bot/intake.py."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from bot.candidates import InvalidCandidate
from bot.errors import InvalidInput, NotFound, PermissionDenied, VerifybotError
from bot.intake import Intake, verification_json
from bot.models import Actor, Platform
from bot.runtime import Core
from bot.validation import clean_email
from handlers.api.http import HttpError, field_errors, read_json_object, validation_errors
from handlers.api.openapi import openapi_document

log = structlog.get_logger("verifybot.api")

PREFIX = "/api/v1"
SOURCE = "api"
Route = Callable[[web.Request, Actor], Awaitable[web.Response]]


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate: dict[str, Any]
    external_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]
    playbook: Annotated[str, StringConstraints(max_length=64)] | None = None
    hiring_manager_email: Annotated[str, StringConstraints(max_length=254)] | None = None


class ShippingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shipping_address: Annotated[str, StringConstraints(max_length=500)]


def bearer(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class ApiFrontend:
    """Served only with VERIFYBOT_API_TOKENS; each token's name is the actor of its calls."""

    name = "api"

    def __init__(self, core: Core) -> None:
        self.core = core
        self.intake = Intake(core.service, core.jobs)
        self.tokens = [
            (name, secret.get_secret_value().encode())
            for name, secret in core.settings.api_tokens.items()
        ]

    def attach(self, app: web.Application) -> None:
        routes = [
            ("POST", "/verifications", self.start),
            ("GET", "/verifications/{id}", self.read),
            ("PUT", "/verifications/{id}/shipping-address", self.ship),
            ("GET", "/clearance", self.clearance),
        ]
        for method, path, route in routes:
            app.router.add_route(method, PREFIX + path, self.guarded(route))
        app.router.add_get(PREFIX + "/openapi.json", self.openapi)

    def actor_of(self, request: web.Request) -> Actor:
        """The token's name as an actor; 401 for a missing or unknown token (constant time)."""
        given = bearer(request.headers.get("Authorization", ""))
        if given is None:
            raise HttpError(401, "send Authorization: Bearer <token>")
        found = None
        for name, token in self.tokens:
            if hmac.compare_digest(given.encode(), token) and found is None:
                found = name
        if found is None:
            log.info("api.refused", path=request.path, reason="unknown token")
            raise HttpError(401, "unknown token")
        return Actor(user_id=found, platform=Platform.API)

    def guarded(self, route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            try:
                return await route(request, self.actor_of(request))
            except HttpError as error:
                return error.response()
            except InvalidCandidate as error:
                return field_errors(error.problems, "candidate.").response()
            except InvalidInput as error:
                return field_errors({error.field or "body": error.reason}).response()
            except NotFound as error:
                return HttpError(404, error.message).response()
            except PermissionDenied as error:
                return HttpError(403, error.message).response()
            except VerifybotError as error:
                return HttpError(400, error.message).response()

        return handle

    async def start(self, request: web.Request, actor: Actor) -> web.Response:
        try:
            body = StartRequest.model_validate(await read_json_object(request))
        except ValidationError as error:
            raise validation_errors(error) from None
        emails = []
        if body.hiring_manager_email:
            try:
                emails = [clean_email(body.hiring_manager_email)]
            except ValueError as error:
                raise field_errors({"hiring_manager_email": str(error)}) from None
        started = await self.intake.start(
            actor,
            SOURCE,
            body.external_id,
            body.candidate,
            body.playbook,
            emails=emails or None,
            intro=f"Started through the API by {actor.user_id} ({body.external_id}).",
        )
        verification_id = started.verification_id
        answer = {
            "verification_id": verification_id,
            "status_url": f"{PREFIX}/verifications/{verification_id}",
            "created": started.created,
        }
        return web.json_response(answer, status=201 if started.created else 200)

    async def read(self, request: web.Request, actor: Actor) -> web.Response:
        view = await self.intake.view(actor, request.match_info["id"])
        return web.json_response(verification_json(view))

    async def ship(self, request: web.Request, actor: Actor) -> web.Response:
        try:
            body = ShippingRequest.model_validate(await read_json_object(request))
        except ValidationError as error:
            raise validation_errors(error) from None
        outcome = await self.core.service.give_shipping_address(
            actor, request.match_info["id"], body.shipping_address
        )
        return web.json_response(verification_json(outcome.verification))

    async def clearance(self, request: web.Request, actor: Actor) -> web.Response:
        email = request.query.get("email", "")
        if not email.strip():
            raise field_errors({"email": "is required"})
        answer = await self.intake.clearance(actor, email[:254])
        return web.json_response(answer.model_dump(mode="json"))

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document())
