"""Members of VERIFYBOT_SLACK_SECURITY_USERGROUP, who count as security users too."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Platform
from bot.roles import Roles
from handlers.slack.errors import WEB_API_ERRORS

log = structlog.get_logger("verifybot.slack")


class SecurityGroup:
    """Resolves the user group with usergroups.users.list; refreshed lazily after `ttl` seconds.

    Time is the roles' clock: when refreshes keep failing, the members lapse there (fail closed).
    """

    def __init__(
        self,
        client: AsyncWebClient,
        usergroup: str,
        roles: Roles,
        ttl: float = 300.0,
        retry: float = 30.0,
    ) -> None:
        self.client = client
        self.usergroup = usergroup
        self.roles = roles
        self.ttl = ttl
        self.retry = retry
        self._next_refresh: datetime | None = None
        self._lock = asyncio.Lock()
        roles.watch_security_group(Platform.SLACK, ttl)

    def _after(self, seconds: float) -> datetime:
        return self.roles.clock() + timedelta(seconds=seconds)

    @property
    def stale(self) -> bool:
        return self._next_refresh is None or self.roles.clock() >= self._next_refresh

    async def refresh(self) -> bool:
        """Fetch the members now; on failure try again soon (the known members age meanwhile)."""
        try:
            response = await self.client.usergroups_users_list(usergroup=self.usergroup)
        except WEB_API_ERRORS as error:
            log.warning(
                "slack.usergroup_refresh_failed", usergroup=self.usergroup, error=str(error)
            )
            self.roles.security_group_failed(Platform.SLACK)
            self._next_refresh = self._after(self.retry)
            return False
        users = response.get("users") or []
        members = [user for user in users if isinstance(user, str)]
        self.roles.set_security_group_members(Platform.SLACK, members)
        self._next_refresh = self._after(self.ttl)
        log.info("slack.usergroup_refreshed", usergroup=self.usergroup, members=len(members))
        return True

    async def ensure_fresh(self) -> None:
        """Refresh when the members are older than the TTL; one refresh at a time."""
        if not self.stale:
            return
        async with self._lock:
            if self.stale:
                await self.refresh()
