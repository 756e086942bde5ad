"""End to end: real activities posted to the served app, replies caught by the fake connector.

Steps are answered by their option's result (pass, review, block), looked up in the playbook,
so a reworded or reordered option does not break these tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from bot.models import Actor, EscalationStatus, Option, Platform, Prompt, Result
from handlers.server import FRONTENDS
from tests.fakes.bot_connector import Call, FakeConnector
from tests.teams.harness import (
    HM,
    OTHER_HM,
    SECURITY,
    SECURITY_CHANNEL,
    Chat,
    TeamsApp,
    TeamsUser,
    texts,
)

HM_ACTOR = Actor(user_id=HM.aad_id, platform=Platform.TEAMS)
JANE = {
    "email": "jane.doe@example.com",
    "home_address": "123 Main St, Springfield, IL 62701",
    "shipping_address": "123 Main Street, Springfield, IL 62701",
}
EVIDENCE = "Notary Ann Smith, commission 12345, Illinois"
NEEDS_REVIEW = "This answer was sent to the security team for review."
REFUSED = "You are not allowed to do that (not a security user)."


def last_card(calls: list[Call]) -> Call:
    return next(call for call in reversed(calls) if call.card is not None)


def findings_posted(connector: FakeConnector) -> list[Call]:
    return [
        call
        for call in connector.posts()
        if "verifybot escalation:" in call.text or call.text.startswith("Update: ")
    ]


async def verification_id(app: TeamsApp) -> str:
    views = await app.core.service.verifications(HM_ACTOR, open_only=False)
    return views[0].id


async def current_step(app: TeamsApp, result: Result) -> tuple[Prompt, int, Option]:
    """The step now asked, and its first option with `result` (with its 1-based number)."""
    prompt = await app.core.service.next_prompt(HM_ACTOR, await verification_id(app))
    assert prompt is not None
    index, option = next((i, o) for i, o in enumerate(prompt.options, 1) if o.result is result)
    return prompt, index, option


async def press(chat: Chat, calls: list[Call], result: Result) -> list[Call]:
    """On the last card, press the current step's first `result` option (evidence if needed)."""
    _, index, option = await current_step(chat.app, result)
    note = {"note": EVIDENCE} if option.note_required else {}
    return await chat.click(last_card(calls), f"{index}.", **note)


async def start_with_form(chat: Chat) -> list[Call]:
    """`start Jane Doe`, then the form submitted with Jane's details."""
    calls = await chat.say("start Jane Doe")
    form = calls[0]
    assert "Candidate details" in form.text
    return await chat.click(form, "Start verification", **JANE)


async def register_security_channel(app: TeamsApp, connector: FakeConnector) -> Chat:
    channel = Chat(app, connector, SECURITY, SECURITY_CHANNEL, "channel")
    calls = await channel.say("security channel here")
    replies = [text for text in texts(calls) if "] verifybot escalation: " not in text]
    assert replies == ["This channel will now receive verifybot escalations."], (
        "an escalation the outbox worker posts meanwhile may come along"
    )
    return channel


