"""Playbook versions are kept: a verification is read with the playbook it started with, and a
playbook file edited without a version bump is refused wherever the database is opened."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.errors import InvalidInput
from bot.models import Actor, Platform
from bot.playbook import canonical_content, content_hash, load_playbook
from bot.runtime import Core
from tests.database import raw_execute
from tests.playbook_edits import edit, rename_drop_and_bump, reword_without_bump

REPO_ROOT = Path(__file__).resolve().parents[1]
JANE = REPO_ROOT / "examples" / "jane_doe.yml"
CLI = Actor(user_id="cli", platform=Platform.CLI)
PARTIAL = {
    "notarized_id": ("verified", "Commission 12345, Cook County"),
    "background_check": ("clear", None),
    "camera_interview": ("matched", None),
    "liveness_probes": ("natural", None),
}
EDIT_ERROR = (
    "{source}: playbook pre-offer version 2 differs from the version 2 recorded in the "
    "database on {date}; bump `version:`"
)


@pytest.fixture
def playbooks(tmp_path: Path) -> Path:
    """A copy of the shipped playbooks that the test may edit."""
    directory = tmp_path / "playbooks"
    shutil.copytree(REPO_ROOT / "playbooks", directory)
    return directory


def stored_events(core: Core) -> list[dict[str, Any]]:
    return [
        json.loads(event["detail"])
        for event in core.store.events()
        if event["action"] == "playbook.version_stored"
    ]


async def start_partial(core: Core, candidate: dict[str, Any]) -> str:
    """A pre-offer verification with 6 of its 8 steps answered (two of them computed)."""
    started = await core.service.start(CLI, candidate)
    verification_id = started.verification.id
    for step_id, (value, note) in PARTIAL.items():
        await core.service.answer(CLI, verification_id, step_id, value, note)
    return verification_id


async def test_an_edited_playbook_leaves_an_earlier_verification_as_it_was(
    make_core, playbooks: Path, candidate
) -> None:
    before = make_core(playbooks_dir=str(playbooks))
    verification_id = await start_partial(before, candidate())
    shown = await before.service.status(CLI, verification_id)
    prompt = await before.service.next_prompt(CLI, verification_id)
    assert (shown.answered, shown.total) == (6, 8)

    edit(playbooks, rename_drop_and_bump)
    after = make_core(playbooks_dir=str(playbooks))

    again = await after.service.status(CLI, verification_id)
    assert again.model_dump() == shown.model_dump()
    assert [f.step for f in again.findings] == [
        "notarized_id",
        "background_check",
        "camera_interview",
        "liveness_probes",
        "shipping_address",
        "identity_signals",
    ]
    assert (await after.service.next_prompt(CLI, verification_id)) == prompt
    [listed] = await after.service.verifications(CLI)
    assert listed.model_dump() == shown.model_dump()

    dropped = await after.service.answer(
        CLI, verification_id, "education_history", "unverified", "Registrar did not reply"
    )
    assert dropped.recorded.answer_label == "Could not be verified with the institution"
    done = await after.service.answer(CLI, verification_id, "profile_photo", "genuine")
    assert (done.verification.answered, done.verification.outcome.value) == (8, "needs_review")

    started = await after.service.start(CLI, candidate())
    newer = after.store.verification(started.verification.id)
    assert newer["playbook_version"] == 3
    await after.service.answer(CLI, newer["id"], "notarized_id", *PARTIAL["notarized_id"])
    await after.service.answer(CLI, newer["id"], "background_check", "clear")
    assert (await after.service.next_prompt(CLI, newer["id"])).step_id == "video_interview"
    with pytest.raises(InvalidInput, match="'unverified' is not an option"):
        await after.service.answer(CLI, newer["id"], "education_history", "unverified", "None")
    assert [(e["id"], e["version"]) for e in stored_events(after)] == [
        ("pre-offer", 2),
        ("pre-offer", 3),
    ]


def test_status_and_list_of_a_partial_check_survive_an_edit(
    cli_runner, playbooks: Path, tmp_path: Path
) -> None:
    db = str(tmp_path / "verifybot.db")
    env = {"VERIFYBOT_PLAYBOOKS": str(playbooks)}
    case = yaml.safe_load(JANE.read_text(encoding="utf-8"))
    case["answers"] = {step_id: value for step_id, (value, _) in PARTIAL.items()}
    case_file = tmp_path / "partial.yml"
    case_file.write_text(yaml.safe_dump(case), encoding="utf-8")
    checked = cli_runner("check", str(case_file), "--json", "--db", db, env=env)
    assert checked.exit_code == 0, checked.stderr
    verification_id = json.loads(checked.stdout)["verification_id"]
    status = cli_runner("status", verification_id, "--json", "--db", db, env=env).stdout
    summary = cli_runner("status", "Jane Doe", "--db", db, env=env).stdout
    listed = cli_runner("list", "--db", db, env=env).stdout
    assert json.loads(status)["answered"] == 6
    assert "Progress: 6 of 8 steps answered" in summary

    edit(playbooks, rename_drop_and_bump)

    assert cli_runner("status", verification_id, "--json", "--db", db, env=env).stdout == status
    assert cli_runner("status", "Jane Doe", "--db", db, env=env).stdout == summary
    assert cli_runner("list", "--db", db, env=env).stdout == listed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_verifybot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """The installed `verifybot` command in a child process."""
    script = Path(sys.executable).with_name("verifybot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "handlers.cli"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


@pytest.mark.sqlite_only
def test_an_edit_without_a_version_bump_is_refused_with_exit_2_naming_the_file(
    make_core, playbooks: Path, candidate, tmp_path: Path, cli_env, cli_runner
) -> None:
    core = make_core(playbooks_dir=str(playbooks))
    verification_id = asyncio.run(start_partial(core, candidate()))
    recorded = core.store.playbook_version("pre-offer", 2)
    path = edit(playbooks, reword_without_bump)
    expected = EDIT_ERROR.format(source=path, date=recorded["stored_at"][:10])
    db = str(core.settings.db)
    assert Path(db) == tmp_path / "verifybot.db"
    env = {**cli_env, "VERIFYBOT_PLAYBOOKS": str(playbooks), "VERIFYBOT_DB": db}
    directory = {"VERIFYBOT_PLAYBOOKS": str(playbooks)}

    refused = run_verifybot("status", verification_id, env=env, cwd=tmp_path)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr.splitlines() == [f"error: {expected}"]

    served = run_verifybot("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert served.returncode == 2
    assert served.stderr.splitlines() == [f"error: {expected}"]

    events = len(core.store.events())
    case = tmp_path / "case.yml"
    shutil.copy(JANE, case)
    checked = cli_runner("check", str(case), "--db", db, env=directory)
    assert (checked.exit_code, checked.stderr) == (2, f"error: {expected}\n")
    assert len(core.store.list_verifications()) == 1
    assert len(core.store.events()) == events

    validated = cli_runner("playbook", "validate", "--db", db, env=directory)
    assert (validated.exit_code, validated.stderr) == (2, f"{expected}\n")
    other = playbooks / "device_handover.yml"
    assert validated.stdout == f"{other}: ok (device-handover v2, 6 steps)\n"
    in_working_directory = cli_runner("playbook", "validate", env=directory)
    assert (in_working_directory.exit_code, in_working_directory.stderr) == (2, f"{expected}\n")
    no_database = cli_runner("playbook", "validate", "--db", "none.db", env=directory)
    assert no_database.exit_code == 0
    assert not (tmp_path / "none.db").exists()

    edit(playbooks, lambda data: data.update(version=3))
    assert cli_runner("status", verification_id, "--db", db, env=directory).exit_code == 0


async def test_the_content_hash_ignores_comments_and_layout(
    make_core, playbooks: Path, candidate
) -> None:
    path = playbooks / "pre_offer.yml"
    first = make_core(playbooks_dir=str(playbooks))
    await first.service.start(CLI, candidate())
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    relaid = yaml.safe_dump(data, sort_keys=True, width=60, default_flow_style=None)
    path.write_text("# reviewed by security\n" + relaid + "# end\n", encoding="utf-8")
    shipped = (REPO_ROOT / "playbooks" / "pre_offer.yml").read_text(encoding="utf-8")
    assert path.read_text(encoding="utf-8") != shipped

    later = make_core(playbooks_dir=str(playbooks))
    await later.service.start(CLI, candidate())
    recorded = later.store.playbook_version("pre-offer", 2)
    assert recorded["content_hash"] == content_hash(canonical_content(load_playbook(path)))
    assert [(e["id"], e["version"]) for e in stored_events(later)] == [("pre-offer", 2)]


async def test_each_version_is_stored_once_with_one_audit_event(
    core: Core, service, store, candidate, clock
) -> None:
    for _ in range(3):
        await service.start(CLI, candidate())
    await service.start(CLI, candidate(), "device-handover")

    events = stored_events(core)
    assert [(e["id"], e["version"]) for e in events] == [("pre-offer", 2), ("device-handover", 2)]
    for detail in events:
        row = store.playbook_version(detail["id"], detail["version"])
        assert set(detail) == {"id", "version", "hash"}
        assert detail["hash"] == row["content_hash"]
        assert row["content_hash"] == hashlib.sha256(row["content"].encode()).hexdigest()
        assert row["content"] == canonical_content(service.playbooks.get(detail["id"]))
        assert row["stored_at"] == clock().isoformat(timespec="milliseconds")
        assert row["source"].endswith(".yml")
    actions = [event["action"] for event in store.events()]
    assert actions[:2] == ["playbook.version_stored", "verification.started"]
    assert store.audit_chain_intact()


async def test_a_version_recorded_with_other_content_since_start_up_is_refused_at_start(
    core: Core, service, store, candidate, playbooks: Path
) -> None:
    other = load_playbook(edit(playbooks, reword_without_bump))
    content = canonical_content(other)
    with store.transaction():
        store.insert_playbook_version("pre-offer", 2, content_hash(content), content, "elsewhere")

    with pytest.raises(InvalidInput, match=r"bump `version:`"):
        await service.start(CLI, candidate())
    assert store.list_verifications() == []
    assert store.events() == []


async def test_a_verification_whose_playbook_is_no_longer_installed_keeps_working(
    make_core, playbooks: Path, candidate
) -> None:
    first = make_core(playbooks_dir=str(playbooks))
    started = await first.service.start(CLI, candidate(), "device-handover")
    verification_id = started.verification.id
    await first.service.answer(CLI, verification_id, "edr_reporting", "reporting")
    (playbooks / "device_handover.yml").unlink()

    later = make_core(playbooks_dir=str(playbooks))
    shown = await later.service.status(CLI, verification_id)
    assert (shown.playbook, shown.answered, shown.total) == ("device-handover", 1, 6)
    assert (await later.service.next_prompt(CLI, verification_id)).step_id == "remote_access_tools"
    await later.service.answer(CLI, verification_id, "remote_access_tools", "none")
    with pytest.raises(InvalidInput, match="unknown playbook"):
        await later.service.start(CLI, candidate(), "device-handover")


async def test_verifications_from_before_versions_were_kept_get_the_installed_version(
    make_core, playbooks: Path, candidate, database: str
) -> None:
    first = make_core(playbooks_dir=str(playbooks))
    verification_id = await start_partial(first, candidate())
    first.close()
    raw_execute(
        database,
        "DROP TRIGGER playbook_versions_append_only_delete",
        "DELETE FROM playbook_versions",
    )

    later = make_core(playbooks_dir=str(playbooks))
    recorded = later.store.playbook_version("pre-offer", 2)
    assert recorded["content"] == canonical_content(later.service.playbooks.get("pre-offer"))
    [event] = [e for e in later.store.events() if e["action"] == "playbook.version_stored"][1:]
    assert (event["actor"], event["platform"]) == ("verifybot", "system")
    assert (await later.service.status(CLI, verification_id)).answered == 6


def test_recorded_versions_are_never_changed(store) -> None:
    with store.transaction():
        assert store.insert_playbook_version("x", 1, "a" * 64, "{}", "x.yml")
        assert not store.insert_playbook_version("x", 1, "b" * 64, "{}", "x.yml")
    with pytest.raises(store.db.Error, match="append-only"):
        store.db.execute("UPDATE playbook_versions SET content = 'edited'")
    with pytest.raises(store.db.Error, match="append-only"):
        store.db.execute("DELETE FROM playbook_versions")
    assert store.playbook_version("x", 1)["content_hash"] == "a" * 64


@pytest.mark.sqlite_only
def test_the_unrecorded_versions_are_found_through_the_index(store) -> None:
    address = {"home_address": "1 Elm St", "shipping_address": "1 Elm St"}
    normalized = {"home_normalized": "1 ELM ST", "shipping_normalized": "1 ELM ST"}
    candidate_id = store.insert_candidate(
        {"name": "A", "email": "a@example.com", **address, **normalized}
    )
    used = [("b", 2), ("a", 1), ("b", 1), ("a", 1), ("c", 3), ("b", 2), ("a", 4)]
    for number, (playbook_id, version) in enumerate(used):
        store.insert_verification(
            {
                "id": f"VB-{number:08X}",
                "candidate_id": candidate_id,
                "playbook_id": playbook_id,
                "playbook_version": version,
                "requested_by": "cli",
                "platform": "cli",
                "status": "in_progress",
            }
        )
    store.insert_playbook_version("b", 1, "a" * 64, "{}", "b.yml")
    store.insert_playbook_version("a", 4, "a" * 64, "{}", "a.yml")

    unrecorded = store.unrecorded_playbook_versions()
    assert [(r["playbook_id"], r["playbook_version"]) for r in unrecorded] == [
        ("a", 1),
        ("b", 2),
        ("c", 3),
    ]
    plan = store.db.execute(
        "EXPLAIN QUERY PLAN SELECT playbook_id, playbook_version FROM verifications "
        "WHERE playbook_id = 'a' AND playbook_version > 1 "
        "ORDER BY playbook_version LIMIT 1"
    ).fetchall()
    assert "idx_verifications_playbook" in " ".join(str(row[-1]) for row in plan)
