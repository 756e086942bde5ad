"""Delivers outbox rows through notifiers, retrying with backoff until each is delivered once."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from bot import metrics
from bot.blocking import Wake
from bot.notices import THREADED_KINDS, Notice
from bot.store import Store

log = structlog.get_logger("verifybot.outbox")
Render = Callable[[dict[str, Any]], Notice | None]


def thread_key(row: dict) -> tuple[object, str]:
    """Rows that must go out in order (one escalation's, per target) share a key; a row of no
    escalation (a reminder, a digest, a step for a chat not open yet) holds back no other."""
    if row["escalation_id"] is None:
        return (f"row:{row['id']}", row["target"])
    return (row["escalation_id"], row["target"])


class DeliveryError(Exception):
    """A delivery that failed and should be tried again, after `retry_after` seconds if given."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Notifier(Protocol):
    """Posts notices to one target (a platform's security channel or a user's chat)."""

    target: str

    async def deliver(self, notice: Notice, thread_ref: str | None) -> str | None:
        """Post the notice, in the thread of `thread_ref` if given; return the message's ref."""
        ...


MAX_RETRY_AFTER = 3600.0
LEASE_SECONDS = 60.0


def retry_after_seconds(header: str | None) -> float | None:
    """A Retry-After header as seconds (a number or an HTTP date), within 0 and an hour;
    None when absent or unreadable."""
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class Backoff:
    """Exponential backoff with full jitter, capped; `Retry-After` wins when longer."""

    def __init__(self, base: float = 2.0, cap: float = 300.0, seed: int | None = None) -> None:
        self.base = base
        self.cap = cap
        self._random = random.Random(seed)

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(attempts - 1, 0))
        jittered = ceiling / 2 + self._random.uniform(0, ceiling / 2)
        return max(jittered, retry_after or 0.0)


class OutboxWorker:
    """Runs in the background of a front end; `kick()` wakes it when new rows are written.

    Workers of several processes may share one database: a row is claimed under a lease
    before it is sent, so only one sends it, and a row whose worker died mid-delivery is
    sent again once its lease runs out. A delivery is cut off at half the lease.
    """

    def __init__(
        self,
        store: Store,
        notifiers: Sequence[Notifier],
        backoff: Backoff | None = None,
        render: Render | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.store = store
        self.render = render
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = secrets.token_hex(8)
        self.notifiers = {notifier.target: notifier for notifier in notifiers}
        self.backoff = backoff or Backoff()
        self._wake = Wake()
        self._lock = asyncio.Lock()
        self.delivered = 0
        self.failed = 0
        self.next_due: datetime | None = None

    def kick(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Deliver every due row, oldest first; return how many were delivered."""
        async with self._lock:
            delivered = 0
            held_back: set[tuple[object, str]] = set()
            self.next_due = None
            for row in self.store.pending_outbox():
                key = thread_key(row)
                notifier = self.notifiers.get(row["target"])
                if notifier is None or key in held_back:
                    continue
                lease_until = self.store.clock() + self.lease  # after the deliveries before it
                claimed = self.store.claim_outbox(row["id"], self.owner, lease_until)
                if claimed is not None and await self._deliver(claimed, notifier):
                    delivered += 1
                    continue
                held_back.add(key)
                self._note_due(self.store.outbox_item(row["id"]))
            return delivered

    def _note_due(self, row: dict | None) -> None:
        """Wake again when the row is due: its next attempt, or its lease's end while
        another worker sends it."""
        if row is None or row["status"] not in ("pending", "sending"):
            return
        at = row["next_attempt_at"] if row["status"] == "pending" else row["locked_until"]
        due = datetime.fromisoformat(at) if at else self.store.clock()
        if self.next_due is None or due < self.next_due:
            self.next_due = due

    async def _deliver(self, row: dict, notifier: Notifier) -> bool:
        if self.render is None:
            raise RuntimeError("the outbox worker needs the service's render_notice")
        notice = self.render(json.loads(row["payload"]))
        if notice is None:
            with self.store.transaction():
                self.store.mark_dropped(row["id"])
            log.warning("outbox.dropped", outbox_id=row["id"], target=row["target"])
            return True
        thread_ref = (
            self.store.message_ref(row["escalation_id"], row["target"])
            if notice.kind in THREADED_KINDS
            else None
        )
        try:
            async with asyncio.timeout(self.lease.total_seconds() / 2):
                message_ref = await notifier.deliver(notice, thread_ref)
        except DeliveryError as error:
            return self._retry_later(row, str(error), error.retry_after)
        except TimeoutError:
            return self._retry_later(row, "no answer within half the lease", None)
        except Exception as error:  # a notifier bug must not stop the other deliveries
            log.exception("outbox.notifier_crashed", outbox_id=row["id"], target=row["target"])
            return self._retry_later(row, f"{type(error).__name__}: {error}", None)
        with self.store.transaction():
            self.store.mark_delivered(row["id"], message_ref)
            if message_ref and notice.kind in THREADED_KINDS and thread_ref is None:
                self.store.set_message_ref(row["escalation_id"], row["target"], message_ref)
        self.delivered += 1
        metrics.OUTBOX_DELIVERED.labels(row["target"]).inc()
        log.info("outbox.delivered", outbox_id=row["id"], target=row["target"], kind=notice.kind)
        return True

    def _retry_later(self, row: dict, error: str, retry_after: float | None) -> bool:
        delay = self.backoff.delay(row["attempts"] + 1, retry_after)
        with self.store.transaction():
            self.store.mark_failed(row["id"], error, self.store.clock() + timedelta(seconds=delay))
        self.failed += 1
        metrics.OUTBOX_FAILURES.labels(row["target"]).inc()
        log.warning(
            "outbox.retry_scheduled",
            outbox_id=row["id"],
            target=row["target"],
            attempts=row["attempts"] + 1,
            retry_in=round(delay, 2),
            error=error,
        )
        return False

    async def run(self, idle_seconds: float = 30.0) -> None:
        """Deliver until cancelled: now, when kicked, and when the next retry falls due.

        Rows a dead process was sending are sent again when their lease runs out; at a stop,
        the rows this worker was sending go back to pending at once.
        """
        self._wake.bind()
        try:
            while True:
                self._wake.event.clear()
                try:
                    await self.run_once()
                except Exception:
                    log.exception("outbox.run_failed")
                wait = idle_seconds
                if self.next_due is not None:
                    until_due = (self.next_due - self.store.clock()).total_seconds()
                    wait = max(0.05, min(idle_seconds, until_due))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):  # unlike wait_for, never swallows a cancel
                        await self._wake.event.wait()
        finally:
            self._release()

    def _release(self) -> None:
        try:
            with self.store.transaction():
                released = self.store.release_outbox(self.owner)
        except Exception:
            log.exception("outbox.release_failed")
            return
        if released:
            log.warning("outbox.released_at_stop", rows=released)
