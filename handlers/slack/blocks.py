"""Block Kit messages built from the core's prompts, findings and views: pure functions, dicts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from bot import escaping, presenter
from bot.models import (
    AVAILABLE_DECISIONS,
    Decision,
    EscalationStatus,
    EscalationView,
    Finding,
    Platform,
    Prompt,
    VerificationView,
)
from bot.notices import FindingNotice, TextNotice
from bot.records import SYSTEM_ACTOR
from handlers.slack.payloads import AnswerRef, StepRef

Block = dict[str, Any]
Message = dict[str, Any]

ANSWER_ACTION = "vb_answer"
CHANGE_ACTION = "vb_change"
RESUME_ACTION = "vb_resume"
DECIDE_ACTION = "vb_decide"
SHIP_ACTION = "vb_ship"
TAKE_ACTION = "vb_take"
ACTION_SEPARATOR = ":"

DECISION_STYLES: dict[Decision, str] = {Decision.CONFIRM: "danger"}
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
TEXT_LIMIT = 3000
HEADER_LIMIT = 150
BUTTON_LIMIT = 75


def escape(text: str) -> str:
    """Text safe in mrkdwn: no mentions, links or broadcasts can be smuggled in."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str) -> str:
    """`<@U…>` for a Slack user id; other actors (verifybot itself, Teams users) as text."""
    return f"<@{user_id}>" if USER_ID.match(user_id) else escape(user_id)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def action_id(base: str, suffix: str | int) -> str:
    return f"{base}{ACTION_SEPARATOR}{suffix}"


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object Slack takes as written (`verbatim`).

    Without `verbatim`, Slack turns bare URLs into links and #channel names and some @words
    into mentions: in a candidate's name or a note. Escaped text then stays text; the
    `<@U…>` mentions verifybot writes itself still work.
    """
    return {"type": "mrkdwn", "text": truncate(text, TEXT_LIMIT), "verbatim": True}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text)}


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text)]}


def header(text: str) -> Block:
    plain = {"type": "plain_text", "text": truncate(text, HEADER_LIMIT), "emoji": False}
    return {"type": "header", "text": plain}


def button(
    text: str, action: str, value: str, style: str | None = None, confirm: dict | None = None
) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(text, BUTTON_LIMIT), "emoji": False},
        "action_id": action,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def actions(block_id: str, elements: Sequence[Block]) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def message(text: str, blocks: Sequence[Block]) -> Message:
    """chat.postMessage / chat.update arguments; `text` is the notification fallback."""
    return {"text": truncate(escape(text), TEXT_LIMIT), "blocks": list(blocks)}


def safe_finding(finding: Finding) -> Finding:
    """A finding whose free text is escaped and whose author is a mention."""
    return escaping.finding(finding, escape, who=mention)


def safe_view(view: VerificationView) -> VerificationView:
    return escaping.verification(view, escape, who=mention)


def finding_blocks(findings: Iterable[Finding]) -> list[Block]:
    """Findings as lines: the checks verifybot computed itself, later findings of an escalation."""
    return [section(presenter.finding_line(safe_finding(finding))) for finding in findings]


def computed_message(findings: Sequence[Finding]) -> Message:
    """What verifybot checked itself (the address match): the result and why."""
    lines = [presenter.finding_line(finding) for finding in findings]
    return message("\n".join(lines), finding_blocks(findings))


def prompt_message(prompt: Prompt, change: bool = False) -> Message:
    """A step: question, help, progress and one button per option."""
    buttons = [
        button(
            option.label,
            action_id(ANSWER_ACTION, index),
            AnswerRef(prompt.verification_id, prompt.step_id, option.value, change).encode(),
        )
        for index, option in enumerate(prompt.options)
    ]
    title = presenter.prompt_header(prompt)
    blocks = [
        header(title),
        section(f"*{escape(prompt.question)}*"),
        context(escape(prompt.help)),
        context(escape(prompt.source)),
        actions("vb_options", buttons),
    ]
    return message(title, blocks)


def answered_message(view: VerificationView, finding: Finding) -> Message:
    """A step's message once answered: the answer, who gave it and when; and a way to change it."""
    title = f"{view.candidate.name}: {finding.step_title}"
    shown = safe_finding(finding)
    blocks = [header(title), section(presenter.recorded_line(shown))]
    if shown.note:
        blocks.append(context(shown.note))
    if finding.answered_by != SYSTEM_ACTOR and not view.cancelled and not view.final:
        change = StepRef(view.id, finding.step).encode()
        blocks.append(actions("vb_answered", [button("Change answer", CHANGE_ACTION, change)]))
    return message(title, blocks)


