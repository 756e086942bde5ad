"""Prometheus counters shared by every front end (served at GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

VERIFICATIONS_STARTED = Counter(
    "verifybot_verifications_started_total", "Verifications started", ["platform"]
)
ANSWERS_RECORDED = Counter(
    "verifybot_answers_recorded_total", "Answers recorded", ["platform", "result"]
)
ESCALATION_FINDINGS = Counter(
    "verifybot_escalation_findings_total", "Findings escalated to security", ["result"]
)
OUTBOX_DELIVERED = Counter(
    "verifybot_outbox_delivered_total", "Outbox notices delivered", ["target"]
)
OUTBOX_FAILURES = Counter(
    "verifybot_outbox_failures_total", "Outbox delivery attempts that failed", ["target"]
)
OUTBOX_PENDING = Gauge("verifybot_outbox_pending", "Outbox notices waiting for delivery")
REFUSALS = Counter("verifybot_refusals_total", "Actions refused for lack of a role", ["action"])
CANDIDATES_ERASED = Counter(
    "verifybot_candidates_erased_total", "Candidate records whose personal data was erased"
)
