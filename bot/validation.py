"""Cleaning and checking of values people type: names, emails, phone numbers, notes."""

from __future__ import annotations

import re
import unicodedata

MAX_NOTE_LENGTH = 1000
_WHITESPACE = re.compile(r"\s+")


def clean_text(value: str) -> str:
    """Drop control characters and collapse runs of white space."""
    printable = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in value)
    return _WHITESPACE.sub(" ", printable).strip()


def clean_lines(value: str) -> str:
    """Text of several lines (an address): format characters (zero-width spaces...) dropped,
    then each line cleaned; empty lines dropped."""
    visible = "".join(ch for ch in value if unicodedata.category(ch) != "Cf")
    lines = (clean_text(line) for line in visible.splitlines())
    return "\n".join(line for line in lines if line)


def clean_email(value: str) -> str:
    """A syntactically valid email address, normalised; ValueError otherwise."""
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"not a valid email address ({error})") from None
    return checked.normalized


def clean_phone(value: str, default_region: str = "US") -> str:
    """A phone number in E.164 form; ValueError when it cannot be a real number."""
    import phonenumbers

    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_note(value: str | None) -> str | None:
    """A note as stored: cleaned, bounded, None when empty."""
    if value is None:
        return None
    cleaned = clean_text(value)
    if len(cleaned) > MAX_NOTE_LENGTH:
        raise ValueError(f"a note may be at most {MAX_NOTE_LENGTH} characters")
    return cleaned or None
