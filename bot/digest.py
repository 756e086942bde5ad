"""The daily security digest: what happened since the last one, what is open, what is overdue.

Ids, counts and ages only: the digest is a TextNotice and holds no personal data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.chase import Chaser, parse_at
from bot.durations import format_duration
from bot.notices import TextNotice
from bot.store import Store

LAST_DIGEST_KEY = "digest_last_at"
DEFAULT_WINDOW = timedelta(days=1)
TITLE = "verifybot daily digest"
MAX_LISTED = 20


@dataclass
class Digest:
    """The digest's numbers; `notice()` is what is posted."""

    since: datetime
    until: datetime
    started: int = 0
    cleared: int = 0
    blocked: int = 0
    cancelled: int = 0
    open_escalations: list[tuple[int, str, str, timedelta]] = field(default_factory=list)
    overdue: list[tuple[str, timedelta]] = field(default_factory=list)
    undecided_findings: int = 0
    audit_count: int = 0
    audit_head: str = ""

    @property
    def quiet(self) -> bool:
        happened = self.started + self.cleared + self.blocked + self.cancelled
        return not (happened or self.open_escalations or self.overdue or self.undecided_findings)

    def notice(self) -> TextNotice:
        since = f"{self.since:%Y-%m-%d %H:%M} UTC"
        head = f"{self.audit_count} events, head {self.audit_head[:16]}"
        if self.quiet:
            return TextNotice(
                title=TITLE,
                lines=[
                    f"Nothing to report since {since}: nothing open, nothing overdue; "
                    f"audit head: {head}."
                ],
            )
        lines = [
            f"Since {since}: {self.started} started, {self.cleared} cleared, "
            f"{self.blocked} blocked, {self.cancelled} cancelled.",
            f"Open escalations: {len(self.open_escalations)}",
        ]
        for escalation_id, verification_id, status, age in self.open_escalations[:MAX_LISTED]:
            lines.append(
                f"  escalation {escalation_id} ({verification_id}): {status} "
                f"for {format_duration(age)}"
            )
        lines.append(f"Overdue verifications: {len(self.overdue)}")
        for verification_id, age in self.overdue[:MAX_LISTED]:
            lines.append(f"  {verification_id}: started {format_duration(age)} ago")
        lines.append(f"Findings awaiting a security decision: {self.undecided_findings}")
        lines.append(f"Audit head: {head}")
        return TextNotice(title=TITLE, lines=lines)


def last_digest_at(store: Store, now: datetime) -> datetime:
    """When the last digest was posted (a day ago when none was)."""
    value = store.meta_value(LAST_DIGEST_KEY)
    return parse_at(value) if value else now - DEFAULT_WINDOW


def build_digest(chaser: Chaser, now: datetime, since: datetime | None = None) -> Digest:
    store = chaser.store
    since = since or last_digest_at(store, now)
    digest = Digest(since=since, until=now)
    digest.started = len(store.events_between(["verification.started"], since, now))
    outcomes: dict[str, set[str]] = {"cleared": set(), "blocked": set()}
    for event in store.events_between(["verification.outcome"], since, now):
        to = json.loads(event["detail"]).get("to")
        if to in outcomes:
            outcomes[to].add(event["verification_id"])
    digest.cleared, digest.blocked = len(outcomes["cleared"]), len(outcomes["blocked"])
    cancelled = store.events_between(["verification.cancelled"], since, now)
    digest.cancelled = len({event["verification_id"] for event in cancelled})
    for row in store.escalations(["open", "acknowledged"], limit=1000):
        age = now - parse_at(row["created_at"])
        digest.open_escalations.append((row["id"], row["verification_id"], row["status"], age))
    for row in store.unfinished_verifications():
        started = parse_at(row["created_at"])
        if chaser.overdue_at(started) <= now:
            digest.overdue.append((row["id"], now - started))
    digest.undecided_findings = len(store.undecided_findings())
    digest.audit_count, digest.audit_head = store.audit_head()
    return digest


def post_digest(chaser: Chaser, now: datetime) -> Digest:
    """Queue the digest for every security channel and start the next window now."""
    digest = build_digest(chaser, now)
    notice = digest.notice()
    store = chaser.store
    with store.transaction():
        for target in chaser.service.security_targets:
            store.enqueue(None, notice.kind, target, notice.model_dump(mode="json"))
        store.set_meta(LAST_DIGEST_KEY, now.isoformat())
    chaser.service.outbox_written()
    return digest
