"""How a `verifybot work` process learns of work a `serve --web-only` process queued: on
PostgreSQL each transaction that queues a job or a notice notifies the schema's work channel
at its commit, and `listen_for_work` wakes on it; SQLite has no other process to tell."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.errors import StoreError
from bot.store import Store
from handlers.server import build_app
from tests.database import ON_POSTGRES, open_store

on_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's NOTIFY (CI's second run)")


@contextmanager
def listened(database: str) -> Iterator[tuple[Store, psycopg.Connection[Any], str]]:
    """A store on the test's database, and a connection of its own listening on the store's
    work channel (the channel's name too)."""
    store = open_store(database)
    channel = store.db.work_channel  # type: ignore[attr-defined]
    try:
        with psycopg.connect(database, autocommit=True) as listener:
            listener.execute(f'LISTEN "{channel}"')
            yield store, listener, channel
    finally:
        store.close()


def notices(listener: psycopg.Connection[Any], timeout: float = 2.0) -> list[str]:
    """The channel of the first notice within `timeout` seconds; [] when none came."""
    return [notice.channel for notice in listener.notifies(timeout=timeout, stop_after=1)]


@on_postgres
def test_queueing_a_job_notifies_the_schemas_work_channel(database: str) -> None:
    with listened(database) as (store, listener, channel):
        assert channel.startswith("verifybot_work:test_")
        store.insert_job("x", {}, "job:1")
        assert notices(listener) == [channel]


@on_postgres
def test_queueing_a_notice_notifies_at_the_commit_not_before(database: str) -> None:
    with listened(database) as (store, listener, channel):
        with store.transaction():
            store.enqueue(None, "digest", "slack", {"text": "hello"})
            store.enqueue(None, "digest", "teams", {"text": "hello"})
            assert notices(listener, timeout=0.3) == []
        assert notices(listener) == [channel]
        assert notices(listener, timeout=0.3) == [], "one notice for the transaction"


@on_postgres
def test_listen_for_work_wakes_on_each_notice_and_comes_back_after_a_lost_connection(
    database: str,
) -> None:
    store = open_store(database)
    wakes: list[float] = []
    woken = threading.Event()

    def on_wake() -> None:
        wakes.append(time.monotonic())
        woken.set()

    def wait_for_wake() -> None:
        assert woken.wait(10), "listen_for_work did not wake"
        woken.clear()

    stop = threading.Event()
    listener = threading.Thread(target=store.listen_for_work, args=(on_wake, stop), daemon=True)
    listener.start()
    try:
        wait_for_wake()  # once when it starts listening: what was queued before
        store.insert_job("x", {}, "job:1")
        wait_for_wake()
        channel = store.db.work_channel  # type: ignore[attr-defined]
        with psycopg.connect(database, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s",
                [f'LISTEN "{channel}"'],
            ).fetchall()
        assert ended == [(True,)]
        wait_for_wake()  # listening again, after the pause
        store.insert_job("x", {}, "job:2")
        wait_for_wake()
    finally:
        stop.set()
        listener.join(5)
        store.close()
    assert not listener.is_alive(), "listen_for_work did not stop"
    assert len(wakes) == 4


def test_on_sqlite_no_other_process_is_told_and_none_may_listen(tmp_path: Path) -> None:
    store = Store(tmp_path / "one.db")
    try:
        store.db.wake_workers()  # nothing to wake, and nothing written
        with pytest.raises(StoreError, match="needs PostgreSQL"):
            store.listen_for_work(lambda: None, threading.Event())
    finally:
        store.close()


@on_postgres
def test_a_rolled_back_notice_wakes_nobody_and_leaves_no_wake_behind(database: str) -> None:
    with listened(database) as (store, listener, channel):
        with pytest.raises(RuntimeError), store.transaction():
            store.enqueue(None, "digest", "slack", {"text": "hello"})
            raise RuntimeError("rolled back")
        with store.transaction():
            store.release_outbox("nobody")  # a write that queues nothing
        assert notices(listener, timeout=0.5) == []
        store.enqueue(None, "digest", "slack", {"text": "outside a transaction"})
        assert notices(listener) == [channel]


@on_postgres
def test_a_serve_that_runs_its_own_work_tells_no_other_process(make_core, database: str) -> None:
    """A NOTIFY serialises the commits that send one: a process whose own workers run what it
    queues sends none; a web-only one does."""
    with listened(database) as (_, listener, channel):
        serve = make_core()
        build_app(serve, frontends=[], runs_work=True)
        serve.store.insert_job("x", {}, "job:1")
        with serve.store.transaction():
            serve.store.enqueue(None, "digest", "slack", {"text": "hello"})
        serve.store.db.wake_workers()
        assert notices(listener, timeout=0.5) == []

        web_only = make_core()
        build_app(web_only, frontends=[], runs_work=False)
        web_only.store.insert_job("x", {}, "job:2")
        assert notices(listener) == [channel]
        assert len(serve.store.jobs(["pending"])) == 2
