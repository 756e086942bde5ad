"""Adaptive Cards as plain dicts, built from the core's platform-neutral values.

TextBlocks and facts are Markdown in Teams: every text that is not verifybot's own wording
goes through handlers.teams.markdown first. Inputs' values and buttons' titles are plain.
"""

from __future__ import annotations

from typing import Any

from bot import presenter
from bot.candidate_form import CANDIDATE_FIELDS
from bot.models import (
    AVAILABLE_DECISIONS,
    EscalationStatus,
    EscalationView,
    Finding,
    Outcome,
    Prompt,
    Result,
    VerificationView,
)
from bot.notices import FindingNotice, TextNotice
from bot.records import SYSTEM_ACTOR
from bot.service import MAX_REASON_LENGTH
from bot.validation import MAX_NOTE_LENGTH
from handlers.teams.markdown import (
    escape,
    safe_escalation,
    safe_finding,
    safe_finding_notice,
    safe_prompt,
    safe_view,
)

Card = dict[str, Any]

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.4"
ACTION = "verifybot"
ANSWER = "answer"
CHANGE = "change"
DECIDE = "decide"
CANDIDATE = "candidate"
SHIP = "ship"
SHIP_INPUT = "shipping_address"
MAX_ADDRESS = 500
NOTE_INPUT = "note"
REASON_INPUT = "reason"
MAX_NOTE = MAX_NOTE_LENGTH
MAX_REASON = MAX_REASON_LENGTH

RESULT_COLORS: dict[Result, str] = {
    Result.PASS: "good",
    Result.REVIEW: "warning",
    Result.BLOCK: "attention",
}
OUTCOME_COLORS: dict[Outcome, str] = {
    Outcome.CLEARED: "good",
    Outcome.NEEDS_REVIEW: "warning",
    Outcome.BLOCKED: "attention",
}


def card(body: list[Card], actions: list[Card] | None = None) -> Card:
    content: Card = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    if actions:
        content["actions"] = actions
    return content


def text(value: str, **style: Any) -> Card:
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


def title(value: str, color: str | None = None) -> Card:
    block = text(value, weight="Bolder", size="Medium")
    return {**block, "color": color} if color else block


def facts(pairs: list[tuple[str, str]]) -> Card:
    return {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in pairs]}


def submit(label: str, data: Card) -> Card:
    return {"type": "Action.Submit", "title": label, "data": data}


def prompt_card(prompt: Prompt, change: bool = False) -> Card:
    """One step: question, help, progress, source and one button per option (a `change` of an
    answered step records a new answer for it)."""
    shown = safe_prompt(prompt)
    heading = presenter.prompt_header(shown)
    body = [
        title(f"Change: {heading}" if change else heading),
        text(shown.question),
        text(shown.help, isSubtle=True, size="Small"),
        text(f"Source: {shown.source}", isSubtle=True, size="Small"),
        text("Click an answer, or type its number.", size="Small"),
    ]
    needs_note = [str(i) for i, o in enumerate(prompt.options, 1) if o.note_required]
    if needs_note:
        body.append(
            {
                "type": "Input.Text",
                "id": NOTE_INPUT,
                "label": f"Evidence note (needed for answer {', '.join(needs_note)})",
                "isMultiline": True,
                "maxLength": MAX_NOTE,
            }
        )
    actions = [
        submit(
            f"{index}. {option.label}",
            {
                ACTION: ANSWER,
                "verification": prompt.verification_id,
                "step": prompt.step_id,
                "option": option.value,
                **({"change": True} if change else {}),
            },
        )
        for index, option in enumerate(prompt.options, 1)
    ]
    return card(body, actions)


def answered_card(finding: Finding, view: VerificationView) -> Card:
    """A step's card once answered: what was recorded, without buttons."""
    finding, view = safe_finding(finding), safe_view(view)
    body = [
        text(presenter.verification_title(view), isSubtle=True),
        title(finding.step_title),
        text(presenter.recorded_line(finding), color=RESULT_COLORS[finding.result]),
    ]
    if finding.note:
        body.append(text(f"Note: {finding.note}", size="Small"))
    if view.final or view.cancelled or finding.answered_by == SYSTEM_ACTOR:
        return card(body)
    change = {ACTION: CHANGE, "verification": view.id, "step": finding.step}
    return card(body, [submit("Change answer", change)])


