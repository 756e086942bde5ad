"""`verifybot audit verify`: the keyed chain checked event by event, then replayed against the
state tables, so that an edit, an insertion, a deletion or a re-chaining is caught."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.store import GENESIS_HASH, Row, Store

HEAD_PREFIX = 16
ANSWER_EVENTS = frozenset({"answer.recorded", "answer.changed", "answer.computed"})
DECISION_STATUS = {
    "escalation.acknowledged": "acknowledged",
    "escalation.cleared": "cleared",
    "escalation.confirmed": "confirmed",
}


class AuditFailure(Exception):
    """The first event or row that does not hold; the message names it."""


@dataclass
class Replayed:
    """The state the events describe."""

    verifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: list[dict[str, Any]] = field(default_factory=list)
    escalations: dict[int, dict[str, Any]] = field(default_factory=dict)
    erased: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class AuditReport:
    events: int
    head: str

    @property
    def line(self) -> str:
        return f"audit: {self.events} events intact, head {self.head[:HEAD_PREFIX]}"


def parse_anchor(text: str) -> tuple[int, str]:
    """`COUNT:MAC` (a MAC prefix of at least 16 hex digits) from `verifybot audit head`."""
    count, _, mac = text.strip().partition(":")
    mac = mac.strip().lower()
    if (
        not count.isdecimal()
        or len(mac) < HEAD_PREFIX
        or any(c not in "0123456789abcdef" for c in mac)
    ):
        raise ValueError("an anchor is COUNT:MAC as `verifybot audit head` prints it")
    return int(count), mac


def verify(store: Store, anchor: tuple[int, str] | None = None) -> AuditReport:
    """The report when the chain, the anchor and the state tables all hold; else AuditFailure."""
    events = store.events()
    _check_chain(store, events)
    if anchor is not None:
        _check_anchor(events, *anchor)
    replayed = replay(events)
    for problem in _differences(store, replayed):
        raise AuditFailure(problem)
    count, head = store.audit_head()
    return AuditReport(count, head)


def _check_chain(store: Store, events: list[Row]) -> None:
    prev = GENESIS_HASH
    for expected_id, event in enumerate(events, start=1):
        where = f"event {event['id']} ({event['action']})"
        if event["id"] != expected_id:
            raise AuditFailure(f"event {expected_id} is missing: the chain jumps to {where}")
        if event["prev_hash"] != prev:
            raise AuditFailure(f"{where} does not follow event {expected_id - 1}")
        if store.event_mac(event) != event["hash"]:
            raise AuditFailure(f"{where} was changed: its MAC does not match its content")
        prev = event["hash"]


def _check_anchor(events: list[Row], count: int, mac: str) -> None:
    if count > len(events):
        raise AuditFailure(
            f"the anchor names event {count} but the chain ends at event {len(events)}: "
            "events were cut from its end"
        )
    if count and not events[count - 1]["hash"].startswith(mac):
        raise AuditFailure(f"event {count} does not carry the anchor's MAC {mac[:HEAD_PREFIX]}")


def replay(events: list[Row]) -> Replayed:
    """The state tables as the events describe them."""
    state = Replayed()
    for event in events:
        detail = json.loads(event["detail"] or "{}")
        action, verification_id = event["action"], event["verification_id"]
        if action == "verification.started":
            state.verifications[verification_id] = {
                "status": "in_progress",
                "cancelled": False,
                "playbook_id": detail.get("playbook"),
                "playbook_version": detail.get("version"),
                "candidate_id": detail.get("candidate")
                if _is_id(detail.get("candidate"))
                else None,
                "event": event["id"],
            }
        elif action == "verification.outcome" and verification_id in state.verifications:
            state.verifications[verification_id]["status"] = detail.get("to")
        elif action == "verification.cancelled" and verification_id in state.verifications:
            state.verifications[verification_id]["cancelled"] = True
        elif action in ANSWER_EVENTS:
            state.answers.append(
                {
                    "verification_id": verification_id,
                    "step_id": detail.get("step"),
                    "value": detail.get("answer"),
                    "result": detail.get("result"),
                    "answered_by": event["actor"],
                    "id": detail.get("answer_id"),
                    "event": event["id"],
                }
            )
        elif action == "escalation.raised":
            state.escalations[detail["escalation"]] = {
                "verification_id": verification_id,
                "status": "open",
                "decided_by": None,
                "resolved_through": 0,
                "event": event["id"],
            }
        elif action in DECISION_STATUS and detail.get("escalation") in state.escalations:
            escalation = state.escalations[detail["escalation"]]
            escalation.update(
                status=DECISION_STATUS[action], decided_by=event["actor"], event=event["id"]
            )
            if detail.get("resolved_through") is not None:
                escalation["resolved_through"] = detail["resolved_through"]
        elif action == "escalation.reopened" and detail.get("escalation") in state.escalations:
            state.escalations[detail["escalation"]].update(status="open", event=event["id"])
        elif action == "candidate.erased":
            state.erased.add(detail["candidate"])
    return state


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _differences(store: Store, replayed: Replayed) -> Iterator[str]:
    """Each row that the events do not account for, first in table then in id order."""
    yield from _verification_differences(store, replayed)
    yield from _answer_differences(store, replayed)
    yield from _escalation_differences(store, replayed)
    yield from _candidate_differences(store, replayed)


def _verification_differences(store: Store, replayed: Replayed) -> Iterator[str]:
    rows = store.state_rows("verifications")
    for row in rows:
        expected = replayed.verifications.get(row["id"])
        if expected is None:
            yield f"verification {row['id']} has no verification.started event"
            continue
        actual = {
            "status": row["status"],
            "cancelled": row["cancelled_at"] is not None,
            "playbook_id": row["playbook_id"],
            "playbook_version": row["playbook_version"],
            "candidate_id": row["candidate_id"],
        }
        for name, value in actual.items():
            if expected[name] is not None and expected[name] != value:
                yield (
                    f"verification {row['id']}: {name} is {value!r} but the events "
                    f"(last: event {expected['event']}) say {expected[name]!r}"
                )
                break
    present = {row["id"] for row in rows}
    for verification_id, expected in replayed.verifications.items():
        if verification_id not in present:
            yield f"verification {verification_id} of event {expected['event']} is missing"


def _answer_differences(store: Store, replayed: Replayed) -> Iterator[str]:
    rows = store.state_rows("answers")
    for row, expected in zip(rows, replayed.answers, strict=False):
        if expected["id"] is not None and expected["id"] != row["id"]:
            yield f"answer {row['id']} is not answer {expected['id']} of event {expected['event']}"
            return
        for name in ("verification_id", "step_id", "value", "result", "answered_by"):
            if row[name] != expected[name]:
                yield (
                    f"answer {row['id']}: {name} is {row[name]!r} but event "
                    f"{expected['event']} recorded {expected[name]!r}"
                )
                return
    if len(rows) > len(replayed.answers):
        extra = rows[len(replayed.answers)]
        yield f"answer {extra['id']} has no event"
    elif len(rows) < len(replayed.answers):
        lost = replayed.answers[len(rows)]
        yield f"the answer of event {lost['event']} is missing"


def _escalation_differences(store: Store, replayed: Replayed) -> Iterator[str]:
    rows = store.state_rows("escalations")
    for row in rows:
        expected = replayed.escalations.get(row["id"])
        if expected is None:
            yield f"escalation {row['id']} has no escalation.raised event"
            continue
        for name in ("verification_id", "status", "decided_by", "resolved_through"):
            if row[name] != expected[name]:
                yield (
                    f"escalation {row['id']}: {name} is {row[name]!r} but the events "
                    f"(last: event {expected['event']}) say {expected[name]!r}"
                )
                break
    present = {row["id"] for row in rows}
    for escalation_id, expected in replayed.escalations.items():
        if escalation_id not in present:
            yield f"escalation {escalation_id} of event {expected['event']} is missing"


def _candidate_differences(store: Store, replayed: Replayed) -> Iterator[str]:
    for row in store.state_rows("candidates"):
        erased = row["erased_at"] is not None
        if erased and row["id"] not in replayed.erased:
            yield f"candidate {row['id']} is marked erased without a candidate.erased event"
        elif not erased and row["id"] in replayed.erased:
            yield f"candidate {row['id']} was erased (by the events) but still has data"
