"""offer_created: the details fetched from a local fake Harvest API by a durable job."""

from __future__ import annotations

import asyncio
import base64
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.models import Actor, Platform
from bot.outbox import Backoff
from handlers.server import FRONTENDS
from tests.intake.test_greenhouse import HIRING_CHANNEL, SECRET, STAGE_CHANGE, deliver
from tests.slack.conftest import HM, HM2, SlackApp

API_KEY = "harvest-key-0123456789"
OFFER = {
    "action": "offer_created",
    "payload": {
        "id": 12345,
        "application_id": 265277,
        "job_id": 3485,
        "user_id": 67890,
        "version": 1,
        "notes": "Vacation scheduled 4/20 - 4/23",
        "offer_status": "Created",
    },
}
# Modelled on the documented Harvest objects (grnhse/greenhouse-api-docs, harvest).
OBJECTS: dict[str, dict[str, Any]] = {
    "applications/265277": {
        "id": 265277,
        "candidate_id": 978031,
        "prospect": False,
        "status": "active",
        "current_stage": {"id": 62828, "name": "Offer"},
        "jobs": [{"id": 3485, "name": "Designer – Print"}],
    },
    "candidates/978031": {
        "id": 978031,
        "first_name": "Zoë",
        "last_name": "Łukasiewicz-Ørsted",
        "phone_numbers": [{"value": "555-555-5555", "type": "mobile"}],
        "addresses": [{"value": "123 City Street\nNew York, NY 10001", "type": "home"}],
        "email_addresses": [
            {"value": "zoe@work.example.com", "type": "work"},
            {"value": "zoe@example.com", "type": "personal"},
        ],
        "recruiter": {"id": 92120, "first_name": "Greenhouse", "name": "Greenhouse Admin"},
        "coordinator": None,
    },
    "jobs/3485": {
        "id": 3485,
        "name": "Designer – Print",
        "status": "open",
        "hiring_team": {
            "hiring_managers": [{"id": 84275, "name": "Kaylee Prime", "employee_id": "13636"}],
            "recruiters": [
                {"id": 81111, "name": "Samuel Skateboard", "responsible": False},
                {"id": 153448, "name": "Stegosaurus Heels", "responsible": True},
            ],
            "coordinators": [],
            "sourcers": [],
        },
    },
    "users/84275": {"id": 84275, "primary_email_address": "kaylee@example.com", "disabled": False},
    "users/81111": {"id": 81111, "primary_email_address": "samuel@example.com", "disabled": False},
    "users/153448": {"id": 153448, "primary_email_address": "steg@example.com", "disabled": False},
    "users/92120": {"id": 92120, "primary_email_address": "admin@example.com", "disabled": False},
}


class FakeHarvest:
    """GET /v1/<kind>/<id> with HTTP Basic (the key as user name); fails or stalls on demand."""

    def __init__(self) -> None:
        self.objects = copy.deepcopy(OBJECTS)
        self.requests: list[tuple[str, str]] = []
        self.failures: list[int] = []
        self.stall = 0.0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/{kind}/{id}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/v1/"

    async def handle(self, request: web.Request) -> web.Response:
        path = f"{request.match_info['kind']}/{request.match_info['id']}"
        self.requests.append((path, request.headers.get("Authorization", "")))
        if self.stall:
            await asyncio.sleep(self.stall)
        if self.failures:
            return web.json_response({"message": "Server Error"}, status=self.failures.pop(0))
        expected = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"message": "Unauthorized"}, status=401)
        if path not in self.objects:
            return web.json_response({"message": "Resource not found"}, status=404)
        return web.json_response(self.objects[path])


@pytest.fixture
async def harvest() -> AsyncIterator[FakeHarvest]:
    fake = FakeHarvest()
    await fake.start()
    yield fake
    assert fake.runner is not None
    await fake.runner.cleanup()


@pytest.fixture
async def offer_app(make_app, harvest: FakeHarvest) -> SlackApp:
    return await make_app(
        greenhouse_secret=SecretStr(SECRET),
        slack_hiring_channel=HIRING_CHANNEL,
        greenhouse_api_key=SecretStr(API_KEY),
        greenhouse_api_url=harvest.url,
    )


