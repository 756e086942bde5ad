"""Verification and escalation ids: made, found in text, and parsed from untrusted input."""

from __future__ import annotations

import re
import secrets

from bot.errors import InvalidInput

VERIFICATION_ID = re.compile(r"^VB-[0-9A-F]{8}$")
VERIFICATION_IDS = re.compile(r"\bVB-[0-9A-F]{8}\b")
VERIFICATION_ID_RUNS = re.compile(r"\bVB-[0-9A-F]{8}(?:, VB-[0-9A-F]{8})*\b")


def new_verification_id() -> str:
    return f"VB-{secrets.token_hex(4).upper()}"


def parse_verification_id(value: object) -> str:
    """A verification id from untrusted input, or InvalidInput."""
    text = str(value).strip().upper() if isinstance(value, str | int) else ""
    if not VERIFICATION_ID.match(text):
        raise InvalidInput("not a verification id (they look like VB-1A2B3C4D)", "verification")
    return text


def parse_escalation_id(value: object) -> int:
    """An escalation id from untrusted input, or InvalidInput."""
    text = str(value).strip() if isinstance(value, str | int) else ""
    if not text.isdecimal() or len(text) > 18:
        raise InvalidInput("not an escalation id", "escalation")
    return int(text)


def security_channel_key(target: str) -> str:
    """Where a platform's security channel, registered from chat, is kept."""
    return f"{target}:security"
