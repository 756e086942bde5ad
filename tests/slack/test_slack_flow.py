"""A hiring manager's whole verification in Slack: modal, steps, notes, change, summary."""

from __future__ import annotations

import time

from bot.models import Outcome
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import (
    HM,
    JANE,
    SECURITY_CHANNEL,
    SlackApp,
    SlackDriver,
    buttons,
    find_button,
    text_of,
)

PASSING = [
    ("verified", "Commission 12345, Cook County, IL"),
    ("clear", "Report 778899"),
    ("matched", None),
    ("natural", None),
    ("consistent", None),
    ("genuine", None),
]


async def test_start_opens_the_candidate_modal_prefilled(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    reply = await slack.command("start Jane Doe")
    await slack.settle()

    assert reply.status == 200
    assert reply.text == ""
    opened = slack.last_view("vb_start")
    inputs = {block["block_id"]: block for block in opened.view["blocks"]}
    assert inputs["name"]["element"]["initial_value"] == "Jane Doe"
    assert set(inputs) == {
        "name",
        "email",
        "phone",
        "role",
        "home_address",
        "shipping_address",
        "payout_account",
        "referred_by",
        "playbook",
    }
    assert all(block["element"].get("max_length") for k, block in inputs.items() if k != "playbook")
    choices = [o["value"] for o in inputs["playbook"]["element"]["options"]]
    assert sorted(choices) == ["device-handover", "pre-offer"]
    assert opened.trigger_id == fake_slack.calls_to("views.open")[0].args["trigger_id"]


async def test_a_whole_verification_ends_cleared(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id = await slack.start()

    first = slack.last_dm()
    shown = text_of(first.blocks)
    assert "Jane Doe: Notarized proof of identity (Step 1 of 8)" in shown
    assert "notarized proof of identity" in shown
    assert "Ask for a government photo ID" in shown
    assert len(buttons(first.blocks)) == 3

    for option, note in PASSING:
        step_message = await slack.answer(option, note)
        answered = fake_slack.message(step_message.channel, step_message.ts)
        assert answered.updates == 1
        recorded = text_of(answered.blocks)
        assert f"by <@{HM}> at " in recorded
        assert "Recorded " in recorded
        assert [e["text"]["text"] for _, e in buttons(answered.blocks)] == ["Change answer"]

    computed = next(text_of(m.blocks) for m in slack.dm() if "[PASS] Laptop" in m.text)
    assert "[PASS] Laptop shipping address: Same as the verified home address" in computed
    assert "The laptop shipping address is the claimed home address." in computed

    summary = text_of(slack.last_dm().blocks)
    assert f"Verification {verification_id} of Jane Doe" in summary
    assert "Outcome: Cleared" in summary
    view = slack_app.core.store.verification(verification_id)
    assert view["status"] == Outcome.CLEARED
    assert fake_slack.messages_in(SECURITY_CHANNEL) == []
    answers = slack_app.core.store.answers(verification_id)
    assert [a["step_id"] for a in answers] == [
        "notarized_id",
        "background_check",
        "camera_interview",
        "liveness_probes",
        "shipping_address",
        "identity_signals",
        "education_history",
        "profile_photo",
    ]
    assert answers[0]["note"] == "Commission 12345, Cook County, IL"
    assert answers[0]["answered_by"] == HM
    assert answers[0]["platform"] == "slack"


async def test_a_note_option_opens_the_note_modal_and_its_submit_records(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id = await slack.start()
    step = slack.last_dm()

    await slack.click(step, option="verified")
    await slack.settle()
    note_modal = slack.last_view("vb_note")
    label = note_modal.view["blocks"][0]["label"]["text"]
    assert label == "Notary's name or commission number, and the state of commission"
    assert note_modal.view["blocks"][0]["element"]["max_length"] == 1000
    assert slack_app.core.store.answers(verification_id) == []

    empty = await slack.submit(note_modal, {"note": "   "})
    assert empty.status == 200
    assert empty.json["response_action"] == "errors"
    assert "note" in empty.json["errors"]
    assert slack_app.core.store.answers(verification_id) == []

    done = await slack.submit(note_modal, {"note": "Commission 12345"})
    await slack.settle()
    assert done.status == 200 and done.text == ""
    assert [a["note"] for a in slack_app.core.store.answers(verification_id)] == [
        "Commission 12345"
    ]
    updated = fake_slack.message(step.channel, step.ts)
    assert "Commission 12345" in text_of(updated.blocks)
    assert "Background check" in text_of(slack.last_dm().blocks)

    again = await slack.submit(note_modal, {"note": "Commission 12345"})
    await slack.settle()
    assert again.status == 200
    assert len(slack_app.core.store.answers(verification_id)) == 1


async def test_invalid_candidate_fields_come_back_inline(
    slack: SlackDriver, slack_app: SlackApp, fake_slack: FakeSlackAPI
) -> None:
    await slack.command("start")
    await slack.settle()
    bad = {**JANE, "email": "not-an-email", "phone": "12", "shipping_address": "x"}
    reply = await slack.submit(slack.last_view("vb_start"), bad)

    assert reply.status == 200
    body = reply.json
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"email", "phone", "shipping_address"}
    assert slack_app.core.store.db.execute("SELECT count(*) FROM verifications").fetchone()[0] == 0
    assert slack.dm() == []


async def test_a_missing_name_is_an_inline_error(slack: SlackDriver, slack_app: SlackApp) -> None:
    await slack.command("start")
    await slack.settle()
    reply = await slack.submit(slack.last_view("vb_start"), {**JANE, "name": None})
    assert reply.json == {"response_action": "errors", "errors": {"name": "is required"}}
    assert slack_app.core.store.db.execute("SELECT count(*) FROM verifications").fetchone()[0] == 0


async def test_the_same_modal_submitted_twice_starts_one_verification(
    slack: SlackDriver, slack_app: SlackApp
) -> None:
    await slack.command("start")
    await slack.settle()
    opened = slack.last_view("vb_start")
    first = await slack.submit(opened, JANE)
    second = await slack.submit(opened, JANE)
    await slack.settle()
    assert first.status == second.status == 200
    assert slack_app.core.store.db.execute("SELECT count(*) FROM verifications").fetchone()[0] == 1
    assert len(slack.dm()) == 1


async def test_changing_an_answer_is_explicit_and_recorded_as_a_new_answer(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id = await slack.start()
    await slack.answer("verified", "Commission 1")
    await slack.answer("pending")
    camera_step = slack.last_dm()
    background = next(m for m in slack.dm() if "Background check" in text_of(m.blocks))

    await slack.click(background, label="Change answer")
    await slack.settle()
    reopened = fake_slack.message(background.channel, background.ts)
    values = [element["value"] for _, element in buttons(reopened.blocks)]
    assert all(value.endswith("|c") for value in values)
    posts_before = len(slack.dm())

    await slack.click(reopened, option="clear")
    await slack.settle()
    await slack.submit(slack.last_view("vb_note"), {"note": "Report 42"})
    await slack.settle()

    answers = slack_app.core.store.answers(verification_id)
    background_answers = [a["value"] for a in answers if a["step_id"] == "background_check"]
    assert background_answers == ["pending", "clear"]
    assert len(slack.dm()) == posts_before
    assert slack.last_dm().ts == camera_step.ts
    events = [e["action"] for e in slack_app.core.store.events(verification_id)]
    assert "answer.changed" in events


async def test_a_click_is_acked_before_slow_web_api_work(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    await slack.start()
    fake_slack.delay("chat.update", 0.5)
    started = time.perf_counter()
    reply = await slack.click(slack.last_dm(), option="not_provided")
    elapsed = time.perf_counter() - started
    assert reply.status == 200
    assert elapsed < 0.25
    await slack.settle()
    assert fake_slack.calls_to("chat.update", ok=True)


async def test_continue_reposts_the_current_step(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    verification_id = await slack.start()
    status = await slack.command(f"status {verification_id}")
    block_id, element = find_button(status.json["blocks"], label="Continue")
    payload = slack.click_payload(HM, None, block_id, element)
    reply = await slack.send(slack.interaction(payload))
    await slack.settle()
    assert reply.status == 200
    assert "Step 1 of 8" in text_of(slack.last_dm().blocks)
    assert len(slack.dm()) == 2


async def test_a_modal_slack_did_not_open_is_said_not_silent(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    fake_slack.fail_next("views.open", status=200, error="expired_trigger_id")
    reply = await slack.command("start Jane Doe")
    await slack.settle()
    assert reply.status == 200
    [told] = fake_slack.state.ephemeral
    assert told["user"] == HM
    assert told["channel"] == "CGENERAL01"
    assert "did not open the form" in told["text"]
