"""Which columns hold personal data, how each is sealed, and the blind indexes kept beside them.

Pure functions over rows; bot/store.py reads and writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.crypto import Unreadable, Vault, is_sealed, seal, unseal
from bot.identity import email_key, name_key

ERASED = "(erased)"

CANDIDATE_COLUMNS = (
    "name",
    "email",
    "phone",
    "role",
    "home_address",
    "shipping_address",
    "home_normalized",
    "shipping_normalized",
    "payout_last4",
    "referred_by",
    "start_date",
)
ANSWER_COLUMNS = ("note", "reason", "security_detail")
ESCALATION_COLUMNS = ("decision_reason",)


BLIND_INDEXES: dict[str, tuple[str, Callable[[str], str]]] = {
    "name_index": ("name", name_key),
    "email_index": ("email", email_key),
    "phone_index": ("phone", str),
    "payout_index": ("payout_key", str),
    "home_index": ("home_normalized", str),
    "home_place_index": ("home_place", str),
    "home_zip_index": ("home_zip", str),
    "home_building_index": ("home_building", str),
    "shipping_index": ("shipping_normalized", str),
    "shipping_place_index": ("shipping_place", str),
    "shipping_zip_index": ("shipping_zip", str),
    "shipping_building_index": ("shipping_building", str),
}


def blind_indexes(vault: Vault, fields: dict[str, Any]) -> dict[str, str | None]:
    """The blind index columns of a candidate's clear fields."""
    indexes: dict[str, str | None] = {}
    for column, (field, normalize) in BLIND_INDEXES.items():
        value = fields.get(field)
        indexes[column] = vault.blind_index(column, normalize(value)) if value else None
    return indexes


def context(table: str, row_key: object, column: str) -> str:
    """What a sealed value is bound to: a value moved to another row or column does not open."""
    return f"{table}:{row_key}:{column}"


def seal_columns(
    key: bytes, table: str, row_key: object, fields: dict[str, Any], columns: tuple[str, ...]
) -> dict[str, Any]:
    """`fields` with each of `columns` that holds text sealed under `key`."""
    sealed = dict(fields)
    for column in columns:
        value = fields.get(column)
        if isinstance(value, str) and not is_sealed(value):
            sealed[column] = seal(key, value, context(table, row_key, column))
    return sealed


def open_columns(
    key: bytes | None, table: str, row_key: object, row: dict[str, Any], columns: tuple[str, ...]
) -> dict[str, Any]:
    """`row` with `columns` opened; `(erased)` where the key is gone or the value unreadable."""
    opened = dict(row)
    for column in columns:
        value = row.get(column)
        if not isinstance(value, str) or not is_sealed(value):
            continue
        try:
            opened[column] = unseal(key, value, context(table, row_key, column)) if key else ERASED
        except Unreadable:
            opened[column] = ERASED
    return opened
