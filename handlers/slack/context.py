"""What every listener needs: the service, the Web API client, the background tasks."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.jobs import Job, JobWorker, RetryLater
from bot.models import Actor, Platform
from bot.service import VerificationService
from handlers.slack.background import BackgroundTasks
from handlers.slack.blocks import escape
from handlers.slack.errors import WEB_API_ERRORS, retry_after
from handlers.slack.security_group import SecurityGroup

log = structlog.get_logger("verifybot.slack")
ROLE_REFRESH_WAIT = 1.0
MODAL_FAILED = "Slack did not open the form (it allows 3 seconds for that): please try again."


def slack_actor(user_id: str) -> Actor:
    return Actor(user_id=user_id, platform=Platform.SLACK)


def retryable(error: BaseException) -> bool:
    """A failure that may pass: no answer, a rate limit, or Slack's own server error."""
    if isinstance(error, SlackApiError):
        status = error.response.status_code
        return status == 429 or status >= 500
    return True


@dataclass
class SlackContext:
    """Shared by the listeners.

    `for_job(job)` is the context a job runs with: a Web API call that may pass later makes
    the job retry (RetryLater), and a message the job already sent is not sent again.
    """

    service: VerificationService
    client: AsyncWebClient
    background: BackgroundTasks
    jobs: JobWorker
    security_group: SecurityGroup | None = None
    security_channel: str = ""
    job: Job | None = None

    def for_job(self, job: Job) -> SlackContext:
        return dataclasses.replace(self, job=job)

    security_target = "slack"

    async def safely(self, call: Awaitable[Any], method: str) -> Any | None:
        """The Web API response, or None after logging why the call failed.

        In a job, a failure that may pass (no answer, 429, 5xx) raises RetryLater instead.
        """
        try:
            return await call
        except WEB_API_ERRORS as error:
            if self.job is not None and retryable(error):
                raise RetryLater(f"{method}: {error}", retry_after(error)) from None
            log.warning("slack.api_call_failed", method=method, error=str(error))
            return None

    async def once(
        self, method: str, args: dict[str, Any], call: Callable[..., Awaitable[Any]]
    ) -> Any | None:
        """`call(**args)`; in a job, skipped when an earlier run of the job made it already."""
        if self.job is None:
            return await self.safely(call(**args), method)
        material = json.dumps([method, args], sort_keys=True, default=str)
        mark = f"{method}:{hashlib.sha256(material.encode()).hexdigest()[:24]}"
        if self.job.done(mark):
            return {"ok": True, "replayed": True}
        self.job.save()
        response = await self.safely(call(**args), method)
        if response is not None:
            self.job.mark(mark)
        return response

    async def tell(self, user_id: str, channel_id: str | None, text: str) -> None:
        """An ephemeral message where the person is, or a DM when there is no channel."""
        text = escape(text)
        if channel_id:
            call = self.client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
            if await self.safely(call, "chat.postEphemeral") is not None:
                return
        await self.post(user_id, {"text": text})

    async def post(self, channel: str, message: dict[str, Any]) -> Any | None:
        """chat.postMessage; a user id as channel posts to the app's DM with that person."""
        args = {"channel": channel, **message}
        return await self.once("chat.postMessage", args, self.client.chat_postMessage)

    async def update(self, channel: str, ts: str, message: dict[str, Any]) -> Any | None:
        args = {"channel": channel, "ts": ts, **message}
        return await self.once("chat.update", args, self.client.chat_update)

    async def open_modal(
        self, trigger_id: str, view: dict[str, Any], user_id: str, channel_id: str | None
    ) -> None:
        """views.open; when Slack does not open it, the person is told rather than left waiting."""
        call = self.client.views_open(trigger_id=trigger_id, view=view)
        if await self.safely(call, "views.open") is None:
            await self.tell(user_id, channel_id, MODAL_FAILED)

    async def refresh_roles(self, wait: float | None = None) -> None:
        """Bring the security user group's members up to date when they are older than its TTL.

        With `wait` (before an ack, which Slack allows 3 seconds), wait at most that long: a
        slow refresh goes on in the background and this request uses the members known so far.
        """
        group = self.security_group
        if group is None or not group.stale:
            return
        if wait is None:
            await group.ensure_fresh()
            return
        task = self.background.spawn(group.ensure_fresh(), "slack.usergroup")
        await asyncio.wait({task}, timeout=wait)
