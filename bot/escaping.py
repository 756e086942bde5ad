"""Which fields of the core's values are free text, made inert by a platform's escape function.

Slack escapes mrkdwn, Teams escapes Markdown; both pass their function here, so the list of
fields a person (or a playbook author) wrote lives once. `who` renders a user id (Slack turns
it into a mention); by default it is escaped like any other text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bot.models import EscalationView, Finding, Prompt, RaisedFinding, VerificationView
from bot.notices import DecisionNotice, FindingNotice, NoticeItem

Escape = Callable[[str], str]
AnyFinding = TypeVar("AnyFinding", bound=Finding)


def _optional(escape: Escape, text: str | None) -> str | None:
    return escape(text) if text else text


def finding(item: AnyFinding, escape: Escape, who: Escape | None = None) -> AnyFinding:
    return item.model_copy(
        update={
            "step_title": escape(item.step_title),
            "answer_label": escape(item.answer_label),
            "reason": escape(item.reason),
            "source": escape(item.source),
            "note": _optional(escape, item.note),
            "answered_by": (who or escape)(item.answered_by),
            "security_detail": _optional(escape, item.security_detail),
        }
    )


def _optional_finding(item: Finding | None, escape: Escape, who: Escape | None) -> Finding | None:
    return finding(item, escape, who) if item is not None else None


def raised(item: RaisedFinding, escape: Escape, who: Escape | None = None) -> RaisedFinding:
    shown = finding(item, escape, who)
    return shown.model_copy(
        update={"superseded_by": _optional_finding(item.superseded_by, escape, who)}
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
            "candidate_email": escape(view.candidate_email),
            "candidate_role": _optional(escape, view.candidate_role),
            "requested_by": render(view.requested_by),
            "decided_by": _optional(render, view.decided_by),
            "decision_reason": _optional(escape, view.decision_reason),
            "findings": [raised(item, escape, who) for item in view.findings],
        }
    )


def notice_item(item: NoticeItem, escape: Escape, who: Escape | None = None) -> NoticeItem:
    return item.model_copy(
        update={
            "finding": finding(item.finding, escape, who),
            "previous": _optional_finding(item.previous, escape, who),
        }
    )


def finding_notice(
    notice: FindingNotice, escape: Escape, who: Escape | None = None
) -> FindingNotice:
    return notice.model_copy(
        update={
            "escalation": escalation(notice.escalation, escape, who),
            "items": [notice_item(item, escape, who) for item in notice.items],
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
