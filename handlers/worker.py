"""`verifybot work`: the work after the acks, in a process of its own (PostgreSQL only).

Jobs, notices, reminders and the daily tasks run here, beside `verifybot serve --web-only`
processes that only answer requests: a job's Python work then never holds the GIL an ack
waits for. The front ends are built as `serve` builds them (their jobs and notifiers), but
nothing of theirs listens; a listener on the database's work channel wakes the workers the
moment a web process queues something. Any number of `work` processes may share a database.
"""

from __future__ import annotations

import asyncio
import threading

import structlog
from aiohttp import web

from bot.config import Settings
from bot.errors import SEPARATE_WORK_NEEDS_POSTGRESQL, ConfigError
from bot.runtime import Core, build_core
from handlers.server import (
    build_app,
    freeze_startup_heap,
    health_app,
    listening,
    periodic_tasks,
    until_stopped,
)

log = structlog.get_logger("verifybot.worker")
LISTENER_STOP_SECONDS = 5.0


def _wake_workers(core: Core) -> None:
    core.jobs.kick()
    core.worker.kick()


async def work(settings: Settings, health_port: int | None = None) -> None:
    """Run the workers until interrupted; /healthz and /metrics on `health_port` if given."""
    core = build_core(settings)
    try:
        if not core.store.waits_on_network:
            raise ConfigError(f"verifybot work {SEPARATE_WORK_NEEDS_POSTGRESQL}")
        health = None
        if health_port is not None:
            health = await listening(health_app(core), settings.host, health_port)
        runner = await _started(build_app(core))
        freeze_startup_heap()
        stop = threading.Event()
        listener = threading.Thread(
            target=core.store.listen_for_work,
            args=(lambda: _wake_workers(core), stop),
            name="verifybot-work-listener",
            daemon=True,
        )
        listener.start()
        where = f" (/healthz on port {health_port})" if health_port else ""
        log.info(f"verifybot work running{where}")
        try:
            async with periodic_tasks(core):
                await until_stopped(asyncio.Event().wait())
        finally:
            stop.set()
            await asyncio.to_thread(listener.join, LISTENER_STOP_SECONDS)
            await runner.cleanup()
            if health is not None:
                await health.cleanup()
    finally:
        core.close()


async def _started(app: web.Application) -> web.AppRunner:
    """The application's start-up run (front ends, outbox and job workers) without a site."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    return runner
