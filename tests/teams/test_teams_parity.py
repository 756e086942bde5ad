"""Teams does what Slack does: Change answer with the same rules, the device hand-over started by
name, step cards only in the personal chat, and a decision for an unreachable hiring manager."""

from __future__ import annotations

from bot.models import Actor, EscalationStatus, Outcome, Platform, Result
from tests.fakes.bot_connector import FakeConnector
from tests.teams.harness import HM, SECURITY, Chat, TeamsApp
from tests.teams.test_teams_e2e import (
    EVIDENCE,
    JANE,
    findings_posted,
    last_card,
    press,
    register_security_channel,
    start_with_form,
    verification_id,
)

HM_ACTOR = Actor(user_id=HM.aad_id, platform=Platform.TEAMS)
SEC_ACTOR = Actor(user_id=SECURITY.aad_id, platform=Platform.TEAMS)


async def test_change_answer_on_an_answered_card_records_a_change(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    calls = await start_with_form(hm_chat)
    calls = await press(hm_chat, calls, Result.PASS)
    answered = calls[0]
    assert answered.method == "PUT"
    assert [a["title"] for a in answered.card["actions"]] == ["Change answer"]
    vid = await verification_id(teams_app)

    [change] = await hm_chat.click(answered, "Change answer")
    assert change.method == "PUT" and change.text.startswith("Change: ")
    assert "Notarized proof of identity" in change.text
    calls = await hm_chat.click(change, "2.")  # the ID does not match: a note is asked for
    assert calls[0].text.startswith("This answer needs a note")
    calls = await hm_chat.say("The photo differs")
    assert calls[0].method == "PUT" and calls[0].activity_id == change.id
    assert "(block)" in calls[0].text
    assert any("security team" in c.text for c in calls)
    view = await teams_app.core.service.view(HM_ACTOR, vid)
    assert view.outcome is Outcome.BLOCKED and view.answered == 1, "no step asked again"
    events = [e["action"] for e in teams_app.core.store.events(vid)]
    assert events.count("answer.changed") == 1

    [change] = await hm_chat.click(calls[0], "Change answer")
    calls = await hm_chat.click(change, "1.", note=EVIDENCE)
    view = await teams_app.core.service.view(HM_ACTOR, vid)
    assert view.outcome is Outcome.BLOCKED, "a lowered result waits for security"
    assert view.awaiting_security


async def test_change_answer_is_refused_once_fraud_is_confirmed(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    calls = await start_with_form(hm_chat)
    calls = await press(hm_chat, calls, Result.BLOCK)
    vid = await verification_id(teams_app)
    escalation = teams_app.core.store.escalation_for(vid)
    await teams_app.core.service.decide(SEC_ACTOR, escalation["id"], "confirm", None)
    assert teams_app.core.store.escalation_for(vid)["status"] == EscalationStatus.CONFIRMED
    [refused] = await hm_chat.click(calls[0], "Change answer")
    assert refused.text.startswith("Refused: fraud was confirmed by security")


async def test_start_device_handover_by_name_and_a_playbook_choice_in_the_form(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    calls = await hm_chat.say("start device-handover Jane Doe")
    form = calls[0]
    (choice,) = [e for e in form.card["body"] if e["type"] == "Input.ChoiceSet"]
    assert choice["value"] == "device-handover"
    assert [c["value"] for c in choice["choices"]] == ["pre-offer", "device-handover"]
    calls = await hm_chat.click(form, "Start verification", **JANE)
    assert "Device hand-over checks" in calls[0].text
    assert "EDR installed and reporting" in last_card(calls).text

    calls = await hm_chat.say("start Jim Roe")
    (choice,) = [e for e in calls[0].card["body"] if e["type"] == "Input.ChoiceSet"]
    assert choice["value"] == "pre-offer"
    calls = await hm_chat.click(calls[0], "Start verification", playbook="device-handover", **JANE)
    assert calls[0].text.startswith("Started Jim Roe (VB-")
    assert "Device hand-over checks" in calls[0].text


async def test_started_in_a_channel_the_steps_go_to_the_personal_chat(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    await hm_chat.say("help")  # the hiring manager has a personal chat with the bot
    channel = Chat(teams_app, connector, HM, "19:hiring@thread.tacv2", "channel")
    calls = await channel.say("start Jane Doe")
    calls = await channel.click(calls[0], "Start verification", **JANE)
    vid = await verification_id(teams_app)
    assert [c.text for c in calls] == [
        f"Started {vid} (Pre-offer verification). The steps are in your personal chat with "
        "verifybot; if you have none yet, open one and they arrive there."
    ]
    assert all(c.card is None or "actions" not in c.card for c in calls)
    await teams_app.deliver_outbox()
    await connector.wait_for(
        lambda: any(vid in c.text for c in connector.posts(hm_chat.conversation_id))
    )
    step = [c for c in connector.posts(hm_chat.conversation_id) if vid in c.text][-1]
    assert "You started this verification in a channel." in step.text
    calls = await press(hm_chat, [step], Result.PASS)
    assert "(pass)" in calls[0].text
    assert len(teams_app.core.store.answers(vid)) == 1
    assert not [c for c in connector.posts(channel.conversation_id) if "Background check" in c.text]


async def test_a_decision_for_an_unreachable_hiring_manager_goes_where_it_started(
    connector: FakeConnector, teams_app: TeamsApp
) -> None:
    security = await register_security_channel(teams_app, connector)
    channel = Chat(teams_app, connector, HM, "19:hiring@thread.tacv2", "channel")
    calls = await channel.say("start Jane Doe")
    await channel.click(calls[0], "Start verification", **JANE)
    vid = await verification_id(teams_app)
    await teams_app.core.service.answer(HM_ACTOR, vid, "notarized_id", "not_provided")
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: bool(findings_posted(connector)))
    [finding] = findings_posted(connector)
    escalation = teams_app.core.store.escalation_for(vid)
    await teams_app.core.service.decide(SEC_ACTOR, escalation["id"], "acknowledge", None)
    await teams_app.deliver_outbox()
    told = "For the hiring manager who started it: Security acknowledged the escalation"
    await connector.wait_for(
        lambda: any(c.text.startswith(told) for c in connector.posts(channel.conversation_id))
    )
    thread = f"{security.conversation_id};messageid={finding.id}"
    notes = [c.text for c in connector.posts(thread)]
    assert any("has no personal chat with verifybot" in note for note in notes)
    step_rows = [r for r in teams_app.core.store.pending_outbox() if r["kind"] == "step"]
    assert len(step_rows) == 1, "the step waits for the personal chat"
