"""botbuilder `Storage` over the verifybot SQLite store, so conversation state survives restarts."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from botbuilder.core import Storage

from bot.store import Store

ETAG = "e_tag"
ANY_ETAG = "*"


class EtagConflict(KeyError):
    """A write whose e_tag no longer matches the stored item: someone else wrote it first."""


def _as_dict(item: object) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    if hasattr(item, "__dict__"):
        return dict(vars(item))
    raise TypeError(f"cannot store a {type(item).__name__}: use a dict or a StoreItem")


def _set_etag(item: object, etag: str) -> None:
    if isinstance(item, dict):
        item[ETAG] = etag
    elif hasattr(item, "__dict__"):
        setattr(item, ETAG, etag)


class SqliteStorage(Storage):
    """Items are JSON in the bot_state table; each write gets a new e_tag.

    A write whose e_tag is missing or "*" overwrites; any other e_tag must match the stored
    one, else EtagConflict and nothing of the batch is written. Items come back as dicts.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    async def read(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        rows = self.store.state_read(keys or [])
        return {key: {**row["data"], ETAG: row["etag"]} for key, row in rows.items()}

    async def write(self, changes: Mapping[str, object]) -> None:
        if changes is None:
            raise TypeError("changes are required when writing")
        if not changes:
            return
        written: list[tuple[object, str]] = []
        with self.store.transaction():
            current = self.store.state_read(changes.keys())
            for key, item in changes.items():
                data = _as_dict(item)
                expected = data.pop(ETAG, None)
                stored = current.get(key)
                if expected not in (None, "", ANY_ETAG) and stored and stored["etag"] != expected:
                    raise EtagConflict(
                        f"{key}: stored e_tag {stored['etag']}, write had {expected}"
                    )
                etag = uuid.uuid4().hex
                self.store.state_write(key, data, etag)
                written.append((item, etag))
        for item, etag in written:
            _set_etag(item, etag)

    async def delete(self, keys: Iterable[str]) -> None:
        self.store.state_delete(keys or [])
