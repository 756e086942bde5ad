"""TeamsNotifier on its own: where notices go, and how connector failures reach the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from botbuilder.schema import ChannelAccount, ConversationAccount, ConversationReference

from bot.models import EscalationStatus, Platform
from bot.notices import DecisionNotice
from bot.outbox import DeliveryError, retry_after_seconds
from bot.runtime import Core, build_core
from handlers.teams import references
from handlers.teams.frontend import TeamsFrontend
from handlers.teams.notifier import TeamsNotifier
from tests import notices
from tests.fakes.bot_connector import FakeConnector
from tests.teams.harness import HM, SECURITY_CHANNEL, teams_settings

FINDING = notices.notice(
    notices.escalation(
        [notices.finding(answered_by=HM.aad_id)],
        id=1,
        requested_by=HM.aad_id,
    )
)
DECISION = DecisionNotice(
    escalation_id=1,
    verification_id="VB-1A2B3C4D",
    candidate_name="Jane Doe",
    status=EscalationStatus.CLEARED,
    decided_by="aad-sec-1",
    decided_platform=Platform.TEAMS,
    reason="Known remote notary",
    recipient=HM.aad_id,
    recipient_platform=Platform.TEAMS,
)


@pytest.fixture
def core(tmp_path: Path, connector: FakeConnector) -> Iterator[Core]:
    built = build_core(teams_settings(tmp_path / "notifier.db"))
    yield built
    built.close()


@pytest.fixture
def notifier(core: Core) -> TeamsNotifier:
    return TeamsFrontend(core).notifier


def register(core: Core, connector: FakeConnector) -> None:
    reference = ConversationReference(
        channel_id="msteams",
        service_url=connector.url,
        conversation=ConversationAccount(id=SECURITY_CHANNEL, is_group=True),
        bot=ChannelAccount(id="28:verifybot-bot"),
    )
    core.store.save_conversation_ref(
        references.SECURITY_KEY, "teams", references.to_data(reference), "aad-sec-1"
    )


async def test_without_a_security_channel_a_finding_stays_pending(
    notifier: TeamsNotifier,
) -> None:
    with pytest.raises(DeliveryError, match="no Teams security channel registered yet"):
        await notifier.deliver(FINDING, None)


async def test_without_the_hms_chat_a_decision_stays_pending(notifier: TeamsNotifier) -> None:
    with pytest.raises(DeliveryError, match=f"no Teams chat with {HM.aad_id} yet"):
        await notifier.deliver(DECISION, None)


async def test_a_first_finding_opens_a_thread_and_later_ones_reply_in_it(
    notifier: TeamsNotifier, core: Core, connector: FakeConnector
) -> None:
    register(core, connector)
    first_id = await notifier.deliver(FINDING, None)
    later_id = await notifier.deliver(FINDING.model_copy(update={"first": False}), first_id)
    first, later = connector.posts()
    assert (first.conversation_id, first.activity_id, first.id) == (
        SECURITY_CHANNEL,
        None,
        first_id,
    )
    assert later.conversation_id == f"{SECURITY_CHANNEL};messageid={first_id}"
    assert later.activity_id == first_id and later_id == later.id
    assert first.text.startswith("[BLOCK] verifybot escalation: Jane Doe")


async def test_a_decision_goes_to_the_hms_personal_chat(
    notifier: TeamsNotifier, core: Core, connector: FakeConnector
) -> None:
    reference = ConversationReference(
        channel_id="msteams",
        service_url=connector.url,
        conversation=ConversationAccount(id="a:hm-chat", conversation_type="personal"),
        bot=ChannelAccount(id="28:verifybot-bot"),
        user=ChannelAccount(id=f"29:{HM.aad_id}", aad_object_id=HM.aad_id),
    )
    core.store.save_conversation_ref(
        references.user_key(HM.aad_id), "teams", references.to_data(reference), HM.aad_id
    )
    await notifier.deliver(DECISION, None)
    [dm] = connector.posts("a:hm-chat")
    assert dm.text == (
        "Security cleared as a false alarm the escalation for Jane Doe (VB-1A2B3C4D). "
        "Reason: Known remote notary"
    )


async def test_throttling_gives_the_retry_after_and_the_sdk_does_not_retry_by_itself(
    notifier: TeamsNotifier, core: Core, connector: FakeConnector
) -> None:
    register(core, connector)
    connector.fail_next(429, retry_after="7")
    with pytest.raises(DeliveryError) as caught:
        await notifier.deliver(FINDING, None)
    assert caught.value.retry_after == 7.0
    assert str(caught.value) == "Teams connector is throttling (429)"
    connector.fail_next(503)
    with pytest.raises(DeliveryError, match="Teams connector answered 503"):
        await notifier.deliver(FINDING, None)
    connector.fail_next(500)
    with pytest.raises(DeliveryError, match="Teams connector answered 500"):
        await notifier.deliver(FINDING, None)
    assert connector.attempts() == 3, "one request per delivery: the outbox owns retries"
    assert connector.posts() == []


async def test_a_connector_that_is_down_is_a_delivery_error(
    notifier: TeamsNotifier, core: Core, connector: FakeConnector
) -> None:
    register(core, connector)
    await connector.go_down()
    with pytest.raises(DeliveryError, match="Teams connector unreachable"):
        await notifier.deliver(FINDING, None)
    await connector.come_up()
    assert await notifier.deliver(FINDING, None) == connector.posts()[0].id


async def test_a_registered_channel_wins_over_the_configured_one(
    core: Core, connector: FakeConnector
) -> None:
    settings = core.settings.model_copy(
        update={
            "teams_security_conversation_id": "19:configured@thread.tacv2;messageid=5",
            "teams_service_url": "https://smba.trafficmanager.net/amer/",
        }
    )
    configured = references.security_reference(core.store, settings)
    assert configured is not None
    assert configured.conversation.id == "19:configured@thread.tacv2"
    assert configured.service_url == "https://smba.trafficmanager.net/amer/"
    register(core, connector)
    assert references.security_reference(core.store, settings).conversation.id == SECURITY_CHANNEL


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds("999999") == 3600.0
    assert retry_after_seconds("soon") is None
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 50 <= retry_after_seconds(in_a_minute) <= 60
