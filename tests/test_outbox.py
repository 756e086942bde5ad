"""Escalations through the outbox: written with the answer in one transaction, delivered once,
retried with backoff, in thread order, across restarts, whatever one notifier does."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest

from bot.models import Outcome, Platform, Result
from bot.notices import MAX_NOTICE_ITEMS, FindingNotice
from bot.outbox import Backoff
from bot.runtime import build_core
from bot.service import NOTICE_INTERVAL
from bot.store import Store
from tests.database import open_store


class Boom(Exception):
    pass


def count(store: Store, table: str) -> int:
    return store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def outbox(store: Store) -> list[dict]:
    return list(store.db.query("SELECT * FROM outbox ORDER BY id"))


def due_in(store: Store, row_id: int, now: datetime) -> float:
    row = store.outbox_item(row_id)
    return (datetime.fromisoformat(row["next_attempt_at"]) - now).total_seconds()


@pytest.fixture
def flag(service, actor, candidate):
    """Start a verification and record red-flag answers; returns the verification id."""

    async def record(*answers: tuple[str, str, str | None], who=None) -> str:
        who = who or actor()
        started = await service.start(who, candidate())
        for step_id, value, note in answers:
            await service.answer(who, started.verification.id, step_id, value, note)
        return started.verification.id

    return record


PENDING = ("background_check", "pending", None)
REFUSED = ("camera_interview", "camera_refused", None)
AI_PHOTO = ("profile_photo", "suspected_ai", "Same photo on three profiles")


# written with the answer


async def test_a_red_flag_writes_its_outbox_row_with_the_answer(
    service, store, database, actor, candidate, security_notifier
) -> None:
    hm = actor()
    started = await service.start(hm, candidate())
    result = await service.answer(hm, started.verification.id, *REFUSED)

    assert result.escalated
    other = open_store(database)  # a second connection sees both: they were committed together
    try:
        [answer] = other.answers(started.verification.id)
        [row] = other.pending_outbox()
    finally:
        other.close()
    assert (answer["value"], answer["result"]) == ("camera_refused", "block")
    assert (row["kind"], row["target"], row["status"], row["attempts"]) == (
        "finding",
        "slack",
        "pending",
        0,
    )
    payload = json.loads(row["payload"])
    assert payload == {
        "kind": "finding",
        "escalation_id": row["escalation_id"],
        "items": [{"answer_id": answer["id"], "previous_id": None, "reopened": False}],
        "first": True,
        "left_out": 0,
    }, "ids only: the notice is rendered from the database when it is delivered"
    assert row["escalation_id"] == store.escalation_for(started.verification.id)["id"]


async def test_a_passing_answer_writes_no_outbox_row(
    service, store, actor, candidate, security_notifier
) -> None:
    hm = actor()
    started = await service.start(hm, candidate())
    result = await service.answer(hm, started.verification.id, "camera_interview", "matched")
    assert not result.escalated
    assert count(store, "outbox") == count(store, "escalations") == 0


async def test_a_failure_inside_the_transaction_leaves_neither_answer_nor_outbox_row(
    service, store, actor, candidate, security_notifier, monkeypatch
) -> None:
    hm = actor()
    started = await service.start(hm, candidate())
    verification_id = started.verification.id
    events = len(store.events())

    def enqueue_fails(*args, **kwargs):
        raise Boom("disk full")

    monkeypatch.setattr(store, "enqueue", enqueue_fails)
    with pytest.raises(Boom):
        await service.answer(hm, verification_id, *REFUSED)

    assert store.answers(verification_id) == []
    assert count(store, "outbox") == count(store, "escalations") == 0
    assert store.verification(verification_id)["status"] == "in_progress"
    assert len(store.events()) == events
    assert store.audit_chain_intact()

    monkeypatch.undo()
    retried = await service.answer(hm, verification_id, *REFUSED)
    assert retried.escalated and not retried.duplicate
    assert len(store.answers(verification_id)) == 1
    assert count(store, "outbox") == 1


async def test_a_failing_computed_finding_rolls_back_the_answer_that_reached_it(
    service, store, actor, candidate, security_notifier, monkeypatch
) -> None:
    hm = actor()
    details = candidate(shipping_address="77 Harbor Road, Baltimore, MD 21230")
    started = await service.start(hm, details)
    verification_id = started.verification.id
    await service.answer(hm, verification_id, "notarized_id", "verified", "Notary 1")
    await service.answer(hm, verification_id, "background_check", "clear")
    await service.answer(hm, verification_id, "camera_interview", "matched")

    def enqueue_fails(*args, **kwargs):
        raise Boom("disk full")

    monkeypatch.setattr(store, "enqueue", enqueue_fails)
    with pytest.raises(Boom):
        await service.answer(hm, verification_id, "liveness_probes", "natural")

    assert [row["step_id"] for row in store.answers(verification_id)] == [
        "notarized_id",
        "background_check",
        "camera_interview",
    ]
    assert count(store, "escalations") == 0


async def test_a_failing_decision_notice_rolls_back_the_decision(
    service, store, actor, flag, security_notifier, monkeypatch
) -> None:
    verification_id = await flag(PENDING)
    escalation_id = store.escalation_for(verification_id)["id"]

    def enqueue_fails(*args, **kwargs):
        raise Boom("disk full")

    monkeypatch.setattr(store, "enqueue", enqueue_fails)
    with pytest.raises(Boom):
        await service.decide(actor("sec-1"), escalation_id, "confirm", "Stolen identity")

    assert store.escalation(escalation_id)["status"] == "open"
    assert store.verification(verification_id)["status"] == "in_progress"


async def test_later_findings_join_the_verifications_one_escalation_and_its_unsent_notice(
    service, store, flag, security_notifier
) -> None:
    verification_id = await flag(PENDING, REFUSED, AI_PHOTO)

    assert count(store, "escalations") == 1
    escalation_id = store.escalation_for(verification_id)["id"]
    [row] = outbox(store)
    notice = service.render_notice(json.loads(row["payload"]))
    assert notice.first and notice.escalation_id == escalation_id
    assert [item.finding.step for item in notice.items] == [
        "background_check",
        "camera_interview",
        "profile_photo",
    ]
    assert [f.step for f in notice.escalation.findings] == [i.finding.step for i in notice.items]
    assert notice.escalation.outcome is Outcome.BLOCKED
    assert notice.items[2].finding.note == "Same photo on three profiles"
    actions = [e["action"] for e in store.events(verification_id)]
    assert actions.count("escalation.raised") == 1
    assert actions.count("escalation.finding_added") == 2


async def test_each_security_target_gets_its_own_row(core, store, flag, notifier_class) -> None:
    core.add_notifier(notifier_class("slack"))
    core.add_notifier(notifier_class("console"))
    await flag(PENDING, REFUSED)
    rows = outbox(store)
    assert [(row["kind"], row["target"]) for row in rows] == [
        ("finding", "slack"),
        ("finding", "console"),
    ]
    assert all(len(json.loads(row["payload"])["items"]) == 2 for row in rows)


async def test_no_security_target_means_an_escalation_without_outbox_rows(store, flag) -> None:
    verification_id = await flag(REFUSED)
    assert store.escalation_for(verification_id)["status"] == "open"
    assert count(store, "outbox") == 0


# delivery


async def test_each_row_is_delivered_once(core, store, flag, security_notifier) -> None:
    verification_id = await flag(REFUSED)

    assert await core.worker.run_once() == 1
    assert await core.worker.run_once() == 0

    [(notice, thread_ref)] = security_notifier.delivered
    assert isinstance(notice, FindingNotice)
    assert (notice.verification_id, notice.items[0].finding.result, notice.first) == (
        verification_id,
        Result.BLOCK,
        True,
    )
    assert notice.escalation.requested_platform is Platform.SLACK
    assert thread_ref is None
    [row] = outbox(store)
    assert (row["status"], row["attempts"], row["message_ref"]) == ("delivered", 1, "slack-msg-1")
    assert row["delivered_at"] == store.now()
    assert store.message_ref(row["escalation_id"], "slack") == "slack-msg-1"
    assert store.pending_outbox() == []


async def test_a_delivery_error_is_retried_with_backoff(
    core, store, clock, flag, notifier_class
) -> None:
    notifier = notifier_class("slack", fail=2)
    core.add_notifier(notifier)
    await flag(REFUSED)
    [row] = outbox(store)

    assert await core.worker.run_once() == 0
    failed = store.outbox_item(row["id"])
    assert (failed["status"], failed["attempts"], failed["last_error"]) == (
        "pending",
        1,
        "platform unavailable",
    )
    assert 0.005 <= due_in(store, row["id"], clock()) <= 0.01
    assert core.worker.next_due == datetime.fromisoformat(failed["next_attempt_at"])

    assert await core.worker.run_once() == 0
    assert notifier.attempts == 1  # not due yet

    clock.advance(0.011)
    assert await core.worker.run_once() == 0
    assert notifier.attempts == 2
    assert 0.01 <= due_in(store, row["id"], clock()) <= 0.02  # doubled, capped at 0.02

    clock.advance(0.021)
    assert await core.worker.run_once() == 1
    delivered = store.outbox_item(row["id"])
    assert (delivered["status"], delivered["attempts"], delivered["last_error"]) == (
        "delivered",
        3,
        None,
    )
    assert len(notifier.delivered) == 1
    assert core.worker.failed == 2 and core.worker.delivered == 1


async def test_the_retry_cap_setting_bounds_the_wait_between_tries(
    settings, clock, actor, candidate, notifier_class
) -> None:
    """VERIFYBOT_OUTBOX_RETRY_CAP_SECONDS: however long the channel fails, a notice is tried
    again within the cap, not the default 300 s, so an outage's backlog goes out soon after."""
    core = build_core(settings.model_copy(update={"outbox_retry_cap_seconds": 3}), clock=clock)
    try:
        notifier = notifier_class("slack", fail=8)
        core.add_notifier(notifier)
        started = await core.service.start(actor(), candidate())
        await core.service.answer(actor(), started.verification.id, *REFUSED)
        [row] = outbox(core.store)
        waits = []
        for _ in range(8):
            assert await core.worker.run_once() == 0
            waits.append(due_in(core.store, row["id"], clock()))
            clock.advance(waits[-1] + 0.001)
        assert await core.worker.run_once() == 1
    finally:
        core.close()
    assert 1 <= waits[0] <= 2 and max(waits) <= 3 and waits[-1] >= 1.5


