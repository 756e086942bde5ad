"""Wires the Bot Framework adapter, the bot and the notifier into the shared aiohttp app."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jwt
import structlog
from aiohttp import web
from botbuilder.core import PrivateConversationState, TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.config import Settings
from bot.runtime import Core
from handlers.server import ConfigError
from handlers.teams.bot import VerifyBot
from handlers.teams.conversation import Conversation
from handlers.teams.notifier import TeamsNotifier
from handlers.teams.storage import SqliteStorage

log = structlog.get_logger("verifybot.teams")

ROUTE = "/api/messages"
MAX_USER_ID = 128
SORRY = "Sorry, something went wrong on my side. Please try again in a minute."


@dataclass(frozen=True)
class BotConfig:
    """The configuration object ConfigurationBotFrameworkAuthentication reads."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str

    @classmethod
    def from_settings(cls, settings: Settings) -> BotConfig:
        config = cls(
            APP_ID=settings.microsoft_app_id,
            APP_PASSWORD=settings.microsoft_app_password.get_secret_value(),
            APP_TYPE=settings.microsoft_app_type or "MultiTenant",
            APP_TENANTID=settings.microsoft_app_tenant_id,
        )
        config.check()
        return config

    def check(self) -> None:
        """Refuse a combination the SDK would only reject at the first message."""
        kind = self.APP_TYPE.casefold()
        if kind not in ("multitenant", "singletenant", "userassignedmsi"):
            raise ConfigError(
                f"MicrosoftAppType {self.APP_TYPE!r} is not one of "
                "MultiTenant, SingleTenant, UserAssignedMSI"
            )
        if kind != "multitenant" and not (self.APP_ID and self.APP_TENANTID):
            raise ConfigError(
                f"MicrosoftAppType {self.APP_TYPE} needs MicrosoftAppId and MicrosoftAppTenantId"
            )
        if self.APP_ID and kind != "userassignedmsi" and not self.APP_PASSWORD:
            raise ConfigError("MicrosoftAppId is set but MicrosoftAppPassword is not")


class _Account(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=1024)


class _User(_Account):
    aad_object_id: str | None = Field(None, alias="aadObjectId", min_length=1, max_length=128)

    @model_validator(mode="after")
    def _usable_as_actor(self) -> _User:
        if self.aad_object_id is None and len(self.id) > MAX_USER_ID:
            raise ValueError(f"a user id without aadObjectId is at most {MAX_USER_ID} characters")
        return self


class Envelope(BaseModel):
    """The fields every activity must carry before the SDK sees it; anything else is a 400."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str = Field(min_length=1, max_length=64)
    service_url: str = Field(alias="serviceUrl", pattern=r"^https?://", max_length=2048)
    channel_id: str = Field(alias="channelId", min_length=1, max_length=64)
    conversation: _Account
    from_: _User = Field(alias="from")
    recipient: _Account
    text: str | None = Field(None, max_length=28000)


def bad_request(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": reason}), content_type="application/json")


class TeamsFrontend:
    """`POST /api/messages` through CloudAdapter, and the "teams" notifier for the outbox."""

    name = "teams"

    def __init__(self, core: Core) -> None:
        self.core = core
        self.config = BotConfig.from_settings(core.settings)
        self.adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(self.config))
        self.adapter.on_turn_error = self.on_turn_error
        self.state = PrivateConversationState(SqliteStorage(core.store))
        self.bot = VerifyBot(Conversation(core.service, core.store), self.state, core.store)
        self.notifier = TeamsNotifier(self.adapter, core.store, core.settings)

    def attach(self, app: web.Application) -> None:
        app.router.add_post(ROUTE, self.messages)
        self.core.add_notifier(self.notifier)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        if self.config.APP_ID and not request.headers.get("Authorization"):
            raise web.HTTPUnauthorized()
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="an activity is application/json")
        await self._check_activity(request)
        try:
            response = await self.adapter.process(request, self.bot)
        except jwt.PyJWTError as error:
            log.info("teams.bad_token", error=type(error).__name__)
            raise web.HTTPUnauthorized() from None
        return response or web.Response(status=201)

    @staticmethod
    async def _check_activity(request: web.Request) -> None:
        """A 400 that says which field is wrong, unless the body is an activity the SDK can take."""
        try:
            body: Any = await request.json()
        except ValueError:
            raise bad_request("the body is not JSON") from None
        try:
            Envelope.model_validate(body)
        except ValidationError as error:
            fields = sorted(
                {".".join(str(p) for p in e["loc"]) or "activity" for e in error.errors()}
            )
            raise bad_request(f"not a valid activity: {', '.join(fields)}") from None
        try:
            Activity().deserialize(body)
        except Exception:
            raise bad_request("not a valid activity") from None

    async def on_turn_error(self, turn_context: TurnContext, error: Exception) -> None:
        """Log the failure and tell the user, politely and without details."""
        log.error(
            "teams.turn_failed",
            activity_type=turn_context.activity.type,
            error=f"{type(error).__name__}: {error}",
            exc_info=error,
        )
        try:
            await turn_context.send_activity(SORRY)
        except Exception as send_error:
            log.warning("teams.error_reply_failed", error=str(send_error))
