"""Escalations in the security channel: facts, threads, decisions, refusals, the DM."""

from __future__ import annotations

import json

import pytest

from bot.models import EscalationStatus, Outcome
from bot.store import utc_now
from tests.conftest import FakeClock
from tests.fakes.slack_api import FakeSlackAPI, Message
from tests.slack.conftest import (
    GROUP_MEMBER,
    HM,
    HM2,
    JANE,
    OUTSIDER,
    SEC,
    SECURITY_CHANNEL,
    SECURITY_GROUP,
    SlackApp,
    SlackDriver,
    buttons,
    find_button,
    mrkdwn_of,
    text_of,
)


@pytest.fixture
def roles_clock(slack_app: SlackApp) -> FakeClock:
    """The roles' clock, which the security group keeps time by, from now on moved by the test."""
    clock = FakeClock(utc_now())
    slack_app.core.service.roles.clock = clock
    return clock


async def escalate(slack: SlackDriver) -> tuple[str, Message]:
    """A verification whose first step blocks; its escalation message in the channel."""
    verification_id = await slack.start()
    await slack.answer("not_provided")
    await slack.settle()
    [posted] = slack.fake.messages_in(SECURITY_CHANNEL)
    return verification_id, posted


async def test_an_escalation_has_the_facts_and_the_decision_buttons(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    verification_id, posted = await escalate(slack)

    shown = text_of(posted.blocks)
    assert "[BLOCK] verifybot escalation: Jane Doe" in shown
    assert "Jane Doe, Backend Engineer (jane.doe@example.com)" in shown
    assert f"*Hiring manager:* <@{HM}>" in shown
    assert verification_id in shown
    assert "[BLOCK] Notarized proof of identity: Not provided or candidate declined" in shown
    assert f"by <@{HM}> at " in shown
    assert "*Status:* Open: awaiting a security decision" in shown
    assert "*Outcome so far:* Blocked: do not make the offer" in shown
    labels = [element["text"]["text"] for _, element in buttons(posted.blocks)]
    assert labels == ["Acknowledge", "Clear (false alarm)", "Confirm fraud"]
    _, confirm = find_button(posted.blocks, label="Confirm fraud")
    assert confirm["confirm"]["title"]["text"] == "Confirm fraud?"
    assert confirm["style"] == "danger"
    assert posted.thread_ts is None


async def test_a_security_user_acknowledges_and_the_hiring_manager_is_told(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id, posted = await escalate(slack)

    reply = await slack.click(posted, SEC, label="Acknowledge")
    await slack.settle()

    assert reply.status == 200
    escalation = slack_app.core.store.escalation_for(verification_id)
    assert escalation["status"] == EscalationStatus.ACKNOWLEDGED
    assert escalation["decided_by"] == SEC
    updated = fake_slack.message(posted.channel, posted.ts)
    assert f"Acknowledged by <@{SEC}>" in text_of(updated.blocks)
    remaining = [element["text"]["text"] for _, element in buttons(updated.blocks)]
    assert remaining == ["Clear (false alarm)", "Confirm fraud"]
    dm = slack.last_dm(HM)
    assert dm.text == f"Security acknowledged the escalation for Jane Doe ({verification_id})."


async def test_a_hiring_manager_cannot_clear_and_the_refusal_is_audited(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id, posted = await escalate(slack)
    views_before = len(fake_slack.state.views)

    for user in (HM, OUTSIDER):
        reply = await slack.click(posted, user, label="Clear (false alarm)")
        assert reply.status == 200
    await slack.settle()

    assert len(fake_slack.state.views) == views_before
    refusals = fake_slack.state.ephemeral
    assert [r["user"] for r in refusals] == [HM, OUTSIDER]
    assert all("not allowed" in r["text"] for r in refusals)
    assert all(r["channel"] == SECURITY_CHANNEL for r in refusals)
    escalation = slack_app.core.store.escalation_for(verification_id)
    assert escalation["status"] == EscalationStatus.OPEN
    assert fake_slack.message(posted.channel, posted.ts).updates == 0
    audited = [
        json.loads(e["detail"])
        for e in slack_app.core.store.events()
        if e["action"] == "refused" and e["actor"] in (HM, OUTSIDER)
    ]
    assert [a["action"] for a in audited] == ["escalation.decide", "escalation.decide"]


async def test_clear_asks_for_a_reason_and_records_it(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id, posted = await escalate(slack)

    await slack.click(posted, SEC, label="Clear (false alarm)")
    await slack.settle()
    modal = slack.last_view("vb_clear")
    assert modal.view["blocks"][-1]["element"]["max_length"] == 1000
    assert slack_app.core.store.escalation_for(verification_id)["status"] == "open"

    reply = await slack.submit(modal, {"reason": "Candidate sent it later"}, SEC)
    await slack.settle()

    assert reply.status == 200 and reply.text == ""
    escalation = slack_app.core.store.escalation_for(verification_id)
    assert escalation["status"] == EscalationStatus.CLEARED
    assert escalation["decision_reason"] == "Candidate sent it later"
    updated = text_of(fake_slack.message(posted.channel, posted.ts).blocks)
    assert f"Cleared (false alarm) by <@{SEC}>: Candidate sent it later" in updated
    assert buttons(fake_slack.message(posted.channel, posted.ts).blocks) == []
    assert "cleared as a false alarm" in slack.last_dm(HM).text


async def test_clear_without_a_reason_is_an_inline_error(
    slack: SlackDriver, slack_app: SlackApp
) -> None:
    verification_id, posted = await escalate(slack)
    await slack.click(posted, SEC, label="Clear (false alarm)")
    await slack.settle()
    reply = await slack.submit(slack.last_view("vb_clear"), {"reason": None}, SEC)
    assert reply.json["response_action"] == "errors"
    assert "false alarm" in reply.json["errors"]["reason"]
    assert slack_app.core.store.escalation_for(verification_id)["status"] == "open"


async def test_confirm_fraud_blocks_the_verification(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id, posted = await escalate(slack)
    await slack.click(posted, SEC, label="Confirm fraud")
    await slack.settle()

    assert slack_app.core.store.escalation_for(verification_id)["status"] == "confirmed"
    assert slack_app.core.store.verification(verification_id)["status"] == Outcome.BLOCKED
    updated = fake_slack.message(posted.channel, posted.ts)
    assert f"Fraud confirmed by <@{SEC}>" in text_of(updated.blocks)
    assert "do not make the offer" in slack.last_dm(HM).text


async def test_a_member_of_the_security_usergroup_may_decide(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id, posted = await escalate(slack)
    await slack.click(posted, GROUP_MEMBER, label="Acknowledge")
    await slack.settle()
    assert slack_app.core.store.escalation_for(verification_id)["decided_by"] == GROUP_MEMBER
    assert fake_slack.calls_to("usergroups.users.list", usergroup="S0SECURITY")


async def test_later_findings_go_into_the_thread(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    _, first = await escalate(slack)
    await slack.answer("not_started")
    await slack.settle()

    posts = fake_slack.messages_in(SECURITY_CHANNEL)
    assert len(posts) == 2
    assert posts[1].thread_ts == first.ts
    assert "Background check" in text_of(posts[1].blocks)
    assert buttons(posts[1].blocks) == []


async def test_the_laptop_farm_signal_names_the_other_verification(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    farm = "500 Oak Avenue, Columbus, OH 43004"
    first_id = await slack.start({**JANE, "shipping_address": farm})
    other = {
        **JANE,
        "name": "John Roe",
        "email": "john.roe@example.com",
        "home_address": "77 Pine Road, Austin, TX 73301",
        "shipping_address": "500 oak ave columbus ohio 43004",
    }
    second_id = await slack.start(other, user=HM2)
    answers = (
        ("verified", "Notary 9"),
        ("clear", "Report 1"),
        ("matched", None),
        ("natural", None),
    )
    for option, note in answers:
        await slack.answer(option, note, user=HM2)
    await slack.settle()

    told_hm = "\n".join(text_of(m.blocks) + m.text for m in slack.dm(HM2))
    assert "[BLOCK] Laptop shipping address" in told_hm
    assert "also the shipping address of another candidate" in told_hm
    assert "laptop-farm pattern" in told_hm
    assert first_id not in told_hm and "Jane" not in told_hm and HM not in told_hm
    [escalation] = fake_slack.messages_in(SECURITY_CHANNEL)
    shown = text_of(escalation.blocks)
    assert "[BLOCK] Laptop shipping address: Shared with another candidate or employee" in shown
    assert f"Jane Doe: {first_id}" in shown
    assert second_id in shown
    assert f"<@{HM2}>" in shown
    assert slack_app.core.store.verification(second_id)["status"] == Outcome.BLOCKED


async def test_a_clear_form_submitted_by_a_hiring_manager_records_nothing(
    slack: SlackDriver, slack_app: SlackApp
) -> None:
    """The reason modal names the escalation; the service checks who submits it."""
    verification_id, posted = await escalate(slack)
    await slack.click(posted, SEC, label="Clear (false alarm)")
    await slack.settle()
    modal = slack.last_view("vb_clear")

    reply = await slack.submit(modal, {"reason": "looks fine to me"}, HM)

    assert reply.json["response_action"] == "errors"
    assert "not allowed" in reply.json["errors"]["reason"]
    escalation = slack_app.core.store.escalation_for(verification_id)
    assert escalation["status"] == EscalationStatus.OPEN
    assert escalation["decided_by"] is None
    refused = [e for e in slack_app.core.store.events() if e["action"] == "refused"]
    assert [(e["actor"], json.loads(e["detail"])["action"]) for e in refused] == [
        (HM, "escalation.decide")
    ]


HOSTILE = "Eve <!channel> https://evil.example/sso #general @here <https://evil.example|Log in>"


async def test_a_candidates_name_and_note_cannot_ping_or_link_in_the_security_channel(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    await slack.start({**JANE, "name": HOSTILE[:200]})
    await slack.answer("mismatch", note="see <https://evil.example|the real ID> <!here>")
    await slack.settle()

    [posted] = fake_slack.messages_in(SECURITY_CHANNEL)
    objects = [
        item
        for block in posted.blocks
        for item in [block.get("text"), *block.get("elements", [])]
        if isinstance(item, dict) and item.get("type") == "mrkdwn"
    ]
    assert objects and all(item.get("verbatim") is True for item in objects)
    shown = mrkdwn_of(posted.blocks) + "\n" + posted.text
    assert "<!channel>" not in shown and "<!here>" not in shown
    assert "<https://" not in shown
    assert "&lt;!channel&gt;" in shown
    assert f"*Hiring manager:* <@{HM}>" in shown


async def test_a_member_dropped_from_the_security_group_loses_access_after_its_ttl(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp, roles_clock: FakeClock
) -> None:
    """Commands refresh the group too, not only the security buttons and the Home tab."""
    verification_id = await slack.start()
    seen = await slack.command(f"status {verification_id}", user=GROUP_MEMBER)
    assert "Jane Doe" in text_of(seen.json["blocks"])

    fake_slack.usergroups[SECURITY_GROUP] = []
    group = slack_app.frontend.security_group
    assert group is not None
    roles_clock.advance(group.ttl + 1)
    refused = await slack.command(f"status {verification_id}", user=GROUP_MEMBER)
    assert "not allowed" in refused.text
    assert len(fake_slack.calls_to("usergroups.users.list", ok=True)) >= 2


async def test_while_the_group_cannot_be_checked_its_members_lose_security_rights_after_a_while(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp, roles_clock: FakeClock
) -> None:
    """Fail closed: listed security users keep their rights, the group's members say why not."""
    verification_id, posted = await escalate(slack)
    group = slack_app.frontend.security_group
    assert group is not None
    fake_slack.fail_next("usergroups.users.list", status=500, times=100)

    roles_clock.advance(group.ttl + 1)
    first_failure = roles_clock.now
    seen = await slack.command(f"status {verification_id}", user=GROUP_MEMBER)
    assert "Jane Doe" in text_of(seen.json["blocks"]), "one refresh interval of failures is kept"

    roles_clock.advance(group.ttl)
    await slack.click(posted, GROUP_MEMBER, label="Confirm fraud")
    await slack.settle()
    escalation = slack_app.core.store.escalation_for(verification_id)
    assert escalation["status"] == EscalationStatus.OPEN
    [refusal] = fake_slack.state.ephemeral
    assert refusal["user"] == GROUP_MEMBER
    assert (
        f"the security user group could not be checked since {first_failure:%H:%M} UTC; "
        "ask an admin" in refusal["text"]
    )
    await slack.click(posted, SEC, label="Acknowledge")
    await slack.settle()
    assert slack_app.core.store.escalation_for(verification_id)["decided_by"] == SEC

    fake_slack.clear_failures()
    roles_clock.advance(group.retry + 1)
    await slack.click(
        fake_slack.message(posted.channel, posted.ts), GROUP_MEMBER, label="Confirm fraud"
    )
    await slack.settle()
    escalation = slack_app.core.store.escalation_for(verification_id)
    assert (escalation["status"], escalation["decided_by"]) == ("confirmed", GROUP_MEMBER)


async def test_without_teams_configured_no_teams_row_is_written_and_api_messages_is_404(
    make_app, fake_slack: FakeSlackAPI, http
) -> None:
    """A Slack-only install: a Teams channel named without MicrosoftAppId is not a target."""
    app = await make_app(
        teams_enabled=True,
        teams_security_conversation_id="19:security@thread.tacv2",
        teams_service_url="https://smba.example.com/amer/",
    )
    slack = SlackDriver(http, app.url, fake_slack, app)
    await escalate(slack)
    assert [
        row["target"] for row in app.core.store.db.query("SELECT * FROM outbox ORDER BY id")
    ] == ["slack"]
    teams_url = app.url.replace("/slack/events", "/api/messages")
    async with http.post(teams_url, json={"type": "message"}) as response:
        assert response.status == 404
