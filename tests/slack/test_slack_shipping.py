"""Slack: a verification started without the shipping address; the address given in a modal."""

from __future__ import annotations

from bot.models import Actor, Outcome, Platform
from tests.conftest import PASS_ANSWERS
from tests.slack.conftest import HM, JANE, SlackDriver, text_of

HM_ACTOR = Actor(user_id=HM, platform=Platform.SLACK)

PASSES = PASS_ANSWERS["pre-offer"]
WITHOUT_SHIPPING = {**JANE, "shipping_address": None}


async def test_the_shipping_address_button_opens_a_modal_and_the_check_runs(
    slack: SlackDriver, fake_slack
) -> None:
    verification_id = await slack.start(WITHOUT_SHIPPING)
    for option, note in PASSES.values():
        await slack.answer(option, note)
    summary = slack.last_dm()
    assert "Give the laptop shipping address" in str(summary.blocks)
    service = slack.app.core.service
    view = await service.view(HM_ACTOR, verification_id)
    assert view.outcome is Outcome.IN_PROGRESS and view.awaiting_shipping_address

    reply = await slack.click(summary, label="Give the laptop shipping address")
    assert reply.status == 200
    await slack.settle()
    opened = slack.last_view("vb_ship")
    refused = await slack.submit(opened, {"shipping_address": "!!! ,,, ---"})
    assert refused.status == 200 and refused.json["response_action"] == "errors"
    assert refused.json["errors"]["shipping_address"]

    done = await slack.submit(opened, {"shipping_address": JANE["shipping_address"]})
    assert (done.status, done.text) == (200, "")
    await slack.settle()
    shown = [text_of(message.blocks) for message in slack.dm()[-2:]]
    assert "Laptop shipping address" in shown[0]
    assert "Cleared" in shown[1]
    view = await service.view(HM_ACTOR, verification_id)
    assert view.outcome is Outcome.CLEARED and not view.awaiting_shipping_address
