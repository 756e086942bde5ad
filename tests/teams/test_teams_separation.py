"""Separation of duties in Teams: a red flag after a Clear reopens the escalation with its
decisions, and after Confirm fraud the hiring manager's answers are refused."""

from __future__ import annotations

from bot.models import EscalationStatus, Outcome, Result
from tests.fakes.bot_connector import FakeConnector
from tests.teams.harness import Chat, TeamsApp
from tests.teams.test_teams_e2e import (
    findings_posted,
    press,
    register_security_channel,
    start_with_form,
    verification_id,
)


async def test_a_red_flag_after_a_clear_reopens_the_escalation_with_its_decisions(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    channel = await register_security_channel(teams_app, connector)
    calls = await press(hm_chat, await start_with_form(hm_chat), Result.PASS)
    calls = await press(hm_chat, calls, Result.REVIEW)
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 1)
    [root] = findings_posted(connector)
    vid = await verification_id(teams_app)
    thread = channel.in_thread(root.id)
    await thread.click(root, "Clear", reason="Known vendor delay")
    store = teams_app.core.store
    assert store.escalation_for(vid)["status"] == EscalationStatus.CLEARED

    await press(hm_chat, calls, Result.BLOCK)
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 2)

    assert store.escalation_for(vid)["status"] == EscalationStatus.OPEN
    news = findings_posted(connector)[1]
    assert news.activity_id == root.id, "in the escalation's thread"
    assert "Reopened by a new finding: [BLOCK]" in news.text
    assert [action["title"] for action in news.card["actions"]] == [
        "Acknowledge",
        "Clear (false alarm)",
        "Confirm fraud",
    ]
    redrawn = connector.updates()[-1]
    assert redrawn.activity_id == root.id
    assert "Reopened by a new finding after: Cleared (false alarm)" in redrawn.text
    assert "(resolved by a Clear)" in redrawn.text

    await thread.click(news, "Confirm fraud", reason="Same face as an earlier applicant")
    assert store.escalation_for(vid)["status"] == EscalationStatus.CONFIRMED
    assert store.verification(vid)["status"] == Outcome.BLOCKED


async def test_after_confirm_fraud_the_hiring_manager_can_neither_answer_nor_cancel(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    channel = await register_security_channel(teams_app, connector)
    calls = await press(hm_chat, await start_with_form(hm_chat), Result.BLOCK)
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 1)
    [root] = findings_posted(connector)
    vid = await verification_id(teams_app)
    await channel.in_thread(root.id).click(root, "Confirm fraud", reason="Stolen identity")
    store = teams_app.core.store
    answers_before = len(store.answers(vid))

    answered = await press(hm_chat, calls, Result.PASS)
    cancelled = await hm_chat.say(f"cancel {vid}")

    for reply in (answered, cancelled):
        assert any("fraud was confirmed by security" in call.text for call in reply)
    assert len(store.answers(vid)) == answers_before
    assert store.verification(vid)["cancelled_at"] is None
    assert store.verification(vid)["status"] == Outcome.BLOCKED
