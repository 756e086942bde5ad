"""Computed checks: answers the engine derives from the candidate's details and other records.

Every comparison with other candidates goes through a Store method that takes values already
normalised by bot.address or bot.identity. The hiring manager learns what was found, never
with whom: the other verifications are for the security team only (`security_detail`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.address import AddressError, AddressKeys, address_keys, same_place
from bot.identity import email_domain, email_key, is_disposable_domain, name_key, phone_region
from bot.playbook import Check
from bot.sealing import ERASED
from bot.store import Person, Row, Store

FLAGGED_STATUSES = frozenset({"blocked"})
FLAGGED_ESCALATIONS = frozenset({"confirmed"})


@dataclass(frozen=True)
class ComputedAnswer:
    """A computed result; `reason` is what the hiring manager sees, `security_detail` is not.

    `fallback` is the result to record when the verification's playbook version has no option
    for `value` (an option added in a later version).
    """

    value: str
    reason: str
    related_verifications: tuple[str, ...] = ()
    security_detail: str | None = None
    fallback: str | None = None


def _linked_ids(rows: list[dict]) -> str:
    """The other verifications, by id only: the names are added when security reads it, so an
    erased candidate's name is never kept in another candidate's record."""
    return ", ".join(dict.fromkeys(row["verification_id"] for row in rows))


def person_of(candidate: Row) -> Person:
    return Person(candidate["id"], email_key(candidate["email"]), name_key(candidate["name"]))


def stored_keys(candidate: Row, field: str) -> AddressKeys | None:
    """The keys of the candidate's `field` address (`home` or `shipping`), if given."""
    address = candidate.get(f"{field}_address")
    if not address or address == ERASED:
        return None
    try:
        return address_keys(address)
    except AddressError:
        return None


def address_match(store: Store, candidate: Row) -> ComputedAnswer:
    """match / mismatch of home and shipping address; shared with another candidate, or in the
    same building as another candidate's (another unit, or none)."""
    shipping = stored_keys(candidate, "shipping")
    if shipping is None:
        raise ValueError("address_match runs once the shipping address is given (waiting_for)")
    home = stored_keys(candidate, "home")
    person = person_of(candidate)
    others = store.others_shipping_to(shipping.place, shipping.zip, shipping.canonical, person)
    if others:
        return ComputedAnswer(
            value="shared",
            reason=(
                "The laptop shipping address is also the shipping address of another "
                "candidate. Several identities shipping to one address is the laptop-farm "
                "pattern; the security team has been told."
            ),
            related_verifications=tuple(row["verification_id"] for row in others),
            security_detail=(
                f"Shipping address {candidate['shipping_address']!r} is also given in: "
                f"{', '.join(row['verification_id'] for row in others)}."
            ),
        )
    neighbours = store.others_in_building(shipping.building, shipping.zip, person)
    matches_home = home is not None and same_place(shipping, home)
    if neighbours:
        also = "" if matches_home else " It also differs from the claimed home address."
        return ComputedAnswer(
            value="same_building",
            reason=(
                "Another candidate ships to the same street address with a different unit "
                "or without one. An invented apartment or suite number is a way to hide a "
                f"laptop farm; the security team has been told.{also}"
            ),
            related_verifications=tuple(row["verification_id"] for row in neighbours),
            security_detail=(
                f"Shipping address {candidate['shipping_address']!r} is in the same building "
                f"as the shipping address in: {_linked_ids(neighbours)}."
            ),
            fallback="mismatch",
        )
    if matches_home:
        return ComputedAnswer(
            value="match",
            reason="The laptop shipping address is the claimed home address.",
        )
    return ComputedAnswer(
        value="mismatch",
        reason=(
            f"The laptop shipping address {candidate['shipping_address']!r} differs from the "
            f"claimed home address {candidate['home_address']!r}."
        ),
    )


@dataclass
class _Signals:
    """What identity_signals found, by strength: each a line for the hiring manager, and the
    other verifications (or watchlist entries) behind it for security."""

    watchlisted: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)
    weak: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    related: dict[str, None] = field(default_factory=dict)

    def add(self, level: list[str], told: str, rows: list[Row], what: str) -> None:
        level.append(told)
        if rows:
            self.details.append(f"{what}: {_linked_ids(rows)}.")
            self.related.update(dict.fromkeys(row["verification_id"] for row in rows))

    def watch(self, told: str, entries: list[Row]) -> None:
        self.watchlisted.append(told)
        listed = ", ".join(
            f"#{entry['id']}" + (f" ({entry['source']})" if entry["source"] else "")
            for entry in entries
        )
        self.details.append(f"{told[0].upper()}{told[1:]}: watchlist entry {listed}.")


