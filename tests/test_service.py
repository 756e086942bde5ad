"""VerificationService: starting, the computed address step and the laptop-farm signal,
security decisions, and who may do what."""

from __future__ import annotations

import json

import pytest

from bot.candidates import InvalidCandidate
from bot.errors import InvalidInput, NotFound, PermissionDenied
from bot.ids import parse_verification_id
from bot.models import Decision, EscalationStatus, Outcome, Platform, Result
from bot.notices import DecisionNotice

SECURITY = "sec-1"
FIRST_STEPS = {
    "notarized_id": ("verified", "Commission 12345, Cook County, IL"),
    "background_check": "clear",
    "camera_interview": "matched",
    "liveness_probes": "natural",
}


def count(store, table: str) -> int:
    return store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def refusals(store) -> list[dict]:
    return [
        {**event, "detail": json.loads(event["detail"])}
        for event in store.events()
        if event["action"] == "refused"
    ]


@pytest.fixture
def security(actor):
    return actor(SECURITY)


@pytest.fixture
def reach_address_step(service, answer_steps):
    """Start a pre-offer verification and answer up to the computed address step."""

    async def run(who, details: dict):
        started = await service.start(who, details)
        assert started.computed == []
        return await answer_steps(who, started.verification.id, FIRST_STEPS)

    return run


# starting


async def test_start_records_the_candidate_and_asks_the_first_step(
    service, store, actor, candidate
) -> None:
    details = candidate(
        name="  Jane\x00 Doe ", email="Jane.Doe@EXAMPLE.com", phone="(312) 555-0100"
    )
    started = await service.start(actor(), details)

    view = started.verification
    assert parse_verification_id(view.id.lower()) == view.id
    assert view.outcome is Outcome.IN_PROGRESS
    assert (view.answered, view.total) == (0, 8)
    assert view.candidate.name == "Jane Doe"
    assert view.candidate.email == "Jane.Doe@example.com"
    assert view.candidate.phone == "+13125550100"
    assert view.requested_by == "hm-1"
    assert view.platform is Platform.SLACK
    assert started.next_prompt.step_id == "notarized_id"
    assert started.next_prompt.candidate_name == "Jane Doe"
    assert [e["action"] for e in store.events(view.id)] == ["verification.started"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"name": "   "}, "name"),
        ({"phone": "12"}, "phone"),
        ({"home_address": "!!! ,,, ---"}, "home_address"),
        ({"shipping_address": "!!! ,,, ---"}, "shipping_address"),
        ({"nickname": "JD"}, "nickname"),
    ],
)
async def test_invalid_candidate_is_refused_field_by_field_and_writes_nothing(
    service, store, actor, candidate, overrides: dict, field: str
) -> None:
    with pytest.raises(InvalidCandidate) as raised:
        await service.start(actor(), candidate(**overrides))
    assert field in raised.value.problems
    assert count(store, "candidates") == count(store, "verifications") == 0
    assert store.events() == []


async def test_unknown_playbook_is_refused(service, store, actor, candidate) -> None:
    with pytest.raises(InvalidInput) as raised:
        await service.start(actor(), candidate(), "nope")
    assert raised.value.field == "playbook"
    assert count(store, "verifications") == 0


async def test_a_resubmitted_start_form_creates_one_verification(
    service, store, actor, candidate
) -> None:
    details = candidate()
    first = await service.start(actor(), details, dedupe_key="slack:view:V1")
    again = await service.start(actor(), details, dedupe_key="slack:view:V1")
    other = await service.start(actor(), candidate(), dedupe_key="slack:view:V2")

    assert not first.duplicate
    assert again.duplicate
    assert again.verification.id == first.verification.id
    assert other.verification.id != first.verification.id
    assert count(store, "verifications") == 2
    assert count(store, "candidates") == 2


