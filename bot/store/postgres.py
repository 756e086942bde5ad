"""The PostgreSQL backend (psycopg 3 and its connection pool), for more than one replica.

One writer at a time, as on SQLite: every write transaction starts by taking one
transaction-level advisory lock (`pg_advisory_xact_lock`), the counterpart of SQLite's
`BEGIN IMMEDIATE`. The store's read-then-write transactions (the audit chain's head, a dedupe
check before an insert) then stay correct under READ COMMITTED without
serialisation failures to retry, and a lone write statement outside a transaction takes the
same lock. Reads take no lock. The lock is released at commit or rollback, also when a
replica dies (the server ends its session).

`unlocked_batch()` is one transaction without that lock, sent in one round trip (one simple
query), for writes that row locks and unique keys keep right on their own: queueing jobs
(INSERT ... ON CONFLICT DO NOTHING on the dedupe key), so that an ack never waits for another
request's transaction; a job's claim (its row picked FOR UPDATE SKIP LOCKED, so that two
replicas never claim one job and neither waits for the other), marks, lease and end; a message
marked shown; a Teams user's turn lease. A job's bookkeeping then costs one round trip, not
three, and never queues behind a request's write transaction.

A transaction that queues work (a job, a notice) also notifies the schema's work channel at its
commit, in the COMMIT's round trip (`wake_workers`); a `verifybot work` process listens there
(`listen_for_work`), so that work a `serve --web-only` process queued runs at once, not at the
worker's next poll. A `serve` that runs its own work notifies nobody (`notify_workers` off): a
NOTIFY serialises the commits that send one, and cost a paced click 0.3 ms.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.errors
import structlog
from psycopg import pq
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.errors import StoreError
from bot.store.backend import Result, Row
from bot.store.pg_schema import PG_MIGRATIONS

log = structlog.get_logger("verifybot.store")

WRITE_LOCK = 0x7665726966790001  # "verify" + 1: the one advisory lock key verifybot uses
LOCK_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT_S = 10.0
RETURNS_ID = frozenset(
    {"candidates", "answers", "escalations", "outbox", "events", "erasures", "watchlist", "jobs"}
)
READS = ("SELECT", "WITH", "SHOW", "EXPLAIN")
CHECK_AFTER_IDLE_S = 5.0
WORK_CHANNEL = "verifybot_work"
LISTEN_POLL_S = 1.0
RELISTEN_AFTER_S = 2.0
BEGIN_LOCKED = (
    "BEGIN; SELECT set_config('lock_timeout', '{timeout}ms', true), "
    f"pg_advisory_xact_lock({WRITE_LOCK})"
)


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """The store's `?` placeholders as psycopg's `%s` (a literal `%` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class IdleCheck:
    """The pool's check of a connection it hands out: a round trip to the server only when
    the connection lay idle more than CHECK_AFTER_IDLE_S (a server restart or a dropped
    connection shows there); one returned a moment ago is handed out as it is."""

    def __init__(self) -> None:
        self.returned_at: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    def check(self, conn: psycopg.Connection[Any]) -> None:
        returned = self.returned_at.get(conn)
        if returned is None or time.monotonic() - returned > CHECK_AFTER_IDLE_S:
            ConnectionPool.check_connection(conn)

    def returned(self, conn: psycopg.Connection[Any]) -> None:
        self.returned_at[conn] = time.monotonic()


class PostgresBackend:
    """A verifybot database on a PostgreSQL server, through a pool of connections."""

    dialect = "postgresql"
    Error = psycopg.DatabaseError
    busy_errors: tuple[type[Exception], ...] = (psycopg.errors.LockNotAvailable, PoolTimeout)
    skip_locked = " FOR UPDATE SKIP LOCKED"
    notify_workers = True

    def __init__(self, url: str, pool_size: int = 5) -> None:
        """StoreError naming the server (never the password) when it cannot be used."""
        self.location = url
        self._local = threading.local()
        idle = IdleCheck()
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(pool_size, 1),
            kwargs={"autocommit": True},
            check=idle.check,
            reset=idle.returned,
            timeout=CONNECT_TIMEOUT_S,
            open=False,
            name="verifybot",
        )
        try:
            psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT_S)).close()
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
            self.schema_version = self._migrate()
            schema = self.execute("SELECT current_schema()").fetchone()
        except (psycopg.Error, PoolTimeout, RuntimeError) as error:
            self.pool.close()
            raise StoreError(
                f"{redacted(url)}: cannot use the PostgreSQL database "
                f"({_first_line(error, 'no answer')}); "
                "check VERIFYBOT_DATABASE_URL and that the server is up"
            ) from None
        self.work_channel = f"{WORK_CHANNEL}:{schema[0] if schema else 'public'}"
        self._notify = SQL("NOTIFY {}").format(Identifier(self.work_channel)).as_string(None)

    def _migrate(self) -> int:
        """Apply the migrations the database has not seen, under the write lock (one replica
        migrates, the others wait and find nothing left to do)."""
        target = len(PG_MIGRATIONS)
        with self.transaction():
            self.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self.execute("SELECT version FROM schema_version").fetchone()
            current = int(row[0]) if row else 0
            if current > target:
                raise RuntimeError(
                    f"the database has schema version {current}, newer than this verifybot "
                    f"({target}); upgrade verifybot"
                )
            for version in range(current + 1, target + 1):
                self.execute(PG_MIGRATIONS[version - 1])
            if row is None:
                self.execute("INSERT INTO schema_version (version) VALUES (?)", [target])
            elif current < target:
                self.execute("UPDATE schema_version SET version = ?", [target])
        return target

    @property
    def _conn(self) -> psycopg.Connection[Any] | None:
        return getattr(self._local, "conn", None)

    @property
    def _session(self) -> psycopg.Connection[Any] | None:
        return getattr(self._local, "session", None)

    @contextmanager
    def session(self) -> Iterator[None]:
        """The block's statements on one pooled connection (one check-out and check, not one
        per statement); each transaction in it still takes the write lock first."""
        if self._session is not None or self._conn is not None:
            yield
            return
        with self.pool.connection() as pooled:
            self._local.session = pooled
            try:
                yield
            finally:
                self._local.session = None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        conn = self._conn or self._session
        if self._conn is None and not sql.lstrip().upper().startswith(READS):
            with self.transaction():
                return self.execute(sql, params)
        if conn is not None:
            return _run(conn, sql, params)
        with self.pool.connection() as pooled:
            return _run(pooled, sql, params)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[Row]:
        result = self.execute(sql, params)
        return [dict(zip(result.columns, values, strict=True)) for values in result.rows]

    def query_batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        """Reads as one simple query (`_simple_query`, as unlocked_batch): one round trip,
        one snapshot outside a transaction, inside it part of it."""
        if len(statements) < 2:
            return [self.query(sql, params) for sql, params in statements]
        parts = [_placeholders(sql) for sql, _ in statements]
        params = [param for _, values in statements for param in values]
        conn = self._conn or self._session
        with nullcontext(conn) if conn is not None else self.pool.connection() as pooled:
            return _simple_query(pooled, parts, params)

    def insert(self, table: str, row: Row) -> int:
        """Insert one row; its id where the table has a generated one, else 0."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        returning = " RETURNING id" if table in RETURNS_ID else ""
        result = self.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}){returning}", list(row.values())
        )
        first = result.fetchone()
        return int(first[0]) if first else 0

    def json_append(self, column: str) -> str:
        """An expression: the JSON array in `column` with the parameter appended."""
        return f"({column}::jsonb || to_jsonb(?::text))::text"

    @property
    def in_transaction(self) -> bool:
        return self._conn is not None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The outermost takes the write lock first (waiting at most the lock timeout): BEGIN
        and the lock go in one round trip; an inner one is a savepoint."""
        conn = self._conn
        if conn is not None:
            with conn.transaction():
                yield
            return
        timeout = int(getattr(self._local, "lock_timeout_ms", LOCK_TIMEOUT_MS))
        session = self._session
        with nullcontext(session) if session is not None else self.pool.connection() as pooled:
            self._local.conn = pooled
            try:
                pooled.execute(BEGIN_LOCKED.format(timeout=timeout))
                yield
            except BaseException:
                _roll_back(pooled)
                raise
            else:
                wake = getattr(self._local, "wake", False)
                pooled.execute(f"{self._notify}; COMMIT" if wake else "COMMIT")
            finally:
                self._local.conn = None
                self._local.wake = False

    def unlocked_batch(
        self, statements: Sequence[tuple[str, Sequence[Any]]], wake_workers: bool = False
    ) -> list[list[Row]]:
        """Write statements that stay right without the write lock, as one transaction in one
        round trip; each statement's rows. Inside a transaction they are part of it.

        BEGIN, the lock timeout, the statements, the notice that wakes the workers and COMMIT
        go as one simple query, their parameters bound and quoted by psycopg on this side (a
        ClientCursor): a third of the client's CPU of five pipelined statements, for an ack's
        job insert."""
        wake_workers = wake_workers and self.notify_workers
        if self._conn is not None:
            if wake_workers:
                self.wake_workers()
            return [self.query(sql, params) for sql, params in statements]
        timeout = int(getattr(self._local, "lock_timeout_ms", LOCK_TIMEOUT_MS))
        parts = [
            "BEGIN",
            f"SET LOCAL lock_timeout = '{timeout}ms'",
            *(_placeholders(sql) for sql, _ in statements),
            *([_placeholders(self._notify)] if wake_workers else []),
            "COMMIT",
        ]
        params = [param for _, values in statements for param in values]
        session = self._session
        with nullcontext(session) if session is not None else self.pool.connection() as pooled:
            try:
                results = _simple_query(pooled, parts, params)
            except BaseException:
                _roll_back(pooled)
                raise
            return results[2 : 2 + len(statements)]

    def wake_workers(self) -> None:
        """Wake the processes listening for work: at the commit of this thread's transaction,
        sent with its COMMIT; at once outside one. Nothing unless `notify_workers`."""
        if not self.notify_workers:
            return
        if self._conn is not None:
            self._local.wake = True
        else:
            self.execute("SELECT pg_notify(?, '')", [self.work_channel])  # a read: no lock

    def listen_for_work(self, woken: Callable[[], None], stop: threading.Event) -> None:
        """Call `woken` at each notice on the work channel (and once at each (re)connect, for
        what was queued while not listening) until `stop` is set; a lost connection is
        opened again after RELISTEN_AFTER_S. Blocks: run it on a thread of its own."""
        while not stop.is_set():
            try:
                with psycopg.connect(
                    self.location, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT_S)
                ) as conn:
                    conn.execute(SQL("LISTEN {}").format(Identifier(self.work_channel)))
                    woken()
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=LISTEN_POLL_S, stop_after=1):
                            woken()
            except psycopg.Error as error:
                log.warning("store.work_listener_lost", error=_first_line(error, "closed"))
                stop.wait(RELISTEN_AFTER_S)

    @contextmanager
    def lock_timeout(self, seconds: float) -> Iterator[None]:
        previous = getattr(self._local, "lock_timeout_ms", LOCK_TIMEOUT_MS)
        self._local.lock_timeout_ms = max(int(seconds * 1000), 1)
        try:
            yield
        finally:
            self._local.lock_timeout_ms = previous

    def upgrade_legacy(self) -> bool:
        """No: PostgreSQL databases were only ever written sealed, under the keyed chain."""
        return False

    @contextmanager
    def append_only_suspended(self, table: str) -> Iterator[None]:
        self.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        yield
        self.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")

    def health(self) -> Row:
        stats = self.pool.get_stats()
        return {"pool_size": stats.get("pool_size", 0), "pool_available": stats["pool_available"]}

    def scrub(self) -> None:
        """Nothing to do at once: an erased candidate's old row versions are dead tuples that
        (auto)VACUUM reclaims; without the deleted data key their sealed fields are unreadable."""

    def close(self) -> None:
        self.pool.close()


