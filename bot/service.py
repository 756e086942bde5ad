"""VerificationService: the one API every front end calls."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from pydantic import ValidationError

from bot import metrics
from bot.address import AddressError, AddressKeys, address_keys, normalize_address
from bot.errors import InvalidInput, NoteRequired, NotFound, PermissionDenied
from bot.evaluator import held_results, lowers
from bot.evaluator import outcome as evaluate_outcome
from bot.identity import email_key, name_key, payout_key, payout_last4
from bot.ids import (
    VERIFICATION_ID,
    VERIFICATION_ID_RUNS,
    VERIFICATION_IDS,
    new_verification_id,
    parse_escalation_id,
    parse_verification_id,
    security_channel_key,
)
from bot.models import (
    AVAILABLE_DECISIONS,
    AWAITING_DECISION,
    DECISION_STATUS,
    Actor,
    AnswerOutcome,
    Candidate,
    CandidateIn,
    Decision,
    EscalationStatus,
    EscalationView,
    Finding,
    Outcome,
    Platform,
    Prompt,
    RaisedFinding,
    Result,
    SameName,
    VerificationView,
)
from bot.notices import (
    DecisionNotice,
    DecisionRef,
    FindingNotice,
    FindingRef,
    HandoverNotice,
    HandoverRef,
    ItemRef,
    Notice,
    NoticeItem,
    OverdueNotice,
    OverdueRef,
    ReminderNotice,
    ReminderRef,
    ResurfaceNotice,
    ResurfaceRef,
    StepNotice,
    StepRef,
    TextNotice,
    notice_ref,
)
from bot.playbook import Playbook, PlaybookError, PlaybookRegistry, Step, canonical_id
from bot.playbook_versions import PlaybookVersions
from bot.roles import Roles, same_person
from bot.sealing import ERASED
from bot.signals import COMPUTED_CHECKS, waiting_for
from bot.store import Row, Store
from bot.validation import clean_note

SYSTEM_ACTOR = "verifybot"
AWAITING_STATUSES = frozenset(status.value for status in AWAITING_DECISION)
MAX_REASON_LENGTH = 1000
NOTICE_INTERVAL = 5.0
PRE_OFFER = "pre-offer"
HANDOVER = "device-handover"
FINAL = "fraud was confirmed by security; the verification is final and nothing was changed"


def describe_candidate_error(error: ValidationError) -> dict[str, str]:
    """Field name -> message, for inline form errors."""
    problems: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "candidate"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required"
        elif item["type"] == "string_too_short":
            message = "is required" if not item.get("input") else message
        elif item["type"] == "extra_forbidden":
            message = "is not a known field"
        problems.setdefault(field, message)
    return problems


class InvalidCandidate(InvalidInput):
    """Candidate details that failed validation; `problems` maps each field to its message."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = problems


def latest_by_step(answers: Iterable[Row]) -> dict[str, Row]:
    """Each step's answer that counts: the last one appended."""
    return {answer["step_id"]: answer for answer in answers}


def stored_candidate(row: Row) -> Candidate:
    """A candidate as stored: validated when it was written, so not validated again.

    The payout account was never stored: it is shown by its last 4 characters.
    """
    values: dict[str, Any] = {name: row.get(name) for name in Candidate.model_fields}
    values["payout_account"] = f"****{row['payout_last4']}" if row.get("payout_last4") else None
    return Candidate.model_construct(**values)


def validate_candidate(data: dict) -> CandidateIn:
    try:
        candidate = CandidateIn.model_validate(data)
    except ValidationError as error:
        raise InvalidCandidate(describe_candidate_error(error)) from None
    for field in ("home_address", "shipping_address"):
        if getattr(candidate, field) is None:
            continue
        try:
            normalize_address(getattr(candidate, field))
        except AddressError as error:
            raise InvalidCandidate({field: str(error)}) from None
    return candidate


def owner_of(row: Row) -> Actor:
    """Who started a verification: its requested_by on its platform."""
    return Actor(user_id=row["requested_by"], platform=Platform(row["platform"]))


