"""Work that must happen later, exactly once, across restarts: a row per item in the database.

A small stand-in for the generic job queue (bot/jobs.py): `enqueue(kind, key, payload)` and a
handler per kind are the whole interface, so moving onto the job queue changes this module only.
A handler returns when the work is done, raises `Later` to look again after a while (nothing
failed: e.g. a verification not finished yet), or raises anything else to be retried with
backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog

from bot.outbox import Backoff, DeliveryError
from bot.store import Store

log = structlog.get_logger("verifybot.deferred")
Handler = Callable[[dict[str, Any]], Awaitable[None]]
IDLE_SECONDS = 10.0


class Later(Exception):
    """Not yet: look again after `seconds`; no attempt is counted."""

    def __init__(self, seconds: float = IDLE_SECONDS, why: str = "") -> None:
        super().__init__(why)
        self.seconds = seconds


class Deferred:
    """Runs queued work by kind; `kick()` wakes it when something was queued or changed."""

    def __init__(self, store: Store, backoff: Backoff | None = None) -> None:
        self.store = store
        self.backoff = backoff or Backoff()
        self.handlers: dict[str, Handler] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def enqueue(self, kind: str, key: str, payload: dict[str, Any]) -> bool:
        """Queue work once per key (in the caller's transaction, if any); False when seen."""
        with self.store.transaction():
            created = self.store.enqueue_work(kind, key, payload)
        if created:
            self.kick()
        return created

    def kick(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Run every due item whose kind has a handler; how many were done."""
        done = 0
        async with self._lock:
            for row in self.store.due_work(self.store.clock()):
                handler = self.handlers.get(row["kind"])
                if handler is not None and await self._run(row, handler):
                    done += 1
        return done

    async def _run(self, row: dict[str, Any], handler: Handler) -> bool:
        try:
            await handler(self.store.work_payload(row))
        except Later as later:
            self._again(row, later.seconds, str(later) or None, failed=False)
            return False
        except Exception as error:
            retry_after = error.retry_after if isinstance(error, DeliveryError) else None
            delay = self.backoff.delay(row["attempts"] + 1, retry_after)
            log.warning(
                "deferred.retry_scheduled",
                kind=row["kind"],
                item=row["id"],
                attempts=row["attempts"] + 1,
                retry_in=round(delay, 2),
                error=f"{type(error).__name__}: {error}"[:300],
            )
            self._again(row, delay, f"{type(error).__name__}: {error}", failed=True)
            return False
        with self.store.transaction():
            self.store.work_done(row["id"])
        log.info("deferred.done", kind=row["kind"], item=row["id"])
        return True

    def _again(self, row: dict[str, Any], seconds: float, error: str | None, failed: bool) -> None:
        due = self.store.clock() + timedelta(seconds=seconds)
        with self.store.transaction():
            self.store.work_later(row["id"], due, error, failed)

    async def run(self, idle_seconds: float = IDLE_SECONDS) -> None:
        """Run due work until cancelled: now, when kicked, and when the next item falls due."""
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("deferred.run_failed")
            wait = idle_seconds
            due = self.store.next_work_due()
            if due is not None:
                until = (due - self.store.clock()).total_seconds()
                wait = max(0.05, min(idle_seconds, until))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
