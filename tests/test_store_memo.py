"""A service call reads each row once (Store.remembering), and never serves another call what it
read: erasures and other replicas' writes are seen by the next call, and a write transaction
reads again what its call read before it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.errors import PermissionDenied, StoreBusy
from bot.models import Actor, Platform
from bot.runtime import Core
from bot.sealing import ERASED
from bot.store import domain
from bot.store.memo import Memo
from tests.database import open_store, write_lock_held

OPERATOR = Actor(user_id="cli", platform=Platform.CLI)
NOTE = "notary Ozymandias Pemberton"


@pytest.fixture
def two(make_core: Callable[..., Core]) -> tuple[Core, Core]:
    """Two cores on one database: two connections, as two processes or replicas have."""
    return make_core(), make_core()


async def started(core: Core, actor: Callable[..., Actor], candidate: Any) -> str:
    outcome = await core.service.start(actor("hm-1"), candidate())
    return outcome.verification.id


async def test_an_erasure_by_another_store_is_seen_by_the_next_call(two, actor, candidate):
    first, second = two
    vid = await started(first, actor, candidate)
    await first.service.answer(actor("hm-1"), vid, "notarized_id", "verified", NOTE)
    with first.store.remembering():
        seen = await first.service.view(actor("hm-1"), vid)
        assert seen.candidate.name != ERASED
        assert first.store.answers(vid)[0]["note"] == NOTE

    second.erasure.erase(OPERATOR, vid)

    view = await first.service.view(actor("hm-1"), vid)
    assert view.candidate.name == ERASED
    assert view.erased
    assert view.findings[0].note == ERASED
    candidate_id = first.store.verification(vid)["candidate_id"]
    with first.store.remembering():
        assert first.store.candidate(candidate_id)["name"] == ERASED
        assert first.store.answers(vid)[0]["note"] == ERASED


async def test_an_erasure_inside_a_call_is_seen_at_once_by_that_call(core, actor, candidate):
    vid = await started(core, actor, candidate)
    await core.service.answer(actor("hm-1"), vid, "notarized_id", "verified", NOTE)
    candidate_id = core.store.verification(vid)["candidate_id"]
    with core.store.remembering():
        assert core.store.candidate(candidate_id)["name"] != ERASED
        assert core.store.answers(vid)[0]["note"] == NOTE
        core.erasure.erase(OPERATOR, vid)
        assert core.store.candidate(candidate_id)["name"] == ERASED
        assert core.store.answers(vid)[0]["note"] == ERASED
        assert core.store.candidate_key(candidate_id) is None


async def test_another_stores_answer_is_seen_by_the_next_call(two, actor, candidate):
    first, second = two
    vid = await started(first, actor, candidate)
    assert (await first.service.view(actor("hm-1"), vid)).answered == 0

    await second.service.answer(actor("hm-1"), vid, "notarized_id", "not_provided")

    view = await first.service.view(actor("hm-1"), vid)
    assert [f.answer for f in view.findings] == ["not_provided"]
    assert view.escalation_id is not None
    again = await first.service.answer(actor("hm-1"), vid, "notarized_id", "verified", NOTE)
    assert again.duplicate
    assert len(first.store.answers(vid)) == 1


async def test_a_write_transaction_reads_again_what_its_call_read_before(two, actor, candidate):
    first, second = two
    vid = await started(first, actor, candidate)
    with first.store.remembering():
        assert first.store.escalation_for(vid) is None
        await second.service.answer(actor("hm-1"), vid, "notarized_id", "not_provided")
        assert first.store.escalation_for(vid) is None
        with first.store.transaction():
            escalation = first.store.escalation_for(vid)
            assert escalation is not None
            assert first.store.open_escalation(vid) == (escalation["id"], False)
    assert len(first.store.escalations(["open"])) == 1


async def test_a_rollback_forgets_what_was_read_inside_it(core, actor, candidate):
    vid = await started(core, actor, candidate)
    row = {
        "verification_id": vid,
        "step_id": "notarized_id",
        "value": "verified",
        "result": "pass",
        "reason": "Notarized ID received",
        "answered_by": "hm-1",
        "platform": "slack",
    }
    with core.store.remembering():
        assert core.store.answers(vid) == []
        with pytest.raises(RuntimeError), core.store.transaction():
            core.store.insert_answer(row)
            assert len(core.store.answers(vid)) == 1
            raise RuntimeError("rolled back")
        assert core.store.answers(vid) == []


async def test_the_calls_own_writes_are_read_back(core, actor, candidate):
    vid = await started(core, actor, candidate)
    with core.store.remembering():
        before = core.store.verification(vid)
        core.store.set_verification_status(vid, "blocked")
        assert before["status"] == "in_progress"
        assert core.store.verification(vid)["status"] == "blocked"


async def test_a_remembered_row_changed_by_its_reader_is_not_changed_for_the_next(
    core, actor, candidate
):
    vid = await started(core, actor, candidate)
    with core.store.remembering():
        core.store.verification(vid)["status"] = "tampered"
        core.store.answers(vid).append({"id": 99})
        assert core.store.verification(vid)["status"] == "in_progress"
        assert core.store.answers(vid) == []


async def test_a_task_started_inside_a_call_reads_anew_once_the_call_ended(core, actor, candidate):
    vid = await started(core, actor, candidate)
    second = open_store(core.store.path)
    later = asyncio.Event()

    async def reader() -> str:
        await later.wait()
        return core.store.verification(vid)["status"]

    try:
        with core.store.remembering():
            assert core.store.verification(vid)["status"] == "in_progress"
            task = asyncio.create_task(reader())
        second.set_verification_status(vid, "blocked")
        later.set()
        assert await task == "blocked"
    finally:
        second.close()


async def test_without_a_call_nothing_is_remembered(two, actor, candidate):
    first, second = two
    vid = await started(first, actor, candidate)
    assert first.store.verification(vid)["status"] == "in_progress"
    second.store.set_verification_status(vid, "blocked")
    assert first.store.verification(vid)["status"] == "blocked"


@pytest.mark.parametrize(
    ("statement", "forgotten"),
    [
        ("INSERT INTO answers (id) VALUES (?)", {"answers"}),
        ("insert or ignore into answers (id) values (?)", {"answers"}),
        ("UPDATE verifications SET status = ?", {"verifications"}),
        ("DELETE FROM candidate_keys WHERE candidate_id = ?", {"candidate_keys"}),
        ("SELECT * FROM answers", set()),
        ("PRAGMA busy_timeout = 10", set()),
        ("ALTER TABLE answers DISABLE TRIGGER USER", {"answers", "verifications", "candidates"}),
    ],
)
def test_a_write_forgets_the_table_it_writes(statement: str, forgotten: set[str]) -> None:
    memo = Memo(object())
    for table in ("answers", "verifications", "candidates"):
        memo.get(table, 1, lambda: {"id": 1})
    memo.forget_written(statement)
    assert {table for table, _ in memo.rows} == {"answers", "verifications", "candidates"} - (
        forgotten
    )


async def test_a_call_on_one_connection_still_waits_for_the_write_lock(
    core, actor, candidate, database
):
    vid = await started(core, actor, candidate)
    with core.store.remembering():
        assert core.store.verification(vid)["status"] == "in_progress"
        with (
            write_lock_held(database),
            pytest.raises(StoreBusy),
            core.store.busy_timeout(0.05),
            core.store.transaction(),
        ):
            core.store.set_verification_status(vid, "blocked")
        assert core.store.verification(vid)["status"] == "in_progress"
        with core.store.transaction():
            core.store.set_verification_status(vid, "blocked")
        assert core.store.verification(vid)["status"] == "blocked"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("by", ["id", "name"])
async def test_status_reads_each_row_once_by_id_or_by_name(core, actor, candidate, by) -> None:
    """A status with its answers reads the candidate's key once, not once per answer."""
    hm = actor("hm-1")
    details = candidate()
    verification_id = (await core.service.start(hm, details)).verification.id
    for step, value in [("notarized_id", "verified"), ("background_check", "clear")]:
        await core.service.answer(hm, verification_id, step, value, "checked")
    statements: list[str] = []
    core.store.db.conn.set_trace_callback(statements.append)
    try:
        view = await core.service.status(hm, verification_id if by == "id" else details["name"])
    finally:
        core.store.db.conn.set_trace_callback(None)
    assert view.id == verification_id
    assert view.answered >= 2
    assert sum("FROM candidate_keys" in sql for sql in statements) == 1


