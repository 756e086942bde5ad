"""VerificationService: the one API every front end calls.

It starts verifications and records answers here; the rest stands in the classes it builds on,
one module each: reading the rows (bot/records.py), the views (bot/views.py), rendering outbox
notices (bot/rendering.py), the device hand-over (bot/handover.py), outcomes (bot/outcomes.py)
and the security team's decisions (bot/security_desk.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from bot import metrics
from bot.candidates import (
    InvalidCandidate,
    address_keys_of,
    candidate_row,
    stored_candidate,
    validate_candidate,
)
from bot.errors import InvalidInput, NoteRequired, NotFound
from bot.evaluator import lowers
from bot.ids import (
    VERIFICATION_ID,
    parse_verification_id,
)
from bot.models import (
    AWAITING_DECISION,
    Actor,
    AnswerOutcome,
    CandidateIn,
    EscalationStatus,
    Outcome,
    Prompt,
    Result,
    SameName,
    VerificationView,
)
from bot.notices import (
    FindingRef,
    ItemRef,
    notice_ref,
)
from bot.playbook import Playbook, PlaybookError, PlaybookRegistry
from bot.playbook_versions import PlaybookVersions
from bot.records import SYSTEM_ACTOR, owner_of, reads_once
from bot.roles import Roles, same_person
from bot.security_desk import SecurityDesk
from bot.signals import COMPUTED_CHECKS
from bot.store import Row, Store
from bot.validation import clean_note

AWAITING_STATUSES = frozenset(status.value for status in AWAITING_DECISION)
MAX_REASON_LENGTH = 1000
NOTICE_INTERVAL = 5.0
LIST_PAGES = 4


class VerificationService(SecurityDesk):
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

    @reads_once
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
        row = candidate_row(details)
        requester = owner or actor
        with self.store.transaction():
            earlier = self.store.verification_by_start_key(dedupe_key) if dedupe_key else None
            if earlier is not None:
                self._check_view(actor, earlier)
                return self._outcome_of(earlier["id"], None, [], False, duplicate=True, actor=actor)
            verification_id = self.store.unused_verification_id()
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
            self.store.read_ahead_fresh([{"id": verification_id, "candidate_id": candidate_id}])
            computed, escalated = self._run_computed_steps(verification_id, actor)
        metrics.VERIFICATIONS_STARTED.labels(actor.platform.value).inc()
        self._outbox_written(escalated)
        return self._outcome_of(verification_id, None, computed, escalated, actor=actor)

    def check_can_start(self, actor: Actor) -> None:
        """PermissionDenied (audited) for someone who may not start verifications."""
        if not self.roles.can_start(actor):
            self._refuse(actor, "verification.start", None, "not a permitted hiring manager")

    # answering

    @reads_once
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
            self.store.read_ahead_fresh([row], audit_head=True)
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

    # reading

    @reads_once
    async def next_prompt(self, actor: Actor, verification_id: str) -> Prompt | None:
        verification_id = parse_verification_id(verification_id)
        row = self._verification_row(verification_id)
        self._check_view(actor, row)
        return self._prompt_for(row)

    @reads_once
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

    @reads_once
    async def view(self, actor: Actor, verification_id: str) -> VerificationView:
        """The verification as `actor` may see it: its rows read in one round trip on a
        server, once the actor may."""
        verification_id = parse_verification_id(verification_id)
        row = self._verification_row(verification_id)
        self._check_view(actor, row)
        self.store.read_ahead([row])
        return self._view(row, security=self.roles.is_security(actor))

    @reads_once
    async def status(self, actor: Actor, reference: str) -> VerificationView:
        """A verification by id, or the latest of a candidate by name, that the actor may see."""
        reference = reference.strip()
        if not reference:
            raise InvalidInput("name a candidate or a verification id", "reference")
        if VERIFICATION_ID.match(reference.upper()):
            return await self.view(actor, reference)
        sees_all = self.roles.is_security(actor) or self.roles.is_integration(actor)
        owner = None if sees_all else (actor.user_id, actor.platform.value)
        rows = self.store.verifications_by_candidate_name(reference, owner)
        visible = [row for row in rows if self.roles.can_view(actor, owner_of(row))]
        if not visible:
            raise NotFound(f"no verification found for {reference!r}")
        self.store.read_ahead(visible[:1])
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

    @reads_once
    async def verifications(
        self, actor: Actor, open_only: bool = True, limit: int = 50
    ) -> list[VerificationView]:
        """The actor's verifications (everyone's for the terminal's operator), newest first.

        Only the unfinished are read when `open_only`, a page of `limit` at a time, at most
        LIST_PAGES pages: a hiring manager with a million verifications costs no more.
        """
        local = self.roles.is_local(actor)
        requested_by = None if local else actor.user_id
        platform = None if local else actor.platform.value
        views: list[VerificationView] = []
        for page in range(LIST_PAGES):
            rows = self.store.list_verifications(
                requested_by, None, limit, platform, unfinished=open_only, offset=page * limit
            )
            self.store.read_ahead(rows)
            views += [view for view in map(self._view, rows) if view.open or not open_only]
            if len(views) >= limit or len(rows) < limit:
                break
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
        keys = address_keys_of(given.shipping_address or address, "shipping_address")
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
