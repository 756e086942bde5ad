"""Bad paths, files and settings given to the real `verifybot` command: one line on stderr
naming the path (or setting) and what to do, exit 2, nothing written. The commands run side
by side, once per module, to keep the suite fast."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REPO_PLAYBOOKS = REPO_ROOT / "playbooks"
JANE = REPO_ROOT / "examples" / "jane_doe.yml"
PRE_OFFER = REPO_ROOT / "playbooks" / "pre_offer.yml"
APP_ID = "6F1C2D3E-4B5A-4978-8695-A4B3C2D1E0F9"
TEAMS_URLS = [
    "--website-url",
    "https://acme.example.org/verifybot",
    "--privacy-url",
    "https://acme.example.org/privacy",
    "--terms-url",
    "https://acme.example.org/terms",
]


@dataclass
class Run:
    directory: Path
    returncode: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """The one line of stderr."""
        lines = self.stderr.splitlines()
        assert len(lines) == 1, self.stderr
        assert "Traceback" not in self.stderr
        return lines[0]


Setup = Callable[[Path], tuple[list[str], dict[str, str]]]
SETUPS: dict[str, Setup] = {}


def command(name: str) -> Callable[[Setup], Setup]:
    """Register a command to run: setup(directory) -> (args, extra environment)."""

    def register(setup: Setup) -> Setup:
        SETUPS[name] = setup
        return setup

    return register


def not_a_database(directory: Path) -> Path:
    path = directory / "notes.txt"
    path.write_text("these are my notes, not a database\n", encoding="utf-8")
    return path


for verb in ("check", "list", "status", "demo"):
    extra = {"check": [str(JANE)], "status": ["Jane Doe"], "list": [], "demo": []}[verb]
    command(f"{verb}-db-directory")(
        lambda d, verb=verb, extra=extra: ([verb, *extra, "--db", str(d)], {})
    )
    if verb in ("check", "list"):
        command(f"{verb}-db-not-a-database")(
            lambda d, verb=verb, extra=extra: (
                [verb, *extra, "--db", str(not_a_database(d))],
                {},
            )
        )
command("status-db-missing")(lambda d: (["status", "Jane", "--db", str(d / "typo.db")], {}))
command("list-db-missing")(lambda d: (["list", "--db", str(d / "typo.db")], {}))
command("backup-db-missing")(
    lambda d: (["backup", str(d / "copy.db"), "--db", str(d / "typo.db")], {})
)


@command("duplicate-case-key")
def _(directory: Path) -> tuple[list[str], dict[str, str]]:
    text = JANE.read_text(encoding="utf-8") + "answers:\n  notarized_id: not_provided\n"
    case = directory / "case.yml"
    case.write_text(text, encoding="utf-8")
    return ["check", str(case), "--db", str(directory / "verifybot.db")], {}


@command("duplicate-playbook-key")
def _(directory: Path) -> tuple[list[str], dict[str, str]]:
    lines = PRE_OFFER.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("title:"))
    playbook = directory / "pre_offer.yml"
    playbook.write_text("".join([*lines[: at + 1], "version: 99\n", *lines[at + 1 :]]))
    return ["playbook", "validate", str(playbook)], {}


@command("yaml-syntax")
def _(directory: Path) -> tuple[list[str], dict[str, str]]:
    case = directory / "case.yml"
    case.write_text("candidate:\n  name: Jane\nanswers: [unclosed\nnotes: {}\n", encoding="utf-8")
    return ["check", str(case), "--db", str(directory / "verifybot.db")], {}


@command("playbook-not-utf8")
def _(directory: Path) -> tuple[list[str], dict[str, str]]:
    playbook = directory / "cafe.yml"
    playbook.write_bytes(b"id: caf\xe9\n")
    return ["playbook", "validate", str(playbook)], {}


PLAYBOOKS_RUNS = [("validate", "empty"), ("check", "missing")]
for verb, state in PLAYBOOKS_RUNS:
    args = {"validate": ["playbook", "validate"], "check": ["check", str(JANE)]}[verb]

    def _setup(d: Path, args: list[str] = args, state: str = state):
        playbooks = d / "playbooks"
        if state == "empty":
            playbooks.mkdir()
        return [*args], {"VERIFYBOT_PLAYBOOKS": str(playbooks)}

    command(f"{verb}-playbooks-{state}")(_setup)


@command("check-duplicate-playbook-ids")
def _(directory: Path) -> tuple[list[str], dict[str, str]]:
    playbooks = directory / "playbooks"
    playbooks.mkdir()
    for name in ("a.yml", "b.yml"):
        (playbooks / name).write_bytes(PRE_OFFER.read_bytes())
    return ["check", str(JANE)], {"VERIFYBOT_PLAYBOOKS": str(playbooks)}


command("teams-package-out-directory")(
    lambda d: (["teams-package", "--app-id", APP_ID, *TEAMS_URLS, "--out", str(d)], {})
)


@command("teams-package-out-unwritable")
def _(directory: Path) -> tuple[list[str], dict[str, str]]:
    blocker = directory / "a-file"
    blocker.write_text("x", encoding="utf-8")
    out = blocker / "verifybot-teams.zip"
    return ["teams-package", "--app-id", APP_ID, *TEAMS_URLS, "--out", str(out)], {}


command("teams-package")(
    lambda d: (
        ["teams-package", "--app-id", APP_ID, *TEAMS_URLS, "--out", str(d / "t.zip")],
        {},
    )
)
command("teams-package-without-urls")(
    lambda d: (["teams-package", "--app-id", APP_ID, "--out", str(d / "t.zip")], {})
)
command("manifest-without-url")(lambda d: (["manifest"], {}))
command("manifest-with-credentials")(
    lambda d: (["manifest", "--url", "https://admin:hunter2@bot.example.org"], {})
)


command("serve-bad-settings")(
    lambda d: (
        ["serve", "--port", "99999", "--socket-mode", "--db", str(d / "serve.db")],
        {"VERIFYBOT_LOG_LEVEL": "LOUD", "SLACK_BOT_TOKEN": "xoxb-secret-token"},
    )
)

command("work-on-sqlite")(lambda d: (["work"], {}))
command("serve-web-only-on-sqlite")(
    lambda d: (["serve", "--web-only", "--db", str(d / "serve.db")], {})
)


@command("backup-onto-an-existing-file")
def _(directory: Path) -> tuple[list[str], dict[str, str]]:
    from bot.store import Store

    Store(directory / "verifybot.db").close()
    existing = directory / "existing.db"
    existing.write_bytes(b"keep me")
    return ["backup", str(existing), "--db", str(directory / "verifybot.db")], {}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, cli_env) -> dict[str, Run]:
    """Every registered command, run as the real entry point, side by side."""
    started = {}
    for name, setup in SETUPS.items():
        directory = tmp_path_factory.mktemp(name)
        args, extra_env = setup(directory)
        process = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**cli_env, **extra_env},
            cwd=directory,
        )
        started[name] = (directory, process)
    finished = {}
    for name, (directory, process) in started.items():
        stdout, stderr = process.communicate(timeout=60)
        finished[name] = Run(directory, process.returncode, stdout, stderr)
    return finished


def files_in(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


@pytest.mark.parametrize("verb", ["check", "list", "status", "demo"])
def test_a_db_that_is_a_directory_is_one_line_and_exit_2(runs, verb: str) -> None:
    run = runs[f"{verb}-db-directory"]
    assert run.returncode == 2
    assert run.error == (
        f"error: {run.directory}: is a directory, not a database file; give --db "
        "(or VERIFYBOT_DB) the path of a verifybot database file"
    )
    assert files_in(run.directory) == set()


@pytest.mark.parametrize("verb", ["check", "list"])
def test_a_db_that_is_not_a_database_is_one_line_exit_2_and_left_alone(runs, verb) -> None:
    run = runs[f"{verb}-db-not-a-database"]
    notes = run.directory / "notes.txt"
    assert run.returncode == 2
    assert run.error == (
        f"error: {notes}: is not a SQLite database; give --db (or VERIFYBOT_DB) a verifybot "
        "database or a new file name"
    )
    assert notes.read_text(encoding="utf-8") == "these are my notes, not a database\n"
    assert files_in(run.directory) == {"notes.txt"}


@pytest.mark.parametrize("name", ["status-db-missing", "list-db-missing", "backup-db-missing"])
def test_read_only_commands_never_create_a_database(runs, name: str) -> None:
    run = runs[name]
    assert run.returncode == 2
    assert run.error == (
        f"error: {run.directory / 'typo.db'}: no such database file; give --db "
        "(or VERIFYBOT_DB) the path of a verifybot database file"
    )
    assert files_in(run.directory) == set()


def test_a_duplicate_key_in_a_case_is_refused_naming_the_key_and_line(runs) -> None:
    run = runs["duplicate-case-key"]
    first = JANE.read_text(encoding="utf-8").splitlines().index("answers:") + 1
    second = len(JANE.read_text(encoding="utf-8").splitlines()) + 1
    assert run.returncode == 2
    assert run.error == (
        f"error: {run.directory / 'case.yml'}: line {second}: duplicate key 'answers' "
        f"(first at line {first})"
    )
    assert files_in(run.directory) == {"case.yml"}


def test_a_duplicate_key_in_a_playbook_is_refused_naming_the_key_and_line(runs) -> None:
    run = runs["duplicate-playbook-key"]
    lines = (run.directory / "pre_offer.yml").read_text(encoding="utf-8").splitlines()
    second = lines.index("version: 99") + 1
    assert run.returncode == 2
    assert f"line {second}: duplicate key 'version' (first at line " in run.error


def test_a_yaml_syntax_error_is_one_line_with_the_file_and_line(runs) -> None:
    run = runs["yaml-syntax"]
    assert run.returncode == 2
    assert run.error.startswith(f"error: {run.directory / 'case.yml'}: line 4: not valid YAML: ")
    assert "<unicode string>" not in run.stderr


def test_a_playbook_that_is_not_utf8_is_refused_with_exit_2(runs) -> None:
    run = runs["playbook-not-utf8"]
    assert run.returncode == 2
    assert run.stderr == (
        f"{run.directory / 'cafe.yml'}: line 1: not UTF-8 text (byte 0xe9); "
        "save the file as UTF-8\n"
    )


@pytest.mark.parametrize(("verb", "state"), PLAYBOOKS_RUNS)
def test_a_playbooks_directory_without_playbooks_is_named(runs, verb: str, state: str) -> None:
    run = runs[f"{verb}-playbooks-{state}"]
    playbooks = run.directory / "playbooks"
    problem = "no such playbooks directory" if state == "missing" else "no playbook files"
    assert run.returncode == 2
    assert run.error.startswith(f"error: {playbooks}: {problem}")
    assert run.error.endswith("set VERIFYBOT_PLAYBOOKS to a directory of playbook .yml files")
    assert "verifybot.db" not in files_in(run.directory)


def test_two_playbooks_with_one_id_name_both_files(runs) -> None:
    run = runs["check-duplicate-playbook-ids"]
    playbooks = run.directory / "playbooks"
    assert run.returncode == 2
    assert run.error.startswith(
        f"error: {playbooks / 'a.yml'} and {playbooks / 'b.yml'} both have the playbook id "
        "'pre-offer'"
    )
    assert "verifybot.db" not in files_in(run.directory)


def test_teams_package_out_a_directory_is_one_line(runs) -> None:
    run = runs["teams-package-out-directory"]
    assert run.returncode == 2
    assert run.error.startswith(f"error: {run.directory}: is a directory; give --out a new .zip")
    assert files_in(run.directory) == set()


def test_teams_package_out_an_unwritable_path_is_one_line(runs) -> None:
    run = runs["teams-package-out-unwritable"]
    out = run.directory / "a-file" / "verifybot-teams.zip"
    assert run.returncode == 2
    assert run.error.startswith(f"error: {out}: cannot be written (")
    assert files_in(run.directory) == {"a-file"}


def test_teams_package_takes_the_developer_urls(runs) -> None:
    run = runs["teams-package"]
    assert run.returncode == 0, run.stderr
    with zipfile.ZipFile(run.directory / "t.zip") as package:
        developer = json.loads(package.read("manifest.json"))["developer"]
    assert developer["websiteUrl"] == "https://acme.example.org/verifybot"
    assert developer["privacyUrl"] == "https://acme.example.org/privacy"
    assert developer["termsOfUseUrl"] == "https://acme.example.org/terms"
    assert files_in(run.directory) == {"t.zip"}


def test_teams_package_requires_the_developer_urls(runs) -> None:
    missing = runs["teams-package-without-urls"]
    assert missing.returncode == 2
    assert "Missing option '--website-url'" in missing.stderr
    assert files_in(missing.directory) == set()


def test_manifest_requires_a_url_without_credentials(runs) -> None:
    missing = runs["manifest-without-url"]
    assert missing.returncode == 2
    assert "Missing option '--url'" in missing.stderr
    assert missing.stdout == ""
    credentials = runs["manifest-with-credentials"]
    assert credentials.returncode == 2
    assert credentials.error.startswith("error: --url must not carry a user name or password")
    assert "hunter2" not in credentials.stderr
    assert credentials.stdout == ""


def test_serve_on_a_port_in_use_is_one_line_and_writes_nothing(tmp_path: Path, cli_env) -> None:
    from tests.test_case_and_cli import run_cli

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy_port = listener.getsockname()[1]
        result = run_cli("serve", "--port", str(busy_port), env=cli_env, cwd=tmp_path)
    run = Run(tmp_path, result.returncode, result.stdout, result.stderr)
    assert run.returncode == 2
    assert run.error == (
        f"error: VERIFYBOT_PORT={busy_port}: cannot listen on 127.0.0.1:{busy_port} "
        "(Address already in use); stop what uses it, or choose another with --port "
        "(VERIFYBOT_PORT)"
    )
    assert files_in(run.directory) == set()


def test_serve_validates_every_setting_before_it_starts(runs) -> None:
    run = runs["serve-bad-settings"]
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "error: VERIFYBOT_PORT=99999: Input should be less than or equal to 65535",
        "error: VERIFYBOT_LOG_LEVEL=LOUD: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        "error: SLACK_APP_TOKEN: required by --socket-mode; see the README's Set up in Slack",
    ]
    assert files_in(run.directory) == set()
    assert "xoxb-secret-token" not in run.stderr


@pytest.mark.parametrize(
    ("name", "what"),
    [("work-on-sqlite", "verifybot work"), ("serve-web-only-on-sqlite", "VERIFYBOT_WEB_ONLY")],
)
def test_a_separate_work_process_needs_postgresql_and_says_so(runs, name: str, what: str) -> None:
    run = runs[name]
    assert run.returncode == 2
    assert run.error.startswith(f"error: {what}")
    assert "needs PostgreSQL: set VERIFYBOT_DATABASE_URL" in run.error
    assert files_in(run.directory) == set()


def test_backup_never_overwrites(runs) -> None:
    run = runs["backup-onto-an-existing-file"]
    existing = run.directory / "existing.db"
    assert run.returncode == 2
    assert run.error == (
        f"error: {existing}: already exists; a backup never overwrites, give a new file name "
        "in a writable directory"
    )
    assert existing.read_bytes() == b"keep me"


def test_backup_copies_a_live_wal_database_into_one_file(tmp_path: Path, cli_env) -> None:
    from tests.test_case_and_cli import run_cli

    db = tmp_path / "verifybot.db"
    checked = run_cli("check", str(JANE), "--json", "--db", str(db), env=cli_env, cwd=tmp_path)
    verification_id = json.loads(checked.stdout)["verification_id"]
    writer = sqlite3.connect(db)  # committed, still only in the WAL while it stays open
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("CREATE TABLE probe (x)")
        writer.execute("INSERT INTO probe VALUES ('in the wal')")
        writer.commit()
        assert (tmp_path / "verifybot.db-wal").stat().st_size > 0
        result = run_cli("backup", "copy.db", "--db", str(db), env=cli_env, cwd=tmp_path)
    finally:
        writer.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"backed up {db} to copy.db",
        f"The backup holds no keys: keep a copy of {db}.key apart from it.",
    ]
    shutil.copy(f"{db}.key", tmp_path / "copy.db.key")
    assert not (tmp_path / "copy.db-wal").exists()
    restored = run_cli("status", verification_id, "--db", "copy.db", env=cli_env, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "Outcome: Cleared" in restored.stdout
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT x FROM probe").fetchall() == [("in the wal",)]
    finally:
        copy.close()


def test_settings_in_dotenv_alone_reach_every_command(tmp_path: Path, cli_env) -> None:
    """VERIFYBOT_PLAYBOOKS and VERIFYBOT_LOG_LEVEL only in .env: `playbook show`, `playbook
    validate` and `check` read the same playbooks, and the level applies."""
    from tests.test_case_and_cli import run_cli

    mine = tmp_path / "mine"
    mine.mkdir()
    shipped = (REPO_PLAYBOOKS / "pre_offer.yml").read_text(encoding="utf-8")
    (mine / "pre_offer.yml").write_text(
        shipped.replace("title: Pre-offer verification", "title: Our own pre-offer"),
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text(f"VERIFYBOT_PLAYBOOKS={mine}\nVERIFYBOT_LOG_LEVEL=ERROR\n")
    env = {
        k: v for k, v in cli_env.items() if k not in ("VERIFYBOT_PLAYBOOKS", "VERIFYBOT_LOG_LEVEL")
    }

    shown = run_cli("playbook", "show", "pre-offer", env=env, cwd=tmp_path)
    validated = run_cli("playbook", "validate", env=env, cwd=tmp_path)

    assert shown.stdout.startswith("Our own pre-offer (pre-offer v"), shown.stderr
    assert validated.stdout.splitlines() == [
        f"{mine / 'pre_offer.yml'}: ok (pre-offer v2, 8 steps)"
    ], validated.stderr


def test_postgresql_without_its_keys_refuses_to_start_with_one_line(cli_runner) -> None:
    url = "postgresql://verifybot:hunter2-secret@127.0.0.1:1/verifybot"
    result = cli_runner("list", env={"VERIFYBOT_DATABASE_URL": url})
    assert (result.exit_code, result.stderr) == (
        2,
        "error: VERIFYBOT_AUDIT_KEY, VERIFYBOT_DATA_KEY, VERIFYBOT_INDEX_KEY: required with "
        "VERIFYBOT_DATABASE_URL (PostgreSQL keeps no key file; give every replica the same "
        "three keys)\n",
    )


def test_an_unreachable_postgresql_server_is_one_line_and_exit_2(cli_runner) -> None:
    env = {
        "VERIFYBOT_DATABASE_URL": "postgresql://verifybot:hunter2-secret@127.0.0.1:1/verifybot",
        **{f"VERIFYBOT_{name}_KEY": "k" * 40 for name in ("AUDIT", "DATA", "INDEX")},
    }
    result = cli_runner("list", env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: postgresql://verifybot:***@127.0.0.1:1/verifybot: ")
    assert result.stderr.count("\n") == 1 and "hunter2" not in result.stderr