def _first_line(error: Exception, otherwise: str) -> str:
    """The first line of a driver's message (they run to several), or `otherwise`."""
    text = str(error).strip()
    return text.splitlines()[0] if text else otherwise


def _roll_back(conn: psycopg.Connection[Any]) -> None:
    """End a failed transaction; a broken connection the pool drops on its return."""
    if not conn.broken:
        with suppress(psycopg.Error):
            conn.execute("ROLLBACK")


def _simple_query(
    conn: psycopg.Connection[Any], parts: list[str], params: list[Any]
) -> list[list[Row]]:
    """`parts` as one simple query (one round trip), `params` bound and quoted by psycopg on
    this side (a ClientCursor); each part's rows."""
    cursor = psycopg.ClientCursor(conn)
    cursor.execute("; ".join(parts), params)
    results = []
    for _ in parts:
        results.append(_rows_of(cursor))
        cursor.nextset()
    return results


def _column_names(cursor: psycopg.Cursor[Any]) -> list[str] | None:
    """The current result's column names, None when it holds no rows: read off the libpq
    result, since `cursor.description` builds a Column (and looks up its type) per column
    each time it is read (a status by id took 15-20% longer through it)."""
    result = cursor.pgresult
    if result is None or result.status != pq.ExecStatus.TUPLES_OK:
        return None
    encoding = cursor.connection.info.encoding
    return [(result.fname(number) or b"").decode(encoding) for number in range(result.nfields)]


def _rows_of(cursor: psycopg.Cursor[Any]) -> list[Row]:
    columns = _column_names(cursor)
    if columns is None:
        return []
    return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]


def _run(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any] | None) -> Result:
    cursor = conn.execute(sql) if params is None else conn.execute(_placeholders(sql), params)
    columns = _column_names(cursor)
    if columns is None:
        return Result(rowcount=cursor.rowcount)
    return Result(columns, cursor.fetchall(), cursor.rowcount)