def summary_card(view: VerificationView) -> Card:
    """Progress, findings and outcome of a verification."""
    first, *rest = presenter.summary_lines(safe_view(view))
    body = [title(first, OUTCOME_COLORS.get(view.outcome))]
    body += [text(line) for line in rest]
    if not (view.awaiting_shipping_address and not view.cancelled and not view.final):
        return card(body)
    body.append(
        {
            "type": "Input.Text",
            "id": SHIP_INPUT,
            "label": "Laptop shipping address",
            "isMultiline": True,
            "maxLength": MAX_ADDRESS,
        }
    )
    return card(
        body, [submit("Give the shipping address", {ACTION: SHIP, "verification": view.id})]
    )


PLAYBOOK_INPUT = "playbook"


def candidate_form(
    values: dict[str, str | None],
    problems: dict[str, str],
    playbooks: list[tuple[str, str]] | None = None,
    chosen: str | None = None,
) -> Card:
    """Every candidate detail in one form; `problems` are shown under their fields. With more
    than one of `playbooks` (id, title), a choice of the playbook, `chosen` first."""
    body: list[Card] = [title("Candidate details")]
    if playbooks and len(playbooks) > 1:
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": PLAYBOOK_INPUT,
                "label": "Playbook",
                "style": "compact",
                "value": chosen or playbooks[0][0],
                "choices": [{"title": title, "value": id_} for id_, title in playbooks],
            }
        )
    for field in CANDIDATE_FIELDS:
        body.append(
            {
                "type": "Input.Text",
                "id": field.name,
                "label": field.label + ("" if field.optional else " (required)"),
                "value": values.get(field.name) or "",
                "maxLength": field.max_length,
            }
        )
        if field.name in problems:
            body.append(text(f"{field.label} {escape(problems[field.name])}", color="attention"))
    return card(body, [submit("Start verification", {ACTION: CANDIDATE})])


def decision_actions(escalation_id: int, status: EscalationStatus) -> tuple[list[Card], list[Card]]:
    """(inputs, buttons) for a decision; none once the escalation is cleared or confirmed."""
    if not AVAILABLE_DECISIONS[status]:
        return [], []
    reason = {
        "type": "Input.Text",
        "id": REASON_INPUT,
        "label": "Reason (required to clear)",
        "isMultiline": True,
        "maxLength": MAX_REASON,
    }
    buttons = [
        submit(
            presenter.DECISION_LABELS[d],
            {ACTION: DECIDE, "escalation": escalation_id, "decision": d.value},
        )
        for d in AVAILABLE_DECISIONS[status]
    ]
    return [reason], buttons


def escalation_card(view: EscalationView, hiring_manager: str | None = None) -> Card:
    """An escalation for the security channel: every finding ever raised, what replaced it,
    where it stands, and the decisions still open.

    `hiring_manager` is the name Teams gave that person, shown as a fact when known.
    """
    inputs, buttons = decision_actions(view.id, view.status)
    color = RESULT_COLORS[view.worst_result]
    shown = safe_escalation(view)
    manager = escape(hiring_manager) if hiring_manager else None
    body = [
        title(presenter.escalation_title(shown), color),
        facts(presenter.escalation_facts(shown, manager)),
        *[text(line) for line in presenter.findings_lines(shown)],
        *inputs,
    ]
    return card(body, buttons)


def thread_card(notice: FindingNotice) -> Card:
    """News of an escalation, for its thread; with the decisions when it needs one."""
    shown = safe_finding_notice(notice)
    inputs, buttons = (
        decision_actions(notice.escalation_id, notice.escalation.status)
        if notice.needs_decision
        else ([], [])
    )
    body = [
        title(presenter.update_title(shown)),
        *[text(line) for line in presenter.notice_lines(shown)],
        *inputs,
    ]
    return card(body, buttons)


def text_card(notice: TextNotice) -> Card:
    """A message for the security channel outside any escalation: the audit head, a digest."""
    return card([title(escape(notice.title)), *[text(escape(line)) for line in notice.lines]])
