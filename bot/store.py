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
NOT_GIVEN = ""
SHIPPING_COLUMNS = ("shipping_address", "shipping_normalized")
Clock = Callable[[], datetime]
GENESIS_HASH = "0" * 64


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
        self.db.execute("PRAGMA busy_timeout = 10000")
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
        for name in SHIPPING_COLUMNS:
            row[name] = row.get(name) or NOT_GIVEN
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
        """A candidate; a shipping address not given yet is None."""
        row = self._row("SELECT * FROM candidates WHERE id = ?", [candidate_id])
        if row is not None:
            for name in SHIPPING_COLUMNS:
                row[name] = row[name] or None
        return row

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
        platform: str | None = None,
    ) -> list[Row]:
        """Newest first; `requested_by` and `platform` together name one person."""
        clauses, params = [], []
        if requested_by is not None:
            clauses.append("requested_by = ?")
            params.append(requested_by)
        if platform is not None:
            clauses.append("platform = ?")
            params.append(platform)
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
            "WHERE c.shipping_normalized = ? AND c.shipping_normalized != '' "
            "AND c.id != ? AND c.email != ? COLLATE NOCASE "
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
        self,
        escalation_id: int,
        status: str,
        actor: str,
        platform: str,
        reason: str | None,
        resolved_through: int | None = None,
    ) -> None:
        """Record a decision; `resolved_through` (a Clear) resolves findings up to that answer."""
        self.db.execute(
            "UPDATE escalations SET status = ?, decided_by = ?, decided_platform = ?, "
            "decided_at = ?, decision_reason = ?, "
            "resolved_through = coalesce(?, resolved_through) WHERE id = ?",
            [status, actor, platform, self.now(), reason, resolved_through, escalation_id],
        )

    def reopen_escalation(self, escalation_id: int) -> None:
        """A new finding after a Clear: open again, the earlier decision kept for the record."""
        self.db.execute(
            "UPDATE escalations SET status = 'open', reopened_at = ? WHERE id = ?",
            [self.now(), escalation_id],
        )

    def escalations(self, statuses: Iterable[str], limit: int = 50) -> list[Row]:
        wanted = list(statuses)
        return self._rows(
            f"SELECT * FROM escalations WHERE status IN ({', '.join('?' for _ in wanted)}) "
            "ORDER BY created_at DESC LIMIT ?",
            [*wanted, limit],
        )

    # outbox

    def enqueue(
        self,
        escalation_id: int,
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
        return self._insert("outbox", row)

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

    def mark_sending(self, item_id: int) -> None:
        """Taken by the worker: later notices no longer merge into it."""
        self.db.execute("UPDATE outbox SET status = 'sending' WHERE id = ?", [item_id])

    def release_sending(self) -> int:
        """Rows a stopped process was sending go back to pending; how many."""
        cursor = self.db.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'")
        return cursor.rowcount

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
            "UPDATE outbox SET status = 'pending', attempts = attempts + 1, last_error = ?, "
            "next_attempt_at = ? WHERE id = ?",
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

    # intake: verifications started by Greenhouse, the API or Workflow Builder (issue 9)

    def set_shipping_address(self, candidate_id: int, address: str, normalized: str) -> None:
        """The laptop shipping address given after the verification started."""
        self.db.execute(
            "UPDATE candidates SET shipping_address = ?, shipping_normalized = ? WHERE id = ?",
            [address, normalized, candidate_id],
        )

    def assign_verification(self, verification_id: str, user_id: str, platform: str) -> None:
        """The person who answers a verification an integration started."""
        self.db.execute(
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
            "SELECT v.* FROM verifications v JOIN candidates c ON c.id = v.candidate_id "
            "WHERE c.email = ? COLLATE NOCASE AND v.playbook_id = ? "
            "ORDER BY v.created_at DESC, v.rowid DESC LIMIT 1",
            [email, playbook_id],
        )

    # deferred work: what must happen later, exactly once (until bot/jobs.py replaces it)

    def enqueue_work(
        self, kind: str, key: str, payload: Row, not_before: datetime | None = None
    ) -> bool:
        """Queue work under a unique key; False (nothing queued) when the key was seen."""
        now = self.now()
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO deferred_work (kind, key, payload, next_attempt_at, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                kind,
                key,
                json.dumps(payload, sort_keys=True),
                iso(not_before) if not_before else now,
                now,
            ],
        )
        return cursor.rowcount == 1

    def due_work(self, now: datetime) -> list[Row]:
        return self._rows(
            "SELECT * FROM deferred_work WHERE status = 'pending' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at, id",
            [iso(now)],
        )

    def next_work_due(self) -> datetime | None:
        row = self._row(
            "SELECT min(next_attempt_at) AS at FROM deferred_work WHERE status = 'pending'"
        )
        return datetime.fromisoformat(row["at"]) if row and row["at"] else None

    def work_item(self, key: str) -> Row | None:
        return self._row("SELECT * FROM deferred_work WHERE key = ?", [key])

    def work_done(self, item_id: int) -> None:
        self.db.execute(
            "UPDATE deferred_work SET status = 'done', done_at = ?, last_error = NULL, "
            "attempts = attempts + 1 WHERE id = ?",
            [self.now(), item_id],
        )

    def work_later(
        self, item_id: int, next_attempt_at: datetime, error: str | None, failed: bool
    ) -> None:
        """Try again at `next_attempt_at`; `failed` counts an attempt (a wait does not)."""
        self.db.execute(
            "UPDATE deferred_work SET next_attempt_at = ?, last_error = ?, "
            "attempts = attempts + ? WHERE id = ?",
            [iso(next_attempt_at), (error or "")[:500] or None, int(failed), item_id],
        )


def _event_hash(row: Row) -> str:
    fields = ("at", "actor", "platform", "action", "verification_id", "detail", "prev_hash")
    material = json.dumps([row[name] for name in fields], default=str)
    return hashlib.sha256(material.encode()).hexdigest()
