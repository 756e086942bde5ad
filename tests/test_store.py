"""The SQLite store on a real file: pragmas, schema, indexes, the audit chain, platform state."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import Settings
from bot.errors import PermissionDenied, StoreBusy, StoreError
from bot.schema import MIGRATIONS, SCHEMA_VERSION
from bot.store import GENESIS_HASH, Row, Store
from bot.store.pg_schema import PG_MIGRATIONS
from tests.database import ON_POSTGRES, open_store, write_in_threads, write_lock_held


def index_columns(store: Store, table: str) -> set[tuple[str, ...]]:
    indexes = store.db.execute(f"PRAGMA index_list({table})").fetchall()
    return {
        tuple(column[2] for column in store.db.execute(f"PRAGMA index_info({index[1]})"))
        for index in indexes
    }


@pytest.mark.sqlite_only
def test_the_database_is_a_wal_file_with_foreign_keys_on(db_path: Path, clock) -> None:
    store = Store(db_path, clock=clock)
    try:
        assert db_path.exists()
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.health()["journal_mode"] == "wal"
    finally:
        store.close()


def test_foreign_keys_are_enforced(store) -> None:
    with pytest.raises(store.db.Error):
        store.insert_verification(
            {
                "id": "VB-00000000",
                "candidate_id": 999,
                "playbook_id": "pre-offer",
                "playbook_version": 1,
                "requested_by": "hm-1",
                "platform": "slack",
                "status": "in_progress",
            }
        )
    assert store.db.execute("SELECT count(*) FROM verifications").fetchone()[0] == 0


@pytest.mark.sqlite_only
def test_the_schema_version_is_set_and_opening_again_migrates_nothing(db_path: Path, clock) -> None:
    first = Store(db_path, clock=clock)
    first.insert_candidate(
        {
            "name": "Jane Doe",
            "email": "jane@example.com",
            "home_address": "1 Elm St",
            "shipping_address": "1 Elm St",
            "home_normalized": "1 ELM ST",
            "shipping_normalized": "1 ELM ST",
        }
    )
    tables = sorted(first.db.table_names())
    first.close()

    again = Store(db_path, clock=clock)
    try:
        assert again.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert again.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert sorted(again.db.table_names()) == tables
        assert again.db.execute("SELECT count(*) FROM candidates").fetchone()[0] == 1
    finally:
        again.close()


@pytest.mark.sqlite_only
def test_a_database_newer_than_the_code_is_refused(db_path: Path) -> None:
    connection = sqlite3.connect(db_path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StoreError, match="newer than this verifybot"):
        Store(db_path)


def make_verification(store: Store, verification_id: str, owner: str, name: str) -> None:
    """A candidate called `name` and their verification, started by `owner` in Slack."""
    address = "1 Elm St, Springfield, IL 62701"
    candidate_id = store.insert_candidate(
        {
            "name": name,
            "email": f"{verification_id.lower()}@example.com",
            "home_address": address,
            "shipping_address": address,
            "home_normalized": "1 ELM ST SPRINGFIELD IL 62701",
            "shipping_normalized": "1 ELM ST SPRINGFIELD IL 62701",
        }
    )
    store.insert_verification(
        {
            "id": verification_id,
            "candidate_id": candidate_id,
            "playbook_id": "pre-offer",
            "playbook_version": 1,
            "requested_by": owner,
            "platform": "slack",
            "status": "in_progress",
        }
    )


@pytest.mark.sqlite_only
def test_migration_15_copies_each_candidates_name_index_onto_their_verifications(
    db_path: Path, clock
) -> None:
    store = Store(db_path, clock=clock)
    make_verification(store, "VB-0000000A", "U0HM1", "Ana Silva")
    make_verification(store, "VB-0000000B", "U0HM2", "Ana Silva")
    store.close()
    connection = sqlite3.connect(db_path)
    connection.executescript(
        "DROP TRIGGER verifications_name_index; DROP TRIGGER candidates_name_index; "
        "DROP INDEX idx_verifications_name_owner; "
        "ALTER TABLE verifications DROP COLUMN name_index; "
        "CREATE INDEX idx_verifications_candidate_owner "
        "ON verifications(candidate_id, (requested_by || ''), platform); "
        "PRAGMA user_version = 14;"
    )
    connection.close()

    store = Store(db_path, clock=clock)
    try:
        found = store.verifications_by_candidate_name("ana silva", ("U0HM2", "slack"))
        assert [row["id"] for row in found] == ["VB-0000000B"]
        indexes = store.db.execute(
            "SELECT c.name_index, v.name_index FROM verifications v "
            "JOIN candidates c ON c.id = v.candidate_id"
        ).fetchall()
        assert len(indexes) == 2 and all(c == v and v for c, v in indexes)
        assert ("candidate_id", None, "platform") not in index_columns(store, "verifications")
        assert ("name_index",) not in index_columns(store, "candidates")
    finally:
        store.close()


@pytest.mark.sqlite_only
def test_the_lookups_are_indexed(store) -> None:
    assert ("shipping_index",) in index_columns(store, "candidates")
    assert ("name_index",) not in index_columns(store, "candidates")
    assert ("name_index", "requested_by", "platform", "created_at") in index_columns(
        store, "verifications"
    )
    assert ("candidate_id", "playbook_id", "created_at") in index_columns(store, "verifications")
    assert ("status",) in index_columns(store, "verifications")
    assert ("verification_id", "step_id", "id") in index_columns(store, "answers")
    assert ("dedupe_key",) in index_columns(store, "answers")


def sqlite_plan(store: Store, run: Callable[[], object], marker: str) -> str:
    """SQLite's plan of the statement `run` sends that contains `marker` (its own SQL)."""
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:
        run()
    finally:
        store.db.conn.set_trace_callback(None)
    [statement] = [sql for sql in statements if marker in sql]
    return " | ".join(str(row[-1]) for row in store.db.execute(f"EXPLAIN QUERY PLAN {statement}"))


