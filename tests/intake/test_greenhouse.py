"""Signed and forged Greenhouse deliveries against the real app; the hiring manager's DM."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import aiohttp
import pytest
import structlog

from bot.models import Actor, Platform
from tests.slack.conftest import HM, SlackApp

SECRET = "greenhouse-secret-key"
HIRING_CHANNEL = "CHIRING001"
# Modelled on the documented candidate_stage_change (grnhse/greenhouse-api-docs, webhooks).
STAGE_CHANGE: dict[str, Any] = {
    "action": "candidate_stage_change",
    "payload": {
        "application": {
            "id": 265277,
            "status": "active",
            "current_stage": {"id": 71416, "name": "Offer", "interviews": []},
            "candidate": {
                "id": 265772,
                "first_name": "Giuseppe",
                "last_name": "Hürley-Øster",
                "phone_numbers": [{"value": "330-281-8004", "type": "home"}],
                "email_addresses": [{"value": "giuseppe.hurley@example.com", "type": "personal"}],
                "addresses": [{"value": "123 Fake St., Springfield, IL 62701", "type": "home"}],
                "recruiter": {"id": 3128, "email": "alicia.flopple@example.com", "name": "Alicia"},
                "coordinator": None,
            },
            "jobs": [{"id": 3485, "name": "Designer – Print", "status": "open"}],
        }
    },
}


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256 " + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
async def gh_app(make_app) -> SlackApp:
    from pydantic import SecretStr

    return await make_app(greenhouse_secret=SecretStr(SECRET), slack_hiring_channel=HIRING_CHANNEL)


async def deliver(
    http: aiohttp.ClientSession,
    app: SlackApp,
    delivery: Any,
    signature: str | None = None,
    event_id: str = "evt-1",
) -> tuple[int, Any]:
    raw = delivery if isinstance(delivery, bytes) else json.dumps(delivery).encode()
    headers = {"Content-Type": "application/json", "Greenhouse-Event-ID": event_id}
    headers["Signature"] = signed(raw) if signature is None else signature
    url = app.url.removesuffix("/slack/events") + "/hooks/greenhouse"
    async with http.post(url, data=raw, headers=headers) as response:
        return response.status, await response.json()


@pytest.mark.parametrize("signature", ["", "sha256 00", signed(b"other"), "sha256=abc", "sha1 x"])
async def test_a_forged_delivery_is_a_401_and_writes_nothing(http, gh_app, signature) -> None:
    status, answer = await deliver(http, gh_app, STAGE_CHANGE, signature=signature)
    assert status == 401 and answer["error"]
    assert gh_app.core.store.events() == []


async def test_the_hiring_contact_found_by_email_gets_the_first_step(
    http, gh_app, fake_slack
) -> None:
    fake_slack.users[HM] = {"name": "alicia", "email": "Alicia.Flopple@example.com"}
    status, answer = await deliver(http, gh_app, STAGE_CHANGE)
    assert (status, answer["created"]) == (200, True)
    await gh_app.jobs_done()
    dm = fake_slack.messages_in(fake_slack.dm_channel(HM))[-1]
    assert dm.text.startswith("Started from Greenhouse: application 265277 moved to Offer.")
    assert "Giuseppe Hürley-Øster" in dm.text
    hm = Actor(user_id=HM, platform=Platform.SLACK)
    view = await gh_app.core.service.view(hm, answer["verification_id"])
    assert view.candidate.role == "Designer – Print"
    assert view.awaiting_shipping_address
    intake = gh_app.core.store.intake(answer["verification_id"])
    assert (intake["source"], intake["external_id"], intake["requested_by"]) == (
        "greenhouse",
        "application:265277",
        "greenhouse",
    )


async def test_a_redelivery_or_another_event_for_the_application_starts_nothing_new(
    http, gh_app, fake_slack
) -> None:
    _, first = await deliver(http, gh_app, STAGE_CHANGE)
    _, again = await deliver(http, gh_app, STAGE_CHANGE)
    _, other = await deliver(http, gh_app, STAGE_CHANGE, event_id="evt-2")
    assert first["created"] and not again["created"] and not other["created"]
    assert first["verification_id"] == again["verification_id"] == other["verification_id"]
    assert gh_app.core.store.db.execute("SELECT count(*) FROM verifications").fetchone()[0] == 1


async def test_nobody_found_posts_to_the_hiring_channel_with_a_take_button(
    http, gh_app, fake_slack
) -> None:
    _, answer = await deliver(http, gh_app, STAGE_CHANGE)
    await gh_app.jobs_done()
    posted = fake_slack.messages_in(HIRING_CHANNEL)[-1]
    assert answer["verification_id"] in posted.text
    assert "Take it" in json.dumps(posted.blocks)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["payload"]["application"]["candidate"].update(email_addresses=[]),
        lambda d: d["payload"]["application"]["candidate"].update(first_name=None, last_name=None),
        lambda d: d["payload"]["application"].pop("candidate"),
    ],
)
async def test_an_unusable_candidate_is_a_200_told_to_the_hiring_channel_and_audited(
    http, gh_app, fake_slack, change
) -> None:
    delivery = copy.deepcopy(STAGE_CHANGE)
    change(delivery)
    status, answer = await deliver(http, gh_app, delivery)
    assert status == 200 and "could not start a verification" in answer["error"]
    await gh_app.jobs_done()
    assert "could not start a verification" in fake_slack.messages_in(HIRING_CHANNEL)[-1].text
    assert [e["action"] for e in gh_app.core.store.events()] == ["intake.refused"]


async def test_other_actions_and_stages_are_acknowledged_and_ignored(http, gh_app) -> None:
    other_stage = copy.deepcopy(STAGE_CHANGE)
    other_stage["payload"]["application"]["current_stage"]["name"] = "Assessment"
    for delivery in ({"action": "hire_candidate", "payload": {}}, other_stage):
        status, answer = await deliver(http, gh_app, delivery)
        assert status == 200 and answer["ignored"]
    status, answer = await deliver(http, gh_app, b"[" * 100 + b"]" * 100)
    assert status == 400 and answer["error"]
    assert gh_app.core.store.events() == []


async def test_offer_created_without_an_api_key_is_acknowledged_and_logged(http, gh_app) -> None:
    delivery = {"action": "offer_created", "payload": {"id": 9, "application_id": 265277}}
    with structlog.testing.capture_logs() as logs:
        status, answer = await deliver(http, gh_app, delivery)
    assert status == 200 and "VERIFYBOT_GREENHOUSE_API_KEY" in answer["ignored"]
    assert gh_app.core.store.jobs() == []
    assert any(entry["event"] == "greenhouse.offer_needs_api_key" for entry in logs)


async def test_the_web_hook_needs_the_hiring_channel(make_app) -> None:
    from pydantic import SecretStr

    from handlers.server import ConfigError

    with pytest.raises(ConfigError, match="VERIFYBOT_SLACK_HIRING_CHANNEL"):
        await make_app(greenhouse_secret=SecretStr(SECRET))
