"""Teams does what Slack does: Change answer with the same rules, the device hand-over started by
name, step cards only in the personal chat, and a decision for an unreachable hiring manager."""

from __future__ import annotations

from bot.models import Actor, EscalationStatus, Outcome, Platform, Result
from tests.fakes.bot_connector import FakeConnector
from tests.teams.harness import HM, SECURITY, Chat, TeamsApp
from tests.teams.test_teams_e2e import (
    EVIDENCE,
    JANE,
    last_card,
    press,
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
