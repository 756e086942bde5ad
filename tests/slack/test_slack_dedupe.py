"""A double click, a second click or a Slack retry never records an answer twice."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable

import aiohttp

from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import HM, SlackApp, SlackDriver, find_button, text_of


def chat_calls(fake: FakeSlackAPI) -> int:
    return sum(call.method.startswith(("chat.", "views.")) for call in fake.calls)


def step_answers(app: SlackApp, verification_id: str, step: str) -> list[str]:
    return [a["value"] for a in app.core.store.answers(verification_id) if a["step_id"] == step]


async def test_a_double_click_records_once_and_posts_the_next_step_once(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id = await slack.start()
    message = slack.last_dm()
    block_id, element = find_button(message.blocks, option="not_provided")
    clicks = [slack.click_payload(HM, message, block_id, element) for _ in range(2)]
    assert clicks[0]["actions"][0]["action_ts"] != clicks[1]["actions"][0]["action_ts"]

    replies = await asyncio.gather(*(slack.send(slack.interaction(c)) for c in clicks))
    await slack.settle()

    assert [reply.status for reply in replies] == [200, 200]
    assert step_answers(slack_app, verification_id, "notarized_id") == ["not_provided"]
    assert len(slack.dm()) == 2
    assert "Background check" in text_of(slack.last_dm().blocks)


async def test_a_second_option_on_an_answered_step_records_nothing(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id = await slack.start()
    stale_first = copy.deepcopy(slack.last_dm())
    first = await slack.answer("not_provided")
    stale_second = copy.deepcopy(slack.last_dm())
    await slack.answer("pending")
    views = len(fake_slack.state.views)

    await slack.click(stale_first, option="mismatch")
    await slack.click(stale_second, option="not_started")
    await slack.settle()

    assert step_answers(slack_app, verification_id, "notarized_id") == ["not_provided"]
    assert step_answers(slack_app, verification_id, "background_check") == ["pending"]
    assert len(fake_slack.state.views) == views
    assert len(slack.dm()) == 3
    assert "Not provided" in text_of(fake_slack.message(first.channel, first.ts).blocks)


async def test_a_slack_retry_records_once(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id = await slack.start()
    message = slack.last_dm()
    block_id, element = find_button(message.blocks, option="not_provided")
    body = slack.interaction(slack.click_payload(HM, message, block_id, element))

    first = await slack.send(body)
    await slack.settle()
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    again = await slack.send(body, headers=retry)
    await slack.settle()

    assert first.status == again.status == 200
    assert step_answers(slack_app, verification_id, "notarized_id") == ["not_provided"]
    assert len(slack.dm()) == 2


async def test_a_retried_change_records_once(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id = await slack.start()
    await slack.answer("not_provided")
    step = await slack.answer("pending")
    await slack.click(fake_slack.message(step.channel, step.ts), label="Change answer")
    await slack.settle()
    reopened = fake_slack.message(step.channel, step.ts)
    block_id, element = find_button(reopened.blocks, option="not_started")
    body = slack.interaction(slack.click_payload(HM, reopened, block_id, element))

    await slack.send(body)
    await slack.send(body, headers={"X-Slack-Retry-Num": "1"})
    await slack.settle()

    assert step_answers(slack_app, verification_id, "background_check") == [
        "pending",
        "not_started",
    ]
    assert "Not started" in text_of(fake_slack.message(step.channel, step.ts).blocks)


async def test_clicks_on_a_message_that_shows_the_answer_cost_nothing_more(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id = await slack.start()
    stale = copy.deepcopy(slack.last_dm())
    await slack.answer("not_provided")
    calls = len(fake_slack.calls)
    events = len(slack_app.core.store.events())

    for option in ("not_provided", "not_provided", "mismatch"):
        assert (await slack.click(stale, option=option)).status == 200
    await slack.settle()

    assert len(fake_slack.calls) == calls
    assert len(slack_app.core.store.events()) == events
    assert step_answers(slack_app, verification_id, "notarized_id") == ["not_provided"]


async def test_a_replica_knows_a_message_another_replica_showed_answered(
    slack: SlackDriver,
    fake_slack: FakeSlackAPI,
    slack_app: SlackApp,
    make_app: Callable[..., Awaitable[SlackApp]],
    http: aiohttp.ClientSession,
) -> None:
    """What a message shows is in the database: a stale click on a second replica of the
    same database makes no Web API call and writes nothing."""
    other = await make_app()
    on_other = SlackDriver(http, other.url, fake_slack, other)
    verification_id = await slack.start()
    stale = copy.deepcopy(slack.last_dm())
    await slack.answer("not_provided")
    calls = chat_calls(fake_slack)
    events = len(slack_app.core.store.events())

    for option in ("not_provided", "mismatch"):
        assert (await on_other.click(stale, option=option)).status == 200
    await on_other.settle()
    await slack.settle()  # either replica's worker may have claimed the clicks' jobs
    assert {row["status"] for row in other.core.store.jobs()} == {"done"}

    assert chat_calls(fake_slack) == calls, "no chat.update, no next step"
    assert len(other.core.store.events()) == events
    assert step_answers(other, verification_id, "notarized_id") == ["not_provided"]
