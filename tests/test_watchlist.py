"""`verifybot watchlist add|import|list|remove`, a match escalating through `verifybot check`,
and the address evasions of issue 11 caught by `verifybot check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]
JANE = REPO_ROOT / "examples" / "jane_doe.yml"


def case(directory: Path, name: str, **candidate: str) -> Path:
    """jane_doe.yml with another candidate's details."""
    data = yaml.safe_load(JANE.read_text(encoding="utf-8"))
    data["candidate"] = {"name": name, "email": f"{name.split()[0].lower()}@example.net"}
    data["candidate"].update(candidate)
    path = directory / f"{name.replace(' ', '_')}.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def finding(report: dict, step: str) -> dict:
    return next(f for f in report["findings"] if f["step"] == step)


def test_add_list_and_remove_are_audited(cli_runner, tmp_path: Path) -> None:
    db = str(tmp_path / "verifybot.db")
    added = cli_runner(
        "watchlist", "add", "phone", "(312) 555-0177", "--source", "ISAC", "--db", db
    )
    assert added.exit_code == 0, added.stderr
    assert added.stdout == "added #1  phone          +13125550177  (ISAC)\n"
    payout = cli_runner(
        "watchlist", "add", "payout_account", "GB29 NWBK 6016 1331 9268 19", "--db", db
    )
    assert "****6819" in payout.stdout

    listed = cli_runner("watchlist", "list", "--db", db).stdout.splitlines()
    assert listed == ["#1  phone          +13125550177  (ISAC)", "#2  payout_account ****6819"]
    removed = cli_runner("watchlist", "remove", "#1", "--db", db)
    assert removed.exit_code == 0
    assert cli_runner("watchlist", "list", "--db", db).stdout.splitlines() == [listed[1]]
    assert "[removed " in cli_runner("watchlist", "list", "--all", "--db", db).stdout
    again = cli_runner("watchlist", "remove", "1", "--db", db)
    assert (again.exit_code, again.stderr) == (2, "error: no current watchlist entry 1\n")

    store = Store(db, create=False)
    try:
        events = [(e["action"], json.loads(e["detail"])) for e in store.events()]
        assert [action for action, _ in events] == [
            "watchlist.added",
            "watchlist.added",
            "watchlist.removed",
        ]
        assert all(e["actor"] == "cli" and e["platform"] == "cli" for e in store.events())
        assert "NWBK" not in json.dumps(events) and "NWBK" not in str(store.watches(True))
        assert store.audit_chain_intact()
    finally:
        store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fax", "1"), "kind: 'fax' is not a kind (kinds: address, email, phone, payout_account)"),
        (("phone", "12"), "value: not a valid phone number"),
        (
            ("email", "nobody"),
            "value: not a valid email address (An email address must have an @-sign.)",
        ),
        (("address", "!!!"), "value: an address is required"),
    ],
)
def test_a_bad_entry_is_one_line_and_exit_2(cli_runner, tmp_path: Path, args, message) -> None:
    db = str(tmp_path / "verifybot.db")
    result = cli_runner("watchlist", "add", *args, "--db", db)
    assert (result.exit_code, result.stderr) == (2, f"error: {message}\n")


def test_list_and_remove_need_an_existing_database(cli_runner, tmp_path: Path) -> None:
    result = cli_runner("watchlist", "list", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 2
    assert "no such database file" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_an_import_with_a_bad_row_names_its_line_and_imports_nothing(
    cli_runner, tmp_path: Path
) -> None:
    db = str(tmp_path / "verifybot.db")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "kind,value,source\n"
        "email,facilitator@gmail.com,indictment\n"
        '"address","1 Elm St, Springfield, IL 62701",ISAC\n'
        "phone,555,ISAC\n",
        encoding="utf-8",
    )
    refused = cli_runner("watchlist", "import", str(bad), "--db", db)
    assert (refused.exit_code, refused.stderr) == (
        2,
        f"error: {bad}: line 4: value: not a valid phone number\n",
    )
    assert cli_runner("watchlist", "list", "--db", db).stdout == "The watchlist is empty.\n"

    good = tmp_path / "good.csv"
    good.write_text(bad.read_text(encoding="utf-8").replace("555", "+1 312 555 0177"))
    imported = cli_runner("watchlist", "import", str(good), "--db", db)
    assert imported.stdout == f"imported 3 entries from {good}\n"
    assert len(cli_runner("watchlist", "list", "--db", db).stdout.splitlines()) == 3


def test_a_watchlist_match_blocks_and_escalates_in_check(cli_runner, tmp_path: Path) -> None:
    db = str(tmp_path / "verifybot.db")
    cli_runner("watchlist", "add", "email", "Fac.Ilitator@gmail.com", "--source", "DOJ", "--db", db)
    path = case(
        tmp_path,
        "Max Mule",
        email="facilitator+jobs@googlemail.com",
        home_address="1 Elm St, Springfield, IL 62701",
        shipping_address="1 Elm St, Springfield, IL 62701",
    )
    result = cli_runner("check", str(path), "--json", "--db", db)
    report = json.loads(result.stdout)
    signals = finding(report, "identity_signals")
    assert (signals["answer"], signals["result"]) == ("watchlisted", "block")
    assert "watchlist entry #1 (DOJ)" in signals["security_detail"]
    assert (report["outcome"], report["escalated"]) == ("blocked", True)


EVASIONS = {
    "cyrillic": "123 M\u0430in Street, Springfield, IL 62701",
    "zero-width": "123 Ma\u200bin Street, Springfield, IL 62701",
    "care-of": "c/o J. Smith, 123 Main Street, Springfield, IL 62701",
    "attn": "Attn: IT, 123 Main Street, Springfield, IL 62701",
    "no-zip": "123 Main Street, Springfield, IL",
    "invented-apt": "123 Main Street, Apt 2, Springfield, IL 62701",
}
EXPECTED = {name: "shared" for name in EVASIONS} | {"invented-apt": "same_building"}


@pytest.mark.parametrize("name", list(EVASIONS))
def test_the_evasions_of_issue_11_are_caught_by_check(cli_runner, tmp_path: Path, name) -> None:
    db = str(tmp_path / "verifybot.db")
    farm = "123 Main Street, Springfield, IL 62701"
    first = case(tmp_path, "Jane Doe", home_address=farm, shipping_address=farm)
    assert cli_runner("check", str(first), "--db", db).exit_code == 0
    address = EVASIONS[name]
    other = case(tmp_path, "John Roe", home_address=address, shipping_address=address)
    report = json.loads(cli_runner("check", str(other), "--json", "--db", db).stdout)
    shipping = finding(report, "shipping_address")
    assert shipping["answer"] == EXPECTED[name]
    assert "Jane Doe" not in shipping["reason"] and "Jane Doe" in shipping["security_detail"]
    assert report["escalated"] is True
