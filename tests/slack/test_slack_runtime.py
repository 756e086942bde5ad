"""The pieces around the listeners: background tasks, the security group, listener bugs."""

from __future__ import annotations

import asyncio
import logging

import pytest
import structlog

from bot.models import Actor, Platform
from bot.playbook import PlaybookRegistry
from bot.roles import Roles
from handlers.slack.background import BackgroundTasks
from handlers.slack.security_group import SecurityGroup
from handlers.slack.surfaces import start_modal
from tests.conftest import FakeClock
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import (
    GROUP_MEMBER,
    REPO_ROOT,
    SECRET,
    SECURITY_GROUP,
    TOKEN,
    SlackApp,
    SlackDriver,
)


async def test_background_tasks_are_drained_including_those_they_start() -> None:
    tasks = BackgroundTasks()
    done: list[str] = []

    async def child() -> None:
        await asyncio.sleep(0.01)
        done.append("child")

    async def parent() -> None:
        tasks.spawn(child(), "child")
        done.append("parent")

    tasks.spawn(parent(), "parent")
    assert await tasks.drain(timeout=1)
    assert done == ["parent", "child"]
    assert len(tasks) == 0


async def test_a_failing_background_task_is_logged_not_lost() -> None:
    tasks = BackgroundTasks()

    async def broken() -> None:
        raise RuntimeError("boom")

    with structlog.testing.capture_logs() as logs:
        tasks.spawn(broken(), "slack.broken")
        await tasks.drain(timeout=1)
    assert tasks.failures == 1
    [entry] = [e for e in logs if e["event"] == "slack.background_failed"]
    assert entry["task"] == "slack.broken"
    assert isinstance(entry["exc_info"], RuntimeError)


async def test_drain_gives_up_after_the_timeout_and_cancel_stops_the_rest() -> None:
    tasks = BackgroundTasks()
    tasks.spawn(asyncio.sleep(10), "slow")
    assert not await tasks.drain(timeout=0.01)
    await tasks.cancel()
    assert len(tasks) == 0


async def test_the_security_group_is_refreshed_after_its_ttl(
    slack_app: SlackApp, clock: FakeClock
) -> None:
    fake = FakeSlackAPI()
    fake.usergroups[SECURITY_GROUP] = [GROUP_MEMBER]
    await fake.start()
    try:
        client = slack_app.frontend.client
        client.base_url = fake.url
        roles = Roles(clock=clock)
        group = SecurityGroup(client, SECURITY_GROUP, roles, ttl=60, retry=5)
        member = Actor(user_id=GROUP_MEMBER, platform=Platform.SLACK)

        await group.ensure_fresh()
        await group.ensure_fresh()
        assert roles.is_security(member)
        assert len(fake.calls_to("usergroups.users.list")) == 1

        fake.usergroups[SECURITY_GROUP] = []
        fake.fail_next("usergroups.users.list", status=500)
        clock.advance(61)
        await group.ensure_fresh()
        assert roles.is_security(member), "a failed refresh keeps the members it knew a while"
        clock.advance(1)
        await group.ensure_fresh()
        assert len(fake.calls_to("usergroups.users.list")) == 2
        clock.advance(5)
        await group.ensure_fresh()
        assert not roles.is_security(member)
    finally:
        await fake.stop()


async def test_a_listener_bug_is_a_plain_500_and_logged(
    slack: SlackDriver, slack_app: SlackApp, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(slack_app.core.service, "verifications", broken)
    caplog.set_level(logging.ERROR)
    with structlog.testing.capture_logs() as logs:
        reply = await slack.command("list")
    assert reply.status == 500
    assert reply.json == {"ok": False, "error": "internal error"}
    assert "secret internals" not in reply.text
    assert any(entry["event"] == "slack.listener_failed" for entry in logs)


def test_the_start_modal_asks_for_the_playbook_only_when_there_is_a_choice() -> None:
    registry = PlaybookRegistry.from_directory(REPO_ROOT / "playbooks")
    only = [registry.get("pre-offer")]
    single = start_modal("", only, "pre-offer")
    assert [b["block_id"] for b in single["blocks"]][-1] == "payout_account"
    both = start_modal("", list(registry), registry.default_id)
    select = both["blocks"][-1]["element"]
    assert select["initial_option"]["value"] == "pre-offer"


async def test_the_token_and_the_signing_secret_never_reach_the_logs(
    slack: SlackDriver,
    fake_slack: FakeSlackAPI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every library logging at DEBUG, through a refused request, Web API calls and failures."""
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        body = slack.command_body("help")
        headers = slack.signed_headers(body, "application/x-www-form-urlencoded")
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
        async with slack.session.post(slack.url, data=body, headers=headers) as response:
            assert response.status == 401
        await slack.start()
        fake_slack.fail_next("chat.postMessage", status=500)
        await slack.answer("not_provided")
        await slack.settle()
    logged = caplog.text + "\n" + "\n".join(repr(entry) for entry in logs)
    assert "views.open" in logged, "the Web API calls were logged"
    assert TOKEN not in logged
    assert SECRET not in logged
    assert headers["X-Slack-Signature"] not in logged


async def test_background_work_runs_a_few_jobs_at_a_time_and_finishes_them_all() -> None:
    tasks = BackgroundTasks(concurrency=2)
    running = 0
    most = 0
    finished: list[int] = []

    async def job(number: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        finished.append(number)

    for number in range(6):
        tasks.spawn(job(number), f"job-{number}")
    assert await tasks.drain(timeout=5)
    assert most == 2
    assert sorted(finished) == list(range(6))