def generic_plan(store: Store, run: Callable[[], object], marker: str, arguments: list[str]) -> str:
    """PostgreSQL's generic plan of the statement psycopg prepared for `run` (run six times:
    psycopg prepares from the fifth) that contains `marker`: the plan of any arguments."""
    with store.remembering():
        store.db.execute("SET plan_cache_mode = force_generic_plan")
        try:
            for _ in range(6):
                run()
            [prepared] = store.db.query(
                "SELECT name FROM pg_prepared_statements WHERE statement LIKE ?", [f"%{marker}%"]
            )
            values = ", ".join(f"'{value}'" for value in arguments)
            explained = store.db.query(f"EXPLAIN EXECUTE {prepared['name']}({values})")
        finally:
            store.db.execute("RESET plan_cache_mode")
    return " | ".join(row["QUERY PLAN"] for row in explained)


@pytest.mark.sqlite_only
def test_status_by_name_reads_the_owners_rows_through_one_index(store) -> None:
    """The caller's rows of the name, found in one index in the answer's order: never the
    owner's index (a busy hiring manager's every verification) nor the name's every
    candidate (a common name's hundreds at a million)."""
    plan = sqlite_plan(
        store,
        lambda: store.verifications_by_candidate_name("Ana Silva", ("U0HM1", "slack")),
        "name_index",
    )
    assert plan == (
        "SEARCH verifications USING INDEX idx_verifications_name_owner "
        "(name_index=? AND requested_by=? AND platform=?)"
    )


@pytest.mark.skipif(not ON_POSTGRES, reason="a prepared statement's generic plan (PostgreSQL)")
def test_status_by_name_keeps_to_the_name_and_owner_in_a_generic_plan(store) -> None:
    """psycopg prepares a statement run often, and PostgreSQL may then plan it once for any
    owner: that plan must still read the name's and owner's rows only, in order."""
    owner = ("U0HM1", "slack")
    plan = generic_plan(
        store,
        lambda: store.verifications_by_candidate_name("Ana Silva", owner),
        "name_index",
        ["0" * 64, *owner],
    )
    assert "Index Scan Backward using idx_verifications_name_owner" in plan
    assert "Index Cond: ((name_index = $1) AND (requested_by = $2) AND (platform = $3))" in plan
    assert "Sort" not in plan


def open_list(store: Store) -> list[Row]:
    return store.list_verifications("U0HM1", None, 50, "slack", unfinished=True)


@pytest.mark.sqlite_only
def test_a_managers_open_list_is_read_in_index_order(store) -> None:
    """Newest first straight from the index, each escalation looked up by its verification:
    no sort of a busy hiring manager's every unfinished verification."""
    plan = sqlite_plan(store, lambda: open_list(store), "LEFT JOIN escalations")
    assert (
        "SEARCH v USING INDEX idx_verifications_unfinished_newest (requested_by=? AND platform=?)"
    ) in plan
    assert "SEARCH e USING INDEX" in plan and "(verification_id=?)" in plan
    assert "TEMP B-TREE" not in plan


