"""Delivers outbox notices to Teams: escalations to the security channel, decisions to the HM."""

from __future__ import annotations

from typing import Any

import requests
import structlog
from botbuilder.core import BotAdapter, CardFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ConversationReference
from msrest.exceptions import ClientRequestError, HttpOperationError

from bot import presenter
from bot.config import Settings
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
from bot.outbox import DeliveryError, retry_after_seconds
from bot.store import Store
from handlers.teams import references
from handlers.teams.cards import escalation_card, text_card, thread_card
from handlers.teams.chase_cards import (
    handover_card,
    overdue_card,
    reminder_card,
    resurface_card,
    step_card,
)
from handlers.teams.markdown import escape, safe_decision_notice

log = structlog.get_logger("verifybot.teams.notifier")

UNREACHABLE_NOTE = (
    "The hiring manager has no personal chat with verifybot: the decision was posted in the "
    "conversation the verification was started from."
)
TOO_MANY_REQUESTS = 429


def card_activity(card: dict[str, Any]) -> Activity:
    return Activity(type=ActivityTypes.message, attachments=[CardFactory.adaptive_card(card)])


def delivery_error(error: BaseException) -> DeliveryError:
    """What went wrong with a connector call, as the outbox understands it."""
    if isinstance(error, HttpOperationError) and error.response is not None:
        status = error.response.status_code
        retry_after = retry_after_seconds(error.response.headers.get("Retry-After"))
        if status == TOO_MANY_REQUESTS:
            return DeliveryError("Teams connector is throttling (429)", retry_after)
        return DeliveryError(f"Teams connector answered {status}", retry_after)
    if isinstance(error, ClientRequestError | requests.RequestException | OSError):
        return DeliveryError(f"Teams connector unreachable: {error}")
    return DeliveryError(f"Teams delivery failed: {type(error).__name__}: {error}")


def _fail_fast(turn_context: TurnContext) -> None:
    """The outbox retries with backoff across restarts; the connector client must not retry too."""
    client = turn_context.turn_state.get(BotAdapter.BOT_CONNECTOR_CLIENT_KEY)
    policy = getattr(getattr(client, "config", None), "retry_policy", None)
    if policy is not None:
        policy.retries = 0


