"""POST /api/messages at the HTTP level: malformed activities and authentication."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import structlog
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bot.runtime import build_core
from handlers.server import ConfigError
from handlers.teams.frontend import (
    LOCAL_ONLY,
    MAX_ACTIVITY_BYTES,
    TEAMS_ONLY,
    BotConfig,
    TeamsFrontend,
    is_loopback,
)
from tests.fakes.bot_connector import FakeConnector
from tests.teams.harness import BOT_ID, HM, Chat, TeamsApp, TeamsUser, teams_settings

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


class KeysEndpoint:
    """Microsoft's OpenID metadata and signing keys, as the SDK fetches them (requests.get)."""

    CONFIG = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    KEYS = "https://login.botframework.invalid/v1/keys"

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key = key
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        self.keys = [{**jwk, "kid": "known-key", "endorsements": ["msteams"]}]
        self.down = False
        self.fetched: list[str] = []

    def bearer(self, service_url: str) -> str:
        """An Authorization header Teams would send: signed with the known key, for the bot."""
        claims = {
            **BOT_FRAMEWORK,
            "serviceurl": service_url,
            "exp": int(time.time()) + 3600,
        }
        signed = jwt.encode(
            claims, self.private_key, algorithm="RS256", headers={"kid": "known-key"}
        )
        return f"Bearer {signed}"

    def get(self, url: str, *args: object, **kwargs: object) -> requests.Response:
        self.fetched.append(url)
        if self.down:
            raise requests.ConnectionError("login.botframework.com unreachable")
        response = requests.Response()
        response.status_code = 200
        body = {"jwks_uri": self.KEYS} if url == self.CONFIG else {"keys": self.keys}
        response._content = json.dumps(body).encode()
        return response


@pytest.fixture
def keys_endpoint(monkeypatch: pytest.MonkeyPatch) -> KeysEndpoint:
    endpoint = KeysEndpoint()
    monkeypatch.setattr(JwtTokenExtractor, "metadataCache", {})
    monkeypatch.setattr(
        "botframework.connector.auth.jwt_token_extractor.requests.get", endpoint.get
    )
    return endpoint


def token(claims: dict[str, str], kid: str | None = None) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, "k" * 32, algorithm="HS256", headers=headers)


BOT_FRAMEWORK = {"iss": "https://api.botframework.com", "aud": APP_ID}


@pytest.mark.parametrize(
    ("claims", "kid"),
    [({"aud": APP_ID}, None), (BOT_FRAMEWORK, "unknown-key"), (BOT_FRAMEWORK, "known-key")],
    ids=["no-issuer", "unknown-signing-key", "algorithm-not-allowed"],
)
async def test_tokens_the_sdk_rejects_with_any_error_are_a_401_not_a_500(
    connector: FakeConnector,
    start_app: Callable[..., Awaitable[TeamsApp]],
    keys_endpoint: KeysEndpoint,
    claims: dict[str, str],
    kid: str | None,
) -> None:
    app = await start_app(microsoft_app_id=APP_ID, microsoft_app_password="not-used")
    activity = Chat(app, connector, HM, "a:hm-personal-chat").activity("start Jane Doe")
    response = await app.post(activity, headers={"Authorization": f"Bearer {token(claims, kid)}"})
    assert response.status == 401
    assert "Traceback" not in await response.text()
    assert nothing_recorded(app, connector)


async def test_when_the_signing_keys_cannot_be_fetched_it_is_a_503(
    connector: FakeConnector,
    start_app: Callable[..., Awaitable[TeamsApp]],
    keys_endpoint: KeysEndpoint,
) -> None:
    keys_endpoint.down = True
    app = await start_app(microsoft_app_id=APP_ID, microsoft_app_password="not-used")
    activity = Chat(app, connector, HM, "a:hm-personal-chat").activity("start Jane Doe")
    bearer = f"Bearer {token(BOT_FRAMEWORK, 'known-key')}"
    response = await app.post(activity, headers={"Authorization": bearer})
    assert response.status == 503
    assert keys_endpoint.fetched == [KeysEndpoint.CONFIG]
    assert nothing_recorded(app, connector)


