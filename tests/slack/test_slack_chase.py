"""Reminders, overdue posts, the digest and the device hand-over in Slack, end to end: the scan
queues them, the outbox posts them to the fake Web API, and their buttons work."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.digest import post_digest
from tests.conftest import FakeClock
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import (
    HM,
    SEC,
    SECURITY_CHANNEL,
    SlackApp,
    SlackDriver,
    buttons,
    mrkdwn_of,
    option_of,
    text_of,
)

DAY = 86400


def fake_clock(app: SlackApp) -> FakeClock:
    """The core's clock, from now on moved by the test."""
    clock = FakeClock(datetime.now(UTC))
    app.core.store.clock = clock
    return clock


async def test_a_reminder_is_a_dm_whose_continue_button_shows_the_step(
    slack: SlackDriver, slack_app: SlackApp, fake_slack: FakeSlackAPI
) -> None:
    clock = fake_clock(slack_app)
    verification_id = await slack.start()
    await slack.settle()
    clock.advance(DAY)
    assert (await slack_app.core.chaser.run_due()).reminders == [verification_id]
    await slack.settle()
    reminder = slack.last_dm()
    shown = text_of(reminder.blocks)
    assert f"Reminder: the verification of Jane Doe ({verification_id})" in shown
    assert "Nothing was answered for 1d." in shown
    assert "It waits on step 1 of 8: Notarized proof of identity." in shown
    steps_before = len([m for m in slack.dm() if any(option_of(e) for _, e in buttons(m.blocks))])
    await slack.click(reminder, label="Continue")
    await slack.settle()
    steps = [m for m in slack.dm() if any(option_of(e) for _, e in buttons(m.blocks))]
    assert len(steps) == steps_before + 1
    assert "Notarized proof of identity" in text_of(steps[-1].blocks)


async def test_an_overdue_post_is_acknowledged_by_security_only(
    slack: SlackDriver, slack_app: SlackApp, fake_slack: FakeSlackAPI
) -> None:
    clock = fake_clock(slack_app)
    verification_id = await slack.start()
    await slack.answer("verified", note="Commission 12345")
    clock.advance(3 * DAY)
    assert (await slack_app.core.chaser.run_due()).overdue == [verification_id]
    await slack.settle()
    (post,) = [m for m in fake_slack.messages_in(SECURITY_CHANNEL) if "[OVERDUE]" in m.text]
    shown = text_of(post.blocks)
    assert "the offer may go out unverified" in shown
    assert f"Hiring manager: <@{HM}>" in mrkdwn_of(post.blocks)
    assert "Missing: Background check" in shown and "Notarized" not in shown.split("Missing")[1]

    await slack.click(post, user=HM, label="Acknowledge")
    await slack.settle()
    assert any("not a security user" in e["text"] for e in fake_slack.state.ephemeral)
    await slack.click(post, user=SEC, label="Acknowledge")
    await slack.settle()
    updated = fake_slack.message(SECURITY_CHANNEL, post.ts)
    assert f"Acknowledged by <@{SEC}>" in mrkdwn_of(updated.blocks)
    assert buttons(updated.blocks) == []
    events = slack_app.core.store.events(verification_id)
    assert [e["actor"] for e in events if e["action"] == "overdue.acknowledged"] == [SEC]


async def test_an_undecided_finding_is_raised_again_in_its_thread(
    slack: SlackDriver, slack_app: SlackApp, fake_slack: FakeSlackAPI
) -> None:
    clock = fake_clock(slack_app)
    await slack.start()
    await slack.answer("not_provided")
    await slack.settle()
    (escalation,) = fake_slack.messages_in(SECURITY_CHANNEL)
    clock.advance(DAY)
    assert len((await slack_app.core.chaser.run_due()).resurfaced) == 1
    await slack.settle()
    again = fake_slack.messages_in(SECURITY_CHANNEL)[-1]
    assert again.thread_ts == escalation.ts
    assert "Still undecided: 1 finding waits for a security decision" in text_of(again.blocks)
    assert {e["text"]["text"] for _, e in buttons(again.blocks)} >= {"Acknowledge"}


async def test_the_digest_is_posted_to_the_security_channel(
    slack: SlackDriver, slack_app: SlackApp, fake_slack: FakeSlackAPI
) -> None:
    clock = fake_clock(slack_app)
    await slack.start()
    await slack.answer("not_provided")
    clock.advance(DAY)
    post_digest(slack_app.core.chaser, clock.now)
    await slack.settle()
    digest = fake_slack.messages_in(SECURITY_CHANNEL)[-1]
    shown = text_of(digest.blocks)
    assert shown.startswith("verifybot daily digest")
    assert "1 started, 0 cleared, 1 blocked, 0 cancelled" in shown
    assert "Jane" not in shown


async def test_the_hand_over_goes_to_the_it_channel_to_be_taken(
    make_app, http, fake_slack: FakeSlackAPI
) -> None:
    app = await make_app(slack_it_channel="CITDESK01")
    slack = SlackDriver(http, app.url, fake_slack, app)
    pre_offer_id = await slack.start()
    for option, note in (
        ("verified", "Commission 12345"),
        ("clear", None),
        ("matched", None),
        ("natural", None),
        ("consistent", None),
        ("genuine", None),
    ):
        await slack.answer(option, note=note)
    (handover_id,) = (await app.core.chaser.run_due()).handovers
    await slack.settle()
    (post,) = fake_slack.messages_in("CITDESK01")
    assert f"Device hand-over: Jane Doe ({handover_id})" in text_of(post.blocks)
    await slack.click(post, user=HM, label="Take it")
    await slack.settle()
    assert "EDR installed and reporting" in text_of(slack.last_step().blocks)
    status = await slack.command(f"status {pre_offer_id}")
    assert f"Device hand-over: {handover_id}" in status.text
