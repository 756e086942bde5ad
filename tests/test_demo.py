"""`verifybot demo`: from a script and from the keyboard, run as the real entry point."""

from __future__ import annotations

import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.store import Store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_cli(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def rows(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    connection = sqlite3.connect(db)
    try:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        connection.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "demo.db"


def test_scripted_demo_of_a_clean_candidate(tmp_path: Path, db: Path, cli_env) -> None:
    result = run_cli(
        "demo",
        "--script",
        str(EXAMPLES / "jane_doe.yml"),
        "--db",
        str(db),
        env=cli_env,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"verifybot demo: Pre-offer verification (database: {db})" in out
    assert "Email: jane@example.com" in out
    positions = [out.index(f"Step {n} of 8") for n in range(1, 9)]
    assert positions == sorted(positions)
    assert "Step 5 of 8: Laptop shipping address (checked by verifybot)" in out
    assert "Result: [PASS] Laptop shipping address: Same as the verified home address" in out
    assert "Answer [1-3]: verified" in out
    assert "Commission 12345, Cook County" in out
    assert "Recorded: Genuine, matches the ID and video (pass)" in out
    assert "Outcome: Cleared" in out
    assert "ESCALATION" not in out
    assert rows(db, "verifications") == 1
    assert rows(db, "answers") == 8


def test_scripted_demo_with_red_flags_posts_escalations(
    tmp_path: Path, db: Path, cli_env, cli_runner
) -> None:
    seeded = cli_runner("check", str(EXAMPLES / "jane_doe.yml"), "--db", str(db))
    assert seeded.exit_code == 0

    result = run_cli(
        "demo",
        "--script",
        str(EXAMPLES / "laptop_farm.yml"),
        "--db",
        str(db),
        env=cli_env,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ESCALATION posted to the security channel\n" in out
    assert "] verifybot escalation: John Roe\n" in out
    assert "Candidate: John Roe, Frontend Engineer (john.roe@example.net)" in out
    assert "New finding: [BLOCK] Camera-on interview: Camera refused or kept off" in out
    assert "ESCALATION posted to the security channel, in the thread" in out
    assert "New finding: [BLOCK] Laptop shipping address: Shared with" in out
    assert "Result: [BLOCK] Laptop shipping address: Shared with another candidate" in out
    assert "Outcome: Blocked: do not make the offer" in out
    assert out.count("ESCALATION posted") == 5, (
        "the liveness probes and the computed steps: one post"
    )
    assert rows(db, "escalations") == 1


def test_an_invalid_script_exits_2_and_writes_nothing(tmp_path: Path, db: Path, cli_env) -> None:
    case = yaml.safe_load((EXAMPLES / "jane_doe.yml").read_text(encoding="utf-8"))
    case["candidate"]["email"] = "jane at example"
    script = tmp_path / "bad.yml"
    script.write_text(yaml.safe_dump(case), encoding="utf-8")

    result = run_cli("demo", "--script", str(script), "--db", str(db), env=cli_env, cwd=tmp_path)

    assert result.returncode == 2
    assert f"error: {script}: candidate.email: not a valid email address" in result.stderr
    assert "Step 1 of 6" not in result.stdout
    assert rows(db, "verifications") == rows(db, "candidates") == 0


KEYBOARD = "\n".join(
    [
        "Ann Lee",
        "ann at example",  # not an email: asked again
        "ann@example.com",
        "",  # phone skipped
        "Security Engineer",
        "10 Elm Street, Springfield, IL 62701",
        "77 Harbor Road, Baltimore, MD 21230",
        "",  # nobody referred them
        "",  # no payout account
        "9",  # not an option: asked again
        "1",
        "",  # the note verified needs, left empty: the note is asked again
        "Notary Jo Smith, commission 4411, IL",
        "Clear, identity matches",
        "3",
        "natural",
        "consistent",
        "1",
        "",
    ]
)


def test_interactive_demo_asks_again_for_invalid_input(tmp_path: Path, db: Path, cli_env) -> None:
    result = run_cli("demo", "--db", str(db), env=cli_env, cwd=tmp_path, stdin=KEYBOARD)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("Email: ") == 2
    assert "email: not a valid email address" in out
    assert "Please try again." in out
    assert "Type the number of an option." in out
    assert "A note is required: Notary's name or commission number" in out
    assert out.count("  Notary's name or commission number, and the state of commission: ") == 2
    assert "Step 8 of 8: Profile photo" in out
    assert "Result: [REVIEW] Laptop shipping address: Differs from the verified home" in out
    assert "] verifybot escalation: Ann Lee\n" in out
    assert "Outcome: Blocked: do not make the offer" in out
    store = Store(db, create=False)
    try:
        [verification] = store.list_verifications()
        candidate = store.candidate(verification["candidate_id"])
        notes = [a["note"] for a in store.answers(verification["id"]) if a["note"]]
    finally:
        store.close()
    assert candidate["email"] == "ann@example.com"
    assert notes == ["Notary Jo Smith, commission 4411, IL"]
    raw = (
        db.read_bytes() + Path(f"{db}-wal").read_bytes()
        if Path(f"{db}-wal").exists()
        else db.read_bytes()
    )
    assert b"ann@example.com" not in raw and b"Notary Jo Smith" not in raw


def test_interactive_demo_that_ends_early_exits_1(db: Path, cli_runner) -> None:
    no_candidate = cli_runner("demo", "--db", str(db), stdin="Ann Lee\n")
    assert no_candidate.exit_code == 1
    assert "No verification started." in no_candidate.stdout
    assert rows(db, "verifications") == 0

    address = "10 Elm St, Springfield, IL 62701"
    typed = f"Ann Lee\nann@example.com\n\n\n{address}\n{address}\n\n\n3\n"
    stopped = cli_runner("demo", "--db", str(db), stdin=typed)
    assert stopped.exit_code == 1
    assert "Input ended with 1 of 8 steps answered." in stopped.stdout
    assert "in progress" not in stopped.stdout
    assert stopped.stdout.count("Outcome: ") == 1
    assert "Outcome: Blocked: do not make the offer" in stopped.stdout
    assert rows(db, "verifications") == 1


def test_demo_of_an_unknown_playbook_exits_2(db: Path, cli_runner) -> None:
    result = cli_runner("demo", "--playbook", "nope", "--db", str(db), stdin="")
    assert result.exit_code == 2
    assert "unknown playbook 'nope'" in result.stderr


def test_interactive_demo_asks_again_after_a_digit_like_character(db: Path, cli_runner) -> None:
    address = "10 Elm St, Springfield, IL 62701"
    typed = f"Ann Lee\nann@example.com\n\n\n{address}\n{address}\n\n\n²\n3\n"
    result = cli_runner("demo", "--db", str(db), stdin=typed)
    assert "Type the number of an option." in result.stdout
    assert "Recorded: Not provided or candidate declined (block)" in result.stdout
    assert result.exit_code == 1


def test_one_ctrl_c_ends_the_demo_and_says_what_was_kept(tmp_path: Path, db: Path, cli_env):
    address = "10 Elm St, Springfield, IL 62701"
    demo = subprocess.Popen(
        [sys.executable, "-m", "handlers.cli", "demo", "--db", str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env,
        cwd=tmp_path,
    )
    try:
        demo.stdin.write(f"Ann Lee\nann@example.com\n\n\n{address}\n{address}\n\n\n3\n".encode())
        demo.stdin.flush()
        shown = b""
        while not (b"Step 2 of 8" in shown and shown.endswith(b"Answer [1-5]: ")):
            ready, _, _ = select.select([demo.stdout], [], [], 30)
            chunk = os.read(demo.stdout.fileno(), 65536) if ready else b""
            assert chunk, f"the demo stopped before asking step 2: {shown[-300:]!r}"
            shown += chunk
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=15)
    finally:
        demo.kill()
    assert demo.returncode == 130
    assert "Traceback" not in err.decode()
    verification_id = re.search(rb"Verification (VB-[0-9A-F]{8}) started", shown).group(1)
    assert out.decode().strip() == (
        f"Interrupted: verification {verification_id.decode()} of Ann Lee is kept with 1 of 8 "
        "steps answered (outcome: Blocked: do not make the offer); "
        f"`verifybot status {verification_id.decode()}` shows it."
    )
    assert rows(db, "verifications") == rows(db, "answers") == 1


def test_a_script_for_another_playbook_is_refused_before_anything_starts(
    tmp_path: Path, db: Path, cli_env
) -> None:
    jane = EXAMPLES / "jane_doe.yml"
    other = run_cli(
        "demo", "--script", str(jane), "--playbook", "device-handover", "--db", str(db),
        env=cli_env, cwd=tmp_path,
    )  # fmt: skip
    assert other.returncode == 2
    assert other.stderr == (
        f"error: {jane}: playbook: the case is for 'pre-offer' but --playbook says "
        "'device-handover'; drop one of them\n"
    )
    case = yaml.safe_load(jane.read_text(encoding="utf-8"))
    del case["playbook"]
    script = tmp_path / "no_playbook.yml"
    script.write_text(yaml.safe_dump(case), encoding="utf-8")
    unfit = run_cli(
        "demo", "--script", str(script), "--playbook", "device-handover", "--db", str(db),
        env=cli_env, cwd=tmp_path,
    )  # fmt: skip
    assert unfit.returncode == 2
    assert ": no such step in device-handover" in unfit.stderr
    assert len(unfit.stderr.splitlines()) == 1
    assert not db.exists()
