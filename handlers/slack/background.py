"""Work scheduled after the ack: tasks held by strong references, failures logged, drainable."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger("verifybot.slack")


class BackgroundTasks:
    """The tasks a front end started after acking; `drain()` waits for all of them.

    At most `concurrency` of them run at once, so that under a burst the event loop keeps
    time for new requests (their acks) instead of sharing it with every pending job.
    """

    def __init__(self, concurrency: int = 4) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self.failures = 0

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self._in_slot(work), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    async def _in_slot(self, work: Coroutine[Any, Any, Any]) -> Any:
        async with self._slots:
            return await work

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.failures += 1
            log.error("slack.background_failed", task=task.get_name(), exc_info=error)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until no task is left, including tasks started meanwhile; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._tasks:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    async def cancel(self) -> None:
        """Cancel what is left and wait for it to stop."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
