"""The one aiohttp application: /slack/events, /api/messages, /healthz and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
from bot.config import Settings
from bot.errors import SEPARATE_WORK_NEEDS_POSTGRESQL, ConfigError
from bot.runtime import Core, build_core

log = structlog.get_logger("verifybot.server")

CORE: web.AppKey[Core] = web.AppKey("core", Core)
FRONTENDS: web.AppKey[list] = web.AppKey("frontends", list)
MAX_BODY_BYTES = 1024 * 1024
JOBS_DRAIN_SECONDS = 5.0


class Frontend(Protocol):
    """A chat platform's adapter: adds its routes and notifier to the application."""

    name: str

    def attach(self, app: web.Application) -> None: ...


@web.middleware
async def no_stack_traces(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Unexpected errors become a plain JSON 500; the traceback goes to the log only."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("http.unhandled_error", path=request.path)
        return web.json_response({"ok": False, "error": "internal error"}, status=500)


@web.middleware
async def acks_first(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """While a chat platform's request (a POST) is being answered, the job worker claims no
    new job (bot/jobs.py, Requests): its ack never waits for the work after earlier acks."""
    if request.method != "POST":
        return await handler(request)
    with request.app[CORE].jobs.requests.answering():
        return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    core = request.app[CORE]
    try:
        database = core.store.health()
    except Exception as error:
        log.warning("healthz.database_error", error=str(error))
        return web.json_response({"ok": False, "database": {"ok": False}}, status=503)
    frontends = [frontend.name for frontend in request.app[FRONTENDS]]
    return web.json_response({"ok": True, "database": database, "frontends": frontends})


async def metrics_endpoint(request: web.Request) -> web.Response:
    metrics.OUTBOX_PENDING.set(request.app[CORE].store.outbox_pending())
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _outbox_worker(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[CORE].worker.run(), name="verifybot-outbox")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _job_worker(app: web.Application) -> AsyncIterator[None]:
    """Jobs left by a previous process run now; at shutdown, running ones get
    JOBS_DRAIN_SECONDS to finish and the rest stay in the database for the next start."""
    jobs = app[CORE].jobs
    task = asyncio.create_task(jobs.run(), name="verifybot-jobs")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await jobs.stop(JOBS_DRAIN_SECONDS)


def slack_frontend(core: Core, socket_mode: bool = False) -> Frontend | None:
    """The Slack adapter when its variables are set; otherwise None, said in one line."""
    settings = core.settings
    missing = settings.slack_missing(socket_mode)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        log.warning(f"Slack is disabled: {' and '.join(missing)} {verb} not set")
        return None
    if not settings.slack_security_channel:
        raise ConfigError(
            "Slack is enabled but VERIFYBOT_SLACK_SECURITY_CHANNEL is not set: "
            "set it to the channel id where escalations go (e.g. C0123456789)"
        )
    from handlers.slack.frontend import SlackFrontend

    return SlackFrontend(core)


def teams_frontend(core: Core) -> Frontend | None:
    """The Teams adapter with MicrosoftAppId or VERIFYBOT_TEAMS_EMULATOR; otherwise None."""
    settings = core.settings
    if not settings.teams_enabled:
        log.info("Teams is disabled: VERIFYBOT_TEAMS_ENABLED is false")
        return None
    if not settings.teams_configured:
        log.warning(
            "Teams is disabled: MicrosoftAppId is not set "
            "(VERIFYBOT_TEAMS_EMULATOR=1 serves the Bot Framework Emulator on this machine)"
        )
        return None
    if not settings.microsoft_app_id:
        log.warning(
            "Teams runs unauthenticated for the Bot Framework Emulator "
            "(VERIFYBOT_TEAMS_EMULATOR=1): only this machine may post, never use it in production"
        )
    from handlers.teams.frontend import TeamsFrontend

    return TeamsFrontend(core)


def integration_frontends(core: Core, chat: list[Frontend]) -> list[Frontend]:
    """The REST API (with VERIFYBOT_API_TOKENS) and the Greenhouse web hook (with its secret)."""
    found: list[Frontend] = []
    if core.settings.api_tokens:
        from handlers.api.frontend import ApiFrontend

        found.append(ApiFrontend(core))
    if core.settings.greenhouse_secret is not None:
        if not core.settings.slack_hiring_channel or not any(f.name == "slack" for f in chat):
            raise ConfigError(
                "the Greenhouse web hook needs Slack and VERIFYBOT_SLACK_HIRING_CHANNEL: "
                "set it to the channel id where unassigned verifications go (e.g. C0123456789)"
            )
        from handlers.greenhouse.frontend import GreenhouseFrontend

        found.append(GreenhouseFrontend(core))
    return found


def build_app(
    core: Core,
    frontends: list[Frontend] | None = None,
    socket_mode: bool = False,
    runs_work: bool = True,
) -> web.Application:
    """The application with the given front ends, or those the settings enable; with
    `runs_work` its start starts the outbox and job workers too (not so for `--web-only`),
    which then run all the work this process queues: no other process is told of it."""
    app = web.Application(middlewares=[acks_first, no_stack_traces], client_max_size=MAX_BODY_BYTES)
    app[CORE] = core
    if frontends is None:
        candidates = (slack_frontend(core, socket_mode), teams_frontend(core))
        frontends = [frontend for frontend in candidates if frontend is not None]
        frontends += integration_frontends(core, frontends)
    app[FRONTENDS] = frontends
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_endpoint)
    for frontend in frontends:
        frontend.attach(app)
    if runs_work:
        core.store.runs_its_own_work()
        app.cleanup_ctx.append(_outbox_worker)
        app.cleanup_ctx.append(_job_worker)
    return app


def health_app(core: Core) -> web.Application:
    """/healthz and /metrics only: what a `verifybot work` process serves a probe."""
    app = web.Application()
    app[CORE] = core
    app[FRONTENDS] = []
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_endpoint)
    return app