async def test_retry_after_is_honoured(core, store, clock, flag, notifier_class) -> None:
    notifier = notifier_class("slack", fail=1, retry_after=30)
    core.add_notifier(notifier)
    await flag(REFUSED)
    [row] = outbox(store)

    await core.worker.run_once()
    assert due_in(store, row["id"], clock()) == pytest.approx(30, abs=0.001)

    clock.advance(29.9)
    assert await core.worker.run_once() == 0
    assert notifier.attempts == 1
    clock.advance(0.2)
    assert await core.worker.run_once() == 1
    assert notifier.attempts == 2


async def test_a_finding_during_a_failed_first_delivery_is_posted_with_it(
    core, store, clock, flag, service, actor, notifier_class
) -> None:
    notifier = notifier_class("slack", fail=1)
    core.add_notifier(notifier)
    verification_id = await flag(PENDING)
    assert await core.worker.run_once() == 0

    await service.answer(actor(), verification_id, *REFUSED)

    [row] = outbox(store)
    clock.advance(1)
    assert await core.worker.run_once() == 1
    [notice] = notifier.notices
    assert notice.first and notifier.thread_refs == [None]
    assert [item.finding.step for item in notice.items] == ["background_check", "camera_interview"]
    assert store.outbox_item(row["id"])["status"] == "delivered"


