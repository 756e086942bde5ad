"""Store work that blocks, kept off the event loop where it waits on a network.

On PostgreSQL every statement is a round trip; a job's thirty of them on the event loop
would hold up the acks of the requests that arrive meanwhile. There the work runs on a
worker thread (the backend gives each thread its own pooled connection). On SQLite it runs
in place: one connection, statements of microseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from bot.store import Store

P = ParamSpec("P")
T = TypeVar("T")


async def off_loop(store: Store, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`call(*args, **kwargs)`: on a worker thread when the store waits on a network."""
    if not store.waits_on_network:
        return call(*args, **kwargs)
    return await asyncio.to_thread(call, *args, **kwargs)


def finished(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a service call that awaits nothing (`reads_once`), run here to its end:
    the form in which one runs on a worker thread."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    name = getattr(coroutine, "__qualname__", "a service call")
    raise RuntimeError(f"{name} awaited; it cannot run off the event loop")


class Wake:
    """An asyncio.Event a worker thread may set too: from another thread the set is handed to
    the loop that waits on it."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind(self) -> None:
        """Remember the running loop as the one that waits."""
        self.loop = asyncio.get_running_loop()

    def set(self) -> None:
        loop = self.loop
        if loop is None or _running_loop() is loop:
            self.event.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self.event.set)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
