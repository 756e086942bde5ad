"""The audit chain's head is read once per write transaction: the write lock keeps other
appends out until it ends, so the events a transaction appends chain onto what it appended
last; a rollback, or the transaction's end, makes the next append read the head again."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from bot.models import Platform
from bot.runtime import Core
from bot.store import Store
from tests.database import write_in_threads
from tests.test_store_memo import spied_reads

HEAD = "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1"


class Abandoned(Exception):
    """Raised to roll a savepoint back."""


def audit(store: Store, action: str) -> int:
    return store.audit("sec-1", Platform.SLACK, action, None, {"step": action})


def actions(store: Store) -> list[str]:
    return [event["action"] for event in store.events()]


def test_a_transaction_reads_the_head_once_however_many_events_it_appends(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit(store, "before")
    reads = spied_reads(store.db, monkeypatch)
    with store.transaction():
        ids = [audit(store, f"event {number}") for number in range(4)]
    assert reads.count(HEAD) == 1
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert store.audit_chain_intact()


def test_each_transaction_reads_the_head_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = spied_reads(store.db, monkeypatch)
    audit(store, "first")
    audit(store, "second")
    assert reads.count(HEAD) == 2


def test_an_event_rolled_back_with_its_savepoint_is_not_chained_onto(store: Store) -> None:
    with store.transaction():
        audit(store, "kept")
        with pytest.raises(Abandoned), store.transaction():
            audit(store, "rolled back")
            raise Abandoned
        audit(store, "after the rollback")
    assert actions(store) == ["kept", "after the rollback"]
    assert store.audit_chain_intact()


def test_an_event_rolled_back_with_its_transaction_is_not_chained_onto(store: Store) -> None:
    with pytest.raises(Abandoned), store.transaction():
        audit(store, "rolled back")
        raise Abandoned
    audit(store, "next")
    assert actions(store) == ["next"]
    assert store.audit_chain_intact()


def test_another_replicas_events_between_two_transactions_are_chained_onto(
    make_core: Callable[..., Core],
) -> None:
    first, second = make_core().store, make_core().store
    with first.transaction():
        audit(first, "first replica, one")
        audit(first, "first replica, two")
    audit(second, "second replica")
    with first.transaction():
        audit(first, "first replica, three")
    assert actions(first) == [
        "first replica, one",
        "first replica, two",
        "second replica",
        "first replica, three",
    ]
    assert first.audit_chain_intact()


def test_writers_in_two_processes_chain_their_transactions_events_one_after_the_other(
    database: str, clock: object
) -> None:
    """Each writer appends three events per transaction: the second transaction to take the
    lock chains onto the first's last event, not onto a head it read before waiting."""

    def write(store: Store, writer: int) -> None:
        for number in range(10):
            with store.transaction():
                for part in range(3):
                    audit(store, f"writer {writer} {number}.{part}")
            time.sleep(0.002)  # let the other writer take the lock in between

    events = write_in_threads(database, clock, write)
    assert [event["id"] for event in events] == list(range(1, 61))
