"""A fake Bot Framework connector (the Teams side of `serviceUrl`) on 127.0.0.1.

It records every activity the bot posts or updates under `/v3/conversations/{id}/activities`,
answers `{"id": ...}` like the real service, and fails on request: a status (429 with
Retry-After, 503 ...) for the next calls, or no listener at all (connection refused).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

HOST = "127.0.0.1"
DROP = 0


MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def readable(markdown: str) -> str:
    """Markdown text as Teams shows it, as far as escapes go: `\\[` is shown as `[`.

    Only CommonMark's backslash escapes of ASCII punctuation are undone; a test that checks
    that some syntax is escaped reads the raw text of the activity instead.
    """
    return MARKDOWN_ESCAPE.sub(r"\1", markdown)


def card_lines(content: dict[str, Any]) -> list[str]:
    """The readable text of an Adaptive Card: text blocks, facts, inputs and buttons."""
    lines: list[str] = []
    for element in content.get("body", []):
        kind = element.get("type")
        if kind == "TextBlock":
            lines.append(readable(element["text"]))
        elif kind == "FactSet":
            lines += [
                f"{readable(fact['title'])}: {readable(fact['value'])}" for fact in element["facts"]
            ]
        elif kind and kind.startswith("Input."):
            lines.append(f"[input: {element.get('label') or element['id']}]")
    lines += [f"[button: {action['title']}]" for action in content.get("actions", [])]
    return lines


def activity_text(activity: dict[str, Any]) -> str:
    """What a person would read of a posted activity: its text, then its cards."""
    lines = [readable(activity["text"])] if activity.get("text") else []
    for attachment in activity.get("attachments") or []:
        if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
            lines += card_lines(attachment["content"])
    return "\n".join(lines)


@dataclass
class Call:
    """One request the bot made: a post (`activity_id` = the activity replied to) or an update."""

    method: str
    conversation_id: str
    activity_id: str | None
    body: dict[str, Any]
    id: str

    @property
    def text(self) -> str:
        return activity_text(self.body)

    @property
    def card(self) -> dict[str, Any] | None:
        attachments = self.body.get("attachments") or []
        return attachments[0]["content"] if attachments else None


@dataclass
class Failure:
    status: int
    retry_after: str | None = None
    conversation_id: str | None = None

    def applies_to(self, conversation_id: str) -> bool:
        return self.conversation_id in (None, conversation_id)


@dataclass
class FakeConnector:
    """Start with `await start()`; `url` is the serviceUrl to put in activities."""

    calls: list[Call] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    port: int = 0
    _failures: deque[Failure] = field(default_factory=deque)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1001))
    _runner: web.AppRunner | None = None
    _site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities", self._post)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._post)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._put)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self.come_up()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def go_down(self) -> None:
        """Stop listening: the bot's next calls get `connection refused`."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def come_up(self) -> None:
        """Listen again, on the same port."""
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, HOST, self.port)
        await self._site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]

    def fail_next(
        self,
        status: int,
        times: int = 1,
        retry_after: str | None = None,
        conversation_id: str | None = None,
    ) -> None:
        """Answer the next `times` calls (to `conversation_id` only, if given) with `status`."""
        failure = Failure(status, retry_after, conversation_id)
        self._failures.extend(failure for _ in range(times))

    def clear_failures(self) -> None:
        self._failures.clear()

    def drop_next(self, times: int = 1, conversation_id: str | None = None) -> None:
        """Close the next connections without an answer (a network error, not a status)."""
        self.fail_next(DROP, times, conversation_id=conversation_id)

    def attempts(self, conversation_id: str | None = None) -> int:
        """How many requests reached the connector, failed ones included."""
        return sum(
            1 for _, conversation, _ in self.requests if conversation_id in (None, conversation)
        )

    # what was sent

    def posts(self, conversation_id: str | None = None) -> list[Call]:
        return [
            call
            for call in self.calls
            if call.method == "POST"
            and (conversation_id is None or call.conversation_id == conversation_id)
        ]

    def updates(self) -> list[Call]:
        return [call for call in self.calls if call.method == "PUT"]

    def texts(self, conversation_id: str | None = None) -> list[str]:
        return [call.text for call in self.posts(conversation_id)]

    def transcript(self) -> str:
        """Every post and update, in order, as a person would read them."""
        parts = []
        for call in self.calls:
            verb = "bot posts" if call.method == "POST" else f"bot updates card {call.activity_id}"
            parts.append(f"[{verb} in {call.conversation_id}]\n{call.text}")
        return "\n\n".join(parts)

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Until `condition()` holds; AssertionError after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(f"not within {timeout}s; calls so far:\n{self.transcript()}")
            await asyncio.sleep(0.02)

    # the routes

    async def _post(self, request: web.Request) -> web.Response:
        return await self._record(request, "POST")

    async def _put(self, request: web.Request) -> web.Response:
        return await self._record(request, "PUT")

    async def _record(self, request: web.Request, method: str) -> web.Response:
        body = await request.json()
        conversation_id = request.match_info["conversation"]
        failure = next((f for f in self._failures if f.applies_to(conversation_id)), None)
        if failure is not None:
            self._failures.remove(failure)
            self.requests.append((method, conversation_id, failure.status))
            if failure.status == DROP:
                assert request.transport is not None
                request.transport.close()
                raise asyncio.CancelledError
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            error = {"error": {"code": "Failure", "message": f"fake {failure.status}"}}
            return web.json_response(error, status=failure.status, headers=headers)
        path_activity = request.match_info.get("activity")
        new_id = path_activity if method == "PUT" else str(next(self._ids))
        self.requests.append((method, conversation_id, 200))
        self.calls.append(Call(method, conversation_id, path_activity, body, new_id))
        return web.json_response({"id": new_id})
