"""Words every front end shows: outcomes, findings, escalations, decisions, usage.

Front ends turn these platform-neutral lines and facts into Block Kit, Adaptive Cards or
terminal text; the wording lives here once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.models import (
    Decision,
    EscalationStatus,
    EscalationView,
    Finding,
    Outcome,
    Prompt,
    RaisedFinding,
    Result,
    VerificationView,
)
from bot.notices import DECISION_WORDS, DecisionNotice, FindingNotice, NoticeItem

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


AWAITING_SECURITY = (
    "Security decision pending: a red flag was raised, and only the security team can resolve "
    "it; until they decide, a changed answer does not lower the outcome."
)
FINAL = "Final: security confirmed fraud; no answer can be changed and it cannot be cancelled."
ERASED_LINE = "The candidate's personal data was erased; the record of the checks is kept."
MAX_RAISED_LINES = 60


def waiting_line(what: str) -> str:
    """`Waiting for the laptop shipping address`: a computed step that cannot run yet."""
    return f"Waiting for {what}."


def summary_lines(view: VerificationView) -> list[str]:
    """The end-of-playbook or status summary, one line each."""
    lines = [
        f"Verification {view.id} of {view.candidate.name} ({view.playbook_title})",
        f"Outcome: {outcome_label(view.outcome)}",
        f"Progress: {view.progress}",
    ]
    for what in view.waiting_for:
        lines.append(waiting_line(what))
    if view.escalation_status is not None:
        lines.append(f"Escalation: {ESCALATION_LABELS[view.escalation_status]}")
    if view.awaiting_security:
        lines.append(AWAITING_SECURITY)
    if view.final:
        lines.append(FINAL)
    if view.erased:
        lines.append(ERASED_LINE)
    if view.same_name:
        others = "; ".join(
            f"{other.id} (started {other.created_at:%Y-%m-%d}, {outcome_label(other.outcome)})"
            for other in view.same_name
        )
        lines.append(f"Also named {view.candidate.name}: {others}. This is the newest.")
    lines += link_lines(view)
    for finding in view.findings:
        lines.append(finding_line(finding))
        if finding.security_detail:
            lines.append(f"  Security only: {finding.security_detail}")
    return lines


def link_lines(view: VerificationView) -> list[str]:
    """The other verification of a pre-offer / device hand-over pair."""
    if view.pre_offer_id:
        return [f"Device hand-over after the pre-offer verification {view.pre_offer_id}"]
    if view.handover_id:
        return [f"Device hand-over: {view.handover_id}"]
    if view.handover_due_at:
        return [f"Device hand-over: scheduled for {view.handover_due_at:%Y-%m-%d %H:%M %Z}"]
    return []


def escalation_title(view: EscalationView) -> str:
    """`[BLOCK] verifybot escalation: Jane Doe`, marked by the worst finding still open."""
    return f"[{RESULT_MARKS[view.worst_result]}] verifybot escalation: {view.candidate_name}"


def escalation_state(view: EscalationView) -> str:
    """Where the escalation stands: open, reopened after a Clear, or decided by whom."""
    if view.status is EscalationStatus.OPEN:
        if view.reopened_at is not None and view.decided_by:
            earlier = decision_line(EscalationStatus.CLEARED, view.decided_by, view.decision_reason)
            return f"Reopened by a new finding after: {earlier}"
        return "Open: awaiting a security decision"
    return decision_line(view.status, view.decided_by or "", view.decision_reason)


def escalation_facts(
    view: EscalationView, hiring_manager: str | None = None
) -> list[tuple[str, str]]:
    """(label, value) pairs of an escalation, for the security channel.

    `hiring_manager` is how the platform shows that person (a Slack mention); given, it is a fact.
    """
    candidate = view.candidate_name + (f", {view.candidate_role}" if view.candidate_role else "")
    facts = [("Candidate", f"{candidate} ({view.candidate_email})")]
    if hiring_manager:
        facts.append(("Hiring manager", hiring_manager))
    facts += [
        ("Verification", view.verification_id),
        ("Outcome so far", outcome_label(view.outcome)),
        ("Status", escalation_state(view)),
    ]
    return facts


def _when(finding: Finding) -> str:
    return finding.answered_at.strftime("%Y-%m-%d %H:%M UTC")


def _answer(finding: Finding) -> str:
    return f"{finding.answer_label} ({finding.result.value})"


def change_line(later: Finding) -> str:
    """What replaced a finding: by whom, when, to which answer, with the note."""
    line = f"changed by {later.answered_by} at {_when(later)} to {_answer(later)}"
    return line + (f": {later.note}" if later.note else "")


def raised_lines(finding: RaisedFinding) -> list[str]:
    """A finding ever raised, what replaced it, what only security sees, and if it is resolved."""
    line = finding_line(finding) + f", by {finding.answered_by} at {_when(finding)}"
    if finding.resolved:
        line += " (resolved by a Clear)"
    lines = [line]
    if finding.security_detail:
        lines.append(f"    {finding.security_detail}")
    if finding.superseded_by is not None:
        lines.append(f"    Superseded: {change_line(finding.superseded_by)}")
    return lines


def findings_lines(view: EscalationView) -> list[str]:
    """Every finding raised, newest last; past MAX_RAISED_LINES the oldest are counted."""
    lines = [line for finding in view.findings for line in raised_lines(finding)]
    if len(lines) <= MAX_RAISED_LINES:
        return lines
    left = lines[-MAX_RAISED_LINES:]
    return [f"({len(lines) - len(left)} earlier lines: `status {view.verification_id}`)", *left]


def item_lines(item: NoticeItem) -> list[str]:
    """What a thread post says of one piece of news."""
    finding = item.finding
    if item.previous is not None:
        line = (
            f"{finding.answered_by} changed {finding.step_title} from {_answer(item.previous)} "
            f"to {_answer(finding)}" + (f": {finding.note}" if finding.note else "")
        )
        return [line, "The outcome keeps the earlier result until security decides."]
    prefix = "Reopened by a new finding: " if item.reopened else "New finding: "
    lines = [prefix + finding_line(finding) + f", by {finding.answered_by}"]
    if finding.security_detail:
        lines.append(f"    {finding.security_detail}")
    return lines


def notice_lines(notice: FindingNotice) -> list[str]:
    lines = [line for item in notice.items for line in item_lines(item)]
    if notice.left_out:
        lines.insert(0, f"({notice.left_out} earlier changes are not repeated here.)")
    return lines


def update_title(notice: FindingNotice) -> str:
    return f"Update: {notice.escalation.candidate_name} ({notice.verification_id})"


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


def list_text(
    views: Sequence[VerificationView], shown: Callable[[VerificationView], VerificationView]
) -> str:
    """The caller's open verifications, one line each; `shown` makes a view's text safe."""
    if not views:
        return NO_OPEN_VERIFICATIONS
    return "\n".join(list_line(shown(view)) for view in views)


def list_line(view: VerificationView) -> str:
    """One line of `list`: `Jane Doe (VB-1A2B3C4D): 2 of 6 steps answered`."""
    pending = ", security decision pending" if view.awaiting_security else ""
    waiting = "".join(f", waiting for {what}" for what in view.waiting_for)
    return f"{verification_title(view)}: {view.progress}{waiting}{pending}"
