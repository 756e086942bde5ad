"""Block Kit builders and button values: pure functions, no network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.errors import InvalidInput
from bot.models import (
    Candidate,
    Finding,
    Option,
    Outcome,
    Platform,
    Prompt,
    Result,
    VerificationView,
)
from handlers.slack.blocks import (
    answered_message,
    escape,
    mention,
    prompt_message,
    summary_message,
)
from handlers.slack.payloads import (
    AnswerRef,
    StepRef,
    SubmittedView,
    decode_escalation,
    input_value,
)
from tests.slack.conftest import buttons, mrkdwn_of, text_of

WHEN = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


def prompt(**overrides: object) -> Prompt:
    fields: dict = {
        "verification_id": "VB-0A1B2C3D",
        "candidate_name": "Jane <!channel> Doe",
        "playbook_title": "Pre-offer verification",
        "step_id": "camera_interview",
        "step_title": "Camera-on interview",
        "question": "Did the person match?",
        "help": "Compare <b>faces</b> & voices",
        "source": "FBI PSA",
        "index": 3,
        "total": 6,
        "options": [
            Option(value=f"option_{n}", label="L" * 200, result=Result.PASS) for n in range(4)
        ],
    }
    fields.update(overrides)
    return Prompt(**fields)


def finding(**overrides: object) -> Finding:
    fields: dict = {
        "answer_id": 1,
        "step": "camera_interview",
        "step_title": "Camera-on interview",
        "answer": "camera_refused",
        "answer_label": "Camera <refused>",
        "result": Result.BLOCK,
        "reason": "Camera <refused>: <!everyone>",
        "note": "<!everyone>",
        "answered_by": "UHIRING001",
        "platform": Platform.SLACK,
        "answered_at": WHEN,
    }
    fields.update(overrides)
    return Finding(**fields)


def view(findings: list[Finding]) -> VerificationView:
    candidate = Candidate(
        id=1,
        name="Jane <!channel> Doe",
        email="jane@example.com",
        home_address="123 Main St, Springfield, IL 62701",
        shipping_address="123 Main St, Springfield, IL 62701",
        home_normalized="X",
        shipping_normalized="X",
    )
    return VerificationView(
        id="VB-0A1B2C3D",
        playbook="pre-offer",
        playbook_title="Pre-offer verification",
        candidate=candidate,
        requested_by="UHIRING001",
        platform=Platform.SLACK,
        outcome=Outcome.BLOCKED,
        created_at=WHEN,
        updated_at=WHEN,
        answered=len(findings),
        total=6,
        findings=findings,
    )


def test_escape_and_mention() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert mention("UHIRING001") == "<@UHIRING001>"
    assert mention("verifybot") == "verifybot"
    assert mention("<!here>") == "&lt;!here&gt;"


def test_a_prompt_has_bounded_buttons_with_unique_action_ids() -> None:
    message = prompt_message(prompt())
    elements = [element for _, element in buttons(message["blocks"])]
    assert len(elements) == 4
    assert len({e["action_id"] for e in elements}) == 4
    assert all(len(e["text"]["text"]) <= 75 for e in elements)
    assert all(len(e["value"]) <= 2000 for e in elements)
    assert AnswerRef.decode(elements[2]["value"]) == AnswerRef(
        "VB-0A1B2C3D", "camera_interview", "option_2"
    )
    shown = text_of(message["blocks"])
    assert "Camera-on interview (Step 3 of 6)" in shown
    assert "&lt;b&gt;faces&lt;/b&gt; &amp; voices" in shown
    assert "<!channel>" not in message["text"]


def test_a_change_prompt_marks_every_button() -> None:
    elements = [e for _, e in buttons(prompt_message(prompt(), change=True)["blocks"])]
    assert all(AnswerRef.decode(e["value"]).change for e in elements)


def test_an_answered_step_names_who_and_when_and_escapes_the_rest() -> None:
    message = answered_message(view([finding()]), finding())
    shown = text_of(message["blocks"])
    assert (
        "Recorded Camera &lt;refused&gt; (block) by <@UHIRING001> at 2025-03-03 09:30 UTC" in shown
    )
    assert "<!everyone>" not in shown
    [(_, change)] = buttons(message["blocks"])
    assert StepRef.decode(change["value"]) == StepRef("VB-0A1B2C3D", "camera_interview")


def test_a_computed_answer_cannot_be_changed() -> None:
    computed = finding(answered_by="verifybot", step="shipping_address")
    assert buttons(answered_message(view([computed]), computed)["blocks"]) == []


def test_the_summary_escapes_the_candidate_and_findings() -> None:
    shown = mrkdwn_of(summary_message(view([finding()]))["blocks"])
    assert "<!" not in shown
    assert "Jane &lt;!channel&gt; Doe" in shown
    assert "[BLOCK] Camera-on interview: Camera &lt;refused&gt;" in shown


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "VB-0A1B2C3D|step|option",
        "VB-0A1B2C3D|step|option||",
        "VB-0A1B2C3|step|option|",
        "VB-0A1B2C3D|Step|option|",
        "VB-0A1B2C3D|step|option|x",
        "VB-0A1B2C3D|step|" + "o" * 65 + "|",
    ],
)
def test_answer_values_are_validated(value: str | None) -> None:
    with pytest.raises(InvalidInput):
        AnswerRef.decode(value)


def test_answer_values_round_trip() -> None:
    ref = AnswerRef("VB-0A1B2C3D", "notarized_id", "not_provided", change=True)
    assert AnswerRef.decode(ref.encode()) == ref
    assert AnswerRef.decode("vb-0a1b2c3d|notarized_id|verified|").verification_id == "VB-0A1B2C3D"


@pytest.mark.parametrize("value", [None, "", "-1", "1e3", "1" * 19, "x"])
def test_escalation_values_are_validated(value: str | None) -> None:
    with pytest.raises(InvalidInput):
        decode_escalation(value)


def test_input_values_of_a_submitted_view() -> None:
    submitted = SubmittedView.model_validate(
        {
            "id": "V1",
            "type": "modal",
            "callback_id": "vb_start",
            "state": {
                "values": {
                    "name": {"value": {"type": "plain_text_input", "value": " Jane "}},
                    "phone": {"value": {"type": "plain_text_input", "value": None}},
                    "role": {"value": {"type": "plain_text_input", "value": "   "}},
                    "playbook": {"value": {"selected_option": {"value": "pre-offer"}}},
                }
            },
        }
    )
    assert input_value(submitted, "name") == " Jane "
    assert input_value(submitted, "phone") is None
    assert input_value(submitted, "role") is None
    assert input_value(submitted, "playbook") == "pre-offer"
    assert input_value(submitted, "missing") is None
