"""A playbook edited between two runs of the server leaves an earlier verification's Teams
conversation as it was: its status, and the numbered options of the step still to answer."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.models import Result
from tests.fakes.bot_connector import FakeConnector
from tests.playbook_edits import edit, rename_drop_and_bump
from tests.teams.harness import HM, Chat, TeamsApp, texts
from tests.teams.test_teams_e2e import press, start_with_form, verification_id

ROOT = Path(__file__).resolve().parents[2]


async def test_a_playbook_edit_leaves_an_earlier_verification_unchanged(
    connector: FakeConnector, start_app: Callable[..., Awaitable[TeamsApp]], tmp_path: Path
) -> None:
    playbooks = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", playbooks)
    first = await start_app(playbooks_dir=str(playbooks))
    chat = Chat(first, connector, HM, "a:hm-personal-chat")
    calls = await start_with_form(chat)
    for _ in range(4):
        calls = await press(chat, calls, Result.PASS)
    vid = await verification_id(first)
    status_before = texts(await chat.say(f"status {vid}"))
    assert any("6 of 8" in text for text in status_before)
    await first.stop()

    edit(playbooks, rename_drop_and_bump)
    second = await start_app(playbooks_dir=str(playbooks))
    chat = Chat(second, connector, HM, "a:hm-personal-chat")
    assert texts(await chat.say(f"status {vid}")) == status_before

    await chat.say("3")
    calls = await chat.say("The registrar did not reply")
    assert "Recorded Could not be verified with the institution (review)" in calls[0].text
    answers = second.core.store.answers(vid)
    assert (answers[-1]["step_id"], answers[-1]["value"]) == ("education_history", "unverified")
