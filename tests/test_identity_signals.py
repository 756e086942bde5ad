"""The identity_signals step, case by case: links to other candidates (a different person only),
weak signs, the watchlist; and the payout account kept only as a keyed hash."""

from __future__ import annotations

import os
import stat

import pytest

from bot.identity import email_key, is_disposable_domain, payout_key
from bot.models import Outcome, Platform, Result
from bot.watchlist import Watchlist

FIRST_STEPS = {
    "notarized_id": ("verified", "Commission 12345, Cook County, IL"),
    "background_check": "clear",
    "camera_interview": "matched",
    "liveness_probes": "natural",
}
IBAN = "DE89 3704 0044 0532 0130 00"


@pytest.fixture
def signals(service, answer_steps, actor):
    """Start a pre-offer verification, answer up to the computed steps; the identity finding."""

    async def run(details: dict, who=None):
        who = who or actor()
        started = await service.start(who, details)
        outcome = await answer_steps(who, started.verification.id, FIRST_STEPS)
        address, identity = outcome.computed
        assert (address.step, identity.step) == ("shipping_address", "identity_signals")
        return identity

    return run


@pytest.fixture
def watchlist(core):
    return Watchlist(core.store, core.service.roles)


@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("Jane.Doe+jobs@gmail.com", "janedoe@gmail.com"),
        ("j.a.n.e.d.o.e@googlemail.com", "janedoe@gmail.com"),
        ("JANEDOE@Gmail.com", "janedoe@gmail.com"),
        ("jane.doe+x@example.com", "jane.doe+x@example.com"),
        ("Jane.Doe@Example.com", "jane.doe@example.com"),
    ],
)
def test_emails_are_compared_normalised(email: str, key: str) -> None:
    assert email_key(email) == key


def test_payout_accounts_ignore_spaces_dashes_and_case() -> None:
    assert payout_key(IBAN) == payout_key("de89-3704-0044-0532-0130-00") == "DE89370400440532013000"
    assert payout_key("Pay.Me+x@GMail.com") == payout_key("payme@gmail.com")
    with pytest.raises(ValueError, match="bank account number, an IBAN or a payout email"):
        payout_key("12")


def test_disposable_domains_come_from_the_offline_list() -> None:
    assert is_disposable_domain("mailinator.com")
    assert is_disposable_domain("sub.mailinator.com")
    assert not is_disposable_domain("example.com")


async def test_nothing_shared_is_none(signals, candidate) -> None:
    found = await signals(candidate())
    assert (found.answer, found.result) == ("none", Result.PASS)
    assert found.security_detail is None


async def test_the_same_person_re_run_is_never_linked_with_themselves(signals, candidate) -> None:
    details = candidate(email="jane.doe@gmail.com", name="Jane Doe", payout_account=IBAN)
    await signals(details)
    again = await signals({**details, "email": "JaneDoe+rerun@gmail.com", "name": "jane  doe"})
    assert (again.answer, again.result) == ("none", Result.PASS)


@pytest.mark.parametrize(
    ("first", "second", "told"),
    [
        ({"phone": "+1 312 555 0142"}, {"phone": "(312) 555-0142"}, "phone number"),
        ({"payout_account": IBAN}, {"payout_account": "de89370400440532013000"}, "payout"),
        (
            {"email": "jane.doe@gmail.com", "name": "Jane Doe"},
            {"email": "Jane.Doe+it@googlemail.com", "name": "Joan Roe"},
            "email address is another candidate's, under another name",
        ),
    ],
    ids=["phone", "payout-account", "gmail-variant-under-another-name"],
)
async def test_a_detail_of_another_person_is_linked(
    service, signals, candidate, actor, first, second, told
) -> None:
    earlier = await signals(candidate(**first))
    found = await signals(candidate(**second))
    assert (found.answer, found.result) == ("linked", Result.BLOCK)
    assert told in found.reason
    assert found.security_detail is None, "the hiring manager never sees the others"
    assert earlier.answer == "none"
    assert _vid(service, earlier) not in found.reason
    view = await service.view(actor("sec-1"), _vid(service, found))
    [shown] = [f for f in view.findings if f.step == "identity_signals"]
    assert _vid(service, earlier) in shown.security_detail


def _vid(service, finding) -> str:
    return service.store.answer(finding.answer_id)["verification_id"]


async def test_weak_signs_go_to_review_and_are_all_listed(
    service, signals, candidate, actor
) -> None:
    flagged = candidate(email="ref@example.com")
    started = await service.start(actor(), flagged)
    await service.answer(actor(), started.verification.id, "notarized_id", "not_provided")
    home = "9 Oak Road, Springfield, IL 62701"
    await signals(candidate(home_address=home, shipping_address=home))
    found = await signals(
        candidate(
            email="someone@mailinator.com",
            phone="+44 20 7946 0958",
            home_address="9 Oak Rd, Springfield, IL",
            shipping_address="9 Oak Rd, Springfield, IL",
            referred_by="REF@example.com",
        )
    )
    assert (found.answer, found.result) == ("weak", Result.REVIEW)
    for told in (
        "the home address is another candidate's home address",
        "phone number's country (gb) is not the home address's (us)",
        "mailinator.com is a disposable-mail domain",
        "referrer's own verification was blocked",
    ):
        assert told in found.reason.lower()
    assert "Candidate " not in found.reason


