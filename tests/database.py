"""Where a test's database lives: a SQLite file, or, when VERIFYBOT_TEST_DATABASE_URL is set,
a fresh PostgreSQL schema of that database (dropped after the test)."""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot.keys import is_database_url
from bot.store import Store
from bot.store.backend import Row

TEST_DATABASE_URL = os.environ.get("VERIFYBOT_TEST_DATABASE_URL") or None
ON_POSTGRES = TEST_DATABASE_URL is not None
KEY_SETTINGS = {
    "audit": "test-audit-key-0123456789abcdefghijklmnop",
    "data": "test-data-key-0123456789abcdefghijklmnopq",
    "index": "test-index-key-0123456789abcdefghijklmnop",
}


def database_settings(location: str | Path) -> dict[str, Any]:
    """Settings for a database: `db` for a file; the URL and the three keys for PostgreSQL."""
    location = str(location)
    if not is_database_url(location):
        return {"db": location}
    keys = {f"{name}_key": secret for name, secret in KEY_SETTINGS.items()}
    return {"database_url": location, **keys}


def open_store(location: str | Path, **options: Any) -> Store:
    """Another connection to a test's database (the PostgreSQL keys given)."""
    if is_database_url(str(location)):
        options.setdefault("key_settings", KEY_SETTINGS)
    return Store(location, **options)


@contextmanager
def fresh_database(db_path: Path) -> Iterator[str]:
    """The file `db_path`, or a new PostgreSQL schema's URL when testing on PostgreSQL."""
    if TEST_DATABASE_URL is None:
        yield str(db_path)
        return
    import psycopg

    schema = f"test_{secrets.token_hex(6)}"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in TEST_DATABASE_URL else "?"
    yield f"{TEST_DATABASE_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as admin:
        admin.execute("SET lock_timeout = '5s'")
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


def raw_execute(location: str | Path, *statements: str) -> None:
    """Statements on a connection of its own, past the store: what someone with write access
    to the database can do. `DROP TRIGGER name` names its table on PostgreSQL."""
    location = str(location)
    if not is_database_url(location):
        connection = sqlite3.connect(location)
        try:
            for statement in statements:
                connection.execute(statement)
            connection.commit()
        finally:
            connection.close()
        return
    import psycopg

    with psycopg.connect(location) as connection:
        for statement in statements:
            if statement.startswith("DROP TRIGGER "):
                trigger = statement.split()[2]
                statement = f"{statement} ON {trigger.split('_append_only_')[0]}"
            connection.execute(statement.encode())


@contextmanager
def write_lock_held(location: str | Path) -> Iterator[None]:
    """Another connection holds the database's write lock inside the block."""
    location = str(location)
    if not is_database_url(location):
        blocker = sqlite3.connect(location, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            yield
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        return
    import psycopg

    from bot.store.postgres import WRITE_LOCK

    with psycopg.connect(location) as blocker:
        blocker.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK])
        yield
        blocker.rollback()


@contextmanager
def jobs_locked(location: str | Path) -> Iterator[None]:
    """Another connection blocks every job insert inside the block: SQLite's write lock; on
    PostgreSQL a lock on the jobs table (job inserts take no write lock there)."""
    location = str(location)
    if not is_database_url(location):
        with write_lock_held(location):
            yield
        return
    import psycopg

    with psycopg.connect(location) as blocker:
        blocker.execute("LOCK TABLE jobs IN EXCLUSIVE MODE")
        yield
        blocker.rollback()


def stored_bytes(location: str | Path) -> bytes:
    """What the database holds: SQLite's file and WAL as they lie on disk; on PostgreSQL every
    row of every table as text (what a dump would hold; old row versions are VACUUM's)."""
    location = str(location)
    if not is_database_url(location):
        files = [Path(location), Path(f"{location}-wal")]
        return b"".join(path.read_bytes() for path in files if path.exists())
    import psycopg

    with psycopg.connect(location) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        ]
        rows = [
            text
            for table in tables
            for (text,) in connection.execute(f"SELECT t::text FROM {table} t".encode())
        ]
    return "\n".join(rows).encode()


def write_in_threads(
    location: str | Path, clock: object, write: Callable[[Store, int], None], count: int = 2
) -> list[Row]:
    """`write(store, number)` in `count` threads at once, each with its own store (as
    separate processes have); the events then, after checking the chain."""
    stores = [open_store(location, clock=clock) for _ in range(count)]
    writers = [
        threading.Thread(target=write, args=(store, number)) for number, store in enumerate(stores)
    ]
    try:
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(timeout=60)
        assert stores[-1].audit_chain_intact()
        return stores[0].events()
    finally:
        for store in stores:
            store.close()
