"""Sample escalations and notices for the notifier and card tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.models import (
    EscalationStatus,
    EscalationView,
    Finding,
    Outcome,
    Platform,
    RaisedFinding,
    Result,
)
from bot.notices import FindingNotice, NoticeItem

AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def finding(**overrides: Any) -> Finding:
    fields: dict[str, Any] = {
        "answer_id": 3,
        "step": "camera_interview",
        "step_title": "Camera-on interview",
        "answer": "did_not_match",
        "answer_label": "Did not match",
        "result": Result.BLOCK,
        "reason": "Did not match: Different face in round 2",
        "source": "FBI PSA I-012325-PSA",
        "note": "Different face in round 2",
        "answered_by": "aad-hm-1",
        "platform": Platform.TEAMS,
        "answered_at": AT,
    }
    return Finding(**{**fields, **overrides})


def escalation(findings: list[Finding] | None = None, **overrides: Any) -> EscalationView:
    raised = [RaisedFinding(**f.model_dump()) for f in (findings or [finding()])]
    fields: dict[str, Any] = {
        "id": 7,
        "verification_id": "VB-1A2B3C4D",
        "status": EscalationStatus.OPEN,
        "candidate_name": "Jane Doe",
        "candidate_email": "jane@example.com",
        "candidate_role": "Backend Engineer",
        "requested_by": "aad-hm-1",
        "requested_platform": Platform.TEAMS,
        "outcome": Outcome.BLOCKED,
        "created_at": AT,
        "findings": raised,
    }
    return EscalationView(**{**fields, **overrides})


def notice(
    view: EscalationView | None = None, items: list[NoticeItem] | None = None, first: bool = True
) -> FindingNotice:
    view = view or escalation()
    shown = items if items is not None else [NoticeItem(finding=view.findings[-1])]
    return FindingNotice(escalation=view, items=shown, first=first)
