"""The shared aiohttp application: health, metrics, errors without stack traces."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.models import Actor, Platform
from bot.runtime import Core, build_core
from handlers.server import ConfigError, build_app, freeze_startup_heap, slack_frontend

CANDIDATE = {
    "name": "Jane Doe",
    "email": "jane@example.com",
    "home_address": "123 Main St, Springfield, IL 62701",
    "shipping_address": "123 Main Street, Springfield, IL 62701",
}


class Exploding:
    """A front end whose route fails, to show what a client sees of an unexpected error."""

    name = "exploding"

    def attach(self, app: web.Application) -> None:
        async def explode(request: web.Request) -> web.Response:
            await request.read()
            raise RuntimeError("secret internals")

        app.router.add_post("/explode", explode)


class Watching:
    """A front end whose route says how many requests the job worker sees being answered."""

    name = "watching"

    def __init__(self, core: Core) -> None:
        self.core = core

    def attach(self, app: web.Application) -> None:
        async def watch(request: web.Request) -> web.Response:
            return web.json_response({"active": self.core.jobs.requests.active})

        app.router.add_post("/watch", watch)


@pytest.fixture
def server_core(tmp_path) -> Core:
    core = build_core(Settings(db=str(tmp_path / "server.db"), teams_enabled=False))
    yield core
    core.close()


@pytest.fixture
async def client(server_core: Core) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app(server_core, [Exploding()]))) as test_client:
        yield test_client


async def test_healthz_reports_the_database(client: TestClient, server_core: Core) -> None:
    await server_core.service.start(Actor(user_id="U1", platform=Platform.CLI), CANDIDATE)
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 200
    assert body["ok"] is True
    assert body["database"]["journal_mode"] == "wal"
    assert body["database"]["outbox_pending"] == 0
    assert body["database"]["schema_version"] >= 1


@pytest.mark.sqlite_only
def test_health_counts_no_table_whole(server_core: Core) -> None:
    """/healthz and /metrics stay cheap at a million verifications: the only count is the
    outbox's pending rows, read on its status index (the query plan is SQLite's)."""
    plan = server_core.store.db.execute(
        "EXPLAIN QUERY PLAN SELECT count(*) AS n FROM outbox WHERE status = 'pending'"
    ).fetchall()
    assert "USING COVERING INDEX idx_outbox_due (status=?)" in " ".join(str(r[-1]) for r in plan)
    assert set(server_core.store.health()) == {
        "ok",
        "database",
        "schema_version",
        "journal_mode",
        "outbox_pending",
    }


async def test_metrics_are_prometheus_text(client: TestClient, server_core: Core) -> None:
    await server_core.service.start(Actor(user_id="U1", platform=Platform.CLI), CANDIDATE)
    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200
    assert "verifybot_verifications_started_total" in text
    assert "verifybot_outbox_pending" in text


async def test_an_unexpected_error_is_a_plain_500_without_a_trace(client: TestClient) -> None:
    response = await client.post("/explode", data=b"{}")
    text = await response.text()
    assert response.status == 500
    assert "secret internals" not in text
    assert "Traceback" not in text


async def test_an_oversized_body_is_refused(client: TestClient) -> None:
    response = await client.post("/explode", data=b"x" * (2 * 1024 * 1024))
    assert response.status == 413


def test_slack_without_its_variables_is_disabled(tmp_path) -> None:
    core = build_core(Settings(db=str(tmp_path / "a.db"), teams_enabled=False))
    try:
        assert slack_frontend(core) is None
    finally:
        core.close()


def test_slack_without_a_security_channel_is_a_startup_error(tmp_path) -> None:
    settings = Settings(
        db=str(tmp_path / "b.db"),
        slack_bot_token="xoxb-test",
        slack_signing_secret="secret",
        teams_enabled=False,
    )
    core = build_core(settings)
    try:
        with pytest.raises(ConfigError, match="VERIFYBOT_SLACK_SECURITY_CHANNEL"):
            slack_frontend(core)
    finally:
        core.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_starts_without_slack_or_teams_says_why_and_stops_cleanly_on_sigterm(
    tmp_path,
) -> None:
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "VERIFYBOT_", "Microsoft"))
    }
    command = [sys.executable, "-m", "handlers.cli", "serve", "--port", str(port)]
    command += ["--db", str(tmp_path / "serve.db")]
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        health = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and health is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                    health = json.load(reply)
            except OSError:
                time.sleep(0.1)
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=20)
    finally:
        server.kill()
    assert health is not None and health["database"]["journal_mode"] == "wal"
    assert server.returncode == 0
    disabled = [line for line in stderr.splitlines() if "Slack is disabled" in line]
    assert len(disabled) == 1
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not set" in disabled[0]
    teams = [line for line in stderr.splitlines() if "Teams is disabled" in line]
    assert len(teams) == 1
    assert "MicrosoftAppId is not set" in teams[0]
    assert health["frontends"] == []
    assert "Traceback" not in stderr


async def test_the_job_worker_waits_while_a_post_is_answered(server_core: Core) -> None:
    app = build_app(server_core, [Watching(server_core)])
    async with TestClient(TestServer(app)) as watching:
        response = await watching.post("/watch")
        assert await response.json() == {"active": 1}
        assert server_core.jobs.requests.active == 0
        await watching.get("/healthz")
        assert server_core.jobs.requests.active == 0


def test_the_startup_heap_is_left_out_of_later_collections() -> None:
    gc.unfreeze()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 10_000
        assert gc.get_count()[0] < 100, "collected first: nothing of startup is left to collect"
    finally:
        gc.unfreeze()
