"""Who may do what. An actor is (platform, id): roles are listed per platform and never cross."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.models import Actor, Platform
from bot.store import Clock, utc_now

LOCAL_PLATFORMS = frozenset({Platform.CLI, Platform.CONSOLE})
INTEGRATIONS = frozenset({Platform.API, Platform.GREENHOUSE})
NOT_SECURITY = "not a security user"


def same_person(actor: Actor, other: Actor) -> bool:
    """The same user id on the same platform; a display name does not count."""
    return actor.platform == other.platform and actor.user_id == other.user_id


@dataclass
class GroupMembership:
    """A platform user group's members as last fetched.

    They count for two refresh intervals after the fetch: the interval itself, and as long
    again of failed refreshes. After that they lose security rights until a fetch works.
    """

    ttl: timedelta
    members: frozenset[str] = frozenset()
    refreshed_at: datetime | None = None
    failing_since: datetime | None = None

    def current(self, now: datetime) -> bool:
        return self.refreshed_at is not None and now - self.refreshed_at <= 2 * self.ttl

    def unchecked_since(self) -> datetime | None:
        """Since when the members could not be fetched; None when they never failed."""
        if self.failing_since is not None:
            return self.failing_since
        return self.refreshed_at + self.ttl if self.refreshed_at is not None else None


class Roles:
    """Per platform: security users, hiring managers, and a security user group's members."""

    def __init__(
        self,
        security_users: Mapping[Platform, Iterable[str]] | None = None,
        hiring_managers: Mapping[Platform, Iterable[str]] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.security_users = {
            platform: frozenset(ids) for platform, ids in (security_users or {}).items()
        }
        self.hiring_managers = {
            platform: frozenset(ids) for platform, ids in (hiring_managers or {}).items()
        }
        self.clock = clock
        self.groups: dict[Platform, GroupMembership] = {}

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = utc_now) -> Roles:
        """The per-platform lists; SettingsError when the old shared variables are set."""
        settings.check_roles()
        return cls(
            security_users={
                Platform.SLACK: settings.slack_security_users,
                Platform.TEAMS: settings.teams_security_users,
            },
            hiring_managers={
                Platform.SLACK: settings.slack_hiring_managers,
                Platform.TEAMS: settings.teams_hiring_managers,
            },
            clock=clock,
        )

    # the security user group of a platform

    def watch_security_group(self, platform: Platform, ttl: float) -> None:
        """A user group on `platform` whose members count as security users while current."""
        self.groups[platform] = GroupMembership(ttl=timedelta(seconds=ttl))

    def set_security_group_members(self, platform: Platform, members: Iterable[str]) -> None:
        group = self.groups[platform]
        group.members = frozenset(members)
        group.refreshed_at = self.clock()
        group.failing_since = None

    def security_group_failed(self, platform: Platform) -> None:
        """A refresh of the group failed; the members known so far age until they lapse."""
        group = self.groups[platform]
        if group.failing_since is None:
            group.failing_since = self.clock()

    def _in_group(self, actor: Actor) -> bool:
        group = self.groups.get(actor.platform)
        return group is not None and actor.user_id in group.members and group.current(self.clock())

    # the roles

    @staticmethod
    def is_local(actor: Actor) -> bool:
        """The terminal's operator, who holds the database file itself."""
        return actor.platform in LOCAL_PLATFORMS

    def is_security(self, actor: Actor) -> bool:
        return (
            self.is_local(actor)
            or actor.user_id in self.security_users.get(actor.platform, frozenset())
            or self._in_group(actor)
        )

    def security_denial_reason(self, actor: Actor) -> str:
        """Why `actor` is not a security user: the lapsed user group, if that is the reason."""
        group = self.groups.get(actor.platform)
        if group is None or group.current(self.clock()) or self.is_security(actor):
            return NOT_SECURITY
        if group.refreshed_at is not None and actor.user_id not in group.members:
            return NOT_SECURITY
        since = group.unchecked_since()
        if since is None:
            return "the security user group has not been checked yet; try again in a minute"
        return (
            f"the security user group could not be checked since "
            f"{since.astimezone(UTC):%H:%M} UTC; ask an admin"
        )

    @staticmethod
    def is_integration(actor: Actor) -> bool:
        """An API token or the Greenhouse web hook: configured by a secret, never a person."""
        return actor.platform in INTEGRATIONS

    def can_start(self, actor: Actor) -> bool:
        """Listed hiring managers of the actor's platform; anyone there when none are listed.

        An integration (an API token, the Greenhouse web hook) may start verifications.
        """
        if self.is_integration(actor):
            return True
        listed = self.hiring_managers.get(actor.platform, frozenset())
        return not listed or actor.user_id in listed or self.is_security(actor)

    def can_view(self, actor: Actor, owner: Actor) -> bool:
        """The owner, security, and the integrations (an offer system reads every outcome)."""
        return same_person(actor, owner) or self.is_security(actor) or self.is_integration(actor)

    def can_answer(self, actor: Actor, owner: Actor) -> bool:
        """Only people answer steps; an integration never does."""
        if self.is_integration(actor):
            return False
        return self.can_start(actor) and (same_person(actor, owner) or self.is_local(actor))

    def can_give_shipping_address(self, actor: Actor, owner: Actor) -> bool:
        """Whoever may answer, and an API token (an IT workflow knows the address)."""
        return self.can_answer(actor, owner) or actor.platform is Platform.API

    def can_take(self, actor: Actor, owner: Actor) -> bool:
        """A person who may start verifications takes one an integration started for nobody."""
        return (
            self.is_integration(owner)
            and not self.is_integration(actor)
            and (self.can_start(actor))
        )
