"""People's text made inert in Teams: message text and Adaptive Card TextBlocks and facts.

Teams reads both as Markdown: `**bold**`, `_italic_`, lists and `[text](url)` links, and in
message text `<at>` mentions and some HTML. A candidate's name, a note or a reason is
shown as typed: every character that could start such syntax is backslash-escaped (a
CommonMark escape, shown as the character itself), and so is a list marker at a line's start.
The wording verifybot writes itself (backticks around commands) is not passed through here.
"""

from __future__ import annotations

import re

from bot.models import EscalationView, Finding, Prompt, VerificationView
from bot.notices import DecisionNotice, FindingNotice

_SYNTAX = re.compile(r"([\\`*_\[\]()<>#~])")
_LIST_MARKER = re.compile(r"^(\s*)(?:([-+])|(\d{1,9})([.)]))", re.MULTILINE)


def escape(text: str) -> str:
    """`text` shown literally by Teams' Markdown, whatever it contains."""
    escaped = _SYNTAX.sub(r"\\\1", text)
    return _LIST_MARKER.sub(_escape_marker, escaped)


def _escape_marker(match: re.Match[str]) -> str:
    indent, bullet, number, delimiter = match.groups()
    if bullet:
        return f"{indent}\\{bullet}"
    return f"{indent}{number}\\{delimiter}"


def escape_optional(text: str | None) -> str | None:
    return escape(text) if text else text


def safe_finding(finding: Finding) -> Finding:
    """A finding whose free text (playbook wording, notes, reasons, who) is escaped."""
    return finding.model_copy(
        update={
            "step_title": escape(finding.step_title),
            "answer_label": escape(finding.answer_label),
            "reason": escape(finding.reason),
            "source": escape(finding.source),
            "note": escape_optional(finding.note),
            "answered_by": escape(finding.answered_by),
        }
    )


def safe_view(view: VerificationView) -> VerificationView:
    candidate = view.candidate.model_copy(
        update={
            "name": escape(view.candidate.name),
            "email": escape(view.candidate.email),
            "role": escape_optional(view.candidate.role),
        }
    )
    return view.model_copy(
        update={
            "candidate": candidate,
            "playbook_title": escape(view.playbook_title),
            "requested_by": escape(view.requested_by),
            "findings": [safe_finding(finding) for finding in view.findings],
        }
    )


def safe_prompt(prompt: Prompt) -> Prompt:
    """A prompt whose shown text is escaped; the options (button titles, values) are not."""
    return prompt.model_copy(
        update={
            "candidate_name": escape(prompt.candidate_name),
            "playbook_title": escape(prompt.playbook_title),
            "step_title": escape(prompt.step_title),
            "question": escape(prompt.question),
            "help": escape(prompt.help),
            "source": escape(prompt.source),
        }
    )


def safe_escalation(view: EscalationView) -> EscalationView:
    return view.model_copy(
        update={
            "candidate_name": escape(view.candidate_name),
            "requested_by": escape(view.requested_by),
            "decided_by": escape_optional(view.decided_by),
            "decision_reason": escape_optional(view.decision_reason),
            "findings": [safe_finding(finding) for finding in view.findings],
        }
    )


def safe_finding_notice(notice: FindingNotice) -> FindingNotice:
    """The notice with its free text escaped.

    The email is left as validated: the shared wording shows it as `<address>`, an autolink
    in which a backslash would show; a valid address holds no `[`, `]`, `(`, `)` or `<`.
    """
    return notice.model_copy(
        update={
            "candidate_name": escape(notice.candidate_name),
            "candidate_role": escape_optional(notice.candidate_role),
            "hiring_manager": escape(notice.hiring_manager),
            "step_title": escape(notice.step_title),
            "answer_label": escape(notice.answer_label),
            "note": escape_optional(notice.note),
            "reason": escape(notice.reason),
            "source": escape(notice.source),
        }
    )


def safe_decision_notice(notice: DecisionNotice) -> DecisionNotice:
    return notice.model_copy(
        update={
            "candidate_name": escape(notice.candidate_name),
            "decided_by": escape(notice.decided_by),
            "reason": escape_optional(notice.reason),
        }
    )
