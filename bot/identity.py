"""Normalised forms of the identity details compared across candidates: email, name, phone,
payout account. Each comparison takes these forms, never the text as typed."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
MAX_PAYOUT_LENGTH = 64
_PAYOUT_SEPARATORS = re.compile(r"[\s\-_./]+")
_PAYOUT_CHARACTERS = re.compile(r"^[0-9A-Z@+]+$")
_WHITESPACE = re.compile(r"\s+")


def email_key(email: str) -> str:
    """The mailbox an address reaches: lower case; for Gmail, no dots or +tag in the local part."""
    local, _, domain = email.strip().casefold().rpartition("@")
    if domain in GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


def email_domain(email: str) -> str:
    return email.strip().casefold().rpartition("@")[2]


def is_disposable_domain(domain: str) -> bool:
    """A known disposable-mail domain (or a subdomain of one), from an offline list."""
    blocklist = _disposable_domains()
    parts = domain.casefold().strip(".").split(".")
    return any(".".join(parts[index:]) in blocklist for index in range(len(parts) - 1))


@cache
def _disposable_domains() -> frozenset[str]:
    from disposable_email_domains import blocklist

    return frozenset(blocklist)


def name_key(name: str) -> str:
    """A name compared without case, accents on Latin letters or extra spaces."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WHITESPACE.sub(" ", plain).strip()


def phone_region(e164: str) -> str | None:
    """The ISO region of a phone number in E.164 form (libphonenumber), or None."""
    import phonenumbers

    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(number)


def payout_key(account: str) -> str:
    """A bank account, IBAN or payout email with spaces, dashes and case ignored; ValueError."""
    text = unicodedata.normalize("NFKC", account).strip()
    if "@" in text:
        from bot.validation import clean_email

        return email_key(clean_email(text)).upper()
    key = _PAYOUT_SEPARATORS.sub("", text).upper()
    if len(key) < 4 or len(key) > MAX_PAYOUT_LENGTH or not _PAYOUT_CHARACTERS.match(key):
        raise ValueError(
            "give a bank account number, an IBAN or a payout email "
            f"(4 to {MAX_PAYOUT_LENGTH} letters and digits)"
        )
    return key


def payout_last4(key: str) -> str:
    """The last four characters of a payout key, the only part ever stored in clear."""
    return key[-4:]
