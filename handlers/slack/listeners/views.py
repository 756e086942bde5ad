"""Modal submissions: validated and recorded before the ack, so errors show inline."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.errors import InvalidInput, PermissionDenied, VerifybotError
from bot.models import Decision
from bot.service import InvalidCandidate
from handlers.slack.context import ROLE_REFRESH_WAIT, SlackContext, slack_actor
from handlers.slack.flows import post_next, show_decision, show_outcome
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
    await ack()
    if outcome.duplicate:
        return
    ctx.background.spawn(post_next(ctx, actor.user_id, outcome), "slack.first_step")


async def submit_note(ctx: SlackContext, ack: AsyncAck, submission: ViewSubmission) -> None:
    """Record the answer with its note; the dedupe key is the modal's id."""
    view = submission.view
    actor = slack_actor(submission.user.id)
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
            dedupe_key=f"slack:view:{view.id}",
        )
    except InvalidInput as error:
        await ack(response_action="errors", errors={NOTE_BLOCK: error.reason})
        return
    except VerifybotError as error:
        await ack(response_action="errors", errors={NOTE_BLOCK: error.message})
        return
    await ack()
    flow = show_outcome(ctx, actor.user_id, metadata, outcome, ref.change)
    ctx.background.spawn(flow, "slack.note_recorded")


async def submit_clear(ctx: SlackContext, ack: AsyncAck, submission: ViewSubmission) -> None:
    """Record a false alarm with its reason."""
    view = submission.view
    actor = slack_actor(submission.user.id)
    try:
        metadata = decode_metadata(ClearMetadata, view.private_metadata)
        reason = input_value(view, REASON_BLOCK)
        await ctx.refresh_roles(wait=ROLE_REFRESH_WAIT)
        escalation, _ = await ctx.service.decide(actor, metadata.escalation, Decision.CLEAR, reason)
    except InvalidInput as error:
        await ack(response_action="errors", errors={REASON_BLOCK: error.reason})
        return
    except VerifybotError as error:
        await ack(response_action="errors", errors={REASON_BLOCK: error.message})
        return
    await ack()
    flow = show_decision(ctx, actor.user_id, metadata, escalation)
    ctx.background.spawn(flow, "slack.cleared")