def freeze_startup_heap() -> None:
    """Leave what startup built (modules, validators, the app) out of every later garbage
    collection: a full collection walked it all with the event loop stopped, 40 ms at a
    time, in the middle of answering requests."""
    gc.collect()
    gc.freeze()


async def listening(app: web.Application, host: str, port: int) -> web.AppRunner:
    """The application started and listening on host:port; ConfigError when it cannot."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise ConfigError(
            f"VERIFYBOT_PORT={port}: cannot listen on {host}:{port} ({error.strerror}); "
            "stop what uses it, or choose another with --port (VERIFYBOT_PORT)"
        ) from None
    return runner


@contextlib.asynccontextmanager
async def periodic_tasks(core: Core) -> AsyncIterator[None]:
    """The daily tasks and the chaser, running while the block runs."""
    tasks = [
        asyncio.create_task(core.daily.run(), name="verifybot-daily"),
        asyncio.create_task(core.chaser.run(), name="verifybot-chase"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def until_stopped(work: Awaitable[object]) -> None:
    """Run `work` until it ends or SIGTERM / SIGINT arrives, then return for a clean shutdown."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopped.set)
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, waiter):
            pending.cancel()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signal_number)
    failure = task.exception() if task.done() and not task.cancelled() else None
    if failure is not None:
        raise failure
    log.info("verifybot stopping")


async def serve(settings: Settings, socket_mode: bool = False) -> None:
    """Run until interrupted; with `settings.web_only`, answer requests only and leave the
    work after them to `verifybot work` processes (PostgreSQL only)."""
    core = build_core(settings)
    try:
        if settings.web_only and not core.store.waits_on_network:
            raise ConfigError(f"VERIFYBOT_WEB_ONLY (--web-only) {SEPARATE_WORK_NEEDS_POSTGRESQL}")
        app = build_app(core, socket_mode=socket_mode, runs_work=not settings.web_only)
        runner = await listening(app, settings.host, settings.port)
        freeze_startup_heap()
        role = " (web only: `verifybot work` runs the jobs)" if settings.web_only else ""
        log.info(f"verifybot listening on http://{settings.host}:{settings.port}{role}")
        try:
            async with contextlib.AsyncExitStack() as background:
                if not settings.web_only:
                    await background.enter_async_context(periodic_tasks(core))
                if socket_mode:
                    slack = next((f for f in app[FRONTENDS] if f.name == "slack"), None)
                    if slack is None:
                        raise ConfigError("--socket-mode needs Slack to be configured")
                    await until_stopped(slack.run_socket_mode())
                else:
                    await until_stopped(asyncio.Event().wait())
        finally:
            await runner.cleanup()
    finally:
        core.close()
