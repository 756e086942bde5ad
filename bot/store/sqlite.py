"""The SQLite backend (through sqlite-utils): one file, WAL mode, `BEGIN IMMEDIATE` writers."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.errors import SEPARATE_WORK_NEEDS_POSTGRESQL, StoreError
from bot.schema import migrate
from bot.store.backend import Row

PRIVATE_FILE = 0o600
BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 64 * 1024  # SQLite's default 2 MiB holds too few index pages of a million rows

APPEND_ONLY_TRIGGERS = {
    "answers": (
        "CREATE TRIGGER answers_append_only_update BEFORE UPDATE ON answers "
        "BEGIN SELECT RAISE(ABORT, 'answers are append-only'); END",
    ),
    "events": (
        "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ),
}


class SqliteBackend:
    """A verifybot database file: WAL mode, foreign keys on, secure_delete, schema migrated."""

    dialect = "sqlite"
    Error = sqlite3.DatabaseError
    busy_errors: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
    skip_locked = ""
    notify_workers = False

    def __init__(self, path: str, create: bool = True) -> None:
        """StoreError, with nothing written, when the path cannot hold a database."""
        self.location = path
        if path != ":memory:":
            _check_path(Path(path), create)
            _make_private(Path(path))
        try:
            connection = sqlite3.connect(path, timeout=10, check_same_thread=False)
        except sqlite3.DatabaseError as error:
            raise StoreError(_open_problem(path, error)) from None
        self.sqlite = sqlite_utils.Database(connection)
        self.conn = connection
        try:
            self.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.execute("PRAGMA secure_delete = ON")
            if path != ":memory:":
                self.sqlite.enable_wal()
                self.execute("PRAGMA synchronous = NORMAL")
                self.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            self.execute("PRAGMA foreign_keys = OFF")
            self.schema_version = migrate(self.sqlite)
            self.execute("PRAGMA foreign_keys = ON")
        except (sqlite3.DatabaseError, RuntimeError) as error:
            connection.close()
            raise StoreError(_open_problem(path, error)) from None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> sqlite3.Cursor:
        return self.sqlite.execute(sql, list(params) if params is not None else None)

    def executescript(self, sql: str) -> sqlite3.Cursor:
        return self.sqlite.executescript(sql)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[Row]:
        cursor = self.conn.execute(sql, list(params or ()))
        if cursor.description is None:
            return []
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def query_batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        return [self.query(sql, params) for sql, params in statements]

    def insert(self, table: str, row: Row) -> int:
        """Insert one row; its rowid."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cursor = self.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values())
        )
        assert cursor.lastrowid is not None, "an INSERT that wrote a row"
        return int(cursor.lastrowid)

    def json_append(self, column: str) -> str:
        """An expression: the JSON array in `column` with the parameter appended."""
        return f"json_insert({column}, '$[#]', ?)"

    def table_names(self) -> list[str]:
        return self.sqlite.table_names()

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    @contextmanager
    def session(self) -> Iterator[None]:
        """Nothing to do: one connection already."""
        yield

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The outermost takes the write lock at once (BEGIN IMMEDIATE).

        A deferred BEGIN that reads before it writes fails with "database is locked" when
        another process commits in between; IMMEDIATE waits for it (busy_timeout) instead.
        """
        if self.conn.in_transaction:
            with self.sqlite.atomic():
                yield
            return
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def unlocked_batch(
        self, statements: Sequence[tuple[str, Sequence[Any]]], wake_workers: bool = False
    ) -> list[list[Row]]:
        """One transaction (SQLite has one writer whatever the statements); each one's rows."""
        with self.transaction():
            return [self.query(sql, params) for sql, params in statements]

    def wake_workers(self) -> None:
        """Nothing: on SQLite the process that queues work runs it."""

    def listen_for_work(self, woken: Callable[[], None], stop: threading.Event) -> None:
        raise StoreError(f"a separate `verifybot work` process {SEPARATE_WORK_NEEDS_POSTGRESQL}")

    @contextmanager
    def lock_timeout(self, seconds: float) -> Iterator[None]:
        self.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        try:
            yield
        finally:
            self.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def upgrade_legacy(self) -> bool:
        return True

    @contextmanager
    def append_only_suspended(self, table: str) -> Iterator[None]:
        triggers = APPEND_ONLY_TRIGGERS[table]
        for statement in triggers:
            self.execute(f"DROP TRIGGER IF EXISTS {statement.split()[2]}")
        yield
        for statement in triggers:
            self.execute(statement)

    def health(self) -> Row:
        return {"journal_mode": self.execute("PRAGMA journal_mode").fetchone()[0]}

    def scrub(self) -> None:
        """Freed pages are zeroed (secure_delete); the WAL is checkpointed and truncated."""
        if self.location != ":memory:":
            self.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def backup(self, target: Path) -> Path:
        """Copy the database into the new file `target` with SQLite's online backup API.

        Safe while other processes write (a consistent snapshot, WAL content included); the
        copy is one self-contained file (rollback journal). StoreError, with nothing left
        behind, when `target` exists or cannot be written.
        """
        hint = "give a new file name in a writable directory"
        if target.exists():
            raise StoreError(f"{target}: already exists; a backup never overwrites, {hint}")
        partial: Path | None = None
        try:
            handle, name = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".partial"
            )
            os.close(handle)
            partial = Path(name)
            destination = sqlite3.connect(partial)
            try:
                self.conn.backup(destination)
                destination.execute("PRAGMA journal_mode = DELETE")
            finally:
                destination.close()
            os.replace(partial, target)
        except (OSError, sqlite3.Error) as error:
            if partial is not None:
                partial.unlink(missing_ok=True)
            reason = getattr(error, "strerror", None) or str(error)
            raise StoreError(f"{target}: cannot write the backup ({reason}); {hint}") from None
        return target

    def close(self) -> None:
        self.conn.close()


def _check_path(path: Path, create: bool) -> None:
    """StoreError unless `path` is an existing file, or (with `create`) a new one can be made."""
    hint = "give --db (or VERIFYBOT_DB) the path of a verifybot database file"
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a database file; {hint}")
    if path.exists():
        return
    if not create:
        raise StoreError(f"{path}: no such database file; {hint}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"{path}: cannot create its directory ({error.strerror}); {hint}"
        ) from None


def _open_problem(path: str, error: Exception) -> str:
    if isinstance(error, RuntimeError):
        return f"{path}: {error}"
    if "not a database" in str(error):
        return (
            f"{path}: is not a SQLite database; give --db (or VERIFYBOT_DB) a verifybot "
            "database or a new file name"
        )
    return f"{path}: cannot open the database ({error}); check the file and its permissions"


def _make_private(path: Path) -> None:
    """The database file created 0600 (SQLite gives its WAL and SHM files the same mode);
    existing files made 0600."""
    if not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
        except FileExistsError:
            pass
        except OSError as error:
            problem = f"{path}: cannot create the database file ({error.strerror})"
            raise StoreError(problem) from None
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(OSError):
            if candidate.exists() and candidate.stat().st_mode & 0o077:
                os.chmod(candidate, PRIVATE_FILE)
