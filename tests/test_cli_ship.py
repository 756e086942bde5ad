"""`verifybot ship VB-ID ADDRESS`, run as the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_case_and_cli import jane, run_cli, write_case


def test_ship_gives_the_address_the_check_runs_and_bad_input_writes_nothing(
    tmp_path: Path, cli_env
) -> None:
    db = tmp_path / "verifybot.db"
    data = jane()
    shipping = data["candidate"].pop("shipping_address")
    case = write_case(tmp_path, data)
    checked = run_cli("check", str(case), "--json", "--db", str(db), env=cli_env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["outcome"] == "in_progress"
    verification_id = report["verification_id"]

    bad = run_cli(
        "ship", verification_id, "!!! ,,, ---", "--db", str(db), env=cli_env, cwd=tmp_path
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1
    unknown = run_cli("ship", "VB-1A2B3C4D", shipping, "--db", str(db), env=cli_env, cwd=tmp_path)
    assert unknown.returncode == 2 and "VB-1A2B3C4D" in unknown.stderr, unknown.stderr

    given = run_cli("ship", verification_id, shipping, "--db", str(db), env=cli_env, cwd=tmp_path)
    assert given.returncode == 0, given.stderr
    assert "[PASS] Laptop shipping address" in given.stdout
    assert "Cleared" in given.stdout
    status = run_cli(
        "status", verification_id, "--json", "--db", str(db), env=cli_env, cwd=tmp_path
    )
    assert json.loads(status.stdout)["outcome"] == "cleared"
