"""JSON in and out for the API and the web hook: bounded bodies, errors as JSON with a message."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.json_depth import too_deep

MAX_BODY_BYTES = 64 * 1024


class HttpError(Exception):
    """An error answer: status, message and, for 422, the field errors."""

    def __init__(
        self, status: int, message: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def response(self) -> web.Response:
        body: dict[str, Any] = {"error": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return web.json_response(body, status=self.status)


def field_errors(problems: dict[str, str], prefix: str = "") -> HttpError:
    errors = [{"field": prefix + field, "message": message} for field, message in problems.items()]
    return HttpError(422, "invalid request", errors)


def validation_errors(error: ValidationError) -> HttpError:
    """pydantic's errors as `[{field, message}]`, without the input echoed back."""
    errors = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required"
        elif item["type"] == "extra_forbidden":
            message = "is not a known field"
        errors.append({"field": field, "message": message})
    return HttpError(422, "invalid request", errors)


async def read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, at most `limit` bytes (413 beyond)."""
    if request.content_length is not None and request.content_length > limit:
        raise HttpError(413, f"the body is larger than {limit // 1024} KiB")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise HttpError(413, f"the body is larger than {limit // 1024} KiB")
    return raw


def parse_json(raw: bytes) -> Any:
    """A JSON body: UTF-8, not nested too deep, well formed (400 otherwise)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "the body is not UTF-8") from None
    if too_deep(text):
        raise HttpError(400, "the JSON is nested too deeply")
    try:
        return json.loads(text)
    except ValueError:
        raise HttpError(400, "the body is not valid JSON") from None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    data = parse_json(await read_body(request))
    if not isinstance(data, dict):
        raise HttpError(422, "invalid request", [{"field": "body", "message": "must be an object"}])
    return data
