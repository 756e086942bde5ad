"""The work done after an ack: record through the service, then update and post messages."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.blocking import finished, off_loop
from bot.errors import InvalidInput, NoteRequired, VerifybotError
from bot.models import Actor, AnswerOutcome, Decision, EscalationView
from bot.records import SYSTEM_ACTOR
from bot.store import Row
from handlers.slack.blocks import (
    answered_message,
    computed_message,
    escalation_message,
    prompt_message,
    summary_message,
)
from handlers.slack.context import SlackContext, slack_actor
from handlers.slack.payloads import (
    INVALID_BUTTON,
    AnswerRef,
    BlockActions,
    ClearMetadata,
    MessageRef,
    NoteMetadata,
    SlashCommand,
    StepRef,
    decode_escalation,
    decode_verification,
    encode_metadata,
)
from handlers.slack.surfaces import clear_modal, home_view, note_modal, start_modal


@dataclass(frozen=True)
class Click:
    """One button press, from a block_actions payload."""

    user_id: str
    action_id: str
    value: str | None
    action_ts: str | None
    trigger_id: str | None
    channel_id: str | None
    message_ts: str | None

    @classmethod
    def of(cls, payload: BlockActions) -> Click:
        action = payload.actions[0]
        container = payload.container
        channel = payload.channel.id if payload.channel else container.get("channel_id")
        ts = payload.message.ts if payload.message else container.get("message_ts")
        if container.get("is_ephemeral"):
            ts = None
        return cls(
            user_id=payload.user.id,
            action_id=action.action_id,
            value=action.value,
            action_ts=action.action_ts,
            trigger_id=payload.trigger_id,
            channel_id=channel if isinstance(channel, str) else None,
            message_ts=ts if isinstance(ts, str) else None,
        )

    @classmethod
    def of_job(cls, payload: dict[str, Any]) -> Click:
        return cls(
            user_id=str(payload["user_id"]),
            action_id=str(payload["action_id"]),
            **{
                name: payload.get(name)
                for name in ("value", "action_ts", "trigger_id", "channel_id", "message_ts")
            },
        )

    def job_payload(self) -> dict[str, Any]:
        """Ids and Slack references only: the press, not anything typed."""
        return dict(vars(self))

    def job_key(self) -> str | None:
        """The press's key in the job queue: a Slack retry of it is the same job."""
        if not self.action_ts:
            return None
        material = "|".join((self.user_id, self.action_id, self.value or "", self.action_ts))
        return f"slack:click:{hashlib.sha256(material.encode()).hexdigest()}"

    @property
    def where(self) -> MessageRef:
        return MessageRef(channel=self.channel_id, ts=self.message_ts)

    def dedupe_key(self, ref: AnswerRef) -> str | None:
        """The same press delivered twice (a retry) has the same key; another press does not."""
        if not self.action_ts:
            return None
        return f"slack:{self.user_id}:{ref.encode()}:{self.action_ts}"[:500]


async def post_next(ctx: SlackContext, channel: str, outcome: AnswerOutcome) -> None:
    """What verifybot computed itself, then the next step, or the summary at the end."""
    if outcome.computed:
        await ctx.post(channel, computed_message(outcome.computed))
    if outcome.next_prompt is not None:
        await ctx.post(channel, prompt_message(outcome.next_prompt))
    else:
        await ctx.post(channel, summary_message(outcome.verification))


def shown_key(user_id: str, where: MessageRef, verification_id: str, step_id: str) -> str:
    return "|".join((user_id, where.channel or "", where.ts or "", verification_id, step_id))


async def show_outcome(
    ctx: SlackContext, user_id: str, where: MessageRef, outcome: AnswerOutcome, change: bool
) -> None:
    """The step's message shows the recorded answer; then the next step, once."""
    recorded = outcome.recorded
    if recorded is not None and where.channel and where.ts:
        shown = answered_message(outcome.verification, recorded)
        if await ctx.update(where.channel, where.ts, shown) is not None:
            key = shown_key(user_id, where, outcome.verification.id, recorded.step)
            await off_loop(ctx.service.store, ctx.service.store.mark_shown, key)
    if outcome.duplicate or (change and not outcome.finished):
        return
    await post_next(ctx, where.channel or user_id, outcome)


