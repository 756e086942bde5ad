"""The durable job queue on a real database (SQLite or PostgreSQL): dedupe, claim, lease, retry,
exactly once."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta

import psycopg
import pytest
import structlog

from bot.errors import StoreBusy
from bot.jobs import Job, JobWorker, QueueBusy, Requests, RetryLater
from bot.outbox import Backoff
from bot.schema import SCHEMA_VERSION
from bot.store import Store
from tests.conftest import FakeClock
from tests.database import ON_POSTGRES, jobs_locked, write_lock_held
from tests.database import open_store as open_database

KIND = "test.work"


@pytest.fixture
def stores(database: str, clock: FakeClock) -> Iterator[list[Store]]:
    """Stores (connections) on the test's one database; closed at the end."""
    opened: list[Store] = []
    yield opened
    for store in opened:
        store.close()


def open_store(stores: list[Store], database: str, clock: FakeClock) -> Store:
    store = open_database(database, clock=clock)
    stores.append(store)
    return store


def worker_on(store: Store, **options: object) -> JobWorker:
    return JobWorker(store, backoff=Backoff(base=1.0, cap=4.0, seed=3), **options)


def job_row(store: Store, job_id: int = 1) -> dict:
    row = store.job(job_id)
    assert row is not None
    return row


async def test_a_repeated_dedupe_key_is_one_job(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    assert worker.enqueue(KIND, {"n": 1}, "click-1") is True
    assert worker.enqueue(KIND, {"n": 2}, "click-1") is False
    assert worker.enqueue(KIND, {"n": 3}) is True
    rows = store.jobs()
    assert [(row["dedupe_key"], json.loads(row["payload"])) for row in rows[:1]] == [
        ("click-1", {"n": 1})
    ]
    assert len(rows) == 2
    assert store.schema_version == SCHEMA_VERSION


async def test_a_job_runs_once_and_is_marked_done(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    seen: list[dict] = []

    async def handle(job: Job) -> None:
        seen.append(job.payload)

    worker.register(KIND, handle)
    worker.enqueue(KIND, {"n": 1}, "k")
    assert await worker.drain(timeout=5)
    assert await worker.drain(timeout=5)
    assert seen == [{"n": 1}]
    row = job_row(store)
    assert (row["status"], row["attempts"], row["locked_by"]) == ("done", 1, None)
    assert row["finished_at"] is not None


async def test_kinds_without_a_handler_are_left_for_a_process_that_has_one(
    stores, database, clock
) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    worker.enqueue("slack.answer", {"n": 1}, "k")
    assert await worker.drain(timeout=1)
    assert job_row(store)["status"] == "pending"


async def test_a_failing_job_is_retried_with_backoff_then_marked_failed(
    stores, database, clock
) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store, max_attempts=3)
    attempts: list[int] = []

    async def handle(job: Job) -> None:
        attempts.append(job.attempts)
        raise RetryLater("the chat API is down")

    worker.register(KIND, handle)
    worker.enqueue(KIND, {}, "k")
    await worker.drain(timeout=1)
    row = job_row(store)
    assert (row["status"], row["attempts"], row["last_error"]) == (
        "pending",
        1,
        "the chat API is down",
    )
    assert store.next_job_due([KIND]) > clock.now, "not due again before its backoff"
    assert await worker.drain(timeout=1)
    assert attempts == [1], "nothing runs before the backoff"

    clock.advance(10)
    await worker.drain(timeout=1)
    assert job_row(store)["attempts"] == 2
    clock.advance(10)
    with structlog.testing.capture_logs() as logs:
        await worker.drain(timeout=1)
    assert attempts == [1, 2, 3]
    assert job_row(store)["status"] == "failed"
    [failed] = [entry for entry in logs if entry["event"] == "jobs.failed"]
    assert failed["log_level"] == "error"
    clock.advance(60)
    await worker.drain(timeout=1)
    assert attempts == [1, 2, 3]


@pytest.mark.skipif(not ON_POSTGRES, reason="claims run on a thread where the store is remote")
async def test_drain_sees_a_retry_queued_by_a_job_that_ended_during_its_claim(
    stores, database, clock, monkeypatch
) -> None:
    """The claim read "nothing due" while the job still ran; the job then queued its retry:
    drain must not take that stale reading for "nothing left within the horizon"."""
    store = open_store(stores, database, clock)
    worker = worker_on(store, concurrency=2, lease_seconds=30)
    retried = threading.Event()
    claims = 0
    claim_jobs, retry_job = store.claim_jobs, store.retry_job

    def claim_while_the_job_ends(*args: object) -> object:
        nonlocal claims
        claims += 1
        claimed = claim_jobs(*args)
        if claims == 2:
            assert retried.wait(timeout=5)
            time.sleep(0.1)
        return claimed

    def retry_and_tell(*args: object) -> object:
        written = retry_job(*args)
        retried.set()
        return written

    monkeypatch.setattr(store, "claim_jobs", claim_while_the_job_ends)
    monkeypatch.setattr(store, "retry_job", retry_and_tell)

    async def handle(job: Job) -> None:
        await asyncio.sleep(0.2)
        raise RetryLater("down")

    worker.register(KIND, handle)
    worker.enqueue(KIND, {}, "k")

    assert await worker.drain(timeout=1, horizon=10) is False, "its retry falls due within 4 s"
    assert claims >= 3
    row = job_row(store)
    assert (row["status"], row["attempts"]) == ("pending", 1)


async def test_drain_does_not_stop_while_the_run_loop_claims_what_fell_due(
    stores, database, clock, monkeypatch
) -> None:
    """The job falls due while drain reads when the next one is due, and the worker's own run
    loop is woken for it: that claim waits for the read, so drain does not take the claimed
    job's lease (30 s off) for "nothing due within the horizon" while the job runs. (On
    PostgreSQL the read runs on a thread, so without the wait the loop claimed meanwhile.)"""
    store = open_store(stores, database, clock)
    worker = worker_on(store, lease_seconds=30)
    read_next_due = store.next_job_due
    reads = 0

    def read_as_the_job_falls_due(*args: object) -> object:
        nonlocal reads
        reads += 1
        if reads == 1:
            clock.advance(10)
            worker.kick()
            time.sleep(0.3)
        return read_next_due(*args)

    async def handle(job: Job) -> None:
        await asyncio.sleep(0.5)

    worker.register(KIND, handle)
    clock.advance(5)
    worker.enqueue(KIND, {}, "k")
    clock.advance(-5)
    monkeypatch.setattr(store, "next_job_due", read_as_the_job_falls_due)
    running = asyncio.create_task(worker.run(idle_seconds=30))
    try:
        assert await worker.drain(timeout=5, horizon=10)
        assert job_row(store)["status"] == "done"
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert reads >= 2


async def test_retry_after_wins_over_a_shorter_backoff(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store)

    async def handle(job: Job) -> None:
        raise RetryLater("rate limited", retry_after=120)

    worker.register(KIND, handle)
    worker.enqueue(KIND, {}, "k")
    await worker.drain(timeout=1)
    assert (store.next_job_due([KIND]) - clock.now).total_seconds() == pytest.approx(120)


async def test_a_crashing_handler_is_logged_and_retried(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    calls = 0

    async def handle(job: Job) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("bug")

    worker.register(KIND, handle)
    worker.enqueue(KIND, {}, "k")
    with structlog.testing.capture_logs() as logs:
        await worker.drain(timeout=1)
    assert any(entry["event"] == "jobs.handler_crashed" for entry in logs)
    clock.advance(10)
    await worker.drain(timeout=1)
    assert calls == 2
    assert job_row(store)["status"] == "done"


async def test_a_job_of_a_dead_worker_is_taken_over_when_its_lease_expires(
    stores, database, clock
) -> None:
    dead = open_store(stores, database, clock)
    assert dead.claim_job([KIND], "dead-worker", clock.now) is None
    worker_on(dead).enqueue(KIND, {"n": 1}, "k")
    claimed = dead.claim_job([KIND], "dead-worker", clock.now + timedelta(seconds=30))
    assert claimed is not None and claimed["status"] == "running"

    alive = open_store(stores, database, clock)
    worker = worker_on(alive, lease_seconds=30)
    seen: list[int] = []

    async def handle(job: Job) -> None:
        seen.append(job.attempts)

    worker.register(KIND, handle)
    assert await worker.drain(timeout=1)
    assert seen == [], "the lease still holds"
    clock.advance(31)
    assert await worker.drain(timeout=1)
    assert seen == [2]
    assert job_row(alive)["status"] == "done"
    assert not dead.finish_job(1, "dead-worker"), "the old owner cannot settle it any more"


async def test_a_running_job_keeps_its_lease_while_it_runs(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store, lease_seconds=30)
    release = asyncio.Event()

    async def handle(job: Job) -> None:
        await release.wait()

    worker.register(KIND, handle)
    worker.enqueue(KIND, {}, "k")
    runner = asyncio.create_task(worker.run(idle_seconds=0.01))
    try:
        while worker.running == 0:
            await asyncio.sleep(0.005)
        clock.advance(25)
        await asyncio.sleep(0.05)
        clock.advance(25)
        other = open_store(stores, database, clock)
        assert other.claim_job([KIND], "thief", clock.now) is None
        release.set()
        while job_row(store)["status"] != "done":
            await asyncio.sleep(0.005)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_two_workers_on_one_file_run_every_job_exactly_once(stores, database, clock) -> None:
    first = worker_on(open_store(stores, database, clock))
    second = worker_on(open_store(stores, database, clock))
    runs: list[tuple[str, int]] = []

    def handler(name: str):
        async def handle(job: Job) -> None:
            await asyncio.sleep(0.001)
            runs.append((name, job.payload["n"]))

        return handle

    first.register(KIND, handler("first"))
    second.register(KIND, handler("second"))
    for number in range(40):
        (first if number % 2 else second).enqueue(KIND, {"n": number}, f"k{number}")
    results = await asyncio.gather(first.drain(timeout=10), second.drain(timeout=10))
    assert results == [True, True]
    assert sorted(number for _, number in runs) == list(range(40))
    assert {name for name, _ in runs} == {"first", "second"}
    assert {row["status"] for row in first.store.jobs()} == {"done"}


async def test_stop_hands_unfinished_jobs_back_for_the_next_start(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store, concurrency=2)
    started = 0

    async def slow(job: Job) -> None:
        nonlocal started
        started += 1
        await asyncio.sleep(30)

    worker.register(KIND, slow)
    for number in range(5):
        worker.enqueue(KIND, {"n": number}, f"k{number}")
    runner = asyncio.create_task(worker.run())
    while started < 2:
        await asyncio.sleep(0.005)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    with structlog.testing.capture_logs() as logs:
        await worker.stop(timeout=0.05)
    assert started == 2, "at most `concurrency` jobs at once, none claimed while stopping"
    rows = store.jobs()
    assert [(row["status"], row["attempts"], row["locked_by"]) for row in rows] == [
        ("pending", 0, None)
    ] * 5
    [left] = [entry for entry in logs if "unfinished" in entry]
    assert left["unfinished"] == 5 and left["interrupted"] == 2

    again = worker_on(open_store(stores, database, clock))
    done: list[int] = []

    async def quick(job: Job) -> None:
        done.append(job.payload["n"])

    again.register(KIND, quick)
    assert await again.drain(timeout=5)
    assert sorted(done) == [0, 1, 2, 3, 4]


async def test_progress_survives_a_rerun(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    sent: list[str] = []

    async def handle(job: Job) -> None:
        for message in ("first", "second"):
            if job.done(message):
                continue
            if message == "second" and job.attempts == 1:
                raise RetryLater("down")
            sent.append(message)
            job.mark(message)

    worker.register(KIND, handle)
    worker.enqueue(KIND, {}, "k")
    await worker.drain(timeout=1)
    clock.advance(10)
    await worker.drain(timeout=1)
    assert sent == ["first", "second"]
    assert json.loads(job_row(store)["progress"]) == ["first", "second"]


async def test_enqueue_waits_a_bounded_time_for_a_locked_database(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store, enqueue_timeout=0.05)
    with jobs_locked(database), pytest.raises(QueueBusy):
        worker.enqueue(KIND, {}, "k")
    assert store.jobs() == []
    assert worker.enqueue(KIND, {}, "k") is True
    if store.dialect == "sqlite":
        busy = store.db.execute("PRAGMA busy_timeout").fetchone()[0]
        assert busy == 10_000, "the store's own timeout is back"


async def test_a_job_insert_waits_for_another_transaction_only_on_sqlite(
    stores, database, clock
) -> None:
    """PostgreSQL: an ack's job never waits for another request's write transaction. SQLite
    has one writer at a time, whatever the statement."""
    store = open_store(stores, database, clock)
    worker = worker_on(store, enqueue_timeout=0.05)
    with write_lock_held(database):
        if store.waits_on_network:
            assert worker.enqueue(KIND, {}, "k") is True
            assert await worker.submit(KIND, {}, "k2") is True
        else:
            with pytest.raises(QueueBusy):
                worker.enqueue(KIND, {}, "k")
    assert len(store.jobs()) == (2 if store.waits_on_network else 0)


async def test_a_claim_takes_up_to_its_limit_of_due_jobs_oldest_first(
    stores, database, clock
) -> None:
    store = open_store(stores, database, clock)
    ids = [store.insert_job(KIND, {"n": n}, f"k{n}")[0] for n in range(5)]
    store.insert_job("other.kind", {}, "other")
    lease = clock.now + timedelta(seconds=30)

    first = store.claim_jobs([KIND], "me", lease, 3)

    assert [row["id"] for row in first.rows] == ids[:3]
    assert {(row["status"], row["locked_by"], row["attempts"]) for row in first.rows} == {
        ("running", "me", 1)
    }
    assert first.next_due is not None and first.next_due <= clock.now, "two are still due"
    rest = store.claim_jobs([KIND], "you", lease, 3)
    assert [row["id"] for row in rest.rows] == ids[3:]
    assert rest.next_due == lease, "none due before the leases run out"
    assert store.claim_jobs([KIND], "you", lease, 3) == ([], lease)
    assert store.claim_jobs([KIND], "you", lease, 0) == ([], lease)
    assert store.claim_jobs(["no.such.kind"], "you", lease, 3) == ([], None)
    assert [row["status"] for row in store.jobs()] == ["running"] * 5 + ["pending"]


async def test_a_worker_fills_its_free_slots_with_one_claim(stores, database, clock) -> None:
    """Six due jobs and four slots: one claim of four; a claim that comes back short means
    none is left, so no empty claim follows it."""
    store = open_store(stores, database, clock)
    worker = worker_on(store, concurrency=4)
    gate = asyncio.Event()
    done: list[int] = []

    async def handle(job: Job) -> None:
        await gate.wait()
        done.append(job.payload["n"])

    worker.register(KIND, handle)
    for n in range(6):
        worker.enqueue(KIND, {"n": n}, f"k{n}")
    claims: list[tuple[int, int]] = []
    claim_jobs = store.claim_jobs

    def counted(kinds, owner, lease_until, limit):
        claimed = claim_jobs(kinds, owner, lease_until, limit)
        claims.append((limit, len(claimed.rows)))
        return claimed

    store.claim_jobs = counted  # type: ignore[method-assign]
    await worker._fill()
    assert claims == [(4, 4)] and worker.running == 4
    gate.set()
    await asyncio.wait(set(worker._running.values()))
    while worker.running:  # each job's end is written before it leaves the running set
        await asyncio.sleep(0.01)
    await worker._fill()
    assert claims == [(4, 4), (4, 2)], "the two left, in one claim, and no empty one after"
    assert await worker.drain(timeout=5)
    assert sorted(done) == list(range(6))


async def test_a_jobs_bookkeeping_waits_for_another_transaction_only_on_sqlite(
    stores, database, clock
) -> None:
    """PostgreSQL: a claim, a mark, a lease renewal, a job's end and a shown message are each
    one statement that row locks keep right, so they never queue behind another request's
    write transaction (nor cost its BEGIN, lock and COMMIT round trips)."""
    store = open_store(stores, database, clock)
    job_id, _ = store.insert_job(KIND, {}, "k")
    lease = store.clock() + timedelta(seconds=30)
    with write_lock_held(database):
        if not store.waits_on_network:
            with pytest.raises(StoreBusy), store.busy_timeout(0.05):
                store.claim_job([KIND], "me", lease)
            return
        with store.busy_timeout(0.05):
            claimed = store.claim_job([KIND], "me", lease)
            assert claimed is not None and claimed["id"] == job_id
            store.add_job_progress(job_id, "posted")
            assert store.renew_job_leases([job_id], "me", lease) == 1
            assert store.finish_job(job_id, "me", ["updated"])
            store.mark_shown("a message")
    assert json.loads(job_row(store, job_id)["progress"]) == ["posted", "updated"]
    assert job_row(store, job_id)["status"] == "done"
    assert store.click_state(None, "a message") == (None, True)


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks of another claimer (PostgreSQL)")
async def test_a_claim_skips_the_job_another_claimer_holds(stores, database, clock) -> None:
    """Two replicas claiming at once: the job one of them is claiming is skipped by the
    other, which neither waits for it nor claims it too."""
    store = open_store(stores, database, clock)
    first, _ = store.insert_job(KIND, {}, "first")
    second, _ = store.insert_job(KIND, {}, "second")
    lease = store.clock() + timedelta(seconds=30)
    with psycopg.connect(database) as other_claimer, store.busy_timeout(1.0):
        other_claimer.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", [first])
        claimed = store.claim_job([KIND], "me", lease)
        assert claimed is not None and claimed["id"] == second
        assert store.claim_job([KIND], "me", lease) is None
        other_claimer.rollback()
    claimed = store.claim_job([KIND], "me", lease)
    assert claimed is not None and claimed["id"] == first


async def test_a_claim_the_stop_cuts_off_on_its_thread_is_handed_back(
    stores, database, clock
) -> None:
    """On PostgreSQL a claim runs on a worker thread; cancelling the worker mid-claim cannot
    stop the thread, so stop() hands the job it claimed back instead of leaving it leased."""
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    worker.register(KIND, lambda job: asyncio.sleep(0))
    worker.enqueue(KIND, {}, "k")
    entered, gate = threading.Event(), threading.Event()
    claim = store.claim_jobs

    def held_claim(*args):
        if store.waits_on_network:
            entered.set()
            gate.wait(5)
        return claim(*args)

    store.claim_jobs = held_claim  # type: ignore[method-assign]
    filling = asyncio.create_task(worker._fill())
    if store.waits_on_network:
        await asyncio.to_thread(entered.wait, 5)
    filling.cancel()
    await asyncio.gather(filling, return_exceptions=True)
    gate.set()
    await worker.stop(timeout=0.05)

    [row] = store.jobs()
    assert (row["status"], row["attempts"], row["locked_by"]) == ("pending", 0, None)


async def test_marks_are_written_before_the_next_side_effect_and_with_the_end(
    stores, database, clock
) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    written: list[list[str]] = []

    async def handle(job: Job) -> None:
        job.mark("first")
        written.append(json.loads(job_row(store)["progress"]))
        job.save()
        written.append(json.loads(job_row(store)["progress"]))
        job.mark("second")

    worker.register(KIND, handle)
    worker.enqueue(KIND, {}, "k")
    assert await worker.drain(timeout=5)
    assert written == [[], ["first"]]
    row = job_row(store)
    assert (row["status"], json.loads(row["progress"])) == ("done", ["first", "second"])


async def test_a_failed_job_keeps_the_marks_of_what_it_did(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store, max_attempts=1)

    async def handle(job: Job) -> None:
        job.mark("first")
        job.mark("second")
        raise RetryLater("down")

    worker.register(KIND, handle)
    worker.enqueue(KIND, {}, "k")
    assert await worker.drain(timeout=5)
    row = job_row(store)
    assert (row["status"], json.loads(row["progress"])) == ("failed", ["first", "second"])


async def test_a_job_stopped_midway_keeps_the_marks_of_what_it_did(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    marked = asyncio.Event()

    async def handle(job: Job) -> None:
        job.mark("first")
        marked.set()
        await asyncio.sleep(30)

    worker.register(KIND, handle)
    worker.enqueue(KIND, {}, "k")
    runner = asyncio.create_task(worker.run())
    await marked.wait()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await worker.stop(timeout=0.01)
    row = job_row(store)
    assert (row["status"], json.loads(row["progress"])) == ("pending", ["first"])


async def test_leases_are_renewed_a_few_times_per_lease_not_at_every_wake(
    stores, database, clock
) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store, lease_seconds=30)
    renewals: list[int] = []
    renew = store.renew_job_leases

    def counted(job_ids, owner, lease_until) -> int:
        renewals.append(len(list(job_ids)))
        return renew(job_ids, owner, lease_until)

    store.renew_job_leases = counted  # type: ignore[method-assign]
    for _ in range(10):
        await worker._renew_leases()
    assert len(renewals) == 1
    clock.advance(4)
    await worker._renew_leases()
    assert len(renewals) == 1
    clock.advance(1)
    await worker._renew_leases()
    assert len(renewals) == 2


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def running(worker: JobWorker) -> AsyncIterator[None]:
    """The worker's run loop in the background for the block."""
    runner = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


def runs_of(worker: JobWorker) -> asyncio.Event:
    """Set once the worker has run a job of KIND."""
    ran = asyncio.Event()

    async def handle(job: Job) -> None:
        ran.set()

    worker.register(KIND, handle)
    return ran


async def test_no_job_is_claimed_while_a_request_is_answered(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    ticking = Ticking()
    requests = Requests(quiet_seconds=0.005, clock=ticking)
    worker = worker_on(store, requests=requests)
    ran = runs_of(worker)
    async with running(worker):
        with requests.answering():
            worker.enqueue(KIND, {}, "k")
            await asyncio.sleep(0.05)
            assert not ran.is_set(), "held while the request is answered"
        await asyncio.sleep(0.05)
        assert not ran.is_set(), "held until the quiet moment after it"
        ticking.now += 0.005
        await asyncio.wait_for(ran.wait(), 5)


async def test_a_request_ending_claims_nothing_unless_something_may_be_due(
    stores, database, clock
) -> None:
    """Every request's end wakes the worker (a claim held for it may go ahead), but only a
    queued job or the time to look again make it claim and read the next due time: round
    trips a server would otherwise pay after every ack. Nor does the job's end: its claim
    came back short, so nothing else was due."""
    store = open_store(stores, database, clock)
    requests = Requests(quiet_seconds=0.001)
    worker = worker_on(store, requests=requests)
    ran = runs_of(worker)
    looks: list[int] = []
    claim_jobs = store.claim_jobs

    def counted(*args):
        claimed = claim_jobs(*args)
        looks.append(len(claimed.rows))
        return claimed

    store.claim_jobs = counted  # type: ignore[method-assign]
    async with running(worker):
        await asyncio.sleep(0.05)
        assert looks == [0], "one look at the start"
        for _ in range(5):
            with requests.answering():
                pass
            await asyncio.sleep(0.02)
        assert looks == [0]
        worker.enqueue(KIND, {}, "k")
        await asyncio.wait_for(ran.wait(), 5)
        await asyncio.sleep(0.05)
        assert looks == [0, 1], "the job, and no claim for the slot it freed"
        for _ in range(5):
            with requests.answering():
                pass
            await asyncio.sleep(0.02)
        assert len(looks) == 2
        assert job_row(store)["status"] == "done"


async def test_a_freed_slot_claims_at_once_when_due_jobs_waited_for_one(
    stores, database, clock
) -> None:
    """One slot, three due jobs: each job's end claims the next, without the look's timer."""
    store = open_store(stores, database, clock)
    worker = worker_on(store, concurrency=1)
    ran: list[int] = []
    all_ran = asyncio.Event()

    async def handle(job: Job) -> None:
        ran.append(job.payload["n"])
        if len(ran) == 3:
            all_ran.set()

    worker.register(KIND, handle)
    for n in range(3):
        store.insert_job(KIND, {"n": n}, f"k{n}")
    async with running(worker):
        await asyncio.wait_for(all_ran.wait(), 2)
    assert ran == [0, 1, 2]


async def test_a_retry_queued_sooner_than_the_next_look_runs_when_due(
    stores, database, clock
) -> None:
    """A job that fails alone queues its retry: the worker looks again for it, though the
    claim that found the job said nothing else was due."""
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    attempts: list[int] = []
    retried = asyncio.Event()

    async def handle(job: Job) -> None:
        attempts.append(job.attempts)
        if job.attempts == 1:
            raise RetryLater("down", retry_after=0.05)
        retried.set()

    worker.register(KIND, handle)
    async with running(worker):
        worker.enqueue(KIND, {}, "k")
        while not attempts:
            await asyncio.sleep(0.01)
        clock.advance(1)
        await asyncio.wait_for(retried.wait(), 2)
    assert attempts == [1, 2]


async def test_a_short_claim_tells_when_to_look_again_without_another_read(
    stores, database, clock
) -> None:
    """The claim that finds too few due jobs also reads when the next falls due (here another
    replica's lease running out), in its own round trip: the look reads nothing more."""
    store = open_store(stores, database, clock)
    store.insert_job(KIND, {}, "k")
    assert store.claim_job([KIND], "other-replica", clock.now + timedelta(seconds=40))
    worker = worker_on(store, lease_seconds=300)
    worker.register(KIND, lambda job: asyncio.sleep(0))
    due_reads: list[object] = []
    next_job_due = store.next_job_due

    def counted(kinds):
        due_reads.append(kinds)
        return next_job_due(kinds)

    store.next_job_due = counted  # type: ignore[method-assign]

    wait = await worker._look(idle_seconds=600)

    assert wait == pytest.approx(40)
    assert due_reads == []
    assert job_row(store)["locked_by"] == "other-replica"


async def test_a_job_waits_for_a_quiet_moment_at_most_max_hold(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    requests = Requests()
    worker = worker_on(store, requests=requests, max_hold=0.1)
    ran = runs_of(worker)
    async with running(worker):
        with requests.answering():
            worker.enqueue(KIND, {}, "k")
            await asyncio.sleep(0.03)
            assert not ran.is_set()
            await asyncio.wait_for(ran.wait(), 5)


def test_requests_are_quiet_a_while_after_the_last_one_ended() -> None:
    ticking = Ticking()
    requests = Requests(quiet_seconds=0.005, clock=ticking)
    assert requests.quiet_in() == 0.0
    with requests.answering():
        assert requests.quiet_in() == 0.005
    assert requests.quiet_in() == pytest.approx(0.005)
    ticking.now += 0.002
    assert requests.quiet_in() == pytest.approx(0.003)
    ticking.now += 0.003
    assert requests.quiet_in() == 0.0


async def test_jobs_submitted_together_are_written_in_one_transaction(
    stores, database, clock
) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    transactions = 0
    transaction = store.db.transaction

    def counted():
        nonlocal transactions
        transactions += 1
        return transaction()

    store.db.transaction = counted  # type: ignore[method-assign]
    created = await asyncio.gather(
        *(worker.submit(KIND, {"n": n}, f"click-{n % 4}") for n in range(6))
    )
    assert transactions == (0 if store.waits_on_network else 1), "no write lock on a server"
    assert created == [True, True, True, True, False, False]
    rows = store.jobs()
    assert [json.loads(row["payload"])["n"] for row in rows] == [0, 1, 2, 3]
    assert await worker.submit(KIND, {"n": 9}, "click-1") is False
    assert await worker.submit(KIND, {"n": 9}) is True
    assert len(store.jobs()) == 5


async def test_a_large_batch_is_written_a_hundred_rows_a_statement_in_one_batch(
    stores, database, clock
) -> None:
    store = open_store(stores, database, clock)
    earlier = [store.insert_job(KIND, {"n": -n}, f"click-{n}")[0] for n in (7, 180)]
    statements: list[str] = []
    rows = store._rows

    def counted(sql: str, params=()):
        statements.append(sql.split()[0])
        return rows(sql, params)

    batches: list[list[str]] = []
    batch = store.db.unlocked_batch

    def counted_batch(sent, **options):
        batches.append([sql.split()[0] for sql, _ in sent])
        return batch(sent, **options)

    store._rows = counted  # type: ignore[method-assign]
    store.db.unlocked_batch = counted_batch  # type: ignore[method-assign]
    jobs = [(KIND, {"n": n}, f"click-{n}") for n in range(250)] + [(KIND, {"n": 0}, "click-0")]
    written = store.insert_jobs(jobs)

    assert batches == [["INSERT", "INSERT", "INSERT"]], "one transaction, one round trip"
    assert statements == ["SELECT"], "the ids of the keys queued before"
    assert [created for _, created in written] == [n not in (7, 180) for n in range(250)] + [False]
    assert written[7][0] == earlier[0] and written[180][0] == earlier[1]
    assert written[250][0] == written[0][0]
    by_id = {row["id"]: row for row in store.jobs()}
    assert len(by_id) == 250
    for (_, payload, key), (job_id, created) in zip(jobs, written, strict=True):
        assert by_id[job_id]["dedupe_key"] == key
        if created:
            assert json.loads(by_id[job_id]["payload"]) == payload


@pytest.mark.skipif(not ON_POSTGRES, reason="a write on a worker thread (PostgreSQL)")
async def test_on_a_server_a_batch_is_written_off_the_loop_and_the_next_waits_for_it(
    stores, database, clock
) -> None:
    """PostgreSQL, with other requests being answered: the batch's round trip runs on a thread
    of its own, so the loop answers them meanwhile; the jobs submitted while a batch is in
    flight are the next batch."""
    store = open_store(stores, database, clock)
    worker = worker_on(store, enqueue_timeout=10)
    with jobs_locked(database), worker.requests.answering(), worker.requests.answering():
        first = asyncio.ensure_future(worker.submit(KIND, {"n": 0}, "first"))
        began = asyncio.get_running_loop().time()
        await asyncio.sleep(0.3)
        assert asyncio.get_running_loop().time() - began < 1.0, "the loop was not held"
        assert not first.done(), "the write waits for the lock"
        meanwhile = [
            asyncio.ensure_future(worker.submit(KIND, {"n": n}, f"meanwhile-{n}")) for n in (1, 2)
        ]
        await asyncio.sleep(0.05)
        assert not any(job.done() for job in meanwhile)
    assert await asyncio.gather(first, *meanwhile) == [True, True, True]
    transaction_of = {
        row["dedupe_key"]: row["xid"]
        for row in store.db.query("SELECT dedupe_key, xmin::text AS xid FROM jobs")
    }
    assert transaction_of["meanwhile-1"] == transaction_of["meanwhile-2"], "one transaction"
    assert transaction_of["first"] != transaction_of["meanwhile-1"]


async def test_a_request_answered_alone_writes_its_batch_in_place(stores, database, clock) -> None:
    """No other request waits on the loop: the batch is written on the loop's thread (on
    PostgreSQL two thread hand-offs fewer for a paced click); with others, on the writer's."""
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    written_on: list[int] = []
    insert_jobs = store.insert_jobs

    def recorded(jobs):
        written_on.append(threading.get_ident())
        return insert_jobs(jobs)

    store.insert_jobs = recorded  # type: ignore[method-assign]
    with worker.requests.answering():
        assert await worker.submit(KIND, {}, "alone") is True
    with worker.requests.answering(), worker.requests.answering():
        assert await worker.submit(KIND, {}, "beside another") is True
    loop_thread = threading.get_ident()
    assert written_on[0] == loop_thread
    assert (written_on[1] != loop_thread) is store.waits_on_network
    assert [row["dedupe_key"] for row in store.jobs()] == ["alone", "beside another"]


async def test_submitted_jobs_run_once_committed(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store)
    seen: list[int] = []

    async def handle(job: Job) -> None:
        seen.append(job.payload["n"])

    worker.register(KIND, handle)
    await asyncio.gather(*(worker.submit(KIND, {"n": n}) for n in range(3)))
    other = open_store(stores, database, clock)
    assert len(other.jobs(["pending"])) == 3, "committed before the submitters resume"
    assert await worker.drain(timeout=5)
    assert sorted(seen) == [0, 1, 2]


async def test_a_submit_waits_a_bounded_time_for_a_locked_database(stores, database, clock) -> None:
    store = open_store(stores, database, clock)
    worker = worker_on(store, enqueue_timeout=0.05)
    with jobs_locked(database):
        results = await asyncio.gather(
            worker.submit(KIND, {}, "a"), worker.submit(KIND, {}, "b"), return_exceptions=True
        )
    assert [type(result) for result in results] == [QueueBusy, QueueBusy]
    assert store.jobs() == []
    assert await worker.submit(KIND, {}, "a") is True


def test_requests_tell_when_the_last_one_ended() -> None:
    requests = Requests(clock=Ticking())
    idle: list[int] = []
    requests.on_idle = lambda: idle.append(requests.active)
    with requests.answering():
        with requests.answering():
            pass
        assert idle == []
    assert idle == [0]


async def test_a_batchs_values_are_stored_verbatim_whatever_quotes_or_markers_they_hold(
    stores, database, clock
) -> None:
    """On PostgreSQL the batch is one simple query whose parameters are bound on our side:
    what a click carries must arrive as data, never as SQL."""
    store = open_store(stores, database, clock)
    hostile = [
        "'; DROP TABLE jobs; --",
        "it's %s and %(name)s and ? and $1",
        "back\\slash \\' and \"double\" and E'\\x41'",
        "日本語 and emoji 🙂",
    ]
    jobs = [(KIND, {"value": text, "n": n}, f"key-{n}-{text}") for n, text in enumerate(hostile)]
    written = store.insert_jobs(jobs)
    assert [created for _, created in written] == [True] * len(hostile)
    by_id = {row["id"]: row for row in store.jobs()}
    for (_, payload, key), (job_id, _) in zip(jobs, written, strict=True):
        assert by_id[job_id]["dedupe_key"] == key
        assert json.loads(by_id[job_id]["payload"]) == payload
    again = store.insert_jobs(jobs)
    assert again == [(job_id, False) for job_id, _ in written]
