"""The SQLite schema as numbered migrations; applying them is idempotent."""

from __future__ import annotations

import sqlite3

import sqlite_utils

MIGRATIONS: list[str] = [
    # 1: candidates, verifications, append-only answers and audit, escalations, outbox.
    """
    CREATE TABLE candidates (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        phone TEXT,
        role TEXT,
        home_address TEXT NOT NULL,
        shipping_address TEXT NOT NULL,
        home_normalized TEXT NOT NULL,
        shipping_normalized TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX idx_candidates_name ON candidates(name COLLATE NOCASE);
    CREATE INDEX idx_candidates_email ON candidates(email);
    CREATE INDEX idx_candidates_shipping ON candidates(shipping_normalized);
    CREATE INDEX idx_candidates_home ON candidates(home_normalized);

    CREATE TABLE verifications (
        id TEXT PRIMARY KEY,
        candidate_id INTEGER NOT NULL REFERENCES candidates(id),
        playbook_id TEXT NOT NULL,
        playbook_version INTEGER NOT NULL,
        requested_by TEXT NOT NULL,
        platform TEXT NOT NULL,
        status TEXT NOT NULL,
        start_key TEXT UNIQUE,
        cancelled_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX idx_verifications_candidate ON verifications(candidate_id);
    CREATE INDEX idx_verifications_status ON verifications(status);
    CREATE INDEX idx_verifications_requested_by ON verifications(requested_by, status);

    CREATE TABLE answers (
        id INTEGER PRIMARY KEY,
        verification_id TEXT NOT NULL REFERENCES verifications(id),
        step_id TEXT NOT NULL,
        value TEXT NOT NULL,
        result TEXT NOT NULL CHECK (result IN ('pass', 'review', 'block')),
        note TEXT,
        reason TEXT NOT NULL,
        answered_by TEXT NOT NULL,
        platform TEXT NOT NULL,
        answered_at TEXT NOT NULL,
        dedupe_key TEXT UNIQUE
    );
    CREATE INDEX idx_answers_verification ON answers(verification_id, step_id, id);
    CREATE TRIGGER answers_append_only_update BEFORE UPDATE ON answers
        BEGIN SELECT RAISE(ABORT, 'answers are append-only'); END;
    CREATE TRIGGER answers_append_only_delete BEFORE DELETE ON answers
        BEGIN SELECT RAISE(ABORT, 'answers are append-only'); END;

    CREATE TABLE escalations (
        id INTEGER PRIMARY KEY,
        verification_id TEXT NOT NULL UNIQUE REFERENCES verifications(id),
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        decided_by TEXT,
        decided_platform TEXT,
        decided_at TEXT,
        decision_reason TEXT
    );
    CREATE INDEX idx_escalations_status ON escalations(status);

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        escalation_id INTEGER NOT NULL REFERENCES escalations(id),
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        message_ref TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT
    );
    CREATE INDEX idx_outbox_due ON outbox(status, target, next_attempt_at);

    CREATE TABLE escalation_messages (
        escalation_id INTEGER NOT NULL REFERENCES escalations(id),
        target TEXT NOT NULL,
        message_ref TEXT NOT NULL,
        PRIMARY KEY (escalation_id, target)
    );

    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        platform TEXT NOT NULL,
        action TEXT NOT NULL,
        verification_id TEXT,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX idx_events_verification ON events(verification_id);
    CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

    CREATE TABLE bot_state (
        key TEXT PRIMARY KEY,
        etag TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    CREATE TABLE conversation_refs (
        key TEXT PRIMARY KEY,
        platform TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_by TEXT,
        updated_at TEXT NOT NULL
    );
    """,
    # 2: separation of duties: what only security sees, findings a Clear resolved, reopening.
    """
    ALTER TABLE answers ADD COLUMN security_detail TEXT;
    ALTER TABLE escalations ADD COLUMN resolved_through INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE escalations ADD COLUMN reopened_at TEXT;
    """,
    # 3: playbook versions: the content of each playbook version verifications used, never changed.
    """
    CREATE TABLE playbook_versions (
        playbook_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        content TEXT NOT NULL,
        source TEXT NOT NULL,
        stored_at TEXT NOT NULL,
        PRIMARY KEY (playbook_id, version)
    );
    CREATE INDEX idx_verifications_playbook ON verifications(playbook_id, playbook_version);
    CREATE TRIGGER playbook_versions_append_only_update BEFORE UPDATE ON playbook_versions
        BEGIN SELECT RAISE(ABORT, 'playbook versions are append-only'); END;
    CREATE TRIGGER playbook_versions_append_only_delete BEFORE DELETE ON playbook_versions
        BEGIN SELECT RAISE(ABORT, 'playbook versions are append-only'); END;
    """,
    # 4: personal data sealed per candidate (bot/crypto.py), compared through blind indexes;
    # erasure, retention runs and daily tasks. The candidates table is rebuilt so that an
    # erased candidate's columns can be emptied.
    """
    CREATE TABLE candidates_sealed (
        id INTEGER PRIMARY KEY,
        name TEXT,
        email TEXT,
        phone TEXT,
        role TEXT,
        home_address TEXT,
        shipping_address TEXT,
        home_normalized TEXT,
        shipping_normalized TEXT,
        name_index TEXT,
        email_index TEXT,
        home_index TEXT,
        shipping_index TEXT,
        erased_at TEXT,
        created_at TEXT NOT NULL
    );
    INSERT INTO candidates_sealed (id, name, email, phone, role, home_address, shipping_address,
        home_normalized, shipping_normalized, created_at)
        SELECT id, name, email, phone, role, home_address, shipping_address,
        home_normalized, shipping_normalized, created_at FROM candidates;
    DROP TABLE candidates;
    ALTER TABLE candidates_sealed RENAME TO candidates;
    CREATE INDEX idx_candidates_name_index ON candidates(name_index);
    CREATE INDEX idx_candidates_email_index ON candidates(email_index);
    CREATE INDEX idx_candidates_home_index ON candidates(home_index);
    CREATE INDEX idx_candidates_shipping_index ON candidates(shipping_index);

    CREATE TABLE candidate_keys (
        candidate_id INTEGER PRIMARY KEY REFERENCES candidates(id),
        wrapped TEXT NOT NULL
    );
    CREATE TABLE erasures (
        id INTEGER PRIMARY KEY,
        candidate_id INTEGER NOT NULL REFERENCES candidates(id),
        reason TEXT,
        erased_by TEXT NOT NULL,
        erased_at TEXT NOT NULL
    );
    CREATE TABLE schedules (
        name TEXT PRIMARY KEY,
        next_run_at TEXT NOT NULL
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE INDEX idx_verifications_finished ON verifications(status, updated_at);

    CREATE TABLE outbox_any (
        id INTEGER PRIMARY KEY,
        escalation_id INTEGER REFERENCES escalations(id),
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        message_ref TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT
    );
    INSERT INTO outbox_any SELECT id, escalation_id, kind, target, payload, status, attempts,
        next_attempt_at, last_error, message_ref, created_at, delivered_at FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_any RENAME TO outbox;
    CREATE INDEX idx_outbox_due ON outbox(status, target, next_attempt_at);
    CREATE INDEX idx_outbox_escalation ON outbox(escalation_id, target, status);
    """,
    # 5: jobs: the work a front end promised in an ack, done after it, across restarts.
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        dedupe_key TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'running', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        locked_by TEXT,
        locked_until TEXT,
        progress TEXT NOT NULL DEFAULT '[]',
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE INDEX idx_jobs_due ON jobs(status, kind, next_attempt_at);
    """,
    # 6: verifications started by Greenhouse, the API or Workflow Builder; durable deferred work.
    """
    CREATE TABLE intakes (
        verification_id TEXT PRIMARY KEY REFERENCES verifications(id),
        source TEXT NOT NULL,
        external_id TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (source, external_id)
    );

    CREATE TABLE deferred_work (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        done_at TEXT
    );
    CREATE INDEX idx_deferred_work_due ON deferred_work(status, next_attempt_at);
    """,
    # 7: identity signals: blind indexes of the phone, the payout account and the address keys
    # (place, ZIP, building) compared across candidates; the referrer and the payout account's
    # last 4 characters (sealed); the watchlist.
    """
    ALTER TABLE candidates ADD COLUMN referred_by TEXT;
    ALTER TABLE candidates ADD COLUMN payout_last4 TEXT;
    ALTER TABLE candidates ADD COLUMN phone_index TEXT;
    ALTER TABLE candidates ADD COLUMN payout_index TEXT;
    ALTER TABLE candidates ADD COLUMN home_place_index TEXT;
    ALTER TABLE candidates ADD COLUMN home_zip_index TEXT;
    ALTER TABLE candidates ADD COLUMN home_building_index TEXT;
    ALTER TABLE candidates ADD COLUMN shipping_place_index TEXT;
    ALTER TABLE candidates ADD COLUMN shipping_zip_index TEXT;
    ALTER TABLE candidates ADD COLUMN shipping_building_index TEXT;
    CREATE INDEX idx_candidates_phone_index ON candidates(phone_index);
    CREATE INDEX idx_candidates_payout_index ON candidates(payout_index);
    CREATE INDEX idx_candidates_home_place ON candidates(home_place_index);
    CREATE INDEX idx_candidates_shipping_place ON candidates(shipping_place_index);
    CREATE INDEX idx_candidates_shipping_building ON candidates(shipping_building_index);

    CREATE TABLE watchlist (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('address', 'email', 'phone', 'payout_account')),
        shown TEXT NOT NULL,
        match_key TEXT NOT NULL,
        zip TEXT,
        source TEXT,
        added_by TEXT NOT NULL,
        added_platform TEXT NOT NULL,
        added_at TEXT NOT NULL,
        removed_by TEXT,
        removed_platform TEXT,
        removed_at TEXT
    );
    CREATE INDEX idx_watchlist_match ON watchlist(kind, match_key);
    """,
    # 8: deferred work moves onto the job queue (payloads stay sealed); Workflow Builder steps.
    """
    INSERT INTO jobs (kind, payload, dedupe_key, attempts, next_attempt_at, last_error,
                      created_at, updated_at)
    SELECT kind, json_object('sealed', payload, 'context', 'deferred_work:' || key), key,
           0, next_attempt_at, last_error, created_at, created_at
    FROM deferred_work WHERE status = 'pending'
    ON CONFLICT (dedupe_key) DO NOTHING;
    DROP TABLE deferred_work;

    CREATE TABLE workflow_executions (
        execution_id TEXT PRIMARY KEY,
        verification_id TEXT NOT NULL REFERENCES verifications(id),
        status TEXT NOT NULL DEFAULT 'running'
            CHECK (status IN ('running', 'completed', 'failed')),
        created_at TEXT NOT NULL,
        completed_at TEXT
    );
    CREATE INDEX idx_workflow_executions_verification
        ON workflow_executions(verification_id, status);
    """,
    # 9: chasing open verifications (reminders, overdue, re-surfaced findings), each sent once;
    # the device hand-over scheduled when a pre-offer verification is cleared.
    """
    CREATE TABLE chases (
        key TEXT PRIMARY KEY,
        verification_id TEXT NOT NULL REFERENCES verifications(id),
        kind TEXT NOT NULL,
        seq INTEGER NOT NULL,
        due_at TEXT NOT NULL,
        sent_at TEXT NOT NULL,
        done_by TEXT
    );
    CREATE INDEX idx_chases_verification ON chases(verification_id, kind);

    CREATE TABLE handovers (
        pre_offer_id TEXT PRIMARY KEY REFERENCES verifications(id),
        due_at TEXT NOT NULL,
        scheduled_at TEXT NOT NULL,
        verification_id TEXT UNIQUE REFERENCES verifications(id),
        started_at TEXT
    );
    CREATE INDEX idx_handovers_due ON handovers(verification_id, due_at);

    ALTER TABLE candidates ADD COLUMN start_date TEXT;
    """,
    # 10: more than one replica: an outbox row is claimed under a lease; the Slack messages
    # already showing their answer; one Teams turn per user at a time across processes.
    """
    ALTER TABLE outbox ADD COLUMN locked_by TEXT;
    ALTER TABLE outbox ADD COLUMN locked_until TEXT;

    CREATE TABLE shown_answers (
        key TEXT PRIMARY KEY,
        shown_at TEXT NOT NULL
    );
    CREATE INDEX idx_shown_answers_at ON shown_answers(shown_at);

    CREATE TABLE turn_leases (
        key TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        locked_until TEXT NOT NULL
    );
    """,
    # 11: indexes for a million verifications: a hiring manager's newest verifications; a
    # candidate's verifications of one playbook (the clearance gate).
    """
    CREATE INDEX IF NOT EXISTS idx_verifications_owner
        ON verifications(requested_by, platform, created_at);
    CREATE INDEX IF NOT EXISTS idx_verifications_candidate_playbook
        ON verifications(candidate_id, playbook_id, created_at);
    """,
    # 12: a hiring manager's unfinished verifications, without their finished years.
    """
    CREATE INDEX IF NOT EXISTS idx_verifications_unfinished
        ON verifications(requested_by, platform, created_at)
        WHERE cancelled_at IS NULL AND status != 'cleared';
    """,
    # 13: a candidate's verifications by their owner too: status by name reads only the
    # caller's rows among the name's candidates (the candidate-only index it replaces is
    # this one's prefix). The owner is indexed as `requested_by || ''`, the expression the
    # lookup filters by, so that no plan (a prepared statement's generic one included) can
    # take the owner's own indexes and walk a busy hiring manager's every verification.
    """
    CREATE INDEX IF NOT EXISTS idx_verifications_candidate_owner
        ON verifications(candidate_id, (requested_by || ''), platform);
    DROP INDEX IF EXISTS idx_verifications_candidate;
    """,
    # 14: a hiring manager's unfinished verifications in the list's very order (newest, then
    # id), so that a page stops at its limit in any plan, a generic one included; replaces 12.
    """
    CREATE INDEX IF NOT EXISTS idx_verifications_unfinished_newest
        ON verifications(requested_by, platform, created_at, id)
        WHERE cancelled_at IS NULL AND status != 'cleared';
    DROP INDEX IF EXISTS idx_verifications_unfinished;
    """,
    # 15: status by name reads one index however many candidates share the name: each
    # verification carries its candidate's name index, indexed with the owner; triggers keep
    # it in step (a start copies it, an erasure empties it). Replaces 13, whose candidate
    # prefix idx_verifications_candidate_playbook (11) still serves, and the candidates' own
    # name index, which nothing else looks up.
    """
    ALTER TABLE verifications ADD COLUMN name_index TEXT;
    UPDATE verifications SET name_index =
        (SELECT c.name_index FROM candidates c WHERE c.id = verifications.candidate_id);
    CREATE INDEX IF NOT EXISTS idx_verifications_name_owner
        ON verifications(name_index, requested_by, platform, created_at);
    DROP INDEX IF EXISTS idx_verifications_candidate_owner;
    DROP INDEX IF EXISTS idx_candidates_name_index;
    CREATE TRIGGER verifications_name_index AFTER INSERT ON verifications
    BEGIN
        UPDATE verifications
        SET name_index = (SELECT name_index FROM candidates WHERE id = NEW.candidate_id)
        WHERE id = NEW.id;
    END;
    CREATE TRIGGER candidates_name_index AFTER UPDATE OF name_index ON candidates
    WHEN OLD.name_index IS NOT NEW.name_index
    BEGIN
        UPDATE verifications SET name_index = NEW.name_index WHERE candidate_id = NEW.id;
    END;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite_utils.Database) -> int:
    """Apply the migrations the database has not seen; return its schema version."""
    current = db.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"the database has schema version {current}, newer than this verifybot "
            f"({SCHEMA_VERSION}); upgrade verifybot"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with db.atomic():
            for statement in _statements(MIGRATIONS[version - 1]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
    return SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
