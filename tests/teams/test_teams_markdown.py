"""People's text in Teams (names, notes, reasons) is shown as typed: it cannot add links,
formatting, lists or mentions to a message or an Adaptive Card."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.models import Result
from handlers.teams import cards
from handlers.teams.markdown import escape
from tests import notices
from tests.fakes.bot_connector import Call, FakeConnector, card_lines, readable
from tests.teams.harness import SECURITY, SECURITY_CHANNEL, Chat, TeamsApp
from tests.teams.test_teams_cards import PROMPT
from tests.teams.test_teams_e2e import (
    JANE,
    current_step,
    findings_posted,
    last_card,
    register_security_channel,
)

HOSTILE_NAME = "[Approve the offer](https://evil.example/sso) **URGENT** _now_ <at>Sam</at>"
HOSTILE_NOTE = "- see [the real ID](https://evil.example/id) # 1. ~~checked~~ `code`"
HOSTILE_REASON = "[ok](https://evil.example) **cleared** <at>Hannah Manager</at>"

LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\s*(?<!\\)\(")
AUTOLINK = re.compile(r"(?<!\\)<(?:https?:|at>)")
EMPHASIS = re.compile(r"(?<!\\)(?:\*\*|~~|`)|(?<![\\\w])_\w")
LIST_START = re.compile(r"^\s*(?:[-+*]|\d+[.)])\s", re.MULTILINE)


def raw_texts(call: Call) -> list[str]:
    """Every string Teams reads as Markdown in a posted activity: its text, TextBlocks, facts."""
    found = [call.body["text"]] if call.body.get("text") else []
    card = call.card or {}
    for element in card.get("body", []):
        if element.get("type") == "TextBlock":
            found.append(element["text"])
        elif element.get("type") == "FactSet":
            found += [fact["value"] for fact in element["facts"]]
    return found


def assert_inert(text: str) -> None:
    for syntax in (LINK, AUTOLINK, EMPHASIS, LIST_START):
        assert not syntax.search(text), f"{syntax.pattern} in {text!r}"


@pytest.mark.parametrize(
    "text",
    [HOSTILE_NAME, HOSTILE_NOTE, HOSTILE_REASON, "1) first", "+ plus", "\\[x](y)", "a\n- b"],
)
def test_escaped_text_has_no_markdown_and_reads_as_typed(text: str) -> None:
    escaped = escape(text)
    assert_inert(escaped)
    assert readable(escaped) == text


def test_plain_names_and_addresses_are_unchanged() -> None:
    for text in ("Jane Doe", "O'Brien-Smith", "jane.doe@example.com", "Jane 1. Doe"):
        assert escape(text) == text


def test_cards_escape_what_people_typed_but_not_the_inputs_they_edit() -> None:
    hostile = notices.finding(note=HOSTILE_NOTE, reason=f"Did not match: {HOSTILE_NOTE}")
    escalation = notices.escalation([hostile], candidate_name=HOSTILE_NAME)
    prompt = PROMPT.model_copy(update={"candidate_name": HOSTILE_NAME})
    form = cards.candidate_form({"name": HOSTILE_NAME}, {"email": f"is not {HOSTILE_NOTE}"})
    for card in (
        cards.escalation_card(escalation, hiring_manager=HOSTILE_NAME),
        cards.thread_card(notices.notice(escalation)),
        cards.prompt_card(prompt),
        form,
    ):
        call = Call("POST", "c", None, {"attachments": [{"content": card}]}, "1")
        for text in raw_texts(call):
            assert_inert(text)
    escalation_card = cards.escalation_card(escalation)
    facts = {fact["title"]: readable(fact["value"]) for fact in escalation_card["body"][1]["facts"]}
    assert facts["Candidate"].startswith(HOSTILE_NAME)
    assert any(HOSTILE_NOTE in readable(line) for line in card_lines(escalation_card))
    [name] = [e for e in form["body"] if e.get("id") == "name"]
    assert name["value"] == HOSTILE_NAME, "an input's value is plain text, shown as is"
    assert [a["title"] for a in cards.prompt_card(prompt)["actions"]] == [
        "1. Matches",
        "2. Did not match",
    ]


async def test_a_hostile_name_note_and_reason_stay_text_from_start_to_decision(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    channel = await register_security_channel(teams_app, connector)
    form = (await hm_chat.say("start"))[0]
    calls = await hm_chat.click(form, "Start verification", name=HOSTILE_NAME, **JANE)
    assert calls[0].text.startswith(f"Started {HOSTILE_NAME} (VB-")

    _, index, option = await current_step(teams_app, Result.BLOCK)
    note = {"note": HOSTILE_NOTE} if option.note_required else {}
    calls = await hm_chat.click(last_card(calls), f"{index}.", **note)
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 1)
    [finding] = findings_posted(connector)
    assert f"verifybot escalation: {HOSTILE_NAME}" in finding.text
    if option.note_required:
        assert HOSTILE_NOTE in finding.text

    thread = channel.in_thread(finding.id)
    decided = await thread.click(finding, "Clear", reason=HOSTILE_REASON)
    assert f"Cleared (false alarm) by {SECURITY.aad_id}: {HOSTILE_REASON}" in decided[0].text
    await teams_app.deliver_outbox()
    await connector.wait_for(
        lambda: any("Security cleared" in c.text for c in connector.posts(hm_chat.conversation_id))
    )
    status = await hm_chat.say(f"status {HOSTILE_NAME}")
    assert HOSTILE_NAME in status[0].text
    missing = await hm_chat.say(f"status {HOSTILE_REASON}")
    assert f"no verification found for '{HOSTILE_REASON}'" in missing[0].text

    everything = connector.calls
    assert any(SECURITY_CHANNEL in call.conversation_id for call in everything)
    assert any(call.conversation_id == hm_chat.conversation_id for call in everything)
    for call in everything:
        for text in raw_texts(call):
            assert_inert(text)


def sent_to(connector: FakeConnector, conversation: str) -> list[dict[str, Any]]:
    return [call.body for call in connector.posts(conversation)]


async def test_the_decision_message_to_the_hiring_manager_is_escaped(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    """The notifier's direct message, delivered from the outbox, not in a turn."""
    channel = await register_security_channel(teams_app, connector)
    form = (await hm_chat.say("start"))[0]
    calls = await hm_chat.click(form, "Start verification", name=HOSTILE_NAME, **JANE)
    _, index, option = await current_step(teams_app, Result.BLOCK)
    note = {"note": "evidence"} if option.note_required else {}
    await hm_chat.click(last_card(calls), f"{index}.", **note)
    await teams_app.deliver_outbox()
    await connector.wait_for(lambda: len(findings_posted(connector)) == 1)
    [finding] = findings_posted(connector)
    await channel.in_thread(finding.id).click(finding, "Confirm fraud", reason=HOSTILE_REASON)
    await teams_app.deliver_outbox()

    def decision() -> list[dict[str, Any]]:
        return [
            b
            for b in sent_to(connector, hm_chat.conversation_id)
            if "Security " in b.get("text", "")
        ]

    await connector.wait_for(lambda: len(decision()) == 1)
    [body] = decision()
    assert_inert(body["text"])
    assert readable(body["text"]).startswith("Security confirmed as fraud")
    assert HOSTILE_NAME in readable(body["text"]) and HOSTILE_REASON in readable(body["text"])
