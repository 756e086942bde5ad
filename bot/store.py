"""All SQLite access, through sqlite-utils: the one module a server database would replace."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.schema import migrate

Row = dict[str, Any]
Clock = Callable[[], datetime]
GENESIS_HASH = "0" * 64
BUSY_TIMEOUT_MS = 10_000


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class Store:
    """The verifybot database: WAL mode, foreign keys on, schema migrated on open."""

    def __init__(self, path: str | Path, clock: Clock = utc_now) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        self.db = sqlite_utils.Database(connection)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if self.path != ":memory:":
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")
        self.schema_version = migrate(self.db)
        self.clock = clock

    def close(self) -> None:
        self.db.close()

    def now(self) -> str:
        return iso(self.clock())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction; the outermost takes the write lock at once (BEGIN IMMEDIATE).

        A deferred BEGIN that reads before it writes fails with "database is locked" when
        another process commits in between; IMMEDIATE waits for it (busy_timeout) instead.
        """
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        cursor = self.db.conn.execute(sql, list(params))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def _row(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _insert(self, table: str, row: Row) -> int:
        """Insert one row into a table of the known schema; return its rowid."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cursor = self.db.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values())
        )
        return int(cursor.lastrowid)

    def health(self) -> Row:
        """The database's state for /healthz."""
        journal = self.db.execute("PRAGMA journal_mode").fetchone()[0]
        pending = self.db.execute(
            "SELECT count(*) FROM outbox WHERE status = 'pending'"
        ).fetchone()[0]
        verifications = self.db.execute("SELECT count(*) FROM verifications").fetchone()[0]
        return {
            "ok": True,
            "schema_version": self.schema_version,
            "journal_mode": journal,
            "verifications": verifications,
            "outbox_pending": pending,
        }

    # candidates and verifications

    def insert_candidate(self, fields: Row) -> int:
        row = {**fields, "created_at": self.now()}
        return self._insert("candidates", row)

    def insert_verification(self, fields: Row) -> None:
        now = self.now()
        self._insert("verifications", {**fields, "created_at": now, "updated_at": now})

    def set_verification_status(self, verification_id: str, status: str) -> None:
        self.db.execute(
            "UPDATE verifications SET status = ?, updated_at = ? WHERE id = ?",
            [status, self.now(), verification_id],
        )

    def cancel_verification(self, verification_id: str) -> None:
        now = self.now()
        self.db.execute(
            "UPDATE verifications SET cancelled_at = ?, updated_at = ? WHERE id = ?",
            [now, now, verification_id],
        )

    def verification_by_start_key(self, start_key: str) -> Row | None:
        return self._row("SELECT * FROM verifications WHERE start_key = ?", [start_key])

    def verification(self, verification_id: str) -> Row | None:
        return self._row("SELECT * FROM verifications WHERE id = ?", [verification_id])

    def candidate(self, candidate_id: int) -> Row | None:
        return self._row("SELECT * FROM candidates WHERE id = ?", [candidate_id])

    def verifications_by_candidate_name(self, name: str) -> list[Row]:
        return self._rows(
            "SELECT v.* FROM verifications v JOIN candidates c ON c.id = v.candidate_id "
            "WHERE c.name = ? COLLATE NOCASE ORDER BY v.created_at DESC",
            [name],
        )

    def list_verifications(
        self,
        requested_by: str | None = None,
        statuses: Iterable[str] | None = None,
        limit: int = 50,
    ) -> list[Row]:
        clauses, params = [], []
        if requested_by is not None:
            clauses.append("requested_by = ?")
            params.append(requested_by)
        if statuses is not None:
            wanted = list(statuses)
            clauses.append(f"status IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._rows(
            f"SELECT * FROM verifications {where} ORDER BY created_at DESC, id LIMIT ?",
            [*params, limit],
        )

    def others_shipping_to(self, normalized: str, candidate_id: int, email: str) -> list[Row]:
        """Verifications of other people (another email) shipping to the same address."""
        return self._rows(
            "SELECT v.id AS verification_id, c.name AS candidate_name "
            "FROM candidates c JOIN verifications v ON v.candidate_id = c.id "
            "WHERE c.shipping_normalized = ? AND c.id != ? AND c.email != ? COLLATE NOCASE "
            "ORDER BY v.created_at",
            [normalized, candidate_id, email],
        )

    # answers

    def insert_answer(self, fields: Row) -> tuple[int, bool]:
        """Append an answer: (its id, True); a repeated dedupe key gives (the first's id, False)."""
        key = fields.get("dedupe_key")
        if key:
            existing = self._row("SELECT id FROM answers WHERE dedupe_key = ?", [key])
            if existing:
                return int(existing["id"]), False
        row = {**fields, "answered_at": self.now()}
        return self._insert("answers", row), True

    def answers(self, verification_id: str) -> list[Row]:
        return self._rows(
            "SELECT * FROM answers WHERE verification_id = ? ORDER BY id", [verification_id]
        )

    def answer(self, answer_id: int) -> Row | None:
        return self._row("SELECT * FROM answers WHERE id = ?", [answer_id])

    # escalations

    def escalation_for(self, verification_id: str) -> Row | None:
        return self._row("SELECT * FROM escalations WHERE verification_id = ?", [verification_id])

    def escalation(self, escalation_id: int) -> Row | None:
        return self._row("SELECT * FROM escalations WHERE id = ?", [escalation_id])

    def open_escalation(self, verification_id: str) -> tuple[int, bool]:
        """The verification's escalation id, creating it; True when it was created now."""
        existing = self.escalation_for(verification_id)
        if existing:
            return int(existing["id"]), False
        row = {"verification_id": verification_id, "status": "open", "created_at": self.now()}
        return self._insert("escalations", row), True

    def decide_escalation(
        self, escalation_id: int, status: str, actor: str, platform: str, reason: str | None
    ) -> None:
        self.db.execute(
            "UPDATE escalations SET status = ?, decided_by = ?, decided_platform = ?, "
            "decided_at = ?, decision_reason = ? WHERE id = ?",
            [status, actor, platform, self.now(), reason, escalation_id],
        )

    def escalations(self, statuses: Iterable[str], limit: int = 50) -> list[Row]:
        wanted = list(statuses)
        return self._rows(
            f"SELECT * FROM escalations WHERE status IN ({', '.join('?' for _ in wanted)}) "
            "ORDER BY created_at DESC LIMIT ?",
            [*wanted, limit],
        )

    # outbox

    def enqueue(self, escalation_id: int, kind: str, target: str, payload: Row) -> int:
        now = self.now()
        row = {
            "escalation_id": escalation_id,
            "kind": kind,
            "target": target,
            "payload": json.dumps(payload, sort_keys=True),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        return self._insert("outbox", row)

    def pending_outbox(self) -> list[Row]:
        return self._rows("SELECT * FROM outbox WHERE status = 'pending' ORDER BY id")

    def outbox_item(self, item_id: int) -> Row | None:
        return self._row("SELECT * FROM outbox WHERE id = ?", [item_id])

    def mark_delivered(self, item_id: int, message_ref: str | None) -> None:
        self.db.execute(
            "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, "
            "message_ref = ?, delivered_at = ?, last_error = NULL WHERE id = ?",
            [message_ref, self.now(), item_id],
        )

    def mark_failed(self, item_id: int, error: str, next_attempt_at: datetime) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
            "WHERE id = ?",
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
            "INSERT OR IGNORE INTO escalation_messages (escalation_id, target, message_ref) "
            "VALUES (?, ?, ?)",
            [escalation_id, target, message_ref],
        )

    # jobs (bot/jobs.py): work promised in an ack, claimed under a lease, done once

    @contextmanager
    def busy_timeout(self, seconds: float) -> Iterator[None]:
        """Wait at most `seconds` for another connection's write lock inside the block."""
        self.db.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        try:
            yield
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def insert_job(self, kind: str, payload: Row, dedupe_key: str) -> tuple[int, bool]:
        """Queue a job: (its id, True); a repeated dedupe key gives (the first's id, False)."""
        now = self.now()
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO jobs (kind, payload, dedupe_key, next_attempt_at, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
                [kind, json.dumps(payload, sort_keys=True), dedupe_key, now, now, now],
            )
            if cursor.rowcount:
                return int(cursor.lastrowid), True
            existing = self._row("SELECT id FROM jobs WHERE dedupe_key = ?", [dedupe_key])
            return int(existing["id"]), False

    def claim_job(self, kinds: Iterable[str], owner: str, lease_until: datetime) -> Row | None:
        """The oldest due job of these kinds, now running under `owner`'s lease; None if none.

        Due: pending and past its next attempt time, or running under a lease that expired
        (its process died mid-job). Each claim counts as an attempt.
        """
        wanted = list(kinds)
        if not wanted:
            return None
        now = self.now()
        marks = ", ".join("?" for _ in wanted)
        with self.transaction():
            return self._row(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = ?, "
                "locked_until = ?, updated_at = ? WHERE id = ("
                f"SELECT id FROM jobs WHERE kind IN ({marks}) AND ("
                "(status = 'pending' AND next_attempt_at <= ?) "
                "OR (status = 'running' AND locked_until <= ?)) ORDER BY id LIMIT 1) "
                "RETURNING *",
                [owner, iso(lease_until), now, *wanted, now, now],
            )

    def renew_job_leases(self, job_ids: Iterable[int], owner: str, lease_until: datetime) -> int:
        """Extend the leases `owner` still holds; how many it still holds."""
        ids = list(job_ids)
        if not ids:
            return 0
        cursor = self.db.execute(
            "UPDATE jobs SET locked_until = ? WHERE status = 'running' AND locked_by = ? "
            f"AND id IN ({', '.join('?' for _ in ids)})",
            [iso(lease_until), owner, *ids],
        )
        return cursor.rowcount

    def _settle_job(self, job_id: int, owner: str, assignments: str, params: list[Any]) -> bool:
        """Update a job `owner` still holds; False when its lease went to another worker."""
        cursor = self.db.execute(
            f"UPDATE jobs SET {assignments}, locked_by = NULL, locked_until = NULL, "
            "updated_at = ? WHERE id = ? AND status = 'running' AND locked_by = ?",
            [*params, self.now(), job_id, owner],
        )
        return cursor.rowcount == 1

    def finish_job(self, job_id: int, owner: str) -> bool:
        now = self.now()
        return self._settle_job(
            job_id, owner, "status = 'done', finished_at = ?, last_error = NULL", [now]
        )

    def retry_job(self, job_id: int, owner: str, error: str, next_attempt_at: datetime) -> bool:
        return self._settle_job(
            job_id,
            owner,
            "status = 'pending', next_attempt_at = ?, last_error = ?",
            [iso(next_attempt_at), error[:500]],
        )

    def fail_job(self, job_id: int, owner: str, error: str) -> bool:
        now = self.now()
        return self._settle_job(
            job_id, owner, "status = 'failed', finished_at = ?, last_error = ?", [now, error[:500]]
        )

    def release_job(self, job_id: int, owner: str) -> bool:
        """Give an unfinished job back (a shutdown): due at once, the attempt not counted."""
        return self._settle_job(
            job_id,
            owner,
            "status = 'pending', attempts = max(attempts - 1, 0), next_attempt_at = ?",
            [self.now()],
        )

    def add_job_progress(self, job_id: int, mark: str) -> None:
        """Note that the job did `mark` (a message sent), so a rerun does not do it again."""
        self.db.execute(
            "UPDATE jobs SET progress = json_insert(progress, '$[#]', ?) WHERE id = ?",
            [mark, job_id],
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
        row = self._row(
            "SELECT min(CASE status WHEN 'pending' THEN next_attempt_at ELSE locked_until END) "
            f"AS due FROM jobs WHERE kind IN ({', '.join('?' for _ in wanted)}) "
            "AND status IN ('pending', 'running')",
            wanted,
        )
        return datetime.fromisoformat(row["due"]) if row and row["due"] else None

    def unfinished_jobs(self) -> int:
        return self.db.execute(
            "SELECT count(*) FROM jobs WHERE status IN ('pending', 'running')"
        ).fetchone()[0]

    def answer_by_dedupe_key(self, dedupe_key: str) -> Row | None:
        return self._row("SELECT * FROM answers WHERE dedupe_key = ?", [dedupe_key])

    # audit

    def audit(
        self,
        actor: str,
        platform: str,
        action: str,
        verification_id: str | None = None,
        detail: Row | None = None,
    ) -> int:
        """Append an event to the hash-chained audit log."""
        last = self._row("SELECT hash FROM events ORDER BY id DESC LIMIT 1")
        prev_hash = last["hash"] if last else GENESIS_HASH
        row = {
            "at": self.now(),
            "actor": actor,
            "platform": platform,
            "action": action,
            "verification_id": verification_id,
            "detail": json.dumps(detail or {}, sort_keys=True, default=str),
            "prev_hash": prev_hash,
        }
        row["hash"] = _event_hash(row)
        return self._insert("events", row)

    def events(self, verification_id: str | None = None) -> list[Row]:
        if verification_id is None:
            return self._rows("SELECT * FROM events ORDER BY id")
        return self._rows(
            "SELECT * FROM events WHERE verification_id = ? ORDER BY id", [verification_id]
        )

    def audit_chain_intact(self) -> bool:
        prev_hash = GENESIS_HASH
        for row in self.db.query("SELECT * FROM events ORDER BY id"):
            if row["prev_hash"] != prev_hash or _event_hash(row) != row["hash"]:
                return False
            prev_hash = row["hash"]
        return True

    # chat platforms' own state (Teams conversation state, conversation references)

    def state_read(self, keys: Iterable[str]) -> dict[str, Row]:
        wanted = list(keys)
        if not wanted:
            return {}
        rows = self._rows(
            f"SELECT * FROM bot_state WHERE key IN ({', '.join('?' for _ in wanted)})", wanted
        )
        return {row["key"]: {"etag": row["etag"], "data": json.loads(row["data"])} for row in rows}

    def state_write(self, key: str, data: Row, etag: str) -> None:
        self.db["bot_state"].upsert(
            {"key": key, "etag": etag, "data": json.dumps(data), "updated_at": self.now()},
            pk="key",
        )

    def state_delete(self, keys: Iterable[str]) -> None:
        wanted = list(keys)
        if wanted:
            self.db.execute(
                f"DELETE FROM bot_state WHERE key IN ({', '.join('?' for _ in wanted)})", wanted
            )

    def save_conversation_ref(
        self, key: str, platform: str, data: Row, updated_by: str | None = None
    ) -> None:
        self.db["conversation_refs"].upsert(
            {
                "key": key,
                "platform": platform,
                "data": json.dumps(data),
                "updated_by": updated_by,
                "updated_at": self.now(),
            },
            pk="key",
        )

    def conversation_ref(self, key: str) -> Row | None:
        row = self._row("SELECT data FROM conversation_refs WHERE key = ?", [key])
        return json.loads(row["data"]) if row else None


def _event_hash(row: Row) -> str:
    fields = ("at", "actor", "platform", "action", "verification_id", "detail", "prev_hash")
    material = json.dumps([row[name] for name in fields], default=str)
    return hashlib.sha256(material.encode()).hexdigest()