async def test_a_whole_verification_ends_cleared(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    """Typed details (one bad email), then each step by button, typed number or typed label."""
    await hm_chat.say("start Jane Doe")
    calls = await hm_chat.say("jane.doe@example")
    assert texts(calls)[0].startswith("Email not a valid email address")
    typed = (
        JANE["email"],
        "skip",
        "Backend Engineer",
        JANE["home_address"],
        "same",
        "skip",
        "skip",
    )
    for text in typed:
        calls = await hm_chat.say(text)
    assert calls[0].text.startswith("Started Jane Doe (VB-")
    vid = await verification_id(teams_app)
    ways = iter(["number", "click", "label"] * 3)
    while (prompt := await teams_app.core.service.next_prompt(HM_ACTOR, vid)) is not None:
        card = last_card(calls)
        assert f"{prompt.step_title} ({prompt.progress})" in card.text
        index, option = next(
            (i, o) for i, o in enumerate(prompt.options, 1) if o.result is Result.PASS
        )
        way = next(ways)
        if way == "click":
            note = {"note": EVIDENCE} if option.note_required else {}
            calls = await hm_chat.click(card, f"{index}.", **note)
        else:
            calls = await hm_chat.say(str(index) if way == "number" else option.label)
            if option.note_required:
                assert texts(calls) == [
                    f"This answer needs a note: {option.note_label}. Type it as your next "
                    "message, or `cancel` to choose another answer."
                ]
                calls = await hm_chat.say(EVIDENCE)
        recorded = calls[0]
        assert recorded.method == "PUT" and recorded.activity_id == card.id
        assert f"Recorded {option.label} (pass) by {HM.aad_id}" in recorded.text
    assert "Outcome: Cleared" in calls[-1].text
    computed = [text for text in connector.texts() if text.startswith("[PASS] Laptop shipping")]
    assert computed == [
        "[PASS] Laptop shipping address: Same as the verified home address (The laptop "
        "shipping address is the claimed home address.)"
    ]

    view = await teams_app.core.service.view(HM_ACTOR, vid)
    assert view.answered == view.total
    assert len(teams_app.core.store.answers(vid)) == view.total
    assert teams_app.core.store.pending_outbox() == []

    calls = await hm_chat.say("status Jane Doe")
    assert "Outcome: Cleared" in calls[0].text
    calls = await hm_chat.say("list")
    assert texts(calls) == ["You have no open verifications."]
    print("\n".join(teams_app.transcript))


async def test_an_escalation_is_acknowledged_in_the_channel_and_the_hm_is_told(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    channel = await register_security_channel(teams_app, connector)
    calls = await start_with_form(hm_chat)
    step, _, blocking = await current_step(teams_app, Result.BLOCK)
    calls = await press(hm_chat, calls, Result.BLOCK)
    assert NEEDS_REVIEW in texts(calls)

    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 1)
    [finding] = findings_posted(connector)
    assert finding.conversation_id == SECURITY_CHANNEL
    assert finding.activity_id is None, "a new thread in the channel"
    vid = await verification_id(teams_app)
    assert finding.text.startswith("[BLOCK] verifybot escalation: Jane Doe\n")
    assert f"[BLOCK] {step.step_title}: " in finding.text
    for fact in (
        "Candidate: Jane Doe (jane.doe@example.com)",
        f"Verification: {vid}",
        f"[BLOCK] {step.step_title}: {blocking.label}",
        "Outcome so far: Blocked: do not make the offer",
        f"Hiring manager: {HM.name}",
        "[input: Reason (required to clear)]",
    ):
        assert fact in finding.text
    buttons = [action["title"] for action in finding.card["actions"]]
    assert buttons == ["Acknowledge", "Clear (false alarm)", "Confirm fraud"]

    thread = channel.in_thread(finding.id)
    [update] = await thread.click(finding, "Acknowledge")
    assert update.method == "PUT" and update.activity_id == finding.id
    assert update.conversation_id == f"{SECURITY_CHANNEL};messageid={finding.id}"
    assert f"Acknowledged by {SECURITY.aad_id}" in update.text
    assert [action["title"] for action in update.card["actions"]] == [
        "Clear (false alarm)",
        "Confirm fraud",
    ]
    assert teams_app.core.store.escalation_for(vid)["status"] == EscalationStatus.ACKNOWLEDGED

    def decision_dms() -> list[Call]:
        return [c for c in connector.posts(hm_chat.conversation_id) if "Security " in c.text]

    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(decision_dms()) == 1)
    assert decision_dms()[0].text == f"Security acknowledged the escalation for Jane Doe ({vid})."

    second_step, _, _ = await current_step(teams_app, Result.REVIEW)
    await press(hm_chat, connector.posts(hm_chat.conversation_id), Result.REVIEW)
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 2)
    second = findings_posted(connector)[1]
    assert second.conversation_id == f"{SECURITY_CHANNEL};messageid={finding.id}", "in the thread"
    assert second.activity_id == finding.id
    assert f"New finding: [REVIEW] {second_step.step_title}" in second.text
    assert "actions" not in second.card, "a new finding's decisions are on the first card"

    def redraws() -> list[Call]:
        """The finding's card redrawn with the new finding (it may follow the thread's post)."""
        return [
            update
            for update in connector.updates()
            if update.activity_id == finding.id
            and f"[REVIEW] {second_step.step_title}" in update.text
        ]

    await connector.wait_for(lambda: bool(redraws()))
    redrawn = redraws()[-1]
    assert [action["title"] for action in redrawn.card["actions"]] == [
        "Clear (false alarm)",
        "Confirm fraud",
    ]

    [update] = await thread.click(finding, "Confirm fraud", reason="Same face as VB-1234ABCD")
    assert f"Fraud confirmed by {SECURITY.aad_id}: Same face as VB-1234ABCD" in update.text
    assert "actions" not in update.card
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(decision_dms()) == 2)
    assert "confirmed as fraud: do not make the offer" in decision_dms()[1].text
    for _ in range(3):
        await teams_app.deliver_outbox()
    assert len(decision_dms()) == 2
    assert len(findings_posted(connector)) == 2


