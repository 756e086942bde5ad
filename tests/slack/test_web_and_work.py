"""`verifybot serve --web-only` beside `verifybot work` on one PostgreSQL database: the web
process acks clicks and runs none of their work; the work process runs what was queued
before it started, and is woken at once (not at its next poll) for what is queued after; it
serves /healthz for a probe and no chat route."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.database import ON_POSTGRES, open_store
from tests.fakes.slack_api import FakeSlackAPI, Message
from tests.slack.conftest import HM, SECURITY_CHANNEL, SlackDriver, find_button
from tests.slack.served import (
    OUTBOX_LEASE_SECONDS,
    answered,
    free_port,
    healthy,
    prepared_steps,
    serve,
    top_level_ids,
    until,
    work,
)

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="a work process needs PostgreSQL")

VERIFICATIONS = 6
# Idle, a worker looks for work every lease / 3 (here 40 s): anything sooner is the wake.
SLOW_POLL = {"JOB_LEASE_SECONDS": "120", "OUTBOX_LEASE_SECONDS": "120", "NOTICE_INTERVAL": "0"}
WOKEN_WITHIN_S = 8


async def click(driver: SlackDriver, steps: list[tuple[str, Message]]) -> None:
    """Each step's "not provided" button (an escalating answer), acked."""
    bodies = []
    for _, message in steps:
        block_id, element = find_button(message.blocks, option="not_provided")
        bodies.append(driver.interaction(driver.click_payload(HM, message, block_id, element)))
    replies = await asyncio.gather(*(driver.send(body) for body in bodies))
    assert [reply.status for reply in replies] == [200] * len(bodies)


async def stopped_cleanly(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.to_thread(process.communicate, timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


async def test_the_web_process_only_acks_and_the_work_process_is_woken_for_the_rest(
    tmp_path: Path, database: str, fake_slack: FakeSlackAPI, http: aiohttp.ClientSession
) -> None:
    steps = await prepared_steps(database, fake_slack, VERIFICATIONS)
    before, after = steps[: VERIFICATIONS // 2], steps[VERIFICATIONS // 2 :]
    port = free_port()
    web = serve(database, fake_slack, port, tmp_path, "--web-only", **SLOW_POLL)
    worker: subprocess.Popen[str] | None = None
    store = open_store(database)
    try:
        await healthy(http, port)
        driver = SlackDriver(http, f"http://127.0.0.1:{port}/slack/events", fake_slack, app=None)
        await click(driver, before)
        await asyncio.sleep(1.5)
        assert store.unfinished_jobs() == len(before), "the web process ran no job"
        assert fake_slack.calls_to("chat.update") == []
        assert all(store.answers(verification_id) == [] for verification_id, _ in before)

        health_port = free_port()
        worker = work(database, fake_slack, tmp_path, "--port", str(health_port), **SLOW_POLL)
        await healthy(http, health_port)
        async with http.post(f"http://127.0.0.1:{health_port}/slack/events") as reply:
            assert reply.status == 404, "the work process serves a probe, not Slack"

        async def escalated(count: int) -> bool:
            posts = [m for m in fake_slack.messages_in(SECURITY_CHANNEL) if m.thread_ts is None]
            return store.unfinished_jobs() == 0 and len(posts) >= count

        await until(lambda: escalated(len(before)), 30, "the work queued before it started")
        await asyncio.sleep(0.5)  # the worker idle, in its long wait

        await click(driver, after)
        await until(
            lambda: escalated(VERIFICATIONS), WOKEN_WITHIN_S, "the worker to be woken for new work"
        )
        for verification_id, _ in steps:
            answers = [(a["step_id"], a["value"]) for a in store.answers(verification_id)]
            assert answers == [("notarized_id", "not_provided")], verification_id
        assert store.outbox_pending() == 0
        await stopped_cleanly(worker)
        await stopped_cleanly(web)
    finally:
        store.close()
        for process in (web, worker):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)


async def test_a_work_process_killed_mid_delivery_leaves_its_work_to_the_next_one(
    tmp_path: Path, database: str, fake_slack: FakeSlackAPI, http: aiohttp.ClientSession
) -> None:
    """kill -9 of `work` while the security channel fails: a second `work` finishes every
    job and posts every escalation once, once the first one's leases run out."""
    steps = await prepared_steps(database, fake_slack, VERIFICATIONS)
    short_leases = {
        "JOB_LEASE_SECONDS": "3",
        "OUTBOX_LEASE_SECONDS": str(OUTBOX_LEASE_SECONDS),
        "NOTICE_INTERVAL": "0",
    }
    port = free_port()
    web = serve(database, fake_slack, port, tmp_path, "--web-only", **short_leases)
    first = work(database, fake_slack, tmp_path, **short_leases)
    second: subprocess.Popen[str] | None = None
    store = open_store(database)
    try:
        await healthy(http, port)
        fake_slack.fail_next("chat.postMessage", times=10_000, channel=SECURITY_CHANNEL)
        driver = SlackDriver(http, f"http://127.0.0.1:{port}/slack/events", fake_slack, app=None)
        await click(driver, steps)

        async def security_failing() -> bool:
            failed = fake_slack.calls_to("chat.postMessage", ok=False, channel=SECURITY_CHANNEL)
            return len(failed) >= 3

        await until(security_failing, 20, "escalations to fail on the security channel")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        await answered(fake_slack)
        fake_slack.clear_failures()
        second = work(database, fake_slack, tmp_path, **short_leases)
        escalated = {verification_id for verification_id, _ in steps}

        async def all_posted() -> bool:
            done = store.outbox_pending() == 0 and store.unfinished_jobs() == 0
            return done and set(top_level_ids(fake_slack)) == escalated

        await until(all_posted, 60, "every escalation posted by the second work process")
        assert sorted(top_level_ids(fake_slack)) == sorted(escalated), "each posted once"
        for verification_id, _ in steps:
            answers = [(a["step_id"], a["value"]) for a in store.answers(verification_id)]
            assert answers == [("notarized_id", "not_provided")], verification_id
        await stopped_cleanly(second)
        await stopped_cleanly(web)
    finally:
        store.close()
        for process in (web, first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
