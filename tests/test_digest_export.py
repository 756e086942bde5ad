"""The daily security digest (its numbers against a known set of verifications, its time of day)
and `verifybot export` read back with the csv and json modules."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.digest import build_digest, post_digest
from bot.notices import TextNotice

DAY = 86400


@pytest.fixture
def known_set(make_core, notifier_class, actor, candidate, answer_steps, pass_answers, clock):
    """One cleared, one blocked, one cancelled and one left alone, three days ago."""

    async def make():
        notifier = notifier_class("slack")
        core = make_core(notifiers=(notifier,))
        post_digest(core.chaser, clock.now)  # the window starts here
        clock.advance(60)
        hm = actor()
        service = core.service
        cleared = await service.start(hm, candidate())
        await answer_steps(hm, cleared.verification.id, pass_answers["pre-offer"])
        blocked = await service.start(hm, candidate())
        await service.answer(hm, blocked.verification.id, "notarized_id", "not_provided")
        cancelled = await service.start(hm, candidate())
        await service.cancel(hm, cancelled.verification.id)
        idle = await service.start(hm, candidate())
        clock.advance(3 * DAY)
        ids = {
            "cleared": cleared.verification.id,
            "blocked": blocked.verification.id,
            "cancelled": cancelled.verification.id,
            "idle": idle.verification.id,
        }
        return core, notifier, ids

    return make


async def test_the_digest_counts_what_happened_since_the_last_one(known_set, clock) -> None:
    core, _, ids = await known_set()
    digest = build_digest(core.chaser, clock.now)
    assert (digest.started, digest.cleared, digest.blocked, digest.cancelled) == (4, 1, 1, 1)
    assert [(v, status) for _, v, status, _ in digest.open_escalations] == [
        (ids["blocked"], "open")
    ]
    assert digest.open_escalations[0][3] == timedelta(days=3)
    assert [verification for verification, _ in digest.overdue] == [ids["idle"]]
    assert digest.undecided_findings == 1
    assert (digest.audit_count, digest.audit_head) == core.store.audit_head()
    lines = digest.notice().lines
    assert lines[0] == "Since 2025-03-03 09:00 UTC: 4 started, 1 cleared, 1 blocked, 1 cancelled."
    assert f"({ids['blocked']}): open for 3d" in "\n".join(lines)
    assert f"{ids['idle']}: started 3d ago" in "\n".join(lines)
    assert "Findings awaiting a security decision: 1" in lines
    text = json.dumps(digest.notice().model_dump())
    assert "Candidate" not in text and "example.com" not in text


async def test_a_posted_digest_starts_the_next_window(known_set, clock) -> None:
    core, notifier, _ = await known_set()
    post_digest(core.chaser, clock.now)
    clock.advance(60)
    later = build_digest(core.chaser, clock.now)
    assert (later.started, later.cleared, later.blocked, later.cancelled) == (0, 0, 0, 0)
    assert later.open_escalations and later.overdue
    await core.worker.run_once()
    digests = [n for n in notifier.notices if isinstance(n, TextNotice)]
    assert len(digests) == 2


async def test_nothing_to_report_is_one_line(make_core, clock) -> None:
    core = make_core()
    notice = build_digest(core.chaser, clock.now).notice()
    assert len(notice.lines) == 1
    assert notice.lines[0].startswith("Nothing to report since")
    assert "audit head:" in notice.lines[0]


async def test_the_digest_is_posted_at_its_time_in_its_time_zone(
    make_core, notifier_class, clock
) -> None:
    notifier = notifier_class("slack")
    core = make_core(
        notifiers=(notifier,), digest_at=time(8, 0), timezone="America/New_York"
    )  # 08:00 in New York is 13:00 UTC on 3 March 2025
    assert "digest" not in await core.daily.run_due()
    clock.now = datetime(2025, 3, 3, 12, 59, tzinfo=UTC)
    assert "digest" not in await core.daily.run_due()
    clock.now = datetime(2025, 3, 3, 13, 0, tzinfo=UTC)
    assert "digest" in await core.daily.run_due()
    assert "digest" not in await make_core(notifiers=()).daily.run_due()
    await core.worker.run_once()
    assert [n.title for n in notifier.notices if isinstance(n, TextNotice)][-1] == (
        "verifybot daily digest"
    )


def test_verifybot_digest_prints_it_and_posts_it_on_request(
    known_set, cli_runner, db_path: Path
) -> None:
    import asyncio

    core, _, _ = asyncio.run(known_set())
    core.close()
    printed = cli_runner("digest", "--db", str(db_path))
    assert printed.exit_code == 0, printed.output
    assert printed.output.startswith("verifybot daily digest\n")
    assert "Open escalations: 1" in printed.output
    posted = cli_runner("digest", "--post", "--db", str(db_path))
    assert posted.exit_code == 0
    assert "no security channel is configured" in posted.output


# export


def test_export_as_csv_and_jsonl_reads_back(
    known_set, cli_runner, db_path: Path, tmp_path: Path
) -> None:
    import asyncio

    core, _, ids = asyncio.run(known_set())
    core.close()
    out = tmp_path / "out.csv"
    result = cli_runner("export", "--db", str(db_path), "--out", str(out))
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == set(ids.values())
    assert by_id[ids["cleared"]]["outcome"] == "cleared"
    assert by_id[ids["cleared"]]["background_check.answer"] == "clear"
    assert by_id[ids["blocked"]]["notarized_id.result"] == "block"
    assert by_id[ids["blocked"]]["escalation_status"] == "open"
    assert by_id[ids["cancelled"]]["outcome"] == "cancelled"
    assert "candidate_name" not in rows[0] and "example.com" not in out.read_text()

    lines = cli_runner(
        "export", "--db", str(db_path), "--format", "jsonl", "--outcome", "blocked"
    ).output.splitlines()
    (record,) = [json.loads(line) for line in lines]
    assert record["id"] == ids["blocked"]
    assert record["steps"]["notarized_id"] == {"answer": "not_provided", "result": "block"}


def test_personal_data_is_exported_only_when_asked_and_every_export_is_audited(
    known_set, cli_runner, db_path: Path, make_core
) -> None:
    import asyncio

    core, _, ids = asyncio.run(known_set())
    core.close()
    text = cli_runner(
        "export", "--db", str(db_path), "--include-personal-data", "--since", "2025-03-03"
    ).output
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["candidate_email"] for row in rows} == {
        f"candidate{n}@example.com" for n in range(1, 5)
    }
    cleared = next(row for row in rows if row["id"] == ids["cleared"])
    assert cleared["notarized_id.note"] == "Commission 12345, Cook County, IL"
    assert (
        cli_runner("export", "--db", str(db_path), "--until", "2025-03-02").output.count("\n") == 1
    )  # the header only
    events = [e for e in make_core().store.events() if e["action"] == "export.created"]
    details = [json.loads(e["detail"]) for e in events]
    assert [d["personal_data"] for d in details] == [True, False]
    assert "example.com" not in json.dumps(details)


def test_bad_export_options_are_one_line_and_write_nothing(
    cli_runner, db_path: Path, make_core, tmp_path: Path
) -> None:
    make_core().close()
    existing = tmp_path / "there.csv"
    existing.write_text("keep")
    for args, message in (
        (["--since", "March"], "--since 'March': write a date as YYYY-MM-DD"),
        (["--since", "2025-03-05", "--until", "2025-03-01"], "is after --until"),
        (["--out", str(existing)], "already exists"),
        (["--out", str(tmp_path / "no" / "x.csv")], "no such directory"),
    ):
        result = cli_runner("export", "--db", str(db_path), *args)
        assert result.exit_code == 2 and message in result.output
    assert existing.read_text() == "keep"
