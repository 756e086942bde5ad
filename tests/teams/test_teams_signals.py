"""Issue 11 in Teams: the new candidate fields on the form, the live-deepfake probes step, and
the identity signals: the hiring manager learns what was found, security learns with whom."""

from __future__ import annotations

from bot.models import Actor, Outcome, Platform, Result
from tests.fakes.bot_connector import FakeConnector
from tests.teams.harness import Chat, TeamsApp
from tests.teams.test_teams_e2e import (
    JANE,
    findings_posted,
    last_card,
    press,
    register_security_channel,
    verification_id,
)

IBAN = "GB29 NWBK 6016 1331 9268 19"


async def test_a_payout_link_and_a_care_of_address_block_and_name_the_other_to_security(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    channel = await register_security_channel(teams_app, connector)
    seeded = await teams_app.core.service.start(
        Actor(user_id="cli", platform=Platform.CLI),
        {
            "name": "Joan Roe",
            "email": "joan.roe@example.net",
            "home_address": "c/o J. Smith, 123 Main St, Springfield IL",
            "shipping_address": "c/o J. Smith, 123 Main St, Springfield IL",
            "payout_account": IBAN,
        },
    )
    first_id = seeded.verification.id

    calls = await hm_chat.say("start Jane Doe")
    form = calls[0]
    assert "[input: Payout account]" in form.text and "[input: Referred by]" in form.text
    calls = await hm_chat.click(
        form, "Start verification", **JANE, payout_account="gb29nwbk60161331926819"
    )
    for _ in range(3):
        calls = await press(hm_chat, calls, Result.PASS)
    assert "Live-deepfake probes (Step 4 of 8)" in last_card(calls).text
    calls = await press(hm_chat, calls, Result.REVIEW)
    assert "Recorded Glitches, blur, warping or lag seen (review)" in calls[0].text
    await teams_app.deliver_outbox()

    told_hm = "\n".join(call.text for call in calls)
    assert "[BLOCK] Identity shared across candidates" in told_hm
    assert "The payout account is another candidate's" in told_hm
    assert "Joan" not in told_hm and first_id not in told_hm
    vid = await verification_id(teams_app)
    assert teams_app.core.store.verification(vid)["status"] == Outcome.BLOCKED

    await connector.wait_for(lambda: len(findings_posted(connector)) >= 1)
    posted = "\n".join(call.text for call in connector.posts() + connector.updates())
    assert f"Payout account: Joan Roe: {first_id}." in posted
    assert f"is also given in: Joan Roe: {first_id}." in posted
    assert "NWBK" not in posted and channel is not None