@pytest.mark.skipif(not ON_POSTGRES, reason="a prepared statement's generic plan (PostgreSQL)")
def test_a_managers_open_list_stops_at_its_page_in_a_generic_plan(store) -> None:
    """The generic plan reads the index backwards and stops at the limit: no sort (which
    read all 6,000 of a busy manager's unfinished rows, 55 ms at a million) and no hash of
    every confirmed escalation (53 ms)."""
    plan = generic_plan(
        store, lambda: open_list(store), "LEFT JOIN escalations", ["U0HM1", "slack", "50", "0"]
    )
    assert "Index Scan Backward using idx_verifications_unfinished_newest" in plan
    assert "Sort" not in plan
    assert "Hash" not in plan


@pytest.mark.sqlite_only
def test_the_laptop_farm_lookup_uses_the_shipping_index(store) -> None:
    plan = store.db.execute(
        "EXPLAIN QUERY PLAN SELECT v.id FROM candidates c "
        "JOIN verifications v ON v.candidate_id = c.id "
        "WHERE c.shipping_index = ? AND c.id != ? AND c.email_index != ?",
        ["ab12", 1, "cd34"],
    ).fetchall()
    assert "idx_candidates_shipping" in " ".join(str(row[-1]) for row in plan)


async def test_the_audit_chain_is_intact_after_a_flow(
    core, service, store, actor, candidate, security_notifier
) -> None:
    hm = actor()
    started = await service.start(hm, candidate())
    verification_id = started.verification.id
    blocked = await service.answer(hm, verification_id, "notarized_id", "not_provided")
    await service.answer(hm, verification_id, "notarized_id", "verified", "Notary 7", change=True)
    with pytest.raises(PermissionDenied):
        await service.answer(actor("hm-2"), verification_id, "camera_interview", "matched")
    escalation_id = blocked.verification.escalation_id
    await service.decide(actor("sec-1"), escalation_id, "confirm", "Stolen identity")
    await core.worker.run_once()

    events = store.events()
    actions = [event["action"] for event in events]
    assert actions[:2] == ["playbook.version_stored", "verification.started"]
    assert {"answer.changed", "refused", "escalation.confirmed"} <= set(actions)
    assert events[0]["prev_hash"] == GENESIS_HASH
    assert all(
        later["prev_hash"] == earlier["hash"] for earlier, later in itertools.pairwise(events)
    )
    assert store.audit_chain_intact()


def test_the_audit_log_is_append_only(store) -> None:
    store.audit("hm-1", "slack", "verification.started", "VB-00000001", {"a": 1})
    with pytest.raises(store.db.Error, match="append-only"):
        store.db.execute("UPDATE events SET actor = 'someone-else'")
    with pytest.raises(store.db.Error, match="append-only"):
        store.db.execute("DELETE FROM events")
    emptied = {"sqlite": "DELETE FROM events WHERE 1", "postgresql": "TRUNCATE events"}
    with pytest.raises(store.db.Error, match="append-only"):
        store.db.execute(emptied[store.dialect])
    assert store.audit_chain_intact()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("hash", "f" * 64),
        ("detail", '{"step": "camera_interview", "answer": "matched"}'),
        ("actor", "someone-else"),
        ("prev_hash", GENESIS_HASH),
    ],
)
def test_a_tampered_audit_row_breaks_the_chain(store, column: str, value: str) -> None:
    for n in range(3):
        store.audit("hm-1", "slack", "answer.recorded", "VB-00000001", {"n": n})
    assert store.audit_chain_intact()

    with store.db.append_only_suspended("events"):
        store.db.execute(f"UPDATE events SET {column} = ? WHERE id = 2", [value])

    assert not store.audit_chain_intact()


def test_a_deleted_audit_row_breaks_the_chain(store) -> None:
    for n in range(3):
        store.audit("hm-1", "slack", "answer.recorded", None, {"n": n})
    with store.db.append_only_suspended("events"):
        store.db.execute("DELETE FROM events WHERE id = 2")
    assert not store.audit_chain_intact()


def test_an_empty_audit_log_is_intact(store) -> None:
    assert store.events() == []
    assert store.audit_chain_intact()


