"""Store work off the event loop: on a worker thread where the database is a server, in
place on SQLite; service calls that await nothing run to their end; wakes across threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from bot.blocking import Wake, finished, off_loop
from bot.store import Store
from tests.conftest import FakeClock
from tests.database import open_store


@pytest.fixture
def store(database: str, clock: FakeClock) -> Iterator[Store]:
    opened = open_store(database, clock=clock)
    yield opened
    opened.close()


async def test_store_work_leaves_the_loop_only_where_the_database_is_a_server(
    store: Store,
) -> None:
    def where(key: str) -> tuple[int, bool]:
        store.mark_shown(key)
        return threading.get_ident(), store.click_state(None, key)[1]

    thread, shown = await off_loop(store, where, "U1|C1|1.2|VB-1|step")

    assert shown
    assert (thread != threading.get_ident()) == store.waits_on_network
    assert store.waits_on_network == (store.dialect == "postgresql")


async def test_a_worker_thread_s_error_reaches_the_caller(store: Store) -> None:
    def failing() -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        await off_loop(store, failing)


async def test_a_call_that_awaits_nothing_is_run_to_its_end() -> None:
    async def answer(value: int) -> int:
        async def inner() -> int:
            return value * 2

        return await inner()

    assert finished(answer(21)) == 42


async def test_a_call_that_awaits_is_refused_not_left_half_done() -> None:
    async def waits() -> None:
        await asyncio.sleep(0.01)

    with pytest.raises(RuntimeError, match="awaited"):
        finished(waits())


async def test_a_wake_set_on_another_thread_wakes_the_loop() -> None:
    wake = Wake()
    wake.bind()
    thread = threading.Thread(target=wake.set)

    thread.start()
    async with asyncio.timeout(2):
        await wake.event.wait()
    thread.join()

    assert wake.event.is_set()
