"""Structured logs (structlog) to stderr: key=value lines on a terminal, JSON otherwise."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
import structlog.tracebacks

from bot.config import Settings

_TRACEBACKS_WITHOUT_LOCALS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)
CHATTY_LIBRARIES = (
    "slack_sdk",
    "slack_bolt",
    "msrest",
    "botbuilder",
    "botframework",
    "msal",
    "urllib3",
)
SECRET_KEYS = frozenset({"token", "password", "secret", "authorization", "signature"})


def _redact_secrets(_: object, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """Drop values whose key names a secret, whatever a caller passed by mistake."""
    for key in list(event):
        if any(word in key.lower() for word in SECRET_KEYS):
            event[key] = "[redacted]"
    return event


def configure_logging(settings: Settings | None = None, default: str = "INFO") -> None:
    """Log at the settings' VERIFYBOT_LOG_LEVEL when it is set, else at `default`.

    Only verifybot's own logs (structlog) go below INFO. The standard-library loggers are the
    libraries', and their DEBUG records carry request bodies (a note, a name): whatever their
    name (bolt names some after the app), the root handler lets nothing below INFO through.
    """
    chosen = settings is not None and "log_level" in settings.model_fields_set
    level_name = (settings.log_level if settings is not None and chosen else default).upper()
    numeric = logging.getLevelName(level_name)
    if not isinstance(numeric, int):
        numeric = logging.INFO
    libraries = max(numeric, logging.INFO)
    renderers: list = (
        [structlog.dev.ConsoleRenderer(colors=False)]
        if sys.stderr.isatty()
        else [_TRACEBACKS_WITHOUT_LOCALS, structlog.processors.JSONRenderer()]
    )
    shared: list = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(libraries)
    handler.setFormatter(  # the libraries' lines are JSON too, like verifybot's own
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared, _redact_secrets],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
        )
    )
    logging.basicConfig(level=libraries, handlers=[handler], force=True)
    for library in CHATTY_LIBRARIES:
        logging.getLogger(library).setLevel(libraries)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            _redact_secrets,
            *renderers,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