async def test_the_watchlist_matches_every_spelling_and_removal_stops_it(
    signals, candidate, watchlist, actor, store
) -> None:
    cli = actor("cli", Platform.CLI)
    entry = watchlist.add(cli, "address", "Attn: IT, 123 Mаin St, Springfield IL", "DOJ 2025")
    payout = watchlist.add(cli, "payout_account", IBAN.lower())
    farm = "123 Main Street, Apt 1, Springfield, IL 62701"
    found = await signals(candidate(home_address=farm, shipping_address="123 Main St 62701"))
    assert found.answer == "none", "another unit and no city: not the listed address"

    found = await signals(
        candidate(shipping_address="123 MAIN STREET SPRINGFIELD IL 62701", payout_account=IBAN)
    )
    assert (found.answer, found.result) == ("watchlisted", Result.BLOCK)
    assert "the shipping address is on the watchlist" in found.reason.lower()
    assert "the payout account is on the watchlist" in found.reason
    assert "DOJ 2025" not in found.reason

    watchlist.remove(cli, entry["id"])
    watchlist.remove(cli, payout["id"])
    found = await signals(
        candidate(shipping_address="123 MAIN STREET SPRINGFIELD IL 62701", payout_account=IBAN)
    )
    assert found.answer != "watchlisted"
    actions = [e["action"] for e in store.events() if e["action"].startswith("watchlist.")]
    assert actions == ["watchlist.added"] * 2 + ["watchlist.removed"] * 2
    assert store.audit_chain_intact()


@pytest.mark.sqlite_only
async def test_the_payout_account_is_never_stored_in_clear(
    service, store, actor, candidate, db_path
) -> None:
    started = await service.start(actor(), candidate(payout_account=IBAN))
    assert started.verification.candidate.payout_account == "****3000"
    store.close()
    wal = db_path.with_name(db_path.name + "-wal")
    raw = db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"370400440532013000" not in raw and b"0532 0130" not in raw
    key_file = db_path.with_name(db_path.name + ".key")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


async def test_a_configured_index_key_is_used_instead_of_a_key_file(
    make_core, actor, candidate, db_path
) -> None:
    from pydantic import SecretStr

    core = make_core(index_key=SecretStr("k" * 32))
    started = await core.service.start(actor(), candidate(payout_account=IBAN))
    assert core.store.vault.keys.sources["index"] == "setting"
    [row] = core.store.state_rows("candidates")
    assert row["payout_index"] == core.store.payout_index(payout_key(IBAN))
    assert started.verification.candidate.payout_account == "****3000"


async def test_an_older_playbook_version_records_same_building_as_mismatch(
    service, store, actor, candidate
) -> None:
    """A verification started with pre-offer v1 has no same_building option: it falls back."""
    from bot.signals import address_match

    first = candidate(shipping_address="5 Elm St Apt 1, Springfield, IL 62701")
    await service.start(actor(), first)
    second = await service.start(
        actor(), candidate(shipping_address="5 Elm St Apt 9, Springfield, IL 62701")
    )
    row = store.candidate(second.verification.candidate.id)
    computed = address_match(store, row)
    assert (computed.value, computed.fallback) == ("same_building", "mismatch")
    assert second.verification.outcome == Outcome.IN_PROGRESS


@pytest.mark.sqlite_only
async def test_candidates_from_before_the_migration_are_still_compared(
    db_path, make_core, actor, candidate
) -> None:
    """A database of schema 3 gets the keys of its candidates from the migration."""
    import sqlite3

    from bot.schema import MIGRATIONS, SCHEMA_VERSION, _statements

    connection = sqlite3.connect(db_path)
    for version, script in enumerate(MIGRATIONS[:3], start=1):
        for statement in _statements(script):
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {version}")
    row = (
        "Old Timer", "Old.Timer@Example.com", "+13125550142", "1 Elm St", "9 Oak Rd",
        "1 ELM ST", "9 OAK RD", "2025-01-01T00:00:00.000+00:00",
    )  # fmt: skip
    connection.execute(
        "INSERT INTO candidates (name, email, phone, home_address, shipping_address, "
        "home_normalized, shipping_normalized, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    )
    connection.execute(
        "INSERT INTO verifications (id, candidate_id, playbook_id, playbook_version, "
        "requested_by, platform, status, created_at, updated_at) "
        "VALUES ('VB-0000OLD1', 1, 'pre-offer', 1, 'cli', 'cli', 'cleared', ?, ?)",
        [row[-1], row[-1]],
    )
    connection.commit()
    connection.close()

    core = make_core()
    assert core.store.schema_version == SCHEMA_VERSION
    started = await core.service.start(
        actor(), candidate(phone="312 555 0142", shipping_address="9 Oak Road")
    )
    for step_id, value in FIRST_STEPS.items():
        given = value if isinstance(value, tuple) else (value, None)
        outcome = await core.service.answer(actor(), started.verification.id, step_id, *given)
    assert [f.answer for f in outcome.computed] == ["shared", "linked"]


@pytest.mark.sqlite_only
def test_the_cross_candidate_lookups_are_indexed(store) -> None:
    def plan(sql: str, params: list) -> str:
        rows = store.db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return " ".join(str(row[-1]) for row in rows)

    for column in ("phone_index", "payout_index", "email_index", "shipping_building_index"):
        shown = plan(f"SELECT id FROM candidates WHERE {column} = ?", ["x"])
        assert "INDEX idx_candidates_" in shown, column
    assert "idx_watchlist_match" in plan(
        "SELECT id FROM watchlist WHERE kind = ? AND match_key = ?", ["email", "x"]
    )
