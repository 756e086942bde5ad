"""The outcome rules: pure (bot.evaluator) and as the service applies them to stored answers."""

from __future__ import annotations

import pytest

from bot.evaluator import outcome
from bot.models import Outcome, Result

STEPS = ["a", "b", "c"]
P, R, B = Result.PASS, Result.REVIEW, Result.BLOCK


@pytest.mark.parametrize(
    ("latest", "expected"),
    [
        ({}, Outcome.IN_PROGRESS),
        ({"a": P}, Outcome.IN_PROGRESS),
        ({"a": P, "b": R}, Outcome.IN_PROGRESS),
        ({"a": B}, Outcome.BLOCKED),
        ({"c": B}, Outcome.BLOCKED),
        ({"a": R, "b": B}, Outcome.BLOCKED),
        ({"a": P, "b": P, "c": P}, Outcome.CLEARED),
        ({"a": P, "b": R, "c": P}, Outcome.NEEDS_REVIEW),
        ({"a": R, "b": R, "c": R}, Outcome.NEEDS_REVIEW),
        ({"a": P, "b": R, "c": B}, Outcome.BLOCKED),
    ],
)
def test_outcome_of_latest_results(latest: dict, expected: Outcome) -> None:
    assert outcome(STEPS, latest) is expected


def test_block_wins_even_when_no_other_step_is_answered() -> None:
    assert outcome(["a", "b", "c", "d", "e", "f"], {"f": B}) is Outcome.BLOCKED


def test_answers_of_steps_outside_the_playbook_do_not_complete_it() -> None:
    assert outcome(STEPS, {"a": P, "b": P, "x": P}) is Outcome.IN_PROGRESS


def test_confirmed_fraud_blocks_whatever_the_answers() -> None:
    assert outcome(STEPS, {}, fraud_confirmed=True) is Outcome.BLOCKED
    assert outcome(STEPS, {"a": P, "b": P, "c": P}, fraud_confirmed=True) is Outcome.BLOCKED


def test_cancelled_unless_blocked() -> None:
    assert outcome(STEPS, {"a": P}, cancelled=True) is Outcome.CANCELLED
    assert outcome(STEPS, {"a": P, "b": P, "c": P}, cancelled=True) is Outcome.CANCELLED
    assert outcome(STEPS, {"a": B}, cancelled=True) is Outcome.BLOCKED


def test_the_rules_accept_any_iterable_of_steps() -> None:
    assert outcome(iter(STEPS), {"a": P, "b": P, "c": P}) is Outcome.CLEARED
    assert outcome(iter(STEPS), {"a": P, "b": P}) is Outcome.IN_PROGRESS


# through the service


async def start(service, who, candidate, playbook: str | None = None) -> str:
    return (await service.start(who, candidate(), playbook)).verification.id


async def test_blocked_as_soon_as_one_answer_blocks(service, actor, candidate) -> None:
    hm = actor()
    verification_id = await start(service, hm, candidate)
    result = await service.answer(hm, verification_id, "background_check", "not_started")
    assert result.verification.outcome is Outcome.BLOCKED
    assert result.verification.answered == 1
    assert result.next_prompt is not None
    assert result.next_prompt.step_id == "notarized_id"


async def test_in_progress_until_every_step_is_answered_then_cleared(
    service, actor, candidate, pass_answers
) -> None:
    hm = actor()
    verification_id = await start(service, hm, candidate, "device-handover")
    answers = list(pass_answers["device-handover"].items())
    for step_id, (value, note) in answers[:-1]:
        result = await service.answer(hm, verification_id, step_id, value, note)
        assert result.verification.outcome is Outcome.IN_PROGRESS
    step_id, (value, note) = answers[-1]
    result = await service.answer(hm, verification_id, step_id, value, note)
    assert result.verification.outcome is Outcome.CLEARED
    assert result.finished


async def test_needs_review_when_finished_with_a_review(
    service, actor, candidate, answer_steps
) -> None:
    hm = actor()
    verification_id = await start(service, hm, candidate, "device-handover")
    result = await answer_steps(
        hm,
        verification_id,
        {
            "edr_reporting": "reporting",
            "remote_access_tools": "none",
            "ip_kvm": "cannot_tell",
            "first_logins": "consistent",
            "screen_sharing": "none",
        },
    )
    assert result.verification.outcome is Outcome.IN_PROGRESS
    result = await service.answer(hm, verification_id, "mfa_devices", "own_only")
    assert result.verification.outcome is Outcome.NEEDS_REVIEW


