"""POST /api/messages at the HTTP level: malformed activities and authentication."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import jwt
import pytest

from bot.runtime import build_core
from handlers.server import ConfigError
from handlers.teams.frontend import TeamsFrontend
from tests.fakes.bot_connector import FakeConnector
from tests.teams.harness import HM, Chat, TeamsApp, teams_settings

APP_ID = "6f1c2d3e-4b5a-4978-8695-a4b3c2d1e0f9"


def nothing_recorded(app: TeamsApp, connector: FakeConnector) -> bool:
    store = app.core.store
    return (
        store.list_verifications() == []
        and store.events() == []
        and list(store.db.query("SELECT key FROM bot_state")) == []
        and store.conversation_ref(f"teams:user:{HM.aad_id}") is None
        and connector.requests == []
    )


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK fetches OpenID metadata with requests.get: make sure these tests never do."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the test tried to reach the network")

    monkeypatch.setattr("botframework.connector.auth.jwt_token_extractor.requests.get", refuse)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"\xff\xfe\x00", "application/json", 400),
        (b'["a", "list"]', "application/json", 400),
        (b'{"text": "start Jane"}', "application/json", 400),
        (b"start Jane", "text/plain", 415),
    ],
    ids=["invalid-json", "not-utf8", "not-an-object", "no-fields", "wrong-content-type"],
)
async def test_a_malformed_body_is_refused_and_nothing_is_recorded(
    hm_chat: Chat,
    connector: FakeConnector,
    teams_app: TeamsApp,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    response = await teams_app.post(data=body, headers={"Content-Type": content_type})
    text = await response.text()
    assert response.status == status
    assert "Traceback" not in text
    assert nothing_recorded(teams_app, connector)


@pytest.mark.parametrize("missing", ["type", "serviceUrl", "conversation", "from", "channelId"])
async def test_an_activity_missing_a_required_field_is_a_400(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp, missing: str
) -> None:
    activity = hm_chat.activity("start Jane Doe")
    del activity[missing]
    response = await teams_app.post(activity)
    assert response.status == 400
    assert "not a valid activity" in json.loads(await response.text())["error"]
    assert nothing_recorded(teams_app, connector)


async def test_wrongly_typed_fields_are_a_400(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    for change in (
        {"type": 5},
        {"serviceUrl": "file:///etc/passwd"},
        {"from": {"id": "x" * 500}},
        {"conversation": "a:1"},
    ):
        response = await teams_app.post({**hm_chat.activity("help"), **change})
        assert response.status == 400, change
    assert nothing_recorded(teams_app, connector)


async def test_a_missing_content_type_is_a_415_not_a_500(
    connector: FakeConnector, teams_app: TeamsApp
) -> None:
    response = await teams_app.client.post("/api/messages", data=b"")
    assert response.status == 415
    assert nothing_recorded(teams_app, connector)


@pytest.mark.usefixtures("no_network")
async def test_with_an_app_id_a_request_without_a_valid_token_is_a_401(
    connector: FakeConnector, start_app: Callable[..., Awaitable[TeamsApp]]
) -> None:
    app = await start_app(microsoft_app_id=APP_ID, microsoft_app_password="not-used")
    activity = Chat(app, connector, HM, "a:hm-personal-chat").activity("start Jane Doe")
    foreign = jwt.encode(
        {"iss": "https://evil.example", "aud": APP_ID}, "k" * 32, algorithm="HS256"
    )
    for headers in (
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": f"Bearer {foreign}"},
    ):
        response = await app.post(activity, headers=headers)
        assert response.status == 401, headers
        assert "Traceback" not in await response.text()
    response = await app.post(data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status == 401, "without a token, the body is not even read"
    assert nothing_recorded(app, connector)


async def test_without_an_app_id_the_emulator_needs_no_token(
    hm_chat: Chat, connector: FakeConnector
) -> None:
    calls = await hm_chat.say("help")
    assert calls[0].text.startswith("verifybot checks a candidate")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"microsoft_app_type": "SingleTenant", "microsoft_app_id": APP_ID}, "TenantId"),
        ({"microsoft_app_id": APP_ID}, "MicrosoftAppPassword"),
        ({"microsoft_app_type": "Sideways"}, "MicrosoftAppType"),
    ],
)
def test_a_bad_bot_configuration_stops_the_start(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    core = build_core(teams_settings(tmp_path / "config.db", **overrides))
    try:
        with pytest.raises(ConfigError, match=message):
            TeamsFrontend(core)
    finally:
        core.close()
