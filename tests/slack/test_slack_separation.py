"""Separation of duties in Slack: a hiring manager cannot launder a red flag, Confirm fraud is
final, and a red flag after a Clear reopens the escalation with its buttons."""

from __future__ import annotations

import json

from bot.models import EscalationStatus, Outcome
from tests.fakes.slack_api import FakeSlackAPI, Message
from tests.slack.conftest import (
    HM,
    SEC,
    SECURITY_CHANNEL,
    SlackApp,
    SlackDriver,
    buttons,
    find_button,
    text_of,
)

PASSES = (
    ("clear", None),
    ("matched", None),
    ("natural", None),
    ("consistent", None),
    ("genuine", None),
)


def answered_step(slack: SlackDriver, step_title: str) -> Message:
    """The hiring manager's message of an answered step (it has a Change answer button)."""
    return next(
        message
        for message in reversed(slack.dm())
        if step_title in message.text
        and any(e["text"]["text"] == "Change answer" for _, e in buttons(message.blocks))
    )


def ephemerals(fake: FakeSlackAPI, user: str) -> list[str]:
    return [call.args["text"] for call in fake.calls_to("chat.postEphemeral", user=user)]


async def change(slack: SlackDriver, step_title: str, option: str, note: str | None) -> None:
    """Change answer on an answered step, then pick `option` (with its note)."""
    message = answered_step(slack, step_title)
    reply = await slack.click(message, label="Change answer")
    assert reply.status == 200
    await slack.settle()
    redrawn = slack.fake.message(message.channel, message.ts)
    views_before = len(slack.fake.state.views)
    await slack.click(redrawn, option=option)
    await slack.settle()
    if note is not None:
        assert len(slack.fake.state.views) > views_before, "the note modal opened"
        await slack.submit(slack.fake.state.views[-1], {"note": note})
        await slack.settle()


async def test_a_hiring_manager_cannot_launder_a_blocked_verification(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    store = slack_app.core.store
    verification_id = await slack.start()
    await slack.answer("not_provided")
    await slack.settle()
    [root] = fake_slack.messages_in(SECURITY_CHANNEL)

    await change(slack, "Notarized proof of identity", "verified", "trust me")
    for option, note in PASSES:
        await slack.answer(option, note)
    await slack.settle()

    assert store.verification(verification_id)["status"] == Outcome.BLOCKED
    assert store.escalation_for(verification_id)["status"] == EscalationStatus.OPEN
    status = await slack.command(f"status {verification_id}")
    assert "Outcome: Blocked: do not make the offer" in status.text
    assert "Security decision pending" in status.text

    [news] = [m for m in fake_slack.messages_in(SECURITY_CHANNEL) if m.thread_ts == root.ts]
    told = text_of(news.blocks)
    assert (
        f"<@{HM}> changed Notarized proof of identity from Not provided or candidate declined "
        "(block) to Notarized ID received and matches (pass): trust me"
    ) in told
    labels = [e["text"]["text"] for _, e in buttons(news.blocks)]
    assert labels == ["Acknowledge", "Clear (false alarm)", "Confirm fraud"]
    redrawn = text_of(fake_slack.message(SECURITY_CHANNEL, root.ts).blocks)
    assert "[BLOCK] Notarized proof of identity: Not provided or candidate declined" in redrawn
    assert f"Superseded: changed by <@{HM}> at " in redrawn
    assert "to Notarized ID received and matches (pass): trust me" in redrawn

    await slack.click(news, SEC, label="Acknowledge")
    await slack.settle()
    after_ack = text_of(fake_slack.message(SECURITY_CHANNEL, root.ts).blocks)
    assert "[BLOCK] Notarized proof of identity: Not provided or candidate declined" in after_ack
    assert f"*Status:* Acknowledged by <@{SEC}>" in after_ack
    assert store.verification(verification_id)["status"] == Outcome.BLOCKED

    await slack.click(news, SEC, label="Clear (false alarm)")
    await slack.settle()
    await slack.submit(slack.last_view("vb_clear"), {"reason": "Notary confirmed by phone"}, SEC)
    await slack.settle()
    assert store.verification(verification_id)["status"] == Outcome.CLEARED
    cleared = text_of(fake_slack.message(SECURITY_CHANNEL, root.ts).blocks)
    assert "(resolved by a Clear)" in cleared
    assert buttons(fake_slack.message(SECURITY_CHANNEL, root.ts).blocks) == []


async def test_after_confirm_fraud_nothing_can_be_changed_or_cancelled(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    store = slack_app.core.store
    verification_id = await slack.start()
    await slack.answer("verified", "Notary 1")
    await slack.answer("clear")
    await slack.answer("camera_refused")
    await slack.settle()
    [root] = fake_slack.messages_in(SECURITY_CHANNEL)
    await slack.click(root, SEC, label="Confirm fraud")
    await slack.settle()
    answers_before = len(store.answers(verification_id))
    step_message = answered_step(slack, "Camera-on interview")

    await slack.click(step_message, label="Change answer")
    await slack.settle()
    change_click = slack.click_payload(
        HM,
        step_message,
        "vb_options",
        {
            "action_id": "vb_answer:0",
            "text": {"type": "plain_text", "text": "Matches"},
            "value": f"{verification_id}|camera_interview|matched|c",
        },
    )
    await slack.send(slack.interaction(change_click))
    await slack.settle()
    cancel = await slack.command(f"cancel {verification_id}")

    told = ephemerals(fake_slack, HM)
    assert any("fraud was confirmed by security" in text for text in told)
    assert "fraud was confirmed by security" in cancel.text
    assert len(store.answers(verification_id)) == answers_before
    assert store.verification(verification_id)["cancelled_at"] is None
    assert store.verification(verification_id)["status"] == Outcome.BLOCKED
    refused = [
        json.loads(e["detail"])["action"] for e in store.events() if e["action"] == "refused"
    ]
    assert "answer.record" in refused and "verification.cancel" in refused


async def test_a_red_flag_after_a_clear_reopens_the_escalation_with_its_buttons(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    store = slack_app.core.store
    verification_id = await slack.start()
    await slack.answer("verified", "Notary 1")
    await slack.answer("pending")
    await slack.settle()
    [root] = fake_slack.messages_in(SECURITY_CHANNEL)
    await slack.click(root, SEC, label="Clear (false alarm)")
    await slack.settle()
    await slack.submit(slack.last_view("vb_clear"), {"reason": "Vendor delay"}, SEC)
    await slack.settle()
    assert store.escalation_for(verification_id)["status"] == EscalationStatus.CLEARED

    await slack.answer("camera_refused")
    await slack.settle()

    assert store.escalation_for(verification_id)["status"] == EscalationStatus.OPEN
    [news] = [m for m in fake_slack.messages_in(SECURITY_CHANNEL) if m.thread_ts == root.ts]
    assert "Reopened by a new finding: [BLOCK] Camera-on interview" in text_of(news.blocks)
    labels = [e["text"]["text"] for _, e in buttons(news.blocks)]
    assert labels == ["Acknowledge", "Clear (false alarm)", "Confirm fraud"]
    redrawn = fake_slack.message(SECURITY_CHANNEL, root.ts)
    assert "Reopened by a new finding after: Cleared (false alarm)" in text_of(redrawn.blocks)
    assert find_button(redrawn.blocks, label="Confirm fraud")

    await slack.click(news, SEC, label="Confirm fraud")
    await slack.settle()
    assert store.escalation_for(verification_id)["status"] == EscalationStatus.CONFIRMED
    assert store.verification(verification_id)["status"] == Outcome.BLOCKED
