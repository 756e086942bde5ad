"""Who may do what: hiring managers start and answer, security users decide escalations."""

from __future__ import annotations

from collections.abc import Iterable

from bot.models import Actor, Platform

LOCAL_PLATFORMS = frozenset({Platform.CLI, Platform.CONSOLE})


class Roles:
    """Role lists hold Slack user ids and Teams AAD object ids alike."""

    def __init__(self, hiring_managers: Iterable[str] = (), security_users: Iterable[str] = ()):
        self.hiring_managers = frozenset(hiring_managers)
        self.security_users = frozenset(security_users)
        self.security_group_members: frozenset[str] = frozenset()

    def set_security_group_members(self, members: Iterable[str]) -> None:
        """Members of a platform user group that also count as security users."""
        self.security_group_members = frozenset(members)

    @staticmethod
    def is_local(actor: Actor) -> bool:
        """The terminal's operator, who holds the database file itself."""
        return actor.platform in LOCAL_PLATFORMS

    def is_security(self, actor: Actor) -> bool:
        return (
            self.is_local(actor)
            or actor.user_id in self.security_users
            or actor.user_id in self.security_group_members
        )

    def can_start(self, actor: Actor) -> bool:
        return (
            not self.hiring_managers
            or actor.user_id in self.hiring_managers
            or self.is_security(actor)
        )

    def can_view(self, actor: Actor, requested_by: str) -> bool:
        return actor.user_id == requested_by or self.is_security(actor)

    def can_answer(self, actor: Actor, requested_by: str) -> bool:
        return self.can_start(actor) and (actor.user_id == requested_by or self.is_local(actor))
