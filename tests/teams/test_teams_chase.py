"""Reminders in the hiring manager's personal chat, and overdue posts acknowledged in the
security channel, end to end through /api/messages and the fake connector."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import Result
from tests.conftest import FakeClock
from tests.fakes.bot_connector import Call, FakeConnector
from tests.teams.harness import HM, SECURITY, Chat, TeamsApp
from tests.teams.test_teams_e2e import (
    press,
    register_security_channel,
    start_with_form,
    verification_id,
)

DAY = 86400


def fake_clock(app: TeamsApp) -> FakeClock:
    clock = FakeClock(datetime.now(UTC))
    app.core.store.clock = clock
    return clock


def posts_with(connector: FakeConnector, words: str) -> list[Call]:
    return [call for call in connector.posts() if words in call.text]


async def test_a_reminder_in_the_personal_chat_is_answered_on_its_card(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    clock = fake_clock(teams_app)
    await start_with_form(hm_chat)
    vid = await verification_id(teams_app)
    clock.advance(DAY)
    assert (await teams_app.core.chaser.run_due()).reminders == [vid]
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(posts_with(connector, "Reminder:")) == 1)
    (reminder,) = posts_with(connector, "Reminder:")
    assert reminder.conversation_id == hm_chat.conversation_id
    assert "Nothing was answered for 1d." in reminder.text
    assert "It waits on step 1 of 8: Notarized proof of identity." in reminder.text
    calls = await press(hm_chat, [reminder], Result.PASS)
    assert any("Background check" in call.text for call in calls)
    assert len(teams_app.core.store.answers(vid)) == 1


async def test_an_overdue_post_is_acknowledged_by_security_in_the_channel(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    channel = await register_security_channel(teams_app, connector)
    clock = fake_clock(teams_app)
    await start_with_form(hm_chat)
    vid = await verification_id(teams_app)
    clock.advance(3 * DAY)
    assert (await teams_app.core.chaser.run_due()).overdue == [vid]
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(posts_with(connector, "[OVERDUE]")) == 1)
    (post,) = posts_with(connector, "[OVERDUE]")
    assert "the offer may go out unverified" in post.text
    assert f"Hiring manager: {HM.name}" in post.text
    refused = await channel.as_user(HM).in_thread(post.id).click(post, "Acknowledge")
    assert "not a security user" in refused[0].text
    [update] = await channel.in_thread(post.id).click(post, "Acknowledge")
    assert update.method == "PUT" and f"Acknowledged by {SECURITY.aad_id}" in update.text
    assert "actions" not in update.card


async def test_an_undecided_finding_is_raised_again_in_the_channel_thread(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    await register_security_channel(teams_app, connector)
    clock = fake_clock(teams_app)
    calls = await start_with_form(hm_chat)
    await press(hm_chat, calls, Result.BLOCK)
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(posts_with(connector, "verifybot escalation:")) == 1)
    (first,) = posts_with(connector, "verifybot escalation:")
    clock.advance(DAY)
    assert len((await teams_app.core.chaser.run_due()).resurfaced) == 1
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(posts_with(connector, "Still undecided")) == 1)
    (again,) = posts_with(connector, "Still undecided")
    assert again.activity_id == first.id
    assert [a["title"] for a in again.card["actions"]] == [
        "Acknowledge",
        "Clear (false alarm)",
        "Confirm fraud",
    ]
