"""Case files and the `verifybot` command line: `check` (run as the real entry point),
`status`, `list`, and a start-up that never imports a chat SDK."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from bot.case import CaseError, check_case, read_case, run_case
from bot.config import Settings
from bot.playbook import PlaybookRegistry
from bot.runtime import build_core
from bot.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"
JANE = EXAMPLES / "jane_doe.yml"
FARM = EXAMPLES / "laptop_farm.yml"
REGISTRY = PlaybookRegistry.from_directory(REPO_ROOT / "playbooks")
CHAT_SDKS = ("slack_bolt", "slack_sdk", "botbuilder", "aiohttp")


def run_cli(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None):
    """The real entry point, `python -m handlers.cli`, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def verification_rows(db: Path) -> int:
    if not db.exists():
        return 0
    connection = sqlite3.connect(db)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if "verifications" not in tables:
            return 0
        return connection.execute("SELECT count(*) FROM verifications").fetchone()[0]
    finally:
        connection.close()


def jane() -> dict:
    return yaml.safe_load(JANE.read_text(encoding="utf-8"))


def write_case(directory: Path, data: object, name: str = "case.yml") -> Path:
    path = directory / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        path.write_text(text, encoding="utf-8")
    return path


def edited(**changes) -> dict:
    """jane_doe.yml with `section__key=value` changes; a value of None deletes the key."""
    data = jane()
    for dotted, value in changes.items():
        parts = dotted.split("__")
        parent = data
        for part in parts[:-1]:
            parent = parent[part]
        if value is None:
            parent.pop(parts[-1], None)
        else:
            parent[parts[-1]] = value
    return data


INVALID_CASES = [
    pytest.param("candidate: [unclosed\nanswers: {}\n", "not valid YAML", id="unreadable-yaml"),
    pytest.param(
        edited(playbook="nope"), "playbook: unknown playbook 'nope'", id="unknown-playbook"
    ),
    pytest.param(
        edited(answers__background_chek="clear"),
        "answers.background_chek: no such step in pre-offer",
        id="unknown-step",
    ),
    pytest.param(
        edited(answers__camera_interview="maybe"),
        "answers.camera_interview: 'maybe' is not an option",
        id="unknown-option",
    ),
    pytest.param(edited(candidate__name=None), "candidate.name: is required", id="missing-name"),
    pytest.param(
        edited(candidate__home_address=None),
        "candidate.home_address: is required",
        id="missing-address",
    ),
    pytest.param(
        edited(candidate__email="jane.example.com"),
        "candidate.email: not a valid email address",
        id="bad-email",
    ),
    pytest.param(
        edited(notes=None),
        "notes.notarized_id: the answer 'verified' needs a note",
        id="note-missing",
    ),
]


@pytest.fixture(scope="module")
def invalid_runs(tmp_path_factory: pytest.TempPathFactory, cli_env) -> dict[str, tuple]:
    """`verifybot check` on every invalid case, the processes run side by side to save time."""
    started = {}
    for param in INVALID_CASES:
        content, _ = param.values
        directory = tmp_path_factory.mktemp(param.id)
        case, db = write_case(directory, content), directory / "verifybot.db"
        args = ["check", str(case), "--db", str(db), "--json"]
        process = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env,
            cwd=directory,
        )
        started[param.id] = (case, db, process)
    runs = {}
    for name, (case, db, process) in started.items():
        stdout, stderr = process.communicate(timeout=60)
        runs[name] = (case, db, process.returncode, stdout, stderr)
    return runs


@pytest.mark.parametrize(("content", "expected"), INVALID_CASES)
def test_check_refuses_an_invalid_case_with_exit_2_and_writes_nothing(
    request, invalid_runs, content, expected: str
) -> None:
    case, db, returncode, stdout, stderr = invalid_runs[request.node.callspec.id]

    assert returncode == 2, stderr
    assert stdout == ""
    assert f"error: {case}: " in stderr
    assert expected in stderr
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) == 1
    assert not db.exists(), "a refused case creates no database"


