"""Which fields of the core's values are free text, made inert by a platform's escape function.

Slack escapes mrkdwn, Teams escapes Markdown; both pass their function here, so the list of
fields a person (or a playbook author) wrote lives once. `who` renders a user id (Slack turns
it into a mention); by default it is escaped like any other text.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.models import EscalationView, Finding, Prompt, VerificationView
from bot.notices import DecisionNotice, FindingNotice

Escape = Callable[[str], str]


def _optional(escape: Escape, text: str | None) -> str | None:
    return escape(text) if text else text


def finding(item: Finding, escape: Escape, who: Escape | None = None) -> Finding:
    return item.model_copy(
        update={
            "step_title": escape(item.step_title),
            "answer_label": escape(item.answer_label),
            "reason": escape(item.reason),
            "source": escape(item.source),
            "note": _optional(escape, item.note),
            "answered_by": (who or escape)(item.answered_by),
        }
    )


def verification(
    view: VerificationView, escape: Escape, who: Escape | None = None
) -> VerificationView:
    candidate = view.candidate.model_copy(
        update={
            "name": escape(view.candidate.name),
            "email": escape(view.candidate.email),
            "role": _optional(escape, view.candidate.role),
        }
    )
    return view.model_copy(
        update={
            "candidate": candidate,
            "playbook_title": escape(view.playbook_title),
            "requested_by": (who or escape)(view.requested_by),
            "findings": [finding(item, escape, who) for item in view.findings],
        }
    )


def prompt(item: Prompt, escape: Escape) -> Prompt:
    """The shown text of a prompt; its options (button titles and values) stay as they are."""
    return item.model_copy(
        update={
            "candidate_name": escape(item.candidate_name),
            "playbook_title": escape(item.playbook_title),
            "step_title": escape(item.step_title),
            "question": escape(item.question),
            "help": escape(item.help),
            "source": escape(item.source),
        }
    )


def escalation(view: EscalationView, escape: Escape, who: Escape | None = None) -> EscalationView:
    render = who or escape
    return view.model_copy(
        update={
            "candidate_name": escape(view.candidate_name),
            "requested_by": render(view.requested_by),
            "decided_by": _optional(render, view.decided_by),
            "decision_reason": _optional(escape, view.decision_reason),
            "findings": [finding(item, escape, who) for item in view.findings],
        }
    )


def finding_notice(
    notice: FindingNotice, escape: Escape, who: Escape | None = None
) -> FindingNotice:
    """The notice's free text escaped; the validated email is left for the platform to show."""
    return notice.model_copy(
        update={
            "candidate_name": escape(notice.candidate_name),
            "candidate_role": _optional(escape, notice.candidate_role),
            "hiring_manager": (who or escape)(notice.hiring_manager),
            "step_title": escape(notice.step_title),
            "answer_label": escape(notice.answer_label),
            "note": _optional(escape, notice.note),
            "reason": escape(notice.reason),
            "source": escape(notice.source),
        }
    )


def decision_notice(
    notice: DecisionNotice, escape: Escape, who: Escape | None = None
) -> DecisionNotice:
    return notice.model_copy(
        update={
            "candidate_name": escape(notice.candidate_name),
            "decided_by": (who or escape)(notice.decided_by),
            "reason": _optional(escape, notice.reason),
        }
    )