async def test_someone_elses_start_key_reveals_nothing(service, store, actor, candidate) -> None:
    await service.start(actor("hm-1"), candidate(), dedupe_key="teams:c:1")
    with pytest.raises(PermissionDenied):
        await service.start(actor("hm-2"), candidate(), dedupe_key="teams:c:1")
    assert count(store, "verifications") == 1


@pytest.mark.parametrize(
    ("step", "value", "note", "field"),
    [
        ("no_such_step", "verified", None, "step"),
        ("camera_interview", "maybe", None, "answer"),
        ("notarized_id", "verified", "x" * 1001, "note"),
    ],
)
async def test_invalid_answer_is_refused_and_writes_nothing(
    service, store, actor, candidate, step, value, note, field
) -> None:
    started = await service.start(actor(), candidate())
    events = len(store.events())
    with pytest.raises(InvalidInput) as raised:
        await service.answer(actor(), started.verification.id, step, value, note)
    assert raised.value.field == field
    assert count(store, "answers") == 0
    assert len(store.events()) == events


async def test_bad_or_unknown_verification_ids(service, actor) -> None:
    with pytest.raises(InvalidInput) as raised:
        await service.answer(actor(), "VB-XYZ; DROP TABLE", "notarized_id", "verified")
    assert raised.value.field == "verification"
    with pytest.raises(NotFound):
        await service.answer(actor(), "vb-0000abcd", "camera_interview", "matched")


# the computed address step


async def test_address_step_matches_the_same_place_written_differently(
    store, actor, candidate, reach_address_step
) -> None:
    details = candidate(
        home_address="123 Main Street, Apt 4B, Springfield, IL 62701",
        shipping_address="123 MAIN ST #4b, Springfield IL 62701",
    )
    result = await reach_address_step(actor(), details)

    [computed, identity] = result.computed
    assert (identity.step, identity.answer) == ("identity_signals", "none")
    assert (computed.step, computed.answer, computed.result) == (
        "shipping_address",
        "match",
        "pass",
    )
    assert computed.answered_by == "verifybot"
    assert not result.escalated
    assert result.next_prompt.step_id == "education_history"
    assert store.escalation_for(result.verification.id) is None


async def test_address_step_flags_a_different_shipping_address_for_review(
    actor, candidate, reach_address_step, security_notifier
) -> None:
    details = candidate(
        home_address="123 Main Street, Springfield, IL 62701",
        shipping_address="77 Harbor Road, Unit 9, Baltimore, MD 21230",
    )
    result = await reach_address_step(actor(), details)

    computed = result.computed[0]
    assert (computed.answer, computed.result) == ("mismatch", Result.REVIEW)
    assert "'77 Harbor Road, Unit 9, Baltimore, MD 21230'" in computed.reason
    assert "'123 Main Street, Springfield, IL 62701'" in computed.reason
    assert result.escalated
    assert result.verification.outcome is Outcome.IN_PROGRESS


async def test_several_people_shipping_to_one_address_is_the_laptop_farm_signal(
    service, store, actor, security, candidate, reach_address_step
) -> None:
    written = [
        "500 Oak Avenue, Apt 2, Springfield, IL 62704",
        "500 OAK AVE #2 SPRINGFIELD IL 62704",
        "500 oak ave. unit 2, springfield, illinois 62704-1234",
    ]
    first = await reach_address_step(
        actor(),
        candidate(email="a@example.com", home_address=written[0], shipping_address=written[0]),
    )
    second = await reach_address_step(
        actor("hm-2"), candidate(email="b@example.net", shipping_address=written[1])
    )
    third = await reach_address_step(
        actor("hm-3", Platform.TEAMS), candidate(email="c@example.org", shipping_address=written[2])
    )
    ids = [result.verification.id for result in (first, second, third)]

    assert first.computed[0].answer == "match"
    assert (second.computed[0].answer, second.computed[0].result) == ("shared", Result.BLOCK)
    assert (third.computed[0].answer, third.computed[0].result) == ("shared", Result.BLOCK)
    for shown in (second.computed[0], third.computed[0]):
        assert "another candidate" in shown.reason and "laptop-farm" in shown.reason
        assert not any(other in shown.reason for other in ids)
        assert shown.security_detail is None
    seen_by_security = await service.view(security, ids[2])
    [address] = [f for f in seen_by_security.findings if f.step == "shipping_address"]
    assert f"Candidate 1: {ids[0]}" in address.security_detail
    assert f"Candidate 2: {ids[1]}" in address.security_detail
    assert ids[2] not in address.security_detail
    assert third.verification.outcome is Outcome.BLOCKED
    assert third.escalated
    [computed_event, _] = [
        json.loads(e["detail"]) for e in store.events(ids[2]) if e["action"] == "answer.computed"
    ]
    assert computed_event["related"] == ids[:2]


