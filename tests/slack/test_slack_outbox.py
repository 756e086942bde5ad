"""Escalations survive Slack being down, rate limits and restarts: delivered once, threaded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp

from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import SECURITY_CHANNEL, SlackApp, SlackDriver, shut, text_of


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def security_posts(fake: FakeSlackAPI, ok: bool | None = None) -> list:
    return fake.calls_to("chat.postMessage", ok=ok, channel=SECURITY_CHANNEL)


async def test_an_outage_and_a_rate_limit_delay_the_escalation_which_is_posted_once(
    slack: SlackDriver, fake_slack: FakeSlackAPI, slack_app: SlackApp
) -> None:
    await slack.start()
    fake_slack.fail_next("chat.postMessage", status=500, channel=SECURITY_CHANNEL)
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1, channel=SECURITY_CHANNEL)

    await slack.answer("not_provided")
    await slack.answer("not_started")
    await eventually(lambda: len(security_posts(fake_slack, ok=True)) == 1)

    attempts = security_posts(fake_slack)
    assert [call.status for call in attempts] == [500, 429, 200]
    assert attempts[2].at - attempts[1].at >= 0.9
    [first] = fake_slack.messages_in(SECURITY_CHANNEL)
    assert first.thread_ts is None
    shown = text_of(first.blocks)
    assert "Notarized proof of identity" in shown and "Background check" in shown, "one post"
    await eventually(lambda: slack_app.core.store.pending_outbox() == [])  # marked delivered

    await fake_slack.go_down()
    await slack.answer("camera_refused")
    await eventually(lambda: slack_app.core.worker.failed >= 4)
    assert len(slack_app.core.store.pending_outbox()) == 1
    await fake_slack.come_back()
    await eventually(lambda: len(security_posts(fake_slack, ok=True)) == 2)

    later = fake_slack.messages_in(SECURITY_CHANNEL)[1]
    assert later.thread_ts == first.ts
    assert "Camera-on interview" in text_of(later.blocks)
    assert len(fake_slack.messages_in(SECURITY_CHANNEL)) == 2
    await eventually(lambda: slack_app.core.store.pending_outbox() == [])


async def test_a_pending_escalation_is_delivered_once_after_a_restart(
    make_app: Callable[..., Awaitable[SlackApp]],
    fake_slack: FakeSlackAPI,
    http: aiohttp.ClientSession,
) -> None:
    before = await make_app()
    slack = SlackDriver(http, before.url, fake_slack, before)
    verification_id = await slack.start()
    fake_slack.fail_next("chat.postMessage", status=503, times=10_000, channel=SECURITY_CHANNEL)
    await slack.answer("not_provided")
    await eventually(lambda: before.core.worker.failed >= 1)
    await shut(before)
    failed_attempts = len(security_posts(fake_slack))
    assert failed_attempts >= 1
    assert security_posts(fake_slack, ok=True) == []

    fake_slack.clear_failures()
    after = await make_app()
    await eventually(lambda: len(security_posts(fake_slack, ok=True)) == 1)
    await after.core.worker.run_once()

    assert len(security_posts(fake_slack)) == failed_attempts + 1
    [posted] = fake_slack.messages_in(SECURITY_CHANNEL)
    assert "Jane Doe" in posted.text
    assert verification_id in text_of(posted.blocks)
    escalation = after.core.store.escalation_for(verification_id)
    assert after.core.store.message_ref(escalation["id"], "slack") == posted.ts
    assert after.core.store.pending_outbox() == []
