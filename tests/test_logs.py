"""Structured logs: secrets redacted, SDK request bodies kept out even at DEBUG."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import structlog

from bot.config import Settings
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


def test_at_debug_no_library_logger_whatever_its_name_prints_a_body(capsys) -> None:
    """bolt names some loggers after the app (`verifybot:listener`); none of them gets through."""
    configure_logging(Settings(_env_file=None, log_level="DEBUG"))
    try:
        for name in (
            "verifybot:record_answer",
            "verifybot",
            "slack_bolt.AsyncApp",
            *CHATTY_LIBRARIES,
        ):
            logging.getLogger(name).debug("ack body: note=Notary Jo Smith SSN ends 6789")
        logging.getLogger("slack_sdk.test").info("an info line stays")
        structlog.get_logger("verifybot.test").debug("verifybot's own debug line")
        err = capsys.readouterr().err
        assert "SSN ends 6789" not in err  # "6789" alone may be a timestamp's microseconds
        assert "an info line stays" in err
        assert "verifybot's own debug line" in err
        assert logging.getLogger().level == logging.INFO
    finally:
        with capsys.disabled():  # later tests log to the real stderr, not this test's capture
            configure_logging(default="WARNING")


def test_every_line_a_library_logs_is_json_too() -> None:
    """bolt warns through the standard library ("As you gave client as well..."): JSON too."""
    script = (
        "import logging\nfrom handlers.logs import configure_logging\nconfigure_logging()\n"
        "logging.getLogger('slack_bolt.AsyncApp').warning('As you gave client as well, token "
        "will be unused.')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    )
    [line] = result.stderr.splitlines()
    record = json.loads(line)
    assert record["event"].startswith("As you gave client as well")
    assert (record["level"], record["logger"]) == ("warning", "slack_bolt.AsyncApp")
