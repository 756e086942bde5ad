"""Real `verifybot serve` processes for the Slack tests: started on a test's database (a
SQLite file or a PostgreSQL URL) against the fake Web API, with verifications prepared."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bot.config import Settings
from bot.keys import is_database_url
from bot.runtime import build_core
from handlers.slack.blocks import prompt_message
from handlers.slack.context import slack_actor
from tests.database import KEY_SETTINGS, database_settings
from tests.fakes.slack_api import FakeSlackAPI, Message
from tests.slack.conftest import HM, JANE, REPO_ROOT, SECRET, SECURITY_CHANNEL, TOKEN, text_of

# A post that outlasts half the lease is cut off and retried, and may then show twice: on a
# loaded CI machine a post to the local fake has taken over a second.
OUTBOX_LEASE_SECONDS = 10
VERIFICATION_ID = re.compile(r"VB-[0-9A-F]{8}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def prepared_steps(
    database: str | Path, fake: FakeSlackAPI, count: int
) -> list[tuple[str, Message]]:
    """Verifications started on the database, each with its first step in the fake's DM."""
    settings = Settings(playbooks_dir=str(REPO_ROOT / "playbooks"), **database_settings(database))
    core = build_core(settings)
    steps = []
    try:
        for number in range(count):
            details = {**JANE, "name": f"Jane Doe {number}", "email": f"j{number}@example.com"}
            started = await core.service.start(slack_actor(HM), details)
            assert started.next_prompt is not None
            fake._chat_postMessage({"channel": HM, **prompt_message(started.next_prompt)})
            steps.append((started.verification.id, fake.state.messages[-1]))
    finally:
        core.close()
    return steps


def serve(
    database: str | Path, fake: FakeSlackAPI, port: int, cwd: Path, *options: str, **variables: str
) -> subprocess.Popen[str]:
    """`verifybot serve` on the database and the fake, with these VERIFYBOT_ variables too."""
    return verifybot(["serve", "--port", str(port), *options], database, fake, cwd, **variables)


def work(
    database: str | Path, fake: FakeSlackAPI, cwd: Path, *options: str, **variables: str
) -> subprocess.Popen[str]:
    """`verifybot work` (PostgreSQL) on the database and the fake."""
    return verifybot(["work", *options], database, fake, cwd, **variables)


def verifybot(
    arguments: list[str], database: str | Path, fake: FakeSlackAPI, cwd: Path, **variables: str
) -> subprocess.Popen[str]:
    """The real command line with Slack on the fake (stderr kept for the test to read)."""
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
        PYTHONPATH=str(REPO_ROOT),
        **{f"VERIFYBOT_{name}": value for name, value in variables.items()},
    )
    command = [sys.executable, "-m", "handlers.cli", *arguments]
    if is_database_url(str(database)):
        env["VERIFYBOT_DATABASE_URL"] = str(database)
        env.update({f"VERIFYBOT_{name.upper()}_KEY": key for name, key in KEY_SETTINGS.items()})
    else:
        command += ["--db", str(database)]
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
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


async def answered(fake: FakeSlackAPI) -> None:
    """Let the fake answer what reached it before the kill: the channel is still failing for
    those. (A post Slack accepted just before its sender died is posted again by the other
    replica when the lease runs out; no lease can tell it was done.)"""
    await asyncio.sleep(0.5)

    async def none_waiting() -> bool:
        return all(call.status for call in fake.calls)

    await until(none_waiting, 10, "the fake to answer the calls it received")


def top_level_ids(fake: FakeSlackAPI) -> list[str]:
    """The verification each post that opened a thread in the security channel names (the
    daily audit head names none)."""
    posts = [m for m in fake.messages_in(SECURITY_CHANNEL) if m.thread_ts is None]
    named = [VERIFICATION_ID.findall(f"{m.text} {text_of(m.blocks)}") for m in posts]
    return [ids[0] for ids in named if ids]
