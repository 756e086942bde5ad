"""The Slack front end served on a real localhost port, a fake Web API, and signed requests."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from bot.outbox import Backoff
from bot.runtime import Core, build_core
from handlers.server import FRONTENDS, build_app
from handlers.slack.frontend import SlackFrontend
from tests.database import database_settings
from tests.fakes.slack_api import TEAM, FakeSlackAPI, Message, OpenedView

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"
SECURITY_CHANNEL = "CSECURITY1"
SECURITY_GROUP = "S0SECURITY"
HM = "UHIRING001"
HM2 = "UHIRING002"
SEC = "USECURE001"
GROUP_MEMBER = "UGROUP0001"
OUTSIDER = "UOUTSIDE01"

JANE = {
    "name": "Jane Doe",
    "email": "jane.doe@example.com",
    "phone": "+1 312 555 0100",
    "role": "Backend Engineer",
    "home_address": "123 Main St, Springfield, IL 62701",
    "shipping_address": "123 Main Street, Springfield, IL 62701",
}


@dataclass
class Reply:
    status: int
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


def option_of(button: dict[str, Any]) -> str | None:
    parts = str(button.get("value", "")).split("|")
    return parts[2] if len(parts) == 4 else None


def buttons(blocks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, element) of every button in the blocks, in order."""
    found = []
    for block in blocks:
        if block.get("type") == "actions":
            found += [(block.get("block_id", ""), e) for e in block["elements"]]
        accessory = block.get("accessory")
        if accessory and accessory.get("type") == "button":
            found.append((block.get("block_id", ""), accessory))
    return found


def find_button(
    blocks: list[dict[str, Any]], label: str | None = None, option: str | None = None
) -> tuple[str, dict[str, Any]]:
    for block_id, element in buttons(blocks):
        if label is not None and element["text"]["text"] == label:
            return block_id, element
        if option is not None and option_of(element) == option:
            return block_id, element
    raise AssertionError(f"no button {label or option!r} in {[e for _, e in buttons(blocks)]}")


def text_of(blocks: list[dict[str, Any]]) -> str:
    """Every visible text of the blocks, one per line."""
    lines = []
    for block in blocks:
        if "text" in block and isinstance(block["text"], dict):
            lines.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element.get("text"), str):
                lines.append(element["text"])
            elif isinstance(element.get("text"), dict):
                lines.append(element["text"]["text"])
        for fact in block.get("fields", []):
            lines.append(fact["text"])
    return "\n".join(lines)


def mrkdwn_of(blocks: list[dict[str, Any]]) -> str:
    """The mrkdwn texts of the blocks (where Slack would act on mentions and links)."""
    texts = []
    for block in blocks:
        for item in [block.get("text"), *block.get("elements", []), *block.get("fields", [])]:
            if isinstance(item, dict) and item.get("type") == "mrkdwn":
                texts.append(item["text"])
    return "\n".join(texts)


