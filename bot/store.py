"""All SQLite access, through sqlite-utils: the one module a server database would replace."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import sqlite_utils

from bot.errors import StoreError
from bot.schema import migrate

Row = dict[str, Any]
Clock = Callable[[], datetime]
GENESIS_HASH = "0" * 64


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


class Store:
    """The verifybot database: WAL mode, foreign keys on, schema migrated on open."""

    def __init__(self, path: str | Path, clock: Clock = utc_now, *, create: bool = True) -> None:
        """Open (and migrate) the database; `create=False` refuses a file that does not exist.

        StoreError, with nothing written, when the path cannot hold a database.
        """
        self.path = str(path)
        self.clock = clock
        if self.path != ":memory:":
            _check_path(Path(self.path), create)
        try:
            connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        except sqlite3.DatabaseError as error:
            raise StoreError(_open_problem(self.path, error)) from None
        self.db = sqlite_utils.Database(connection)
        try:
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA busy_timeout = 10000")
            if self.path != ":memory:":
                self.db.enable_wal()
                self.db.execute("PRAGMA synchronous = NORMAL")
            self.schema_version = migrate(self.db)
        except (sqlite3.DatabaseError, RuntimeError) as error:
            connection.close()
            raise StoreError(_open_problem(self.path, error)) from None

    def close(self) -> None:
        self.db.close()

    def backup(self, target: str | Path) -> Path:
        """Copy the database into the new file `target` with SQLite's online backup API.

        Safe while other processes write (a consistent snapshot, WAL content included); the
        copy is one self-contained file (rollback journal). StoreError, with nothing left
        behind, when `target` exists or cannot be written.
        """
        target = Path(target)
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
                self.db.conn.backup(destination)
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
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO playbook_versions "
            "(playbook_id, version, content_hash, content, source, stored_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
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

    # cross-candidate look-ups and the watchlist
    #
    # Every comparison with other candidates takes values already normalised by bot.address
    # or bot.identity (or keyed hashes of them), so that these columns can become blind
    # indexes without changing the callers.

    def _others(self, match: str, params: list[Any], person: Person) -> list[Row]:
        """Verifications of other people whose candidate row satisfies `match`."""
        return self._rows(
            "SELECT v.id AS verification_id, c.name AS candidate_name, c.id AS candidate_id "
            "FROM candidates c JOIN verifications v ON v.candidate_id = c.id "
            f"WHERE ({match}) AND c.id != ? AND (c.email_key != ? OR c.name_key != ?) "
            "ORDER BY v.created_at, v.rowid",
            [*params, person.candidate_id, person.email_key, person.name_key],
        )

    def others_shipping_to(
        self, place: str, zip_code: str | None, canonical: str, person: Person
    ) -> list[Row]:
        """Other people shipping to the same place (a missing ZIP matches any ZIP)."""
        return self._others(
            "(c.shipping_place = ? AND (c.shipping_zip IS NULL OR ? IS NULL "
            "OR c.shipping_zip = ?)) OR c.shipping_normalized = ?",
            [place, zip_code, zip_code, canonical],
            person,
        )

    def others_in_building(self, building: str, zip_code: str | None, person: Person) -> list[Row]:
        """Other people shipping to the same building, whatever the unit."""
        return self._others(
            "c.shipping_building = ? AND (c.shipping_zip IS NULL OR ? IS NULL "
            "OR c.shipping_zip = ?)",
            [building, zip_code, zip_code],
            person,
        )

    def others_home_at(
        self, place: str, zip_code: str | None, canonical: str, person: Person
    ) -> list[Row]:
        """Other people whose claimed home is the same place."""
        return self._others(
            "(c.home_place = ? AND (c.home_zip IS NULL OR ? IS NULL OR c.home_zip = ?)) "
            "OR c.home_normalized = ?",
            [place, zip_code, zip_code, canonical],
            person,
        )

    def others_with_phone(self, e164: str, person: Person) -> list[Row]:
        return self._others("c.phone = ?", [e164], person)

    def others_with_email(self, email_key: str, person: Person) -> list[Row]:
        """Other people (another name) using the same mailbox."""
        return self._others("c.email_key = ?", [email_key], person)

    def others_with_payout(self, payout_hash: str, person: Person) -> list[Row]:
        return self._others("c.payout_hash = ?", [payout_hash], person)

    def verifications_of_email(self, email_key: str) -> list[Row]:
        """Every verification of the candidates using a mailbox, with its escalation status."""
        return self._rows(
            "SELECT v.id AS verification_id, c.name AS candidate_name, c.id AS candidate_id, "
            "v.status, e.status AS escalation_status "
            "FROM candidates c JOIN verifications v ON v.candidate_id = c.id "
            "LEFT JOIN escalations e ON e.verification_id = v.id "
            "WHERE c.email_key = ? ORDER BY v.created_at, v.rowid",
            [email_key],
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
        self.db.execute(
            "UPDATE watchlist SET removed_at = ?, removed_by = ?, removed_platform = ? "
            "WHERE id = ? AND removed_at IS NULL",
            [self.now(), actor, platform, watch_id],
        )

    def watched(self, kind: str, match_key: str, zip_code: str | None = None) -> list[Row]:
        """Current entries of `kind` matching a normalised value (addresses: place and ZIP)."""
        return self._rows(
            "SELECT * FROM watchlist WHERE kind = ? AND match_key = ? AND removed_at IS NULL "
            "AND (zip IS NULL OR ? IS NULL OR zip = ?) ORDER BY id",
            [kind, match_key, zip_code, zip_code],
        )


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


def _event_hash(row: Row) -> str:
    fields = ("at", "actor", "platform", "action", "verification_id", "detail", "prev_hash")
    material = json.dumps([row[name] for name in fields], default=str)
    return hashlib.sha256(material.encode()).hexdigest()
