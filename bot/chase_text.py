"""The wording of reminders, overdue posts, re-surfaced escalations and hand-overs: every front end
renders these lines, escaping what it must."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.durations import format_duration
from bot.notices import HandoverNotice, OverdueNotice, ReminderNotice, ResurfaceNotice

OVERDUE_WARNING = "the offer may go out unverified"


def ago(since: datetime, now: datetime) -> str:
    return format_duration(now - since)


def reminder_title(notice: ReminderNotice) -> str:
    return f"Reminder: the verification of {notice.candidate_name} ({notice.verification_id})"


def reminder_lines(notice: ReminderNotice) -> list[str]:
    lines = [f"Nothing was answered for {ago(notice.idle_since, notice.now)}."]
    if notice.prompt is not None:
        prompt = notice.prompt
        lines.append(f"It waits on step {prompt.index} of {prompt.total}: {prompt.step_title}.")
    for what in notice.waiting_for:
        lines.append(f"It waits for {what}.")
    lines.append(f"{notice.answered} of {notice.total} steps answered.")
    if notice.seq >= 3:
        lines.append("This is the last reminder.")
    return lines


def overdue_title(notice: OverdueNotice) -> str:
    return f"[OVERDUE] verifybot: {notice.candidate_name} ({notice.verification_id})"


def overdue_lines(
    notice: OverdueNotice,
    hiring_manager: str,
    acknowledged_by: str | None = None,
    escape: Callable[[str], str] = str,
) -> list[str]:
    """`hiring_manager` and `acknowledged_by` as the platform shows a person (not escaped)."""
    missing = ", ".join(notice.missing) if notice.missing else "nothing to answer"
    lines = [
        escape(
            f"Started {ago(notice.started_at, notice.now)} ago and still unfinished: "
            f"{OVERDUE_WARNING}."
        ),
        escape(f"Playbook: {notice.playbook_title}"),
        f"Hiring manager: {hiring_manager}",
        escape(f"Missing: {missing}"),
    ]
    if acknowledged_by:
        lines.append(f"Acknowledged by {acknowledged_by}")
    return lines


def resurface_lines(notice: ResurfaceNotice) -> list[str]:
    count = notice.undecided
    findings = "finding waits" if count == 1 else "findings wait"
    lines = [
        f"Still undecided: {count} {findings} for a security decision "
        f"for {ago(notice.waiting_since, notice.now)} ({notice.escalation.verification_id}).",
    ]
    if notice.seq >= 3:
        lines.append("This is the last time verifybot raises it.")
    return lines


def handover_title(notice: HandoverNotice) -> str:
    return f"Device hand-over: {notice.candidate_name} ({notice.verification_id})"


def handover_lines(notice: HandoverNotice) -> list[str]:
    lines = [
        f"The pre-offer verification {notice.pre_offer_id} was cleared; the device hand-over "
        "checks the laptop when it arrives."
    ]
    if notice.to_it_channel:
        lines.append("Whoever takes it answers the hand-over.")
    return lines
