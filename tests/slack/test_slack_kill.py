"""A real `verifybot serve` killed with -9 while the Web API is slow: after a second start on
the same database, every acked click is recorded exactly once and its follow-up is sent."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp

from bot.store import Store
from tests.fakes.slack_api import FakeSlackAPI, Message
from tests.slack.conftest import (
    HM,
    SlackDriver,
    find_button,
    option_value,
    text_of,
)
from tests.slack.served import free_port, healthy, prepared_steps, serve, until

CLICKS = 12


def next_steps(fake: FakeSlackAPI, verification_id: str) -> list[Message]:
    return [
        message
        for message in fake.messages_in(fake.dm_channel(HM))
        if "Background check" in text_of(message.blocks)
        and option_value(message) == verification_id
    ]


async def test_acked_clicks_survive_kill_9_and_finish_after_a_restart(
    tmp_path: Path, fake_slack: FakeSlackAPI, http: aiohttp.ClientSession
) -> None:
    db = tmp_path / "serve.db"
    steps = await prepared_steps(db, fake_slack, CLICKS)
    port = free_port()
    first = serve(db, fake_slack, port, tmp_path, JOB_LEASE_SECONDS="1")
    try:
        await healthy(http, port)
        fake_slack.delay("chat.update", 2.0)
        fake_slack.delay("chat.postMessage", 2.0)
        url = f"http://127.0.0.1:{port}/slack/events"
        driver = SlackDriver(http, url, fake_slack, app=None)  # signs requests; no settle()
        bodies = []
        for _, message in steps:
            block_id, element = find_button(message.blocks, option="not_provided")
            bodies.append(driver.interaction(driver.click_payload(HM, message, block_id, element)))
        replies = await asyncio.gather(*(driver.send(body) for body in bodies))
        assert [reply.status for reply in replies] == [200] * CLICKS

        async def working() -> bool:
            return len(fake_slack.calls_to("chat.update")) >= 1

        await until(working, 5, "the first jobs to reach the Web API")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    store = Store(db)
    try:
        recorded = sum(1 for vid, _ in steps for a in store.answers(vid))
        assert 0 < recorded < CLICKS, "killed with answers recorded, and acked clicks not yet"
    finally:
        store.close()

    fake_slack.delay("chat.update", 0)
    fake_slack.delay("chat.postMessage", 0)
    second = serve(db, fake_slack, port, tmp_path, JOB_LEASE_SECONDS="1")
    try:

        async def finished() -> bool:
            return all(next_steps(fake_slack, vid) for vid, _ in steps)

        await until(finished, 8, "every follow-up after the restart")
        second.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(second.communicate, timeout=15)
    finally:
        second.kill()
    assert second.returncode == 0
    assert "Traceback" not in stderr

    store = Store(db)
    try:
        for verification_id, step in steps:
            answers = [(a["step_id"], a["value"]) for a in store.answers(verification_id)]
            assert answers == [("notarized_id", "not_provided")]
            assert "Not provided" in text_of(fake_slack.message(step.channel, step.ts).blocks)
        assert {row["status"] for row in store.jobs()} == {"done"}
    finally:
        store.close()