def identity_signals(store: Store, candidate: Row) -> ComputedAnswer:
    """none / weak / linked / watchlisted: the candidate's details against other candidates'
    and the watchlist."""
    found = _Signals()
    _watchlist(store, candidate, found)
    _links(store, candidate, found)
    _weak(store, candidate, found)
    value = (
        "watchlisted"
        if found.watchlisted
        else "linked"
        if found.linked
        else "weak"
        if found.weak
        else "none"
    )
    if value == "none":
        return ComputedAnswer(
            value="none",
            reason=(
                "No phone, email, payout account or home address shared with another "
                "candidate, and nothing on the watchlist."
            ),
        )
    lines = found.watchlisted + found.linked + found.weak
    told = "; ".join(lines)
    tail = " The security team has been told." if value != "weak" else ""
    return ComputedAnswer(
        value=value,
        reason=f"{told[0].upper()}{told[1:]}.{tail}",
        related_verifications=tuple(found.related),
        security_detail=" ".join(found.details) or None,
    )


def _watchlist(store: Store, candidate: Row, found: _Signals) -> None:
    for field_name, label in (("home", "the home address"), ("shipping", "the shipping address")):
        keys = stored_keys(candidate, field_name)
        if keys is not None:
            entries = store.watched("address", keys.place, keys.zip)
            if entries:
                found.watch(f"{label} is on the watchlist", entries)
    checks = (
        ("email", email_key(candidate["email"]), "the email address is on the watchlist"),
        ("phone", candidate.get("phone"), "the phone number is on the watchlist"),
        ("payout_account", candidate.get("payout_index"), "the payout account is on the watchlist"),
    )
    for kind, key, told in checks:
        if key:
            entries = store.watched(kind, key)
            if entries:
                found.watch(told, entries)


def _links(store: Store, candidate: Row, found: _Signals) -> None:
    person = person_of(candidate)
    if candidate.get("phone"):
        rows = store.others_with_phone(candidate["phone"], person)
        if rows:
            found.add(found.linked, "the phone number is another candidate's", rows, "Phone")
    rows = store.others_with_email(email_key(candidate["email"]), person)
    if rows:
        told = "the email address is another candidate's, under another name"
        found.add(found.linked, told, rows, "Email")
    if candidate.get("payout_index"):
        rows = store.others_with_payout(candidate["payout_index"], person)
        if rows:
            told = "the payout account is another candidate's"
            found.add(found.linked, told, rows, "Payout account")


def _weak(store: Store, candidate: Row, found: _Signals) -> None:
    home = stored_keys(candidate, "home")
    if home is not None:
        rows = store.others_home_at(home.place, home.zip, home.canonical, person_of(candidate))
        if rows:
            told = "the home address is another candidate's home address"
            found.add(found.weak, told, rows, "Home address")
    region = phone_region(candidate["phone"]) if candidate.get("phone") else None
    country = _home_country(candidate)
    if region and country and region != country:
        found.weak.append(
            f"the phone number's country ({region}) is not the home address's ({country})"
        )
    domain = email_domain(candidate["email"])
    if is_disposable_domain(domain):
        found.weak.append(f"the email domain {domain} is a disposable-mail domain")
    if candidate.get("referred_by"):
        rows = [
            row
            for row in store.verifications_of_email(email_key(candidate["referred_by"]))
            if row["candidate_id"] != candidate["id"]
            and (
                row["status"] in FLAGGED_STATUSES or row["escalation_status"] in FLAGGED_ESCALATIONS
            )
        ]
        if rows:
            told = "the referrer's own verification was blocked or confirmed as fraud"
            found.add(found.weak, told, rows, "Referred by")


def _home_country(candidate: Row) -> str | None:
    try:
        return address_keys(candidate["home_address"]).country
    except AddressError:
        return None


COMPUTED_CHECKS = {
    Check.ADDRESS_MATCH: address_match,
    Check.IDENTITY_SIGNALS: identity_signals,
}

COMPUTED_INPUTS: dict[Check, tuple[str, str]] = {
    Check.ADDRESS_MATCH: ("shipping_address", "the laptop shipping address"),
}


def waiting_for(check: Check, candidate: dict) -> str | None:
    """What a computed check still needs from the candidate's details, or None when ready."""
    field, description = COMPUTED_INPUTS.get(check, ("", ""))
    return description if field and not candidate.get(field) else None