async def record_answer(ctx: SlackContext, click: Click) -> None:
    """An option button: record it, or ask for the note it needs.

    A press on a step that this message already shows answered (a double click) does nothing
    more: the service would record nothing and the message is up to date. A press this job
    recorded in an earlier run (it was stopped, or the Web API failed) finishes its follow-up.
    The reads and the write run off the event loop where the database is a server.
    """
    actor = slack_actor(click.user_id)
    try:
        ref = AnswerRef.decode(click.value)
    except InvalidInput as error:
        await ctx.tell(click.user_id, click.channel_id, error.message)
        return
    try:
        outcome = await off_loop(ctx.service.store, recorded_answer, ctx, actor, click, ref)
    except NoteRequired as required:
        await ask_for_note(ctx, click, ref, required.note_label)
        return
    except VerifybotError as error:
        await ctx.tell(click.user_id, click.channel_id, error.message)
        return
    if outcome is not None:
        await show_outcome(ctx, click.user_id, click.where, outcome, ref.change)


def recorded_answer(
    ctx: SlackContext, actor: Actor, click: Click, ref: AnswerRef
) -> AnswerOutcome | None:
    """The press recorded (or what an earlier run of its job recorded); None when the message
    already shows the step answered."""
    dedupe_key = click.dedupe_key(ref)
    store = ctx.service.store
    key = shown_key(click.user_id, click.where, ref.verification_id, ref.step_id)
    mine, shown = store.click_state(dedupe_key, key)
    if mine is None and not ref.change and shown:
        return None
    if mine is not None:
        return finished(recorded_outcome(ctx, actor, mine))
    return finished(
        ctx.service.answer(
            actor,
            ref.verification_id,
            ref.step_id,
            ref.option,
            change=ref.change,
            dedupe_key=dedupe_key,
        )
    )


def computed_after(answers: Iterable[Row], answer_id: int) -> list[int]:
    """The computed answers the service recorded right after (because of) `answer_id`."""
    found: list[int] = []
    for answer in answers:
        if answer["id"] <= answer_id:
            continue
        if answer["answered_by"] != SYSTEM_ACTOR:
            break
        found.append(answer["id"])
    return found


async def recorded_outcome(
    ctx: SlackContext,
    actor: Actor,
    answer: Row,
    computed_ids: list[int] | None = None,
    duplicate: bool = False,
) -> AnswerOutcome:
    """What recording `answer` did, read back: for a job that recorded it in an earlier run."""
    verification_id = answer["verification_id"]
    view = await ctx.service.view(actor, verification_id)
    if computed_ids is None:
        computed_ids = computed_after(ctx.service.store.answers(verification_id), answer["id"])
    return AnswerOutcome(
        recorded=next((f for f in view.findings if f.step == answer["step_id"]), None),
        duplicate=duplicate,
        computed=[f for f in view.findings if f.answer_id in computed_ids],
        verification=view,
        next_prompt=await ctx.service.next_prompt(actor, verification_id),
    )


async def ask_for_note(ctx: SlackContext, click: Click, ref: AnswerRef, label: str) -> None:
    """Open the note modal, unless the step is answered already (a second click)."""
    view = await ctx.service.view(slack_actor(click.user_id), ref.verification_id)
    answered = next((f for f in view.findings if f.step == ref.step_id), None)
    if answered is not None and not ref.change:
        outcome = AnswerOutcome(recorded=answered, duplicate=True, verification=view)
        await show_outcome(ctx, click.user_id, click.where, outcome, change=False)
        return
    if not click.trigger_id:
        await ctx.tell(click.user_id, click.channel_id, INVALID_BUTTON)
        return
    metadata = NoteMetadata(answer=ref.encode(), channel=click.channel_id, ts=click.message_ts)
    modal = note_modal(label, encode_metadata(metadata))
    await ctx.open_modal(click.trigger_id, modal, click.user_id, click.channel_id)


