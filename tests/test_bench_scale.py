"""bench/scale.py at a tiny size: the bulk-built data reads back through the service, the
audit chain holds, and the JSON report has every operation at both sizes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench.scale import (
    LIST_GROUPS,
    OPERATIONS,
    Targets,
    location_of,
    main,
    playbook_dir,
    settings_for,
)
from bot.intake import Intake
from bot.runtime import Core, build_core

pytestmark = pytest.mark.sqlite_only


def run_small_bench(data_dir: Path, *more: str) -> None:
    """50 verifications against 20, 3 samples each, the report as JSON on stdout."""
    arguments = ["--verifications", "50", "--baseline", "20", "--samples", "3", "--json"]
    main([*arguments, "--data-dir", str(data_dir), *more])


def test_the_json_report_has_every_operation_at_both_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_small_bench(tmp_path)
    report = json.loads(capsys.readouterr().out)
    assert report["backend"] == "sqlite"
    assert set(report["operations"]) == set(OPERATIONS)
    for figures in report["operations"].values():
        assert figures["20"]["samples"] == figures["50"]["samples"] == 3
        assert figures["50"]["p50"] > 0 and figures["ratio"] > 0
    built = report["databases"]["50"]
    assert built["n"] == 50 and built["bytes_per_verification"] > 0


def test_operation_measures_only_the_operations_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_small_bench(tmp_path, "--operation", "manager_list", "--operation", "clearance")
    report = json.loads(capsys.readouterr().out)
    assert list(report["operations"]) == ["manager_list", "clearance"]


def test_the_list_is_also_reported_by_how_much_it_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """About half the hiring managers have nothing open: the list's p50 alone sits on a step,
    so its samples are also given by what they listed, with each group's share."""
    sizes = ["--verifications", "60", "--baseline", "30", "--samples", "40", "--json"]
    operations = ["--operation", "manager_list", "--operation", "answer"]
    main([*sizes, *operations, "--data-dir", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    [(name, groups)] = report["lists_by_what_they_held"].items()
    assert name == "manager_list" and groups
    assert set(groups) <= set(LIST_GROUPS)
    for size in ("30", "60"):
        shares = [row[size]["share"] for row in groups.values()]
        assert all(0 < share <= 1 for share in shares) and sum(shares) <= 1.01
        samples = sum(row[size]["samples"] for row in groups.values())
        assert samples <= report["operations"]["manager_list"][size]["samples"] == 40
    assert all(row["ratio"] > 0 for row in groups.values())


def test_the_built_verifications_read_back_through_the_service(tmp_path: Path) -> None:
    run_small_bench(tmp_path)
    with playbook_dir() as playbooks:
        core = build_core(settings_for(location_of(50, tmp_path, None), playbooks))
        try:
            asyncio.run(_reads_back(core))
            assert core.store.audit_chain_intact()
        finally:
            core.close()


async def _reads_back(core: Core) -> None:
    targets = Targets(core)
    for _ in range(10):
        target = targets.pick("pre-offer")
        by_name = await core.service.status(target.owner, target.name)
        assert target.id in [by_name.id, *(other.id for other in by_name.same_name)]
        by_id = await core.service.status(target.owner, target.id)
        assert by_id.candidate.email == target.email
        assert by_id.outcome.value == target.status
        listed = await core.service.verifications(target.owner, open_only=False, limit=5)
        assert 0 < len(listed) <= 5
        gate = await Intake(core.service, core.jobs).clearance(target.owner, target.email)
        assert gate.verification_id is not None
        assert gate.cleared == (target.status == "cleared" and not by_id.awaiting_security)
