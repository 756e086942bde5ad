"""Adaptive Cards for reminders, overdue posts, re-surfaced escalations and device hand-overs."""

from __future__ import annotations

from bot import chase_text
from bot.notices import (
    HandoverNotice,
    OverdueNotice,
    ReminderNotice,
    ResurfaceNotice,
    StepNotice,
)
from handlers.teams.cards import (
    ACTION,
    Card,
    card,
    decision_actions,
    prompt_card,
    submit,
    text,
    title,
)
from handlers.teams.markdown import escape

OVERDUE = "overdue"


def _with_prompt(body: list[Card], step: Card | None) -> Card:
    """`body` above a step's card (its question, inputs and answer buttons)."""
    if step is None:
        return card(body)
    return card([*body, *step["body"]], step.get("actions"))


def reminder_card(notice: ReminderNotice) -> Card:
    """For the hiring manager's personal chat: the step it waits on, answerable right here."""
    body = [
        title(escape(chase_text.reminder_title(notice)), "warning"),
        *[text(escape(line)) for line in chase_text.reminder_lines(notice)],
    ]
    return _with_prompt(body, prompt_card(notice.prompt) if notice.prompt else None)


def overdue_card(notice: OverdueNotice, hiring_manager: str | None) -> Card:
    """For the security channel; Acknowledge until a security user did."""
    manager = escape(hiring_manager or f"{notice.requested_by} ({notice.requested_platform})")
    acknowledged = escape(notice.acknowledged_by) if notice.acknowledged_by else None
    lines = chase_text.overdue_lines(notice, manager, acknowledged, escape)
    body = [title(escape(chase_text.overdue_title(notice)), "attention")]
    body += [text(line) for line in lines]
    ack = submit("Acknowledge", {ACTION: OVERDUE, "verification": notice.verification_id})
    return card(body, None if notice.acknowledged_by else [ack])


def resurface_card(notice: ResurfaceNotice) -> Card:
    """In the escalation's thread: still undecided, with the decisions still open."""
    escalation = notice.escalation
    inputs, buttons = decision_actions(escalation.id, escalation.status)
    lines = [text(escape(line)) for line in chase_text.resurface_lines(notice)]
    return card([*lines, *inputs], buttons)


def handover_card(notice: HandoverNotice) -> Card:
    body = [
        title(escape(chase_text.handover_title(notice))),
        *[text(escape(line)) for line in chase_text.handover_lines(notice)],
    ]
    if notice.to_it_channel or notice.prompt is None:
        return card(body)
    return _with_prompt(body, prompt_card(notice.prompt))


def step_card(notice: StepNotice) -> Card:
    """A verification started in a channel, in its owner's personal chat: its current step."""
    heading = f"{notice.candidate_name} ({notice.verification_id}): {notice.playbook_title}"
    body = [title(escape(heading)), text("You started this verification in a channel.")]
    return _with_prompt(body, prompt_card(notice.prompt) if notice.prompt else None)
