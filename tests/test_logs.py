"""Structured logs: secrets redacted, SDK request bodies kept out even at DEBUG."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from handlers.logs import CHATTY_LIBRARIES, configure_logging

SCRIPT = """
import structlog
from handlers.logs import configure_logging
configure_logging()
log = structlog.get_logger("test")
log.warning("posting", slack_bot_token="xoxb-very-secret", channel="C1")
try:
    raise RuntimeError("boom")
except RuntimeError:
    api_password = "hunter2"
    log.exception("failed")
"""


def test_secret_fields_are_redacted_and_tracebacks_carry_no_locals() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=30
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines[0]["slack_bot_token"] == "[redacted]"
    assert lines[0]["channel"] == "C1"
    assert lines[1]["exception"][0]["exc_value"] == "boom"
    assert "xoxb-very-secret" not in result.stderr
    assert "hunter2" not in result.stderr


def test_sdk_loggers_stay_at_info_when_verifybot_logs_at_debug(monkeypatch) -> None:
    monkeypatch.setenv("VERIFYBOT_LOG_LEVEL", "DEBUG")
    configure_logging()
    try:
        assert logging.getLogger().level == logging.DEBUG
        for library in CHATTY_LIBRARIES:
            assert logging.getLogger(library).level == logging.INFO
    finally:
        monkeypatch.delenv("VERIFYBOT_LOG_LEVEL")
        configure_logging(default="WARNING")