@pytest.mark.parametrize("channel", ["webchat", "directline", "emulator"])
async def test_with_an_app_id_only_the_teams_channel_is_served(
    connector: FakeConnector,
    start_app: Callable[..., Awaitable[TeamsApp]],
    keys_endpoint: KeysEndpoint,
    channel: str,
) -> None:
    """Web Chat and Direct Line let their client choose `from.id`: it could name anyone."""
    app = await start_app(microsoft_app_id=APP_ID, microsoft_app_password="not-used")
    impostor = TeamsUser("aad-sec-1", "Sam Security")
    activity = Chat(app, connector, impostor, "a:webchat").activity("list", channelId=channel)
    del activity["from"]["aadObjectId"]
    activity["from"]["id"] = impostor.aad_id
    bearer = keys_endpoint.bearer(activity["serviceUrl"])
    response = await app.post(activity, headers={"Authorization": bearer})
    assert response.status == 403
    assert json.loads(await response.text()) == {"error": TEAMS_ONLY}
    assert nothing_recorded(app, connector)


@pytest.mark.parametrize(
    "relayed", [{"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}]
)
async def test_without_an_app_id_a_request_relayed_by_a_proxy_is_refused(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp, relayed: dict[str, str]
) -> None:
    """Unauthenticated, anyone could claim any user id: only this machine may post."""
    response = await teams_app.post(hm_chat.activity("start Jane Doe"), headers=relayed)
    assert response.status == 403
    assert json.loads(await response.text()) == {"error": LOCAL_ONLY}
    assert nothing_recorded(teams_app, connector)


async def test_without_an_app_id_replies_are_never_posted_to_another_machine(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    for service_url in ("https://smba.trafficmanager.net/amer/", "http://169.254.169.254/"):
        activity = {**hm_chat.activity("help"), "serviceUrl": service_url}
        response = await teams_app.post(activity)
        assert response.status == 403, service_url
    assert nothing_recorded(teams_app, connector)


def test_loopback_hosts() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LocalHost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.1", "example.com", "", None, "127.0.0.1.nip.io"):
        assert not is_loopback(host), host


async def test_expect_replies_is_refused_so_replies_never_go_back_in_the_response(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    activity = {**hm_chat.activity("list"), "deliveryMode": "expectReplies"}
    response = await teams_app.post(activity)
    assert response.status == 400
    assert "expectReplies" in json.loads(await response.text())["error"]
    assert nothing_recorded(teams_app, connector)


async def test_an_activity_over_the_size_bound_is_a_413(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp
) -> None:
    padded = {**hm_chat.activity("help"), "channelData": {"pad": "x" * MAX_ACTIVITY_BYTES}}
    response = await teams_app.post(padded)
    assert response.status == 413
    too_long = hm_chat.activity("x" * 28001)
    assert (await teams_app.post(too_long)).status == 400
    assert nothing_recorded(teams_app, connector)


@pytest.mark.parametrize("name", ["adaptiveCard/action", "task/fetch", "signin/verifyState"])
async def test_an_invoke_is_a_400_not_a_500(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp, name: str
) -> None:
    activity = hm_chat.activity(kind="invoke", name=name, value={"action": {"type": "x"}})
    response = await teams_app.post(activity)
    assert response.status == 400
    assert "invoke" in json.loads(await response.text())["error"]
    assert connector.requests == []


async def test_a_mention_of_the_wrong_shape_is_ignored_not_an_error(
    hm_chat: Chat, connector: FakeConnector
) -> None:
    activity = hm_chat.activity("help")
    activity["entities"] = [
        {"type": "mention", "text": 5, "mentioned": "verifybot"},
        {"type": "mention", "text": None, "mentioned": {"id": BOT_ID}},
    ]
    [reply] = await hm_chat.send(activity)
    assert reply.text.startswith("verifybot checks a candidate")


def test_the_app_password_is_not_in_the_configurations_repr(tmp_path: Path) -> None:
    settings = teams_settings(
        tmp_path / "repr.db", microsoft_app_id=APP_ID, microsoft_app_password="s3cr3t-Pa55"
    )
    config = BotConfig.from_settings(settings)
    assert config.APP_PASSWORD == "s3cr3t-Pa55"
    assert "s3cr3t-Pa55" not in repr(config)


DEEP = "[" * 10_000 + "]" * 10_000


def deeply_nested(activity: dict[str, Any]) -> bytes:
    """The activity as raw JSON, with a 10,000-deep array as its value."""
    return json.dumps({**activity, "value": "__deep__"}).replace('"__deep__"', DEEP).encode()


def errors_logged(logs: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> list[Any]:
    structured = [entry for entry in logs if entry["log_level"] in ("error", "critical")]
    return structured + [record for record in caplog.records if record.levelname == "ERROR"]


async def test_json_nested_too_deep_is_a_400_without_an_error_and_records_nothing(
    hm_chat: Chat, connector: FakeConnector, teams_app: TeamsApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("ERROR")
    json_type = {"Content-Type": "application/json"}
    with structlog.testing.capture_logs() as logs:
        for body in (deeply_nested(hm_chat.activity("help")), DEEP.encode()):
            response = await teams_app.post(data=body, headers=json_type)
            assert response.status == 400
            error = json.loads(await response.text())["error"]
            assert error == "the body nests more than 64 levels deep"
    assert errors_logged(logs, caplog) == []
    assert nothing_recorded(teams_app, connector)


async def test_with_an_app_id_the_token_is_checked_before_the_body_is_parsed(
    connector: FakeConnector,
    start_app: Callable[..., Awaitable[TeamsApp]],
    keys_endpoint: KeysEndpoint,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = await start_app(microsoft_app_id=APP_ID, microsoft_app_password="not-used")
    activity = Chat(app, connector, HM, "a:hm-personal-chat").activity("help")
    body = deeply_nested(activity)
    json_type = {"Content-Type": "application/json"}
    caplog.set_level("ERROR")
    with structlog.testing.capture_logs() as logs:
        for authorization in ({}, {"Authorization": "Bearer a.b.c"}):
            response = await app.post(data=body, headers={**json_type, **authorization})
            assert response.status == 401, authorization
        signed = {"Authorization": keys_endpoint.bearer(activity["serviceUrl"])}
        response = await app.post(data=body, headers={**json_type, **signed})
        assert response.status == 400
    assert errors_logged(logs, caplog) == []
    assert nothing_recorded(app, connector)


async def test_without_teams_configured_api_messages_is_not_served(
    connector: FakeConnector, start_app: Callable[..., Awaitable[TeamsApp]]
) -> None:
    """No MicrosoftAppId and no VERIFYBOT_TEAMS_EMULATOR: a Slack-only install has no Teams."""
    app = await start_app(teams_emulator=False)
    response = await app.post(Chat(app, connector, HM, "a:hm-personal-chat").activity("help"))
    assert response.status == 404
    health = await (await app.client.get("/healthz")).json()
    assert health["frontends"] == []
    assert app.core.service.security_targets == ()
    assert nothing_recorded(app, connector)


@pytest.mark.parametrize(
    ("trusted", "headers", "allowed"),
    [
        (None, {"X-Forwarded-For": "127.0.0.1"}, False),
        ("127.0.0.1", {"X-Forwarded-For": "127.0.0.1"}, True),
        ("127.0.0.1", {"Forwarded": 'for="[::1]:4711";proto=http'}, True),
        ("127.0.0.1", {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}, False),
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, False),
        ("127.0.0.1", {"X-Forwarded-For": "127.0.0.1", "Forwarded": "for=203.0.113.9"}, False),
        ("127.0.0.1", {"X-Forwarded-For": "unknown"}, False),
        ("127.0.0.1", {"X-Real-IP": "127.0.0.1"}, False),
        ("127.0.0.1", {}, False),
        ("10.0.0.1", {"X-Forwarded-For": "127.0.0.1"}, False),
    ],
    ids=[
        "no-trusted-proxy",
        "xff-loopback",
        "forwarded-loopback",
        "xff-last-hop-remote",
        "forwarded-remote",
        "headers-disagree",
        "xff-not-an-address",
        "x-real-ip-only",
        "no-header-from-the-proxy",
        "header-from-another-peer",
    ],
)
async def test_a_proxy_header_counts_only_from_the_trusted_proxy(
    connector: FakeConnector,
    start_app: Callable[..., Awaitable[TeamsApp]],
    trusted: str | None,
    headers: dict[str, str],
    allowed: bool,
) -> None:
    """Emulator mode behind a proxy on this machine: the client the proxy names must be local."""
    app = await start_app(trusted_proxy=trusted)
    response = await app.post(Chat(app, connector, HM, "a:hm").activity("help"), headers=headers)
    if allowed:
        assert response.status in (200, 201)
        await connector.wait_for(lambda: len(connector.posts("a:hm")) == 1)
    else:
        assert response.status == 403
        assert json.loads(await response.text()) == {"error": LOCAL_ONLY}
        assert nothing_recorded(app, connector)
