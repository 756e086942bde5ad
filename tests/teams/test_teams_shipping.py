"""Teams: a verification started without the shipping address; the address typed on the card."""

from __future__ import annotations

from bot.models import Outcome, Result
from tests.fakes.bot_connector import FakeConnector
from tests.teams.harness import Chat, TeamsApp, texts
from tests.teams.test_teams_e2e import HM_ACTOR, JANE, last_card, press, verification_id

WITHOUT_SHIPPING = {key: value for key, value in JANE.items() if key != "shipping_address"}


async def test_the_waiting_card_takes_the_shipping_address_and_the_check_runs(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    form = (await hm_chat.say("start Jane Doe"))[0]
    calls = await hm_chat.click(form, "Start verification", **WITHOUT_SHIPPING)
    assert calls[0].text.startswith("Started Jane Doe (VB-")
    vid = await verification_id(teams_app)
    while await teams_app.core.service.next_prompt(HM_ACTOR, vid) is not None:
        calls = await press(hm_chat, calls, Result.PASS)
    summary = last_card(calls)
    assert "waiting for the laptop shipping address" in summary.text.lower()
    view = await teams_app.core.service.view(HM_ACTOR, vid)
    assert view.outcome is Outcome.IN_PROGRESS

    calls = await hm_chat.click(summary, "Give the shipping address", shipping_address="!!! ,,,")
    assert "shipping" in texts(calls)[0].lower()
    assert (await teams_app.core.service.view(HM_ACTOR, vid)).awaiting_shipping_address

    calls = await hm_chat.click(
        summary, "Give the shipping address", shipping_address=JANE["shipping_address"]
    )
    shown = texts(calls)
    assert shown[0] == "Laptop shipping address recorded."
    assert any(text.startswith("[PASS] Laptop shipping address") for text in shown)
    assert "Outcome: Cleared" in calls[-1].text
    view = await teams_app.core.service.view(HM_ACTOR, vid)
    assert view.outcome is Outcome.CLEARED and not view.awaiting_shipping_address