async def test_an_offer_fetched_from_harvest_reaches_the_hiring_manager_by_dm(
    http, offer_app, fake_slack, harvest
) -> None:
    fake_slack.users[HM] = {"name": "kaylee", "email": "Kaylee@example.com"}
    fake_slack.users[HM2] = {"name": "steg", "email": "steg@example.com"}
    status, answer = await deliver(http, offer_app, OFFER)
    assert (status, answer["queued"]) == (200, "offer_created")
    [job] = offer_app.core.store.jobs()
    assert "Vacation" not in job["payload"]
    await offer_app.jobs_done()
    dm = fake_slack.messages_in(fake_slack.dm_channel(HM))[-1]
    print("\nDM to the hiring manager:\n" + dm.text)
    assert dm.text.startswith(
        "Started from Greenhouse: an offer was created for application 265277."
    )
    assert "Zoë Łukasiewicz-Ørsted" in dm.text
    assert fake_slack.messages_in(fake_slack.dm_channel(HM2)) == []
    assert {path for path, _ in harvest.requests} >= {
        "applications/265277",
        "candidates/978031",
        "jobs/3485",
        "users/84275",
    }
    [intake] = offer_app.core.store.db.execute("SELECT * FROM intakes").fetchall()
    verification_id = intake[0]
    view = await offer_app.core.service.view(
        Actor(user_id=HM, platform=Platform.SLACK), verification_id
    )
    assert (view.candidate.email, view.candidate.role) == ("zoe@example.com", "Designer – Print")
    assert view.awaiting_shipping_address


async def test_without_a_hiring_manager_in_slack_the_responsible_recruiter_gets_it(
    http, offer_app, fake_slack, harvest
) -> None:
    fake_slack.users[HM2] = {"name": "steg", "email": "steg@example.com"}
    fake_slack.users[HM] = {"name": "samuel", "email": "samuel@example.com"}
    await deliver(http, offer_app, OFFER)
    await offer_app.jobs_done()
    assert "an offer was created" in fake_slack.messages_in(fake_slack.dm_channel(HM2))[-1].text
    assert fake_slack.messages_in(fake_slack.dm_channel(HM)) == []


@pytest.mark.parametrize("trouble", ["5xx", "timeout"])
async def test_harvest_down_or_slow_is_retried_and_the_offer_is_not_lost(
    http, offer_app, fake_slack, harvest, trouble
) -> None:
    fake_slack.users[HM] = {"name": "kaylee", "email": "kaylee@example.com"}
    # the app's own worker retries too: no sooner than 0.3 s, so that the check after the
    # drain below sees the job waiting for its retry, not already in its next attempt
    offer_app.core.jobs.backoff = Backoff(base=0.6, cap=0.6, seed=7)
    greenhouse = next(f for f in offer_app.runner.app[FRONTENDS] if f.name == "greenhouse")
    if trouble == "5xx":
        harvest.failures = [502, 500, 503]
    else:
        greenhouse.harvest.timeout = 0.05
        harvest.stall = 0.2
    await deliver(http, offer_app, OFFER)
    await offer_app.core.jobs.drain(timeout=2, horizon=0)
    [job] = offer_app.core.store.jobs()
    assert job["status"] == "pending" and "Harvest" in job["last_error"]
    assert fake_slack.messages_in(fake_slack.dm_channel(HM)) == []
    harvest.stall = 0.0
    await offer_app.jobs_done()
    assert offer_app.core.store.jobs()[0]["status"] == "done"
    assert "an offer was created" in fake_slack.messages_in(fake_slack.dm_channel(HM))[-1].text


async def test_an_offer_and_a_stage_change_for_one_application_start_one_verification(
    http, offer_app, fake_slack
) -> None:
    _, first = await deliver(http, offer_app, STAGE_CHANGE)
    await deliver(http, offer_app, OFFER, event_id="evt-2")
    await deliver(http, offer_app, OFFER, event_id="evt-3")
    await offer_app.jobs_done()
    count = offer_app.core.store.db.execute("SELECT count(*) FROM verifications").fetchone()[0]
    assert first["created"] and count == 1


async def test_an_application_harvest_does_not_know_is_told_to_the_hiring_channel(
    http, offer_app, fake_slack, harvest
) -> None:
    del harvest.objects["applications/265277"]
    await deliver(http, offer_app, OFFER)
    await offer_app.jobs_done()
    notice = fake_slack.messages_in(HIRING_CHANNEL)[-1].text
    assert "application 265277 could not start a verification" in notice and "404" in notice
    assert [e["action"] for e in offer_app.core.store.events()] == ["intake.refused"]
