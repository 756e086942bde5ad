"""The exceptions a Web API call can end with: Slack's answer, or no answer at all."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError

WEB_API_ERRORS: tuple[type[BaseException], ...] = (
    SlackApiError,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
)
