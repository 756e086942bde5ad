"""A real `verifybot serve` killed with -9 while the Web API is slow: after a second start on
the same database, every acked click is recorded exactly once and its follow-up is sent."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from bot.config import Settings
from bot.runtime import build_core
from bot.store import Store
from handlers.slack.blocks import prompt_message
from handlers.slack.context import slack_actor
from tests.fakes.slack_api import FakeSlackAPI, Message
from tests.slack.conftest import (
    HM,
    JANE,
    REPO_ROOT,
    SECRET,
    SECURITY_CHANNEL,
    TOKEN,
    SlackDriver,
    find_button,
    option_value,
    text_of,
)

CLICKS = 12


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def prepared_steps(db: Path, fake: FakeSlackAPI) -> list[tuple[str, Message]]:
    """Verifications started on the database, each with its first step in the fake's DM."""
    core = build_core(Settings(db=str(db), playbooks_dir=str(REPO_ROOT / "playbooks")))
    steps = []
    try:
        for number in range(CLICKS):
            details = {**JANE, "name": f"Jane Doe {number}", "email": f"j{number}@example.com"}
            started = await core.service.start(slack_actor(HM), details)
            assert started.next_prompt is not None
            fake._chat_postMessage({"channel": HM, **prompt_message(started.next_prompt)})
            steps.append((started.verification.id, fake.state.messages[-1]))
    finally:
        core.close()
    return steps


def serve(db: Path, fake: FakeSlackAPI, port: int, cwd: Path) -> subprocess.Popen[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "VERIFYBOT_", "Microsoft"))
    }
    env.update(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.url,
        VERIFYBOT_SLACK_SECURITY_CHANNEL=SECURITY_CHANNEL,
        VERIFYBOT_PLAYBOOKS=str(REPO_ROOT / "playbooks"),
        VERIFYBOT_TEAMS_ENABLED="false",
        VERIFYBOT_JOB_LEASE_SECONDS="1",
        PYTHONPATH=str(REPO_ROOT),
    )
    command = [sys.executable, "-m", "handlers.cli", "serve", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--db", str(db)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def until(check, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def healthy(http: aiohttp.ClientSession, port: int) -> None:
    async def up() -> bool:
        try:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as reply:
                return reply.status == 200
        except aiohttp.ClientError:
            return False

    await until(up, 15, "verifybot serve to start")


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
    steps = await prepared_steps(db, fake_slack)
    port = free_port()
    first = serve(db, fake_slack, port, tmp_path)
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
    second = serve(db, fake_slack, port, tmp_path)
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
