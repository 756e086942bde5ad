"""The exceptions a Web API call can end with: Slack's answer, or no answer at all."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.outbox import retry_after_seconds

WEB_API_ERRORS: tuple[type[BaseException], ...] = (
    SlackApiError,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
)


def retry_after(error: BaseException) -> float | None:
    """The seconds a Web API error's Retry-After header asks for (bot.outbox reads it)."""
    response = getattr(error, "response", None) if isinstance(error, SlackApiError) else None
    headers = getattr(response, "headers", None) or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    return retry_after_seconds(value if isinstance(value, str) else None)