async def test_news_after_a_post_waits_a_few_seconds_and_is_one_post_in_the_thread(
    core, store, clock, flag, service, actor, notifier_class
) -> None:
    notifier = notifier_class("slack")
    core.add_notifier(notifier)
    verification_id = await flag(PENDING)
    assert await core.worker.run_once() == 1

    await service.answer(actor(), verification_id, *REFUSED)
    await service.answer(actor(), verification_id, *AI_PHOTO)
    assert await core.worker.run_once() == 0, "not within seconds of the last post"
    assert len(outbox(store)) == 2

    clock.advance(NOTICE_INTERVAL)
    assert await core.worker.run_once() == 1
    assert notifier.thread_refs == [None, "slack-msg-1"]
    later = notifier.notices[1]
    assert not later.first
    assert [item.finding.step for item in later.items] == ["camera_interview", "profile_photo"]


async def test_a_burst_of_changes_is_a_handful_of_posts_not_one_per_click(
    core, store, clock, flag, service, actor, notifier_class
) -> None:
    notifier = notifier_class("slack")
    core.add_notifier(notifier)
    hm = actor()
    verification_id = await flag(REFUSED, who=hm)
    for click in range(200):
        value = "matched" if click % 2 == 0 else "camera_refused"
        await service.answer(hm, verification_id, "camera_interview", value, change=True)
        clock.advance(0.05)
        await core.worker.run_once()
    clock.advance(NOTICE_INTERVAL)
    await core.worker.run_once()

    posts = len(notifier.notices)
    assert posts <= 200 * 0.05 / NOTICE_INTERVAL + 2
    assert sum(len(n.items) + n.left_out for n in notifier.notices) == 201
    assert all(len(n.items) <= MAX_NOTICE_ITEMS for n in notifier.notices)
    assert store.pending_outbox() == []


