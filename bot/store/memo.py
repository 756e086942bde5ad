"""Rows read once per service call: a memo the store consults inside `Store.remembering()`.

The memo lives in a context variable, so an asyncio task (or a thread) sees only its own. It
holds what one call read, never across calls: an erasure or another replica's write is seen by
every call that starts after it commits. Inside a call the memo forgets a table's rows when the
store writes to that table, and everything when the outermost write transaction begins (from
then on the write lock keeps other writers out) or any transaction rolls back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

WRITE = re.compile(r"\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+(\w+)", re.I)
READ_ONLY = ("SELECT", "PRAGMA", "EXPLAIN", "SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "SHOW")


class Memo:
    """What one call read from one store, by (table, key)."""

    def __init__(self, owner: object) -> None:
        self.owner = owner
        self.rows: dict[tuple[str, object], Any] = {}
        self.open = True

    def close(self) -> None:
        """The block ended: a task started inside it (which copied the context) reads anew."""
        self.open = False
        self.rows.clear()

    def forget(self, table: str | None = None) -> None:
        """The rows of `table` (every row when None) are read again next time."""
        if table is None:
            self.rows.clear()
            return
        for key in [key for key in self.rows if key[0] == table]:
            del self.rows[key]

    def forget_written(self, sql: str) -> None:
        """Forget the table a statement writes; everything for a statement not understood."""
        if sql.lstrip()[:9].upper().startswith(READ_ONLY):
            return
        match = WRITE.match(sql)
        self.forget(match.group(1).lower() if match else None)

    def put(self, table: str, key: object, value: object) -> None:
        """Remember what a read of (table, key) would give (a batch read did it for several)."""
        self.rows[(table, key)] = value

    def get(self, table: str, key: object, read: Callable[[], T]) -> T:
        """The remembered value, else `read()` remembered; a copy the caller may change."""
        entry = (table, key)
        if entry not in self.rows:
            self.rows[entry] = read()
        return copied(self.rows[entry])


CURRENT: ContextVar[Memo | None] = ContextVar("verifybot_store_memo", default=None)


def copied(value: T) -> T:
    """Rows (dicts) and lists of rows copied one level deep; anything else as it is."""
    if isinstance(value, dict):
        return dict(value)  # type: ignore[return-value]
    if isinstance(value, list):
        return [dict(item) if isinstance(item, dict) else item for item in value]  # type: ignore[return-value]
    return value