async def test_the_same_person_verified_again_is_not_another_identity(
    actor, candidate, reach_address_step
) -> None:
    details = candidate(email="jane@example.com", name="Jane Doe")
    first = await reach_address_step(actor(), details)
    again = await reach_address_step(
        actor("hm-2"), {**details, "email": "JANE@Example.com", "name": "  jane   DOE"}
    )
    assert [f.answer for f in first.computed] == ["match", "none"]
    assert [f.answer for f in again.computed] == ["match", "none"]
    assert again.verification.outcome is Outcome.IN_PROGRESS


async def test_one_mailbox_under_another_name_is_another_person(
    actor, candidate, reach_address_step
) -> None:
    details = candidate(email="jane@example.com", name="Jane Doe")
    await reach_address_step(actor(), details)
    other = await reach_address_step(actor("hm-2"), {**details, "name": "Joan Roe"})
    assert [(f.answer, f.result) for f in other.computed] == [
        ("shared", Result.BLOCK),
        ("linked", Result.BLOCK),
    ]
    assert "under another name" in other.computed[1].reason
    assert "Jane Doe" not in other.computed[1].reason


async def test_foreign_addresses_match_and_are_shared(
    service, actor, candidate, reach_address_step
) -> None:
    home = "Hauptstraße 5, 10115 Berlin, Germany"
    first = await reach_address_step(
        actor(),
        candidate(home_address=home, shipping_address="HAUPTSTRASSE 5 10115 BERLIN GERMANY"),
    )
    moved = await reach_address_step(
        actor(),
        candidate(home_address=home, shipping_address="Hauptstraße 7, 10115 Berlin, Germany"),
    )
    other = await reach_address_step(
        actor("hm-2"),
        candidate(
            home_address="10 Downing Street, London SW1A 2AA, United Kingdom",
            shipping_address="hauptstrasse 5, 10115 berlin, germany",
        ),
    )
    assert first.computed[0].answer == "match"
    assert moved.computed[0].answer == "mismatch"
    assert other.computed[0].answer == "shared"
    assert first.verification.id not in other.computed[0].reason
    seen_by_security = await service.view(actor(SECURITY), other.verification.id)
    [address] = [f for f in seen_by_security.findings if f.step == "shipping_address"]
    assert first.verification.id in address.security_detail


# security decisions


@pytest.fixture
def escalated(service, actor, candidate):
    """A verification by hm-1 on Slack with a review finding; returns (verification, escalation)."""

    async def make(who=None):
        who = who or actor()
        started = await service.start(who, candidate())
        result = await service.answer(who, started.verification.id, "background_check", "pending")
        assert result.escalated
        return result.verification.id, result.verification.escalation_id

    return make


async def test_security_acknowledges_an_escalation(service, store, security, escalated) -> None:
    verification_id, escalation_id = await escalated()

    view, changed = await service.decide(security, escalation_id, "acknowledge", None)

    assert changed
    assert view.status is EscalationStatus.ACKNOWLEDGED
    assert view.decided_by == SECURITY
    assert [f.step for f in view.findings] == ["background_check"]
    row = store.escalation(escalation_id)
    assert (row["status"], row["decided_by"], row["decided_platform"]) == (
        "acknowledged",
        SECURITY,
        "slack",
    )
    assert store.verification(verification_id)["status"] == "in_progress"
    assert "escalation.acknowledged" in [e["action"] for e in store.events(verification_id)]


