"""Delivers outbox notices to Slack: findings to the security channel, decisions by DM."""

from __future__ import annotations

from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import presenter
from bot.notices import (
    DecisionNotice,
    FindingNotice,
    HandoverNotice,
    Notice,
    OverdueNotice,
    ReminderNotice,
    ResurfaceNotice,
    StepNotice,
    TextNotice,
)
from bot.outbox import DeliveryError
from handlers.slack.blocks import (
    escalation_message,
    escape,
    prompt_message,
    text_message,
    thread_message,
)
from handlers.slack.chase_blocks import (
    handover_message,
    overdue_message,
    reminder_message,
    resurface_message,
)
from handlers.slack.errors import WEB_API_ERRORS, retry_after

log = structlog.get_logger("verifybot.slack")


def delivery_error(error: Exception, method: str) -> DeliveryError:
    """The DeliveryError the outbox retries for a failed Web API call."""
    if isinstance(error, SlackApiError):
        status = getattr(error.response, "status_code", 0)
        code = error.response.get("error") if hasattr(error.response, "get") else None
        if status == 429:
            return DeliveryError(f"{method}: rate limited", retry_after(error))
        if status >= 500:
            return DeliveryError(f"{method}: Slack answered {status}")
        log.error("slack.api_error", method=method, status=status, error=code)
        return DeliveryError(f"{method}: {code or status}")
    return DeliveryError(f"{method}: {type(error).__name__}: {error}".rstrip(": "))


class SlackNotifier:
    """The outbox's notifier for target "slack"; the message ts is the ref for threading."""

    target = "slack"

    def __init__(
        self, client: AsyncWebClient, security_channel: str, it_channel: str | None = None
    ) -> None:
        self.client = client
        self.security_channel = security_channel
        self.it_channel = it_channel

    async def deliver(self, notice: Notice, thread_ref: str | None) -> str | None:
        if isinstance(notice, FindingNotice):
            if thread_ref is None:
                return await self._post(
                    channel=self.security_channel, **escalation_message(notice.escalation)
                )
            posted = await self._post(
                channel=self.security_channel, thread_ts=thread_ref, **thread_message(notice)
            )
            await self._redraw(thread_ref, notice)
            return posted
        if isinstance(notice, TextNotice):
            return await self._post(channel=self.security_channel, **text_message(notice))
        if isinstance(notice, ReminderNotice):
            return await self._post(channel=notice.recipient, **reminder_message(notice))
        if isinstance(notice, OverdueNotice):
            return await self._post(channel=self.security_channel, **overdue_message(notice))
        if isinstance(notice, ResurfaceNotice):
            return await self._post(
                channel=self.security_channel, thread_ts=thread_ref, **resurface_message(notice)
            )
        if isinstance(notice, StepNotice):
            if notice.prompt is None:
                return None
            return await self._post(channel=notice.recipient, **prompt_message(notice.prompt))
        if isinstance(notice, HandoverNotice):
            channel = self.it_channel if notice.to_it_channel else notice.recipient
            if channel is None:
                raise DeliveryError("no Slack IT channel (VERIFYBOT_SLACK_IT_CHANNEL) is set")
            return await self._post(channel=channel, **handover_message(notice))
        return await self._post(channel=notice.recipient, text=decision_message(notice))

    async def _redraw(self, ts: str, notice: FindingNotice) -> None:
        """The escalation's first message shows every finding: redrawn after news, best effort."""
        message = escalation_message(notice.escalation)
        try:
            await self.client.chat_update(channel=self.security_channel, ts=ts, **message)
        except WEB_API_ERRORS as error:
            log.warning(
                "slack.escalation_redraw_failed", escalation=notice.escalation_id, error=str(error)
            )

    async def _post(self, **arguments: Any) -> str | None:
        arguments = {key: value for key, value in arguments.items() if value is not None}
        try:
            response = await self.client.chat_postMessage(**arguments)
        except WEB_API_ERRORS as error:
            raise delivery_error(error, "chat.postMessage") from error  # type: ignore[arg-type]
        return response.get("ts")


def decision_message(notice: DecisionNotice) -> str:
    return escape(presenter.decision_text(notice))
