"""Wires the Bot Framework adapter, the bot and the notifier into the shared aiohttp app."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import structlog
from aiohttp import web
from botbuilder.core import PrivateConversationState, TurnContext
from botbuilder.core.serializer_helper import serializer_helper
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, DeliveryModes
from msrest.serialization import Model
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.config import Settings
from bot.errors import ConfigError
from bot.json_depth import MAX_JSON_DEPTH, too_deep
from bot.runtime import Core
from handlers.teams.bot import VerifyBot
from handlers.teams.conversation import Conversation
from handlers.teams.notifier import TeamsNotifier
from handlers.teams.references import TEAMS_CHANNEL
from handlers.teams.storage import SqliteStorage

log = structlog.get_logger("verifybot.teams")

ROUTE = "/api/messages"
MAX_USER_ID = 128
MAX_ACTIVITY_BYTES = 256 * 1024
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
LOCAL_ONLY = (
    "without MicrosoftAppId only the Bot Framework Emulator on this machine may post activities"
)
TEAMS_ONLY = "verifybot serves the Microsoft Teams channel only"
SORRY = "Sorry, something went wrong on my side. Please try again in a minute."
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")


@dataclass(frozen=True)
class BotConfig:
    """The configuration object ConfigurationBotFrameworkAuthentication reads."""

    APP_ID: str
    APP_PASSWORD: str = field(repr=False)
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


def forbidden(reason: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=json.dumps({"error": reason}), content_type="application/json")


def is_loopback(host: str | None) -> bool:
    """An address (or `localhost`) of this machine only."""
    if not host:
        return False
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ip_of(node: str | None) -> IPAddress | None:
    """The address of `192.0.2.1`, `192.0.2.1:80`, `[::1]:80` or `::1`; None for anything else."""
    node = (node or "").strip().strip('"')
    if node.startswith("["):
        node = node[1:].partition("]")[0]
    elif node.count(":") == 1:
        node = node.partition(":")[0]
    try:
        address = ipaddress.ip_address(node)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def proxied_clients(request: web.Request) -> list[IPAddress | None]:
    """The client each proxy header names: the last hop of X-Forwarded-For and of Forwarded."""
    clients: list[IPAddress | None] = []
    if "X-Forwarded-For" in request.headers:
        hops = ",".join(request.headers.getall("X-Forwarded-For")).split(",")
        clients.append(ip_of(hops[-1]))
    if "Forwarded" in request.headers:
        elements = request.forwarded
        clients.append(ip_of(elements[-1].get("for")) if elements else None)
    return clients


def is_local_request(request: web.Request, trusted_proxy: IPAddress | None = None) -> bool:
    """Sent from this machine. A proxy header is believed only from `trusted_proxy`, which must
    name a loopback client; from anyone else it is refused (a proxy would make everyone local).
    """
    if trusted_proxy is not None and ip_of(request.remote) == trusted_proxy:
        clients = proxied_clients(request)
        return bool(clients) and all(c is not None and c.is_loopback for c in clients)
    relayed = any(header in request.headers for header in PROXY_HEADERS)
    return is_loopback(request.remote) and not relayed


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

    @property
    def authenticated(self) -> bool:
        """Requests must carry a Bot Framework token: MicrosoftAppId is set."""
        return bool(self.config.APP_ID)

    def attach(self, app: web.Application) -> None:
        app.router.add_post(ROUTE, self.messages)
        self.core.add_notifier(self.notifier)
        if not self.authenticated and not is_loopback(self.core.settings.host):
            log.warning(
                "teams.local_only",
                reason="MicrosoftAppId is not set: activities from other machines are refused",
            )

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """POST /api/messages: who may post, a bounded and valid activity, its token, the turn.

        Without MicrosoftAppId nothing is authenticated, so only the Emulator on this machine
        may post (anyone else could say they are any user); with it, only Teams may. With it the
        token is checked before the body is read (its signature by a key endorsed for Teams,
        issuer, audience), and again with the activity (the SDK's serviceUrl claim check).
        """
        authorization = request.headers.get("Authorization", "")
        auth = self.adapter.bot_framework_authentication
        if self.authenticated:
            if not authorization:
                raise web.HTTPUnauthorized()
            await self._checked(auth.authenticate_streaming_request(authorization, TEAMS_CHANNEL))
        elif not is_local_request(request, self.core.settings.trusted_proxy):
            raise forbidden(LOCAL_ONLY)
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="an activity is application/json")
        activity = await self._activity(request)
        self._check_origin(activity)
        identity = await self._checked(auth.authenticate_request(activity, authorization))
        response = await self.adapter.process_activity(identity, activity, self.bot.on_turn)
        if response is None:
            return web.Response(status=201)
        body = (
            serializer_helper(response.body) if isinstance(response.body, Model) else response.body
        )
        return web.json_response(body, status=int(response.status))

    @staticmethod
    async def _checked(authentication: Awaitable[T]) -> T:
        """An SDK token check: 401 for a token it refuses, 503 when its keys are out of reach."""
        try:
            return await authentication
        except requests.RequestException as error:
            log.warning("teams.token_keys_unavailable", error=type(error).__name__)
            raise web.HTTPServiceUnavailable() from None
        except Exception as error:
            log.info("teams.bad_token", error=type(error).__name__)
            raise web.HTTPUnauthorized() from None

    @staticmethod
    async def _activity(request: web.Request) -> Activity:
        """The activity; 413 when too large, 400 saying which field is wrong when malformed."""
        if (request.content_length or 0) > MAX_ACTIVITY_BYTES:
            raise web.HTTPRequestEntityTooLarge(MAX_ACTIVITY_BYTES, request.content_length or 0)
        raw = await request.read()
        if len(raw) > MAX_ACTIVITY_BYTES:
            raise web.HTTPRequestEntityTooLarge(MAX_ACTIVITY_BYTES, len(raw))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("the body is not JSON") from None
        if too_deep(text):
            raise bad_request(f"the body nests more than {MAX_JSON_DEPTH} levels deep")
        try:
            body: Any = json.loads(text)
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
            activity = Activity().deserialize(body)
        except Exception:
            raise bad_request("not a valid activity") from None
        if activity.delivery_mode == DeliveryModes.expect_replies:
            raise bad_request("deliveryMode expectReplies is not supported")
        return activity

    def _check_origin(self, activity: Activity) -> None:
        """403 for a channel other than Teams (with a token) or a serviceUrl of another machine
        (without one: the bot would post its replies there)."""
        if self.authenticated and activity.channel_id != TEAMS_CHANNEL:
            raise forbidden(TEAMS_ONLY)
        if not self.authenticated and not is_loopback(urlsplit(activity.service_url).hostname):
            raise forbidden(LOCAL_ONLY)

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