async def test_the_same_decision_twice_changes_nothing(service, store, security, escalated) -> None:
    _, escalation_id = await escalated()
    await service.decide(security, escalation_id, Decision.ACKNOWLEDGE, None)
    events = len(store.events())
    view, changed = await service.decide(security, escalation_id, Decision.ACKNOWLEDGE, "again")
    assert not changed
    assert view.status is EscalationStatus.ACKNOWLEDGED
    assert len(store.events()) == events


async def test_clearing_needs_a_reason(service, store, security, escalated) -> None:
    verification_id, escalation_id = await escalated()
    for reason in (None, "", "  \n "):
        with pytest.raises(InvalidInput) as raised:
            await service.decide(security, escalation_id, "clear", reason)
        assert raised.value.field == "reason"
    assert store.escalation(escalation_id)["status"] == "open"

    view, changed = await service.decide(
        security, escalation_id, "clear", "Report arrived, identity matches"
    )
    assert changed
    assert view.status is EscalationStatus.CLEARED
    assert view.decision_reason == "Report arrived, identity matches"
    view_of_hm = await service.view(security, verification_id)
    assert view_of_hm.escalation_status is EscalationStatus.CLEARED


async def test_confirmed_fraud_blocks_the_verification(
    service, store, security, actor, escalated
) -> None:
    verification_id, escalation_id = await escalated()
    assert store.verification(verification_id)["status"] == "in_progress"

    view, changed = await service.decide(security, escalation_id, "confirm", "Stolen identity")

    assert changed
    assert view.status is EscalationStatus.CONFIRMED
    assert view.outcome is Outcome.BLOCKED
    assert store.verification(verification_id)["status"] == "blocked"
    with pytest.raises(PermissionDenied, match="final"):
        await service.answer(actor(), verification_id, "camera_interview", "matched")
    with pytest.raises(PermissionDenied, match="final"):
        await service.cancel(actor(), verification_id)
    assert store.verification(verification_id)["status"] == "blocked"
    assert [r["detail"]["action"] for r in refusals(store)] == [
        "answer.record",
        "verification.cancel",
    ]


@pytest.mark.parametrize(
    ("final", "reason", "then"),
    [
        ("confirm", None, "clear"),
        ("confirm", None, "acknowledge"),
        ("clear", "false alarm", "confirm"),
        ("clear", "false alarm", "acknowledge"),
    ],
)
async def test_final_decisions_cannot_be_overturned(
    service, store, security, escalated, final, reason, then
) -> None:
    _, escalation_id = await escalated()
    await service.decide(security, escalation_id, final, reason)
    decided = store.escalation(escalation_id)

    with pytest.raises(InvalidInput, match=f"already .* by {SECURITY}"):
        await service.decide(security, escalation_id, then, "changed my mind")

    assert store.escalation(escalation_id) == decided
    _, changed = await service.decide(security, escalation_id, final, reason)
    assert not changed


async def test_a_hiring_manager_cannot_decide(service, store, actor, escalated) -> None:
    verification_id, escalation_id = await escalated()
    before = store.escalation(escalation_id)

    with pytest.raises(PermissionDenied):
        await service.decide(actor(), escalation_id, "clear", "looks fine to me")

    assert store.escalation(escalation_id) == before
    assert store.verification(verification_id)["status"] == "in_progress"
    [refused] = refusals(store)
    assert (refused["actor"], refused["platform"]) == ("hm-1", "slack")
    assert refused["detail"]["action"] == "escalation.decide"
    assert await service.open_escalations(actor()) == []
    with pytest.raises(PermissionDenied):
        await service.escalation(actor(), escalation_id)


