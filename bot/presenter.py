"""Words every front end shows: outcomes, findings, escalations, decisions, usage.

Front ends turn these platform-neutral lines and facts into Block Kit, Adaptive Cards or
terminal text; the wording lives here once.
"""

from __future__ import annotations

from bot.models import (
    Decision,
    EscalationStatus,
    Finding,
    Outcome,
    Prompt,
    Result,
    VerificationView,
)
from bot.notices import DECISION_WORDS, DecisionNotice, FindingNotice

OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.IN_PROGRESS: "In progress",
    Outcome.NEEDS_REVIEW: "Needs review",
    Outcome.CLEARED: "Cleared",
    Outcome.BLOCKED: "Blocked: do not make the offer",
    Outcome.CANCELLED: "Cancelled",
}
RESULT_MARKS: dict[Result, str] = {
    Result.PASS: "PASS",
    Result.REVIEW: "REVIEW",
    Result.BLOCK: "BLOCK",
}
DECISION_LABELS: dict[Decision, str] = {
    Decision.ACKNOWLEDGE: "Acknowledge",
    Decision.CLEAR: "Clear (false alarm)",
    Decision.CONFIRM: "Confirm fraud",
}
ESCALATION_LABELS: dict[EscalationStatus, str] = {
    EscalationStatus.OPEN: "Open",
    EscalationStatus.ACKNOWLEDGED: "Acknowledged",
    EscalationStatus.CLEARED: "Cleared (false alarm)",
    EscalationStatus.CONFIRMED: "Fraud confirmed",
}

USAGE_LINES: tuple[tuple[str, str], ...] = (
    ("start [name]", "start a pre-offer verification for a candidate"),
    ("status NAME|ID", "progress, findings and outcome of a verification"),
    ("list", "your open verifications"),
    ("cancel ID", "cancel one of your verifications"),
    ("help", "this text"),
)


def usage(prefix: str = "") -> str:
    """The usage text; `prefix` is `/verify ` in Slack and empty in Teams."""
    lines = [f"`{prefix}{command}`: {meaning}" for command, meaning in USAGE_LINES]
    return "verifybot checks a candidate before the offer goes out.\n" + "\n".join(lines)


def outcome_label(outcome: Outcome) -> str:
    return OUTCOME_LABELS[outcome]


def finding_line(finding: Finding) -> str:
    """`[BLOCK] Camera-on interview: Camera refused (reason)`."""
    line = f"[{RESULT_MARKS[finding.result]}] {finding.step_title}: {finding.answer_label}"
    detail = finding.note if finding.reason.startswith(finding.answer_label) else finding.reason
    return line + (f" ({detail})" if detail else "")


def recorded_line(finding: Finding) -> str:
    """Confirmation of an answer, with who gave it and when."""
    when = finding.answered_at.strftime("%Y-%m-%d %H:%M UTC")
    answer = f"{finding.answer_label} ({finding.result.value})"
    return f"Recorded {answer} by {finding.answered_by} at {when}"


def prompt_header(prompt: Prompt) -> str:
    return f"{prompt.candidate_name}: {prompt.step_title} ({prompt.progress})"


def verification_title(view: VerificationView) -> str:
    return f"{view.candidate.name} ({view.id})"


def summary_lines(view: VerificationView) -> list[str]:
    """The end-of-playbook or status summary, one line each."""
    lines = [
        f"Verification {view.id} of {view.candidate.name} ({view.playbook_title})",
        f"Outcome: {outcome_label(view.outcome)}",
        f"Progress: {view.progress}",
    ]
    if view.escalation_status is not None:
        lines.append(f"Escalation: {ESCALATION_LABELS[view.escalation_status]}")
    lines.extend(finding_line(finding) for finding in view.findings)
    return lines


def finding_facts(
    notice: FindingNotice, hiring_manager: str | None = None
) -> list[tuple[str, str]]:
    """(label, value) pairs of an escalation, for the security channel.

    `hiring_manager` is how the platform shows that person (a Slack mention); given, it is a fact.
    """
    candidate = notice.candidate_name + (
        f", {notice.candidate_role}" if notice.candidate_role else ""
    )
    facts = [("Candidate", f"{candidate} <{notice.candidate_email}>")]
    if hiring_manager:
        facts.append(("Hiring manager", hiring_manager))
    facts += [
        ("Verification", notice.verification_id),
        ("Step", notice.step_title),
        ("Answer", f"{notice.answer_label} ({notice.result.value})"),
    ]
    if notice.note:
        facts.append(("Note", notice.note))
    facts += [
        ("Reason", notice.reason),
        ("Source", notice.source),
        ("Outcome so far", outcome_label(notice.outcome)),
    ]
    return facts


def finding_title(notice: FindingNotice) -> str:
    mark = RESULT_MARKS[notice.result]
    return f"[{mark}] verifybot escalation: {notice.candidate_name}, {notice.step_title}"


def decision_text(notice: DecisionNotice) -> str:
    """The message the hiring manager gets when security decides."""
    text = (
        f"Security {DECISION_WORDS[notice.status]} the escalation for {notice.candidate_name} "
        f"({notice.verification_id})."
    )
    if notice.reason:
        text += f" Reason: {notice.reason}"
    return text


def decision_line(status: EscalationStatus, decided_by: str, reason: str | None) -> str:
    line = f"{ESCALATION_LABELS[status]} by {decided_by}"
    return line + (f": {reason}" if reason else "")


NO_OPEN_VERIFICATIONS = "You have no open verifications."


def list_line(view: VerificationView) -> str:
    """One line of `list`: `Jane Doe (VB-1A2B3C4D): 2 of 6 steps answered`."""
    return f"{verification_title(view)}: {view.progress}"
