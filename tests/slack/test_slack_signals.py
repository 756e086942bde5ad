"""Issue 11 in Slack: the new candidate fields in the modal, the live-deepfake probes step, and
the identity signals: the hiring manager learns what was found, security learns with whom."""

from __future__ import annotations

from bot.models import Outcome
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import HM, HM2, JANE, SECURITY_CHANNEL, SlackApp, SlackDriver, text_of

IBAN = "GB29 NWBK 6016 1331 9268 19"


async def test_probes_payout_link_and_evasive_address_reach_the_security_channel(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    store = slack_app.core.store
    first_id = await slack.start({**JANE, "payout_account": IBAN, "referred_by": ""})
    for option, note in (("verified", "Notary 1"), ("clear", None), ("matched", None)):
        await slack.answer(option, note)
    await slack.answer("artifacts", "Face blurred when the hand passed in front")
    await slack.settle()
    probes = next(m for m in slack.dm() if "Live-deepfake probes" in text_of(m.blocks))
    assert "Glitches, blur, warping or lag seen" in text_of(probes.blocks)
    assert store.candidate(store.verification(first_id)["candidate_id"])["payout_last4"] == "6819"

    other = {
        **JANE,
        "name": "John Roe",
        "email": "john.roe@example.com",
        "phone": "+1 415 555 0123",
        "home_address": "77 Pine Road, Austin, TX 73301",
        "shipping_address": "Attn: IT, 123 M\u0430in St, Springfield IL",
        "payout_account": "gb29-nwbk-6016-1331-9268-19",
    }
    second_id = await slack.start(other, user=HM2)
    for option, note in (("verified", "Notary 9"), ("clear", None), ("matched", None)):
        await slack.answer(option, note, user=HM2)
    await slack.answer("natural", user=HM2)
    await slack.settle()

    told_hm = "\n".join(text_of(m.blocks) + m.text for m in slack.dm(HM2))
    assert "[BLOCK] Laptop shipping address" in told_hm
    assert "[BLOCK] Identity shared across candidates" in told_hm
    assert "The payout account is another candidate's" in told_hm
    assert first_id not in told_hm and "Jane" not in told_hm and HM not in told_hm
    assert store.verification(second_id)["status"] == Outcome.BLOCKED

    posted = "\n".join(text_of(m.blocks) for m in fake_slack.messages_in(SECURITY_CHANNEL))
    assert "[REVIEW] Live-deepfake probes" in posted
    assert "[BLOCK] Identity shared across candidates: Shares a phone number" in posted
    assert f"Payout account: Jane Doe: {first_id}." in posted
    assert "NWBK" not in posted and "9268" not in posted


async def test_the_modal_refuses_a_bad_payout_account_and_referrer(
    slack: SlackDriver, slack_app: SlackApp
) -> None:
    reply = await slack.command("start Jane Doe")
    assert reply.status == 200
    await slack.settle()
    submitted = await slack.submit(
        slack.last_view("vb_start"), {**JANE, "payout_account": "12", "referred_by": "nobody"}
    )
    errors = submitted.json["errors"]
    assert "bank account number, an IBAN or a payout email" in errors["payout_account"]
    assert "not a valid email address" in errors["referred_by"]
    assert slack_app.core.store.list_verifications() == []