async def test_news_written_while_a_notice_is_being_sent_follows_it_in_order(
    core, store, clock, flag, service, actor, notifier_class
) -> None:
    notifier = notifier_class("slack")
    core.add_notifier(notifier)
    verification_id = await flag(PENDING)
    [first] = outbox(store)
    lease = clock() + timedelta(seconds=60)
    assert store.claim_outbox(first["id"], "elsewhere", lease) is not None  # being sent

    await service.answer(actor(), verification_id, *REFUSED)
    assert len(outbox(store)) == 2, "nothing merges into a row being sent"
    assert await core.worker.run_once() == 0, "its thread waits for the row being sent"
    store.release_outbox("elsewhere")

    assert await core.worker.run_once() == 2
    assert notifier.thread_refs == [None, "slack-msg-1"]
    assert [[i.finding.step for i in n.items] for n in notifier.notices] == [
        ["background_check"],
        ["camera_interview"],
    ]


async def test_a_row_another_worker_claimed_is_sent_by_nobody_else_until_its_lease_ends(
    core, store, clock, flag, notifier_class
) -> None:
    notifier = notifier_class("slack")
    core.add_notifier(notifier)
    await flag(PENDING)
    [row] = outbox(store)
    lease = clock() + timedelta(seconds=60)
    assert store.claim_outbox(row["id"], "replica-that-dies", lease) is not None
    assert store.claim_outbox(row["id"], "another", lease) is None

    assert await core.worker.run_once() == 0
    assert core.worker.next_due == lease, "the worker wakes when the lease runs out"
    clock.advance(61)
    assert await core.worker.run_once() == 1
    assert await core.worker.run_once() == 0
    assert len(notifier.notices) == 1
    assert outbox(store)[0]["status"] == "delivered"
    assert outbox(store)[0]["locked_by"] is None


