"""An older database's pending deferred work moves onto the job queue, still sealed."""

from __future__ import annotations

import json

import pytest

from bot.intake_jobs import HANDOVER, opened
from bot.schema import MIGRATIONS

MOVED = next(i for i, script in enumerate(MIGRATIONS) if "DROP TABLE deferred_work" in script)
CREATED = next(script for script in MIGRATIONS if "CREATE TABLE deferred_work" in script)
DEFERRED_SCHEMA = CREATED[CREATED.index("CREATE TABLE deferred_work") :]

pytestmark = pytest.mark.sqlite_only


def test_pending_deferred_work_becomes_sealed_jobs_and_the_table_goes(make_core) -> None:
    core = make_core()
    store = core.store
    later = "DROP TABLE workflow_executions; DROP TABLE chases; DROP TABLE handovers;"
    later += "ALTER TABLE candidates DROP COLUMN start_date;"
    later += "DROP TABLE shown_answers; DROP TABLE turn_leases;"
    later += "ALTER TABLE outbox DROP COLUMN locked_by;"
    later += "ALTER TABLE outbox DROP COLUMN locked_until;"
    later += "DROP TRIGGER verifications_name_index; DROP TRIGGER candidates_name_index;"
    later += "DROP INDEX idx_verifications_name_owner;"
    later += "ALTER TABLE verifications DROP COLUMN name_index;"
    store.db.executescript(later + DEFERRED_SCHEMA)
    key = "handover:VB-ABCD-2345"
    secret = {"verification_id": "VB-ABCD-2345", "emails": ["zoë@example.com"], "intro": "x"}
    sealed = store.vault.seal_master(json.dumps(secret), f"deferred_work:{key}")
    for row_key, status in ((key, "pending"), ("handover:VB-DONE-2345", "done")):
        store.db.execute(
            "INSERT INTO deferred_work (kind, key, payload, status, next_attempt_at, created_at) "
            "VALUES (?, ?, ?, ?, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
            [HANDOVER, row_key, sealed, status],
        )
    store.db.execute(f"PRAGMA user_version = {MOVED}")
    store.db.conn.commit()
    core.close()

    store = make_core().store
    assert "deferred_work" not in store.db.table_names()
    [job] = store.jobs()
    assert (job["kind"], job["dedupe_key"], job["status"]) == (HANDOVER, key, "pending")
    assert "zoë" not in job["payload"] and "example.com" not in job["payload"]
    assert opened(store, json.loads(job["payload"])) == secret
