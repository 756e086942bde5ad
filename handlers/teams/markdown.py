"""People's text made inert in Teams: message text and Adaptive Card TextBlocks and facts.

Teams reads both as Markdown: `**bold**`, `_italic_`, lists and `[text](url)` links, and in
message text `<at>` mentions and some HTML. A candidate's name, a note or a reason is
shown as typed: every character that could start such syntax is backslash-escaped (a
CommonMark escape, shown as the character itself), and so is a list marker at a line's start.
The wording verifybot writes itself (backticks around commands) is not passed through here.
"""

from __future__ import annotations

import re

from bot import escaping
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


def safe_finding(finding: Finding) -> Finding:
    """A finding whose free text (playbook wording, notes, reasons, who) is escaped."""
    return escaping.finding(finding, escape)


def safe_view(view: VerificationView) -> VerificationView:
    return escaping.verification(view, escape)


def safe_prompt(prompt: Prompt) -> Prompt:
    """A prompt whose shown text is escaped; the options (button titles, values) are not."""
    return escaping.prompt(prompt, escape)


def safe_escalation(view: EscalationView) -> EscalationView:
    return escaping.escalation(view, escape)


def safe_finding_notice(notice: FindingNotice) -> FindingNotice:
    """The notice with its free text escaped.

    The email is left as validated: the shared wording shows it as `<address>`, an autolink
    in which a backslash would show; a valid address holds no `[`, `]`, `(`, `)` or `<`.
    """
    return escaping.finding_notice(notice, escape)


def safe_decision_notice(notice: DecisionNotice) -> DecisionNotice:
    return escaping.decision_notice(notice, escape)