def test_check_json_of_a_clean_case(tmp_path: Path, cli_env) -> None:
    db = tmp_path / "verifybot.db"
    result = run_cli("check", str(JANE), "--json", "--db", str(db), env=cli_env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"verification_id", "playbook", "outcome", "findings", "escalated"}
    assert report["playbook"] == "pre-offer"
    assert report["outcome"] == "cleared"
    assert report["escalated"] is False
    assert [f["step"] for f in report["findings"]] == [
        "notarized_id",
        "background_check",
        "camera_interview",
        "liveness_probes",
        "shipping_address",
        "identity_signals",
        "education_history",
        "profile_photo",
    ]
    for finding in report["findings"]:
        assert set(finding) == {"step", "answer", "result", "reason"}
        assert finding["result"] == "pass"
    assert report["findings"][4]["answer"] == "match"
    assert report["findings"][5]["answer"] == "none"
    assert verification_rows(db) == 1


def test_check_json_of_a_case_with_red_flags(tmp_path: Path, cli_env, cli_runner) -> None:
    db = tmp_path / "verifybot.db"
    first = cli_runner("check", str(JANE), "--json", "--db", str(db))
    jane_id = json.loads(first.stdout)["verification_id"]

    result = run_cli("check", str(FARM), "--json", "--db", str(db), env=cli_env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "blocked"
    assert report["escalated"] is True
    by_step = {f["step"]: f for f in report["findings"]}
    assert (by_step["shipping_address"]["answer"], by_step["shipping_address"]["result"]) == (
        "shared",
        "block",
    )
    assert jane_id not in by_step["shipping_address"]["reason"]
    assert f"Jane Doe: {jane_id}" in by_step["shipping_address"]["security_detail"]
    assert by_step["camera_interview"]["result"] == "block"
    assert "ESCALATION for the security channel: recorded, not sent" in result.stderr
    assert verification_rows(db) == 2


SLACK_CONFIGURED = {
    "SLACK_BOT_TOKEN": "xoxb-test",
    "SLACK_SIGNING_SECRET": "secret",
    "VERIFYBOT_SLACK_SECURITY_CHANNEL": "C0SECURITY",
}


def test_check_without_json_prints_the_summary_and_says_the_escalation_is_queued(
    tmp_path: Path, cli_env
) -> None:
    db = tmp_path / "verifybot.db"
    env = {**cli_env, **SLACK_CONFIGURED}
    result = run_cli("check", str(FARM), "--db", str(db), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Outcome: Blocked: do not make the offer" in result.stdout
    assert "[REVIEW] Laptop shipping address: Differs from the verified home address" in (
        result.stdout
    )
    queued = "(delivered by `verifybot serve`)"
    assert result.stdout.count(f"ESCALATION queued for the security channel {queued}\n") == 1
    assert "[BLOCK] Camera-on interview" in result.stdout, "every finding in the one post"
    assert "posted" not in result.stdout


def test_the_check_code_path_imports_no_chat_sdk(tmp_path: Path, cli_env) -> None:
    db = tmp_path / "verifybot.db"
    script = textwrap.dedent(
        f"""
        import json, sys
        import handlers.cli, bot.case, bot.service
        handlers.cli.main(
            ["check", {str(JANE)!r}, "--json", "--db", {str(db)!r}], standalone_mode=False
        )
        loaded = sorted(
            name for name in sys.modules if name.split(".")[0] in {CHAT_SDKS!r}
        )
        print(json.dumps(loaded), file=sys.stderr)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outcome"] == "cleared"
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []


# in-process: case files, status and list


def test_case_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    path = write_case(tmp_path, edited(candidate__email="nope"))
    with pytest.raises(CaseError, match=rf"^{path}: candidate\.email: not a valid email"):
        check_case(read_case(path), REGISTRY, str(path))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"candidate: ok\nanswers: \xff\xfe\n", "line 2: not UTF-8 text (byte 0xff)"),
        ("- a\n- list\n", "a case is a mapping"),
        (edited(colour="red"), "colour: is not a known field"),
        (
            edited(answers__shipping_address="match"),
            "answers.shipping_address: this step is computed",
        ),
        (
            edited(answers__camera_interview=None, notes__camera_interview="seen"),
            "notes.camera_interview: a note for a step with no answer",
        ),
        (edited(notes__notarized_id="x" * 1001), "notes.notarized_id: a note may be at most 1000"),
        (edited(candidate__phone="12"), "candidate.phone: not a valid phone number"),
        (edited(candidate__shipping_address="USA"), "candidate.shipping_address: "),
        (edited(candidate__nickname="JD"), "candidate.nickname: is not a known field"),
        (edited(answers__camera_interview=3), "answers.camera_interview: Input should be a valid"),
    ],
)
def test_more_invalid_cases_are_refused(tmp_path: Path, content, expected: str) -> None:
    path = write_case(tmp_path, content)
    with pytest.raises(CaseError) as raised:
        check_case(read_case(path), REGISTRY, str(path))
    assert str(raised.value).startswith(f"{path}: ")
    assert expected in str(raised.value)


def test_a_missing_case_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="cannot be read"):
        read_case(tmp_path / "absent.yml")


def test_a_huge_case_file_is_refused(tmp_path: Path) -> None:
    path = write_case(tmp_path, "# " + "x" * (256 * 1024) + "\n")
    with pytest.raises(CaseError, match="larger than 256 KiB"):
        read_case(path)


def test_case_answers_are_put_in_playbook_order(tmp_path: Path) -> None:
    data = jane()
    data["answers"] = dict(reversed(list(data["answers"].items())))
    checked = check_case(read_case(write_case(tmp_path, data)), REGISTRY, "case.yml")
    assert [step for step, _, _ in checked.answers] == [
        "notarized_id",
        "background_check",
        "camera_interview",
        "liveness_probes",
        "education_history",
        "profile_photo",
    ]
    assert checked.answers[0][2] == "Commission 12345, Cook County"


def test_status_shows_a_verification_by_name_or_id(cli_runner, tmp_path: Path) -> None:
    db = str(tmp_path / "verifybot.db")
    checked = cli_runner("check", str(JANE), "--json", "--db", db)
    verification_id = json.loads(checked.stdout)["verification_id"]

    by_name = cli_runner("status", "jane doe", "--db", db)
    assert by_name.exit_code == 0
    assert by_name.stdout.splitlines()[:3] == [
        f"Verification {verification_id} of Jane Doe (Pre-offer verification)",
        "Outcome: Cleared",
        "Progress: 8 of 8 steps answered",
    ]
    by_id = cli_runner("status", verification_id.lower(), "--json", "--db", db)
    assert by_id.exit_code == 0
    view = json.loads(by_id.stdout)
    assert (view["id"], view["outcome"], view["answered"]) == (verification_id, "cleared", 8)

    missing = cli_runner("status", "Nobody", "--db", db)
    assert missing.exit_code == 2
    assert "error: no verification found for 'Nobody'" in missing.stderr


def test_list_shows_open_verifications_and_all_with_the_flag(cli_runner, tmp_path: Path) -> None:
    db = str(tmp_path / "verifybot.db")
    Store(db).close()
    assert cli_runner("list", "--db", db).stdout == "No open verifications.\n"
    assert cli_runner("list", "--all", "--db", db).stdout == "No verifications.\n"

    cli_runner("check", str(JANE), "--db", db)
    partial = write_case(tmp_path, edited(answers={"notarized_id": "not_provided"}, notes=None))
    cli_runner("check", str(partial), "--db", db)

    open_lines = cli_runner("list", "--db", db).stdout.splitlines()
    assert len(open_lines) == 1
    assert "Jane Doe" in open_lines[0]
    assert "Blocked: do not make the offer" in open_lines[0]
    assert "1 of 8 steps answered  by cli (cli)" in open_lines[0]
    all_lines = cli_runner("list", "--all", "--db", db).stdout.splitlines()
    assert len(all_lines) == 2
    assert "Cleared" in all_lines[1]


def test_check_without_db_option_uses_verifybot_db_in_the_working_directory(
    cli_runner, tmp_path: Path
) -> None:
    result = cli_runner("check", str(JANE))
    assert result.exit_code == 0
    assert verification_rows(tmp_path / "verifybot.db") == 1


@pytest.mark.parametrize(
    ("app_id", "expected"),
    [("6f1c2d3e-4b5a-4978-8695-a4b3c2d1e0f9", {"slack", "teams"}), ("", {"slack"})],
    ids=["teams-configured", "teams-not-configured"],
)
def test_a_check_from_the_terminal_queues_its_escalation_for_the_configured_chats(
    tmp_path: Path, app_id: str, expected: set[str]
) -> None:
    """A Teams channel without MicrosoftAppId is not configured: no row waits for it."""
    settings = Settings(
        db=str(tmp_path / "chat.db"),
        slack_bot_token="xoxb-test",
        slack_signing_secret="secret",
        slack_security_channel="C0SECURITY",
        microsoft_app_id=app_id,
        microsoft_app_password="not-used",
        teams_security_conversation_id="19:security@thread.tacv2",
        teams_service_url="https://smba.example.com/amer/",
    )
    core = build_core(settings)
    try:
        case_file = tmp_path / "case.yml"
        case = yaml.safe_load((EXAMPLES / "laptop_farm.yml").read_text())
        case["answers"]["background_check"] = "not_started"
        case_file.write_text(yaml.safe_dump(case))
        checked = check_case(read_case(case_file), core.service.playbooks, str(case_file))
        asyncio.run(run_case(core.service, checked))
        targets = {row["target"] for row in core.store.pending_outbox()}
    finally:
        core.close()
    assert targets == expected


NEW_ROLE_VARIABLES = (
    "VERIFYBOT_SLACK_SECURITY_USERS",
    "VERIFYBOT_SLACK_HIRING_MANAGERS",
    "VERIFYBOT_TEAMS_SECURITY_USERS",
    "VERIFYBOT_TEAMS_HIRING_MANAGERS",
)


def test_serve_refuses_the_old_shared_role_variables(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Never applied to both platforms: `serve` stops at once, in one line naming the new ones."""
    env = {**cli_env, "VERIFYBOT_SECURITY_USERS": "U0SECURITY1"}
    db = tmp_path / "serve.db"
    result = run_cli("serve", "--port", "9", "--db", str(db), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: VERIFYBOT_SECURITY_USERS is no longer read")
    assert all(name in line for name in NEW_ROLE_VARIABLES)
    assert not db.exists()


@pytest.mark.parametrize(
    "command", [["serve"], ["list"], ["status", "Jane Doe"], ["check", str(JANE)], ["demo"]]
)
def test_every_command_that_reads_roles_refuses_the_old_shared_variables_from_dotenv(
    cli_runner, tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / ".env").write_text("VERIFYBOT_SECURITY_USERS=U0SEC1\nVERIFYBOT_HIRING_MANAGERS=\n")
    result = cli_runner(*command, "--db", str(tmp_path / "roles.db"))
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert "VERIFYBOT_SECURITY_USERS and VERIFYBOT_HIRING_MANAGERS are no longer read" in line
    assert all(name in line for name in NEW_ROLE_VARIABLES)
    assert result.stdout == ""
    assert not (tmp_path / "roles.db").exists()


def test_status_says_a_red_flag_awaits_security_and_names_the_other_candidates_to_the_operator(
    cli_runner, tmp_path: Path
) -> None:
    db = str(tmp_path / "verifybot.db")
    jane_id = json.loads(cli_runner("check", str(JANE), "--json", "--db", db).stdout)[
        "verification_id"
    ]
    farm_id = json.loads(cli_runner("check", str(FARM), "--json", "--db", db).stdout)[
        "verification_id"
    ]

    shown = cli_runner("status", farm_id, "--db", db)

    assert shown.exit_code == 0
    assert "Outcome: Blocked: do not make the offer" in shown.stdout
    assert "Security decision pending" in shown.stdout
    assert "Security only: Shipping address" in shown.stdout
    assert f"Jane Doe: {jane_id}" in shown.stdout


def test_status_by_a_shared_name_shows_the_newest_and_lists_the_others(
    cli_runner, tmp_path: Path
) -> None:
    db = str(tmp_path / "verifybot.db")
    ids = [
        json.loads(cli_runner("check", str(JANE), "--json", "--db", db).stdout)["verification_id"]
        for _ in range(3)
    ]

    shown = cli_runner("status", "Jane Doe", "--db", db)

    assert shown.exit_code == 0
    assert shown.stdout.startswith(f"Verification {ids[2]} of Jane Doe")
    [also] = [line for line in shown.stdout.splitlines() if line.startswith("Also named")]
    assert f"{ids[1]} (started " in also and f"{ids[0]} (started " in also
    assert also.endswith("This is the newest.")
