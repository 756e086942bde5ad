"""A record you can prove and erase: the keyed audit chain and `audit verify` against every
tampering, candidate data sealed at rest, erasure, retention, key handling and file modes."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot import presenter
from bot.audit import AuditFailure, parse_anchor, verify
from bot.errors import InvalidInput, StoreError
from bot.models import Actor, Platform
from bot.notices import DecisionNotice, FindingNotice
from bot.playbook import PlaybookRegistry
from bot.sealing import ERASED
from bot.store import GENESIS_HASH
from tests.conftest import PLAYBOOK_DIR
from tests.database import raw_execute, stored_bytes
from tests.test_case_and_cli import run_cli

JOHN = {
    "name": "Johnathan Quarrington",
    "email": "john.quarrington@example.net",
    "phone": "+1 312 555 0199",
    "role": "Staff Engineer",
    "home_address": "900 Lake Shore Drive, Chicago, IL 60611",
    "shipping_address": "77 Harbor Road, Unit 9, Baltimore, MD 21230",
}
NOTE = "SSN ends 6789, notary Ozymandias Pemberton"
REASON = "Spoke to Ozymandias Pemberton by phone"
PERSONAL = (
    JOHN["name"],
    JOHN["email"],
    "Lake Shore",
    "Harbor Road",
    "HARBOR",
    "Ozymandias",
    "SSN ends 6789",  # not "6789" alone: a timestamp's microseconds may hold it
)
OPERATOR = Actor(user_id="cli", platform=Platform.CLI)


def raw_bytes(database: str | Path) -> bytes:
    """The database as it is stored (tests/database.py)."""
    return stored_bytes(database)


def in_clear(database: str | Path) -> list[str]:
    raw = raw_bytes(database)
    return [text for text in PERSONAL if text.encode() in raw or text.upper().encode() in raw]


async def record(service, actor, hm="hm-1") -> str:
    """A verification with a noted answer, a change, a red flag and a security decision."""
    hm_actor = actor(hm)
    started = await service.start(hm_actor, JOHN)
    vid = started.verification.id
    await service.answer(hm_actor, vid, "notarized_id", "mismatch", NOTE)
    await service.answer(hm_actor, vid, "notarized_id", "verified", NOTE, change=True)
    await service.answer(hm_actor, vid, "background_check", "clear")
    escalation = service.store.escalation_for(vid)["id"]
    await service.decide(actor("sec-1"), escalation, "acknowledge", None)
    await service.decide(actor("sec-1"), escalation, "clear", REASON)
    return vid


def tamper(database: str, *statements: str) -> None:
    """What someone with write access to the database can do, triggers or not."""
    raw_execute(database, *statements)


def failure(db: Path, core_factory, anchor: tuple[int, str] | None = None) -> str:
    core = core_factory()
    try:
        with pytest.raises(AuditFailure) as failed:
            verify(core.store, anchor)
    finally:
        core.close()
    return str(failed.value)


# the keyed chain and audit verify


async def test_an_untouched_database_verifies_and_names_its_head(make_core, actor) -> None:
    core = make_core()
    await record(core.service, actor)

    report = verify(core.store)

    count, head = core.store.audit_head()
    assert report.line == f"audit: {count} events intact, head {head[:16]}"
    assert count == len(core.store.events()) > 5
    assert core.store.audit_chain_intact()


@pytest.mark.parametrize(
    ("statements", "named"),
    [
        (["UPDATE escalations SET status = 'open'"], "escalation 1: status is 'open'"),
        (["UPDATE verifications SET status = 'cleared'"], "status is 'cleared'"),
        (
            [
                "DROP TRIGGER answers_append_only_update",
                "UPDATE answers SET value = 'verified', result = 'pass' WHERE id = 1",
            ],
            "answer 1: value is 'verified'",
        ),
        (
            [
                "DROP TRIGGER events_append_only_delete",
                "DELETE FROM events WHERE id > (SELECT max(id) - 3 FROM events)",
            ],
            "but the events (last: event 2) say 'blocked'",
        ),
        (
            [
                "DROP TRIGGER events_append_only_update",
                "UPDATE events SET detail = '{}' WHERE id = 2",
            ],
            "event 2 (verification.started) was changed",
        ),
    ],
    ids=["escalation-status", "verification-status", "answer-rewritten", "tail-deleted", "edit"],
)
async def test_audit_verify_names_the_first_thing_that_was_edited(
    make_core, actor, database, statements, named
) -> None:
    core = make_core()
    await record(core.service, actor)
    core.close()

    tamper(database, *statements)

    assert named in failure(database, make_core)


async def test_an_inserted_or_rechained_event_without_the_key_is_caught(
    make_core, actor, database
) -> None:
    core = make_core()
    await record(core.service, actor)
    events = core.store.events()
    core.close()
    prev = GENESIS_HASH
    rows = []
    for event in events:  # re-chained as plain SHA-256, the way the old chain was computed
        detail = event["detail"] if event["id"] != 3 else json.dumps({"forged": True})
        material = json.dumps([event["at"], event["actor"], detail, prev])
        digest = hashlib.sha256(material.encode()).hexdigest()
        rows.append((detail, prev, digest, event["id"]))
        prev = digest
    tamper(
        database,
        "DROP TRIGGER events_append_only_update",
        *[
            f"UPDATE events SET detail = '{d}', prev_hash = '{p}', hash = '{h}' WHERE id = {i}"
            for d, p, h, i in rows
        ],
    )
    assert "event 1 (playbook.version_stored) was changed" in failure(database, make_core)


async def test_an_event_inserted_in_the_middle_breaks_the_chain(make_core, actor, database) -> None:
    core = make_core()
    await record(core.service, actor)
    core.close()
    tamper(
        database,
        "DROP TRIGGER events_append_only_update",
        "UPDATE events SET id = id + 1000 WHERE id > 4",
        "UPDATE events SET id = id - 999 WHERE id > 1000",
        "INSERT INTO events (id, at, actor, platform, action, verification_id, detail, "
        "prev_hash, hash) SELECT 5, at, 'sec-1', 'slack', 'escalation.cleared', "
        "verification_id, '{}', hash, hash FROM events WHERE id = 4",
    )
    assert "event 5 (escalation.cleared) was changed" in failure(database, make_core)


async def test_a_tail_cut_with_its_rows_is_caught_against_an_anchor(
    make_core, actor, database
) -> None:
    core = make_core()
    first = await record(core.service, actor)
    anchor_before = core.store.audit_head()
    later = await core.service.start(actor("hm-2"), {**JOHN, "email": "other@example.org"})
    core.close()
    tamper(
        database,
        "DROP TRIGGER events_append_only_delete",
        f"DELETE FROM events WHERE id > {anchor_before[0]}",
        f"DELETE FROM answers WHERE verification_id = '{later.verification.id}'",
        f"DELETE FROM verifications WHERE id = '{later.verification.id}'",
    )
    core = make_core()
    try:
        assert verify(core.store).events == anchor_before[0], "consistent without an anchor"
    finally:
        core.close()
    current = (anchor_before[0] + 3, "0" * 64)
    assert "events were cut from its end" in failure(database, make_core, current)
    assert first


def test_an_anchor_is_count_and_mac() -> None:
    assert parse_anchor("12:" + "ab" * 16) == (12, "ab" * 16)
    for bad in ("12", "x:abcd", "12:short", "12:" + "zz" * 16):
        with pytest.raises(ValueError):
            parse_anchor(bad)


@pytest.mark.sqlite_only
async def test_the_cli_verifies_and_exits_1_naming_the_tampering(
    tmp_path: Path, cli_env, make_core, actor, db_path
) -> None:
    core = make_core()
    await record(core.service, actor)
    core.close()
    cli_env = {**cli_env, "VERIFYBOT_DB": str(db_path)}

    head = run_cli("audit", "head", env=cli_env, cwd=tmp_path)
    intact = run_cli("audit", "verify", "--anchor", head.stdout.strip(), env=cli_env, cwd=tmp_path)
    tamper(str(db_path), "UPDATE escalations SET status = 'confirmed'")
    broken = run_cli("audit", "verify", env=cli_env, cwd=tmp_path)

    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith("audit: ") and " events intact, head " in intact.stdout
    assert broken.returncode == 1
    assert broken.stderr.startswith("audit: FAILED: escalation 1: status is 'confirmed'")


@pytest.mark.sqlite_only
async def test_a_wrong_or_missing_audit_key_is_refused(make_core, actor, db_path) -> None:
    core = make_core()
    await record(core.service, actor)
    core.close()

    other_key = make_core(audit_key=SecretStr("a-different-audit-key-" + "x" * 20))
    with pytest.raises(AuditFailure, match=r"event 1 .* was changed"):
        verify(other_key.store)
    other_key.close()
    Path(f"{db_path}.key").unlink()
    with pytest.raises(StoreError, match="key file is missing; restore it from your backup"):
        make_core()


async def test_events_carry_no_personal_data(make_core, actor) -> None:
    core = make_core()
    await record(core.service, actor)
    details = " ".join(event["detail"] for event in core.store.events())
    assert not any(text in details for text in PERSONAL)
    assert REASON not in details


# sealed at rest


async def test_the_database_and_its_wal_hold_no_personal_data_in_clear(
    make_core, actor, database
) -> None:
    core = make_core()
    vid = await record(core.service, actor)

    assert b"notarized_id" in raw_bytes(database), "the answers are there, sealed"
    assert in_clear(database) == []
    view = await core.service.view(OPERATOR, vid)
    assert view.candidate.name == JOHN["name"]
    assert view.findings[0].note == NOTE
    escalation = await core.service.escalation(actor("sec-1"), view.escalation_id)
    assert escalation.decision_reason == REASON
    status = await core.service.status(OPERATOR, "johnathan  QUARRINGTON")
    assert status.id == vid


async def test_outbox_rows_carry_ids_and_a_notice_after_erasure_has_no_personal_data(
    make_core, actor, notifier_class, db_path
) -> None:
    notifier = notifier_class("slack")
    core = make_core(notifiers=(notifier,))
    vid = await record(core.service, actor)
    payloads = " ".join(row["payload"] for row in core.store.pending_outbox())
    assert not any(text in payloads for text in PERSONAL)

    core.erasure.erase(OPERATOR, vid)
    await core.worker.run_once()

    delivered = " ".join(n.model_dump_json() for n in notifier.notices)
    assert notifier.notices and not any(text in delivered for text in PERSONAL)
    finding = next(n for n in notifier.notices if isinstance(n, FindingNotice))
    assert finding.escalation.candidate_name == ERASED
    decision = next(n for n in notifier.notices if isinstance(n, DecisionNotice))
    assert decision.candidate_name == ERASED


@pytest.mark.sqlite_only
def test_database_wal_shm_and_key_files_are_private(make_core, db_path) -> None:
    core = make_core()
    core.store.audit("cli", "cli", "probe")
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm"), Path(f"{db_path}.key")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.sqlite_only
def test_keys_from_the_environment_leave_no_key_file(make_core, db_path) -> None:
    secret = "k" * 40
    core = make_core(
        audit_key=SecretStr(secret), data_key=SecretStr(secret + "d"), index_key=SecretStr(secret)
    )
    core.store.audit("cli", "cli", "probe")
    assert not Path(f"{db_path}.key").exists()
    assert core.store.vault.keys.sources == {
        "audit": "setting",
        "data": "setting",
        "index": "setting",
    }
    with pytest.raises(Exception, match="at least 32 characters"):
        make_core(audit_key=SecretStr("short"))


# erasure and retention


async def test_erasure_destroys_the_key_and_keeps_the_skeleton_and_the_audit(
    make_core, actor, database
) -> None:
    core = make_core()
    vid = await record(core.service, actor)
    candidate_id = core.store.verification(vid)["candidate_id"]
    wrapped = core.store.db.execute(
        "SELECT wrapped FROM candidate_keys WHERE candidate_id = ?", [candidate_id]
    ).fetchone()[0]

    [erased] = core.erasure.erase(OPERATOR, JOHN["email"].upper(), reason="GDPR request 42")

    assert erased.verifications == (vid,)
    assert wrapped.encode() not in raw_bytes(database), "not even the sealed key is left"
    row = core.store.state_rows("candidates")[0]
    assert row["name"] is None and row["email_index"] is None and row["erased_at"]
    copied = core.store.db.execute("SELECT name_index FROM verifications WHERE id = ?", [vid])
    assert copied.fetchone()[0] is None, "nor the name's index on the verification"
    view = await core.service.view(OPERATOR, vid)
    assert view.erased and view.candidate.name == ERASED
    assert view.findings[0].note == ERASED
    assert [f.step for f in view.findings] == ["notarized_id", "background_check"]
    assert presenter.ERASED_LINE in presenter.summary_lines(view)
    assert verify(core.store).events == len(core.store.events())
    assert core.store.events()[-1]["action"] == "candidate.erased"
    with pytest.raises(Exception, match="no verification found"):
        await core.service.status(OPERATOR, JOHN["name"])


async def test_confirmed_fraud_is_kept_unless_forced(make_core, actor) -> None:
    core = make_core()
    hm = actor()
    started = await core.service.start(hm, JOHN)
    vid = started.verification.id
    await core.service.answer(hm, vid, "camera_interview", "camera_refused")
    escalation = core.store.escalation_for(vid)["id"]
    await core.service.decide(actor("sec-1"), escalation, "confirm", "Stolen identity")

    with pytest.raises(InvalidInput, match="fraud was confirmed"):
        core.erasure.erase(OPERATOR, vid)
    assert not core.store.candidate_erased(started.verification.candidate.id)

    core.erasure.erase(OPERATOR, vid, force=True)
    assert core.store.candidate_erased(started.verification.candidate.id)


async def test_retention_erases_only_candidates_finished_long_enough_ago(
    make_core, actor, clock, pass_answers
) -> None:
    core = make_core()
    hm = actor()
    done = await core.service.start(hm, {**JOHN, "shipping_address": JOHN["home_address"]})
    for step, (value, note) in pass_answers["pre-offer"].items():
        await core.service.answer(hm, done.verification.id, step, value, note)
    cancelled = await core.service.start(hm, {**JOHN, "email": "c@example.org"})
    await core.service.cancel(hm, cancelled.verification.id)
    blocked = await core.service.start(hm, {**JOHN, "email": "b@example.org"})
    await core.service.answer(hm, blocked.verification.id, "camera_interview", "camera_refused")
    ongoing = await core.service.start(hm, {**JOHN, "email": "o@example.org"})

    clock.advance(364 * 86400)
    assert core.erasure.purge(OPERATOR) == []
    clock.advance(2 * 86400)
    would = core.erasure.purge(OPERATOR, dry_run=True)
    assert [e.verifications for e in would] == [
        (done.verification.id,),
        (cancelled.verification.id,),
    ]
    assert not any(core.store.candidate_erased(c) for c in (1, 2))

    erased = core.erasure.purge(OPERATOR)

    assert {e.verifications[0] for e in erased} == {done.verification.id, cancelled.verification.id}
    for kept in (blocked, ongoing):
        assert not core.store.candidate_erased(kept.verification.candidate.id)
    actions = [event["action"] for event in core.store.events()]
    assert actions.count("candidate.erased") == 2 and actions[-1] == "retention.purged"


async def test_the_daily_tasks_run_once_a_day_whoever_asks(make_core, actor, clock) -> None:
    first = make_core()
    second = make_core()
    assert await first.daily.run_due() == ["retention", "audit_head"]
    assert await second.daily.run_due() == []
    clock.advance(86400)
    assert await second.daily.run_due() == ["retention", "audit_head", "digest"]


# an older database


@pytest.mark.sqlite_only
async def test_an_older_database_is_sealed_and_its_chain_rekeyed_at_open(
    tmp_path: Path, make_core, actor
) -> None:
    db = tmp_path / "old.db"
    connection = sqlite3.connect(db)
    from bot.schema import MIGRATIONS, _statements

    for script in MIGRATIONS[:3]:
        for statement in _statements(script):
            connection.execute(statement)
    connection.execute("PRAGMA user_version = 3")
    connection.execute(
        "INSERT INTO candidates (id, name, email, phone, role, home_address, shipping_address, "
        "home_normalized, shipping_normalized, created_at) VALUES (1, ?, ?, NULL, NULL, ?, ?, "
        "'900 LAKE SHORE DR CHICAGO IL 60611', '900 LAKE SHORE DR CHICAGO IL 60611', "
        "'2025-01-01T00:00:00.000+00:00')",
        [JOHN["name"], JOHN["email"], JOHN["home_address"], JOHN["home_address"]],
    )
    version = PlaybookRegistry.from_directory(PLAYBOOK_DIR).get("pre-offer").version
    connection.execute(
        "INSERT INTO verifications VALUES ('VB-0000000A', 1, 'pre-offer', ?, 'hm-1', 'slack', "
        "'in_progress', NULL, NULL, '2025-01-01T00:00:00.000+00:00', "
        "'2025-01-01T00:00:00.000+00:00')",
        [version],
    )
    connection.execute(
        "INSERT INTO answers (id, verification_id, step_id, value, result, note, reason, "
        "answered_by, platform, answered_at) VALUES (1, 'VB-0000000A', 'notarized_id', "
        "'verified', 'pass', ?, ?, 'hm-1', 'slack', '2025-01-01T00:00:01.000+00:00')",
        [NOTE, f"Notarized ID received and matches: {NOTE}"],
    )
    prev = GENESIS_HASH
    for event_id, action, detail in [
        (1, "verification.started", {"candidate": JOHN["name"], "playbook": "pre-offer"}),
        (2, "answer.recorded", {"step": "notarized_id", "answer": "verified", "result": "pass"}),
    ]:
        text = json.dumps(detail, sort_keys=True)
        at = "2025-01-01T00:00:00.000+00:00"
        material = json.dumps([at, "hm-1", "slack", action, "VB-0000000A", text, prev])
        digest = hashlib.sha256(material.encode()).hexdigest()
        connection.execute(
            "INSERT INTO events VALUES (?, ?, 'hm-1', 'slack', ?, 'VB-0000000A', ?, ?, ?)",
            [event_id, at, action, text, prev, digest],
        )
        prev = digest
    connection.commit()
    connection.close()

    core = make_core(db=str(db))
    view = await core.service.view(OPERATOR, "VB-0000000A")
    report = verify(core.store)

    assert view.candidate.name == JOHN["name"] and view.findings[0].note == NOTE
    assert (await core.service.status(OPERATOR, JOHN["name"].upper())).id == "VB-0000000A"
    assert in_clear(db) == []
    assert report.events == 4
    rekeyed = core.store.events()[2]
    assert rekeyed["action"] == "audit.rekeyed"
    assert json.loads(rekeyed["detail"]) == {"events": 2, "old_head": prev}
    assert JOHN["name"] not in core.store.events()[0]["detail"]


async def test_the_daily_audit_head_reaches_every_security_channel(
    make_core, actor, notifier_class
) -> None:
    notifier = notifier_class("slack")
    core = make_core(notifiers=(notifier,))
    await record(core.service, actor)
    await core.worker.run_once()

    await core.daily.run_due()
    await core.worker.run_once()

    count, head = core.store.audit_head()
    assert core.store.events()[-1]["action"] == "retention.purged", "the purge ran first"

    [posted] = [n for n in notifier.notices if n.kind == "text"]
    assert posted.title == "verifybot audit head"
    assert posted.lines[0] == f"{count} events, head {head}"
    assert f"--anchor {count}:{head[:32]}" in posted.lines[1]


@pytest.mark.sqlite_only
async def test_erase_and_purge_from_the_command_line(
    tmp_path: Path, cli_env, make_core, actor, db_path
) -> None:
    core = make_core()
    vid = await record(core.service, actor)
    core.close()
    env = {**cli_env, "VERIFYBOT_DB": str(db_path)}

    nothing = run_cli("purge", "--dry-run", env=env, cwd=tmp_path)
    erased = run_cli("erase", vid, "--reason", "candidate asked", env=env, cwd=tmp_path)
    again = run_cli("erase", JOHN["email"], env=env, cwd=tmp_path)
    status = run_cli("status", vid, env=env, cwd=tmp_path)
    intact = run_cli("audit", "verify", env=env, cwd=tmp_path)

    assert nothing.stdout.strip().endswith(
        "0 candidate(s) would erase (finished more than 365 days ago)"
    )
    assert erased.returncode == 0 and erased.stdout == f"erased candidate 1: {vid}\n"
    assert again.returncode == 2
    assert again.stderr.startswith("error: no candidate data left for")
    assert "The candidate's personal data was erased" in status.stdout
    assert intact.returncode == 0, intact.stderr
    assert in_clear(db_path) == []


async def test_an_erasure_by_another_process_is_seen_at_once(make_core, actor) -> None:
    """`verifybot erase` from a terminal while `serve` runs: serve shows nothing more either."""
    serving = make_core()
    vid = await record(serving.service, actor)
    assert (await serving.service.view(OPERATOR, vid)).findings[0].note == NOTE

    terminal = make_core()
    terminal.erasure.erase(OPERATOR, vid)

    view = await serving.service.view(OPERATOR, vid)
    assert view.erased and view.candidate.name == ERASED
    assert view.findings[0].note == ERASED