async def show_change(ctx: SlackContext, click: Click) -> None:
    """The "Change answer" button: the step's buttons again, marked as a change."""
    actor = slack_actor(click.user_id)
    try:
        ref = StepRef.decode(click.value)
        prompt = await ctx.service.change_prompt(actor, ref.verification_id, ref.step_id)
    except VerifybotError as error:
        await ctx.tell(click.user_id, click.channel_id, error.message)
        return
    shown = prompt_message(prompt, change=True)
    if click.channel_id and click.message_ts:
        await ctx.update(click.channel_id, click.message_ts, shown)
    else:
        await ctx.post(actor.user_id, shown)


async def resume(ctx: SlackContext, click: Click) -> None:
    """The "Continue" button: the next step (or the summary) in the person's DM."""
    actor = slack_actor(click.user_id)
    try:
        verification_id = decode_verification(click.value)
        prompt = await ctx.service.next_prompt(actor, verification_id)
        view = await ctx.service.view(actor, verification_id)
    except VerifybotError as error:
        await ctx.tell(click.user_id, click.channel_id, error.message)
        return
    shown = prompt_message(prompt) if prompt is not None else summary_message(view)
    await ctx.post(actor.user_id, shown)


async def decide(ctx: SlackContext, click: Click, decision: Decision) -> None:
    """A security button; Clear asks for the reason first."""
    actor = slack_actor(click.user_id)
    try:
        escalation_id = decode_escalation(click.value)
    except InvalidInput as error:
        await ctx.tell(click.user_id, click.channel_id, error.message)
        return
    await ctx.refresh_roles()
    try:
        escalation, _ = await ctx.service.decide(actor, escalation_id, decision, None)
    except InvalidInput as error:
        if decision is Decision.CLEAR and error.field == "reason":
            await ask_for_reason(ctx, click, escalation_id)
        else:
            await ctx.tell(click.user_id, click.channel_id, error.message)
        return
    except VerifybotError as error:
        await ctx.tell(click.user_id, click.channel_id, error.message)
        return
    await show_decision(ctx, click.user_id, click.where, escalation)


async def ask_for_reason(ctx: SlackContext, click: Click, escalation_id: int) -> None:
    escalation = await ctx.service.escalation(slack_actor(click.user_id), escalation_id)
    if not click.trigger_id:
        await ctx.tell(click.user_id, click.channel_id, INVALID_BUTTON)
        return
    metadata = ClearMetadata(
        escalation=escalation_id, channel=click.channel_id, ts=click.message_ts
    )
    view = clear_modal(escalation.candidate_name, encode_metadata(metadata))
    await ctx.open_modal(click.trigger_id, view, click.user_id, click.channel_id)


async def show_decision(
    ctx: SlackContext, user_id: str, where: MessageRef, escalation: EscalationView
) -> None:
    """The escalation's message shows the decision and the buttons still open."""
    shown = escalation_message(escalation)
    if where.channel and where.ts:
        await ctx.update(where.channel, where.ts, shown)
    root = ctx.service.message_ref(escalation.id, ctx.security_target)
    if root and root != where.ts:
        await ctx.update(ctx.security_channel, root, shown)


async def open_start_modal(
    ctx: SlackContext, command: SlashCommand, name: str, playbook: str | None = None
) -> None:
    chosen = playbook or ctx.service.playbooks.default_id
    view = start_modal(name, list(ctx.service.playbooks), chosen)
    await ctx.open_modal(command.trigger_id or "", view, command.user_id, command.channel_id)


async def publish_home(ctx: SlackContext, user_id: str) -> None:
    """The Home tab of one person."""
    actor = slack_actor(user_id)
    await ctx.refresh_roles()
    open_views = await ctx.service.verifications(actor)
    finished = [
        view
        for view in await ctx.service.verifications(actor, open_only=False, limit=20)
        if not view.open
    ]
    escalations = await ctx.service.open_escalations(actor)
    security = ctx.service.roles.is_security(actor)
    view = home_view(open_views, finished[:5], escalations, security)
    await ctx.safely(ctx.client.views_publish(user_id=user_id, view=view), "views.publish")
