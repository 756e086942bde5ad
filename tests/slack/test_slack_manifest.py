"""app_manifest.yml: valid, least scopes for the Web API methods called, every entry handled."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from handlers.slack import manifest as manifest_module
from handlers.slack.manifest import METHOD_SCOPES, PLACEHOLDER, render_manifest
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import REPO_ROOT, SEC, SECURITY_CHANNEL, SlackDriver
from tests.slack.test_slack_workflow import function_executed

CLIENT_CALL = re.compile(r"\bclient\.([a-z]+(?:_[A-Za-z]+)+)\(")


def manifest(url: str | None = None) -> dict[str, Any]:
    return yaml.safe_load(render_manifest(url))


def scanned_methods() -> set[str]:
    """Web API methods called as `client.<method>(` anywhere in handlers/slack."""
    found = set()
    for path in Path(REPO_ROOT, "handlers", "slack").rglob("*.py"):
        for name in CLIENT_CALL.findall(path.read_text(encoding="utf-8")):
            found.add(name.replace("_", "."))
    return found


def test_the_manifest_is_a_complete_slack_manifest() -> None:
    data = manifest()
    assert data["display_information"]["name"] == "verifybot"
    assert data["features"]["bot_user"]["display_name"] == "verifybot"
    home = data["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    assert home["messages_tab_enabled"] is True
    [command] = data["features"]["slash_commands"]
    assert command["command"] == "/verify"
    assert command["description"] and command["usage_hint"]
    assert command["url"] == f"{PLACEHOLDER}/slack/events"
    settings = data["settings"]
    assert settings["interactivity"] == {
        "is_enabled": True,
        "request_url": f"{PLACEHOLDER}/slack/events",
    }
    assert settings["event_subscriptions"]["request_url"] == f"{PLACEHOLDER}/slack/events"
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened", "function_executed"]
    assert settings["function_runtime"] == "remote" and settings["org_deploy_enabled"] is True
    step = data["functions"]["verify_candidate"]
    assert set(step["input_parameters"]["properties"]) == {
        "candidate_name",
        "candidate_email",
        "role",
        "home_address",
        "shipping_address",
        "hiring_manager",
    }
    assert "shipping_address" not in step["input_parameters"]["required"]
    assert step["input_parameters"]["properties"]["hiring_manager"]["type"] == (
        "slack#/types/user_id"
    )
    assert {name: p["type"] for name, p in step["output_parameters"]["properties"].items()} == {
        "verification_id": "string",
        "outcome": "string",
        "cleared": "boolean",
    }
    assert settings["socket_mode_enabled"] is False


def test_render_fills_in_the_request_urls() -> None:
    text = render_manifest("https://bot.example.org/")
    assert PLACEHOLDER not in text
    data = yaml.safe_load(text)
    urls = [
        data["features"]["slash_commands"][0]["url"],
        data["settings"]["interactivity"]["request_url"],
        data["settings"]["event_subscriptions"]["request_url"],
    ]
    assert urls == ["https://bot.example.org/slack/events"] * 3
    assert "https://h.example/prefix/slack/events" in render_manifest("https://h.example/prefix")


def test_a_missing_manifest_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(manifest_module, "SEARCH_PATH", (tmp_path / "app_manifest.yml",))
    with pytest.raises(ValueError, match=r"app_manifest\.yml not found"):
        render_manifest("https://bot.example.org")


@pytest.mark.parametrize(
    "url",
    [
        "http://bot.example.org",
        "bot.example.org",
        "https://",
        "https://a b.org",
        "https://x.org/?q=1",
    ],
)
def test_render_refuses_urls_slack_would_not_take(url: str) -> None:
    with pytest.raises(ValueError, match="--url"):
        render_manifest(url)


async def test_every_declared_command_and_event_has_a_handler(slack: SlackDriver) -> None:
    data = manifest()
    for command in data["features"]["slash_commands"]:
        body = slack.command_body("help").replace(
            "%2Fverify", command["command"].replace("/", "%2F")
        )
        reply = await slack.send(body)
        assert reply.status == 200, command
    for event_type in data["settings"]["event_subscriptions"]["bot_events"]:
        if event_type == "function_executed":
            continue
        reply = await slack.event({"type": event_type, "user": "UHIRING001", "tab": "home"})
        assert reply.status == 200, event_type
    for callback_id in data["functions"]:
        reply = await slack.event(function_executed(callback_id, "Fx0MANIFEST1", {}))
        assert reply.status == 200, callback_id
    await slack.settle()


async def test_the_declared_scopes_are_the_least_the_code_needs(
    slack: SlackDriver, fake_slack: FakeSlackAPI
) -> None:
    """What the code calls (read from its source) and what a session calls (a verification with
    a note, an escalation, a decision and the Home tab), against the manifest's scopes."""
    await slack.start()
    await slack.answer("mismatch", note="Different date of birth")
    await slack.settle()
    [escalation] = fake_slack.messages_in(SECURITY_CHANNEL)
    await slack.click(escalation, SEC, label="Acknowledge")
    await slack.home_opened(SEC)
    await slack.settle()
    session = {call.method for call in fake_slack.calls}
    declared = set(manifest()["oauth_config"]["scopes"]["bot"])
    called = scanned_methods() | session
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add these Web API methods and their scopes to METHOD_SCOPES: {unknown}"
    needed = {METHOD_SCOPES[method] for method in called} - {None}
    needed.add("commands")
    assert declared == needed
    assert {"chat.postMessage", "chat.update", "views.open", "views.publish"} <= session