async def test_unknown_decision_or_escalation(service, security, escalated) -> None:
    _, escalation_id = await escalated()
    with pytest.raises(InvalidInput):
        await service.decide(security, escalation_id, "shrug", None)
    with pytest.raises(InvalidInput):
        await service.decide(security, "abc", "acknowledge", None)
    with pytest.raises(NotFound):
        await service.decide(security, escalation_id + 100, "acknowledge", None)


async def test_a_decision_is_sent_to_the_hiring_managers_platform_when_it_is_a_direct_target(
    core, service, store, security, escalated, security_notifier
) -> None:
    verification_id, escalation_id = await escalated()
    await core.worker.run_once()
    findings_delivered = len(security_notifier.delivered)

    await service.decide(security, escalation_id, "clear", "Report arrived")

    [decision_row] = [row for row in store.pending_outbox() if row["kind"] == "decision"]
    assert decision_row["target"] == "slack"
    assert await core.worker.run_once() == 1
    notice = security_notifier.notices[-1]
    assert isinstance(notice, DecisionNotice)
    assert len(security_notifier.delivered) == findings_delivered + 1
    assert (notice.recipient, notice.recipient_platform) == ("hm-1", Platform.SLACK)
    assert (notice.status, notice.decided_by, notice.reason) == (
        EscalationStatus.CLEARED,
        SECURITY,
        "Report arrived",
    )
    assert notice.verification_id == verification_id


async def test_no_decision_notice_when_the_hiring_managers_platform_is_not_a_target(
    service, store, actor, security, escalated, security_notifier
) -> None:
    _, escalation_id = await escalated(actor("hm-7", Platform.TEAMS))
    await service.decide(security, escalation_id, "acknowledge", None)
    kinds = {row["kind"] for row in store.db.query("SELECT kind FROM outbox")}
    assert kinds == {"finding"}


async def test_open_escalations_lists_open_and_acknowledged_for_security(
    service, security, escalated
) -> None:
    _, open_id = await escalated()
    _, acknowledged_id = await escalated()
    _, cleared_id = await escalated()
    await service.decide(security, acknowledged_id, "acknowledge", None)
    await service.decide(security, cleared_id, "clear", "fine")
    listed = {view.id: view.status for view in await service.open_escalations(security)}
    assert listed == {
        open_id: EscalationStatus.OPEN,
        acknowledged_id: EscalationStatus.ACKNOWLEDGED,
    }


async def test_security_group_members_count_as_security(core, service, actor, escalated) -> None:
    _, escalation_id = await escalated()
    member = actor("U-GROUP")
    with pytest.raises(PermissionDenied):
        await service.decide(member, escalation_id, "acknowledge", None)
    core.service.roles.watch_security_group(Platform.SLACK, ttl=300)
    core.service.roles.set_security_group_members(Platform.SLACK, {"U-GROUP"})
    with pytest.raises(PermissionDenied):
        await service.decide(actor("U-GROUP", Platform.TEAMS), escalation_id, "acknowledge", None)
    _, changed = await service.decide(member, escalation_id, "acknowledge", None)
    assert changed


@pytest.mark.parametrize(
    ("step", "value", "decision", "refused"),
    [
        ("camera_interview", "camera_refused", "acknowledge", (InvalidInput, "cancelled")),
        ("background_check", "pending", "confirm", (PermissionDenied, "final")),
    ],
)
async def test_a_security_decision_does_not_undo_a_cancellation(
    service, store, actor, security, candidate, step, value, decision, refused
) -> None:
    hm = actor()
    started = await service.start(hm, candidate())
    verification_id = started.verification.id
    flagged = await service.answer(hm, verification_id, step, value)
    await service.cancel(hm, verification_id)

    await service.decide(security, flagged.verification.escalation_id, decision, "noted")

    assert await service.next_prompt(hm, verification_id) is None
    error, message = refused
    with pytest.raises(error, match=message):
        await service.answer(hm, verification_id, "notarized_id", "not_provided")
    assert await service.verifications(hm) == []


async def test_an_escalation_id_that_is_not_a_number_is_invalid_input(service, security) -> None:
    with pytest.raises(InvalidInput):
        await service.escalation(security, "abc")


