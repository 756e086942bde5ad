"""Two real `verifybot serve` processes on one database (PostgreSQL in CI's second run, a
SQLite file in the first), behind one Slack app: 200 clicks split between them, duplicates
and retries included; one is killed with -9 while the security channel is failing. Every
answer is recorded once, every escalation posted once, and nothing is left pending."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import aiohttp

from tests.database import open_store
from tests.fakes.slack_api import FakeSlackAPI, Message
from tests.slack.conftest import (
    HM,
    SECURITY_CHANNEL,
    SlackDriver,
    find_button,
)
from tests.slack.served import (
    OUTBOX_LEASE_SECONDS,
    answered,
    free_port,
    healthy,
    prepared_steps,
    serve,
    top_level_ids,
    until,
)

VERIFICATIONS = 50


def replica(database: str, fake: FakeSlackAPI, port: int, cwd: Path) -> subprocess.Popen[str]:
    """`verifybot serve` on the database, with leases short enough that a dead replica's work
    moves on within the test, and a failing channel's notices tried again at most 8 s apart
    (a slow run that fails them six times would otherwise wait up to a minute once it is
    back)."""
    return serve(
        database,
        fake,
        port,
        cwd,
        NOTICE_INTERVAL="0",
        JOB_LEASE_SECONDS="3",
        OUTBOX_LEASE_SECONDS=str(OUTBOX_LEASE_SECONDS),
        OUTBOX_RETRY_CAP_SECONDS="8",
    )


def clicks_for(
    drivers: list[SlackDriver], steps: list[tuple[str, Message]]
) -> list[tuple[SlackDriver, str, dict[str, str]]]:
    """Four clicks per step: the click, Slack's retry of it on the other replica,
    and a double click on each replica."""
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    planned = []
    for number, (_, message) in enumerate(steps):
        first, second = drivers[number % 2], drivers[(number + 1) % 2]
        click = press(first, message)
        planned += [(first, click, {}), (second, click, retry)]
        planned += [(first, press(first, message), {}), (second, press(second, message), {})]
    return planned


def press(driver: SlackDriver, message: Message) -> str:
    """A signed click on the step's "not provided" button, with its own action_ts."""
    block_id, element = find_button(message.blocks, option="not_provided")
    return driver.interaction(driver.click_payload(HM, message, block_id, element))


async def click_all(planned: list[tuple[SlackDriver, str, dict[str, str]]]) -> None:
    """Send the clicks at once; each is acked."""
    replies = await asyncio.gather(
        *(driver.send(body, headers=headers) for driver, body, headers in planned)
    )
    assert [reply.status for reply in replies] == [200] * len(planned)


async def test_two_replicas_record_every_click_once_and_post_every_escalation_once(
    tmp_path: Path, database: str, fake_slack: FakeSlackAPI, http: aiohttp.ClientSession
) -> None:
    steps = await prepared_steps(database, fake_slack, VERIFICATIONS)
    ports = [free_port(), free_port()]
    replicas = [replica(database, fake_slack, port, tmp_path) for port in ports]
    try:
        await asyncio.gather(*(healthy(http, port) for port in ports))
        drivers = [
            SlackDriver(http, f"http://127.0.0.1:{port}/slack/events", fake_slack, app=None)
            for port in ports
        ]
        half = VERIFICATIONS // 2
        healthy_channel, failing_channel = steps[:half], steps[half:]
        await click_all(clicks_for(drivers, healthy_channel))

        async def first_half_posted() -> bool:
            return len(top_level_ids(fake_slack)) >= half

        await until(first_half_posted, 30, "both replicas to post the first escalations")
        fake_slack.fail_next("chat.postMessage", times=10_000, channel=SECURITY_CHANNEL)
        await click_all(clicks_for(drivers, failing_channel))

        async def security_failing() -> bool:
            failed = fake_slack.calls_to("chat.postMessage", ok=False, channel=SECURITY_CHANNEL)
            return len(failed) >= 5

        await until(security_failing, 20, "escalations to fail on the security channel")
        replicas[0].send_signal(signal.SIGKILL)
        replicas[0].wait(timeout=10)
        await answered(fake_slack)
        fake_slack.clear_failures()

        escalated = {verification_id for verification_id, _ in steps}

        async def all_posted() -> bool:
            return set(top_level_ids(fake_slack)) == escalated

        await until(all_posted, 60, "every escalation in the security channel")
        store = open_store(database)
        try:

            async def nothing_pending() -> bool:
                return store.outbox_pending() == 0 and store.unfinished_jobs() == 0

            await until(nothing_pending, 30, "the outbox and the jobs to empty")
            for verification_id, _ in steps:
                answers = [(a["step_id"], a["value"]) for a in store.answers(verification_id)]
                assert answers == [("notarized_id", "not_provided")], verification_id
            statuses = store.db.execute("SELECT DISTINCT status FROM outbox").fetchall()
            assert [tuple(row) for row in statuses] == [("delivered",)]
            assert {row["status"] for row in store.jobs()} == {"done"}
        finally:
            store.close()
        assert sorted(top_level_ids(fake_slack)) == sorted(escalated), "each posted once"
        replicas[1].send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(replicas[1].communicate, timeout=20)
        assert replicas[1].returncode == 0
        assert "Traceback" not in stderr
    finally:
        for process in replicas:
            process.kill()
            process.wait(timeout=10)
