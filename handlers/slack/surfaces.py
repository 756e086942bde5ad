"""Modals and the App Home tab: pure functions returning Block Kit view dicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import presenter
from bot.candidate_form import CANDIDATE_FIELDS
from bot.models import EscalationView, VerificationView
from bot.playbook import Playbook
from bot.service import MAX_REASON_LENGTH
from bot.validation import MAX_NOTE_LENGTH
from handlers.slack.blocks import (
    RESUME_ACTION,
    Block,
    button,
    context,
    escape,
    header,
    mention,
    section,
    truncate,
)

View = dict[str, Any]

START_CALLBACK = "vb_start"
NOTE_CALLBACK = "vb_note"
CLEAR_CALLBACK = "vb_clear"
INPUT_ACTION = "value"
PLAYBOOK_BLOCK = "playbook"
NOTE_BLOCK = "note"
REASON_BLOCK = "reason"
HOME_LIMIT = 20


@dataclass(frozen=True)
class TextField:
    block_id: str
    label: str
    max_length: int
    optional: bool = False
    multiline: bool = False


CANDIDATE_INPUTS: tuple[TextField, ...] = tuple(
    TextField(field.name, field.label, field.max_length, field.optional, field.multiline)
    for field in CANDIDATE_FIELDS
)


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": False}


def text_input(field: TextField, initial: str | None = None) -> Block:
    element: Block = {
        "type": "plain_text_input",
        "action_id": INPUT_ACTION,
        "max_length": field.max_length,
        "multiline": field.multiline,
    }
    if initial:
        element["initial_value"] = truncate(initial, field.max_length)
    return {
        "type": "input",
        "block_id": field.block_id,
        "label": plain(field.label, 2000),
        "optional": field.optional,
        "element": element,
    }


def playbook_input(playbooks: Sequence[Playbook], default_id: str) -> Block:
    options = [
        {"text": plain(playbook.title, 75), "value": playbook.id} for playbook in playbooks[:100]
    ]
    initial = next((o for o in options if o["value"] == default_id), options[0])
    return {
        "type": "input",
        "block_id": PLAYBOOK_BLOCK,
        "label": plain("Playbook"),
        "element": {
            "type": "static_select",
            "action_id": INPUT_ACTION,
            "options": options,
            "initial_option": initial,
        },
    }


def modal(
    callback_id: str, title: str, blocks: Sequence[Block], submit: str | None, **extra: Any
) -> View:
    view: View = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "close": plain("Cancel", 24),
        "blocks": list(blocks),
        **extra,
    }
    if submit:
        view["submit"] = plain(submit, 24)
    return view


def start_modal(name: str, playbooks: Sequence[Playbook], default_id: str) -> View:
    """The candidate's details, and the playbook when there is more than one."""
    blocks = [
        text_input(field, name if field.block_id == "name" else None) for field in CANDIDATE_INPUTS
    ]
    if len(playbooks) > 1:
        blocks.append(playbook_input(playbooks, default_id))
    return modal(START_CALLBACK, "Verify a candidate", blocks, "Start")


def note_modal(note_label: str, metadata: str) -> View:
    """Asks for the evidence an answer needs; its submit records the answer."""
    field = TextField(NOTE_BLOCK, note_label, MAX_NOTE_LENGTH, multiline=True)
    return modal(
        NOTE_CALLBACK, "Evidence", [text_input(field)], "Record", private_metadata=metadata
    )


def clear_modal(candidate: str, metadata: str) -> View:
    """Asks the security user why an escalation is a false alarm."""
    field = TextField(REASON_BLOCK, "Why is this a false alarm?", MAX_REASON_LENGTH, multiline=True)
    blocks = (
        [section(f"*{escape(candidate)}*"), text_input(field)] if candidate else [text_input(field)]
    )
    return modal(CLEAR_CALLBACK, "Clear as false alarm", blocks, "Clear", private_metadata=metadata)


def message_modal(title: str, text: str) -> View:
    return modal("vb_message", title, [section(escape(text))], None)


def home_view(
    open_views: Sequence[VerificationView],
    recent: Sequence[VerificationView],
    escalations: Sequence[EscalationView],
    security: bool,
) -> View:
    """The Home tab: open verifications with progress, recent outcomes; escalations for security."""
    blocks: list[Block] = [header("Your open verifications")]
    for view in open_views[:HOME_LIMIT]:
        line = f"*{escape(presenter.verification_title(view))}*\n{view.progress}"
        block = section(line)
        block["accessory"] = button("Continue", RESUME_ACTION, view.id)
        blocks.append(block)
    if not open_views:
        blocks.append(context(presenter.NO_OPEN_VERIFICATIONS))
    if recent:
        blocks.append(header("Recent outcomes"))
        blocks += [
            section(
                f"*{escape(presenter.verification_title(view))}*: "
                f"{presenter.outcome_label(view.outcome)}"
            )
            for view in recent[:HOME_LIMIT]
        ]
    if security:
        blocks.append(header("Open escalations"))
        blocks += [escalation_line(escalation) for escalation in escalations[:HOME_LIMIT]]
        if not escalations:
            blocks.append(context("No open escalations."))
    blocks.append(context(escape(presenter.usage("/verify "))))
    return {"type": "home", "blocks": blocks}


def escalation_line(escalation: EscalationView) -> Block:
    status = presenter.ESCALATION_LABELS[escalation.status]
    lines = [
        f"*{escape(escalation.candidate_name)}* ({escalation.verification_id}): {status}",
        f"{presenter.outcome_label(escalation.outcome)}, {mention(escalation.requested_by)}",
    ]
    return section("\n".join(lines))