async def test_a_non_security_user_cannot_clear_an_escalation(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    channel = await register_security_channel(teams_app, connector)
    await press(hm_chat, await start_with_form(hm_chat), Result.BLOCK)
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 1)
    [finding] = findings_posted(connector)
    vid = await verification_id(teams_app)

    intruder = channel.in_thread(finding.id).as_user(OTHER_HM)
    calls = await intruder.click(finding, "Clear", reason="looks fine to me")
    assert texts(calls) == [REFUSED]
    assert [call for call in connector.updates() if call.activity_id == finding.id] == []
    assert teams_app.core.store.escalation_for(vid)["status"] == EscalationStatus.OPEN
    refusal = [e for e in teams_app.core.store.events() if e["action"] == "refused"][-1]
    assert refusal["actor"] == OTHER_HM.aad_id

    calls = await channel.in_thread(finding.id).click(finding, "Clear")
    assert texts(calls) == ["reason: say why this is a false alarm"]
    assert teams_app.core.store.escalation_for(vid)["status"] == EscalationStatus.OPEN
    assert [call for call in connector.updates() if call.activity_id == finding.id] == []


async def test_security_channel_here_is_stored_for_a_security_user_only(
    connector: FakeConnector, teams_app: TeamsApp
) -> None:
    thread = Chat(teams_app, connector, OTHER_HM, f"{SECURITY_CHANNEL};messageid=77", "channel")
    calls = await thread.say("security channel here")
    assert texts(calls) == [REFUSED]
    assert teams_app.core.store.conversation_ref("teams:security") is None

    calls = await thread.as_user(SECURITY).say("security channel here")
    assert texts(calls) == ["This channel will now receive verifybot escalations."]
    stored = teams_app.core.store.conversation_ref("teams:security")
    assert stored["conversation"]["id"] == SECURITY_CHANNEL, "the channel, not the thread"
    assert stored["serviceUrl"] == connector.url
    actions = [event["action"] for event in teams_app.core.store.events()]
    assert actions == ["refused", "security_channel.registered"]


async def test_a_configured_security_channel_needs_no_registration(
    connector: FakeConnector, start_app: Callable[..., Awaitable[TeamsApp]]
) -> None:
    app = await start_app(
        teams_security_conversation_id="19:configured@thread.tacv2",
        teams_service_url=connector.url,
    )
    chat = Chat(app, connector, HM, "a:hm-personal-chat")
    await press(chat, await start_with_form(chat), Result.BLOCK)
    await app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 1)
    assert findings_posted(connector)[0].conversation_id == "19:configured@thread.tacv2"


