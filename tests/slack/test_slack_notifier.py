"""SlackNotifier against the fake Web API: what it posts, and the DeliveryError it raises."""

from __future__ import annotations

import pytest

from bot.models import EscalationStatus, Platform
from bot.notices import DecisionNotice, NoticeItem
from bot.outbox import DeliveryError
from handlers.slack.notifier import SlackNotifier
from tests import notices
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import HM, SEC, SECURITY_CHANNEL, SlackApp, mrkdwn_of

FINDING = notices.notice(
    notices.escalation(
        [
            notices.finding(
                answered_by=HM,
                platform=Platform.SLACK,
                note="said <@U0BOSS> approved",
                reason="Camera refused or kept off",
            )
        ],
        candidate_name="Eve <!channel> & co",
        candidate_email="eve@example.com",
        candidate_role=None,
        requested_by=HM,
        requested_platform=Platform.SLACK,
    )
)
DECISION = DecisionNotice(
    escalation_id=7,
    verification_id="VB-0A1B2C3D",
    candidate_name="Eve <!here>",
    status=EscalationStatus.CLEARED,
    decided_by=SEC,
    decided_platform=Platform.SLACK,
    reason="ID arrived late",
    recipient=HM,
    recipient_platform=Platform.SLACK,
)


@pytest.fixture
def notifier(slack_app: SlackApp) -> SlackNotifier:
    return slack_app.frontend.notifier


async def test_a_finding_goes_to_the_security_channel_escaped(
    notifier: SlackNotifier, fake_slack: FakeSlackAPI
) -> None:
    ref = await notifier.deliver(FINDING, None)

    [call] = fake_slack.calls_to("chat.postMessage")
    assert call.args["channel"] == SECURITY_CHANNEL
    assert ref == fake_slack.messages_in(SECURITY_CHANNEL)[0].ts
    assert "thread_ts" not in call.args
    sent = call.args["text"] + "\n" + mrkdwn_of(call.args["blocks"])
    assert "<!channel>" not in sent
    assert "<@U0BOSS>" not in sent
    assert "&lt;!channel&gt;" in sent
    assert f"*Hiring manager:* <@{HM}>" in sent


async def test_a_later_finding_goes_into_the_thread_without_buttons_and_redraws_the_first(
    notifier: SlackNotifier, fake_slack: FakeSlackAPI
) -> None:
    root = await notifier.deliver(FINDING, None)
    fake_slack.calls.clear()
    later = FINDING.model_copy(update={"first": False})

    await notifier.deliver(later, root)

    [call] = fake_slack.calls_to("chat.postMessage")
    assert call.args["thread_ts"] == root
    assert all(block["type"] != "actions" for block in call.args["blocks"])
    assert "New finding: [BLOCK] Camera-on interview" in mrkdwn_of(call.args["blocks"])
    [redraw] = fake_slack.calls_to("chat.update")
    assert (redraw.args["channel"], redraw.args["ts"]) == (SECURITY_CHANNEL, root)


async def test_a_lowered_answer_in_the_thread_carries_the_decisions(
    notifier: SlackNotifier, fake_slack: FakeSlackAPI
) -> None:
    block = FINDING.escalation.findings[0]
    lowered = notices.finding(
        answer="matched", answer_label="Matches", result="pass", note="trust me", answer_id=9
    )
    news = FINDING.model_copy(
        update={"first": False, "items": [NoticeItem(finding=lowered, previous=block)]}
    )

    await notifier.deliver(news, "1700000001.000001")

    [call] = fake_slack.calls_to("chat.postMessage")
    text = mrkdwn_of(call.args["blocks"])
    assert "changed Camera-on interview from Did not match (block) to Matches (pass)" in text
    assert "trust me" in text
    decisions = [b for b in call.args["blocks"] if b["type"] == "actions"]
    assert [e["text"]["text"] for e in decisions[0]["elements"]] == [
        "Acknowledge",
        "Clear (false alarm)",
        "Confirm fraud",
    ]


async def test_a_decision_is_a_direct_message(
    notifier: SlackNotifier, fake_slack: FakeSlackAPI
) -> None:
    await notifier.deliver(DECISION, None)
    [call] = fake_slack.calls_to("chat.postMessage")
    assert call.args["channel"] == HM
    assert call.args["text"] == (
        "Security cleared as a false alarm the escalation for Eve &lt;!here&gt; "
        "(VB-0A1B2C3D). Reason: ID arrived late"
    )


async def test_a_rate_limit_carries_retry_after(
    notifier: SlackNotifier, fake_slack: FakeSlackAPI
) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(DeliveryError) as raised:
        await notifier.deliver(FINDING, None)
    assert raised.value.retry_after == 7.0
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize(("status", "error"), [(500, None), (503, None), (200, "not_in_channel")])
async def test_server_and_api_errors_are_delivery_errors_without_client_retries(
    notifier: SlackNotifier, fake_slack: FakeSlackAPI, status: int, error: str | None
) -> None:
    fake_slack.fail_next("chat.postMessage", status=status, error=error)
    with pytest.raises(DeliveryError) as raised:
        await notifier.deliver(FINDING, None)
    assert raised.value.retry_after is None
    assert (error or str(status)) in str(raised.value)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


async def test_slack_unreachable_is_a_delivery_error(
    notifier: SlackNotifier, fake_slack: FakeSlackAPI
) -> None:
    await fake_slack.go_down()
    with pytest.raises(DeliveryError):
        await notifier.deliver(FINDING, None)
    await fake_slack.come_back()
    assert await notifier.deliver(FINDING, None)
