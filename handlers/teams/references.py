"""Conversation references kept in the store: the security channel and each user's chat."""

from __future__ import annotations

from typing import Any

from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationReference,
)

from bot.config import Settings
from bot.ids import security_channel_key
from bot.models import Platform
from bot.store import Store

SECURITY_KEY = security_channel_key(Platform.TEAMS)
TEAMS_CHANNEL = "msteams"
THREAD_MARK = ";messageid="


def user_key(user_id: str) -> str:
    """Where the personal chat with a user (by AAD object id) is kept."""
    return f"teams:user:{user_id}"


def origin_key(verification_id: str) -> str:
    """Where the conversation a verification was started from (a channel) is kept."""
    return f"teams:origin:{verification_id}"


def origin_reference(store: Store, verification_id: str) -> ConversationReference | None:
    stored = store.conversation_ref(origin_key(verification_id))
    return from_data(stored) if stored else None


def channel_root(conversation_id: str) -> str:
    """A Teams channel's conversation id without the thread part (`;messageid=...`)."""
    return conversation_id.split(THREAD_MARK, 1)[0]


def in_thread(conversation_id: str, root_activity_id: str) -> str:
    """The conversation id of the thread under a channel post (the Teams convention)."""
    return f"{channel_root(conversation_id)}{THREAD_MARK}{root_activity_id}"


def reference_of(activity: Activity) -> ConversationReference:
    """The reference to reach this activity's conversation again, without its activity id."""
    conversation = activity.conversation
    return ConversationReference(
        user=activity.from_property,
        bot=activity.recipient,
        conversation=ConversationAccount(
            id=conversation.id,
            is_group=conversation.is_group,
            conversation_type=conversation.conversation_type,
            tenant_id=conversation.tenant_id,
            name=conversation.name,
        ),
        channel_id=activity.channel_id,
        locale=activity.locale,
        service_url=activity.service_url,
    )


def channel_reference_of(activity: Activity) -> ConversationReference:
    """The reference of the channel itself, so each new post starts its own thread."""
    reference = reference_of(activity)
    reference.conversation.id = channel_root(reference.conversation.id)
    reference.user = None
    return reference


def to_data(reference: ConversationReference) -> dict[str, Any]:
    return reference.serialize()


def from_data(data: dict[str, Any]) -> ConversationReference:
    return ConversationReference().deserialize(data)


def configured_security_reference(settings: Settings) -> ConversationReference | None:
    """The security channel named by VERIFYBOT_TEAMS_SECURITY_CONVERSATION_ID and _SERVICE_URL."""
    return _channel_reference(settings, settings.teams_security_conversation_id)


def it_reference(settings: Settings) -> ConversationReference | None:
    """The IT conversation named by VERIFYBOT_TEAMS_IT_CONVERSATION_ID (device hand-overs)."""
    return _channel_reference(settings, settings.teams_it_conversation_id)


def _channel_reference(
    settings: Settings, conversation_id: str | None
) -> ConversationReference | None:
    if not (conversation_id and settings.teams_service_url):
        return None
    app_id = settings.microsoft_app_id
    return ConversationReference(
        channel_id=TEAMS_CHANNEL,
        service_url=settings.teams_service_url,
        conversation=ConversationAccount(
            id=channel_root(conversation_id),
            is_group=True,
            conversation_type="channel",
            tenant_id=settings.microsoft_app_tenant_id or None,
        ),
        bot=ChannelAccount(id=f"28:{app_id}" if app_id else "verifybot", name="verifybot"),
    )


def security_reference(store: Store, settings: Settings) -> ConversationReference | None:
    """The channel a security user registered in chat, else the configured one, else None."""
    stored = store.conversation_ref(SECURITY_KEY)
    return from_data(stored) if stored else configured_security_reference(settings)


def user_reference(store: Store, user_id: str) -> ConversationReference | None:
    stored = store.conversation_ref(user_key(user_id))
    return from_data(stored) if stored else None


def user_name(store: Store, user_id: str) -> str | None:
    """The display name Teams gave the user when they last wrote to the bot in a personal chat."""
    stored = store.conversation_ref(user_key(user_id)) or {}
    return (stored.get("user") or {}).get("name")