def test_an_answer_with_a_repeated_dedupe_key_is_the_first_one(store) -> None:
    """A job run again after a crash records its press once: the unique key refuses the
    repeat in the insert itself, and the first answer's id comes back."""
    make_verification(store, "VB-0000000A", "U0HM1", "Ana Silva")
    answer = {
        "verification_id": "VB-0000000A",
        "step_id": "notarized_id",
        "value": "verified",
        "result": "pass",
        "note": "notary 123",
        "reason": "Notarized ID received",
        "answered_by": "U0HM1",
        "platform": "slack",
        "dedupe_key": "slack:U0HM1:press:1",
    }
    with store.transaction():
        first = store.insert_answer(answer)
    with store.transaction():
        again = store.insert_answer({**answer, "value": "not_provided", "result": "block"})
        without_key = store.insert_answer({**answer, "dedupe_key": None})

    assert first[1] is True and again == (first[0], False)
    assert without_key[1] is True and without_key[0] != first[0]
    assert [row["value"] for row in store.answers("VB-0000000A")] == ["verified", "verified"]
    assert store.answers("VB-0000000A")[0]["note"] == "notary 123"


HOSTILE = [
    "'; DROP TABLE bot_state; --",
    "%s",
    "%(name)s",
    "?",
    "$1",
    "back\\slash",
    "E'\\x41'",
    "Zoë",
]


def test_a_batch_of_reads_gives_what_each_read_gives(store) -> None:
    """One round trip on PostgreSQL, its parameters quoted on this side: hostile values are
    looked up verbatim, and each statement gets its own rows."""
    for number, key in enumerate(HOSTILE):
        store.state_write(key, {"n": number}, etag=key)
    reads = [("SELECT key, etag FROM bot_state WHERE key = ?", [key]) for key in HOSTILE]
    reads.append(("SELECT count(*) AS n FROM bot_state WHERE etag IN (?, ?)", HOSTILE[:2]))
    reads.append(("SELECT key FROM bot_state WHERE key = ?", ["missing"]))

    batch = store.db.query_batch(reads)

    assert batch == [store.db.query(sql, params) for sql, params in reads]
    assert [rows[0]["etag"] for rows in batch[: len(HOSTILE)]] == HOSTILE
    assert batch[-2] == [{"n": 2}] and batch[-1] == []
    assert len(store.state_read(HOSTILE)) == len(HOSTILE)


def test_bot_state_is_written_read_and_deleted(store) -> None:
    assert store.state_read([]) == {}
    assert store.state_read(["missing"]) == {}
    store.state_write("teams/conv-1", {"dialog": {"step": 2}}, etag="1")
    store.state_write("teams/conv-2", {"dialog": None}, etag="1")
    store.state_write("teams/conv-1", {"dialog": {"step": 3}}, etag="2")

    assert store.state_read(["teams/conv-1", "teams/conv-2", "other"]) == {
        "teams/conv-1": {"etag": "2", "data": {"dialog": {"step": 3}}},
        "teams/conv-2": {"etag": "1", "data": {"dialog": None}},
    }
    store.state_delete(["teams/conv-1", "never-written"])
    store.state_delete([])
    assert list(store.state_read(["teams/conv-1", "teams/conv-2"])) == ["teams/conv-2"]


def test_bot_state_survives_reopening(database: str, clock) -> None:
    first = open_store(database, clock=clock)
    first.state_write("k", {"x": [1, 2]}, etag="e1")
    first.close()
    again = open_store(database, clock=clock)
    try:
        assert again.state_read(["k"]) == {"k": {"etag": "e1", "data": {"x": [1, 2]}}}
    finally:
        again.close()


def test_conversation_refs_are_saved_and_replaced(store) -> None:
    assert store.conversation_ref("teams:user:aad-1") is None
    store.save_conversation_ref("teams:user:aad-1", "teams", {"conversation": {"id": "a"}})
    store.save_conversation_ref(
        "teams:user:aad-1", "teams", {"conversation": {"id": "b"}}, updated_by="aad-1"
    )
    assert store.conversation_ref("teams:user:aad-1") == {"conversation": {"id": "b"}}
    row = store.db.execute(
        "SELECT platform, updated_by FROM conversation_refs WHERE key = ?", ["teams:user:aad-1"]
    ).fetchone()
    assert row == ("teams", "aad-1")


