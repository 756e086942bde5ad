"""The Workflow Builder step verify_candidate: from a signed function_executed event to
functions.completeSuccess on the fake Web API, also across a restart."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.models import Actor, Platform
from tests.conftest import PASS_ANSWERS
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import HM, JANE, OUTSIDER, SEC, SlackDriver, shut

PASSES = PASS_ANSWERS["pre-offer"]
INPUTS = {
    "candidate_name": "Zoë Ångström",
    "candidate_email": "zoe@example.com",
    "role": "Backend Engineer",
    "home_address": JANE["home_address"],
    "shipping_address": JANE["shipping_address"],
    "hiring_manager": HM,
}


def function_executed(callback_id: str, execution_id: str, inputs: dict[str, Any]) -> dict:
    """The event Slack sends when a workflow reaches the step (its documented fields)."""
    return {
        "type": "function_executed",
        "function": {
            "id": "Fn0VERIFY01",
            "callback_id": callback_id,
            "title": "Verify a candidate before the offer",
            "type": "app",
            "app_id": "A0VERIFY01",
            "date_created": 1700000000,
            "date_updated": 1700000000,
            "date_deleted": 0,
            "input_parameters": [],
            "output_parameters": [],
        },
        "inputs": inputs,
        "function_execution_id": execution_id,
        "workflow_execution_id": "Wx0WORKFLOW1",
        "event_ts": f"{time.time():.6f}",
        "bot_access_token": "xwfp-function-token",
    }


async def run_step(slack: SlackDriver, execution_id: str, inputs: dict[str, Any]) -> None:
    reply = await slack.event(function_executed("verify_candidate", execution_id, inputs))
    assert reply.status == 200, reply.text
    await slack.settle()


async def answer_all(slack: SlackDriver) -> None:
    for option, note in PASSES.values():
        await slack.answer(option, note)


def completions(fake: FakeSlackAPI, execution_id: str) -> list[dict[str, Any]]:
    calls = fake.calls_to("functions.completeSuccess", ok=True, function_execution_id=execution_id)
    return [json.loads(call.args["outputs"]) for call in calls]


async def test_the_step_starts_a_verification_and_completes_when_it_is_cleared(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    await run_step(slack, "Fx0EXEC00001", INPUTS)
    await run_step(slack, "Fx0EXEC00001", INPUTS)  # Slack's retry starts nothing new
    store = slack.app.core.store
    assert store.db.execute("SELECT count(*) FROM verifications").fetchone()[0] == 1
    first = slack.last_step()
    assert "Zoë Ångström" in first.text
    assert completions(fake_slack, "Fx0EXEC00001") == []
    await answer_all(slack)
    await slack.settle()
    [outputs] = completions(fake_slack, "Fx0EXEC00001")
    print(f"\nfunctions.completeSuccess outputs: {outputs}")
    assert outputs["outcome"] == "cleared" and outputs["cleared"] is True
    assert outputs["verification_id"].startswith("VB-")
    assert store.workflow_execution("Fx0EXEC00001")["status"] == "completed"


async def test_invalid_inputs_fail_the_step_with_a_message(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    bad = {**INPUTS, "candidate_email": "not-an-email", "home_address": ""}
    await run_step(slack, "Fx0EXEC00002", bad)
    await run_step(slack, "Fx0EXEC00003", {**INPUTS, "hiring_manager": OUTSIDER})
    errors = {
        call.args["function_execution_id"]: call.args["error"]
        for call in fake_slack.calls_to("functions.completeError", ok=True)
    }
    assert "candidate_email" in errors["Fx0EXEC00002"]
    assert "home_address" in errors["Fx0EXEC00002"]
    assert "not a hiring manager" in errors["Fx0EXEC00003"]
    store = slack.app.core.store
    assert store.db.execute("SELECT count(*) FROM verifications").fetchone()[0] == 0


async def test_completion_survives_a_restart(
    slack: SlackDriver, fake_slack: FakeSlackAPI, make_app, http
) -> None:
    """Started before a restart, finished after it: the stored execution is completed."""
    await run_step(slack, "Fx0EXEC00004", {**INPUTS, "shipping_address": ""})
    answers = list(PASSES.values())
    for option, note in answers[:2]:
        await slack.answer(option, note)
    await shut(slack.app)

    again = await make_app()
    after = SlackDriver(http, again.url, fake_slack, again)
    for option, note in answers[2:]:
        await after.answer(option, note)
    assert completions(fake_slack, "Fx0EXEC00004") == []
    reply = await after.click(after.last_dm(), label="Give the laptop shipping address")
    assert reply.status == 200
    await after.settle()
    await after.submit(after.last_view("vb_ship"), {"shipping_address": JANE["shipping_address"]})
    await after.settle()
    [outputs] = completions(fake_slack, "Fx0EXEC00004")
    assert outputs["cleared"] is True and outputs["outcome"] == "cleared"
    assert again.core.store.workflow_execution("Fx0EXEC00004")["status"] == "completed"


async def test_a_blocked_verification_completes_once_security_decides(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    await run_step(slack, "Fx0EXEC00005", INPUTS)
    await slack.answer("mismatch", "The notary has no such commission")
    await slack.settle()
    assert completions(fake_slack, "Fx0EXEC00005") == []
    service = slack.app.core.service
    [escalation] = await service.open_escalations(Actor(user_id=SEC, platform=Platform.SLACK))
    await service.decide(
        Actor(user_id=SEC, platform=Platform.SLACK), escalation.id, "confirm", None
    )
    await slack.settle()
    [outputs] = completions(fake_slack, "Fx0EXEC00005")
    assert (outputs["outcome"], outputs["cleared"]) == ("blocked", False)
