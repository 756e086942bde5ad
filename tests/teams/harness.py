"""The Teams side of an end-to-end test: users posting real activities to the served app."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.outbox import Backoff
from bot.runtime import Core, build_core
from handlers.server import build_app
from tests.database import database_settings
from tests.fakes.bot_connector import Call, FakeConnector

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO_ROOT / "playbooks"
BOT_ID = "28:verifybot-bot"
TENANT = "72f988bf-0000-4000-8000-000000000001"
SECURITY_CHANNEL = "19:security@thread.tacv2"
_activity_ids = itertools.count(1)


@dataclass(frozen=True)
class TeamsUser:
    aad_id: str
    name: str

    @property
    def channel_account(self) -> dict[str, str]:
        return {"id": f"29:{self.aad_id}", "name": self.name, "aadObjectId": self.aad_id}


HM = TeamsUser("aad-hm-1", "Hannah Manager")
OTHER_HM = TeamsUser("aad-hm-2", "Oscar Other")
SECURITY = TeamsUser("aad-sec-1", "Sam Security")


def teams_settings(db: Path | str, **overrides: Any) -> Settings:
    """Teams on in Emulator mode (no app id), Slack off; nothing read from the environment."""
    values: dict[str, Any] = {
        **database_settings(db),
        "playbooks_dir": str(PLAYBOOKS),
        "teams_hiring_managers": frozenset({HM.aad_id, OTHER_HM.aad_id}),
        "teams_security_users": frozenset({SECURITY.aad_id}),
        "teams_enabled": True,
        "notice_interval": 0,
        "teams_emulator": True,
        "microsoft_app_id": "",
        "microsoft_app_password": "",
        "microsoft_app_type": "MultiTenant",
        "microsoft_app_tenant_id": "",
        "teams_security_conversation_id": None,
        "teams_service_url": None,
        "slack_bot_token": None,
        "slack_signing_secret": None,
        "slack_app_token": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class TeamsApp:
    """A core and `build_app(core)` served on a real 127.0.0.1 port."""

    settings: Settings
    core: Core = field(init=False)
    client: TestClient = field(init=False)
    stopped: bool = False
    transcript: list[str] = field(default_factory=list)

    async def start(self) -> TeamsApp:
        self.core = build_core(self.settings, backoff=Backoff(base=0.01, cap=0.05, seed=3))
        server = TestServer(build_app(self.core), host="127.0.0.1")
        self.client = TestClient(server)
        await self.client.start_server()
        return self

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.client.close()
            self.core.close()

    async def post(
        self, body: Any = None, *, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> ClientResponse:
        if data is not None:
            return await self.client.post("/api/messages", data=data, headers=headers or {})
        return await self.client.post("/api/messages", json=body, headers=headers or {})

    async def deliver_outbox(self) -> int:
        return await self.core.worker.run_once()


@dataclass
class Chat:
    """One conversation with the bot, posted the way Teams posts it."""

    app: TeamsApp
    connector: FakeConnector
    user: TeamsUser
    conversation_id: str
    conversation_type: str = "personal"

    def activity(
        self,
        text: str | None = None,
        *,
        value: Any = None,
        reply_to_id: str | None = None,
        kind: str = "message",
        **extra: Any,
    ) -> dict[str, Any]:
        activity: dict[str, Any] = {
            "type": kind,
            "id": f"activity-{next(_activity_ids)}",
            "timestamp": datetime.now(UTC).isoformat(),
            "serviceUrl": self.connector.url,
            "channelId": "msteams",
            "from": self.user.channel_account,
            "conversation": {
                "id": self.conversation_id,
                "conversationType": self.conversation_type,
                "tenantId": TENANT,
                **({"isGroup": True} if self.conversation_type != "personal" else {}),
            },
            "recipient": {"id": BOT_ID, "name": "verifybot"},
            "locale": "en-US",
            "channelData": {"tenant": {"id": TENANT}},
        }
        if text is not None:
            activity["text"] = text
            activity["textFormat"] = "plain"
        if value is not None:
            activity["value"] = value
        if reply_to_id is not None:
            activity["replyToId"] = reply_to_id
        if self.conversation_type != "personal" and text is not None:
            activity["text"] = f"<at>verifybot</at> {text}"
            activity["entities"] = [
                {
                    "type": "mention",
                    "text": "<at>verifybot</at>",
                    "mentioned": {"id": BOT_ID, "name": "verifybot"},
                }
            ]
        activity.update(extra)
        return activity

    async def send(self, activity: dict[str, Any], said: str | None = None) -> list[Call]:
        """Post an activity; the bot's calls to this conversation while handling it.

        Calls to other conversations (the outbox worker's, running in the background) are
        left out.
        """
        before = len(self.connector.calls)
        response = await self.app.post(activity)
        assert response.status in (200, 201), await response.text()
        calls = [
            c for c in self.connector.calls[before:] if c.conversation_id == self.conversation_id
        ]
        self.app.transcript.append(f"{self.user.name}: {said or activity['type']}")
        for call in calls:
            verb = "bot" if call.method == "POST" else "bot updates the card"
            self.app.transcript.append(f"  {verb}: " + call.text.replace("\n", "\n    "))
        return calls

    async def say(self, text: str) -> list[Call]:
        return await self.send(self.activity(text), said=text)

    async def click(self, card_call: Call, button: str, **inputs: str) -> list[Call]:
        """Press the button whose title starts with `button` on a posted card.

        Like the Teams client, the submitted value is the button's data plus every input of the
        card: its initial value unless `inputs` fills it in.
        """
        card = card_call.card
        assert card is not None, card_call.text
        titles = [action["title"] for action in card.get("actions", [])]
        action = next((a for a in card.get("actions", []) if a["title"].startswith(button)), None)
        assert action is not None, f"no button {button!r} among {titles}"
        values = {
            element["id"]: element.get("value", "")
            for element in card["body"]
            if element["type"].startswith("Input.")
        }
        value = {**action["data"], **values, **inputs}
        filled = "".join(f", {name}={text!r}" for name, text in inputs.items())
        said = f"[clicks {action['title']!r}{filled}]"
        return await self.send(self.activity(value=value, reply_to_id=card_call.id), said)

    def in_thread(self, root_id: str) -> Chat:
        """The same channel, in the thread under the post `root_id`."""
        return Chat(
            self.app,
            self.connector,
            self.user,
            f"{self.conversation_id};messageid={root_id}",
            self.conversation_type,
        )

    def as_user(self, user: TeamsUser) -> Chat:
        return Chat(self.app, self.connector, user, self.conversation_id, self.conversation_type)


def texts(calls: list[Call]) -> list[str]:
    return [call.text for call in calls]
