"""The ActivityHandler: reads the turn, lets the conversation decide, sends what it says."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from http import HTTPStatus

import structlog
from botbuilder.core import ActivityHandler, BotState, CardFactory, InvokeResponse, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount

from bot import presenter
from bot.models import Actor, Platform
from bot.store import Store
from handlers.teams import references
from handlers.teams.conversation import Conversation, Incoming, Reply, Session
from handlers.teams.storage import EtagConflict

log = structlog.get_logger("verifybot.teams")

SESSION = "session"
PERSONAL = "personal"
TURN_LEASE_SECONDS = 10.0
NO_INVOKES = {"error": "verifybot's cards use Action.Submit; it handles no invoke activities"}


class TurnLocks:
    """A user's turns in one conversation run one at a time, in this process and across
    replicas: an asyncio lock here, then a lease row in the database.

    The session is read at the start of a turn and written at its end, after the replies are
    posted; two turns at once (a double click on a card's button, perhaps reaching two
    replicas) would both read the same session and both act on it, e.g. start the same
    candidate's verification twice. The lease is short and renewed every third of it while
    the turn runs: a turn of any length keeps it, and a replica killed mid-turn blocks its
    user for one lease at most (within Bot Framework's 15 s), not for a long fixed one.
    """

    def __init__(
        self, store: Store, lease_seconds: float = TURN_LEASE_SECONDS, poll: float = 0.02
    ) -> None:
        self.store = store
        self.lease = timedelta(seconds=lease_seconds)
        self.renew_every = lease_seconds / 3
        self.poll = poll
        self.owner = secrets.token_hex(8)
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await self._take(key)
                renewing = asyncio.create_task(self._renew(key))
                try:
                    yield
                finally:
                    renewing.cancel()
                    self.store.drop_turn_lease(key, self.owner)
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    async def _take(self, key: str) -> None:
        while not self._lease(key):
            await asyncio.sleep(self.poll)

    async def _renew(self, key: str) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                renewed = self._lease(key)
            except self.store.db.Error as error:
                log.warning("teams.turn_lease_not_renewed", error=type(error).__name__)
                continue
            if not renewed:
                log.warning("teams.turn_lease_lost")
                return

    def _lease(self, key: str) -> bool:
        """Take or renew `key`'s lease for one lease from now."""
        return self.store.take_turn_lease(key, self.owner, self.store.clock() + self.lease)

    def __len__(self) -> int:
        return len(self._locks)


def actor_of(activity: Activity) -> Actor:
    """The Teams user as the core knows them: by AAD object id, else by channel id (Emulator)."""
    user = activity.from_property
    return Actor(
        user_id=user.aad_object_id or user.id, platform=Platform.TEAMS, display_name=user.name
    )


def is_personal(activity: Activity) -> bool:
    conversation_type = activity.conversation.conversation_type
    return conversation_type in (None, PERSONAL) and not activity.conversation.is_group


def text_without_mention(activity: Activity) -> str:
    """The message text with the @mention of the bot taken out."""
    text = activity.text or ""
    for mention in TurnContext.get_mentions(activity):
        properties = mention.additional_properties or {}
        mentioned = properties.get("mentioned")
        if not isinstance(mentioned, dict) or mentioned.get("id") != activity.recipient.id:
            continue
        tag = properties.get("text")
        if not isinstance(tag, str) or not tag:
            tag = f"<at>{mentioned.get('name', '')}</at>"
        text = text.replace(tag, " ")
    return text.strip()


def message(reply: Reply) -> Activity:
    if reply.card is not None:
        return Activity(
            type=ActivityTypes.message, attachments=[CardFactory.adaptive_card(reply.card)]
        )
    text = (reply.text or "").replace("\n", "\n\n")
    return Activity(type=ActivityTypes.message, text=text, text_format="markdown")


class VerifyBot(ActivityHandler):
    """Handles turns only; what to say is the Conversation's business."""

    def __init__(self, conversation: Conversation, state: BotState, store: Store) -> None:
        self.conversation = conversation
        self.state = state
        self.store = store
        self.sessions = state.create_property(SESSION)
        self.locks = TurnLocks(store)

    async def on_turn(self, turn_context: TurnContext) -> None:
        async with self.locks.hold(self.state.get_storage_key(turn_context)):
            try:
                await super().on_turn(turn_context)
            finally:
                await self._save(turn_context)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        """A 400: no card of verifybot sends invokes (the SDK's own answer to some is a 500)."""
        return InvokeResponse(status=int(HTTPStatus.BAD_REQUEST), body=NO_INVOKES)

    async def _save(self, turn_context: TurnContext) -> None:
        try:
            await self.state.save_changes(turn_context)
        except EtagConflict:
            log.warning("teams.state_conflict", conversation=turn_context.activity.conversation.id)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        actor = actor_of(activity)
        personal = is_personal(activity)
        if personal:
            self._remember_chat(activity, actor)
        session = await self._session(turn_context)
        incoming = Incoming(
            actor=actor,
            text=text_without_mention(activity),
            value=activity.value,
            activity_id=activity.id,
            reply_to_id=activity.reply_to_id,
            conversation_id=activity.conversation.id,
            personal=personal,
            channel_reference=(
                None if personal else references.to_data(references.channel_reference_of(activity))
            ),
        )
        replies = await self.conversation.handle(session, incoming)
        await self.sessions.set(turn_context, session.model_dump(mode="json"))
        try:
            await self._send(turn_context, session, replies)
        finally:
            await self.sessions.set(turn_context, session.model_dump(mode="json"))

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        """Welcome someone who opens a personal chat; a channel is not told of every join."""
        if members_added and is_personal(turn_context.activity):
            await turn_context.send_activity(message(Reply(text=presenter.usage())))

    async def _session(self, turn_context: TurnContext) -> Session:
        stored = await self.sessions.get(turn_context, dict)
        try:
            return Session.model_validate(stored or {})
        except ValueError:
            log.warning("teams.session_reset", conversation=turn_context.activity.conversation.id)
            return Session()

    def _remember_chat(self, activity: Activity, actor: Actor) -> None:
        """Keep the personal chat's reference, for the security team's decision later."""
        data = references.to_data(references.reference_of(activity))
        self.store.save_conversation_ref(
            references.user_key(actor.user_id), Platform.TEAMS.value, data, actor.user_id
        )

    async def _send(
        self, turn_context: TurnContext, session: Session, replies: list[Reply]
    ) -> None:
        for reply in replies:
            if reply.replaces and await self._update(turn_context, reply):
                continue
            fallback = Reply(text=reply.text) if reply.replaces else reply
            response = await turn_context.send_activity(message(fallback))
            if reply.prompt_step and response is not None:
                session.card_id = response.id

    async def _update(self, turn_context: TurnContext, reply: Reply) -> bool:
        """Replace a posted card; False when the channel would not (the caller posts instead)."""
        updated = message(reply)
        updated.id = reply.replaces
        try:
            await turn_context.update_activity(updated)
        except Exception as error:
            log.info("teams.update_failed", activity=reply.replaces, error=str(error))
            return False
        return True
