"""Socket Mode: no signing secret and no HTTP route; requests arrive over the websocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from pydantic import SecretStr

from bot import presenter
from bot.config import Settings
from bot.runtime import build_core
from handlers.slack.frontend import EVENTS_PATH, SlackFrontend
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import HM, SlackDriver


@pytest.fixture
async def socket_frontend(
    slack_settings: Settings, fake_slack: FakeSlackAPI
) -> AsyncIterator[SlackFrontend]:
    settings = slack_settings.model_copy(
        update={"slack_signing_secret": None, "slack_app_token": SecretStr("xapp-1-test")}
    )
    core = build_core(settings)
    frontend = SlackFrontend(core)
    await frontend.start()
    yield frontend
    await frontend.stop()
    core.close()


def test_without_a_signing_secret_there_is_no_http_route(
    socket_frontend: SlackFrontend,
) -> None:
    app = web.Application()
    socket_frontend.attach(app)
    assert all(route.resource.canonical != EVENTS_PATH for route in app.router.routes())
    assert socket_frontend.core.worker.notifiers["slack"] is socket_frontend.notifier


async def test_socket_mode_serves_the_slash_command(
    socket_frontend: SlackFrontend, fake_slack: FakeSlackAPI
) -> None:
    running = asyncio.create_task(socket_frontend.run_socket_mode())
    try:
        driver = SlackDriver(None, "", fake_slack, None)  # type: ignore[arg-type]
        help_command = dict(parse_qsl(driver.command_body("help")))
        acked = await fake_slack.push("slash_commands", help_command)
        assert acked["payload"] == {"text": presenter.usage("/verify ")}

        start = dict(parse_qsl(driver.command_body("start Jane Doe", HM)))
        await fake_slack.push("slash_commands", start)
        await socket_frontend.background.drain(5)
        [opened] = fake_slack.state.views
        assert opened.view["callback_id"] == "vb_start"
        assert fake_slack.calls_to("apps.connections.open", ok=True)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def test_socket_mode_needs_the_app_token(slack_settings: Settings) -> None:
    core = build_core(slack_settings.model_copy(update={"slack_app_token": None}))
    try:
        with pytest.raises(ValueError, match="SLACK_APP_TOKEN"):
            await SlackFrontend(core).run_socket_mode()
    finally:
        core.close()
