"""Card builders: pure functions from the core's values to Adaptive Card dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from botbuilder.core import CardFactory

from bot import presenter
from bot.models import (
    EscalationStatus,
    EscalationView,
    Option,
    Outcome,
    Platform,
    Prompt,
    Result,
)
from bot.notices import NoticeItem
from handlers.teams import cards
from tests import notices
from tests.fakes.bot_connector import card_lines

PROMPT = Prompt(
    verification_id="VB-1A2B3C4D",
    candidate_name="Jane Doe",
    playbook_title="Pre-offer verification",
    step_id="camera_interview",
    step_title="Camera-on interview",
    question="Did the person on video match the ID?",
    help="Ask for camera on.",
    source="FBI PSA I-012325-PSA",
    index=3,
    total=6,
    options=[
        Option(value="matched", label="Matches", result=Result.PASS),
        Option(
            value="did_not_match",
            label="Did not match",
            result=Result.BLOCK,
            note_required=True,
            note_label="What differed",
        ),
    ],
)
ESCALATION = notices.escalation()
NOTICE = notices.notice(ESCALATION)


def buttons(card: cards.Card) -> list[str]:
    return [action["title"] for action in card.get("actions", [])]


def test_a_step_card_has_the_question_help_progress_and_one_button_per_option() -> None:
    card = cards.prompt_card(PROMPT)
    lines = card_lines(card)
    assert lines[0] == "Jane Doe: Camera-on interview (Step 3 of 6)"
    assert PROMPT.question in lines and PROMPT.help in lines
    assert "Source: FBI PSA I-012325-PSA" in lines
    assert buttons(card) == ["1. Matches", "2. Did not match"]
    assert [action["type"] for action in card["actions"]] == ["Action.Submit"] * 2
    assert card["actions"][1]["data"] == {
        "verifybot": "answer",
        "verification": "VB-1A2B3C4D",
        "step": "camera_interview",
        "option": "did_not_match",
    }
    [note] = [element for element in card["body"] if element["type"] == "Input.Text"]
    assert note["id"] == "note" and note["label"] == "Evidence note (needed for answer 2)"


def test_a_step_without_notes_has_no_note_input() -> None:
    plain = PROMPT.model_copy(update={"options": PROMPT.options[:1]})
    assert all(e["type"] != "Input.Text" for e in cards.prompt_card(plain)["body"])


def test_an_escalation_card_has_the_shared_facts_every_finding_and_the_three_decisions() -> None:
    card = cards.escalation_card(ESCALATION)
    assert card_lines(card)[0] == presenter.escalation_title(ESCALATION)
    [fact_set] = [element for element in card["body"] if element["type"] == "FactSet"]
    pairs = [(fact["title"], fact["value"]) for fact in fact_set["facts"]]
    assert pairs == presenter.escalation_facts(ESCALATION)
    assert presenter.findings_lines(ESCALATION)[0] in card_lines(card)
    assert buttons(card) == ["Acknowledge", "Clear (false alarm)", "Confirm fraud"]
    assert [action["data"] for action in card["actions"]] == [
        {"verifybot": "decide", "escalation": 7, "decision": decision}
        for decision in ("acknowledge", "clear", "confirm")
    ]
    assert any(e.get("id") == "reason" for e in card["body"])


def test_the_decisions_left_depend_on_the_escalation_status() -> None:
    acknowledged = ESCALATION.model_copy(update={"status": EscalationStatus.ACKNOWLEDGED})
    assert buttons(cards.escalation_card(acknowledged)) == ["Clear (false alarm)", "Confirm fraud"]
    for final in (EscalationStatus.CLEARED, EscalationStatus.CONFIRMED):
        card = cards.escalation_card(ESCALATION.model_copy(update={"status": final}))
        assert buttons(card) == []
        assert all(e["type"] != "Input.Text" for e in card["body"])


def test_a_thread_card_has_decisions_only_for_a_lowered_answer_or_a_reopening() -> None:
    assert buttons(cards.thread_card(NOTICE)) == []
    lowered = notices.finding(answer="matched", answer_label="Matches", result=Result.PASS)
    news = NOTICE.model_copy(
        update={"items": [NoticeItem(finding=lowered, previous=ESCALATION.findings[0])]}
    )
    card = cards.thread_card(news)
    assert buttons(card) == ["Acknowledge", "Clear (false alarm)", "Confirm fraud"]
    assert any("from Did not match (block) to Matches (pass)" in line for line in card_lines(card))


def test_a_decided_escalation_shows_who_decided_and_why() -> None:
    view = EscalationView(
        id=7,
        verification_id="VB-1A2B3C4D",
        status=EscalationStatus.CLEARED,
        candidate_name="Jane Doe",
        requested_by="aad-hm-1",
        requested_platform=Platform.TEAMS,
        outcome=Outcome.NEEDS_REVIEW,
        created_at=datetime(2025, 3, 3, tzinfo=UTC),
        decided_by="aad-sec-1",
        decision_reason="Virtual background only",
    )
    card = cards.escalation_card(view)
    assert "Status: Cleared (false alarm) by aad-sec-1: Virtual background only" in card_lines(card)
    assert buttons(card) == []


def test_cards_are_json_and_become_adaptive_card_attachments() -> None:
    for card in (
        cards.prompt_card(PROMPT),
        cards.escalation_card(ESCALATION),
        cards.thread_card(NOTICE),
        cards.candidate_form({"name": "Jane"}, {"email": "is required"}),
    ):
        json.dumps(card)
        assert card["type"] == "AdaptiveCard" and card["version"] == cards.VERSION
        attachment = CardFactory.adaptive_card(card)
        assert attachment.content_type == "application/vnd.microsoft.card.adaptive"


def test_the_candidate_form_keeps_the_values_and_shows_the_problems() -> None:
    card = cards.candidate_form({"name": "Jane Doe"}, {"email": "is required"})
    inputs = {e["id"]: e for e in card["body"] if e["type"] == "Input.Text"}
    assert list(inputs) == [
        "name",
        "email",
        "phone",
        "role",
        "home_address",
        "shipping_address",
        "referred_by",
        "payout_account",
    ]
    assert inputs["name"]["value"] == "Jane Doe"
    assert "Email is required" in card_lines(card)
    assert card["actions"][0]["data"] == {"verifybot": "candidate"}