@pytest.mark.sqlite_only
async def test_status_by_name_reads_its_verifications_once_in_a_new_process(two, actor, candidate):
    """The name's rows name their candidates: opening the answers reads no verification again."""
    first, second = two
    hm = actor("hm-1")
    details = candidate()
    verification_id = (await first.service.start(hm, details)).verification.id
    await first.service.answer(hm, verification_id, "notarized_id", "verified", NOTE)
    statements: list[str] = []
    second.store.db.conn.set_trace_callback(statements.append)
    try:
        view = await second.service.status(hm, details["name"])
    finally:
        second.store.db.conn.set_trace_callback(None)
    assert view.id == verification_id
    assert view.findings[0].note == NOTE
    assert sum("FROM verifications" in sql for sql in statements) == 1


# what a process keeps between calls


def person(name: str) -> dict[str, str]:
    address = "1 Elm St, Springfield, IL 62701"
    return {
        "name": name,
        "email": f"{name.split()[0].lower()}@example.com",
        "home_address": address,
        "shipping_address": address,
        "home_normalized": "1 ELM ST SPRINGFIELD IL 62701",
        "shipping_normalized": "1 ELM ST SPRINGFIELD IL 62701",
    }


async def test_a_key_remembered_for_a_rolled_back_candidate_opens_nothing_of_the_next(two):
    """SQLite gives a rolled-back insert's id to the next candidate, who has another key."""
    first, second = two
    with pytest.raises(RuntimeError), first.store.transaction():
        first.store.insert_candidate(person("Jane Doe"))
        raise RuntimeError("rolled back")
    candidate_id = second.store.insert_candidate(person("John Roe"))

    opened = first.store.candidate(candidate_id)

    assert opened["name"] == "John Roe"
    assert opened["email"] == "john@example.com"