async def test_each_row_s_lease_starts_when_it_is_claimed(core, store, clock, flag) -> None:
    """A worker with a backlog claims each row as it comes to it: a lease counted from the
    start of the run would run out while a late row is still being sent."""
    leases: list[tuple[datetime, datetime]] = []

    class Slow:
        target = "slack"

        async def deliver(self, notice, thread_ref: str | None) -> str | None:
            [sending] = [row for row in outbox(store) if row["status"] == "sending"]
            leases.append((clock(), datetime.fromisoformat(sending["locked_until"])))
            clock.advance(50)
            return None

    core.add_notifier(Slow())
    for _ in range(2):
        await flag(PENDING)

    assert await core.worker.run_once() == 2
    assert [until - claimed for claimed, until in leases] == [timedelta(seconds=60)] * 2


class SlowNotifier:
    """Takes a while to post, as a chat API does; records each post's thread."""

    target = "slack"

    def __init__(self, posts: list[str | None]) -> None:
        self.posts = posts

    async def deliver(self, notice, thread_ref: str | None) -> str | None:
        await asyncio.sleep(0.01)
        self.posts.append(thread_ref)
        return thread_ref or f"msg-{len(self.posts)}"


async def test_workers_of_two_processes_deliver_every_row_once_and_in_thread_order(
    core, make_core, store, clock, flag, service, actor
) -> None:
    """Two cores (two connections, two workers) on one database deliver side by side."""
    posts: list[str | None] = []
    other = make_core()
    core.add_notifier(SlowNotifier(posts))
    other.add_notifier(SlowNotifier(posts))
    flagged = [await flag(PENDING) for _ in range(4)]
    await asyncio.gather(core.worker.run_once(), other.worker.run_once())
    for verification_id in flagged:
        await service.answer(actor(), verification_id, *REFUSED)
    clock.advance(NOTICE_INTERVAL)

    for _ in range(3):
        await asyncio.gather(core.worker.run_once(), other.worker.run_once())

    rows = outbox(store)
    assert len(rows) == 8
    assert {row["status"] for row in rows} == {"delivered"}
    assert len(posts) == 8, "no row was sent twice"
    assert posts.count(None) == 4, "each escalation opened its thread once"


async def test_a_worker_stopped_mid_delivery_hands_its_row_back(
    core, store, flag, notifier_class
) -> None:
    started = asyncio.Event()

    class Hanging:
        target = "slack"

        async def deliver(self, notice, thread_ref: str | None) -> str | None:
            started.set()
            await asyncio.sleep(3600)
            return None

    core.add_notifier(Hanging())
    await flag(PENDING)
    task = asyncio.create_task(core.worker.run())
    await asyncio.wait_for(started.wait(), 5)
    assert outbox(store)[0]["status"] == "sending"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [row] = outbox(store)
    assert (row["status"], row["locked_by"]) == ("pending", None)


async def test_a_failed_escalation_does_not_hold_back_another(
    core, store, flag, notifier_class
) -> None:
    notifier = notifier_class("slack", fail=1)
    core.add_notifier(notifier)
    stuck = await flag(REFUSED)
    other = await flag(PENDING)

    assert await core.worker.run_once() == 1
    assert [notice.verification_id for notice in notifier.notices] == [other]
    [pending] = store.pending_outbox()
    assert pending["escalation_id"] == store.escalation_for(stuck)["id"]


async def test_a_crashing_notifier_does_not_stop_other_deliveries(
    core, store, clock, flag, notifier_class
) -> None:
    crashing = notifier_class("slack", crash=1)
    working = notifier_class("console")
    core.add_notifier(crashing)
    core.add_notifier(working)
    first = await flag(REFUSED)
    second = await flag(PENDING)

    assert await core.worker.run_once() == 3
    assert [n.verification_id for n in working.notices] == [first, second]
    assert [n.verification_id for n in crashing.notices] == [second]
    [pending] = store.pending_outbox()
    assert (pending["target"], pending["attempts"]) == ("slack", 1)
    assert pending["last_error"] == "RuntimeError: notifier bug"

    clock.advance(1)
    assert await core.worker.run_once() == 1
    assert [n.verification_id for n in crashing.notices] == [second, first]


