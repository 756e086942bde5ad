"""Nothing acked is lost: clicks are jobs in the database, finished after a shutdown or an
outage, each answer recorded once and its follow-up messages sent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
import structlog

from handlers import server
from tests.database import jobs_locked
from tests.fakes.slack_api import FakeSlackAPI, Message
from tests.slack.conftest import (
    HM,
    JANE,
    SlackApp,
    SlackDriver,
    find_button,
    option_value,
    shut,
    text_of,
)

CLICKS = 12


def candidate(number: int) -> dict[str, str]:
    return {**JANE, "name": f"Jane Doe {number}", "email": f"jane{number}@example.com"}


def notarized_answers(app: SlackApp, verification_id: str) -> list[str]:
    answers = app.core.store.answers(verification_id)
    return [a["value"] for a in answers if a["step_id"] == "notarized_id"]


def next_steps(driver: SlackDriver, verification_id: str) -> list[Message]:
    """The "Background check" step messages posted for the verification."""
    return [
        message
        for message in driver.dm()
        if message.blocks
        and "Background check" in text_of(message.blocks)
        and option_value(message) == verification_id
    ]


async def start_many(driver: SlackDriver, count: int) -> list[tuple[str, Message]]:
    """Start `count` verifications; each one's id and first step message."""
    started = []
    for number in range(count):
        verification_id = await driver.start(candidate(number))
        started.append((verification_id, driver.last_dm()))
    return started


async def click_all(driver: SlackDriver, steps: list[tuple[str, Message]], option: str) -> list:
    bodies = []
    for _, message in steps:
        block_id, element = find_button(message.blocks, option=option)
        bodies.append(driver.interaction(driver.click_payload(HM, message, block_id, element)))
    return await asyncio.gather(*(driver.send(body) for body in bodies))


