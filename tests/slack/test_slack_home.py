"""The App Home tab: a hiring manager's verifications; escalations for the security team."""

from __future__ import annotations

import time

from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import HM, JANE, SEC, SlackApp, SlackDriver, buttons, text_of


async def test_home_shows_a_managers_open_verifications_and_recent_outcomes(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    open_id = await slack.start()
    done_id = await slack.start({**JANE, "name": "Ann Lee", "email": "ann@example.com"})
    await slack.command(f"cancel {done_id}")

    reply = await slack.home_opened(HM)
    await slack.settle()

    assert reply.status == 200
    view = fake_slack.state.published[HM]
    assert view["type"] == "home"
    shown = text_of(view["blocks"])
    assert f"Jane Doe ({open_id})" in shown
    assert "0 of 8 steps answered" in shown
    assert f"Ann Lee ({done_id})*: Cancelled" in shown
    assert "Open escalations" not in shown
    [(_, resume)] = buttons(view["blocks"])
    assert resume["value"] == open_id


async def test_home_shows_open_escalations_to_the_security_team(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    verification_id = await slack.start()
    await slack.answer("not_provided")
    await slack.settle()

    await slack.home_opened(SEC)
    await slack.settle()

    shown = text_of(fake_slack.state.published[SEC]["blocks"])
    assert "Open escalations" in shown
    assert f"*Jane Doe* ({verification_id}): Open" in shown
    assert f"<@{HM}>" in shown
    assert "You have no open verifications." in shown


async def test_the_messages_tab_publishes_nothing(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    event = {"type": "app_home_opened", "user": HM, "tab": "messages", "event_ts": "1.2"}
    reply = await slack.event(event)
    await slack.settle()
    assert reply.status == 200
    assert fake_slack.calls_to("views.publish") == []


async def test_a_retried_event_publishes_the_same_home(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    event = {"type": "app_home_opened", "user": HM, "tab": "home", "event_ts": f"{time.time()}"}
    await slack.event(event)
    await slack.event(event, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    await slack.settle()
    published = fake_slack.calls_to("views.publish", ok=True)
    assert len(published) == 2
    assert published[0].args["view"] == published[1].args["view"]