async def test_a_process_keeps_a_bounded_number_of_candidates_and_keys(
    make_core, actor, candidate, monkeypatch
):
    monkeypatch.setattr(domain, "REMEMBERED_CANDIDATES", 2)
    monkeypatch.setattr(domain, "REMEMBERED_KEYS", 2)
    writer, reader = make_core(), make_core()
    hm = actor("hm-1")
    started_ids = []
    for _ in range(5):
        verification_id = await started(writer, actor, candidate)
        await writer.service.answer(hm, verification_id, "notarized_id", "verified", NOTE)
        started_ids.append(verification_id)

    for verification_id in started_ids + started_ids[:2]:
        view = await reader.service.view(hm, verification_id)
        assert view.candidate.name.startswith("Candidate ")
        assert view.findings[0].note == NOTE

    assert len(reader.store._candidate_of) == 2
    assert len(reader.store._candidate_keys) == 2


def spied_reads(db: Any, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What `db` is asked to read from now on: each statement read alone, and the size of
    each batch (not the statements a batch runs one by one on SQLite)."""
    reads: list[object] = []
    batching: list[bool] = []
    query, query_batch = db.query, db.query_batch

    def one(sql: str, params: Any = None) -> Any:
        if not batching:
            reads.append(sql)
        return query(sql, params)

    def batch(statements: Any) -> Any:
        reads.append(len(statements))
        batching.append(True)
        try:
            return query_batch(statements)
        finally:
            batching.pop()

    monkeypatch.setattr(db, "query", one)
    monkeypatch.setattr(db, "query_batch", batch)
    return reads


@pytest.mark.parametrize("by", ["id", "name"])
async def test_a_status_reads_its_rows_in_one_batch_once_the_verification_is_read(
    two, actor, candidate, monkeypatch, by
):
    """The verification (to check who may see it), then one batch of six reads: one round
    trip on PostgreSQL for the candidate, key, answers, escalation and hand-over links (in
    a process that has read the playbook's version already)."""
    first, second = two
    hm = actor("hm-1")
    await second.service.view(hm, await started(first, actor, candidate))
    details = candidate()
    verification_id = (await first.service.start(hm, details)).verification.id
    await first.service.answer(hm, verification_id, "notarized_id", "verified", NOTE)
    reads = spied_reads(second.store.db, monkeypatch)

    view = await second.service.status(hm, verification_id if by == "id" else details["name"])

    assert view.id == verification_id
    assert view.candidate.name == details["name"] and view.findings[0].note == NOTE
    assert len(reads) == 2 and "FROM verifications" in str(reads[0]) and reads[1] == 6


async def test_a_view_refused_reads_nothing_after_the_verification(two, actor, candidate):
    """Who may see it is checked on the verification alone, before anything about the
    candidate is read."""
    first, second = two
    verification_id = await started(first, actor, candidate)
    batches: list[int] = []
    query_batch = second.store.db.query_batch
    second.store.db.query_batch = lambda statements: (
        batches.append(len(statements))
        or (  # type: ignore[method-assign]
            query_batch(statements)
        )
    )
    with pytest.raises(PermissionDenied):
        await second.service.view(actor("hm-2"), verification_id)
    assert batches == []


async def test_an_answer_reads_its_rows_in_one_batch_under_the_lock(
    core, actor, candidate, monkeypatch
):
    """Before the write lock, the verification and its escalation (a final one refuses the
    answer). Under it, one batch: the verification, what a read-ahead reads and the audit
    chain's head. After the answer and its event only the answers, the table it wrote, are
    read again, once: nothing else alone, the outcome's view after the commit included."""
    hm = actor("hm-1")
    verification_id = await started(core, actor, candidate)
    reads = spied_reads(core.store.db, monkeypatch)

    outcome = await core.service.answer(hm, verification_id, "notarized_id", "verified", NOTE)

    assert outcome.recorded is not None and outcome.recorded.note == NOTE
    assert [read for read in reads if isinstance(read, int)] == [8]
    before = reads[: reads.index(8)]
    assert ["FROM verifications" in str(read) for read in before] == [True, False]
    assert "FROM escalations" in str(before[1])
    alone = [sql for sql in reads[reads.index(8) :] if isinstance(sql, str)]
    assert sum("FROM answers" in sql for sql in alone) == 1
    assert not any(
        table in sql
        for sql in alone
        for table in (
            "FROM verifications",
            "FROM escalations",
            "FROM candidates",
            "FROM candidate_keys",
            "FROM handovers",
            "FROM events",
        )
    ), alone


async def test_a_fresh_read_ahead_remembers_what_the_one_row_reads_give(
    core, actor, candidate, monkeypatch
):
    """A live verification with an answer, one escalated since its row was read, and one
    erased: the rows read in the batch are the rows read one by one now (the verification's
    too, not the older row given), and nothing of them is read again."""
    hm = actor("hm-1")
    live, escalated, erased = [await started(core, actor, candidate) for _ in range(3)]
    store = core.store
    older = [store.verification(verification_id) for verification_id in (live, escalated, erased)]
    await core.service.answer(hm, live, "notarized_id", "verified", NOTE)
    await core.service.answer(hm, escalated, "notarized_id", "mismatch", NOTE)
    await core.service.answer(hm, erased, "notarized_id", "verified", NOTE)
    core.erasure.erase(OPERATOR, erased)

    def each(verification_id: str) -> tuple[Any, ...]:
        row = store.verification(verification_id)
        assert row is not None
        candidate_id = int(row["candidate_id"])
        return (
            row,
            store.candidate(candidate_id),
            store.candidate_key(candidate_id),
            store.answers(verification_id),
            store.escalation_for(verification_id),
            store.handover_link(verification_id),
        )

    one_by_one = [each(row["id"]) for row in older]
    with store.remembering(), store.transaction():
        store.read_ahead_fresh(older, audit_head=True)
        reads = spied_reads(store.db, monkeypatch)
        assert [each(row["id"]) for row in older] == one_by_one
    assert reads == []
    assert one_by_one[1][0]["status"] != older[1]["status"]
    assert one_by_one[1][4] is not None
    assert one_by_one[2][1]["name"] == ERASED
    assert one_by_one[2][2] is None
