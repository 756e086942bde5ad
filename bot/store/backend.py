"""What the store asks of a database: statements, one-writer transactions, a lock timeout.

`Store` writes its SQL once, with `?` placeholders and the syntax SQLite and PostgreSQL share
(`INSERT ... ON CONFLICT`, `RETURNING`); a backend runs it on its database and owns what
differs: connecting, placeholders, migrations, the write lock, and what erasure leaves behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.keys import is_database_url

__all__ = ["Backend", "Cursor", "Result", "Row", "is_database_url"]

Row = dict[str, Any]


@dataclass
class Result:
    """A statement's rows, read in full before its connection went back to the pool."""

    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = -1

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


class Cursor(Protocol):
    """What a statement gives back: sqlite3's cursor or a `Result`."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Backend(Protocol):
    """One database, SQLite or PostgreSQL, as the store uses it."""

    dialect: str
    location: str

    @property
    def Error(self) -> type[Exception]:
        """The driver's base class of database errors (a trigger's refusal among them)."""
        ...

    busy_errors: tuple[type[Exception], ...]
    schema_version: int
    skip_locked: str
    notify_workers: bool
    """Whether wake_workers() tells other processes; False where this process runs every job
    and notice it queues (a `serve` that is not web-only), since nobody else needs telling."""
    """Appended to a claim's `SELECT ... LIMIT 1`: on a server the row it picks is locked
    and rows other claimers hold are skipped (SQLite's one writer needs nothing)."""

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor: ...

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[Row]: ...

    def query_batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        """Each read's rows; on a server all in one round trip."""
        ...

    def insert(self, table: str, row: Row) -> int:
        """Insert one row; its generated id (0 where the table has none)."""
        ...

    def json_append(self, column: str) -> str:
        """An SQL expression: the JSON array in `column` with the next parameter appended."""
        ...

    @property
    def in_transaction(self) -> bool:
        """Inside a transaction() block (of this thread)."""
        ...

    def session(self) -> AbstractContextManager[None]:
        """The block's statements on one connection (a pool's: checked out once)."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction: one at a time on the database; nested ones are savepoints."""
        ...

    def unlocked_batch(
        self, statements: Sequence[tuple[str, Sequence[Any]]], wake_workers: bool = False
    ) -> list[list[Row]]:
        """Write statements that stay right without the write lock (inserts a unique key
        dedupes), as one transaction; each one's rows. On a server: one round trip, and no
        wait for another writer. `wake_workers`: as wake_workers() for the batch."""
        ...

    def wake_workers(self) -> None:
        """Wake the `verifybot work` processes: at the commit of the transaction under way, at
        once outside one; nothing where no other process listens (SQLite)."""
        ...

    def listen_for_work(self, woken: Callable[[], None], stop: threading.Event) -> None:
        """Call `woken` whenever another process queues work, until `stop` is set (blocks);
        StoreError where processes cannot tell each other (SQLite)."""
        ...

    def lock_timeout(self, seconds: float) -> AbstractContextManager[None]:
        """Wait at most `seconds` for the write lock inside the block."""
        ...

    def upgrade_legacy(self) -> bool:
        """Whether data written by earlier verifybot versions may need sealing on open."""
        ...

    def append_only_suspended(self, table: str) -> AbstractContextManager[None]:
        """The table's append-only triggers dropped inside the block (data upgrades only)."""
        ...

    def health(self) -> Row: ...

    def scrub(self) -> None:
        """Make erased data unrecoverable from the database's files where the engine can."""
        ...

    def close(self) -> None: ...
