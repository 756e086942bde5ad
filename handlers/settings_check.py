"""Settings problems, one line each, found before a command writes or listens to anything."""

from __future__ import annotations

import socket
from typing import Any, get_args

from pydantic import AliasChoices, SecretStr, ValidationError

from bot.config import Settings
from bot.errors import SEPARATE_WORK_NEEDS_POSTGRESQL

SLACK_SETUP = "see the README's Set up in Slack"


def variable_name(field: str) -> str:
    """The environment variable of a settings field (or the alias pydantic reported)."""
    info = Settings.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        return str(info.validation_alias.choices[0])
    return field


def field_name(variable: str) -> str:
    """The settings field of an environment variable (or of a field name)."""
    for name in Settings.model_fields:
        if variable in (name, variable_name(name)):
            return name
    return variable


def _is_secret(variable: str) -> bool:
    info = Settings.model_fields.get(field_name(variable))
    if info is None:
        return False
    return info.annotation is SecretStr or SecretStr in get_args(info.annotation)


def validation_problems(error: ValidationError) -> list[str]:
    """`VARIABLE=value: problem` lines (never the value of a secret)."""
    lines = []
    for item in error.errors():
        variable = variable_name(str(item["loc"][0])) if item["loc"] else "settings"
        shown = variable if _is_secret(variable) else f"{variable}={item['input']}"
        lines.append(f"{shown}: {item['msg'].removeprefix('Value error, ')}")
    return lines


def listen_problem(host: str, port: int) -> str | None:
    """Why `serve` could not listen on host:port, or None; the socket is closed again."""
    hint = "stop what uses it, or choose another with --port (VERIFYBOT_PORT)"
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return f"VERIFYBOT_HOST={host}: not an address to listen on ({reason}); use --host"
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                where = f"VERIFYBOT_PORT={port}: cannot listen on {host}:{port}"
                return f"{where} ({error.strerror}); {hint}"
    return None


def serve_settings(
    socket_mode: bool, listen: bool = True, worker: bool = False, **overrides: Any
) -> tuple[Settings | None, list[str]]:
    """The settings for `serve` (or `work`, which listens only for a health port), or every
    problem that would stop it, one line each.

    A bad value does not hide the others: the rest are checked with that one at its default.
    """
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        problems = validation_problems(error)
        bad = {field_name(str(item["loc"][0])) for item in error.errors() if item["loc"]}
        defaults = {
            name: info.default for name, info in Settings.model_fields.items() if name in bad
        }
        try:
            rest = Settings(**{**overrides, **defaults})
        except ValidationError:
            return None, problems
        return None, problems + _serve_problems(
            rest, socket_mode, listen and not bad & {"host", "port"}, worker
        )
    problems = _serve_problems(settings, socket_mode, listen, worker)
    return (None if problems else settings), problems


def _serve_problems(
    settings: Settings, socket_mode: bool, listen: bool = True, worker: bool = False
) -> list[str]:
    """Everything that would stop `serve` (or `work`), known before it starts."""
    problems = []
    if (worker or settings.web_only) and settings.database_url is None:
        what = "verifybot work" if worker else "VERIFYBOT_WEB_ONLY (--web-only)"
        problems.append(f"{what} {SEPARATE_WORK_NEEDS_POSTGRESQL}")
    slack_missing = settings.slack_missing(socket_mode)
    if socket_mode:
        problems += [f"{name}: required by --socket-mode; {SLACK_SETUP}" for name in slack_missing]
    if not slack_missing and not settings.slack_security_channel:
        problems.append(
            "VERIFYBOT_SLACK_SECURITY_CHANNEL: required when Slack is enabled; set it to the "
            "id of the channel where escalations go (e.g. C0123456789)"
        )
    problem = listen_problem(settings.host, settings.port) if listen else None
    if problem:
        problems.append(problem)
    return problems