def test_times_come_from_the_clock_in_utc(store, clock) -> None:
    store.audit("hm-1", "slack", "x")
    assert store.events()[0]["at"] == "2025-03-03T09:00:00.000+00:00"
    clock.advance(1.5)
    assert store.now() == "2025-03-03T09:00:01.500+00:00"


async def test_health_reports_database_and_pending(store, service, actor, candidate) -> None:
    await service.start(actor(), candidate())
    health = store.health()
    expected = {
        "ok": True,
        "database": store.dialect,
        "schema_version": SCHEMA_VERSION,
        "outbox_pending": 0,
    }
    assert {name: health[name] for name in expected} == expected
    if store.dialect == "sqlite":
        assert health["journal_mode"] == "wal"


async def test_two_processes_can_record_answers_at_the_same_time(
    make_core, actor, candidate, monkeypatch
) -> None:
    here, there = make_core(), make_core()  # two connections to one file, as two processes
    hm = actor()
    mine = (await here.service.start(hm, candidate())).verification.id
    theirs = (await there.service.start(hm, candidate())).verification.id
    errors: list[BaseException] = []

    def answer_there() -> None:
        try:
            asyncio.run(there.service.answer(hm, theirs, "camera_interview", "matched"))
        except BaseException as error:
            errors.append(error)

    other = threading.Thread(target=answer_there)
    read_answers = here.store.answers

    def answers_while_the_other_process_writes(verification_id: str) -> list[dict]:
        rows = read_answers(verification_id)
        if other.ident is None:  # the first read, inside the answer's transaction
            other.start()
            other.join(timeout=0.5)  # done at once, or waiting for our write lock
        return rows

    monkeypatch.setattr(here.store, "answers", answers_while_the_other_process_writes)
    try:
        await here.service.answer(hm, mine, "camera_interview", "matched")
    finally:
        other.join(timeout=15)

    assert errors == []
    assert [row["value"] for row in here.store.answers(mine)] == ["matched"]
    assert [row["value"] for row in here.store.answers(theirs)] == ["matched"]
    assert here.store.audit_chain_intact()


def test_concurrent_writers_chain_the_audit_log_one_after_the_other(database: str, clock) -> None:
    def write(store: Store, _: int) -> None:
        for n in range(20):
            store.audit("hm-1", "slack", "answer.recorded", None, {"n": n})

    events = write_in_threads(database, clock, write)
    assert [event["id"] for event in events] == list(range(1, 41))


def test_postgresql_takes_its_keys_from_the_settings_only(clock) -> None:
    with pytest.raises(StoreError) as refused:
        Store("postgresql://verifybot@127.0.0.1:1/verifybot", clock=clock)
    assert str(refused.value) == (
        "VERIFYBOT_AUDIT_KEY, VERIFYBOT_DATA_KEY, VERIFYBOT_INDEX_KEY: required with "
        "VERIFYBOT_DATABASE_URL (PostgreSQL keeps no key file; give every replica the same "
        "three keys)"
    )


def test_an_unreachable_server_is_one_line_without_the_password(clock) -> None:
    with pytest.raises(StoreError) as refused:
        open_store("postgresql://verifybot:hunter2-secret@127.0.0.1:1/verifybot", clock=clock)
    message = str(refused.value)
    assert message.startswith("postgresql://verifybot:***@127.0.0.1:1/verifybot: cannot use")
    assert "hunter2" not in message and "\n" not in message


def test_the_database_url_must_be_postgresql() -> None:
    with pytest.raises(ValidationError, match="must be a postgresql:// URL"):
        Settings(_env_file=None, database_url="mysql://verifybot@db/verifybot")
    settings = Settings(_env_file=None, database_url="postgresql://v:secret@db/v", db="x.db")
    assert settings.database == "postgresql://v:secret@db/v"
    assert "v:secret@" not in repr(settings)
    assert Settings(_env_file=None, db="x.db").database == "x.db"


def test_every_migration_is_expressed_for_postgresql_too() -> None:
    assert len(PG_MIGRATIONS) == len(MIGRATIONS)


