"""What a 200/201 to a card submit confirms is in the database, even when the replies fail."""

from __future__ import annotations

import structlog

from bot.models import Result
from tests.database import open_store
from tests.fakes.bot_connector import FakeConnector
from tests.teams.harness import Chat, TeamsApp
from tests.teams.test_teams_e2e import (
    EVIDENCE,
    current_step,
    last_card,
    start_with_form,
    verification_id,
)


def answers_seen_by_another_connection(app: TeamsApp, vid: str) -> list[tuple[str, str]]:
    other = open_store(app.core.store.path)
    try:
        return [(a["step_id"], a["value"]) for a in other.answers(vid)]
    finally:
        other.close()


async def test_a_card_submit_is_committed_before_the_response_when_the_replies_fail(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    calls = await start_with_form(hm_chat)
    card = last_card(calls)
    vid = await verification_id(teams_app)
    step, index, option = await current_step(teams_app, Result.PASS)
    data = card.card["actions"][index - 1]["data"]
    note = {"note": EVIDENCE} if option.note_required else {}
    submit = hm_chat.activity(value={**data, **note}, reply_to_id=card.id)
    connector.fail_next(404, times=20, conversation_id=hm_chat.conversation_id)  # not retried

    with structlog.testing.capture_logs() as logs:
        response = await teams_app.post(submit)
        body = await response.text()

    assert response.status in (200, 201), body
    assert "Traceback" not in body
    assert "teams.turn_failed" in [entry["event"] for entry in logs]
    assert answers_seen_by_another_connection(teams_app, vid) == [(step.step_id, option.value)]

    assert connector.attempts(hm_chat.conversation_id) > 0, "the replies were tried and failed"

    connector.clear_failures()
    replies = await hm_chat.send(submit)
    assert answers_seen_by_another_connection(teams_app, vid) == [(step.step_id, option.value)]
    assert [call.text.split(":")[0] for call in replies] == ["Already recorded, nothing changed"]
