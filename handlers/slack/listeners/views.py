"""Modal submissions: validated and recorded, and their follow-up queued, before the ack."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.candidates import InvalidCandidate
from bot.errors import InvalidInput, PermissionDenied, VerifybotError
from bot.jobs import QueueBusy
from bot.models import Decision
from handlers.slack import jobs
from handlers.slack.context import ROLE_REFRESH_WAIT, SlackContext, slack_actor
from handlers.slack.payloads import (
    ENVELOPE,
    AnswerRef,
    ClearMetadata,
    NoteMetadata,
    SubmittedView,
    ViewSubmission,
    decode_metadata,
    input_value,
)
from handlers.slack.surfaces import (
    CANDIDATE_INPUTS,
    CLEAR_CALLBACK,
    NOTE_BLOCK,
    NOTE_CALLBACK,
    PLAYBOOK_BLOCK,
    REASON_BLOCK,
    START_CALLBACK,
    message_modal,
)

FIELD_BLOCKS = frozenset(field.block_id for field in CANDIDATE_INPUTS)
BUSY = "verifybot is busy: submit again (nothing is recorded twice)."


def queued(ctx: SlackContext, kind: str, payload: dict, view_id: str) -> bool:
    """Queue the work after a submission's ack, keyed by the modal; False when it timed out.

    A resubmitted modal (Slack retried, or the person submitted again after a timeout) is
    the same job: its follow-up runs once.
    """
    try:
        ctx.jobs.enqueue(kind, payload, f"slack:view:{view_id}")
    except QueueBusy:
        return False
    return True


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def start_submitted(ack: AsyncAck, context: AsyncBoltContext) -> None:
        await submit_start(ctx, ack, context[ENVELOPE])

    async def note_submitted(ack: AsyncAck, context: AsyncBoltContext) -> None:
        await submit_note(ctx, ack, context[ENVELOPE])

    async def clear_submitted(ack: AsyncAck, context: AsyncBoltContext) -> None:
        await submit_clear(ctx, ack, context[ENVELOPE])

    app.view(START_CALLBACK)(start_submitted)
    app.view(NOTE_CALLBACK)(note_submitted)
    app.view(CLEAR_CALLBACK)(clear_submitted)


def candidate_errors(problems: dict[str, str], view: SubmittedView) -> dict[str, str]:
    """Problems by input block; those of no block of the form go on the first one."""
    errors: dict[str, str] = {}
    for field, message in problems.items():
        block = field if field in FIELD_BLOCKS else "name"
        if field == "playbook" and PLAYBOOK_BLOCK in view.state.values:
            block = PLAYBOOK_BLOCK
        errors.setdefault(block, message)
    return errors


async def submit_start(ctx: SlackContext, ack: AsyncAck, submission: ViewSubmission) -> None:
    """Create the verification, then post its first step to the hiring manager's DM."""
    view = submission.view
    actor = slack_actor(submission.user.id)
    details = {field: input_value(view, field) for field in FIELD_BLOCKS}
    candidate = {field: value for field, value in details.items() if value is not None}
    playbook = input_value(view, PLAYBOOK_BLOCK)
    try:
        outcome = await ctx.service.start(actor, candidate, playbook, f"slack:view:{view.id}")
    except InvalidCandidate as error:
        await ack(response_action="errors", errors=candidate_errors(error.problems, view))
        return
    except InvalidInput as error:
        problems = {error.field or "name": error.reason}
        await ack(response_action="errors", errors=candidate_errors(problems, view))
        return
    except PermissionDenied as error:
        await ack(response_action="update", view=message_modal("Not allowed", error.message))
        return
    payload = jobs.FirstStep(
        user_id=actor.user_id,
        verification_id=outcome.verification.id,
        computed=[finding.answer_id for finding in outcome.computed],
    )
    if not queued(ctx, jobs.FIRST_STEP, payload.model_dump(), view.id):
        await ack(response_action="errors", errors={"name": BUSY})
        return
    await ack()


async def submit_note(ctx: SlackContext, ack: AsyncAck, submission: ViewSubmission) -> None:
    """Record the answer with its note; the dedupe key is the modal's id."""
    view = submission.view
    actor = slack_actor(submission.user.id)
    dedupe_key = f"slack:view:{view.id}"
    try:
        metadata = decode_metadata(NoteMetadata, view.private_metadata)
        ref = AnswerRef.decode(metadata.answer)
        outcome = await ctx.service.answer(
            actor,
            ref.verification_id,
            ref.step_id,
            ref.option,
            note=input_value(view, NOTE_BLOCK),
            change=ref.change,
            dedupe_key=dedupe_key,
        )
    except VerifybotError as error:
        await ack(response_action="errors", errors={NOTE_BLOCK: error.reason})
        return
    if outcome.recorded is None:
        await ack()
        return
    mine = ctx.service.store.answer_by_dedupe_key(dedupe_key)
    payload = jobs.NoteRecorded(
        user_id=actor.user_id,
        answer_id=mine["id"] if mine else outcome.recorded.answer_id,
        computed=[finding.answer_id for finding in outcome.computed],
        duplicate=outcome.duplicate and mine is None,
        change=ref.change,
        channel=metadata.channel,
        ts=metadata.ts,
    )
    if not queued(ctx, jobs.NOTE_RECORDED, payload.model_dump(), view.id):
        await ack(response_action="errors", errors={NOTE_BLOCK: BUSY})
        return
    await ack()


async def submit_clear(ctx: SlackContext, ack: AsyncAck, submission: ViewSubmission) -> None:
    """Record a false alarm with its reason."""
    view = submission.view
    actor = slack_actor(submission.user.id)
    try:
        metadata = decode_metadata(ClearMetadata, view.private_metadata)
        reason = input_value(view, REASON_BLOCK)
        await ctx.refresh_roles(wait=ROLE_REFRESH_WAIT)
        escalation, _ = await ctx.service.decide(actor, metadata.escalation, Decision.CLEAR, reason)
    except VerifybotError as error:
        await ack(response_action="errors", errors={REASON_BLOCK: error.reason})
        return
    payload = jobs.Cleared(
        user_id=actor.user_id,
        escalation_id=escalation.id,
        channel=metadata.channel,
        ts=metadata.ts,
    )
    if not queued(ctx, jobs.CLEARED, payload.model_dump(), view.id):
        await ack(response_action="errors", errors={REASON_BLOCK: BUSY})
        return
    await ack()
