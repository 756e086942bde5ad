"""The REST API against the real aiohttp app: auth, idempotency, 422s, the clearance gate."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.models import Actor, Decision, Platform
from tests.conftest import PASS_ANSWERS
from tests.slack.conftest import HM, HM2, SEC, SlackApp

TOKEN = "ats-token-0123456789abcdef"
OTHER = "hris-token-0123456789abcdef"
CANDIDATE = {
    "name": "Søren Kierkegaard-Ōno",
    "email": "SOREN@example.com",
    "home_address": "12 Nørregade, Springfield, IL 62701",
}
PASSES = PASS_ANSWERS["pre-offer"]


class Api:
    def __init__(self, http: aiohttp.ClientSession, app: SlackApp) -> None:
        self.http = http
        self.base = app.url.removesuffix("/slack/events") + "/api/v1"

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = TOKEN, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(
            method, self.base + path, json=body, headers=headers, **kw
        ) as response:
            return response.status, await response.json()


@pytest.fixture
async def api_app(make_app) -> SlackApp:
    tokens = Settings(api_tokens=f"ats:{TOKEN},hris:{OTHER}").api_tokens
    return await make_app(api_tokens=tokens)


@pytest.fixture
def api(http: aiohttp.ClientSession, api_app: SlackApp) -> Api:
    return Api(http, api_app)


async def test_without_tokens_the_api_is_not_served(http, slack_app: SlackApp) -> None:
    url = slack_app.url.removesuffix("/slack/events") + "/api/v1/clearance?email=a@example.com"
    async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 404


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789abcdef", TOKEN[:-1]])
async def test_a_missing_or_wrong_token_is_a_401_and_writes_nothing(api, api_app, token) -> None:
    body = {"candidate": CANDIDATE, "external_id": "offer-1"}
    status, answer = await api.call("POST", "/verifications", body, token=token)
    assert status == 401
    assert answer["error"]
    assert api_app.core.store.events() == []


async def test_start_is_idempotent_by_external_id_and_audited(api, api_app) -> None:
    body = {"candidate": CANDIDATE, "external_id": "offer-7", "playbook": "pre-offer"}
    status, first = await api.call("POST", "/verifications", body)
    assert status == 201, first
    assert first["status_url"] == f"/api/v1/verifications/{first['verification_id']}"
    status, again = await api.call("POST", "/verifications", body, token=OTHER)
    assert status == 200
    assert again["verification_id"] == first["verification_id"]
    status, view = await api.call("GET", first["status_url"].removeprefix("/api/v1"))
    assert status == 200
    assert view["candidate"]["name"] == "Søren Kierkegaard-Ōno"
    assert view["outcome"] == "in_progress"
    assert view["waiting_for"] == ["the laptop shipping address"]
    store = api_app.core.store
    events = [(e["actor"], e["platform"], e["action"]) for e in store.events()]
    assert ("ats", "api", "verification.started") in events
    assert ("hris", "api", "verification.start_repeated") in events
    assert ("ats", "api", "verification.read") in events
    assert store.intake(first["verification_id"])["requested_by"] == "ats"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"candidate": {**CANDIDATE, "email": "nope"}, "external_id": "x"}, {"candidate.email"}),
        (
            {"candidate": {"name": "A"}, "external_id": "x"},
            {"candidate.email", "candidate.home_address"},
        ),
        ({"candidate": CANDIDATE}, {"external_id"}),
        ({"candidate": CANDIDATE, "external_id": "x", "extra": 1}, {"extra"}),
        ({"candidate": CANDIDATE, "external_id": "x", "playbook": "nope"}, {"playbook"}),
        ([1, 2], {"body"}),
    ],
)
async def test_invalid_input_is_a_422_with_field_errors(api, api_app, body, fields) -> None:
    status, answer = await api.call("POST", "/verifications", body)
    assert status == 422, answer
    assert fields <= {error["field"] for error in answer["errors"]}
    assert all(error["message"] for error in answer["errors"])
    assert api_app.core.store.verification_by_start_key("api:x") is None


async def test_malformed_deep_or_huge_bodies_are_json_errors(api) -> None:
    cases = [
        (b"{not json", 400),
        (b"[" * 100 + b"]" * 100, 400),
        (b'{"a": "' + b"x" * 70_000 + b'"}', 413),
        (b'{"a": "\\ud800"}' + b"\xff", 400),
    ]
    for raw, expected in cases:
        async with api.http.post(
            api.base + "/verifications",
            data=raw,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        ) as response:
            assert response.status == expected, raw[:20]
            assert (await response.json())["error"]
    status, answer = await api.call("GET", "/verifications/not-an-id")
    assert (status, answer["errors"][0]["field"]) == (422, "verification")
    status, answer = await api.call("GET", "/verifications/VB-00000000")
    assert status == 404 and "VB-00000000" in answer["error"]


async def test_the_clearance_gate_through_a_whole_verification(api, api_app, fake_slack) -> None:
    """Not cleared while in progress or awaiting security; cleared at the end."""
    fake_slack.users[HM2] = {"name": "hm2", "email": "Hiring.Manager@example.com"}
    gate = "/clearance?email=SOREN@example.com"
    status, answer = await api.call("GET", gate)
    assert (status, answer) == (
        200,
        {
            "email": "SOREN@example.com",
            "cleared": False,
            "outcome": None,
            "verification_id": None,
            "pending": ["no verification"],
        },
    )
    body = {
        "candidate": CANDIDATE,
        "external_id": "offer-9",
        "hiring_manager_email": "hiring.manager@example.com",
    }
    _, started = await api.call("POST", "/verifications", body)
    vid = started["verification_id"]
    await api_app.jobs_done()
    service = api_app.core.service
    hm = Actor(user_id=HM2, platform=Platform.SLACK)
    assert (await service.view(hm, vid)).requested_by == HM2
    _, in_progress = await api.call("GET", gate)
    assert in_progress["cleared"] is False and in_progress["outcome"] == "in_progress"
    assert "the laptop shipping address" in in_progress["pending"]

    for step, (value, note) in PASSES.items():
        await service.answer(hm, vid, step, value, note)
    await service.answer(
        hm, vid, "profile_photo", "suspected_ai", "same face on a stock site", change=True
    )
    await service.answer(hm, vid, "profile_photo", "genuine", change=True)
    status, shipped = await api.call(
        "PUT",
        f"/verifications/{vid}/shipping-address",
        {"shipping_address": "12 NØRREGADE, Springfield, IL 62701"},
    )
    assert status == 200, shipped
    assert shipped["waiting_for"] == [] and shipped["outcome"] == "needs_review"
    assert shipped["awaiting_security"] is True
    _, awaiting = await api.call("GET", gate)
    assert awaiting["cleared"] is False and awaiting["outcome"] == "needs_review"
    assert awaiting["pending"] == ["security decision pending"]

    security = Actor(user_id=SEC, platform=Platform.SLACK)
    view = await service.view(hm, vid)
    await service.decide(security, view.escalation_id, Decision.CLEAR, "photo checked by hand")
    _, cleared = await api.call("GET", gate)
    assert cleared == {
        "email": "SOREN@example.com",
        "cleared": True,
        "outcome": "cleared",
        "verification_id": vid,
        "pending": [],
    }
    asked = [e for e in api_app.core.store.events() if e["action"] == "clearance.asked"]
    assert len(asked) == 4


async def test_an_api_token_never_answers_or_decides(api, api_app) -> None:
    _, started = await api.call(
        "POST", "/verifications", {"candidate": CANDIDATE, "external_id": "o"}
    )
    api_actor = Actor(user_id="ats", platform=Platform.API)
    assert not api_app.core.service.roles.is_security(api_actor)
    status, answer = await api.call(
        "PUT",
        f"/verifications/{started['verification_id']}/shipping-address",
        {"shipping_address": "!!! ,,, ---"},
    )
    assert status == 422 and answer["errors"][0]["field"] == "shipping_address"


async def test_the_openapi_document_describes_every_route(api) -> None:
    status, document = await api.call("GET", "/openapi.json", token=None)
    assert status == 200
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/verifications",
        "/verifications/{id}",
        "/verifications/{id}/shipping-address",
        "/clearance",
        "/openapi.json",
    }
    schemas = document["components"]["schemas"]
    for name in ("StartRequest", "Candidate", "Verification", "Clearance", "Error"):
        assert name in schemas
    refs = _refs(document)
    assert refs and all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


async def test_the_hiring_manager_found_gets_the_first_step_by_dm(api, api_app, fake_slack) -> None:
    fake_slack.users[HM] = {"name": "hm", "email": "hm@example.com"}
    body = {
        "candidate": CANDIDATE,
        "external_id": "offer-dm",
        "hiring_manager_email": "hm@example.com",
    }
    _, started = await api.call("POST", "/verifications", body)
    [job] = api_app.core.store.jobs()
    assert job["kind"] == "slack.handover" and "hm@example.com" not in job["payload"]
    await api_app.jobs_done()
    dm = fake_slack.messages_in(fake_slack.dm_channel(HM))
    assert "Started through the API by ats (offer-dm)." in dm[-1].text
    assert started["verification_id"] in str(dm[-1].blocks)