# roles


async def test_hiring_manager_allow_list_limits_who_may_start(make_core, actor, candidate) -> None:
    core = make_core(slack_hiring_managers=frozenset({"hm-1"}))
    service, store = core.service, core.store

    with pytest.raises(PermissionDenied):
        await service.start(actor("hm-2"), candidate())

    assert count(store, "verifications") == 0
    [refused] = refusals(store)
    assert refused["actor"] == "hm-2"
    assert refused["detail"]["action"] == "verification.start"
    assert (await service.start(actor("hm-1"), candidate())).verification.requested_by == "hm-1"
    assert (await service.start(actor(SECURITY), candidate())).verification.requested_by == SECURITY


async def test_empty_allow_list_lets_anyone_start(service, actor, candidate) -> None:
    for user, platform in (("U123", Platform.SLACK), ("aad-object-id", Platform.TEAMS)):
        started = await service.start(actor(user, platform), candidate())
        assert started.verification.requested_by == user


async def test_a_hiring_manager_cannot_answer_another_ones_verification(
    service, store, actor, candidate
) -> None:
    started = await service.start(actor("hm-1"), candidate())
    verification_id = started.verification.id

    with pytest.raises(PermissionDenied):
        await service.answer(actor("hm-2"), verification_id, "notarized_id", "not_provided")

    assert count(store, "answers") == 0
    assert store.escalation_for(verification_id) is None
    [refused] = refusals(store)
    assert (refused["actor"], refused["verification_id"]) == ("hm-2", verification_id)
    assert refused["detail"]["action"] == "answer.record"


async def test_a_hiring_manager_cannot_view_another_ones_verification(
    service, store, actor, candidate
) -> None:
    started = await service.start(actor("hm-1"), candidate(name="Ada Lovelace"))
    verification_id = started.verification.id
    other = actor("hm-2", Platform.TEAMS)

    with pytest.raises(PermissionDenied):
        await service.view(other, verification_id)
    with pytest.raises(PermissionDenied):
        await service.next_prompt(other, verification_id)
    with pytest.raises(PermissionDenied):
        await service.status(other, verification_id)
    with pytest.raises(NotFound):
        await service.status(other, "Ada Lovelace")

    actions = [r["detail"]["action"] for r in refusals(store)]
    assert actions == ["verification.view"] * 3
    assert all(r["verification_id"] == verification_id for r in refusals(store))


async def test_security_users_can_view_every_verification_but_not_answer_it(
    service, actor, security, candidate
) -> None:
    started = await service.start(actor("hm-1"), candidate(name="Ada Lovelace"))
    verification_id = started.verification.id

    assert (await service.view(security, verification_id)).id == verification_id
    assert (await service.status(security, "ada lovelace")).id == verification_id
    assert (await service.next_prompt(security, verification_id)).step_id == "notarized_id"
    with pytest.raises(PermissionDenied):
        await service.answer(security, verification_id, "notarized_id", "not_provided")


async def test_roles_never_cross_platforms(make_core, actor, candidate) -> None:
    """An actor is (platform, id): the same id on the other platform is someone else."""
    core = make_core(
        slack_security_users=frozenset({"U-SEC"}),
        teams_hiring_managers=frozenset({"aad-hm"}),
    )
    service = core.service
    on_slack = await service.start(actor("U-HM"), candidate(name="Ada Lovelace"))
    verification_id = on_slack.verification.id
    flagged = await service.answer(actor("U-HM"), verification_id, "background_check", "pending")
    escalation_id = flagged.verification.escalation_id
    on_teams = await service.start(actor("aad-hm", Platform.TEAMS), candidate())
    slack_twin = await service.start(actor("aad-hm"), candidate())

    with pytest.raises(PermissionDenied):
        await service.start(actor("U-HM", Platform.TEAMS), candidate())
    with pytest.raises(PermissionDenied):
        await service.decide(actor("U-SEC", Platform.TEAMS), escalation_id, "confirm", None)
    with pytest.raises(PermissionDenied):
        await service.view(actor("U-SEC", Platform.TEAMS), verification_id)
    with pytest.raises(PermissionDenied):
        await service.answer(
            actor("aad-hm"), on_teams.verification.id, "notarized_id", "not_provided"
        )
    assert [v.id for v in await service.verifications(actor("aad-hm", Platform.TEAMS))] == [
        on_teams.verification.id
    ]
    assert [v.id for v in await service.verifications(actor("aad-hm"))] == [
        slack_twin.verification.id
    ]
    _, changed = await service.decide(actor("U-SEC"), escalation_id, "acknowledge", None)
    assert changed