async def test_acked_clicks_left_by_a_shutdown_are_finished_by_the_next_start(
    make_app: Callable[..., Awaitable[SlackApp]],
    fake_slack: FakeSlackAPI,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await make_app()
    driver = SlackDriver(http, first.url, fake_slack, first)
    steps = await start_many(driver, CLICKS)
    fake_slack.delay("chat.update", 1.0)
    fake_slack.delay("chat.postMessage", 1.0)
    monkeypatch.setattr(server, "JOBS_DRAIN_SECONDS", 0.2)

    replies = await click_all(driver, steps, "not_provided")
    assert [reply.status for reply in replies] == [200] * CLICKS
    recorded_before = sum(len(notarized_answers(first, vid)) for vid, _ in steps)
    with structlog.testing.capture_logs() as logs:
        await shut(first)

    assert recorded_before < CLICKS, "the Web API was slow: work was left when it stopped"
    [left] = [entry for entry in logs if "unfinished" in entry]
    assert left["log_level"] == "warning"
    assert 0 < left["unfinished"] <= CLICKS
    assert "slack.background_cancelled" not in [entry["event"] for entry in logs]

    fake_slack.delay("chat.update", 0)
    fake_slack.delay("chat.postMessage", 0)
    second = await make_app()
    driver = SlackDriver(http, second.url, fake_slack, second)
    await driver.settle()

    for verification_id, step in steps:
        assert notarized_answers(second, verification_id) == ["not_provided"]
        shown = fake_slack.message(step.channel, step.ts)
        assert shown.updates >= 1
        assert "Not provided" in text_of(shown.blocks)
        assert len(next_steps(driver, verification_id)) >= 1
    assert {row["status"] for row in second.core.store.jobs()} == {"done"}


async def test_a_web_api_outage_retries_the_job_without_repeating_what_it_sent(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id = await slack.start()
    step = slack.last_dm()
    fake_slack.fail_next("chat.postMessage", status=500, times=2, channel=step.channel)

    await slack.click(step, option="not_provided")
    await slack.settle()

    assert notarized_answers(slack_app, verification_id) == ["not_provided"]
    assert fake_slack.message(step.channel, step.ts).updates == 1
    assert len(next_steps(slack, verification_id)) == 1
    [job] = [row for row in slack_app.core.store.jobs() if row["kind"] == "slack.answer"]
    assert (job["status"], job["attempts"]) == ("done", 3)
    assert len(fake_slack.calls_to("chat.update", channel=step.channel, ts=step.ts)) == 1


async def test_a_click_that_cannot_be_queued_is_not_acked(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    verification_id = await slack.start()
    step = slack.last_dm()
    jobs_before = len(slack_app.core.store.jobs())
    slack_app.core.jobs.enqueue_timeout = 0.05
    with jobs_locked(slack_app.core.store.path), structlog.testing.capture_logs() as logs:
        refused = await slack.click(step, option="not_provided")

    assert refused.status == 503
    assert "Traceback" not in refused.text
    assert [entry["log_level"] for entry in logs if entry["event"] == "slack.click_not_queued"]
    assert len(slack_app.core.store.jobs()) == jobs_before
    await slack.settle()
    assert notarized_answers(slack_app, verification_id) == []

    again = await slack.click(step, option="not_provided")
    await slack.settle()
    assert again.status == 200
    assert notarized_answers(slack_app, verification_id) == ["not_provided"]
    assert len(next_steps(slack, verification_id)) == 1


async def test_a_note_submission_and_its_follow_up_survive_a_restart(
    make_app: Callable[..., Awaitable[SlackApp]],
    fake_slack: FakeSlackAPI,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await make_app()
    driver = SlackDriver(http, first.url, fake_slack, first)
    verification_id = await driver.start()
    step = driver.last_dm()
    await driver.click(step, option="verified")
    await driver.settle()
    opened = fake_slack.state.views[-1]
    fake_slack.delay("chat.update", 1.0)
    monkeypatch.setattr(server, "JOBS_DRAIN_SECONDS", 0.05)

    submitted = await driver.submit(opened, {"note": "Commission 12345"})
    await shut(first)

    assert submitted.status == 200
    fake_slack.delay("chat.update", 0)
    second = await make_app()
    driver = SlackDriver(http, second.url, fake_slack, second)
    await driver.settle()
    again = await driver.submit(opened, {"note": "Commission 12345"})
    await driver.settle()

    assert again.status == 200
    assert notarized_answers(second, verification_id) == ["verified"]
    payloads = [row["payload"] for row in second.core.store.jobs()]
    assert not any("Commission" in payload for payload in payloads), "no notes in jobs"
    assert "Commission 12345" in text_of(fake_slack.message(step.channel, step.ts).blocks)
    assert len(next_steps(driver, verification_id)) == 1


async def test_a_queued_click_is_acked_without_bolts_dispatch_once_its_job_is_committed(
    slack: SlackDriver, slack_app: SlackApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    verification_id = await slack.start()
    step = slack.last_dm()
    dispatched: list[object] = []
    dispatch = slack_app.frontend.app.async_dispatch

    async def counted(request):
        dispatched.append(request)
        return await dispatch(request)

    monkeypatch.setattr(slack_app.frontend.app, "async_dispatch", counted)
    held = slack_app.core.jobs.requests
    monkeypatch.setattr(held, "quiet_seconds", 60.0)
    monkeypatch.setattr(slack_app.core.jobs, "max_hold", 60.0)  # a slow machine's start()
    await slack.settle()  # a claim the worker began before the hold ends here (its lock)
    acked = await slack.click(step, option="not_provided")

    assert (acked.status, acked.text) == (200, "")
    assert dispatched == []
    [job] = [row for row in slack_app.core.store.jobs() if row["kind"] == "slack.answer"]
    assert job["status"] == "pending", "committed before the ack, run after it"
    monkeypatch.setattr(held, "quiet_seconds", 0.0)
    slack_app.core.jobs.kick()
    await slack.settle()
    assert notarized_answers(slack_app, verification_id) == ["not_provided"]

    await slack.command("help")
    assert len(dispatched) == 1, "anything but a queued button goes through bolt"


async def test_a_forged_or_malformed_click_is_not_queued(
    slack: SlackDriver, slack_app: SlackApp
) -> None:
    await slack.start()
    step = slack.last_dm()
    jobs_before = len(slack_app.core.store.jobs())
    block_id, element = find_button(step.blocks, None, "not_provided")
    body = slack.interaction(slack.click_payload(HM, step, block_id, element))
    forged = {**slack.signed_headers(body, "application/x-www-form-urlencoded")}
    forged["X-Slack-Signature"] = "v0=" + "0" * 64
    async with slack.session.post(slack.url, data=body.encode(), headers=forged) as refused:
        assert refused.status == 401
    payload = slack.click_payload(HM, step, block_id, element)
    payload["actions"] = []
    assert (await slack.send(slack.interaction(payload))).status == 400
    assert len(slack_app.core.store.jobs()) == jobs_before
