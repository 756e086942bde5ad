"""Fixtures of the Teams suite: the fake connector, and the served app with its chats."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.fakes.bot_connector import FakeConnector
from tests.teams.harness import HM, Chat, TeamsApp, teams_settings


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def start_app(database: str) -> AsyncIterator[Callable[..., Awaitable[TeamsApp]]]:
    """Serve verifybot on the test's database; settings overrides as keyword arguments."""
    running: list[TeamsApp] = []

    async def start(**overrides: Any) -> TeamsApp:
        app = await TeamsApp(teams_settings(database, **overrides)).start()
        running.append(app)
        return app

    yield start
    for app in running:
        await app.stop()


@pytest.fixture
async def teams_app(start_app: Callable[..., Awaitable[TeamsApp]]) -> TeamsApp:
    return await start_app()


@pytest.fixture
def hm_chat(teams_app: TeamsApp, connector: FakeConnector) -> Chat:
    """The hiring manager's personal chat with the bot."""
    return Chat(teams_app, connector, HM, "a:hm-personal-chat")