async def test_a_changed_answer_appends_a_row_and_the_latest_counts(
    service, store, actor, candidate
) -> None:
    hm = actor()
    verification_id = await start(service, hm, candidate, "device-handover")
    first = await service.answer(hm, verification_id, "edr_reporting", "not_installed")
    assert first.verification.outcome is Outcome.BLOCKED

    changed = await service.answer(hm, verification_id, "edr_reporting", "reporting", change=True)

    assert not changed.duplicate
    assert changed.recorded.answer == "reporting"
    assert [f.answer for f in changed.verification.findings] == ["reporting"]
    rows = store.answers(verification_id)
    assert [(row["step_id"], row["value"], row["result"]) for row in rows] == [
        ("edr_reporting", "not_installed", "block"),
        ("edr_reporting", "reporting", "pass"),
    ]
    assert changed.verification.outcome is Outcome.BLOCKED, "the block awaits security"
    assert changed.verification.awaiting_security
    await service.decide(actor("sec-1"), first.verification.escalation_id, "clear", "typo")
    assert store.verification(verification_id)["status"] == "in_progress"
    actions = [event["action"] for event in store.events(verification_id)]
    assert actions.count("answer.recorded") == 1
    assert actions.count("answer.changed") == 1


async def test_changing_a_pass_to_a_block_blocks_a_cleared_verification(
    service, actor, candidate, pass_answers, answer_steps
) -> None:
    hm = actor()
    verification_id = await start(service, hm, candidate, "device-handover")
    done = await answer_steps(hm, verification_id, pass_answers["device-handover"])
    assert done.verification.outcome is Outcome.CLEARED
    changed = await service.answer(hm, verification_id, "ip_kvm", "cannot_tell", change=True)
    assert changed.verification.outcome is Outcome.NEEDS_REVIEW
    changed = await service.answer(
        hm, verification_id, "ip_kvm", "seen", "PiKVM on USB-2, 3 March", change=True
    )
    assert changed.verification.outcome is Outcome.BLOCKED
    assert changed.escalated


async def test_a_repeat_answer_without_change_records_nothing(
    service, store, actor, candidate
) -> None:
    hm = actor()
    verification_id = await start(service, hm, candidate, "device-handover")
    first = await service.answer(hm, verification_id, "ip_kvm", "none")
    events = len(store.events())

    for value in ("none", "cannot_tell"):
        again = await service.answer(hm, verification_id, "ip_kvm", value)
        assert again.duplicate
        assert again.recorded.answer_id == first.recorded.answer_id
        assert again.recorded.answer == "none"

    assert len(store.answers(verification_id)) == 1
    assert len(store.events()) == events


async def test_a_change_to_the_same_answer_and_note_records_nothing(
    service, store, actor, candidate
) -> None:
    hm = actor()
    verification_id = await start(service, hm, candidate, "device-handover")
    await service.answer(hm, verification_id, "first_logins", "vpn", "Astrill, 1.2.3.4")
    again = await service.answer(
        hm, verification_id, "first_logins", "vpn", "  Astrill,  1.2.3.4 ", change=True
    )
    assert again.duplicate
    assert len(store.answers(verification_id)) == 1
    other_note = await service.answer(
        hm, verification_id, "first_logins", "vpn", "Astrill, 5.6.7.8", change=True
    )
    assert not other_note.duplicate
    assert len(store.answers(verification_id)) == 2


async def test_a_repeated_dedupe_key_records_nothing(service, store, actor, candidate) -> None:
    hm = actor()
    verification_id = await start(service, hm, candidate, "device-handover")
    first = await service.answer(
        hm, verification_id, "edr_reporting", "reporting", dedupe_key="slack:evt-1"
    )
    retried = await service.answer(
        hm, verification_id, "edr_reporting", "not_installed", change=True, dedupe_key="slack:evt-1"
    )
    assert retried.duplicate
    assert retried.recorded.answer_id == first.recorded.answer_id
    assert retried.verification.outcome is Outcome.IN_PROGRESS
    assert [row["value"] for row in store.answers(verification_id)] == ["reporting"]


async def test_the_answers_table_is_append_only(service, store, actor, candidate) -> None:
    hm = actor()
    verification_id = await start(service, hm, candidate, "device-handover")
    await service.answer(hm, verification_id, "edr_reporting", "not_installed")

    with pytest.raises(store.db.Error, match="append-only"):
        store.db.execute("UPDATE answers SET result = 'pass', value = 'reporting'")
    with pytest.raises(store.db.Error, match="append-only"):
        store.db.execute("DELETE FROM answers")

    rows = store.answers(verification_id)
    assert [(row["value"], row["result"]) for row in rows] == [("not_installed", "block")]


async def test_the_stored_status_follows_every_answer(service, store, actor, candidate) -> None:
    hm = actor()
    verification_id = await start(service, hm, candidate)
    assert store.verification(verification_id)["status"] == "in_progress"
    await service.answer(hm, verification_id, "camera_interview", "camera_refused")
    assert store.verification(verification_id)["status"] == "blocked"
    transitions = [
        event["detail"]
        for event in store.events(verification_id)
        if event["action"] == "verification.outcome"
    ]
    assert transitions == ['{"from": "in_progress", "to": "blocked"}']
