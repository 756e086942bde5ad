"""Block Kit for reminders, overdue posts, re-surfaced escalations and device hand-overs."""

from __future__ import annotations

from bot import chase_text
from bot.models import Platform
from bot.notices import HandoverNotice, OverdueNotice, ReminderNotice, ResurfaceNotice
from handlers.slack.blocks import (
    RESUME_ACTION,
    TAKE_ACTION,
    Message,
    actions,
    button,
    context,
    decision_buttons,
    escape,
    header,
    line_sections,
    mention,
    message,
    prompt_message,
)

OVERDUE_ACTION = "vb_overdue_ack"


def reminder_message(notice: ReminderNotice) -> Message:
    """A DM to the hiring manager: what it waits on, and Continue."""
    title = chase_text.reminder_title(notice)
    blocks = [
        header(title),
        *line_sections([escape(line) for line in chase_text.reminder_lines(notice)]),
        actions("vb_reminder", [button("Continue", RESUME_ACTION, notice.verification_id)]),
    ]
    return message(title, blocks)


def overdue_message(notice: OverdueNotice) -> Message:
    """For the security channel: who started it, what is missing; Acknowledge until someone did."""
    title = chase_text.overdue_title(notice)
    manager = (
        mention(notice.requested_by)
        if notice.requested_platform is Platform.SLACK
        else escape(f"{notice.requested_by} ({notice.requested_platform.value})")
    )
    acknowledged = mention(notice.acknowledged_by) if notice.acknowledged_by else None
    lines = chase_text.overdue_lines(notice, manager, acknowledged, escape)
    blocks = [header(title), *line_sections(lines)]
    if not notice.acknowledged_by:
        ack = button("Acknowledge", OVERDUE_ACTION, notice.verification_id)
        blocks.append(actions("vb_overdue", [ack]))
    return message(title, blocks)


def resurface_message(notice: ResurfaceNotice) -> Message:
    """In the escalation's thread: still undecided, with the decisions still open."""
    lines = [escape(line) for line in chase_text.resurface_lines(notice)]
    escalation = notice.escalation
    blocks = [
        *line_sections(lines),
        *decision_buttons(escalation.id, escalation.status, escalation.candidate_name),
    ]
    return message(lines[0], blocks)


def handover_message(notice: HandoverNotice) -> Message:
    """The hand-over's first step to the hiring manager, or a Take it for the IT channel."""
    title = chase_text.handover_title(notice)
    intro = [header(title), context(escape(" ".join(chase_text.handover_lines(notice))))]
    if notice.to_it_channel:
        take = button("Take it", TAKE_ACTION, notice.verification_id)
        return message(title, [*intro, actions("vb_take", [take])])
    if notice.prompt is None:
        return message(title, intro)
    step = prompt_message(notice.prompt)
    return message(title, [*intro, *step["blocks"]])