def summary_message(view: VerificationView, can_continue: bool = False) -> Message:
    """Progress, findings and outcome; a Continue button while steps are left."""
    lines = presenter.summary_lines(safe_view(view))
    blocks = [header(presenter.verification_title(view)), section("\n".join(lines))]
    if can_continue and view.steps_left:
        blocks.append(actions("vb_summary", [button("Continue", RESUME_ACTION, view.id)]))
    if view.awaiting_shipping_address and not view.cancelled and not view.final:
        ship = button("Give the laptop shipping address", SHIP_ACTION, view.id)
        blocks.append(actions("vb_ship", [ship]))
    return message(presenter.summary_lines(view)[0], blocks)


def list_text(views: Sequence[VerificationView]) -> str:
    """The caller's open verifications, one line each."""
    return presenter.list_text(views, safe_view)


def decision_buttons(escalation_id: int, status: EscalationStatus, candidate: str) -> list[Block]:
    """The decisions still open for an escalation in `status`."""
    elements = []
    for decision in AVAILABLE_DECISIONS[status]:
        confirm = confirm_fraud(candidate) if decision is Decision.CONFIRM else None
        action = action_id(DECIDE_ACTION, decision.value)
        label = presenter.DECISION_LABELS[decision]
        style = DECISION_STYLES.get(decision)
        elements.append(button(label, action, str(escalation_id), style, confirm))
    return [actions("vb_decision", elements)] if elements else []


def confirm_fraud(candidate: str) -> Block:
    text = (
        f"{candidate}: the verification is blocked and the hiring manager is told "
        "not to make the offer."
    )
    return {
        "title": {"type": "plain_text", "text": "Confirm fraud?"},
        "text": {"type": "plain_text", "text": truncate(text, 300)},
        "confirm": {"type": "plain_text", "text": "Confirm fraud"},
        "deny": {"type": "plain_text", "text": "Cancel"},
        "style": "danger",
    }


def decision_text(escalation: EscalationView) -> str:
    """presenter.decision_line with the decider as a mention."""
    reason = escape(escalation.decision_reason) if escalation.decision_reason else None
    who = mention(escalation.decided_by or SYSTEM_ACTOR)
    return presenter.decision_line(escalation.status, who, reason)


def hiring_manager_of(escalation: EscalationView) -> str:
    """A Slack hiring manager as a mention; anyone else as text naming their platform."""
    if escalation.requested_platform is Platform.SLACK:
        return mention(escalation.requested_by)
    return escape(f"{escalation.requested_by} ({escalation.requested_platform.value})")


def safe_escalation(escalation: EscalationView) -> EscalationView:
    return escaping.escalation(escalation, escape, who=mention)


def line_sections(lines: Sequence[str]) -> list[Block]:
    """Lines packed into as few sections as Slack's 3000-character limit allows."""
    blocks: list[Block] = []
    chunk = ""
    for line in lines:
        line = truncate(line, TEXT_LIMIT)
        if chunk and len(chunk) + len(line) + 1 > TEXT_LIMIT:
            blocks.append(section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        blocks.append(section(chunk))
    return blocks


def escalation_message(escalation: EscalationView) -> Message:
    """The security channel's message of an escalation: every finding ever raised, what replaced
    it, where the escalation stands, and the decisions still open."""
    title = presenter.escalation_title(escalation)
    shown = safe_escalation(escalation)
    manager = hiring_manager_of(escalation)
    facts = presenter.escalation_facts(shown, hiring_manager=manager)
    blocks = [
        header(title),
        section("\n".join(f"*{escape(label)}:* {value}" for label, value in facts)),
        *line_sections(presenter.findings_lines(shown)),
        *decision_buttons(escalation.id, escalation.status, escalation.candidate_name),
    ]
    return message(title, blocks)


def thread_message(notice: FindingNotice) -> Message:
    """News of an escalation in its thread; with the decisions when it needs one."""
    title = presenter.update_title(notice)
    shown = escaping.finding_notice(notice, escape, who=mention)
    blocks = line_sections(presenter.notice_lines(shown))
    if notice.needs_decision:
        escalation = notice.escalation
        blocks += decision_buttons(escalation.id, escalation.status, escalation.candidate_name)
    return message(title, blocks)


def text_message(notice: TextNotice) -> Message:
    """A message for the security channel outside any escalation: the audit head, a digest."""
    blocks = [header(notice.title), *line_sections([escape(line) for line in notice.lines])]
    return message(notice.title, blocks)
