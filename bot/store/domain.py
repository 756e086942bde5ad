"""The verifybot database's domain methods, written once for SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from bot.crypto import Unreadable, Vault, is_sealed
from bot.errors import StoreBusy, StoreError
from bot.ids import new_verification_id
from bot.keys import Keys, load_keys
from bot.sealing import (
    ANSWER_COLUMNS,
    BLIND_INDEXES,
    CANDIDATE_COLUMNS,
    ERASED,
    ESCALATION_COLUMNS,
    blind_indexes,
    email_key,
    name_key,
    open_columns,
    seal_columns,
)
from bot.store import memo
from bot.store.backend import Backend, Cursor, is_database_url
from bot.store.bounded import BoundedMap
from bot.store.postgres import PostgresBackend, redacted
from bot.store.sqlite import SqliteBackend

Row = dict[str, Any]
Clock = Callable[[], datetime]
GENESIS_HASH = "0" * 64
AUDIT_SCHEME = "hmac-sha256-v1"
JOB_ROWS_PER_STATEMENT = 100
REMEMBERED_KEYS = 10_000
AUDIT_HEAD = "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1"
REMEMBERED_CANDIDATES = 20_000


class ClaimedJobs(NamedTuple):
    """Jobs just claimed, and when the next job of their kinds falls due (None: none is)."""

    rows: list[Row]
    next_due: datetime | None


def _next_due_statement(kinds: list[str]) -> tuple[str, list[str]]:
    return (
        "SELECT min(CASE status WHEN 'pending' THEN next_attempt_at ELSE locked_until END) "
        f"AS due FROM jobs WHERE kind IN ({', '.join('?' for _ in kinds)}) "
        "AND status IN ('pending', 'running')",
        kinds,
    )


def _due_of(row: Row | None) -> datetime | None:
    return datetime.fromisoformat(row["due"]) if row and row["due"] else None


class Person(NamedTuple):
    """Who a candidate is, for telling other people apart: the same mailbox and the same name
    is the same person (a re-run); another mailbox, or one mailbox under another name, is not."""

    candidate_id: int
    email_key: str
    name_key: str


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class ChainHead(threading.local):
    """The audit chain's last event ({id, hash}) as this thread's write transaction left it;
    None outside one, and after a rollback."""

    head: Row | None = None


class Store:
    """The verifybot database, SQLite (a file) or PostgreSQL (a URL); schema migrated on open.

    Every domain method is written once here; `self.db` (bot/store/sqlite.py,
    bot/store/postgres.py) runs it on the database it has.
    """

    def __init__(
        self,
        path: str | Path,
        clock: Clock = utc_now,
        *,
        create: bool = True,
        keys: Keys | None = None,
        key_settings: dict[str, str | None] | None = None,
        pool_size: int = 5,
    ) -> None:
        """Open (and migrate) the database at `path`: a file name, or a `postgresql://` URL.

        SQLite: `create=False` refuses a file that does not exist; the keys are `keys`, else
        those of `key_settings` and the key file beside the database (bot/keys.py); the
        database, its WAL and SHM files are private (0600). PostgreSQL: the keys are `keys`
        or all three settings (never the database's), checked before connecting; `pool_size`
        connections at most. StoreError, with nothing written, when the database cannot be used.
        """
        self.path = str(path)
        self.clock = clock
        self.db: Backend
        if is_database_url(self.path):
            keys = keys or load_keys(self.path, key_settings or {})
            self.db = PostgresBackend(self.path, pool_size)
        else:
            self.db = SqliteBackend(self.path, create)
        self.schema_version = self.db.schema_version
        try:
            first_use = self._meta("audit_scheme") is None
            self.vault = Vault(keys or load_keys(self.path, key_settings or {}, first_use))
        except StoreError:
            self.db.close()
            raise
        self._candidate_keys: BoundedMap[int, tuple[str, bytes]] = BoundedMap(REMEMBERED_KEYS)
        self._candidate_of: BoundedMap[str, int] = BoundedMap(REMEMBERED_CANDIDATES)
        self._chain = ChainHead()
        self._upgrade_data()

    @property
    def shown_path(self) -> str:
        """The file name, or the URL without its password: what messages may show."""
        return redacted(self.path)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`, for messages and health checks."""
        return self.db.dialect

    @property
    def waits_on_network(self) -> bool:
        """Each statement is a round trip to a server (PostgreSQL), not a local file."""
        return self.db.dialect == "postgresql"

    def runs_its_own_work(self) -> None:
        """This process runs every job and notice it queues (a `serve` that is not web-only):
        other processes are not told of them."""
        self.db.notify_workers = False

    def listen_for_work(self, woken: Callable[[], None], stop: threading.Event) -> None:
        """Call `woken` whenever another process queues a job or a notice, until `stop` is set
        (blocks: a thread's work); StoreError on SQLite, where no other process runs work."""
        self.db.listen_for_work(woken, stop)

    def close(self) -> None:
        self.db.close()

    def backup(self, target: str | Path) -> Path:
        """A consistent copy of a SQLite database in the new file `target` (see
        SqliteBackend.backup); a PostgreSQL database is backed up by its server."""
        if not isinstance(self.db, SqliteBackend):
            raise StoreError(
                "verifybot backup copies a SQLite file; back a PostgreSQL database up with "
                "pg_dump or your provider's point-in-time recovery"
            )
        return self.db.backup(Path(target))

    def now(self) -> str:
        return iso(self.clock())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, one at a time on the database (SQLite: BEGIN IMMEDIATE;
        PostgreSQL: an advisory lock taken first); nested ones are savepoints.

        What was read before the outermost transaction is read again inside it, and a rollback
        forgets what was read inside; the audit chain's head, once read or appended inside it,
        is known until it ends (the write lock keeps other appends out) or anything rolls back.
        """
        remembered = self._memo()
        outermost = not self.db.in_transaction
        if outermost:
            self._chain.head = None
            if remembered is not None:
                remembered.forget()
        try:
            with self.db.transaction():
                yield
        except BaseException:
            self._chain.head = None
            if remembered is not None:
                remembered.forget()
            raise
        finally:
            if outermost:
                self._chain.head = None

    @contextmanager
    def remembering(self) -> Iterator[None]:
        """Inside the block (one service call, awaiting no other task), each of verification,
        candidate, candidate key, answers and escalation is read once (bot/store/memo.py),
        and every statement goes to one connection."""
        if self._memo() is not None:
            yield
            return
        remembered = memo.Memo(self)
        token = memo.CURRENT.set(remembered)
        try:
            with self.db.session():
                yield
        finally:
            remembered.close()
            memo.CURRENT.reset(token)

    def _memo(self) -> memo.Memo | None:
        current = memo.CURRENT.get()
        return current if current is not None and current.owner is self and current.open else None

    def _remember(self, table: str, key: object, read: Callable[[], memo.T]) -> memo.T:
        """`read()`, or inside `remembering()` what it gave the first time in the block."""
        remembered = self._memo()
        return read() if remembered is None else remembered.get(table, key, read)

    def read_ahead(self, verifications: Sequence[Row]) -> None:
        """Inside `remembering()`: read the candidates, keys, answers, escalations and hand-over
        links of these verifications in one statement per table, all in one round trip on a
        server, as the one-row reads would give them, so that building their views reads
        nothing more (a list of 50: 6 statements, not 300). Outside it, nothing."""
        remembered = self._memo()
        if remembered is None or not verifications:
            return
        self._remember_ahead(
            remembered, verifications, self.db.query_batch(_ahead_statements(verifications))
        )

    def read_ahead_fresh(self, verifications: Sequence[Row], audit_head: bool = False) -> None:
        """`read_ahead` of these verifications with their own rows read again in the same round
        trip: a write transaction's fresh reads under the write lock. The rows given may be
        older; only their ids and candidates, which never change, are used. With `audit_head`,
        the audit chain's head as well, which the lock keeps until the transaction ends (see
        `transaction`)."""
        remembered = self._memo()
        if remembered is None or not verifications:
            return
        ahead = _ahead_statements(verifications)
        with_head = audit_head and self.db.in_transaction
        fresh, *results = self.db.query_batch(
            [
                _in("SELECT * FROM verifications WHERE id", [row["id"] for row in verifications]),
                *ahead,
                *([(AUDIT_HEAD, [])] if with_head else []),
            ]
        )
        self._remember_ahead(remembered, fresh, results[: len(ahead)])
        if with_head and results[-1]:
            self._chain.head = results[-1][0]

    def _remember_ahead(
        self, remembered: memo.Memo, verifications: Sequence[Row], results: list[list[Row]]
    ) -> None:
        """What one read-ahead batch read, remembered as the one-row reads would give it."""
        ids = [row["id"] for row in verifications]
        candidate_ids = sorted({int(row["candidate_id"]) for row in verifications})
        for row in verifications:
            remembered.put("verifications", row["id"], row)
            self._candidate_of.put(row["id"], int(row["candidate_id"]))
        keys, candidates, answer_rows, escalation_rows, pre_offers, devices = results
        wrapped = {row["candidate_id"]: row["wrapped"] for row in keys}
        for candidate_id in candidate_ids:
            found = wrapped.get(candidate_id)
            remembered.put(
                "candidate_keys", candidate_id, {"wrapped": found} if found is not None else None
            )
        for row in candidates:
            remembered.put("candidates", row["id"], self._open_candidate(row))
        answers: dict[str, list[Row]] = {verification_id: [] for verification_id in ids}
        for row in answer_rows:
            opened = self._open_answer(row)
            answers[row["verification_id"]].append(opened)
            remembered.put("answers", row["id"], opened)
        escalations = {row["verification_id"]: row for row in escalation_rows}
        links: dict[str, Row] = {}
        for row in pre_offers:
            links.setdefault(row["pre_offer_id"], row)
        for row in devices:
            links.setdefault(row["verification_id"], row)
        for verification_id in ids:
            remembered.put("answers", verification_id, answers[verification_id])
            escalation = escalations.get(verification_id)
            remembered.put(
                "escalations",
                ("of", verification_id),
                self._open_escalation(escalation) if escalation else None,
            )
            remembered.put("handovers", verification_id, links.get(verification_id))

    def _rows_in(self, select: str, values: Sequence[Any], order: str = "") -> list[Row]:
        """`select` ending in a column, with ` IN (values)` (and `order`) after it."""
        return self._rows(*_in(select, values, order))

    def _execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        """A statement; a write makes the call's memo forget the table it writes."""
        remembered = self._memo()
        if remembered is not None:
            remembered.forget_written(sql)
        return self.db.execute(sql, params)

    def _unlocked(self, table: str, *statements: tuple[str, Sequence[Any]]) -> list[list[Row]]:
        """Writes to `table` that each stay right alone, so they take no write lock (one
        transaction, one round trip on a server); each one's rows (RETURNING)."""
        remembered = self._memo()
        if remembered is not None:
            remembered.forget(table)
        return self.db.unlocked_batch(statements)

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        remembered = self._memo()
        if remembered is not None:
            remembered.forget_written(sql)
        return self.db.query(sql, list(params))

    def _row(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _insert(self, table: str, row: Row) -> int:
        """Insert one row into a table of the known schema; return its id."""
        remembered = self._memo()
        if remembered is not None:
            remembered.forget(table)
        return self.db.insert(table, row)

    def _count(self, sql: str) -> int:
        row = self._row(sql)
        return int(row["n"]) if row else 0

    def health(self) -> Row:
        """The database's state for /healthz: cheap at any size (no table is counted whole)."""
        return {
            "ok": True,
            "database": self.dialect,
            "schema_version": self.schema_version,
            **self.db.health(),
            "outbox_pending": self.outbox_pending(),
        }

    def outbox_pending(self) -> int:
        """Notices waiting to be sent, counted on the outbox's status index."""
        return self._count(
            "SELECT count(*) AS n FROM outbox WHERE status IN ('pending', 'sending')"
        )

    # candidates and verifications

    def insert_candidate(self, fields: Row) -> int:
        """A new candidate with a data key of their own; personal fields sealed with it."""
        candidate_id = self._insert(
            "candidates", {**blind_indexes(self.vault, fields), "created_at": self.now()}
        )
        key = self.vault.new_data_key()
        wrapped = self.vault.wrap(key, candidate_id)
        self._insert("candidate_keys", {"candidate_id": candidate_id, "wrapped": wrapped})
        self._candidate_keys.put(candidate_id, (wrapped, key))
        self._write_sealed_candidate(candidate_id, key, fields)
        return candidate_id

    def _write_sealed_candidate(self, candidate_id: int, key: bytes, fields: Row) -> None:
        personal = {name: fields.get(name) for name in CANDIDATE_COLUMNS}
        sealed = seal_columns(key, "candidates", candidate_id, personal, CANDIDATE_COLUMNS)
        assignments = ", ".join(f"{name} = ?" for name in sealed)
        self._execute(
            f"UPDATE candidates SET {assignments} WHERE id = ?", [*sealed.values(), candidate_id]
        )

    def candidate_key(self, candidate_id: int) -> bytes | None:
        """The candidate's data key; None once the candidate is erased, by any process.

        The sealed key is read every time (an erasure elsewhere deletes it), once per
        `remembering()` block; only its unwrapping is remembered across calls, for that very
        wrapped key (an id a rolled-back insert used may come back with another).
        """
        row = self._remember(
            "candidate_keys",
            candidate_id,
            lambda: self._row(
                "SELECT wrapped FROM candidate_keys WHERE candidate_id = ?", [candidate_id]
            ),
        )
        if row is None:
            self._candidate_keys.pop(candidate_id)
            return None
        known = self._candidate_keys.get(candidate_id)
        if known is not None and known[0] == row["wrapped"]:
            return known[1]
        key = self.vault.unwrap(row["wrapped"], candidate_id)
        self._candidate_keys.put(candidate_id, (row["wrapped"], key))
        return key

    def _key_of_verification(self, verification_id: str) -> bytes | None:
        candidate_id = self._candidate_of.get(verification_id)
        if candidate_id is None:
            row = self._row(
                "SELECT candidate_id FROM verifications WHERE id = ?", [verification_id]
            )
            if row is None:
                return None
            candidate_id = int(row["candidate_id"])
            self._candidate_of.put(verification_id, candidate_id)
        return self.candidate_key(candidate_id)

    def _open_candidate(self, row: Row) -> Row:
        key = self.candidate_key(row["id"])
        opened = open_columns(key, "candidates", row["id"], row, CANDIDATE_COLUMNS)
        if key is None:
            opened.update({name: ERASED for name in CANDIDATE_COLUMNS if opened.get(name)})
            opened.update({"name": ERASED, "email": ERASED})
        return opened

    def unused_verification_id(self, make: Callable[[], str] = new_verification_id) -> str:
        """A new verification id no verification has; call it in the write transaction that
        inserts the verification (32 random bits meet an earlier id once in a few thousand
        starts at a million verifications)."""
        while True:
            candidate = make()
            if self._row("SELECT 1 AS x FROM verifications WHERE id = ?", [candidate]) is None:
                return candidate

    def insert_verification(self, fields: Row) -> None:
        now = self.now()
        self._insert("verifications", {**fields, "created_at": now, "updated_at": now})

    def set_verification_status(self, verification_id: str, status: str) -> None:
        self._execute(
            "UPDATE verifications SET status = ?, updated_at = ? WHERE id = ?",
            [status, self.now(), verification_id],
        )

    def cancel_verification(self, verification_id: str) -> None:
        now = self.now()
        self._execute(
            "UPDATE verifications SET cancelled_at = ?, updated_at = ? WHERE id = ?",
            [now, now, verification_id],
        )

    def verification_by_start_key(self, start_key: str) -> Row | None:
        return self._row("SELECT * FROM verifications WHERE start_key = ?", [start_key])

    def verification(self, verification_id: str) -> Row | None:
        row = self._remember(
            "verifications",
            verification_id,
            lambda: self._row("SELECT * FROM verifications WHERE id = ?", [verification_id]),
        )
        if row is not None:
            self._candidate_of.put(verification_id, int(row["candidate_id"]))
        return row

    def candidate(self, candidate_id: int) -> Row | None:
        """The candidate with their fields opened (`(erased)` once erased)."""
        return self._remember(
            "candidates", candidate_id, partial(self._read_candidate, candidate_id)
        )

    def _read_candidate(self, candidate_id: int) -> Row | None:
        row = self._row("SELECT * FROM candidates WHERE id = ?", [candidate_id])
        return self._open_candidate(row) if row else None

    def verifications_by_candidate_name(
        self, name: str, owner: tuple[str, str] | None = None
    ) -> list[Row]:
        """Newest first; only those `owner` (user id, platform) started when given.

        Read in idx_verifications_name_owner alone: the owner's rows of the name, however
        many candidates share it and however many verifications the owner started.
        """
        index = self.vault.blind_index("name_index", name_key(name))
        mine, params = "", [index]
        if owner is not None:
            mine = " AND requested_by = ? AND platform = ?"
            params += list(owner)
        rows = self._rows(
            f"SELECT * FROM verifications WHERE name_index = ?{mine} ORDER BY created_at DESC",
            params,
        )
        for row in rows:
            self._candidate_of.put(row["id"], int(row["candidate_id"]))
        return rows

    def email_index(self, email: str) -> str:
        """The keyed hash an email is looked up (and audited) by."""
        return self.vault.blind_index("email_index", email_key(email))

    def verifications_by_candidate_email(self, email: str) -> list[Row]:
        index = self.vault.blind_index("email_index", email_key(email))
        return self._rows(
            "SELECT v.* FROM verifications v JOIN candidates c ON c.id = v.candidate_id "
            "WHERE c.email_index = ? ORDER BY v.created_at DESC",
            [index],
        )

    def list_verifications(
        self,
        requested_by: str | None = None,
        statuses: Iterable[str] | None = None,
        limit: int = 50,
        platform: str | None = None,
        unfinished: bool = False,
        offset: int = 0,
    ) -> list[Row]:
        """Newest first (ties: the higher id first); `requested_by` and `platform` together
        name one person.

        `unfinished` keeps what `VerificationView.open` keeps, read from the stored outcome
        (through idx_verifications_unfinished_newest, in its order: a page stops at its limit)
        and the verification's one escalation, joined row by row: steps left (in progress, or
        blocked with fraud not confirmed) or a finding awaiting security. A cleared
        verification never awaits security: a finding awaiting a decision holds the outcome
        down. Only a blocked one with every step answered and no escalation passes without
        being open.
        """
        clauses, params = [], []
        if requested_by is not None:
            clauses.append("v.requested_by = ?")
            params.append(requested_by)
        if platform is not None:
            clauses.append("v.platform = ?")
            params.append(platform)
        if statuses is not None:
            wanted = list(statuses)
            clauses.append(f"v.status IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        source = "verifications v"
        if unfinished:
            source += " LEFT JOIN escalations e ON e.verification_id = v.id"
            clauses.append(
                "v.cancelled_at IS NULL AND v.status != 'cleared' AND (v.status = 'in_progress' "
                "OR (v.status = 'blocked' AND (e.status IS NULL OR e.status != 'confirmed')) "
                "OR e.status IN ('open', 'acknowledged'))"
            )
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._rows(
            f"SELECT v.* FROM {source} {where} ORDER BY v.created_at DESC, v.id DESC "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )

    def candidate_names(self, verification_ids: Iterable[str]) -> dict[str, str]:
        """Each verification's candidate name (`(erased)` once erased)."""
        wanted = list(dict.fromkeys(verification_ids))
        if not wanted:
            return {}
        rows = self._rows(
            f"SELECT id, candidate_id FROM verifications WHERE id IN "
            f"({', '.join('?' for _ in wanted)})",
            wanted,
        )
        names = {}
        for row in rows:
            candidate = self.candidate(row["candidate_id"])
            names[row["id"]] = candidate["name"] if candidate else ERASED
        return names

    # answers

    def insert_answer(self, fields: Row) -> tuple[int, bool]:
        """Append an answer: (its id, True); a repeated dedupe key gives (the first's id, False).

        One statement for a new answer: the unique dedupe key refuses a repeat, which is
        then looked up."""
        row = {**fields, "answered_at": self.now()}
        key = self._key_of_verification(row["verification_id"])
        if key is not None:
            row = seal_columns(key, "answers", _answer_key(row), row, ANSWER_COLUMNS)
        inserted = self._rows(
            f"INSERT INTO answers ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)}) "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            list(row.values()),
        )
        if inserted:
            return int(inserted[0]["id"]), True
        existing = self._row(
            "SELECT id FROM answers WHERE dedupe_key = ?", [fields.get("dedupe_key")]
        )
        if existing is None:
            raise StoreError("an answer was refused without a dedupe key it repeats")
        return int(existing["id"]), False

    def _open_answer(self, row: Row) -> Row:
        key = self._key_of_verification(row["verification_id"])
        return open_columns(key, "answers", _answer_key(row), row, ANSWER_COLUMNS)

    def answers(self, verification_id: str) -> list[Row]:
        return self._remember(
            "answers", verification_id, partial(self._read_answers, verification_id)
        )

    def _read_answers(self, verification_id: str) -> list[Row]:
        """A verification's answers, each remembered by its id too (as read_ahead does)."""
        rows = self._rows(
            "SELECT * FROM answers WHERE verification_id = ? ORDER BY id", [verification_id]
        )
        opened = [self._open_answer(row) for row in rows]
        remembered = self._memo()
        if remembered is not None:
            for row in opened:
                remembered.put("answers", row["id"], row)
        return opened

    def answer(self, answer_id: int) -> Row | None:
        return self._remember("answers", answer_id, partial(self._read_answer, answer_id))

    def _read_answer(self, answer_id: int) -> Row | None:
        row = self._row("SELECT * FROM answers WHERE id = ?", [answer_id])
        return self._open_answer(row) if row else None

    # escalations

    def _open_escalation(self, row: Row | None) -> Row | None:
        if row is None:
            return None
        key = self._key_of_verification(row["verification_id"])
        return open_columns(key, "escalations", row["id"], row, ESCALATION_COLUMNS)

    def escalation_for(self, verification_id: str) -> Row | None:
        return self._remember(
            "escalations",
            ("of", verification_id),
            lambda: self._open_escalation(
                self._row("SELECT * FROM escalations WHERE verification_id = ?", [verification_id])
            ),
        )

    def escalation(self, escalation_id: int) -> Row | None:
        return self._remember(
            "escalations",
            escalation_id,
            lambda: self._open_escalation(
                self._row("SELECT * FROM escalations WHERE id = ?", [escalation_id])
            ),
        )

    def open_escalation(self, verification_id: str) -> tuple[int, bool]:
        """The verification's escalation id, creating it; True when it was created now."""
        existing = self.escalation_for(verification_id)
        if existing:
            return int(existing["id"]), False
        row = {"verification_id": verification_id, "status": "open", "created_at": self.now()}
        return self._insert("escalations", row), True

    def decide_escalation(
        self,
        escalation_id: int,
        status: str,
        actor: str,
        platform: str,
        reason: str | None,
        resolved_through: int | None = None,
    ) -> None:
        """Record a decision; `resolved_through` (a Clear) resolves findings up to that answer."""
        if reason is not None:
            verification = self._row(
                "SELECT verification_id FROM escalations WHERE id = ?", [escalation_id]
            )
            key = (
                self._key_of_verification(verification["verification_id"]) if verification else None
            )
            if key is not None:
                fields = {"decision_reason": reason}
                sealed = seal_columns(key, "escalations", escalation_id, fields, ESCALATION_COLUMNS)
                reason = sealed["decision_reason"]
        self._execute(
            "UPDATE escalations SET status = ?, decided_by = ?, decided_platform = ?, "
            "decided_at = ?, decision_reason = ?, "
            "resolved_through = coalesce(?, resolved_through) WHERE id = ?",
            [status, actor, platform, self.now(), reason, resolved_through, escalation_id],
        )

    def reopen_escalation(self, escalation_id: int) -> None:
        """A new finding after a Clear: open again, the earlier decision kept for the record."""
        self._execute(
            "UPDATE escalations SET status = 'open', reopened_at = ? WHERE id = ?",
            [self.now(), escalation_id],
        )

    def escalations(self, statuses: Iterable[str], limit: int = 50) -> list[Row]:
        wanted = list(statuses)
        rows = self._rows(
            f"SELECT * FROM escalations WHERE status IN ({', '.join('?' for _ in wanted)}) "
            "ORDER BY created_at DESC LIMIT ?",
            [*wanted, limit],
        )
        return [row for row in map(self._open_escalation, rows) if row is not None]

    # shared state of the front ends' replicas

    def mark_shown(self, key: str, keep: timedelta = timedelta(days=2)) -> None:
        """Remember that a chat message shows its answer (`key` names both); older marks go."""
        now = self.clock()
        self._unlocked(
            "shown_answers",
            ("DELETE FROM shown_answers WHERE shown_at < ?", [iso(now - keep)]),
            (
                "INSERT INTO shown_answers (key, shown_at) VALUES (?, ?) "
                "ON CONFLICT (key) DO NOTHING",
                [_digest(key), iso(now)],
            ),
        )

    def take_turn_lease(self, key: str, owner: str, lease_until: datetime) -> bool:
        """Hold `key` until `lease_until` unless another owner holds it now; True if taken.
        One statement the key's row lock keeps right: no write lock (one round trip)."""
        [taken] = self._unlocked(
            "turn_leases",
            (
                "INSERT INTO turn_leases (key, owner, locked_until) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, "
                "locked_until = excluded.locked_until "
                "WHERE turn_leases.locked_until <= ? OR turn_leases.owner = excluded.owner "
                "RETURNING owner",
                [_digest(key), owner, iso(lease_until), self.now()],
            ),
        )
        return bool(taken)

    def drop_turn_lease(self, key: str, owner: str) -> None:
        self._unlocked(
            "turn_leases",
            ("DELETE FROM turn_leases WHERE key = ? AND owner = ?", [_digest(key), owner]),
        )

    # outbox

    def enqueue(
        self,
        escalation_id: int | None,
        kind: str,
        target: str,
        payload: Row,
        not_before: datetime | None = None,
    ) -> int:
        now = self.now()
        row = {
            "escalation_id": escalation_id,
            "kind": kind,
            "target": target,
            "payload": json.dumps(payload, sort_keys=True),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": iso(not_before) if not_before else now,
            "created_at": now,
        }
        item_id = self._insert("outbox", row)
        self.db.wake_workers()
        return item_id

    def pending_notice(self, escalation_id: int, target: str, kind: str) -> Row | None:
        """The notice of this kind still waiting to be sent (not being sent now), if any."""
        return self._row(
            "SELECT * FROM outbox WHERE escalation_id = ? AND target = ? AND kind = ? "
            "AND status = 'pending' ORDER BY id DESC LIMIT 1",
            [escalation_id, target, kind],
        )

    def replace_payload(self, item_id: int, payload: Row) -> None:
        self.db.execute(
            "UPDATE outbox SET payload = ? WHERE id = ? AND status = 'pending'",
            [json.dumps(payload, sort_keys=True), item_id],
        )

    def last_delivery(self, escalation_id: int, target: str) -> datetime | None:
        row = self._row(
            "SELECT max(delivered_at) AS at FROM outbox WHERE escalation_id = ? AND target = ?",
            [escalation_id, target],
        )
        return datetime.fromisoformat(row["at"]) if row and row["at"] else None

    def claim_outbox(self, item_id: int, owner: str, lease_until: datetime) -> Row | None:
        """The row, now being sent by `owner` until `lease_until`; None when it is not due or
        another worker holds it. Later notices no longer merge into a claimed row."""
        now = self.now()
        with self.transaction():
            return self._row(
                "UPDATE outbox SET status = 'sending', locked_by = ?, locked_until = ? "
                "WHERE id = ? AND ((status = 'pending' AND next_attempt_at <= ?) "
                "OR (status = 'sending' AND (locked_until IS NULL OR locked_until <= ?))) "
                "RETURNING *",
                [owner, iso(lease_until), item_id, now, now],
            )

    def mark_dropped(self, item_id: int) -> None:
        """A row whose escalation is gone: never delivered, kept for the record."""
        self.db.execute(
            "UPDATE outbox SET status = 'dropped', locked_by = NULL, locked_until = NULL "
            "WHERE id = ?",
            [item_id],
        )

    def release_outbox(self, owner: str) -> int:
        """Rows `owner` was sending go back to pending (a graceful stop); how many."""
        cursor = self.db.execute(
            "UPDATE outbox SET status = 'pending', locked_by = NULL, locked_until = NULL "
            "WHERE status = 'sending' AND locked_by = ?",
            [owner],
        )
        return cursor.rowcount

    def pending_outbox(self) -> list[Row]:
        """Every row not yet delivered, oldest first: pending, and being sent (whose lease
        may have run out, its worker having died)."""
        return self._rows("SELECT * FROM outbox WHERE status IN ('pending', 'sending') ORDER BY id")

    def outbox_item(self, item_id: int) -> Row | None:
        return self._row("SELECT * FROM outbox WHERE id = ?", [item_id])

    def mark_delivered(self, item_id: int, message_ref: str | None) -> None:
        self.db.execute(
            "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, "
            "message_ref = ?, delivered_at = ?, last_error = NULL, locked_by = NULL, "
            "locked_until = NULL WHERE id = ?",
            [message_ref, self.now(), item_id],
        )

    def mark_failed(self, item_id: int, error: str, next_attempt_at: datetime) -> None:
        self.db.execute(
            "UPDATE outbox SET status = 'pending', attempts = attempts + 1, last_error = ?, "
            "next_attempt_at = ?, locked_by = NULL, locked_until = NULL WHERE id = ?",
            [error[:500], iso(next_attempt_at), item_id],
        )

    def message_ref(self, escalation_id: int, target: str) -> str | None:
        row = self._row(
            "SELECT message_ref FROM escalation_messages WHERE escalation_id = ? AND target = ?",
            [escalation_id, target],
        )
        return row["message_ref"] if row else None

    def set_message_ref(self, escalation_id: int, target: str, message_ref: str) -> None:
        self.db.execute(
            "INSERT INTO escalation_messages (escalation_id, target, message_ref) "
            "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [escalation_id, target, message_ref],
        )

    # playbook versions

    def playbook_version(self, playbook_id: str, version: int) -> Row | None:
        """The recorded content of a playbook version: content_hash, content, source, stored_at."""
        return self._row(
            "SELECT * FROM playbook_versions WHERE playbook_id = ? AND version = ?",
            [playbook_id, version],
        )

    def insert_playbook_version(
        self, playbook_id: str, version: int, content_hash: str, content: str, source: str
    ) -> bool:
        """Record a playbook version's content; False when that version was already recorded."""
        cursor = self._execute(
            "INSERT INTO playbook_versions "
            "(playbook_id, version, content_hash, content, source, stored_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [playbook_id, version, content_hash, content, source, self.now()],
        )
        return cursor.rowcount == 1

    def unrecorded_playbook_versions(self) -> list[Row]:
        """(playbook_id, playbook_version) pairs verifications use that were never recorded.

        Walks the distinct pairs through their index, a few look-ups however many verifications.
        """
        pairs = "SELECT playbook_id, playbook_version FROM verifications WHERE "
        order = " ORDER BY playbook_id, playbook_version LIMIT 1"
        unrecorded = []
        row = self._row(pairs + "playbook_id > ''" + order)
        while row is not None:
            if self.playbook_version(row["playbook_id"], row["playbook_version"]) is None:
                unrecorded.append(row)
            later = [row["playbook_id"], row["playbook_version"]]
            row = self._row(pairs + "playbook_id = ? AND playbook_version > ?" + order, later)
            row = row or self._row(pairs + "playbook_id > ?" + order, later[:1])
        return unrecorded

    # jobs (bot/jobs.py): work promised in an ack, claimed under a lease, done once

    @contextmanager
    def busy_timeout(self, seconds: float) -> Iterator[None]:
        """Wait at most `seconds` for another connection's write lock inside the block;
        StoreBusy past it."""
        try:
            with self.db.lock_timeout(seconds):
                yield
        except self.db.busy_errors as error:
            raise StoreBusy(str(error).strip().splitlines()[0]) from None

    def insert_job(self, kind: str, payload: Row, dedupe_key: str) -> tuple[int, bool]:
        """Queue a job: (its id, True); a repeated dedupe key gives (the first's id, False)."""
        return self.insert_jobs([(kind, payload, dedupe_key)])[0]

    def insert_jobs(self, jobs: Sequence[tuple[str, Row, str]]) -> list[tuple[int, bool]]:
        """Queue (kind, payload, dedupe key) jobs as insert_job each, in one transaction that
        waits for no other writer (the unique dedupe key keeps it right): an INSERT per
        JOB_ROWS_PER_STATEMENT rows, on PostgreSQL all in one round trip."""
        now = self.now()
        first: dict[str, tuple[str, Row]] = {}
        for kind, payload, key in jobs:
            first.setdefault(key, (kind, payload))
        statements = []
        for keys in _chunks(list(first), JOB_ROWS_PER_STATEMENT):
            params: list[Any] = []
            for key in keys:
                kind, payload = first[key]
                params += [kind, json.dumps(payload, sort_keys=True), key, now, now, now]
            statements.append(
                (
                    "INSERT INTO jobs (kind, payload, dedupe_key, next_attempt_at, created_at, "
                    f"updated_at) VALUES {', '.join('(?, ?, ?, ?, ?, ?)' for _ in keys)} "
                    "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
                    params,
                )
            )
        remembered = self._memo()
        if remembered is not None:
            remembered.forget("jobs")
        results = self.db.unlocked_batch(statements, wake_workers=True)
        inserted = [row for rows in results for row in rows]
        ids = {row["dedupe_key"]: int(row["id"]) for row in inserted}
        created = set(ids)
        for keys in _chunks([key for key in first if key not in ids], JOB_ROWS_PER_STATEMENT):
            rows = self._rows_in("SELECT id, dedupe_key FROM jobs WHERE dedupe_key", keys)
            ids |= {row["dedupe_key"]: int(row["id"]) for row in rows}
        written = []
        for _, _, key in jobs:
            written.append((ids[key], key in created))
            created.discard(key)
        return written

    def claim_job(self, kinds: Iterable[str], owner: str, lease_until: datetime) -> Row | None:
        """The oldest due job of these kinds, now running under `owner`'s lease; None if none."""
        claimed = self.claim_jobs(kinds, owner, lease_until, 1).rows
        return claimed[0] if claimed else None

    def claim_jobs(
        self, kinds: Iterable[str], owner: str, lease_until: datetime, limit: int
    ) -> ClaimedJobs:
        """Up to `limit` of the oldest due jobs of these kinds, oldest first, now running under
        `owner`'s lease, and when the next one falls due after them (`next_job_due`); in one
        transaction (one round trip on a server).

        Due: pending and past its next attempt time, or running under a lease that expired
        (its process died mid-job). Each claim counts as an attempt. On a server the rows are
        picked FOR UPDATE SKIP LOCKED: another replica claiming at once skips them.
        """
        wanted = list(kinds)
        if not wanted or limit < 1:
            return ClaimedJobs([], self.next_job_due(wanted))
        now = self.now()
        marks = ", ".join("?" for _ in wanted)
        claimed, [due] = self._unlocked(
            "jobs",
            (
                f"WITH picked AS MATERIALIZED (SELECT id FROM jobs WHERE kind IN ({marks}) AND ("
                "(status = 'pending' AND next_attempt_at <= ?) "
                "OR (status = 'running' AND locked_until <= ?)) "
                f"ORDER BY id LIMIT ?{self.db.skip_locked}) "
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = ?, "
                "locked_until = ?, updated_at = ? WHERE id IN (SELECT id FROM picked) "
                "RETURNING *",
                [*wanted, now, now, limit, owner, iso(lease_until), now],
            ),
            _next_due_statement(wanted),
        )
        return ClaimedJobs(sorted(claimed, key=lambda row: row["id"]), _due_of(due))

    def renew_job_leases(self, job_ids: Iterable[int], owner: str, lease_until: datetime) -> int:
        """Extend the leases `owner` still holds; how many it still holds."""
        ids = list(job_ids)
        if not ids:
            return 0
        [renewed] = self._unlocked(
            "jobs",
            (
                "UPDATE jobs SET locked_until = ? WHERE status = 'running' AND locked_by = ? "
                f"AND id IN ({', '.join('?' for _ in ids)}) RETURNING id",
                [iso(lease_until), owner, *ids],
            ),
        )
        return len(renewed)

    def _settle_job(
        self,
        job_id: int,
        owner: str,
        assignments: str,
        params: list[Any],
        progress: Iterable[str] = (),
    ) -> bool:
        """Update a job `owner` still holds, its `progress` marks appended; False when its
        lease went to another worker."""
        marks = list(progress)
        if marks:
            appended = "progress"
            for _ in marks:
                appended = self.db.json_append(appended)
            assignments += f", progress = {appended}"
            params = [*params, *marks]
        [settled] = self._unlocked(
            "jobs",
            (
                f"UPDATE jobs SET {assignments}, locked_by = NULL, locked_until = NULL, "
                "updated_at = ? WHERE id = ? AND status = 'running' AND locked_by = ? "
                "RETURNING id",
                [*params, self.now(), job_id, owner],
            ),
        )
        return len(settled) == 1

    def finish_job(self, job_id: int, owner: str, progress: Iterable[str] = ()) -> bool:
        now = self.now()
        return self._settle_job(
            job_id, owner, "status = 'done', finished_at = ?, last_error = NULL", [now], progress
        )

    def retry_job(
        self,
        job_id: int,
        owner: str,
        error: str,
        next_attempt_at: datetime,
        progress: Iterable[str] = (),
    ) -> bool:
        return self._settle_job(
            job_id,
            owner,
            "status = 'pending', next_attempt_at = ?, last_error = ?",
            [iso(next_attempt_at), error[:500]],
            progress,
        )

    def fail_job(self, job_id: int, owner: str, error: str, progress: Iterable[str] = ()) -> bool:
        now = self.now()
        return self._settle_job(
            job_id,
            owner,
            "status = 'failed', finished_at = ?, last_error = ?",
            [now, error[:500]],
            progress,
        )

    def release_job(self, job_id: int, owner: str) -> bool:
        """Give an unfinished job back (a shutdown): due at once, the attempt not counted."""
        return self._settle_job(
            job_id,
            owner,
            "status = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
            "next_attempt_at = ?",
            [self.now()],
        )

    def add_job_progress(self, job_id: int, mark: str) -> None:
        """Note that the job did `mark` (a message sent), so a rerun does not do it again."""
        self._unlocked(
            "jobs",
            (
                f"UPDATE jobs SET progress = {self.db.json_append('progress')} WHERE id = ?",
                [mark, job_id],
            ),
        )

    def job(self, job_id: int) -> Row | None:
        return self._row("SELECT * FROM jobs WHERE id = ?", [job_id])

    def jobs(self, statuses: Iterable[str] | None = None) -> list[Row]:
        if statuses is None:
            return self._rows("SELECT * FROM jobs ORDER BY id")
        wanted = list(statuses)
        return self._rows(
            f"SELECT * FROM jobs WHERE status IN ({', '.join('?' for _ in wanted)}) ORDER BY id",
            wanted,
        )

    def next_job_due(self, kinds: Iterable[str]) -> datetime | None:
        """When the next job of these kinds falls due (a retry, or an expiring lease)."""
        wanted = list(kinds)
        if not wanted:
            return None
        return _due_of(self._row(*_next_due_statement(wanted)))

    def unfinished_jobs(self) -> int:
        return self._count("SELECT count(*) AS n FROM jobs WHERE status IN ('pending', 'running')")

    def answer_by_dedupe_key(self, dedupe_key: str) -> Row | None:
        row = self._row("SELECT * FROM answers WHERE dedupe_key = ?", [dedupe_key])
        return self._open_answer(row) if row else None

    def click_state(self, dedupe_key: str | None, shown_key: str) -> tuple[Row | None, bool]:
        """The press's recorded answer (as answer_by_dedupe_key gives it) and whether its
        message is marked shown (mark_shown), in one statement (one round trip on a server):
        what a button press needs to know before it records anything."""
        row = self._row(
            "SELECT a.*, (SELECT 1 FROM shown_answers WHERE key = ?) AS already_shown "
            "FROM (SELECT 1 AS one) AS one LEFT JOIN answers a ON a.dedupe_key = ?",
            [_digest(shown_key), dedupe_key],
        )
        if row is None:
            return None, False
        shown = row.pop("already_shown") is not None
        return (self._open_answer(row) if row["id"] is not None else None), shown

    # audit

    def audit(
        self,
        actor: str,
        platform: str,
        action: str,
        verification_id: str | None = None,
        detail: Row | None = None,
    ) -> int:
        """Append an event to the audit log, chained by a MAC under the audit key; under the
        write lock, so that concurrent writers chain one after the other (inside a transaction,
        as part of it: no savepoint, two round trips fewer on PostgreSQL)."""
        with nullcontext() if self.db.in_transaction else self.transaction():
            return self._append_event(actor, platform, action, verification_id, detail)

    def _append_event(
        self,
        actor: str,
        platform: str,
        action: str,
        verification_id: str | None,
        detail: Row | None,
    ) -> int:
        inside = self.db.in_transaction
        last = (self._chain.head if inside else None) or self._row(AUDIT_HEAD)
        row = {
            "id": (last["id"] + 1) if last else 1,
            "at": self.now(),
            "actor": actor,
            "platform": str(platform),
            "action": action,
            "verification_id": verification_id,
            "detail": json.dumps(detail or {}, sort_keys=True, default=str),
            "prev_hash": last["hash"] if last else GENESIS_HASH,
        }
        row["hash"] = self.event_mac(row)
        event_id = self._insert("events", row)
        self._chain.head = {"id": row["id"], "hash": row["hash"]} if inside else None
        return event_id

    def event_mac(self, row: Row) -> str:
        """The MAC an event must carry: its content and the previous MAC, under the audit key."""
        content = [row[name] for name in EVENT_FIELDS]
        return self.vault.event_mac(row["prev_hash"], content)

    def events(self, verification_id: str | None = None) -> list[Row]:
        if verification_id is None:
            return self._rows("SELECT * FROM events ORDER BY id")
        return self._rows(
            "SELECT * FROM events WHERE verification_id = ? ORDER BY id", [verification_id]
        )

    def audit_chain_intact(self) -> bool:
        prev_hash = GENESIS_HASH
        for row in self._rows("SELECT * FROM events ORDER BY id"):
            if row["prev_hash"] != prev_hash or self.event_mac(row) != row["hash"]:
                return False
            prev_hash = row["hash"]
        return True

    def state_rows(self, table: str) -> list[Row]:
        """A state table's rows as stored (sealed values left sealed), for the audit replay."""
        order = STATE_TABLES[table]
        return self._rows(f"SELECT * FROM {table} ORDER BY {order}")

    def audit_head(self) -> tuple[int, str]:
        """(the number of events, the last MAC)."""
        last = self._row(AUDIT_HEAD)
        return (int(last["id"]), last["hash"]) if last else (0, GENESIS_HASH)

    # erasure and retention

    def erase_candidate(self, candidate_id: int, erased_by: str, reason: str | None) -> int:
        """Destroy the candidate's data key and blind indexes and empty their columns.

        The verification's skeleton (ids, steps, results, decisions, times) stays. Returns the
        erasure's id; its reason is sealed with the master key. Call `scrub()` after the commit.
        """
        self._execute("DELETE FROM candidate_keys WHERE candidate_id = ?", [candidate_id])
        cleared = ", ".join(f"{name} = NULL" for name in (*CANDIDATE_COLUMNS, *BLIND_COLUMNS))
        self._execute(
            f"UPDATE candidates SET {cleared}, erased_at = ? WHERE id = ?",
            [self.now(), candidate_id],
        )
        self._candidate_keys.pop(candidate_id)
        if (remembered := self._memo()) is not None:
            remembered.forget()
        erasure_id = self._insert(
            "erasures",
            {
                "candidate_id": candidate_id,
                "reason": None,
                "erased_by": erased_by,
                "erased_at": self.now(),
            },
        )
        if reason:
            sealed = self.vault.seal_master(reason, f"erasures:{erasure_id}:reason")
            self._execute("UPDATE erasures SET reason = ? WHERE id = ?", [sealed, erasure_id])
        return erasure_id

    def scrub(self) -> None:
        """Make what an erasure removed unrecoverable where the engine can: SQLite zeroes
        freed pages (secure_delete) and truncates the WAL; on PostgreSQL the old row versions
        are dead tuples that (auto)VACUUM reclaims, unreadable already without the data key."""
        self.db.scrub()

    def candidates_of(self, verification_ids: Iterable[str]) -> list[int]:
        wanted = list(verification_ids)
        rows = self._rows(
            f"SELECT DISTINCT candidate_id FROM verifications WHERE id IN "
            f"({', '.join('?' for _ in wanted)})",
            wanted,
        )
        return [int(row["candidate_id"]) for row in rows]

    def verifications_of_candidate(self, candidate_id: int) -> list[Row]:
        return self._rows(
            "SELECT * FROM verifications WHERE candidate_id = ? ORDER BY created_at",
            [candidate_id],
        )

    def same_person(self, candidate_id: int) -> list[int]:
        """The candidate records with this one's email (itself included), not erased."""
        row = self._row("SELECT email_index FROM candidates WHERE id = ?", [candidate_id])
        if row is None or row["email_index"] is None:
            return []
        return self._candidate_ids("email_index = ?", [row["email_index"]])

    def candidates_by_email(self, email: str) -> list[int]:
        index = self.vault.blind_index("email_index", email_key(email))
        return self._candidate_ids("email_index = ?", [index])

    def _candidate_ids(self, where: str, params: list[Any]) -> list[int]:
        rows = self._rows(f"SELECT id FROM candidates WHERE {where} ORDER BY id", params)
        return [int(row["id"]) for row in rows]

    def candidate_erased(self, candidate_id: int) -> bool:
        row = self._row("SELECT erased_at FROM candidates WHERE id = ?", [candidate_id])
        return bool(row and row["erased_at"])

    def expired_candidates(self, finished_before: datetime, limit: int = 1000) -> list[int]:
        """Candidates not erased yet whose verifications all finished (cleared or cancelled)
        before `finished_before`."""
        rows = self._rows(
            "SELECT c.id FROM candidates c WHERE c.erased_at IS NULL "
            "AND EXISTS (SELECT 1 FROM verifications v WHERE v.candidate_id = c.id) "
            "AND NOT EXISTS (SELECT 1 FROM verifications v WHERE v.candidate_id = c.id "
            "AND NOT (v.status IN ('cleared', 'cancelled') AND v.updated_at < ?)) "
            "ORDER BY c.id LIMIT ?",
            [iso(finished_before), limit],
        )
        return [int(row["id"]) for row in rows]

    # tasks that run once a day, whichever process gets there first

    def claim_schedule(
        self, name: str, now: datetime, next_run: datetime, first_run: datetime | None = None
    ) -> bool:
        """True (and the next run set) if `name` was due at `now` and no one claimed it.

        A task never run before is due at `first_run` (default: now).
        """
        row = self._row("SELECT next_run_at FROM schedules WHERE name = ?", [name])
        if row is None:
            first = iso(first_run or now)
            self._execute(
                "INSERT INTO schedules (name, next_run_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [name, first],
            )
            row = self._row("SELECT next_run_at FROM schedules WHERE name = ?", [name])
        if row is None or datetime.fromisoformat(row["next_run_at"]) > now:
            return False
        cursor = self._execute(
            "UPDATE schedules SET next_run_at = ? WHERE name = ? AND next_run_at = ?",
            [iso(next_run), name, row["next_run_at"]],
        )
        return cursor.rowcount == 1

    # data written by earlier versions

    def _upgrade_data(self) -> None:
        """Seal what earlier versions kept in clear and key the audit chain; once, at open."""
        if self._meta("audit_scheme") == AUDIT_SCHEME:
            return
        with self.transaction():
            if self.db.upgrade_legacy():
                for row in self._rows(
                    "SELECT * FROM candidates c WHERE c.erased_at IS NULL AND NOT EXISTS "
                    "(SELECT 1 FROM candidate_keys k WHERE k.candidate_id = c.id)"
                ):
                    self._seal_old_candidate(row)
                self._seal_old_free_text()
                self._rekey_audit_chain()
            self._execute(
                "INSERT INTO meta (key, value) VALUES ('audit_scheme', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [AUDIT_SCHEME],
            )
        self.scrub()

    def _meta(self, key: str) -> str | None:
        row = self._row("SELECT value FROM meta WHERE key = ?", [key])
        return row["value"] if row else None

    def _seal_old_candidate(self, row: Row) -> None:
        """A candidate an earlier version stored in clear: a data key, sealed fields, indexes;
        their answers' and decisions' free text is left as it was written (append-only)."""
        if row["erased_at"]:
            return
        key = self.vault.new_data_key()
        wrapped = self.vault.wrap(key, row["id"])
        self._insert("candidate_keys", {"candidate_id": row["id"], "wrapped": wrapped})
        self._candidate_keys.put(row["id"], (wrapped, key))
        indexes = blind_indexes(self.vault, row)
        assignments = ", ".join(f"{name} = ?" for name in indexes)
        self._execute(
            f"UPDATE candidates SET {assignments} WHERE id = ?", [*indexes.values(), row["id"]]
        )
        self._write_sealed_candidate(row["id"], key, row)

    def _seal_old_free_text(self) -> None:
        """Notes, reasons and chat sessions an earlier version kept in clear, sealed."""
        with self.db.append_only_suspended("answers"):
            for row in self._rows("SELECT * FROM answers"):
                key = self._key_of_verification(row["verification_id"])
                sealed = (
                    seal_columns(key, "answers", _answer_key(row), row, ANSWER_COLUMNS)
                    if key
                    else row
                )
                changed = {
                    name: sealed[name] for name in ANSWER_COLUMNS if sealed[name] != row[name]
                }
                if changed:
                    assignments = ", ".join(f"{name} = ?" for name in changed)
                    self._execute(
                        f"UPDATE answers SET {assignments} WHERE id = ?",
                        [*changed.values(), row["id"]],
                    )
        for row in self._rows("SELECT * FROM escalations WHERE decision_reason IS NOT NULL"):
            key = self._key_of_verification(row["verification_id"])
            if key is not None and not is_sealed(row["decision_reason"]):
                sealed = seal_columns(key, "escalations", row["id"], row, ESCALATION_COLUMNS)
                self._execute(
                    "UPDATE escalations SET decision_reason = ? WHERE id = ?",
                    [sealed["decision_reason"], row["id"]],
                )
        for row in self._rows("SELECT key, etag, data FROM bot_state"):
            if not is_sealed(row["data"]):
                self.state_write(row["key"], json.loads(row["data"]), row["etag"])

    def _rekey_audit_chain(self) -> None:
        """Re-chain the events an earlier version wrote (plain SHA-256) under the audit key.

        Their details lose what named a person (a candidate's name, a decision's reason);
        the old head is recorded in an `audit.rekeyed` event, the point from which the keyed
        chain holds.
        """
        old = self._rows("SELECT * FROM events ORDER BY id")
        if not old:
            return
        prev = GENESIS_HASH
        with self.db.append_only_suspended("events"):
            for row in old:
                detail = json.loads(row["detail"] or "{}")
                for personal in ("candidate", "reason"):
                    if personal in detail:
                        detail[personal] = bool(detail[personal])
                row = {**row, "detail": json.dumps(detail, sort_keys=True), "prev_hash": prev}
                row["hash"] = self.event_mac(row)
                self._execute(
                    "UPDATE events SET detail = ?, prev_hash = ?, hash = ? WHERE id = ?",
                    [row["detail"], row["prev_hash"], row["hash"], row["id"]],
                )
                prev = row["hash"]
        self._chain.head = None
        self.audit(
            "verifybot",
            "system",
            "audit.rekeyed",
            None,
            {"events": len(old), "old_head": old[-1]["hash"]},
        )

    # chat platforms' own state (Teams conversation state, conversation references)

    def state_read(self, keys: Iterable[str]) -> dict[str, Row]:
        wanted = list(keys)
        if not wanted:
            return {}
        rows = self._rows(
            f"SELECT * FROM bot_state WHERE key IN ({', '.join('?' for _ in wanted)})", wanted
        )
        return {row["key"]: {"etag": row["etag"], "data": self._open_state(row)} for row in rows}

    def _open_state(self, row: Row) -> Row:
        """A chat session, sealed with the master key: it may hold a form half filled in."""
        data = row["data"]
        if is_sealed(data):
            try:
                data = self.vault.unseal_master(data, f"bot_state:{row['key']}")
            except Unreadable:
                return {}
        return json.loads(data)

    def state_write(self, key: str, data: Row, etag: str) -> None:
        sealed = self.vault.seal_master(json.dumps(data), f"bot_state:{key}")
        self._execute(
            "INSERT INTO bot_state (key, etag, data, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET etag = excluded.etag, data = excluded.data, "
            "updated_at = excluded.updated_at",
            [key, etag, sealed, self.now()],
        )

    def state_delete(self, keys: Iterable[str]) -> None:
        wanted = list(keys)
        if wanted:
            self._execute(
                f"DELETE FROM bot_state WHERE key IN ({', '.join('?' for _ in wanted)})", wanted
            )

    def save_conversation_ref(
        self, key: str, platform: str, data: Row, updated_by: str | None = None
    ) -> None:
        self._execute(
            "INSERT INTO conversation_refs (key, platform, data, updated_by, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET platform = excluded.platform, "
            "data = excluded.data, updated_by = excluded.updated_by, "
            "updated_at = excluded.updated_at",
            [key, platform, json.dumps(data), updated_by, self.now()],
        )

    def conversation_ref(self, key: str) -> Row | None:
        row = self._row("SELECT data FROM conversation_refs WHERE key = ?", [key])
        return json.loads(row["data"]) if row else None

    # intake: verifications started by Greenhouse, the API or Workflow Builder (issue 9)

    def set_shipping_address(self, candidate_id: int, fields: Row) -> None:
        """The laptop shipping address (and its keys) given after the verification started:
        sealed, and indexed blind."""
        key = self.candidate_key(candidate_id)
        if key is None:
            raise StoreError(f"candidate {candidate_id} was erased")
        personal = {name: fields[name] for name in ("shipping_address", "shipping_normalized")}
        sealed = seal_columns(key, "candidates", candidate_id, personal, CANDIDATE_COLUMNS)
        indexes = {
            column: value
            for column, value in blind_indexes(self.vault, fields).items()
            if column.startswith("shipping_")
        }
        changes = {**sealed, **indexes}
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self._execute(
            f"UPDATE candidates SET {assignments} WHERE id = ?", [*changes.values(), candidate_id]
        )

    def assign_verification(self, verification_id: str, user_id: str, platform: str) -> None:
        """The person who answers a verification an integration started."""
        self._execute(
            "UPDATE verifications SET requested_by = ?, platform = ?, updated_at = ? WHERE id = ?",
            [user_id, platform, self.now(), verification_id],
        )

    def insert_intake(
        self, verification_id: str, source: str, external_id: str, requested_by: str
    ) -> None:
        self._insert(
            "intakes",
            {
                "verification_id": verification_id,
                "source": source,
                "external_id": external_id,
                "requested_by": requested_by,
                "created_at": self.now(),
            },
        )

    def intake(self, verification_id: str) -> Row | None:
        return self._row("SELECT * FROM intakes WHERE verification_id = ?", [verification_id])

    def latest_verification_by_email(self, email: str, playbook_id: str) -> Row | None:
        """The newest verification of `playbook_id` for a candidate with this email."""
        return self._row(
            "SELECT v.* FROM verifications v WHERE v.candidate_id IN "
            "(SELECT c.id FROM candidates c WHERE c.email_index = ?) AND v.playbook_id = ? "
            "ORDER BY v.created_at DESC, v.rowid DESC LIMIT 1",
            [self.vault.blind_index("email_index", email_key(email)), playbook_id],
        )

    # Workflow Builder steps (verify_candidate): the execution a verification completes

    def insert_workflow_execution(self, execution_id: str, verification_id: str) -> bool:
        """Remember the step's execution; False when it was seen already (a redelivery)."""
        cursor = self._execute(
            "INSERT INTO workflow_executions (execution_id, verification_id, "
            "created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [execution_id, verification_id, self.now()],
        )
        return cursor.rowcount == 1

    def workflow_execution(self, execution_id: str) -> Row | None:
        return self._row("SELECT * FROM workflow_executions WHERE execution_id = ?", [execution_id])

    def running_workflow_executions(self, verification_id: str) -> list[Row]:
        return self._rows(
            "SELECT * FROM workflow_executions WHERE verification_id = ? AND status = 'running'",
            [verification_id],
        )

    def end_workflow_execution(self, execution_id: str, status: str) -> bool:
        """Mark a running execution completed or failed; False when it had ended already."""
        cursor = self._execute(
            "UPDATE workflow_executions SET status = ?, completed_at = ? "
            "WHERE execution_id = ? AND status = 'running'",
            [status, self.now(), execution_id],
        )
        return cursor.rowcount == 1

    # cross-candidate look-ups and the watchlist
    #
    # Callers pass values normalised by bot.address or bot.identity; they are compared as
    # blind indexes (keyed hashes), never in clear.

    def _blind(self, column: str, value: str | None) -> str | None:
        return self.vault.blind_index(column, value) if value else None

    def _others(self, match: str, params: list[Any], person: Person) -> list[Row]:
        """Verifications of other people whose candidate row satisfies `match`."""
        return self._rows(
            "SELECT v.id AS verification_id, c.id AS candidate_id "
            "FROM candidates c JOIN verifications v ON v.candidate_id = c.id "
            f"WHERE ({match}) AND c.id != ? AND (c.email_index != ? OR c.name_index != ?) "
            "ORDER BY v.created_at, v.rowid",
            [
                *params,
                person.candidate_id,
                self._blind("email_index", person.email_key),
                self._blind("name_index", person.name_key),
            ],
        )

    def _at(
        self, prefix: str, place: str, zip_code: str | None, canonical: str
    ) -> tuple[str, list[Any]]:
        """The match of an address at a place (a missing ZIP on either side matches any)."""
        zip_index = self._blind(f"{prefix}_zip_index", zip_code)
        return (
            f"(c.{prefix}_place_index = ? AND (c.{prefix}_zip_index IS NULL "
            f"OR CAST(? AS TEXT) IS NULL OR c.{prefix}_zip_index = ?)) OR c.{prefix}_index = ?",
            [
                self._blind(f"{prefix}_place_index", place),
                zip_index,
                zip_index,
                self._blind(f"{prefix}_index", canonical),
            ],
        )

    def others_shipping_to(
        self, place: str, zip_code: str | None, canonical: str, person: Person
    ) -> list[Row]:
        """Other people shipping to the same place (a missing ZIP matches any ZIP)."""
        return self._others(*self._at("shipping", place, zip_code, canonical), person)

    def others_in_building(self, building: str, zip_code: str | None, person: Person) -> list[Row]:
        """Other people shipping to the same building, whatever the unit."""
        zip_index = self._blind("shipping_zip_index", zip_code)
        return self._others(
            "c.shipping_building_index = ? AND (c.shipping_zip_index IS NULL "
            "OR CAST(? AS TEXT) IS NULL OR c.shipping_zip_index = ?)",
            [self._blind("shipping_building_index", building), zip_index, zip_index],
            person,
        )

    def others_home_at(
        self, place: str, zip_code: str | None, canonical: str, person: Person
    ) -> list[Row]:
        """Other people whose claimed home is the same place."""
        return self._others(*self._at("home", place, zip_code, canonical), person)

    def others_with_phone(self, e164: str, person: Person) -> list[Row]:
        return self._others("c.phone_index = ?", [self._blind("phone_index", e164)], person)

    def others_with_email(self, email_key: str, person: Person) -> list[Row]:
        """Other people (another name) using the same mailbox."""
        return self._others("c.email_index = ?", [self._blind("email_index", email_key)], person)

    def others_with_payout(self, payout_index: str, person: Person) -> list[Row]:
        """Other people paid into the same account (`payout_index`: its blind index)."""
        return self._others("c.payout_index = ?", [payout_index], person)

    def payout_index(self, payout_key: str) -> str:
        """The blind index a normalised payout account is stored and compared as."""
        return self.vault.blind_index("payout_index", payout_key)

    def verifications_of_email(self, email_key: str) -> list[Row]:
        """Every verification of the candidates using a mailbox, with its escalation status."""
        return self._rows(
            "SELECT v.id AS verification_id, c.id AS candidate_id, "
            "v.status, e.status AS escalation_status "
            "FROM candidates c JOIN verifications v ON v.candidate_id = c.id "
            "LEFT JOIN escalations e ON e.verification_id = v.id "
            "WHERE c.email_index = ? ORDER BY v.created_at, v.rowid",
            [self._blind("email_index", email_key)],
        )

    def add_watch(self, fields: Row) -> int:
        """A watchlist entry; its id."""
        return self._insert("watchlist", {**fields, "added_at": self.now()})

    def watch(self, watch_id: int) -> Row | None:
        return self._row("SELECT * FROM watchlist WHERE id = ?", [watch_id])

    def watches(self, include_removed: bool = False) -> list[Row]:
        where = "" if include_removed else "WHERE removed_at IS NULL "
        return self._rows(f"SELECT * FROM watchlist {where}ORDER BY id")

    def remove_watch(self, watch_id: int, actor: str, platform: str) -> None:
        """Retire an entry; it stays in the table for the record."""
        self._execute(
            "UPDATE watchlist SET removed_at = ?, removed_by = ?, removed_platform = ? "
            "WHERE id = ? AND removed_at IS NULL",
            [self.now(), actor, platform, watch_id],
        )

    def watched(self, kind: str, match_key: str, zip_code: str | None = None) -> list[Row]:
        """Current entries of `kind` matching a normalised value (addresses: place and ZIP)."""
        return self._rows(
            "SELECT * FROM watchlist WHERE kind = ? AND match_key = ? AND removed_at IS NULL "
            "AND (zip IS NULL OR CAST(? AS TEXT) IS NULL OR zip = ?) ORDER BY id",
            [kind, match_key, zip_code, zip_code],
        )

    # chasing (issue 10): reminders, overdue posts and re-surfaced findings, each claimed once;
    # the device hand-over scheduled on clearance; the digest's window and counts

    def claim_chase(
        self,
        key: str,
        verification_id: str,
        kind: str,
        seq: int,
        due_at: datetime,
        done_by: str | None = None,
    ) -> bool:
        """True if this process is the first to claim `key` (then it sends; no one else will)."""
        cursor = self._execute(
            "INSERT INTO chases (key, verification_id, kind, seq, due_at, sent_at, "
            "done_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [key, verification_id, kind, seq, iso(due_at), self.now(), done_by],
        )
        return cursor.rowcount == 1

    def chases(self, verification_id: str, kind: str | None = None) -> list[Row]:
        if kind is None:
            return self._rows(
                "SELECT * FROM chases WHERE verification_id = ? ORDER BY sent_at, key",
                [verification_id],
            )
        return self._rows(
            "SELECT * FROM chases WHERE verification_id = ? AND kind = ? ORDER BY sent_at, key",
            [verification_id, kind],
        )

    def unfinished_verifications(self) -> list[Row]:
        """In progress and not cancelled, with the moment of their last answer (or the start)."""
        return self._rows(
            "SELECT v.*, coalesce(max(a.answered_at), v.created_at) AS last_activity_at "
            "FROM verifications v LEFT JOIN answers a ON a.verification_id = v.id "
            "WHERE v.status = 'in_progress' AND v.cancelled_at IS NULL "
            "GROUP BY v.id ORDER BY v.created_at, v.id"
        )

    def undecided_findings(self) -> list[Row]:
        """Findings of open or acknowledged escalations that no Clear resolved, oldest first."""
        return self._rows(
            "SELECT e.id AS escalation_id, e.verification_id, e.status, e.resolved_through, "
            "a.id AS answer_id, a.step_id, a.result, a.answered_at FROM escalations e "
            "JOIN answers a ON a.verification_id = e.verification_id "
            "WHERE e.status IN ('open', 'acknowledged') AND a.result != 'pass' "
            "AND a.id > e.resolved_through ORDER BY a.id"
        )

    def verifications_between(self, since: datetime, until: datetime) -> list[Row]:
        return self._rows(
            "SELECT * FROM verifications WHERE created_at >= ? AND created_at < ? ORDER BY id",
            [iso(since), iso(until)],
        )

    def events_between(self, actions: Iterable[str], since: datetime, until: datetime) -> list[Row]:
        wanted = list(actions)
        return self._rows(
            f"SELECT * FROM events WHERE action IN ({', '.join('?' for _ in wanted)}) "
            "AND at >= ? AND at < ? ORDER BY id",
            [*wanted, iso(since), iso(until)],
        )

    def meta_value(self, key: str) -> str | None:
        return self._meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self._execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def schedule_handover(self, pre_offer_id: str, due_at: datetime) -> bool:
        """The hand-over of a cleared pre-offer verification, once; True if newly scheduled."""
        cursor = self._execute(
            "INSERT INTO handovers (pre_offer_id, due_at, scheduled_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [pre_offer_id, iso(due_at), self.now()],
        )
        return cursor.rowcount == 1

    def due_handovers(self, now: datetime) -> list[Row]:
        return self._rows(
            "SELECT * FROM handovers WHERE verification_id IS NULL AND due_at <= ? "
            "ORDER BY due_at, pre_offer_id",
            [iso(now)],
        )

    def claim_handover(self, pre_offer_id: str, verification_id: str) -> bool:
        """Record the hand-over's verification; False when another process started it first."""
        cursor = self._execute(
            "UPDATE handovers SET verification_id = ?, started_at = ? "
            "WHERE pre_offer_id = ? AND verification_id IS NULL",
            [verification_id, self.now(), pre_offer_id],
        )
        return cursor.rowcount == 1

    def handover_link(self, verification_id: str) -> Row | None:
        """The hand-over row a verification is part of, as the pre-offer or the hand-over."""
        return self._remember(
            "handovers",
            verification_id,
            lambda: self._row(
                "SELECT * FROM handovers WHERE pre_offer_id = ? OR verification_id = ?",
                [verification_id, verification_id],
            ),
        )


BLIND_COLUMNS = tuple(BLIND_INDEXES)
STATE_TABLES = {
    "verifications": "created_at, id",
    "answers": "id",
    "escalations": "id",
    "candidates": "id",
}
EVENT_FIELDS = ("id", "at", "actor", "platform", "action", "verification_id", "detail")


def _answer_key(row: Row) -> str:
    """What an answer's sealed values are bound to (its id is not known before it is written)."""
    return f"{row['verification_id']}:{row['step_id']}:{row['answered_at']}"


def _in(select: str, values: Sequence[Any], order: str = "") -> tuple[str, list[Any]]:
    """`select` ending in a column, with ` IN (values)` (and `order`) after it: the statement
    and its parameters."""
    return f"{select} IN ({', '.join('?' for _ in values)}) {order}", list(values)


def _ahead_statements(verifications: Sequence[Row]) -> list[tuple[str, list[Any]]]:
    """A read-ahead's six reads of these verifications: candidate keys, candidates, answers,
    escalations, hand-over links both ways."""
    ids = [row["id"] for row in verifications]
    candidate_ids = sorted({int(row["candidate_id"]) for row in verifications})
    return [
        _in("SELECT candidate_id, wrapped FROM candidate_keys WHERE candidate_id", candidate_ids),
        _in("SELECT * FROM candidates WHERE id", candidate_ids),
        _in("SELECT * FROM answers WHERE verification_id", ids, "ORDER BY id"),
        _in("SELECT * FROM escalations WHERE verification_id", ids),
        _in("SELECT * FROM handovers WHERE pre_offer_id", ids),
        _in("SELECT * FROM handovers WHERE verification_id", ids),
    ]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _digest(key: str) -> str:
    """A fixed-length stand-in for a key made of chat ids."""
    return hashlib.sha256(key.encode()).hexdigest()