class TeamsNotifier:
    """The outbox's notifier for target "teams"."""

    target = "teams"

    def __init__(self, adapter: BotAdapter, store: Store, settings: Settings) -> None:
        self.adapter = adapter
        self.store = store
        self.settings = settings

    async def deliver(self, notice: Notice, thread_ref: str | None) -> str | None:
        if isinstance(notice, FindingNotice):
            reference = references.security_reference(self.store, self.settings)
            if reference is None:
                raise DeliveryError("no Teams security channel registered yet")
            if thread_ref is None:
                return await self.post(reference, self._escalation(notice))
            posted = await self.post(reference, card_activity(thread_card(notice)), thread_ref)
            await self._redraw(reference, thread_ref, notice)
            return posted
        if isinstance(notice, TextNotice):
            reference = references.security_reference(self.store, self.settings)
            if reference is None:
                raise DeliveryError("no Teams security channel registered yet")
            return await self.post(reference, card_activity(text_card(notice)))
        if isinstance(notice, DecisionNotice):
            text = presenter.decision_text(safe_decision_notice(notice))
            reference = references.user_reference(self.store, notice.recipient)
            if reference is None:
                return await self._decision_where_started(notice, text)
            return await self.post(reference, Activity(type=ActivityTypes.message, text=text))
        if isinstance(notice, StepNotice):
            reference = references.user_reference(self.store, notice.recipient)
            if reference is None:
                raise DeliveryError(f"no Teams chat with {notice.recipient} yet")
            return await self.post(reference, card_activity(step_card(notice)))
        if isinstance(notice, ReminderNotice | HandoverNotice | OverdueNotice | ResurfaceNotice):
            return await self._deliver_chase(notice, thread_ref)
        raise DeliveryError(f"Teams cannot deliver a {type(notice).__name__}")

    async def _decision_where_started(self, notice: DecisionNotice, text: str) -> str | None:
        """A hiring manager with no personal chat: the decision goes to the conversation the
        verification was started from, and the security thread is told so."""
        origin = references.origin_reference(self.store, notice.verification_id)
        if origin is None:
            raise DeliveryError(f"no Teams chat with {notice.recipient} yet")
        name = references.user_name(self.store, notice.recipient)
        who = escape(name) if name else "the hiring manager who started it"
        posted = await self.post(
            origin, Activity(type=ActivityTypes.message, text=f"For {who}: {text}")
        )
        security = references.security_reference(self.store, self.settings)
        root = self.store.message_ref(notice.escalation_id, self.target)
        if security is not None and root is not None:
            said = Activity(type=ActivityTypes.message, text=UNREACHABLE_NOTE)
            try:
                await self.post(security, said, root)
            except DeliveryError as error:
                log.warning("teams.unreachable_note_failed", error=str(error))
        return posted

    async def _deliver_chase(
        self,
        notice: ReminderNotice | HandoverNotice | OverdueNotice | ResurfaceNotice,
        thread_ref: str | None,
    ) -> str | None:
        """Reminders and hand-overs to the personal chat (or the IT conversation); overdue
        posts and re-surfaced escalations to the security channel."""
        if isinstance(notice, ReminderNotice | HandoverNotice):
            it_channel = isinstance(notice, HandoverNotice) and notice.to_it_channel
            reference = (
                references.it_reference(self.settings)
                if it_channel
                else references.user_reference(self.store, notice.recipient)
            )
            if reference is None:
                raise DeliveryError(f"no Teams chat with {notice.recipient} yet")
            built = (
                reminder_card(notice)
                if isinstance(notice, ReminderNotice)
                else handover_card(notice)
            )
            return await self.post(reference, card_activity(built))
        reference = references.security_reference(self.store, self.settings)
        if reference is None:
            raise DeliveryError("no Teams security channel registered yet")
        if isinstance(notice, ResurfaceNotice):
            return await self.post(reference, card_activity(resurface_card(notice)), thread_ref)
        manager = references.user_name(self.store, notice.requested_by)
        return await self.post(reference, card_activity(overdue_card(notice, manager)))

    def _escalation(self, notice: FindingNotice) -> Activity:
        escalation = notice.escalation
        manager = references.user_name(self.store, escalation.requested_by)
        return card_activity(escalation_card(escalation, manager))

    async def _redraw(
        self, reference: ConversationReference, root: str, notice: FindingNotice
    ) -> None:
        """The escalation's first card shows every finding: redrawn after news, best effort."""
        activity = self._escalation(notice)
        activity.id = root

        async def update(turn_context: TurnContext) -> None:
            _fail_fast(turn_context)
            await turn_context.update_activity(activity)

        try:
            await self.adapter.continue_conversation(
                reference, update, self.settings.microsoft_app_id or None
            )
        except Exception as error:
            log.warning(
                "teams.escalation_redraw_failed",
                escalation=notice.escalation_id,
                error=type(error).__name__,
            )

    async def post(
        self, reference: ConversationReference, activity: Activity, thread_ref: str | None = None
    ) -> str | None:
        """Post proactively, as a reply in the thread of `thread_ref` if given; the new id."""
        if thread_ref and reference.channel_id == references.TEAMS_CHANNEL:
            reference = references.from_data(references.to_data(reference))
            reference.conversation.id = references.in_thread(reference.conversation.id, thread_ref)
        result: dict[str, Any] = {}

        async def send(turn_context: TurnContext) -> None:
            _fail_fast(turn_context)
            turn_context.activity.id = thread_ref
            try:
                response = await turn_context.send_activity(activity)
            except Exception as error:  # reported below, after the SDK's pipeline is done
                result["error"] = error
                return
            result["id"] = response.id if response else None

        try:
            await self.adapter.continue_conversation(
                reference, send, self.settings.microsoft_app_id or None
            )
        except Exception as error:
            raise delivery_error(error) from error
        if "error" in result:
            raise delivery_error(result["error"]) from result["error"]
        return result.get("id")
