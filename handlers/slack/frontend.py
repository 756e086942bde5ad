"""SlackFrontend: the bolt AsyncApp, its aiohttp route, its notifier and Socket Mode."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qsl

import aiohttp
import structlog
from aiohttp import web
from pydantic import ValidationError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from yarl import URL

from bot.intake import Intake
from bot.jobs import QueueBusy
from bot.json_depth import too_deep
from bot.runtime import Core
from handlers.slack.background import BackgroundTasks
from handlers.slack.context import SlackContext
from handlers.slack.flows import Click
from handlers.slack.handover import SlackHandover
from handlers.slack.jobs import register_jobs
from handlers.slack.listeners import actions as action_listeners
from handlers.slack.listeners import chase as chase_listeners
from handlers.slack.listeners import register_all
from handlers.slack.notifier import SlackNotifier
from handlers.slack.payloads import ENVELOPE, BlockActions, UnsupportedPayload, envelope
from handlers.slack.security_group import SecurityGroup
from handlers.slack.workflow import WorkflowStep

log = structlog.get_logger("verifybot.slack")

EVENTS_PATH = "/slack/events"
WEB_API_TIMEOUT = 10
DRAIN_SECONDS = 5.0
MAX_TIMESTAMP_DIGITS = 12
MAX_SIGNATURE_LENGTH = 128
MALFORMED = json.dumps({"ok": False, "error": "malformed request"})
REFUSED = json.dumps({"ok": False, "error": "invalid request"})
UNHANDLED = json.dumps({"ok": False, "error": "unhandled request"})
CLICKS = action_listeners.CLICKS + chase_listeners.CLICKS


def is_timestamp(value: str) -> bool:
    """Unix seconds as Slack sends them: ASCII digits, not absurdly many."""
    return value.isascii() and value.isdigit() and len(value) <= MAX_TIMESTAMP_DIGITS


def is_signature(value: str) -> bool:
    return value.startswith("v0=") and value.isascii() and len(value) <= MAX_SIGNATURE_LENGTH


def json_response(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="application/json")


def form_payload(body: str) -> str | None:
    """The `payload` field of a form body (an interactivity request), if it has one; the last
    of several, as `dict(parse_qsl(body, keep_blank_values=True))` gives it.

    yarl decodes in C: a click's payload carries its whole message (5 KB is common), which
    urllib decodes at about 30 µs a kilobyte."""
    if "payload" not in body:
        return None
    found = URL.build(query_string=body, encoded=True).query.getall("payload", None)
    return found[-1] if found else None


def nests_too_deep(body: str, payload: str | None) -> bool:
    """The JSON bolt would parse (the body, or a form's `payload`) nests too deep to parse."""
    return too_deep(body) or (payload is not None and too_deep(payload))


def click_kind(action_id: str) -> str | None:
    """The job kind of a button verifybot queues (listeners/actions.py, chase.py), if it is one."""
    return next((kind for action, kind in CLICKS if action.match(action_id)), None)


def bolt_request_of(body: str, query: str, headers: dict[str, str]) -> AsyncBoltRequest:
    """bolt's request; a form body that merely contains the word "payload" stays a form.

    bolt takes any form body containing "payload" (a channel named payload-team, a command's
    text) for an interactivity payload and reads it as empty; it is read again as a form.
    """
    bolt_request = AsyncBoltRequest(body=body, query=query, headers=dict(headers))
    if not bolt_request.body and "payload" in body:
        form = dict(parse_qsl(body, keep_blank_values=True))
        if "payload" not in form:
            bolt_request.body = form
            bolt_request.context = build_async_context(AsyncBoltContext(), form)
    return bolt_request


class EnvelopeMiddleware(AsyncMiddleware):
    """The validated envelope for Socket Mode requests (HTTP ones have it from the route)."""

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        if ENVELOPE not in req.context:
            try:
                req.context[ENVELOPE] = envelope(req.body)
            except (ValidationError, UnsupportedPayload):
                log.info("slack.malformed_payload")
                return BoltResponse(status=400, body=MALFORMED)
        return await next()

    @property
    def name(self) -> str:
        return "EnvelopeMiddleware"


async def listener_failed(error: Exception) -> BoltResponse:
    """A listener's bug: logged with its traceback; Slack gets a plain 500."""
    log.error("slack.listener_failed", exc_info=error)
    return BoltResponse(status=500, body=json.dumps({"ok": False, "error": "internal error"}))


class SlackFrontend:
    """Slack over HTTP (`POST /slack/events`) or Socket Mode; escalations through the outbox."""

    name = "slack"

    def __init__(self, core: Core) -> None:
        settings = core.settings
        if settings.slack_bot_token is None or not settings.slack_security_channel:
            raise ValueError("Slack needs SLACK_BOT_TOKEN and VERIFYBOT_SLACK_SECURITY_CHANNEL")
        self.core = core
        secret = settings.slack_signing_secret
        self.signing_secret = secret.get_secret_value() if secret else ""
        self.verifier = SignatureVerifier(self.signing_secret) if self.signing_secret else None
        self.client = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            timeout=WEB_API_TIMEOUT,
            retry_handlers=[],
        )
        self.background = BackgroundTasks()
        self.security_group = (
            SecurityGroup(self.client, settings.slack_security_usergroup, core.service.roles)
            if settings.slack_security_usergroup
            else None
        )
        self.notifier = SlackNotifier(
            self.client, settings.slack_security_channel, settings.slack_it_channel
        )
        self.context = SlackContext(
            service=core.service,
            client=self.client,
            background=self.background,
            jobs=core.jobs,
            security_group=self.security_group,
            security_channel=settings.slack_security_channel,
        )
        self.app = AsyncApp(
            name="verifybot",
            client=self.client,
            signing_secret=self.signing_secret,
            request_verification_enabled=bool(self.signing_secret),
            process_before_response=True,
        )
        self.app.use(EnvelopeMiddleware())
        self.app.error(listener_failed)
        register_all(self.app, self.context)
        register_jobs(core.jobs, self.context)
        self.handover = SlackHandover(self.context, settings.slack_hiring_channel)
        self.handover.register(core.jobs)
        self.workflow = WorkflowStep(self.context, Intake(core.service, core.jobs))
        self.workflow.register(self.app)

    def attach(self, app: web.Application) -> None:
        """The route (with a signing secret), the notifier, and start-up and clean-up."""
        if self.signing_secret:
            app.router.add_post(EVENTS_PATH, self.handle)
        else:
            log.warning("slack.http_disabled", reason="SLACK_SIGNING_SECRET is not set")
        self.core.add_notifier(self.notifier)
        app.cleanup_ctx.append(self._lifetime)

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        await self.start()
        yield
        await self.stop()

    async def start(self) -> None:
        """One pooled HTTP session for the Web API; the security group resolved."""
        if self.client.session is None:
            timeout = aiohttp.ClientTimeout(total=WEB_API_TIMEOUT)
            self.client.session = aiohttp.ClientSession(timeout=timeout)
        if self.security_group is not None:
            self.background.spawn(self.security_group.refresh(), "slack.usergroup")

    async def stop(self) -> None:
        if not await self.background.drain(DRAIN_SECONDS):
            log.warning("slack.background_cancelled", tasks=len(self.background))
            await self.background.cancel()
        if self.client.session is not None:
            await self.client.session.close()
            self.client.session = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """POST /slack/events: signature, then bounded and well-formed JSON, then bolt's dispatch.

        bolt reads the payload before its own signature check and fails on malformed ones,
        so both checks come first here; bolt checks the signature again.
        """
        raw = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        body = self.signed(raw, timestamp, signature)
        if body is None:
            return json_response(401, REFUSED)
        payload = form_payload(body)
        if nests_too_deep(body, payload):
            log.info("slack.malformed_request", error="nested too deep")
            return json_response(400, MALFORMED)
        queued = await self.queue_click(payload) if payload is not None else None
        if queued is not None:
            return queued
        try:
            bolt_request = bolt_request_of(body, request.query_string, dict(request.headers))
            bolt_request.context[ENVELOPE] = envelope(bolt_request.body)
        except UnsupportedPayload as kind:
            log.info("slack.unsupported_request", kind=str(kind))
            return json_response(404, UNHANDLED)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as error:
            log.info("slack.malformed_request", error=type(error).__name__)
            return json_response(400, MALFORMED)
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    async def queue_click(self, payload: str) -> web.Response | None:
        """A signed press of a button whose work is a job: queued, then acked, as its bolt
        listener does (listeners/actions.py), without bolt's dispatch; None for anything else.

        The job row is committed before the ack; a locked database answers 503.
        """
        try:
            parsed = json.loads(payload)
            actions = envelope(parsed) if parsed.get("type") == "block_actions" else None
        except (ValueError, TypeError, AttributeError, UnsupportedPayload):
            return None
        if not isinstance(actions, BlockActions):
            return None
        kind = click_kind(actions.actions[0].action_id)
        if kind is None:
            return None
        click = Click.of(actions)
        try:
            await self.context.jobs.submit(kind, click.job_payload(), click.job_key())
        except QueueBusy:
            return await to_aiohttp_response(action_listeners.not_queued(kind))
        return web.Response(status=200, content_type="text/plain")

    def signed(self, raw: bytes, timestamp: str, signature: str) -> str | None:
        """The body, if signed with SLACK_SIGNING_SECRET less than five minutes ago; else None.

        Headers and bodies Slack never sends (a non-ASCII timestamp or signature, a body that is
        not UTF-8) are unsigned requests, not errors: the SDK's check would raise on them.
        """
        if self.verifier is None or not is_timestamp(timestamp) or not is_signature(signature):
            return None
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return body if self.verifier.is_valid(body, timestamp, signature) else None

    async def run_socket_mode(self) -> None:
        """Serve Slack over Socket Mode (SLACK_APP_TOKEN) until cancelled."""
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        token = self.core.settings.slack_app_token
        if token is None:
            raise ValueError("Socket Mode needs SLACK_APP_TOKEN (an xapp- token)")
        handler = AsyncSocketModeHandler(self.app, token.get_secret_value())
        await handler.connect_async()
        log.info("slack.socket_mode_connected")
        try:
            await asyncio.Event().wait()
        finally:
            await handler.close_async()
