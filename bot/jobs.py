"""A durable job queue: work promised in an ack is a row, claimed under a lease, done once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from bot.blocking import Wake, off_loop
from bot.errors import StoreBusy
from bot.outbox import Backoff
from bot.store import ClaimedJobs, Row, Store

log = structlog.get_logger("verifybot.jobs")

ENQUEUE_TIMEOUT = 2.0
LEASE_SECONDS = 30.0
MAX_ATTEMPTS = 8
CONCURRENCY = 4
QUIET_SECONDS = 0.005
MAX_HOLD_SECONDS = 2.0
RENEWALS_PER_LEASE = 6


class RetryLater(Exception):
    """A job that could not finish now (a chat API down) and should run again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueBusy(Exception):
    """The job could not be written within the enqueue bound (another writer holds the lock)."""


class Requests:
    """The requests being answered now: the job worker gives way to them, so that no ack
    waits for the work promised by an earlier one."""

    def __init__(
        self, quiet_seconds: float = QUIET_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.quiet_seconds = quiet_seconds
        self.clock = clock
        self.active = 0
        self.last_ended = -math.inf
        self.on_idle: Callable[[], None] | None = None

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Count a request while it is answered; `on_idle` is called when none is left."""
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self.last_ended = self.clock()
            if not self.active and self.on_idle is not None:
                self.on_idle()

    def quiet_in(self) -> float:
        """0 once no request has been answered for `quiet_seconds`; else the seconds to wait."""
        if self.active:
            return self.quiet_seconds
        return max(0.0, self.last_ended + self.quiet_seconds - self.clock())


@dataclass
class Job:
    """One claimed job, as its handler sees it; `progress` is what earlier runs already did."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    progress: set[str] = field(default_factory=set)
    _store: Store | None = field(default=None, repr=False)
    _unsaved: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def of(cls, row: Row, store: Store) -> Job:
        return cls(
            id=row["id"],
            kind=row["kind"],
            payload=json.loads(row["payload"]),
            attempts=row["attempts"],
            progress=set(json.loads(row["progress"])),
            _store=store,
        )

    def done(self, mark: str) -> bool:
        return mark in self.progress

    def mark(self, mark: str) -> None:
        """Remember that `mark` is done; written by `save()` (before the job's next side effect)
        or with the job's end, for a rerun after a crash."""
        if mark not in self.progress:
            self.progress.add(mark)
            self._unsaved.append(mark)

    def save(self) -> None:
        """Write the marks not written yet: call it before a side effect a rerun must not
        repeat once an earlier one is marked done."""
        if self._store is not None:
            for mark in self._unsaved:
                self._store.add_job_progress(self.id, mark)
        self._unsaved.clear()

    def unsaved(self) -> list[str]:
        """The marks to write with the job's end (taken: they are written once)."""
        marks, self._unsaved = self._unsaved, []
        return marks


Handler = Callable[[Job], Awaitable[None]]


@dataclass
class Submitted:
    """A job a request handler waits to see committed (JobWorker.submit)."""

    kind: str
    payload: dict[str, Any]
    key: str
    waiter: asyncio.Future[bool]


def _new_key() -> str:
    return f"job:{secrets.token_hex(16)}"


def _fail_all(batch: list[Submitted], error: BaseException) -> None:
    for job in batch:
        if not job.waiter.done():
            job.waiter.set_exception(error)


class JobWorker:
    """Runs the jobs of the kinds registered with it, at most `concurrency` at once.

    `enqueue()` writes a job and wakes the worker; `run()` also picks up jobs a previous
    process left, and jobs whose lease expired because their process died mid-job. A
    running job's lease is renewed while it runs; a failing job is retried with backoff up
    to `max_attempts`, then marked failed.
    """

    def __init__(
        self,
        store: Store,
        backoff: Backoff | None = None,
        concurrency: int = CONCURRENCY,
        lease_seconds: float = LEASE_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        enqueue_timeout: float = ENQUEUE_TIMEOUT,
        requests: Requests | None = None,
        max_hold: float = MAX_HOLD_SECONDS,
    ) -> None:
        self.store = store
        self.requests = requests or Requests()
        self.requests.on_idle = self._resume
        self._may_be_due = True
        self._slots_ran_out = False
        self._look_again_at = 0.0
        self.max_hold = max_hold
        self._held_since: float | None = None
        self._renewed_at: datetime | None = None
        self.backoff = backoff or Backoff()
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.enqueue_timeout = enqueue_timeout
        self.owner = secrets.token_hex(8)
        self.handlers: dict[str, Handler] = {}
        self._submitted: list[Submitted] = []
        self._writing: asyncio.Future[list[tuple[int, bool]]] | None = None
        self._writer: ThreadPoolExecutor | None = None
        self.done = 0
        self.failed = 0
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = Wake()
        self._filling = asyncio.Lock()
        self._cut_off: set[asyncio.Future[ClaimedJobs]] = set()
        self._stopping = False

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def kick(self) -> None:
        """Something may be due now: a job or a retry queued, a slot freed while due jobs
        waited for one, another process's notice."""
        self._may_be_due = True
        self._wake.set()

    def _resume(self) -> None:
        """The requests are answered: a claim held for them may go ahead (nothing new is due)."""
        self._wake.set()

    def enqueue(self, kind: str, payload: dict[str, Any], dedupe_key: str | None = None) -> bool:
        """Write a job (ids and references only, never personal data); True if it is new.

        Waits at most `enqueue_timeout` for the database; QueueBusy past it.
        """
        [(job_id, created)] = self._insert([(kind, payload, dedupe_key or _new_key())])
        self._queued([kind], [(job_id, created)])
        return created

    def _insert(self, jobs: list[tuple[str, dict[str, Any], str]]) -> list[tuple[int, bool]]:
        """insert_jobs, waiting at most `enqueue_timeout` for the database; QueueBusy past it."""
        try:
            with self.store.busy_timeout(self.enqueue_timeout):
                return self.store.insert_jobs(jobs)
        except StoreBusy as error:
            raise QueueBusy(str(error)) from None

    def _queued(self, kinds: list[str], written: list[tuple[int, bool]]) -> None:
        """Log the jobs just created and wake the worker for them."""
        for kind, (job_id, created) in zip(kinds, written, strict=True):
            if created:
                log.debug("jobs.enqueued", job_id=job_id, kind=kind)
        if any(created for _, created in written):
            self.kick()

    async def submit(
        self, kind: str, payload: dict[str, Any], dedupe_key: str | None = None
    ) -> bool:
        """enqueue() for a request being answered, as a group commit: each caller resumes once
        its row is committed; QueueBusy past `enqueue_timeout`.

        The jobs submitted in the same turn of the event loop go in one transaction. Where
        the store waits on a network and other requests are being answered, the transaction
        runs on a thread of its own (never queued behind a job's store work), and the jobs
        submitted while it is in flight go together in the next one: the loop answers the
        others meanwhile instead of waiting out each round trip. A request answered alone
        writes in place: no other waits, and two thread hand-offs fewer (a paced click).
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._submitted.append(Submitted(kind, payload, dedupe_key or _new_key(), waiter))
        if len(self._submitted) == 1 and self._writing is None:
            loop.call_soon(self._write_submitted)
        return await waiter

    def _write_submitted(self) -> None:
        batch, self._submitted = self._submitted, []
        if not batch:
            return
        if not self.store.waits_on_network or self.requests.active <= 1:
            try:
                written = self._insert_submitted(batch)
            except Exception as error:
                _fail_all(batch, error)
                return
            self._settle(batch, written)
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-writes")
        loop = asyncio.get_running_loop()
        writing = loop.run_in_executor(self._writer, self._insert_submitted, batch)
        self._writing = writing
        writing.add_done_callback(functools.partial(self._written, batch))

    def _insert_submitted(self, batch: list[Submitted]) -> list[tuple[int, bool]]:
        return self._insert([(job.kind, job.payload, job.key) for job in batch])

    def _written(
        self, batch: list[Submitted], writing: asyncio.Future[list[tuple[int, bool]]]
    ) -> None:
        self._writing = None
        if writing.cancelled():
            _fail_all(batch, QueueBusy("the job write was cancelled"))
        elif (error := writing.exception()) is not None:
            _fail_all(batch, error)
        else:
            self._settle(batch, writing.result())
        if self._submitted:
            self._write_submitted()

    def _settle(self, batch: list[Submitted], written: list[tuple[int, bool]]) -> None:
        for job, (_, created) in zip(batch, written, strict=True):
            if not job.waiter.done():
                job.waiter.set_result(created)
        self._queued([job.kind for job in batch], written)

    @property
    def running(self) -> int:
        return len(self._running)

    async def _fill(self) -> ClaimedJobs | None:
        """Claim due jobs until `concurrency` run, as many as are free at a time; one filler at
        a time, so that a job claimed (on a worker thread) is running before another filler
        (drain) looks. Fewer than asked for: none is left due now, and that claim (with when
        the next falls due) is returned; None when the slots filled up first."""
        async with self._filling:
            while not self._stopping:
                wanted = self.concurrency - len(self._running)
                if wanted <= 0:
                    self._slots_ran_out = True
                    return None
                claimed = await self._claim(wanted)
                for row in claimed.rows:
                    job = Job.of(row, self.store)
                    task = asyncio.get_running_loop().create_task(
                        self._run(job), name=f"job-{job.id}"
                    )
                    self._running[job.id] = task
                    task.add_done_callback(functools.partial(self._done, job.id))
                if len(claimed.rows) < wanted:
                    self._slots_ran_out = False
                    return claimed
            return None

    async def _claim(self, limit: int) -> ClaimedJobs:
        """Up to `limit` due jobs, claimed; on a worker thread where the store waits on a
        network. A claim a cancel (a stop) cuts off still ends on its thread: stop() hands its
        jobs back."""
        lease_until = self.store.clock() + self.lease
        kinds = list(self.handlers)
        if not self.store.waits_on_network:
            return self.store.claim_jobs(kinds, self.owner, lease_until, limit)
        claim = asyncio.ensure_future(
            asyncio.to_thread(self.store.claim_jobs, kinds, self.owner, lease_until, limit)
        )
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            self._cut_off.add(claim)
            raise

    def _done(self, job_id: int, _: asyncio.Task[Any]) -> None:
        self._finished(job_id)

    def _finished(self, job_id: int) -> None:
        """A slot is free: claim again at once only if due jobs were left waiting for one (the
        last fill filled every slot); a short claim already said when the next falls due."""
        self._running.pop(job_id, None)
        if self._slots_ran_out:
            self.kick()

    async def _run(self, job: Job) -> None:
        try:
            await self.handlers[job.kind](job)
        except asyncio.CancelledError:
            job.save()
            raise
        except RetryLater as error:
            await off_loop(self.store, self._retry_or_fail, job, str(error), error.retry_after)
            self.kick()
            return
        except Exception as error:  # a handler's bug must not stop the other jobs
            log.exception("jobs.handler_crashed", job_id=job.id, kind=job.kind)
            failure = f"{type(error).__name__}: {error}"
            await off_loop(self.store, self._retry_or_fail, job, failure, None)
            self.kick()
            return
        if await off_loop(self.store, self.store.finish_job, job.id, self.owner, job.unsaved()):
            self.done += 1
        else:
            log.warning("jobs.lease_lost", job_id=job.id, kind=job.kind)

    def _retry_or_fail(self, job: Job, error: str, retry_after: float | None) -> None:
        if job.attempts >= self.max_attempts:
            self.store.fail_job(job.id, self.owner, error, job.unsaved())
            self.failed += 1
            log.error(
                "jobs.failed", job_id=job.id, kind=job.kind, attempts=job.attempts, error=error
            )
            return
        delay = self.backoff.delay(job.attempts, retry_after)
        self.store.retry_job(
            job.id,
            self.owner,
            error,
            self.store.clock() + timedelta(seconds=delay),
            job.unsaved(),
        )
        log.warning(
            "jobs.retry_scheduled",
            job_id=job.id,
            kind=job.kind,
            attempts=job.attempts,
            retry_in=round(delay, 2),
            error=error,
        )

    async def _renew_leases(self) -> None:
        """Extend the running jobs' leases, at most RENEWALS_PER_LEASE times per lease."""
        now = self.store.clock()
        if (
            self._renewed_at is not None
            and now - self._renewed_at < self.lease / RENEWALS_PER_LEASE
        ):
            return
        self._renewed_at = now
        running = list(self._running)
        await off_loop(
            self.store, self.store.renew_job_leases, running, self.owner, now + self.lease
        )

    def _hold(self) -> float:
        """Seconds to wait before claiming, while requests are being answered; 0 to claim now.

        While requests are answered the worker sleeps until the last one ends (Requests
        kicks it) and then for the quiet moment. A job waits at most `max_hold` seconds: under
        load that never pauses, jobs run beside the requests.
        """
        quiet_in = self.requests.quiet_in()
        if not quiet_in:
            self._held_since = None
            return 0.0
        now = time.monotonic()
        if self._held_since is None:
            self._held_since = now
        left = self.max_hold - (now - self._held_since)
        if left <= 0:
            return 0.0
        return left if self.requests.active else min(quiet_in, left)

    async def _next_due(self, short: ClaimedJobs | None) -> datetime | None:
        """When the next job falls due: as the fill's short claim read it, else read now."""
        if short is not None:
            return short.next_due
        return await off_loop(self.store, self.store.next_job_due, self.handlers)

    def _wait_until(self, due: datetime | None, idle_seconds: float) -> float:
        """The seconds to wait before looking again: till `due`, at most the idle poll and a
        third of a lease (leases to renew)."""
        wait = min(idle_seconds, self.lease.total_seconds() / 3)
        if due is not None:
            wait = min(wait, max(0.02, (due - self.store.clock()).total_seconds()))
        return wait

    async def run(self, idle_seconds: float = 30.0) -> None:
        """Run jobs until cancelled: now, when kicked, and when a retry or lease falls due;
        new ones only once the requests being answered leave a quiet moment (`_hold`)."""
        self._wake.bind()
        while True:
            self._wake.event.clear()
            held = False
            try:
                await self._renew_leases()
                wait = self._hold()
                held = bool(wait)
                if not held:
                    wait = await self._look(idle_seconds)
            except Exception:
                log.exception("jobs.run_failed")
                wait = 1.0
            try:
                async with asyncio.timeout(wait):  # unlike wait_for, never swallows a cancel
                    await self._wake.event.wait()
            except TimeoutError:
                self._may_be_due = self._may_be_due or not held

    async def _look(self, idle_seconds: float) -> float:
        """Claim what is due when something may be (`kick`, or the time to look again came);
        the seconds to wait before looking again."""
        loop = asyncio.get_running_loop()
        if not self._may_be_due:
            return max(0.0, self._look_again_at - loop.time())
        self._may_be_due = False
        short = await self._fill()
        wait = self._wait_until(await self._next_due(short), idle_seconds)
        self._look_again_at = loop.time() + wait
        return wait

    async def drain(self, timeout: float = 10.0, horizon: float = 0.0) -> bool:
        """Run jobs until none is running or due within `horizon` seconds (a retry soon);
        False if that took longer than `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self._fill()
            # read now, not the fill's short claim: a job that ended after that claim read may
            # have queued its retry; and no fill (the run loop's) claims meanwhile, or the
            # read would give the claimed job's lease, far off, while it runs
            async with self._filling:
                idle = not self._running
                due = await self._next_due(None) if idle else None
            if idle and (due is None or due > self.store.clock() + timedelta(seconds=horizon)):
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            if self._running:
                await asyncio.wait(set(self._running.values()), timeout=min(remaining, 0.05))
            else:
                await asyncio.sleep(min(remaining, 0.01))

    async def stop(self, timeout: float) -> None:
        """Claim nothing more; let running jobs finish for `timeout` seconds, then hand the rest
        back to the database, where the next start finds them."""
        self._stopping = True
        if self._running:
            await asyncio.wait(set(self._running.values()), timeout=timeout)
        unfinished = dict(self._running)
        for task in unfinished.values():
            task.cancel()
        if unfinished:
            await asyncio.gather(*unfinished.values(), return_exceptions=True)
        if self._cut_off:
            await asyncio.wait(self._cut_off)
        claimed = [
            row
            for claim in self._cut_off
            if not claim.cancelled() and not claim.exception()
            for row in claim.result().rows
        ]
        self._cut_off.clear()
        for job_id in [*unfinished, *(row["id"] for row in claimed)]:
            self.store.release_job(job_id, self.owner)
        left = self.store.unfinished_jobs()
        if left:
            log.warning(
                f"jobs: {left} unfinished job(s) stay in the database and run at the next start",
                interrupted=len(unfinished),
                unfinished=left,
            )