async def test_an_escalation_waits_for_a_security_channel(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    await press(hm_chat, await start_with_form(hm_chat), Result.BLOCK)
    await teams_app.deliver_outbox()
    [pending] = teams_app.core.store.pending_outbox()
    assert pending["last_error"] == "no Teams security channel registered yet"
    assert findings_posted(connector) == []

    await register_security_channel(teams_app, connector)
    await connector.wait_for(lambda: teams_app.core.store.pending_outbox() == [])
    await teams_app.deliver_outbox()
    assert len(findings_posted(connector)) == 1


async def test_a_restart_in_the_middle_of_a_playbook_resumes(
    connector: FakeConnector, start_app: Callable[..., Awaitable[TeamsApp]]
) -> None:
    first = await start_app()
    chat = Chat(first, connector, HM, "a:hm-personal-chat")
    calls = await press(chat, await start_with_form(chat), Result.PASS)
    calls = await press(chat, calls, Result.PASS)
    step, index, option = await current_step(first, Result.PASS)
    card_before_restart = last_card(calls)
    assert f"{step.step_title} ({step.progress})" in card_before_restart.text
    vid = await verification_id(first)
    answered_before = [answer["step_id"] for answer in first.core.store.answers(vid)]
    await first.stop()

    second = await start_app()
    chat = Chat(second, connector, HM, "a:hm-personal-chat")
    calls = await chat.say(str(index))
    if option.note_required:
        calls = await chat.say(EVIDENCE)
    assert calls[0].method == "PUT" and calls[0].activity_id == card_before_restart.id
    assert f"Recorded {option.label} (pass)" in calls[0].text
    following, _, _ = await current_step(second, Result.PASS)
    assert f"{following.step_title} ({following.progress})" in last_card(calls).text
    answered = [answer["step_id"] for answer in second.core.store.answers(vid)]
    assert answered[: len(answered_before) + 1] == [*answered_before, step.step_id]


async def test_a_connector_outage_delays_the_escalation_which_is_delivered_once(
    hm_chat: Chat, teams_app: TeamsApp
) -> None:
    """The security channel's connector is down, then throttles, fails, drops; then recovers."""
    region = FakeConnector()
    await region.start()
    try:
        await register_security_channel(teams_app, region)
        await region.go_down()
        await press(hm_chat, await start_with_form(hm_chat), Result.BLOCK)
        store = teams_app.core.store

        def finding_row() -> dict[str, Any]:
            [row] = [
                r
                for r in store.db.query("SELECT * FROM outbox ORDER BY id")
                if r["kind"] == "finding"
            ]
            return row

        async def drive(condition: Callable[[], bool]) -> None:
            for _ in range(250):
                if condition():
                    return
                await teams_app.deliver_outbox()
                await asyncio.sleep(0.02)
            raise AssertionError(f"the outbox row is stuck: {finding_row()}")

        await drive(lambda: finding_row()["attempts"] >= 2)
        assert finding_row()["status"] in ("pending", "sending"), "the worker may be retrying"
        assert finding_row()["last_error"].startswith("Teams connector unreachable")

        seen = len(region.requests)
        region.fail_next(429, retry_after="0")
        region.fail_next(503)
        region.drop_next()
        await region.come_up()
        await drive(lambda: finding_row()["status"] == "delivered")
        for _ in range(3):
            await teams_app.deliver_outbox()
        statuses = [status for _, _, status in region.requests[seen:]]
        assert statuses == [429, 503, 0, 200], "one request per attempt, delivered once"
        [finding] = findings_posted(region)
        assert finding.conversation_id == SECURITY_CHANNEL
        assert finding_row()["message_ref"] == finding.id
    finally:
        await region.close()


async def test_a_repeated_submit_of_the_same_card_records_once(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    calls = await start_with_form(hm_chat)
    card = last_card(calls)
    _, other, _ = await current_step(teams_app, Result.BLOCK)
    first = await press(hm_chat, calls, Result.PASS)
    assert first[0].method == "PUT"
    again = await hm_chat.click(card, f"{other}.", note="changed my mind")
    assert len(again) == 1
    assert again[0].text.startswith("Already recorded, nothing changed: Recorded ")
    vid = await verification_id(teams_app)
    assert len(teams_app.core.store.answers(vid)) == 1

    step, index, option = await current_step(teams_app, Result.PASS)
    second_card = last_card(first)
    data = second_card.card["actions"][index - 1]["data"]
    note = {"note": EVIDENCE} if option.note_required else {}
    redelivered = hm_chat.activity(value={**data, **note}, reply_to_id=second_card.id)
    await hm_chat.send(redelivered)
    await hm_chat.send(redelivered)
    answers = teams_app.core.store.answers(vid)
    assert sum(1 for answer in answers if answer["step_id"] == step.step_id) == 1
    assert len([call for call in connector.updates() if call.activity_id == second_card.id]) == 1


async def test_the_form_asks_again_for_an_empty_address_and_is_used_once(
    hm_chat: Chat, teams_app: TeamsApp
) -> None:
    calls = await hm_chat.say("start Jane Doe")
    form = calls[0]
    [update] = await hm_chat.click(form, "Start", **{**JANE, "home_address": "   "})
    assert update.method == "PUT" and update.activity_id == form.id
    assert "Home address is required" in update.text
    assert teams_app.core.store.list_verifications() == []

    calls = await hm_chat.click(form, "Start", **JANE)
    assert calls[0].text.startswith("Started Jane Doe")
    calls = await hm_chat.click(form, "Start", **JANE)
    assert texts(calls) == [
        "That form was already used. Type `start NAME` to verify another candidate."
    ]
    assert len(teams_app.core.store.list_verifications()) == 1


async def test_a_new_personal_chat_is_welcomed(hm_chat: Chat) -> None:
    update = hm_chat.activity(
        kind="conversationUpdate",
        membersAdded=[{"id": "28:verifybot-bot"}, hm_chat.user.channel_account],
    )
    calls = await hm_chat.send(update)
    assert calls[0].text.startswith("verifybot checks a candidate before the offer goes out.")


async def test_a_bot_error_gets_a_polite_reply_and_no_stack_trace(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    teams_app.core.service.verifications = broken
    response = await teams_app.post(hm_chat.activity("list"))
    assert response.status == 201
    assert "database on fire" not in await response.text()
    [reply] = connector.posts()
    assert reply.text == "Sorry, something went wrong on my side. Please try again in a minute."


async def test_an_escalation_goes_to_every_security_channel(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp, notifier_class: type
) -> None:
    """Teams and (here, a recording stand-in for) Slack both get it, each once."""
    slack = notifier_class("slack")
    teams_app.core.add_notifier(slack)
    await register_security_channel(teams_app, connector)
    await press(hm_chat, await start_with_form(hm_chat), Result.BLOCK)
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 1 and slack.delivered)
    assert [notice.kind for notice in slack.notices] == ["finding"]
    assert len(findings_posted(connector)) == 1


async def test_in_a_channel_the_bot_answers_when_mentioned(
    connector: FakeConnector, teams_app: TeamsApp
) -> None:
    thread = Chat(teams_app, connector, HM, "19:hiring@thread.tacv2;messageid=42", "channel")
    calls = await thread.say("verify start Jane Doe")
    assert thread.activity("x")["text"] == "<at>verifybot</at> x"
    assert "Candidate details" in calls[0].text
    assert texts(calls)[1].endswith("What is the candidate's email address?")
    calls = await thread.say("cancel")
    assert texts(calls) == ["Stopped: no verification was started."]
    assert teams_app.core.store.conversation_ref(f"teams:user:{HM.aad_id}") is None


async def test_teams_works_beside_slack_on_the_same_app(
    connector: FakeConnector, start_app: Callable[..., Awaitable[TeamsApp]]
) -> None:
    """Both front ends on one app: Teams answers, and an escalation is queued for both."""
    app = await start_app(
        slack_bot_token="xoxb-test",
        slack_signing_secret="not-a-real-secret",
        slack_security_channel="C0SECURITY",
        slack_api_url="http://127.0.0.1:9/api/",
    )
    routes = {resource.canonical for resource in app.client.app.router.resources()}
    assert {"/api/messages", "/slack/events"} <= routes
    await register_security_channel(app, connector)
    chat = Chat(app, connector, HM, "a:hm-personal-chat")
    await press(chat, await start_with_form(chat), Result.BLOCK)
    await app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 1)
    targets = {row["target"] for row in app.core.store.db.query("SELECT * FROM outbox ORDER BY id")}
    assert targets == {"slack", "teams"}


async def test_a_double_click_on_start_verification_starts_one(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    """Both submits arrive before either turn has saved the session: one turn at a time."""
    form = (await hm_chat.say("start Jane Doe"))[0]
    values = {e["id"]: e.get("value", "") for e in form.card["body"] if e["type"] == "Input.Text"}
    value = {**form.card["actions"][0]["data"], **values, **JANE}
    clicks = [hm_chat.activity(value=value, reply_to_id=form.id) for _ in range(2)]

    responses = await asyncio.gather(*(teams_app.post(click) for click in clicks))

    assert [response.status for response in responses] == [201, 201]
    assert len(teams_app.core.store.list_verifications()) == 1
    replies = connector.texts(hm_chat.conversation_id)
    assert sum(text.startswith("Started Jane Doe") for text in replies) == 1
    assert "That form was already used." in "\n".join(replies)
    teams = next(f for f in teams_app.client.app[FRONTENDS] if f.name == "teams")
    assert len(teams.bot.locks) == 0, "no lock is kept once its turns are done"


async def test_a_teams_user_with_a_slack_security_users_id_is_not_security(
    connector: FakeConnector, start_app: Callable[..., Awaitable[TeamsApp]]
) -> None:
    """Roles never cross platforms: the id of a Slack security user means nothing in Teams."""
    slack_security_user = "USECURE001"
    app = await start_app(slack_security_users=frozenset({slack_security_user}))
    channel = await register_security_channel(app, connector)
    chat = Chat(app, connector, HM, "a:hm-personal-chat")
    await press(chat, await start_with_form(chat), Result.BLOCK)
    await app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 1)
    [finding] = findings_posted(connector)
    vid = await verification_id(app)

    impostor = TeamsUser(slack_security_user, "Sam Lookalike")
    thread = channel.in_thread(finding.id).as_user(impostor)
    calls = await thread.click(finding, "Confirm fraud", reason="stolen identity")
    assert texts(calls) == [REFUSED]
    assert [call for call in connector.updates() if call.activity_id == finding.id] == []
    assert app.core.store.escalation_for(vid)["status"] == EscalationStatus.OPEN
    refusal = [e for e in app.core.store.events() if e["action"] == "refused"][-1]
    assert (refusal["actor"], refusal["platform"]) == (slack_security_user, "teams")
    assert json.loads(refusal["detail"])["action"] == "escalation.decide"
    calls = await Chat(app, connector, impostor, "a:impostor").say(f"status {vid}")
    assert "not allowed" in texts(calls)[0]


async def test_a_double_click_split_between_two_replicas_starts_one(
    connector: FakeConnector, start_app: Callable[..., Awaitable[TeamsApp]]
) -> None:
    """One turn per user across processes: the second replica waits for the first's turn."""
    apps = [await start_app(), await start_app()]
    chat = Chat(apps[0], connector, HM, "a:hm-personal-chat")
    form = (await chat.say("start Jane Doe"))[0]
    values = {e["id"]: e.get("value", "") for e in form.card["body"] if e["type"] == "Input.Text"}
    value = {**form.card["actions"][0]["data"], **values, **JANE}
    clicks = [chat.activity(value=value, reply_to_id=form.id) for _ in range(2)]

    responses = await asyncio.gather(
        *(app.post(click) for app, click in zip(apps, clicks, strict=True))
    )

    assert [response.status for response in responses] == [201, 201]
    assert len(apps[1].core.store.list_verifications()) == 1
    replies = connector.texts(chat.conversation_id)
    assert sum(text.startswith("Started Jane Doe") for text in replies) == 1
    assert "That form was already used." in "\n".join(replies)
    leases = apps[0].core.store.db.execute("SELECT count(*) FROM turn_leases").fetchone()[0]
    assert leases == 0, "no lease is kept once the turns are done"