async def test_the_terminal_operator_may_answer_any_verification(service, actor, candidate) -> None:
    started = await service.start(actor("hm-1"), candidate())
    operator = actor("cli", Platform.CLI)
    result = await service.answer(operator, started.verification.id, "camera_interview", "matched")
    assert result.recorded.answered_by == "cli"


# status, list and cancel


async def test_status_finds_the_latest_verification_by_name_or_id(
    service, actor, candidate, clock
) -> None:
    hm = actor()
    older = await service.start(hm, candidate(name="Grace Hopper"))
    clock.advance(60)
    newer = await service.start(hm, candidate(name="Grace Hopper"))
    assert (await service.status(hm, "  grace HOPPER ")).id == newer.verification.id
    assert (await service.status(hm, older.verification.id.lower())).id == older.verification.id
    with pytest.raises(NotFound):
        await service.status(hm, "Nobody")
    with pytest.raises(InvalidInput):
        await service.status(hm, "   ")


async def test_list_shows_a_hiring_manager_their_own_open_verifications(
    service, actor, candidate, pass_answers, answer_steps, clock
) -> None:
    mine = await service.start(actor("hm-1"), candidate(), "device-handover")
    clock.advance(1)
    finished = await service.start(actor("hm-1"), candidate(), "device-handover")
    await answer_steps(actor("hm-1"), finished.verification.id, pass_answers["device-handover"])
    clock.advance(1)
    theirs = await service.start(actor("hm-2"), candidate(), "device-handover")

    open_ids = [view.id for view in await service.verifications(actor("hm-1"))]
    all_ids = [view.id for view in await service.verifications(actor("hm-1"), open_only=False)]
    operator_ids = [view.id for view in await service.verifications(actor("cli", Platform.CLI))]

    assert open_ids == [mine.verification.id]
    assert all_ids == [finished.verification.id, mine.verification.id]
    assert operator_ids == [theirs.verification.id, mine.verification.id]


async def test_the_stored_unfinished_filter_keeps_exactly_the_open_verifications(
    service, store, actor, security, candidate, pass_answers, answer_steps, clock
) -> None:
    """Confirmed fraud with steps left is finished; a finding awaiting security is not."""
    hm = actor("hm-1")

    async def started() -> str:
        clock.advance(1)
        return (await service.start(hm, candidate())).verification.id

    in_progress = await started()
    cleared = await started()
    await answer_steps(hm, cleared, pass_answers["pre-offer"])
    awaiting = await started()
    flagged = await service.answer(hm, awaiting, "background_check", "pending")
    acknowledged = await started()
    flagged_too = await service.answer(hm, acknowledged, "background_check", "pending")
    await service.decide(security, flagged_too.verification.escalation_id, "acknowledge", None)
    confirmed = await started()
    fraud = await service.answer(hm, confirmed, "camera_interview", "camera_refused")
    await service.decide(security, fraud.verification.escalation_id, "confirm", "proxy")
    false_alarm = await started()
    alarm = await service.answer(hm, false_alarm, "background_check", "pending")
    await service.decide(security, alarm.verification.escalation_id, "clear", "came back clean")
    cancelled = await started()
    await service.cancel(hm, cancelled)

    listed = {row["id"] for row in store.list_verifications("hm-1", unfinished=True)}
    every = await service.verifications(hm, open_only=False)
    open_views = await service.verifications(hm)

    assert flagged.verification.awaiting_security
    assert listed == {view.id for view in every if view.open}
    assert listed == {view.id for view in open_views}
    assert listed == {in_progress, awaiting, acknowledged, false_alarm}
    assert {cleared, confirmed, cancelled} <= {view.id for view in every}


