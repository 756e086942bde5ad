"""`verifybot export`: one row per verification, personal data only when asked for, audited."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bot.models import Actor, Outcome
from bot.records import latest_by_step
from bot.service import VerificationService
from bot.store import Row

FORMATS = ("csv", "jsonl")
MAX_ROWS = 1_000_000
BASE_COLUMNS = [
    "id",
    "playbook",
    "playbook_version",
    "requested_by",
    "platform",
    "started",
    "finished",
    "outcome",
    "escalation_status",
    "decision",
    "decided_by",
    "decided_at",
]
PERSONAL_COLUMNS = [
    "candidate_name",
    "candidate_email",
    "candidate_phone",
    "candidate_role",
    "home_address",
    "shipping_address",
    "start_date",
    "decision_reason",
]
DECIDED = frozenset({"acknowledged", "cleared", "confirmed"})
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A typed text a spreadsheet would run as a formula, quoted so it stays text."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


@dataclass(frozen=True)
class ExportFilter:
    since: date | None = None
    until: date | None = None
    outcomes: frozenset[str] = frozenset()

    def bounds(self) -> tuple[str | None, str | None]:
        """[since 00:00 UTC, the day after until 00:00 UTC) as stored timestamps."""
        low = datetime.combine(self.since, time(0), UTC).isoformat() if self.since else None
        high = (
            datetime.combine(self.until + timedelta(days=1), time(0), UTC).isoformat()
            if self.until
            else None
        )
        return low, high


def _row(service: VerificationService, row: Row, personal: bool) -> dict[str, Any]:
    store = service.store
    playbook = service.playbook_for(row["id"])
    latest = latest_by_step(store.answers(row["id"]))
    escalation = store.escalation_for(row["id"])
    outcome = Outcome.CANCELLED.value if row["cancelled_at"] else row["status"]
    status = escalation["status"] if escalation else None
    record: dict[str, Any] = {
        "id": row["id"],
        "playbook": row["playbook_id"],
        "playbook_version": row["playbook_version"],
        "requested_by": row["requested_by"],
        "platform": row["platform"],
        "started": row["created_at"],
        "finished": row["cancelled_at"] or (row["updated_at"] if outcome != "in_progress" else ""),
        "outcome": outcome,
        "escalation_status": status or "",
        "decision": status if status in DECIDED else "",
        "decided_by": (escalation["decided_by"] or "") if escalation else "",
        "decided_at": (escalation["decided_at"] or "") if escalation else "",
    }
    steps: dict[str, dict[str, Any]] = {}
    for step in playbook.steps:
        answer = latest.get(step.id)
        steps[step.id] = {
            "answer": answer["value"] if answer else "",
            "result": answer["result"] if answer else "",
            **({"note": (answer["note"] or "") if answer else ""} if personal else {}),
        }
    record["steps"] = steps
    if personal:
        candidate = store.candidate(row["candidate_id"]) or {}
        record.update(
            {
                "candidate_name": candidate.get("name") or "",
                "candidate_email": candidate.get("email") or "",
                "candidate_phone": candidate.get("phone") or "",
                "candidate_role": candidate.get("role") or "",
                "home_address": candidate.get("home_address") or "",
                "shipping_address": candidate.get("shipping_address") or "",
                "start_date": candidate.get("start_date") or "",
                "decision_reason": (escalation["decision_reason"] or "") if escalation else "",
            }
        )
    return record


def export_records(
    service: VerificationService, actor: Actor, which: ExportFilter, personal: bool, fmt: str
) -> list[dict[str, Any]]:
    """The verifications `which` selects, oldest first; the export is audited (no personal data)."""
    low, high = which.bounds()
    rows = [
        row
        for row in reversed(service.store.list_verifications(limit=MAX_ROWS))
        if (low is None or row["created_at"] >= low) and (high is None or row["created_at"] < high)
    ]
    records = [_row(service, row, personal) for row in rows]
    if which.outcomes:
        records = [record for record in records if record["outcome"] in which.outcomes]
    with service.store.transaction():
        service.store.audit(
            actor.user_id,
            actor.platform,
            "export.created",
            None,
            {
                "rows": len(records),
                "personal_data": personal,
                "format": fmt,
                "since": which.since.isoformat() if which.since else None,
                "until": which.until.isoformat() if which.until else None,
                "outcomes": sorted(which.outcomes),
            },
        )
    return records


def to_jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(record, sort_keys=True) + "\n" for record in records)


def to_csv(records: list[dict[str, Any]], personal: bool) -> str:
    """One column per field, and `STEP.answer` / `STEP.result` (/ `.note`) per step."""
    step_columns: list[str] = []
    for record in records:
        for step_id, fields in record["steps"].items():
            for name in fields:
                column = f"{step_id}.{name}"
                if column not in step_columns:
                    step_columns.append(column)
    columns = [*BASE_COLUMNS, *(PERSONAL_COLUMNS if personal else []), *step_columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        flat = {key: cell(value) for key, value in record.items() if key != "steps"}
        for step_id, fields in record["steps"].items():
            for name, value in fields.items():
                flat[f"{step_id}.{name}"] = cell(value)
        writer.writerow(flat)
    return buffer.getvalue()
