"""No verification stalls: reminders, overdue posts and re-surfaced findings, scheduled in the
database and sent once whatever restarts and however many processes share it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.durations import BusinessHours, WorkClock, format_duration, parse_duration
from bot.notices import OverdueNotice, ReminderNotice, ResurfaceNotice
from bot.runtime import Core

HOUR = 3600
DAY = 24 * HOUR


@pytest.fixture
def chasing(make_core, notifier_class):
    """A core with a recording Slack notifier (security channel and DMs); keyword settings."""

    def make(**overrides):
        notifier = notifier_class("slack")
        core = make_core(notifiers=(notifier,), **overrides)
        return core, notifier

    return make


async def deliver(core: Core) -> None:
    await core.worker.run_once()


def of_kind(notifier, kind: type) -> list:
    return [notice for notice in notifier.notices if isinstance(notice, kind)]


# durations and working time


def test_durations_are_written_with_a_unit() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration(" 3d ") == timedelta(days=3)
    for bad in ("", "24", "h", "1.5h", "0h", "3 days"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert format_duration(timedelta(days=3, hours=4, minutes=5)) == "3d 4h"


def test_business_hours_are_checked() -> None:
    hours = BusinessHours.parse("Mon-Fri 09:00-17:00 America/New_York")
    assert hours.days == frozenset(range(5))
    for bad in (
        "Mon-Fri 09:00-17:00",
        "Mon-Fri 17:00-09:00 UTC",
        "Mon-Fry 09:00-17:00 UTC",
        "Mon-Fri 09:00-17:00 Mars/Olympus",
        "Mon-Fri 25:00-26:00 UTC",
    ):
        with pytest.raises(ValueError):
            BusinessHours.parse(bad)


def test_working_time_skips_the_weekend_in_the_offices_time_zone() -> None:
    clock = WorkClock(BusinessHours.parse("Mon-Fri 09:00-17:00 America/New_York"))
    friday_3pm_new_york = datetime(2025, 3, 7, 20, 0, tzinfo=UTC)  # EST, UTC-5
    # 2 hours on Friday, 6 on Monday; New York moved to EDT (UTC-4) on Sunday.
    assert clock.add(friday_3pm_new_york, timedelta(hours=8)) == datetime(
        2025, 3, 10, 19, 0, tzinfo=UTC
    )
    saturday = datetime(2025, 3, 8, 12, 0, tzinfo=UTC)
    assert clock.add(saturday, timedelta(minutes=30)) == datetime(2025, 3, 10, 13, 30, tzinfo=UTC)
    assert WorkClock().add(saturday, timedelta(hours=8)) == saturday + timedelta(hours=8)


# reminders


async def test_reminders_fall_due_every_interval_and_stop_after_three(
    chasing, actor, candidate, clock
) -> None:
    core, notifier = chasing(overdue_after=timedelta(days=30))
    started = await core.service.start(actor(), candidate())
    chaser = core.chaser
    sent_at = []
    for _ in range(5 * DAY // HOUR):
        clock.advance(HOUR)
        if (await chaser.run_due()).reminders:
            sent_at.append((clock.now - started.verification.created_at).total_seconds() / HOUR)
    assert sent_at == [24, 48, 72]
    await deliver(core)
    reminders = of_kind(notifier, ReminderNotice)
    assert [r.seq for r in reminders] == [1, 2, 3]
    first = reminders[0]
    assert first.recipient == "hm-1" and first.verification_id == started.verification.id
    assert first.prompt is not None and first.prompt.step_id == "notarized_id"
    assert notifier.thread_refs == [None, None, None]


async def test_an_answer_starts_a_new_quiet_spell(
    chasing, actor, candidate, clock, pass_answers
) -> None:
    core, notifier = chasing(remind_after=timedelta(hours=24), overdue_after=timedelta(days=30))
    hm = actor()
    started = await core.service.start(hm, candidate())
    clock.advance(DAY)
    assert (await core.chaser.run_due()).reminders == [started.verification.id]
    clock.advance(12 * HOUR)
    value, note = pass_answers["pre-offer"]["notarized_id"]
    await core.service.answer(hm, started.verification.id, "notarized_id", value, note)
    clock.advance(23 * HOUR)
    assert (await core.chaser.run_due()).reminders == []
    clock.advance(HOUR)
    assert (await core.chaser.run_due()).reminders == [started.verification.id]
    await deliver(core)
    latest = of_kind(notifier, ReminderNotice)[-1]
    assert latest.seq == 1 and latest.prompt.step_id == "background_check"
    assert latest.answered == 1


async def test_reminders_count_working_hours_only(chasing, actor, candidate, clock) -> None:
    core, _ = chasing(
        remind_after=timedelta(hours=8),
        overdue_after=timedelta(days=30),
        business_hours="Mon-Fri 09:00-17:00 America/New_York",
    )
    clock.now = datetime(2025, 3, 7, 20, 0, tzinfo=UTC)  # Friday 15:00 in New York
    await core.service.start(actor(), candidate())
    clock.now = datetime(2025, 3, 10, 18, 59, tzinfo=UTC)  # Monday 14:59 EDT
    assert (await core.chaser.run_due()).reminders == []
    clock.advance(60)
    assert len((await core.chaser.run_due()).reminders) == 1


async def test_a_finished_or_cancelled_verification_gets_no_reminder(
    chasing, actor, candidate, clock, answer_steps, pass_answers
) -> None:
    core, _ = chasing()
    hm = actor()
    done = await core.service.start(hm, candidate())
    await answer_steps(hm, done.verification.id, pass_answers["pre-offer"])
    cancelled = await core.service.start(hm, candidate())
    await core.service.cancel(hm, cancelled.verification.id)
    clock.advance(4 * DAY)
    report = await core.chaser.run_due()
    assert report.reminders == [] and report.overdue == []


async def test_a_reminder_for_a_step_answered_before_delivery_is_dropped(
    chasing, actor, candidate, clock, answer_steps, pass_answers
) -> None:
    core, notifier = chasing()
    hm = actor()
    started = await core.service.start(hm, candidate())
    clock.advance(DAY)
    await core.chaser.run_due()
    await answer_steps(hm, started.verification.id, pass_answers["pre-offer"])
    await deliver(core)
    assert of_kind(notifier, ReminderNotice) == []


# restarts and two processes


async def test_reminders_due_while_down_are_sent_once_after_the_restart(
    chasing, actor, candidate, clock
) -> None:
    core, _ = chasing(overdue_after=timedelta(days=30))
    started = await core.service.start(actor(), candidate())
    core.close()
    clock.advance(2 * DAY + HOUR)  # reminders 1 and 2 fell due while nothing ran
    restarted, notifier = chasing(overdue_after=timedelta(days=30))
    assert (await restarted.chaser.run_due()).reminders == [started.verification.id]
    assert (await restarted.chaser.run_due()).reminders == []
    again, _ = chasing(overdue_after=timedelta(days=30))
    assert (await again.chaser.run_due()).reminders == []
    await deliver(restarted)
    assert [r.seq for r in of_kind(notifier, ReminderNotice)] == [2]


async def test_two_processes_on_one_database_send_nothing_twice(
    chasing, actor, candidate, clock
) -> None:
    first, first_notifier = chasing()
    second, second_notifier = chasing()
    hm = actor()
    for _ in range(3):
        await first.service.start(hm, candidate())
    sent: dict[str, list] = {"reminders": [], "overdue": []}
    for _ in range(4):
        clock.advance(DAY)
        reports = await asyncio.gather(first.chaser.run_due(), second.chaser.run_due())
        for report in reports:
            sent["reminders"] += report.reminders
            sent["overdue"] += report.overdue
    assert len(sent["reminders"]) == 9 and len(set(sent["overdue"])) == len(sent["overdue"]) == 3
    await asyncio.gather(first.worker.run_once(), second.worker.run_once())
    delivered = first_notifier.notices + second_notifier.notices
    assert len([n for n in delivered if isinstance(n, ReminderNotice)]) == 9
    assert len([n for n in delivered if isinstance(n, OverdueNotice)]) == 3


# overdue


async def test_an_overdue_verification_is_posted_to_security_once(
    chasing, actor, candidate, clock, pass_answers
) -> None:
    core, notifier = chasing(remind_after=timedelta(days=30))
    hm = actor()
    started = await core.service.start(hm, candidate())
    value, note = pass_answers["pre-offer"]["notarized_id"]
    await core.service.answer(hm, started.verification.id, "notarized_id", value, note)
    clock.advance(3 * DAY - 1)
    assert (await core.chaser.run_due()).overdue == []
    clock.advance(1)
    assert (await core.chaser.run_due()).overdue == [started.verification.id]
    clock.advance(DAY)
    assert (await core.chaser.run_due()).overdue == []
    await deliver(core)
    (overdue,) = of_kind(notifier, OverdueNotice)
    assert overdue.requested_by == "hm-1"
    assert "Notarized proof of identity" not in overdue.missing
    assert "Background check" in " ".join(overdue.missing)
    actions = [event["action"] for event in core.store.events(started.verification.id)]
    assert actions.count("verification.overdue") == 1


async def test_security_acknowledges_an_overdue_post_once(chasing, actor, candidate, clock) -> None:
    from bot.errors import PermissionDenied

    core, _ = chasing()
    hm = actor()
    started = await core.service.start(hm, candidate())
    with pytest.raises(PermissionDenied):
        await core.service.acknowledge_overdue(hm, started.verification.id)
    security = actor("sec-1")
    assert await core.service.acknowledge_overdue(security, started.verification.id)
    assert not await core.service.acknowledge_overdue(security, started.verification.id)
    events = [e["action"] for e in core.store.events(started.verification.id)]
    assert events.count("overdue.acknowledged") == 1


# findings awaiting a decision


async def test_undecided_findings_are_raised_again_in_the_thread_at_most_three_times(
    chasing, actor, candidate, clock
) -> None:
    core, notifier = chasing(overdue_after=timedelta(days=30))
    hm = actor()
    started = await core.service.start(hm, candidate())
    await core.service.answer(hm, started.verification.id, "notarized_id", "not_provided")
    await deliver(core)
    first_ref = notifier.delivered[0][1] or "slack-msg-1"
    resurfaced = 0
    for _ in range(5):
        clock.advance(DAY)
        resurfaced += len((await core.chaser.run_due()).resurfaced)
        await deliver(core)
    assert resurfaced == 3
    notices = of_kind(notifier, ResurfaceNotice)
    assert [n.seq for n in notices] == [1, 2, 3] and notices[0].undecided == 1
    threads = [ref for notice, ref in notifier.delivered if isinstance(notice, ResurfaceNotice)]
    assert threads == [first_ref] * 3


async def test_a_decided_escalation_is_not_raised_again(chasing, actor, candidate, clock) -> None:
    core, notifier = chasing(overdue_after=timedelta(days=30))
    hm = actor()
    started = await core.service.start(hm, candidate())
    await core.service.answer(hm, started.verification.id, "notarized_id", "not_provided")
    clock.advance(DAY)
    assert len((await core.chaser.run_due()).resurfaced) == 1
    await core.service.decide(
        actor("sec-1"), started.verification.escalation_id or 1, "clear", "known issue"
    )
    await deliver(core)
    assert of_kind(notifier, ResurfaceNotice) == []
    clock.advance(DAY)
    assert (await core.chaser.run_due()).resurfaced == []


async def test_a_reminder_that_cannot_be_delivered_holds_back_no_other_notice(
    make_core, notifier_class, actor, candidate, clock
) -> None:
    class NoChatWithHm(notifier_class):
        async def deliver(self, notice, thread_ref):
            if isinstance(notice, ReminderNotice):
                from bot.outbox import DeliveryError

                raise DeliveryError("no chat with the hiring manager yet")
            return await super().deliver(notice, thread_ref)

    notifier = NoChatWithHm("slack")
    core = make_core(notifiers=(notifier,), overdue_after=timedelta(days=1))
    await core.service.start(actor(), candidate())
    clock.advance(DAY)
    report = await core.chaser.run_due()
    assert report.reminders and report.overdue
    await core.worker.run_once()
    assert [type(n) for n in notifier.notices] == [OverdueNotice]