async def test_a_list_reads_its_verifications_rows_a_table_at_a_time(
    service, store, actor, security, candidate, pass_answers, answer_steps, clock
) -> None:
    """The list's views are the views one by one, read in one statement per table whatever
    their number (no statement per verification)."""
    hm = actor("hm-1")
    started = []
    for number in range(6):
        clock.advance(1)
        verification_id = (await service.start(hm, candidate())).verification.id
        started.append(verification_id)
        if number == 1:
            await answer_steps(hm, verification_id, pass_answers["pre-offer"])
        if number in (2, 3):
            flagged = await service.answer(hm, verification_id, "background_check", "pending")
        if number == 3:
            await service.decide(security, flagged.verification.escalation_id, "confirm", "proxy")
    statements: list[str] = []
    query = store.db.query

    def counted(sql, params=None):
        statements.append(sql)
        return query(sql, params)

    store.db.query = counted
    listed = await service.verifications(hm, open_only=False, limit=3)
    three = len(statements)
    statements.clear()
    listed += await service.verifications(hm, open_only=False, limit=6)
    six = len(statements)
    store.db.query = query

    assert three == six <= 8
    one_by_one = [await service.view(hm, view.id) for view in listed]
    assert [view.model_dump() for view in listed] == [view.model_dump() for view in one_by_one]
    assert {view.id for view in listed} == set(started)
    assert any(view.handover_due_at for view in listed), "the hand-over link read ahead too"


async def test_a_cancelled_verification_takes_no_more_answers(
    service, store, actor, candidate
) -> None:
    hm = actor()
    started = await service.start(hm, candidate())
    verification_id = started.verification.id

    with pytest.raises(PermissionDenied):
        await service.cancel(actor("hm-2"), verification_id)
    view = await service.cancel(hm, verification_id)

    assert view.outcome is Outcome.CANCELLED
    assert await service.next_prompt(hm, verification_id) is None
    with pytest.raises(InvalidInput, match="cancelled"):
        await service.answer(hm, verification_id, "notarized_id", "not_provided")
    assert count(store, "answers") == 0
    assert await service.verifications(hm) == []


async def test_a_new_verification_never_takes_an_earlier_ones_id(service, store, actor, candidate):
    """Ids are 32 random bits; one drawn twice is drawn again, not a failed start."""
    first = (await service.start(actor(), candidate())).verification.id
    drawn = iter([first, first, "VB-0000ABCD"])

    with store.transaction():
        assert store.unused_verification_id(lambda: next(drawn)) == "VB-0000ABCD"
    second = (await service.start(actor(), candidate())).verification.id
    assert second != first
    assert {row["id"] for row in store.list_verifications()} == {first, second}


async def test_status_by_name_shows_a_hiring_manager_only_their_own_candidates_of_that_name(
    service, actor, candidate
) -> None:
    mine = [(await service.start(actor("hm-1"), candidate(name="Ana Silva"))) for _ in range(2)]
    theirs = await service.start(actor("hm-2"), candidate(name="Ana Silva"))
    await service.start(actor("hm-1", Platform.TEAMS), candidate(name="Ana Silva"))
    my_ids = {started.verification.id for started in mine}

    shown = await service.status(actor("hm-1"), "ana silva")
    assert {shown.id, *(other.id for other in shown.same_name)} == my_ids
    with pytest.raises(NotFound):
        await service.status(actor("hm-3"), "Ana Silva")
    everyone = await service.status(actor("sec-1"), "Ana Silva")
    assert len(everyone.same_name) == 3
    assert theirs.verification.id in {everyone.id, *(o.id for o in everyone.same_name)}
