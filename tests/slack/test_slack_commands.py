"""`/verify help|status|list|cancel`, unknown sub-commands and who may start."""

from __future__ import annotations

import json

from bot import presenter
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import HM, HM2, JANE, OUTSIDER, SEC, SlackApp, SlackDriver, text_of


async def test_help_and_unknown_sub_commands_give_the_usage(slack: SlackDriver) -> None:
    for text in ("help", "", "frobnicate the candidate", "security channel here"):
        reply = await slack.command(text)
        assert reply.status == 200
        assert reply.text == presenter.usage("/verify ")


async def test_status_by_name_and_by_id(slack: SlackDriver) -> None:
    verification_id = await slack.start()
    await slack.answer("not_provided")

    for reference in ("jane doe", verification_id, verification_id.lower()):
        reply = await slack.command(f"status {reference}")
        shown = text_of(reply.json["blocks"])
        assert f"Verification {verification_id} of Jane Doe" in shown
        assert "Outcome: Blocked: do not make the offer" in shown
        assert "Progress: 1 of 8 steps answered" in shown
        assert "[BLOCK] Notarized proof of identity: Not provided or candidate declined" in shown
        assert "Continue" in shown


async def test_status_of_someone_elses_verification(
    slack: SlackDriver, slack_app: SlackApp
) -> None:
    verification_id = await slack.start()

    by_name = await slack.command("status Jane Doe", user=HM2)
    assert by_name.text == "no verification found for 'Jane Doe'"
    by_id = await slack.command(f"status {verification_id}", user=HM2)
    assert "not allowed" in by_id.text
    refused = [e for e in slack_app.core.store.events(verification_id) if e["action"] == "refused"]
    assert [e["actor"] for e in refused] == [HM2]

    security = await slack.command(f"status {verification_id}", user=SEC)
    assert "Continue" not in text_of(security.json["blocks"])
    assert "Jane Doe" in text_of(security.json["blocks"])

    empty = await slack.command("status")
    assert "name a candidate or a verification id" in empty.text


async def test_list_shows_the_callers_open_verifications(slack: SlackDriver) -> None:
    first = await slack.start()
    second = await slack.start({**JANE, "name": "Ann Lee", "email": "ann@example.com"})
    await slack.start({**JANE, "name": "Bo Kim", "email": "bo@example.com"}, user=HM2)

    lines = (await slack.command("list")).text.splitlines()
    assert lines == [
        f"Ann Lee ({second}): 0 of 8 steps answered",
        f"Jane Doe ({first}): 0 of 8 steps answered",
    ]
    assert (await slack.command("list", user=SEC)).text == "You have no open verifications."


async def test_cancel(slack: SlackDriver, slack_app: SlackApp) -> None:
    verification_id = await slack.start()
    refused = await slack.command(f"cancel {verification_id}", user=HM2)
    assert "not allowed" in refused.text
    reply = await slack.command(f"cancel {verification_id}")
    assert "Outcome: Cancelled" in text_of(reply.json["blocks"])
    assert slack_app.core.store.verification(verification_id)["status"] == "cancelled"


async def test_a_person_who_may_not_start_is_refused_and_audited(
    slack: SlackDriver, slack_app: SlackApp, fake_slack: FakeSlackAPI
) -> None:
    reply = await slack.command("start Jane Doe", user=OUTSIDER)
    await slack.settle()
    assert reply.status == 200
    assert "not allowed" in reply.text
    assert fake_slack.calls_to("views.open") == []
    [refusal] = [e for e in slack_app.core.store.events() if e["action"] == "refused"]
    assert refusal["actor"] == OUTSIDER
    assert json.loads(refusal["detail"])["action"] == "verification.start"


async def test_a_start_submitted_by_someone_not_allowed_is_refused(
    slack: SlackDriver, slack_app: SlackApp
) -> None:
    await slack.command("start")
    await slack.settle()
    reply = await slack.submit(slack.last_view("vb_start"), JANE, user=OUTSIDER)
    assert reply.json["response_action"] == "update"
    assert "not allowed" in text_of(reply.json["view"]["blocks"])
    assert slack_app.core.store.db.execute("SELECT count(*) FROM verifications").fetchone()[0] == 0


async def test_the_security_team_may_start(slack: SlackDriver) -> None:
    verification_id = await slack.start(user=SEC)
    assert verification_id.startswith("VB-")
    assert HM not in {m.channel for m in slack.dm(SEC)}


async def test_a_command_mentioning_payload_is_still_a_command(slack: SlackDriver) -> None:
    body = slack.command_body("status payload person").replace(
        "channel_name=general", "channel_name=payload-team"
    )
    reply = await slack.send(body)
    assert reply.status == 200
    assert reply.text == "no verification found for 'payload person'"


async def test_start_with_a_playbook_name_chooses_it_in_the_form(slack: SlackDriver) -> None:
    """`/verify start device-handover Jane Doe`: the words Teams understands too."""
    reply = await slack.command("start device-handover Jane Doe")
    await slack.settle()

    assert reply.status == 200
    modal = slack.last_view("vb_start")
    [name] = [b for b in modal.view["blocks"] if b.get("block_id") == "name"]
    [playbook] = [b for b in modal.view["blocks"] if b.get("block_id") == "playbook"]
    assert name["element"]["initial_value"] == "Jane Doe"
    assert playbook["element"]["initial_option"]["value"] == "device-handover"