class SlackDriver:
    """Sends Slack's requests, signed with the real algorithm, to the running app."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, fake: FakeSlackAPI, app: SlackApp
    ) -> None:
        self.session = session
        self.url = url
        self.fake = fake
        self.app = app
        self.verifier = SignatureVerifier(SECRET)
        self._numbers = itertools.count(1)

    def signed_headers(
        self, body: str, content_type: str, timestamp: int | None = None
    ) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=stamp, body=body),
        }

    async def send(
        self,
        body: str,
        content_type: str = "application/x-www-form-urlencoded",
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
    ) -> Reply:
        sent = {**self.signed_headers(body, content_type, timestamp), **(headers or {})}
        async with self.session.post(self.url, data=body.encode(), headers=sent) as response:
            return Reply(response.status, await response.text())

    def _trigger(self) -> str:
        return f"{next(self._numbers)}.{int(time.time())}.abcdef0123456789"

    def _action_ts(self) -> str:
        return f"{time.time():.6f}{next(self._numbers)}"

    def command_body(self, text: str, user: str = HM) -> str:
        return urlencode(
            {
                "token": "legacy",
                "team_id": TEAM,
                "team_domain": "fake",
                "channel_id": "CGENERAL01",
                "channel_name": "general",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/verify",
                "text": text,
                "api_app_id": "A0VERIFY01",
                "response_url": "https://hooks.slack.invalid/commands/1",
                "trigger_id": self._trigger(),
            }
        )

    async def command(self, text: str, user: str = HM) -> Reply:
        return await self.send(self.command_body(text, user))

    def interaction(self, payload: dict[str, Any]) -> str:
        return urlencode({"payload": json.dumps(payload)})

    def click_payload(
        self,
        user: str,
        message: Message | None,
        block_id: str,
        element: dict[str, Any],
        action_ts: str | None = None,
    ) -> dict[str, Any]:
        action = {
            "type": "button",
            "block_id": block_id,
            "action_id": element["action_id"],
            "text": element["text"],
            "value": element.get("value"),
            "action_ts": action_ts or self._action_ts(),
        }
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0VERIFY01",
            "token": "legacy",
            "trigger_id": self._trigger(),
            "response_url": "https://hooks.slack.invalid/actions/1",
            "actions": [action],
        }
        if message is not None:
            payload["container"] = {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
            }
            payload["channel"] = {"id": message.channel, "name": "directmessage"}
            payload["message"] = {
                "type": "message",
                "ts": message.ts,
                "text": message.text,
                "blocks": message.blocks,
            }
        else:
            payload["container"] = {"type": "view", "view_id": "VHOME"}
        return payload

    async def click(
        self,
        message: Message,
        user: str = HM,
        label: str | None = None,
        option: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Press a button of a message the bot sent, as Slack would report it."""
        block_id, element = find_button(message.blocks, label, option)
        payload = self.click_payload(user, message, block_id, element)
        return await self.send(self.interaction(payload), headers=headers)

    def submission(
        self, opened: OpenedView, values: dict[str, str | None], user: str = HM
    ) -> dict[str, Any]:
        state: dict[str, dict[str, Any]] = {}
        for block in opened.view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            value = values.get(block["block_id"])
            if element["type"] == "static_select":
                chosen = value or element.get("initial_option", {}).get("value")
                option = next(o for o in element["options"] if o["value"] == chosen)
                entry = {"type": "static_select", "selected_option": option}
            else:
                entry = {"type": element["type"], "value": value}
            state[block["block_id"]] = {element["action_id"]: entry}
        return {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0VERIFY01",
            "token": "legacy",
            "trigger_id": self._trigger(),
            "view": {
                "id": opened.id,
                "team_id": TEAM,
                "type": "modal",
                "callback_id": opened.view["callback_id"],
                "private_metadata": opened.view.get("private_metadata", ""),
                "blocks": opened.view["blocks"],
                "state": {"values": state},
                "hash": "1700000000.abcdef",
                "title": opened.view["title"],
            },
        }

    async def submit(
        self, opened: OpenedView, values: dict[str, str | None], user: str = HM
    ) -> Reply:
        """Submit a modal the bot opened, with these values typed in."""
        return await self.send(self.interaction(self.submission(opened, values, user)))

    async def event(self, event: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": TEAM,
                "api_app_id": "A0VERIFY01",
                "event": event,
                "type": "event_callback",
                "event_id": f"Ev{next(self._numbers):08d}",
                "event_time": int(time.time()),
            }
        )
        return await self.send(body, "application/json", headers)

    async def home_opened(self, user: str) -> Reply:
        event = {
            "type": "app_home_opened",
            "user": user,
            "channel": self.fake.dm_channel(user),
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        return await self.event(event)

    # waiting for the work done after the ack

    async def settle(self) -> None:
        """Wait for the jobs and background work after the acks, and deliver the outbox."""
        await self.app.jobs_done()
        assert await self.app.frontend.background.drain(timeout=10), "background work left"
        await self.app.core.worker.run_once()
        await self.app.jobs_done()
        assert await self.app.frontend.background.drain(timeout=10), "background work left"

    # whole steps

    def last_view(self, callback_id: str) -> OpenedView:
        views = reversed(self.fake.state.views)
        return next(view for view in views if view.view["callback_id"] == callback_id)

    def dm(self, user: str = HM) -> list[Message]:
        return self.fake.messages_in(self.fake.dm_channel(user))

    def last_dm(self, user: str = HM) -> Message:
        return self.dm(user)[-1]

    def last_step(self, user: str = HM) -> Message:
        """The latest DM with option buttons (a decision's DM may have come after it)."""
        return next(
            m for m in reversed(self.dm(user)) if any(option_of(e) for _, e in buttons(m.blocks))
        )

    async def start(self, details: dict[str, str] | None = None, user: str = HM) -> str:
        """/verify start and the modal submitted; the verification id."""
        details = details or JANE
        reply = await self.command(f"start {details['name']}", user)
        assert reply.status == 200, reply.text
        await self.settle()
        submitted = await self.submit(self.last_view("vb_start"), details, user)
        assert submitted.status == 200, submitted.text
        assert submitted.text == "", submitted.text
        await self.settle()
        return option_value(self.last_dm(user))

    async def answer(self, option: str, note: str | None = None, user: str = HM) -> Message:
        """Press `option` on the latest step message; fill the note modal when it opens."""
        message = self.last_step(user)
        views_before = len(self.fake.state.views)
        reply = await self.click(message, user, option=option)
        assert reply.status == 200, reply.text
        await self.settle()
        if len(self.fake.state.views) > views_before:
            assert note is not None, f"{option} asks for a note"
            submitted = await self.submit(self.fake.state.views[-1], {"note": note}, user)
            assert submitted.status == 200, submitted.text
            await self.settle()
        return message


def option_value(message: Message) -> str:
    """The verification id carried by the first option button of a step message."""
    _, element = buttons(message.blocks)[0]
    return str(element["value"]).split("|")[0]


@dataclass
class SlackApp:
    core: Core
    frontend: SlackFrontend
    url: str
    runner: web.AppRunner
    closed: bool = False

    async def jobs_done(self) -> None:
        """Wait for the queued jobs, their retries within a second included."""
        assert await self.core.jobs.drain(timeout=10, horizon=1.0), "jobs left after 10 s"


async def serve(settings: Settings) -> SlackApp:
    core = build_core(settings, backoff=Backoff(base=0.01, cap=0.05, seed=1))
    app = build_app(core)
    frontend = next(f for f in app[FRONTENDS] if f.name == "slack")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return SlackApp(core, frontend, f"http://127.0.0.1:{port}/slack/events", runner)


async def shut(app: SlackApp) -> None:
    """Stop serving (the clean-up drains the background work) and close the database."""
    if not app.closed:
        app.closed = True
        await app.runner.cleanup()
        app.core.close()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackAPI]:
    fake = FakeSlackAPI()
    fake.usergroups[SECURITY_GROUP] = [GROUP_MEMBER]
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def slack_settings(database: str, fake_slack: FakeSlackAPI) -> Settings:
    return Settings(
        **database_settings(database),
        playbooks_dir=str(REPO_ROOT / "playbooks"),
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake_slack.url,
        slack_security_channel=SECURITY_CHANNEL,
        slack_security_usergroup=SECURITY_GROUP,
        slack_hiring_managers=frozenset({HM, HM2}),
        slack_security_users=frozenset({SEC}),
        teams_enabled=False,
        notice_interval=0,
    )


@pytest.fixture
async def make_app(slack_settings: Settings) -> AsyncIterator[Callable[..., Awaitable[SlackApp]]]:
    """Serve the app (again, on the same database, for a restart); shut at the end."""
    served: list[SlackApp] = []

    async def make(**overrides: Any) -> SlackApp:
        app = await serve(slack_settings.model_copy(update=overrides))
        served.append(app)
        return app

    yield make
    for app in served:
        await shut(app)


@pytest.fixture
async def slack_app(slack_settings: Settings) -> AsyncIterator[SlackApp]:
    app = await serve(slack_settings)
    yield app
    await shut(app)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def slack(
    http: aiohttp.ClientSession, slack_app: SlackApp, fake_slack: FakeSlackAPI
) -> SlackDriver:
    return SlackDriver(http, slack_app.url, fake_slack, slack_app)
