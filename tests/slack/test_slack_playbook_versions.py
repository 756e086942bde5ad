"""A playbook edited between two runs of the server leaves an earlier verification's Slack views
as they were: status, the step buttons of "Change answer", and the steps still to answer."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.fakes.slack_api import FakeSlackAPI
from tests.playbook_edits import edit, rename_drop_and_bump
from tests.slack.conftest import (
    REPO_ROOT,
    SlackApp,
    SlackDriver,
    buttons,
    option_of,
    shut,
    text_of,
)


async def test_a_playbook_edit_leaves_an_earlier_verification_unchanged(
    make_app: Callable[..., Awaitable[SlackApp]],
    fake_slack: FakeSlackAPI,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    playbooks = tmp_path / "playbooks"
    shutil.copytree(REPO_ROOT / "playbooks", playbooks)
    before = await make_app(playbooks_dir=str(playbooks))
    slack = SlackDriver(http, before.url, fake_slack, before)
    verification_id = await slack.start()
    await slack.answer("verified", "Commission 12345")
    await slack.answer("clear", "Report 778899")
    await slack.answer("matched")
    await slack.answer("natural")
    status_before = text_of((await slack.command(f"status {verification_id}")).json["blocks"])
    assert "Progress: 6 of 8 steps answered" in status_before
    await shut(before)

    edit(playbooks, rename_drop_and_bump)
    after = await make_app(playbooks_dir=str(playbooks))
    slack = SlackDriver(http, after.url, fake_slack, after)

    status_after = text_of((await slack.command(f"status {verification_id}")).json["blocks"])
    assert status_after == status_before
    assert "Camera-on interview" in status_after

    camera = next(m for m in slack.dm() if "Camera-on interview" in text_of(m.blocks))
    await slack.click(fake_slack.message(camera.channel, camera.ts), label="Change answer")
    await slack.settle()
    reopened = fake_slack.message(camera.channel, camera.ts)
    assert [option_of(element) for _, element in buttons(reopened.blocks)] == [
        "matched",
        "virtual_background",
        "camera_refused",
        "did_not_match",
    ]

    assert "Education history (Step 7 of 8)" in text_of(slack.last_dm().blocks)
    await slack.answer("unverified", "The registrar did not reply")
    await slack.answer("genuine")
    answers = after.core.store.answers(verification_id)
    assert [(a["step_id"], a["value"]) for a in answers][-2:] == [
        ("education_history", "unverified"),
        ("profile_photo", "genuine"),
    ]
    assert "Outcome: Needs review" in text_of(slack.last_dm().blocks)