def _schema(store: Store) -> dict[str, set[str]]:
    """Tables with their columns, and the names of the indexes and append-only triggers."""
    if store.dialect == "sqlite":
        objects = store.db.query("SELECT type, name FROM sqlite_master")
        tables = [row["name"] for row in objects if row["type"] == "table"]
        shape = {
            table: {row["name"] for row in store.db.query(f"PRAGMA table_info({table})")}
            for table in tables
        }
        shape["indexes"] = {row["name"] for row in objects if row["name"].startswith("idx_")}
        shape["triggers"] = {row["name"] for row in objects if row["type"] == "trigger"}
        return shape
    shape = {}
    for row in store.db.query(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema()"
    ):
        shape.setdefault(row["table_name"], set()).add(row["column_name"])
    del shape["schema_version"]
    shape["verifications"].discard("rowid")
    indexes = store.db.query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
    shape["indexes"] = {row["indexname"] for row in indexes if row["indexname"].startswith("idx_")}
    triggers = store.db.query(
        "SELECT trigger_name FROM information_schema.triggers "
        "WHERE trigger_schema = current_schema()"
    )
    shape["triggers"] = {row["trigger_name"] for row in triggers} - {
        f"{table}_append_only_truncate" for table in ("answers", "events", "playbook_versions")
    }
    return shape


def test_the_migrations_give_both_databases_the_same_schema(database: str, tmp_path: Path) -> None:
    reference = open_store(tmp_path / "reference.db")
    tested = open_store(database)
    try:
        assert _schema(tested) == _schema(reference)
    finally:
        reference.close()
        tested.close()


async def test_a_press_reads_its_answer_and_whether_its_message_shows_it_at_once(
    store, service, actor, candidate
) -> None:
    """click_state reads, in one statement, what answer_by_dedupe_key gives (the answer
    unsealed, its note readable, or None) and whether mark_shown marked the message."""
    hm = actor()
    verification_id = (await service.start(hm, candidate())).verification.id
    assert store.click_state("press-1", "message-1") == (None, False)
    store.mark_shown("message-1")
    assert store.click_state("press-1", "message-1") == (None, True)
    assert store.click_state(None, "message-2") == (None, False)

    await service.answer(
        hm, verification_id, "notarized_id", "verified", note="Commission 42", dedupe_key="press-1"
    )
    answer, shown = store.click_state("press-1", "message-2")
    assert answer == store.answer_by_dedupe_key("press-1")
    assert answer is not None and answer["note"] == "Commission 42"
    assert shown is False


def test_a_turn_lease_is_held_by_one_owner_at_a_time(database: str, clock) -> None:
    """Two replicas taking a Teams user's turn at once: one gets it, on every key."""
    stores = [open_store(database, clock=clock) for _ in range(2)]
    lease = clock.now + timedelta(seconds=30)
    keys = [f"user-{n}" for n in range(20)]
    won: dict[int, list[bool]] = {}

    def take(index: int, start: threading.Barrier) -> None:
        start.wait(5)
        won[index] = [stores[index].take_turn_lease(key, f"replica-{index}", lease) for key in keys]

    start = threading.Barrier(2)
    takers = [threading.Thread(target=take, args=(index, start)) for index in (0, 1)]
    try:
        for taker in takers:
            taker.start()
        for taker in takers:
            taker.join(timeout=30)
        assert [a + b for a, b in zip(won[0], won[1], strict=True)] == [1] * len(keys)
        holder = 0 if won[0][0] else 1
        other = 1 - holder
        assert stores[holder].take_turn_lease(keys[0], f"replica-{holder}", lease), "renewed"
        stores[other].drop_turn_lease(keys[0], f"replica-{other}")
        assert not stores[other].take_turn_lease(keys[0], f"replica-{other}", lease)
        stores[holder].drop_turn_lease(keys[0], f"replica-{holder}")
        assert stores[other].take_turn_lease(keys[0], f"replica-{other}", lease)
        clock.advance(31)
        assert stores[holder].take_turn_lease(keys[1], f"replica-{holder}", lease + timedelta(60))
    finally:
        for store in stores:
            store.close()


def test_a_turn_lease_waits_for_another_transaction_only_on_sqlite(database: str, clock) -> None:
    """PostgreSQL: a Teams turn never queues behind another request's write transaction."""
    store = open_store(database, clock=clock)
    lease = clock.now + timedelta(seconds=30)
    try:
        with write_lock_held(database):
            if not store.waits_on_network:
                with pytest.raises(StoreBusy), store.busy_timeout(0.05):
                    store.take_turn_lease("user-1", "replica-0", lease)
                return
            with store.busy_timeout(0.05):
                assert store.take_turn_lease("user-1", "replica-0", lease)
                store.drop_turn_lease("user-1", "replica-0")
        assert store.take_turn_lease("user-1", "replica-1", lease)
    finally:
        store.close()
