"""A verification starts without the laptop shipping address; the check waits for it."""

from __future__ import annotations

import pytest

from bot.errors import InvalidInput, PermissionDenied
from bot.models import Actor, Outcome, Platform

ANSWERED = ("notarized_id", "background_check", "camera_interview")
LATER = ("education_history", "profile_photo")


async def test_without_shipping_address_every_other_step_is_asked_and_it_stays_in_progress(
    service, store, actor, candidate, answer_steps, pass_answers
) -> None:
    hm = actor()
    started = await service.start(hm, candidate(name="Zoë Ångström", shipping_address=None))
    verification_id = started.verification.id
    outcome = await answer_steps(hm, verification_id, pass_answers["pre-offer"])
    view = outcome.verification
    assert outcome.next_prompt is None
    assert view.outcome is Outcome.IN_PROGRESS
    assert view.waiting_for == ["the laptop shipping address"]
    assert view.awaiting_shipping_address
    assert (view.answered, view.total) == (7, 8)

    given = await service.give_shipping_address(
        hm, verification_id, "9 Harbor Road, Springfield, IL 62701"
    )
    assert [f.answer for f in given.computed] == ["mismatch"]
    assert given.verification.outcome is Outcome.NEEDS_REVIEW
    assert given.verification.waiting_for == []
    actions = [e["action"] for e in store.events(verification_id)]
    assert "candidate.shipping_address_given" in actions


async def test_shipping_address_given_early_is_checked_when_the_step_is_reached(
    service, actor, candidate, answer_steps, pass_answers
) -> None:
    hm = actor()
    details = candidate(shipping_address=None)
    started = await service.start(hm, details)
    given = await service.give_shipping_address(
        hm, started.verification.id, details["home_address"]
    )
    assert given.computed == []
    assert given.next_prompt.step_id == "notarized_id"
    done = await answer_steps(hm, started.verification.id, pass_answers["pre-offer"])
    assert done.verification.outcome is Outcome.CLEARED


async def test_the_same_address_again_is_a_repeat_another_is_refused(
    service, actor, candidate
) -> None:
    hm = actor()
    details = candidate(shipping_address=None)
    started = await service.start(hm, details)
    await service.give_shipping_address(hm, started.verification.id, details["home_address"])
    again = await service.give_shipping_address(
        hm, started.verification.id, details["home_address"].upper()
    )
    assert again.duplicate
    with pytest.raises(InvalidInput, match="already given"):
        await service.give_shipping_address(
            hm, started.verification.id, "9 Other Road, Springfield, IL 62701"
        )


async def test_a_bad_address_or_a_stranger_is_refused_and_nothing_is_written(
    service, store, actor, candidate
) -> None:
    started = await service.start(actor(), candidate(shipping_address=None))
    with pytest.raises(InvalidInput) as raised:
        await service.give_shipping_address(actor(), started.verification.id, "!!! ,,, ---")
    assert raised.value.field == "shipping_address"
    with pytest.raises(PermissionDenied):
        await service.give_shipping_address(
            actor("hm-2"), started.verification.id, "1 Main St, Springfield, IL 62701"
        )
    api = Actor(user_id="ats", platform=Platform.API)
    with pytest.raises(PermissionDenied):
        await service.answer(api, started.verification.id, "notarized_id", "not_provided")
    assert store.candidate(started.verification.candidate.id)["shipping_address"] is None


async def test_a_missing_address_never_matches_another_candidates_missing_address(
    service, actor, candidate, answer_steps, pass_answers
) -> None:
    hm = actor()
    first = await service.start(hm, candidate(shipping_address=None))
    second = await service.start(hm, candidate(shipping_address=None))
    address = "77 Farm Lane, Springfield, IL 62701"
    for started in (first, second):
        await answer_steps(hm, started.verification.id, pass_answers["pre-offer"])
    one = await service.give_shipping_address(hm, first.verification.id, address)
    assert [f.answer for f in one.computed] == ["mismatch"]
    two = await service.give_shipping_address(hm, second.verification.id, address)
    assert [f.answer for f in two.computed] == ["shared"]
