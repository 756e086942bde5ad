"""The device hand-over follows clearance: scheduled when the pre-offer verification is cleared,
started on the candidate's start date (or at once), linked both ways, escalated like any other."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.audit import verify
from bot.models import Outcome
from bot.notices import FindingNotice, HandoverNotice

DAY = 86400


async def cleared_pre_offer(core, hm, candidate, answer_steps, pass_answers, **details):
    """A pre-offer verification answered (through `core`'s own service) with every pass."""
    started = await core.service.start(hm, candidate(**details))
    for step, (value, note) in pass_answers["pre-offer"].items():
        await core.service.answer(hm, started.verification.id, step, value, note)
    return started.verification.id


async def test_a_cleared_verification_schedules_the_hand_over_at_once(
    make_core, notifier_class, actor, candidate, answer_steps, pass_answers
) -> None:
    notifier = notifier_class("slack")
    core = make_core(notifiers=(notifier,))
    hm = actor()
    pre_offer = await cleared_pre_offer(core, hm, candidate, answer_steps, pass_answers)
    assert (await core.service.view(hm, pre_offer)).handover_due_at is not None
    report = await core.chaser.run_due()
    (handover_id,) = report.handovers
    assert (await core.chaser.run_due()).handovers == []
    await core.worker.run_once()
    (notice,) = [n for n in notifier.notices if isinstance(n, HandoverNotice)]
    assert notice.recipient == "hm-1" and notice.pre_offer_id == pre_offer
    assert notice.prompt is not None and notice.prompt.step_id == "edr_reporting"
    handover = await core.service.view(hm, handover_id)
    assert handover.playbook == "device-handover" and handover.pre_offer_id == pre_offer
    assert handover.candidate.id == (await core.service.view(hm, pre_offer)).candidate.id
    assert (await core.service.view(hm, pre_offer)).handover_id == handover_id
    listed = {view.id: view for view in await core.service.verifications(hm, open_only=False)}
    assert listed[pre_offer].handover_id == handover_id
    assert listed[handover_id].pre_offer_id == pre_offer
    events = [e["action"] for e in core.store.events(pre_offer)]
    assert events.count("handover.scheduled") == 1
    verify(core.store)  # the hand-over's start replays against the state tables


async def test_the_hand_over_waits_for_the_start_date(
    make_core, actor, candidate, answer_steps, pass_answers, clock
) -> None:
    core = make_core(timezone="Europe/Berlin")
    hm = actor()
    pre_offer = await cleared_pre_offer(
        core, hm, candidate, answer_steps, pass_answers, start_date="2025-03-10"
    )
    due = (await core.service.view(hm, pre_offer)).handover_due_at
    assert due == datetime(2025, 3, 9, 23, 0, tzinfo=UTC)  # midnight in Berlin
    clock.now = datetime(2025, 3, 9, 22, 59, tzinfo=UTC)
    assert (await core.chaser.run_due()).handovers == []
    clock.now = due
    assert len((await core.chaser.run_due()).handovers) == 1


async def test_a_hand_over_finding_escalates_like_any_other(
    make_core, notifier_class, actor, candidate, answer_steps, pass_answers
) -> None:
    notifier = notifier_class("slack")
    core = make_core(notifiers=(notifier,))
    hm = actor()
    await cleared_pre_offer(core, hm, candidate, answer_steps, pass_answers)
    (handover_id,) = (await core.chaser.run_due()).handovers
    outcome = await core.service.answer(hm, handover_id, "edr_reporting", "not_reporting")
    assert outcome.escalated and outcome.verification.outcome is not Outcome.CLEARED
    await core.worker.run_once()
    findings = [n for n in notifier.notices if isinstance(n, FindingNotice)]
    assert findings[-1].verification_id == handover_id


async def test_with_an_it_channel_the_hand_over_is_for_whoever_takes_it(
    make_core, notifier_class, actor, candidate, answer_steps, pass_answers
) -> None:
    notifier = notifier_class("slack")
    core = make_core(notifiers=(notifier,), slack_it_channel="C0IT")
    hm = actor()
    await cleared_pre_offer(core, hm, candidate, answer_steps, pass_answers)
    (handover_id,) = (await core.chaser.run_due()).handovers
    await core.worker.run_once()
    (notice,) = [n for n in notifier.notices if isinstance(n, HandoverNotice)]
    assert notice.to_it_channel
    taker = actor("U0ITPERSON")
    taken = await core.service.assign(taker, handover_id)
    assert taken.verification.requested_by == "U0ITPERSON"


async def test_no_hand_over_for_a_blocked_or_a_hand_over_verification(
    make_core, actor, candidate, answer_steps, pass_answers
) -> None:
    core = make_core()
    hm = actor()
    blocked = await core.service.start(hm, candidate())
    await core.service.answer(hm, blocked.verification.id, "notarized_id", "not_provided")
    direct = await core.service.start(hm, candidate(), "device-handover")
    for step, (value, note) in pass_answers["device-handover"].items():
        await core.service.answer(hm, direct.verification.id, step, value, note)
    assert (await core.chaser.run_due()).handovers == []