async def test_rows_for_a_target_without_a_notifier_stay_pending(
    core, store, flag, notifier_class
) -> None:
    core.service.security_targets += ("email",)
    slack = notifier_class("slack")
    core.add_notifier(slack)
    await flag(REFUSED)

    assert await core.worker.run_once() == 1
    [pending] = store.pending_outbox()
    assert (pending["target"], pending["attempts"]) == ("email", 0)


async def test_a_pending_row_is_delivered_exactly_once_after_a_restart(
    make_core, clock, actor, candidate, notifier_class
) -> None:
    before = notifier_class("slack", fail=1)
    first = make_core(notifiers=(before,))
    started = await first.service.start(actor(), candidate())
    await first.service.answer(actor(), started.verification.id, *REFUSED)
    await first.worker.run_once()
    first.close()

    clock.advance(60)
    after = notifier_class("slack")
    second = make_core(notifiers=(after,))
    assert await second.worker.run_once() == 1
    assert await second.worker.run_once() == 0
    second.close()

    third_notifier = notifier_class("slack")
    third = make_core(notifiers=(third_notifier,))
    assert await third.worker.run_once() == 0
    assert before.notices == []
    assert [n.verification_id for n in after.notices] == [started.verification.id]
    assert third_notifier.notices == []
    [row] = third.store.db.query("SELECT status, attempts FROM outbox")
    assert row == {"status": "delivered", "attempts": 2}


async def test_the_thread_continues_after_a_restart(
    make_core, clock, actor, candidate, notifier_class
) -> None:
    before = notifier_class("slack")
    first = make_core(notifiers=(before,))
    hm = actor()
    started = await first.service.start(hm, candidate())
    await first.service.answer(hm, started.verification.id, *PENDING)
    await first.worker.run_once()
    first.close()

    after = notifier_class("slack")
    second = make_core(notifiers=(after,))
    await second.service.answer(hm, started.verification.id, *REFUSED)
    clock.advance(NOTICE_INTERVAL)
    assert await second.worker.run_once() == 1
    assert after.thread_refs == ["slack-msg-1"]
    assert after.notices[0].first is False


async def test_the_running_worker_delivers_when_kicked(
    core, service, actor, candidate, security_notifier
) -> None:
    task = asyncio.create_task(core.worker.run(idle_seconds=30))
    try:
        await asyncio.sleep(0.01)
        hm = actor()
        started = await service.start(hm, candidate())
        result = await service.answer(hm, started.verification.id, *REFUSED)
        assert result.verification.outcome is Outcome.BLOCKED
        for _ in range(100):
            if security_notifier.delivered:
                break
            await asyncio.sleep(0.01)
        assert len(security_notifier.delivered) == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# backoff


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(base=2, cap=60, seed=1)
    for attempts, ceiling in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (20, 60)]:
        delays = [backoff.delay(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), attempts
    assert backoff.delay(0) <= 2


def test_a_longer_retry_after_wins_over_backoff() -> None:
    backoff = Backoff(base=2, cap=60, seed=1)
    assert backoff.delay(1, retry_after=120) == 120
    assert backoff.delay(1, retry_after=0.1) >= 1


def test_the_default_backoff_starts_at_seconds_and_caps_at_five_minutes() -> None:
    backoff = Backoff(seed=3)
    assert 1 <= backoff.delay(1) <= 2
    assert 150 <= backoff.delay(30) <= 300
    assert timedelta(seconds=backoff.delay(30)) <= timedelta(minutes=5)


def test_retry_after_is_read_once_for_every_platform() -> None:
    """A number, an HTTP date or nonsense; within 0 and an hour."""
    from datetime import UTC
    from email.utils import format_datetime

    from bot.outbox import retry_after_seconds

    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds("7") == 7.0
    assert 80 <= retry_after_seconds(soon) <= 90
    assert retry_after_seconds("7200") == 3600.0
    assert retry_after_seconds("-5") == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
