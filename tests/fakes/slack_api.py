"""A fake Slack Web API on 127.0.0.1: records every call, keeps messages, fails on demand."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = "UVERIFYBOT"
BOT_ID = "BVERIFYBOT"
TEAM = "T0000TEAM"
JSON_FIELDS = ("blocks", "view", "attachments", "metadata")


@dataclass
class Call:
    """One request to the fake: arguments (form, JSON or query), headers, and what it answered
    (status 0 and not ok while it is still waiting for its answer)."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int = 0
    ok: bool = False


@dataclass
class Failure:
    status: int
    error: str
    retry_after: str | None = None
    match: dict[str, Any] = field(default_factory=dict)

    def applies(self, args: dict[str, Any]) -> bool:
        return all(args.get(key) == value for key, value in self.match.items())


@dataclass
class Message:
    """A message as it stands now in the fake workspace (chat.update changes it)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    updates: int = 0


@dataclass
class OpenedView:
    id: str
    trigger_id: str | None
    view: dict[str, Any]


@dataclass
class FakeState:
    calls: list[Call] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    views: list[OpenedView] = field(default_factory=list)
    published: dict[str, dict[str, Any]] = field(default_factory=dict)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)


class FakeSlackAPI:
    """Start with `await fake.start()`; point SLACK_API_URL at `fake.url`."""

    def __init__(self) -> None:
        self.state = FakeState()
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._delays: dict[str, float] = {}
        self._numbers = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0
        self.sockets: list[web.WebSocketResponse] = []
        self._socket_replies: dict[str, asyncio.Future[dict[str, Any]]] = {}

    # lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._listen()
        return self.url

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]

    async def go_down(self) -> None:
        """Stop listening: calls fail with a connection error until `come_back()`."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None and self._runner.server is not None:
            for connection in self._runner.server.connections:
                connection.force_close()

    async def come_back(self) -> None:
        await self._listen()

    async def stop(self) -> None:
        for socket in list(self.sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # programming

    def fail_next(
        self,
        method: str,
        status: int = 500,
        retry_after: float | None = None,
        error: str | None = None,
        times: int = 1,
        **match: Any,
    ) -> None:
        """The next `times` calls of `method` (with arguments `match`) fail with `status`.

        429 comes with Retry-After; a 200 answers `{"ok": false, "error": error}`.
        """
        default = {429: "ratelimited", 500: "internal_error"}.get(status, "fatal_error")
        after = None if retry_after is None else str(int(retry_after))
        for _ in range(times):
            self._failures[method].append(Failure(status, error or default, after, match))

    def clear_failures(self) -> None:
        self._failures.clear()

    def delay(self, method: str, seconds: float) -> None:
        """Answer `method` only after `seconds` (a slow Slack)."""
        self._delays[method] = seconds

    # reading

    @property
    def calls(self) -> list[Call]:
        return self.state.calls

    def calls_to(self, method: str, ok: bool | None = None, **args: Any) -> list[Call]:
        """Calls of `method` whose arguments include `args`; only succeeded ones if ok=True."""
        return [
            call
            for call in self.state.calls
            if call.method == method
            and (ok is None or (call.ok and call.status == 200) == ok)
            and all(call.args.get(key) == value for key, value in args.items())
        ]

    def methods(self) -> set[str]:
        return {call.method for call in self.state.calls}

    def messages_in(self, channel: str) -> list[Message]:
        return [message for message in self.state.messages if message.channel == channel]

    def message(self, channel: str, ts: str) -> Message:
        return next(m for m in self.state.messages if m.channel == channel and m.ts == ts)

    def dm_channel(self, user: str) -> str:
        return "D" + user[1:]

    async def wait_for(
        self, method: str, count: int = 1, timeout: float = 5.0, **args: Any
    ) -> list[Call]:
        """Wait until `count` successful calls of `method` matching `args` were made."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(found := self.calls_to(method, ok=True, **args)) < count:
            if loop.time() > deadline:
                raise AssertionError(f"{method} {args}: {len(found)} calls, expected {count}")
            await asyncio.sleep(0.005)
        return found

    # serving

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._arguments(request)
        call = Call(method, args, dict(request.headers), asyncio.get_running_loop().time())
        self.state.calls.append(call)
        if method in self._delays:
            await asyncio.sleep(self._delays[method])
        if not request.headers.get("Authorization", "").startswith(("Bearer xox", "Bearer xapp")):
            return self._answer(call, {"ok": False, "error": "not_authed"})
        failure = self._failure(method, args)
        if failure is not None:
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
            body = {"ok": False, "error": failure.error}
            return self._answer(call, body, failure.status, headers)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return self._answer(call, {"ok": False, "error": "unknown_method"}, 404)
        return self._answer(call, handler(args))

    @staticmethod
    def _answer(
        call: Call, body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        call.status, call.ok = status, bool(body.get("ok"))
        return web.json_response(body, status=status, headers=headers)

    def _failure(self, method: str, args: dict[str, Any]) -> Failure | None:
        queue = self._failures.get(method, deque())
        failure = next((f for f in queue if f.applies(args)), None)
        if failure is not None:
            queue.remove(failure)
        return failure

    @staticmethod
    async def _arguments(request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        elif request.can_read_body:
            args.update(await request.post())
        for name in JSON_FIELDS:
            if isinstance(args.get(name), str):
                args[name] = json.loads(args[name])
        return args

    def _ts(self) -> str:
        number = next(self._numbers)
        return f"{1_700_000_000 + number}.{number:06d}"

    def _channel(self, channel: str) -> str:
        return self.dm_channel(channel) if channel[:1] in ("U", "W") else channel

    # Socket Mode

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self.sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": len(self.sockets)})
        async for message in socket:
            reply = json.loads(message.data)
            waiting = self._socket_replies.pop(reply.get("envelope_id", ""), None)
            if waiting is not None and not waiting.done():
                waiting.set_result(reply)
        self.sockets.remove(socket)
        return socket

    async def push(
        self, kind: str, payload: dict[str, Any], timeout: float = 5.0
    ) -> dict[str, Any]:
        """Send an envelope to the connected app over Socket Mode; its acknowledgement."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.sockets:
            if loop.time() > deadline:
                raise AssertionError("no Socket Mode connection")
            await asyncio.sleep(0.01)
        envelope_id = f"env-{next(self._numbers)}"
        reply = loop.create_future()
        self._socket_replies[envelope_id] = reply
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": True,
        }
        await self.sockets[-1].send_json(envelope)
        return await asyncio.wait_for(reply, timeout)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "verifybot",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
        }

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        channel = self._channel(args["channel"])
        message = Message(
            channel=channel,
            ts=self._ts(),
            text=args.get("text", ""),
            blocks=args.get("blocks") or [],
            thread_ts=args.get("thread_ts"),
        )
        self.state.messages.append(message)
        shown = {"text": message.text, "blocks": message.blocks, "ts": message.ts}
        return {"ok": True, "channel": channel, "ts": message.ts, "message": shown}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel"), args.get("ts")
        found = [m for m in self.state.messages if m.channel == channel and m.ts == ts]
        if not found:
            return {"ok": False, "error": "message_not_found"}
        found[0].text = args.get("text", found[0].text)
        found[0].blocks = args.get("blocks") or []
        found[0].updates += 1
        return {"ok": True, "channel": channel, "ts": ts, "text": found[0].text}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return {"ok": False, "error": "channel_not_found"}
        self.state.ephemeral.append(args)
        return {"ok": True, "message_ts": self._ts()}

    def _view(self, args: dict[str, Any]) -> OpenedView:
        view = args.get("view") or {}
        opened = OpenedView(f"V{next(self._numbers):08d}", args.get("trigger_id"), view)
        self.state.views.append(opened)
        return opened

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        opened = self._view(args)
        return {"ok": True, "view": {**opened.view, "id": opened.id}}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        opened = self._view(args)
        return {"ok": True, "view": {**opened.view, "id": args.get("view_id", opened.id)}}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args.get("user_id")
        if not user:
            return {"ok": False, "error": "user_not_found"}
        self.state.published[user] = args.get("view") or {}
        return {"ok": True, "view": {**self.state.published[user], "id": f"VHOME{user}"}}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users", ""))
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        return {"ok": True, "channel": {"id": self.dm_channel(users.split(",")[0])}}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = args.get("usergroup")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args.get("user")
        if not user:
            return {"ok": False, "error": "user_not_found"}
        info = self.users.get(user, {"name": user.lower(), "real_name": user})
        return {"ok": True, "user": {"id": user, **info}}

    def _users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email", "")).casefold()
        user = next(
            (
                uid
                for uid, info in self.users.items()
                if str(info.get("email", "")).casefold() == email
            ),
            None,
        )
        if user is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": {"id": user, **self.users[user]}}

    def _functions_completeSuccess(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("function_execution_id"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True}

    def _functions_completeError(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("function_execution_id") or not args.get("error"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True}