class VerificationService:
    """Starts verifications, records answers, raises escalations and records decisions."""

    def __init__(
        self,
        store: Store,
        playbooks: PlaybookRegistry,
        roles: Roles | None = None,
        security_targets: Sequence[str] = (),
        direct_targets: Sequence[str] = (),
        on_outbox: Callable[[], None] | None = None,
        notice_interval: float = NOTICE_INTERVAL,
        local_zone: tzinfo = UTC,
    ) -> None:
        self.store = store
        self.playbooks = playbooks
        self.versions = PlaybookVersions(store, playbooks)
        self.roles = roles or Roles()
        self.security_targets = tuple(security_targets)
        self.direct_targets = tuple(direct_targets)
        self.on_outbox = on_outbox
        self.notice_interval = timedelta(seconds=notice_interval)
        self.on_refresh: Callable[[str], None] | None = None
        self.local_zone = local_zone

    # starting

    async def start(
        self,
        actor: Actor,
        candidate: CandidateIn | dict,
        playbook_id: str | None = None,
        dedupe_key: str | None = None,
        owner: Actor | None = None,
    ) -> AnswerOutcome:
        """Create a verification and return its first prompt.

        A repeated `dedupe_key` (a resubmitted form) creates nothing and returns the
        verification the first submit created, with `duplicate` set. `owner` is who answers
        it when an integration starts it for someone else (default: the actor).
        """
        self.check_can_start(actor)
        details = candidate if isinstance(candidate, CandidateIn) else validate_candidate(candidate)
        playbook = self._playbook(playbook_id)
        row = self._candidate_row(details)
        requester = owner or actor
        verification_id = new_verification_id()
        with self.store.transaction():
            earlier = self.store.verification_by_start_key(dedupe_key) if dedupe_key else None
            if earlier is not None:
                self._check_view(actor, earlier)
                return self._outcome_of(earlier["id"], None, [], False, duplicate=True, actor=actor)
            self._record_playbook(playbook, actor)
            candidate_id = self.store.insert_candidate(row)
            self.store.insert_verification(
                {
                    "id": verification_id,
                    "candidate_id": candidate_id,
                    "playbook_id": playbook.id,
                    "playbook_version": playbook.version,
                    "requested_by": requester.user_id,
                    "platform": requester.platform.value,
                    "status": Outcome.IN_PROGRESS.value,
                    "start_key": dedupe_key,
                }
            )
            self.store.audit(
                actor.user_id,
                actor.platform,
                "verification.started",
                verification_id,
                {
                    "playbook": playbook.id,
                    "version": playbook.version,
                    "candidate": candidate_id,
                    "requested_by": actor.user_id,
                    "platform": actor.platform.value,
                    **({"owner": f"{owner.platform}:{owner.user_id}"} if owner else {}),
                },
            )
            computed, escalated = self._run_computed_steps(verification_id, actor)
        metrics.VERIFICATIONS_STARTED.labels(actor.platform.value).inc()
        self._outbox_written(escalated)
        return self._outcome_of(verification_id, None, computed, escalated, actor=actor)

    def check_can_start(self, actor: Actor) -> None:
        """PermissionDenied (audited) for someone who may not start verifications."""
        if not self.roles.can_start(actor):
            self._refuse(actor, "verification.start", None, "not a permitted hiring manager")

    def _playbook(self, playbook_id: str | None) -> Playbook:
        try:
            return self.playbooks.get(playbook_id)
        except PlaybookError as error:
            raise InvalidInput(str(error), "playbook") from None

    def _record_playbook(self, playbook: Playbook, actor: Actor) -> None:
        """Keep the playbook version a verification starts with; InvalidInput if it conflicts."""
        try:
            self.versions.record(playbook, actor)
        except PlaybookError as error:
            raise InvalidInput(str(error), "playbook") from None

    def _candidate_row(self, details: CandidateIn) -> Row:
        """The candidate as stored: with the normalised keys compared across candidates, and
        the payout account only as its normalised key (the store keeps a keyed hash of it)
        and its last 4 characters."""
        row = details.model_dump(exclude={"payout_account"})
        for field in ("home", "shipping"):
            address = getattr(details, f"{field}_address")
            if address is None:
                continue
            keys = self._address_keys(address, f"{field}_address")
            row |= {
                f"{field}_normalized": keys.canonical,
                f"{field}_place": keys.place,
                f"{field}_zip": keys.zip,
                f"{field}_building": keys.building,
            }
        row |= {"email_key": email_key(details.email), "name_key": name_key(details.name)}
        if details.payout_account:
            payout = payout_key(details.payout_account)
            row |= {
                "payout_key": payout,
                "payout_last4": payout_last4(payout),
            }
        return row

    @staticmethod
    def _address_keys(address: str, field: str) -> AddressKeys:
        try:
            return address_keys(address)
        except AddressError as error:
            raise InvalidCandidate({field: str(error)}) from None

    # answering

    async def answer(
        self,
        actor: Actor,
        verification_id: str,
        step_id: str,
        value: str,
        note: str | None = None,
        change: bool = False,
        dedupe_key: str | None = None,
    ) -> AnswerOutcome:
        """Record an answer; a repeat of an answered step records nothing unless `change`."""
        verification_id = parse_verification_id(verification_id)
        row = self._verification_row(verification_id)
        if not self.roles.can_answer(actor, owner_of(row)):
            self._refuse(actor, "answer.record", verification_id, "not this verification's owner")
        self._refuse_if_final(actor, "answer.record", row)
        if row["cancelled_at"]:
            raise InvalidInput("this verification was cancelled", "verification")
        playbook = self._playbook_of(row)
        step = playbook.step(str(step_id))
        if step is None:
            raise InvalidInput(f"no step {step_id!r} in {playbook.id}", "step")
        if step.computed:
            raise InvalidInput(f"{step.title} is checked by verifybot, not answered", "step")
        option = step.option(str(value))
        if option is None:
            choices = ", ".join(o.value for o in step.options)
            raise InvalidInput(f"{value!r} is not an option of {step.id} ({choices})", "answer")
        try:
            cleaned_note = clean_note(note)
        except ValueError as error:
            raise InvalidInput(str(error), "note") from None
        if option.note_required and not cleaned_note:
            raise NoteRequired(option.note_label or "evidence for this answer")

        with self.store.transaction():
            latest = self._latest_answers(verification_id)
            previous = latest.get(step.id)
            if previous is not None and not change:
                return self._outcome_of(
                    verification_id, previous["id"], [], False, duplicate=True, actor=actor
                )
            if (
                previous is not None
                and previous["value"] == option.value
                and previous["note"] == cleaned_note
            ):
                return self._outcome_of(
                    verification_id, previous["id"], [], False, duplicate=True, actor=actor
                )
            answer_id, created = self.store.insert_answer(
                {
                    "verification_id": verification_id,
                    "step_id": step.id,
                    "value": option.value,
                    "result": option.result.value,
                    "note": cleaned_note,
                    "reason": option.label + (f": {cleaned_note}" if cleaned_note else ""),
                    "answered_by": actor.user_id,
                    "platform": actor.platform.value,
                    "dedupe_key": dedupe_key,
                }
            )
            if not created:
                return self._outcome_of(
                    verification_id, answer_id, [], False, duplicate=True, actor=actor
                )
            self.store.audit(
                actor.user_id,
                actor.platform,
                "answer.changed" if previous else "answer.recorded",
                verification_id,
                {
                    "answer_id": answer_id,
                    "step": step.id,
                    "answer": option.value,
                    "result": option.result.value,
                    "note": bool(cleaned_note),
                },
            )
            metrics.ANSWERS_RECORDED.labels(actor.platform.value, option.result.value).inc()
            escalated = self._after_answer(verification_id, playbook, answer_id, previous)
            computed, escalated_later = self._run_computed_steps(verification_id, actor)
        self._outbox_written(escalated or escalated_later)
        return self._outcome_of(
            verification_id, answer_id, computed, escalated or escalated_later, actor=actor
        )

    def _run_computed_steps(self, verification_id: str, actor: Actor) -> tuple[list[int], bool]:
        """Answer the computed steps the flow has reached; their answer ids, and escalated."""
        row = self._verification_row(verification_id)
        playbook = self._playbook_of(row)
        answer_ids: list[int] = []
        escalated = False
        while (step := self._next_step(playbook, verification_id)) and step.check is not None:
            computed = COMPUTED_CHECKS[step.check](self.store, self._candidate_of(row))
            option = step.option(computed.value) or step.option(computed.fallback or "")
            if option is None:
                raise PlaybookError(f"{step.id} has no option {computed.value!r}")
            answer_id, _ = self.store.insert_answer(
                {
                    "verification_id": verification_id,
                    "step_id": step.id,
                    "value": option.value,
                    "result": option.result.value,
                    "note": None,
                    "reason": computed.reason,
                    "security_detail": computed.security_detail,
                    "answered_by": SYSTEM_ACTOR,
                    "platform": actor.platform.value,
                }
            )
            self.store.audit(
                SYSTEM_ACTOR,
                actor.platform,
                "answer.computed",
                verification_id,
                {
                    "answer_id": answer_id,
                    "step": step.id,
                    "answer": option.value,
                    "result": option.result.value,
                    "related": list(computed.related_verifications),
                },
            )
            escalated = self._after_answer(verification_id, playbook, answer_id) or escalated
            answer_ids.append(answer_id)
        return answer_ids, escalated

    def _after_answer(
        self,
        verification_id: str,
        playbook: Playbook,
        answer_id: int,
        previous: Row | None = None,
    ) -> bool:
        """Update the stored outcome; tell security of a finding or a lowered result.

        A review or block result is a finding, for security to decide; a change that lowers a
        result (block to review or pass, review to pass) is news for security too, and does
        not lower the outcome until security resolves the finding it replaced. A finding after
        a Clear reopens the escalation. True when the security channel was written to.
        """
        status = self._refresh_status(verification_id, playbook)
        answer = self._answer_row(answer_id)
        result = Result(answer["result"])
        lowered = previous is not None and lowers(Result(previous["result"]), result)
        if result is Result.PASS and not lowered:
            return False
        escalation_id, created = self.store.open_escalation(verification_id)
        escalation = self._escalation_row(escalation_id)
        reopened = result is not Result.PASS and escalation["status"] == EscalationStatus.CLEARED
        view_row = self._verification_row(verification_id)
        if reopened:
            self.store.reopen_escalation(escalation_id)
            self.store.audit(
                SYSTEM_ACTOR,
                view_row["platform"],
                "escalation.reopened",
                verification_id,
                {"escalation": escalation_id, "step": answer["step_id"], "result": result.value},
            )
        item = ItemRef(
            answer_id=answer_id,
            previous_id=previous["id"] if lowered and previous else None,
            reopened=reopened,
        )
        if result is not Result.PASS:
            metrics.ESCALATION_FINDINGS.labels(result.value).inc()
        self._notify_security(escalation_id, item, first=created)
        action = "escalation.raised" if created else "escalation.finding_added"
        self.store.audit(
            SYSTEM_ACTOR,
            view_row["platform"],
            "escalation.answer_lowered" if lowered else action,
            verification_id,
            {
                "escalation": escalation_id,
                "step": answer["step_id"],
                "result": result.value,
                "outcome": status.value,
                **({"from": previous["result"]} if lowered and previous else {}),
            },
        )
        return True

    def _notify_security(self, escalation_id: int, item: ItemRef, first: bool) -> None:
        """Queue the news for every security channel, merged into a notice not sent yet.

        A verification gets at most one new post per `notice_interval` and channel: news that
        arrives sooner waits, and what arrives while it waits joins the same post.
        """
        notice = FindingRef(escalation_id=escalation_id, items=[item], first=first)
        for target in self.security_targets:
            waiting = self.store.pending_notice(escalation_id, target, notice.kind)
            if waiting is not None:
                merged = notice_ref(json.loads(waiting["payload"]))
                if isinstance(merged, FindingRef):
                    merged = merged.merged(notice)
                    self.store.replace_payload(waiting["id"], merged.model_dump(mode="json"))
                    continue
            last = self.store.last_delivery(escalation_id, target)
            not_before = last + self.notice_interval if last else None
            self.store.enqueue(
                escalation_id, notice.kind, target, notice.model_dump(mode="json"), not_before
            )

    def _refresh_status(self, verification_id: str, playbook: Playbook) -> Outcome:
        row = self._verification_row(verification_id)
        status = self._derive_outcome(row, playbook)
        if status != row["status"]:
            self.store.set_verification_status(verification_id, status.value)
            self.store.audit(
                SYSTEM_ACTOR,
                row["platform"],
                "verification.outcome",
                verification_id,
                {"from": row["status"], "to": status.value},
            )
            if status is Outcome.CLEARED:
                self._schedule_handover(row)
        if self.on_refresh is not None:
            self.on_refresh(verification_id)
        return status

    def _derive_outcome(self, row: Row, playbook: Playbook) -> Outcome:
        """The outcome of the latest answers, held up by findings that await security.

        A finding security cleared as a false alarm counts as a pass.
        """
        answers = self.store.answers(row["id"])
        escalation = self.store.escalation_for(row["id"])
        resolved_through = escalation["resolved_through"] if escalation else 0
        undecided = [
            (answer["step_id"], Result(answer["result"]))
            for answer in answers
            if answer["result"] != Result.PASS and answer["id"] > resolved_through
        ]
        latest = {
            step_id: Result.PASS if answer["id"] <= resolved_through else Result(answer["result"])
            for step_id, answer in latest_by_step(answers).items()
        }
        return evaluate_outcome(
            [step.id for step in playbook.steps],
            held_results(latest, undecided),
            cancelled=row["cancelled_at"] is not None,
            fraud_confirmed=bool(escalation and escalation["status"] == EscalationStatus.CONFIRMED),
        )

    # reading

    async def next_prompt(self, actor: Actor, verification_id: str) -> Prompt | None:
        verification_id = parse_verification_id(verification_id)
        row = self._verification_row(verification_id)
        self._check_view(actor, row)
        return self._prompt_for(row)

    async def change_prompt(self, actor: Actor, verification_id: str, step_id: str) -> Prompt:
        """An answered step's options again, for "Change answer" (Slack and Teams alike).

        Refused (audited) once fraud is confirmed; InvalidInput for a cancelled verification or
        a step verifybot computes. The change itself is `answer(..., change=True)`.
        """
        verification_id = parse_verification_id(verification_id)
        row = self._verification_row(verification_id)
        self._check_view(actor, row)
        self._refuse_if_final(actor, "answer.change", row)
        if row["cancelled_at"]:
            raise InvalidInput("this verification was cancelled", "verification")
        playbook = self._playbook_of(row)
        step = playbook.step(str(step_id))
        if step is None or step.computed:
            raise InvalidInput("this step cannot be changed", "step")
        return playbook.prompt(step, verification_id, self._candidate_of(row)["name"])

    async def view(self, actor: Actor, verification_id: str) -> VerificationView:
        verification_id = parse_verification_id(verification_id)
        row = self._verification_row(verification_id)
        self._check_view(actor, row)
        return self._view(row, security=self.roles.is_security(actor))

    async def status(self, actor: Actor, reference: str) -> VerificationView:
        """A verification by id, or the latest of a candidate by name, that the actor may see."""
        reference = reference.strip()
        if not reference:
            raise InvalidInput("name a candidate or a verification id", "reference")
        if VERIFICATION_ID.match(reference.upper()):
            return await self.view(actor, reference)
        rows = self.store.verifications_by_candidate_name(reference)
        visible = [row for row in rows if self.roles.can_view(actor, owner_of(row))]
        if not visible:
            raise NotFound(f"no verification found for {reference!r}")
        view = self._view(visible[0], security=self.roles.is_security(actor))
        others = [
            SameName(
                id=row["id"],
                created_at=datetime.fromisoformat(row["created_at"]),
                outcome=Outcome(row["status"]),
            )
            for row in visible[1:]
        ]
        return view.model_copy(update={"same_name": others})

    async def verifications(
        self, actor: Actor, open_only: bool = True, limit: int = 50
    ) -> list[VerificationView]:
        """The actor's verifications (everyone's for the terminal's operator), newest first."""
        local = self.roles.is_local(actor)
        requested_by = None if local else actor.user_id
        platform = None if local else actor.platform.value
        statuses = None
        rows = self.store.list_verifications(requested_by, statuses, limit * 4, platform)
        views = [self._view(row) for row in rows]
        if open_only:
            views = [view for view in views if view.open]
        return views[:limit]

    async def cancel(self, actor: Actor, verification_id: str) -> VerificationView:
        verification_id = parse_verification_id(verification_id)
        row = self._verification_row(verification_id)
        if not (self.roles.can_answer(actor, owner_of(row)) or self.roles.is_security(actor)):
            self._refuse(actor, "verification.cancel", verification_id, "not the owner")
        self._refuse_if_final(actor, "verification.cancel", row)
        with self.store.transaction():
            if not row["cancelled_at"]:
                self.store.cancel_verification(verification_id)
                self.store.audit(
                    actor.user_id, actor.platform, "verification.cancelled", verification_id
                )
                self._refresh_status(verification_id, self._playbook_of(row))
        return self._view(self._verification_row(verification_id))

    async def give_shipping_address(
        self, actor: Actor, verification_id: str, address: str
    ) -> AnswerOutcome:
        """The laptop shipping address, given after the start; the computed check then runs.

        The same address again changes nothing (`duplicate`); another one once it was given
        is refused: the check already ran on the first.
        """
        verification_id = parse_verification_id(verification_id)
        row = self._verification_row(verification_id)
        if not self.roles.can_give_shipping_address(actor, owner_of(row)):
            self._refuse(
                actor, "shipping_address.give", verification_id, "not this verification's owner"
            )
        self._refuse_if_final(actor, "shipping_address.give", row)
        if row["cancelled_at"]:
            raise InvalidInput("this verification was cancelled", "verification")
        try:
            given = validate_candidate(
                {
                    **stored_candidate(self._candidate_of(row)).model_dump(
                        include=set(CandidateIn.model_fields)
                    ),
                    "shipping_address": address,
                }
            )
        except InvalidCandidate as error:
            field = "shipping_address"
            raise InvalidInput(error.problems.get(field, str(error)), field) from None
        keys = self._address_keys(given.shipping_address or address, "shipping_address")
        with self.store.transaction():
            candidate = self._candidate_of(row)
            if candidate["shipping_address"] is not None:
                if candidate["shipping_normalized"] == keys.canonical:
                    return self._outcome_of(
                        verification_id, None, [], False, duplicate=True, actor=actor
                    )
                raise InvalidInput(
                    "the laptop shipping address was already given and checked", "shipping_address"
                )
            self.store.set_shipping_address(
                candidate["id"],
                {
                    "shipping_address": given.shipping_address,
                    "shipping_normalized": keys.canonical,
                    "shipping_place": keys.place,
                    "shipping_zip": keys.zip,
                    "shipping_building": keys.building,
                },
            )
            self.store.audit(
                actor.user_id,
                actor.platform,
                "candidate.shipping_address_given",
                verification_id,
            )
            computed, escalated = self._run_computed_steps(verification_id, actor)
        self._outbox_written(escalated)
        return self._outcome_of(verification_id, None, computed, escalated, actor=actor)

    async def assign(
        self, actor: Actor, verification_id: str, owner: Actor | None = None
    ) -> AnswerOutcome:
        """Who answers a verification an integration started with nobody to answer it yet.

        A person takes it for themselves (`owner` left out); the integration that started it
        hands it to the hiring manager it found.
        """
        verification_id = parse_verification_id(verification_id)
        owner = owner or actor
        row = self._verification_row(verification_id)
        current = owner_of(row)
        if same_person(owner, current):
            return self._outcome_of(verification_id, None, [], False, duplicate=True, actor=owner)
        allowed = (
            self.roles.is_integration(actor) and self.roles.is_integration(current)
            if not same_person(actor, owner)
            else self.roles.can_take(actor, current)
        )
        if not allowed:
            self._refuse(actor, "verification.assign", verification_id, "already assigned")
        with self.store.transaction():
            self.store.assign_verification(verification_id, owner.user_id, owner.platform.value)
            self.store.audit(
                actor.user_id,
                actor.platform,
                "verification.assigned",
                verification_id,
                {
                    "from": f"{current.platform}:{current.user_id}",
                    "to": f"{owner.platform}:{owner.user_id}",
                },
            )
        return self._outcome_of(verification_id, None, [], False, actor=owner)

    # the device hand-over that follows a cleared pre-offer verification, and overdue posts

    def _schedule_handover(self, row: Row) -> None:
        """Once per pre-offer verification: the hand-over, due on the start date or at once."""
        if canonical_id(row["playbook_id"]) != PRE_OFFER or not self._has_playbook(HANDOVER):
            return
        now = self.store.clock()
        start_date = self._candidate_of(row).get("start_date")
        try:
            due = datetime.combine(date.fromisoformat(str(start_date)), time(0), self.local_zone)
        except (TypeError, ValueError):
            due = now
        if self.store.schedule_handover(row["id"], max(due, now)):
            self.store.audit(
                SYSTEM_ACTOR,
                row["platform"],
                "handover.scheduled",
                row["id"],
                {"on_start_date": due > now},
            )

    def _has_playbook(self, playbook_id: str) -> bool:
        return any(canonical_id(p.id) == playbook_id for p in self.playbooks)

    def start_handover(self, pre_offer_id: str, owner: Actor) -> str | None:
        """Start the due hand-over of `pre_offer_id` for the same candidate, owned by `owner`.

        Call inside a transaction (it holds the write lock, so the check that nobody started
        it yet stands); None when another process started it first.
        """
        pre_offer = self._verification_row(pre_offer_id)
        playbook = self._playbook(HANDOVER)
        link = self.store.handover_link(pre_offer_id)
        if link is None or link["verification_id"] is not None:
            return None
        verification_id = new_verification_id()
        self._record_playbook(playbook, Actor(user_id=SYSTEM_ACTOR, platform=owner.platform))
        self.store.insert_verification(
            {
                "id": verification_id,
                "candidate_id": pre_offer["candidate_id"],
                "playbook_id": playbook.id,
                "playbook_version": playbook.version,
                "requested_by": owner.user_id,
                "platform": owner.platform.value,
                "status": Outcome.IN_PROGRESS.value,
            }
        )
        self.store.audit(
            SYSTEM_ACTOR,
            owner.platform,
            "verification.started",
            verification_id,
            {
                "playbook": playbook.id,
                "version": playbook.version,
                "candidate": pre_offer["candidate_id"],
                "requested_by": owner.user_id,
                "platform": owner.platform.value,
                "pre_offer": pre_offer_id,
            },
        )
        self.store.claim_handover(pre_offer_id, verification_id)
        metrics.VERIFICATIONS_STARTED.labels(owner.platform.value).inc()
        return verification_id

    def send_step(self, verification_id: str) -> None:
        """Queue the verification's current step for its owner's own chat (it was started in a
        shared conversation); delivered when that chat can be reached."""
        row = self._verification_row(parse_verification_id(verification_id))
        ref = StepRef(verification_id=row["id"])
        with self.store.transaction():
            self.store.enqueue(None, ref.kind, row["platform"], ref.model_dump(mode="json"))
        self.outbox_written()

    async def acknowledge_overdue(self, actor: Actor, verification_id: str) -> bool:
        """Security saw the overdue post; True the first time (audited), False after."""
        if not self.roles.is_security(actor):
            self._refuse(
                actor, "overdue.acknowledge", None, self.roles.security_denial_reason(actor)
            )
        verification_id = parse_verification_id(verification_id)
        self._verification_row(verification_id)
        with self.store.transaction():
            first = self.store.claim_chase(
                f"overdue-ack:{verification_id}",
                verification_id,
                "overdue-ack",
                0,
                self.store.clock(),
                done_by=actor.user_id,
            )
            if first:
                self.store.audit(
                    actor.user_id, actor.platform, "overdue.acknowledged", verification_id
                )
        return first

    # the security team

    async def decide(
        self, actor: Actor, escalation_id: int | str, decision: Decision | str, reason: str | None
    ) -> tuple[EscalationView, bool]:
        """Record a security decision; (the escalation, True when something changed)."""
        if not self.roles.is_security(actor):
            self._refuse(actor, "escalation.decide", None, self.roles.security_denial_reason(actor))
        escalation_id = parse_escalation_id(escalation_id)
        try:
            decision = Decision(decision)
        except ValueError:
            raise InvalidInput("unknown decision", "decision") from None
        row = self.store.escalation(escalation_id)
        if row is None:
            raise NotFound(f"no escalation {escalation_id}")
        try:
            reason = clean_note(reason)
        except ValueError as error:
            raise InvalidInput(str(error), "reason") from None
        if decision is Decision.CLEAR and not reason:
            raise InvalidInput("say why this is a false alarm", "reason")
        status = DECISION_STATUS[decision]
        current = EscalationStatus(row["status"])
        if current == status:
            return self._escalation_view(self._escalation_row(escalation_id)), False
        if decision not in AVAILABLE_DECISIONS[current]:
            raise InvalidInput(
                f"this escalation was already {current.value} by {row['decided_by']}", "decision"
            )
        verification = self._verification_row(row["verification_id"])
        with self.store.transaction():
            resolved_through = (
                max((a["id"] for a in self.store.answers(row["verification_id"])), default=0)
                if decision is Decision.CLEAR
                else None
            )
            self.store.decide_escalation(
                escalation_id,
                status.value,
                actor.user_id,
                actor.platform.value,
                reason,
                resolved_through,
            )
            self.store.audit(
                actor.user_id,
                actor.platform,
                f"escalation.{status.value}",
                row["verification_id"],
                {
                    "escalation": escalation_id,
                    "reason": bool(reason),
                    "resolved_through": resolved_through,
                },
            )
            self._refresh_status(row["verification_id"], self._playbook_of(verification))
            notified = verification["platform"] in self.direct_targets
            if notified:
                notice = DecisionRef(
                    escalation_id=escalation_id,
                    status=status,
                    decided_by=actor.user_id,
                    decided_platform=actor.platform,
                    recipient=verification["requested_by"],
                    recipient_platform=Platform(verification["platform"]),
                )
                self.store.enqueue(
                    escalation_id,
                    notice.kind,
                    verification["platform"],
                    notice.model_dump(mode="json"),
                )
        self._outbox_written(notified)
        return self._escalation_view(self._escalation_row(escalation_id)), True

    async def escalation(self, actor: Actor, escalation_id: int | str) -> EscalationView:
        if not self.roles.is_security(actor):
            self._refuse(actor, "escalation.view", None, "not a security user")
        row = self.store.escalation(parse_escalation_id(escalation_id))
        if row is None:
            raise NotFound(f"no escalation {escalation_id}")
        return self._escalation_view(row)

    def register_security_channel(self, actor: Actor, reference: Row) -> None:
        """Escalations of the actor's platform go to the conversation `reference` names.

        Only a security user may say so; a refusal is audited like any other.
        """
        if not self.roles.is_security(actor):
            self._refuse(actor, "security_channel.register", None, "not a security user")
        conversation = reference.get("conversation") or {}
        with self.store.transaction():
            self.store.save_conversation_ref(
                security_channel_key(actor.platform), actor.platform.value, reference, actor.user_id
            )
            self.store.audit(
                actor.user_id,
                actor.platform,
                "security_channel.registered",
                None,
                {"conversation": conversation.get("id")},
            )

    def message_ref(self, escalation_id: int, target: str) -> str | None:
        """The platform's id of an escalation's first message in a security channel."""
        return self.store.message_ref(escalation_id, target)

    async def open_escalations(self, actor: Actor, limit: int = 20) -> list[EscalationView]:
        if not self.roles.is_security(actor):
            return []
        rows = self.store.escalations(
            [EscalationStatus.OPEN.value, EscalationStatus.ACKNOWLEDGED.value], limit
        )
        return [self._escalation_view(row) for row in rows]

    # helpers

    def _refuse(
        self,
        actor: Actor,
        action: str,
        verification_id: str | None,
        why: str,
        message: str | None = None,
    ) -> None:
        with self.store.transaction():
            self.store.audit(
                actor.user_id,
                actor.platform,
                "refused",
                verification_id,
                {"action": action, "why": why},
            )
        metrics.REFUSALS.labels(action).inc()
        raise PermissionDenied(message or f"You are not allowed to do that ({why}).")

    def _refuse_if_final(self, actor: Actor, action: str, row: Row) -> None:
        escalation = self.store.escalation_for(row["id"])
        if escalation and escalation["status"] == EscalationStatus.CONFIRMED:
            self._refuse(actor, action, row["id"], FINAL, message=f"Refused: {FINAL}.")

    def _check_view(self, actor: Actor, row: Row) -> None:
        if not self.roles.can_view(actor, owner_of(row)):
            self._refuse(actor, "verification.view", row["id"], "not this verification's owner")

    def _candidate_of(self, verification: Row) -> Row:
        candidate = self.store.candidate(verification["candidate_id"])
        if candidate is None:
            raise NotFound(f"no candidate for {verification['id']}")
        return candidate

    def _answer_row(self, answer_id: int) -> Row:
        answer = self.store.answer(answer_id)
        if answer is None:
            raise NotFound(f"no answer {answer_id}")
        return answer

    def _escalation_row(self, escalation_id: int) -> Row:
        row = self.store.escalation(escalation_id)
        if row is None:
            raise NotFound(f"no escalation {escalation_id}")
        return row

    def _verification_row(self, verification_id: str) -> Row:
        row = self.store.verification(verification_id)
        if row is None:
            raise NotFound(f"no verification {verification_id}")
        return row

    def _playbook_of(self, row: Row) -> Playbook:
        """The playbook version the verification started with, as recorded."""
        try:
            return self.versions.get(row["playbook_id"], row["playbook_version"])
        except PlaybookError as error:
            raise NotFound(str(error)) from None

    def playbook_for(self, verification_id: str) -> Playbook:
        """The playbook a verification is read with (for a front end that has its view)."""
        return self._playbook_of(self._verification_row(parse_verification_id(verification_id)))

    def _latest_answers(self, verification_id: str) -> dict[str, Row]:
        return latest_by_step(self.store.answers(verification_id))

    def _next_step(
        self, playbook: Playbook, verification_id: str, latest: dict[str, Row] | None = None
    ) -> Step | None:
        """The first unanswered step, passing over computed ones still waiting for input."""
        answered = self._latest_answers(verification_id) if latest is None else latest
        waiting = self._waiting_steps(playbook, verification_id, answered)
        return next(
            (s for s in playbook.steps if s.id not in answered and s.id not in waiting), None
        )

    def _waiting_steps(
        self, playbook: Playbook, verification_id: str, answered: dict[str, Row]
    ) -> dict[str, str]:
        """Unanswered computed steps that wait for a detail: step id -> what they wait for."""
        pending = [s for s in playbook.steps if s.computed and s.id not in answered]
        if not pending:
            return {}
        row = self._verification_row(verification_id)
        candidate = self._candidate_of(row)
        found = {s.id: waiting_for(s.check, candidate) for s in pending if s.check is not None}
        return {step_id: what for step_id, what in found.items() if what}

    def _prompt_for(
        self, row: Row, latest: dict[str, Row] | None = None, candidate_name: str | None = None
    ) -> Prompt | None:
        if row["cancelled_at"]:
            return None
        playbook = self._playbook_of(row)
        step = self._next_step(playbook, row["id"], latest)
        if step is None:
            return None
        name = candidate_name or self._candidate_of(row)["name"]
        return playbook.prompt(step, row["id"], name)

    def _finding(self, playbook: Playbook, answer: Row, security: bool = False) -> Finding:
        """An answer as shown; what only security may see is left out unless `security`."""
        step = playbook.step(answer["step_id"])
        option = step.option(answer["value"]) if step else None
        return Finding(
            answer_id=answer["id"],
            step=answer["step_id"],
            step_title=step.title if step else answer["step_id"],
            answer=answer["value"],
            answer_label=option.label if option else answer["value"],
            result=Result(answer["result"]),
            reason=answer["reason"],
            source=step.source if step else "",
            note=answer["note"],
            answered_by=answer["answered_by"],
            platform=Platform(answer["platform"]),
            answered_at=datetime.fromisoformat(answer["answered_at"]),
            security_detail=self._linked(answer.get("security_detail")) if security else None,
        )

    def _linked(self, detail: str | None) -> str | None:
        """A finding's security detail with each list of verification ids it holds grouped by
        candidate, named as they are now: `Jane Doe: VB-1, VB-2; John Roe: VB-3`."""
        if not detail:
            return detail
        names = self.store.candidate_names(VERIFICATION_IDS.findall(detail))

        def grouped(run: re.Match[str]) -> str:
            by_person: dict[str, list[str]] = {}
            for verification_id in run.group(0).split(", "):
                name = names.get(verification_id, ERASED)
                by_person.setdefault(name, []).append(verification_id)
            return "; ".join(f"{name}: {', '.join(ids)}" for name, ids in by_person.items())

        return VERIFICATION_ID_RUNS.sub(grouped, detail)

    # what the outbox delivers, rendered from the database when it is delivered

    def render_notice(self, payload: Row) -> Notice | None:
        """The notice an outbox row refers to, as things stand now; None if it is gone."""
        ref = notice_ref(payload)
        if isinstance(ref, TextNotice):
            return ref
        if isinstance(ref, ReminderRef | OverdueRef | HandoverRef | ResurfaceRef | StepRef):
            return self._render_chase(ref)
        row = self.store.escalation(ref.escalation_id)
        if row is None:
            return None
        if isinstance(ref, DecisionRef):
            verification = self._verification_row(row["verification_id"])
            candidate = self.store.candidate(verification["candidate_id"])
            return DecisionNotice(
                escalation_id=ref.escalation_id,
                verification_id=row["verification_id"],
                candidate_name=candidate["name"] if candidate else "",
                status=ref.status,
                decided_by=ref.decided_by,
                decided_platform=ref.decided_platform,
                reason=row["decision_reason"] if row["status"] == ref.status else None,
                recipient=ref.recipient,
                recipient_platform=ref.recipient_platform,
            )
        escalation = self._escalation_view(row)
        playbook = self._playbook_of(self._verification_row(row["verification_id"]))
        items = []
        for item in ref.items:
            answer = self.store.answer(item.answer_id)
            previous = self.store.answer(item.previous_id) if item.previous_id else None
            if answer is None:
                continue
            items.append(
                NoticeItem(
                    finding=self._finding(playbook, answer, security=True),
                    previous=self._finding(playbook, previous, security=True) if previous else None,
                    reopened=item.reopened,
                )
            )
        return FindingNotice(
            escalation=escalation, items=items, first=ref.first, left_out=ref.left_out
        )

    def _render_chase(
        self, ref: ReminderRef | OverdueRef | HandoverRef | ResurfaceRef | StepRef
    ) -> Notice | None:
        """A reminder, an overdue post, a re-surfaced escalation or a hand-over, as of now.

        None (dropped) when what it is about is over: answered, finished, decided, erased.
        """
        if isinstance(ref, ResurfaceRef):
            row = self.store.escalation(ref.escalation_id)
            if row is None or row["status"] not in AWAITING_STATUSES:
                return None
            escalation = self._escalation_view(row)
            undecided = [f for f in escalation.findings if not f.resolved and not f.superseded_by]
            if not undecided:
                return None
            return ResurfaceNotice(
                escalation=escalation,
                seq=ref.seq,
                waiting_since=ref.waiting_since,
                undecided=len(undecided),
                now=self.store.clock(),
            )
        row = self.store.verification(ref.verification_id)
        if row is None or row["cancelled_at"]:
            return None
        view = self._view(row)
        if view.erased:
            return None
        if isinstance(ref, StepRef):
            return StepNotice(
                verification_id=row["id"],
                candidate_name=view.candidate.name,
                playbook_title=view.playbook_title,
                prompt=self._prompt_for(row),
                recipient=row["requested_by"],
                recipient_platform=Platform(row["platform"]),
            )
        if isinstance(ref, HandoverRef):
            pre_offer = self.store.handover_link(row["id"])
            return HandoverNotice(
                verification_id=row["id"],
                pre_offer_id=pre_offer["pre_offer_id"] if pre_offer else "",
                candidate_name=view.candidate.name,
                prompt=self._prompt_for(row),
                recipient=row["requested_by"],
                recipient_platform=Platform(row["platform"]),
                to_it_channel=ref.to_it_channel,
            )
        if view.outcome is not Outcome.IN_PROGRESS:
            return None
        prompt = self._prompt_for(row)
        if isinstance(ref, ReminderRef):
            return ReminderNotice(
                verification_id=row["id"],
                candidate_name=view.candidate.name,
                seq=ref.seq,
                idle_since=ref.idle_since,
                prompt=prompt,
                waiting_for=view.waiting_for,
                answered=view.answered,
                total=view.total,
                recipient=row["requested_by"],
                recipient_platform=Platform(row["platform"]),
                now=self.store.clock(),
            )
        playbook = self._playbook_of(row)
        answered = {finding.step for finding in view.findings}
        missing = [step.title for step in playbook.steps if step.id not in answered]
        acknowledged = self.store.chases(row["id"], "overdue-ack")
        return OverdueNotice(
            verification_id=row["id"],
            candidate_name=view.candidate.name,
            playbook_title=view.playbook_title,
            requested_by=row["requested_by"],
            requested_platform=Platform(row["platform"]),
            started_at=view.created_at,
            missing=missing,
            acknowledged_by=acknowledged[0]["done_by"] if acknowledged else None,
            now=self.store.clock(),
        )

    def _view(
        self, row: Row, latest: dict[str, Row] | None = None, security: bool = False
    ) -> VerificationView:
        """The verification; `security` adds what only the security team may see."""
        playbook = self._playbook_of(row)
        latest = self._latest_answers(row["id"]) if latest is None else latest
        ordered = [latest[step.id] for step in playbook.steps if step.id in latest]
        escalation = self.store.escalation_for(row["id"])
        candidate = self._candidate_of(row)
        return VerificationView(
            id=row["id"],
            playbook=playbook.id,
            playbook_title=playbook.title,
            candidate=stored_candidate(candidate),
            erased=bool(candidate["erased_at"]),
            requested_by=row["requested_by"],
            platform=Platform(row["platform"]),
            outcome=Outcome(row["status"]),
            cancelled=row["cancelled_at"] is not None,
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
            answered=len(ordered),
            total=len(playbook.steps),
            findings=[self._finding(playbook, answer, security) for answer in ordered],
            escalation_id=escalation["id"] if escalation else None,
            escalation_status=EscalationStatus(escalation["status"]) if escalation else None,
            waiting={} if row["cancelled_at"] else self._waiting_steps(playbook, row["id"], latest),
            **self._handover_fields(row["id"]),
        )

    def _handover_fields(self, verification_id: str) -> dict[str, object]:
        """The other verification of a pre-offer / device hand-over pair, for the view."""
        link = self.store.handover_link(verification_id)
        if link is None:
            return {}
        if link["pre_offer_id"] == verification_id:
            return {
                "handover_id": link["verification_id"],
                "handover_due_at": datetime.fromisoformat(link["due_at"]),
            }
        return {"pre_offer_id": link["pre_offer_id"]}

    def _outcome_of(
        self,
        verification_id: str,
        answer_id: int | None,
        computed_ids: list[int],
        escalated: bool,
        duplicate: bool = False,
        actor: Actor | None = None,
    ) -> AnswerOutcome:
        """What an answer did, as `actor` may see it (security sees what only it may see)."""
        security = actor is not None and self.roles.is_security(actor)
        row = self._verification_row(verification_id)
        playbook = self._playbook_of(row)
        answers = {answer["id"]: answer for answer in self.store.answers(verification_id)}
        latest = latest_by_step(answers.values())
        view = self._view(row, latest, security)
        recorded = answers.get(answer_id) if answer_id is not None else None
        return AnswerOutcome(
            recorded=self._finding(playbook, recorded, security) if recorded else None,
            duplicate=duplicate,
            computed=[self._finding(playbook, answers[i], security) for i in computed_ids],
            escalated=escalated,
            verification=view,
            next_prompt=self._prompt_for(row, latest, view.candidate.name),
        )

    def _escalation_view(self, row: Row) -> EscalationView:
        """Every finding ever raised, what replaced it, and whether a Clear resolved it."""
        verification = self._verification_row(row["verification_id"])
        playbook = self._playbook_of(verification)
        candidate = stored_candidate(self._candidate_of(verification))
        answers = self.store.answers(row["verification_id"])
        raised = []
        for index, answer in enumerate(answers):
            if answer["result"] == Result.PASS:
                continue
            step_id = answer["step_id"]
            later = next((a for a in answers[index + 1 :] if a["step_id"] == step_id), None)
            raised.append(
                RaisedFinding(
                    **self._finding(playbook, answer, security=True).model_dump(),
                    superseded_by=self._finding(playbook, later) if later else None,
                    resolved=answer["id"] <= row["resolved_through"],
                )
            )
        return EscalationView(
            id=row["id"],
            verification_id=row["verification_id"],
            status=EscalationStatus(row["status"]),
            candidate_name=candidate.name,
            candidate_email=candidate.email,
            candidate_role=candidate.role,
            requested_by=verification["requested_by"],
            requested_platform=Platform(verification["platform"]),
            outcome=Outcome(verification["status"]),
            created_at=datetime.fromisoformat(row["created_at"]),
            decided_by=row["decided_by"],
            decided_at=datetime.fromisoformat(row["decided_at"]) if row["decided_at"] else None,
            decision_reason=row["decision_reason"],
            reopened_at=datetime.fromisoformat(row["reopened_at"]) if row["reopened_at"] else None,
            findings=raised,
        )

    def _outbox_written(self, written: bool) -> None:
        if written:
            self.outbox_written()

    def outbox_written(self) -> None:
        """Wake the outbox worker: rows were written for it."""
        if self.on_outbox is not None:
            self.on_outbox()
