"""A Teams user's turn lease across replicas: kept through a long turn, freed after a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.store import Store
from handlers.teams.bot import TURN_LEASE_SECONDS, TurnLocks
from tests.conftest import FakeClock
from tests.database import open_store

KEY = "teams/conversations/a:hm-personal-chat/aad-hm-1"
BOT_FRAMEWORK_TIMEOUT_SECONDS = 15


@pytest.fixture
def replicas(database: str, clock: FakeClock) -> Iterator[list[Store]]:
    """Two replicas' stores on the test's database, on one clock that only moves when told."""
    stores = [open_store(database, clock=clock) for _ in range(2)]
    yield stores
    for store in stores:
        store.close()


async def entered(locks: TurnLocks, turn_done: asyncio.Event, inside: asyncio.Event) -> None:
    async with locks.hold(KEY):
        inside.set()
        await turn_done.wait()


async def test_a_turn_longer_than_its_lease_keeps_it(
    replicas: list[Store], clock: FakeClock
) -> None:
    """The lease is renewed while the turn runs: the other replica cannot take it meanwhile."""
    first = TurnLocks(replicas[0], lease_seconds=0.3)
    done, inside = asyncio.Event(), asyncio.Event()
    turn = asyncio.create_task(entered(first, done, inside))
    await asyncio.wait_for(inside.wait(), 5)

    clock.advance(10)
    await asyncio.sleep(0.35)
    assert not replicas[1].take_turn_lease(KEY, "replica-1", clock() + timedelta(seconds=1))

    done.set()
    await turn
    assert replicas[1].take_turn_lease(KEY, "replica-1", clock() + timedelta(seconds=1))


async def test_a_replica_killed_mid_turn_holds_its_user_for_one_lease_at_most(
    replicas: list[Store], clock: FakeClock
) -> None:
    """The dead replica's lease is never dropped nor renewed; the next turn goes on once it
    runs out, within Bot Framework's request timeout."""
    assert TURN_LEASE_SECONDS < BOT_FRAMEWORK_TIMEOUT_SECONDS
    dead = TurnLocks(replicas[0])
    assert replicas[0].take_turn_lease(KEY, dead.owner, clock() + dead.lease)
    survivor = TurnLocks(replicas[1])
    done, inside = asyncio.Event(), asyncio.Event()
    done.set()
    turn = asyncio.create_task(entered(survivor, done, inside))

    clock.advance(TURN_LEASE_SECONDS - 1)
    await asyncio.sleep(0.2)
    assert not inside.is_set(), "the lease still runs"

    clock.advance(1)
    await asyncio.wait_for(inside.wait(), 5)
    await turn
    assert replicas[0].take_turn_lease(KEY, "someone", clock() + timedelta(seconds=1))


async def test_a_turn_ends_without_its_renewal_outliving_it(replicas: list[Store]) -> None:
    """The lease is dropped at the turn's end and no renewal takes it back afterwards."""
    locks = TurnLocks(replicas[0], lease_seconds=0.15)
    done, inside = asyncio.Event(), asyncio.Event()
    done.set()
    await entered(locks, done, inside)
    await asyncio.sleep(0.2)
    count = replicas[1].db.execute("SELECT count(*) FROM turn_leases").fetchone()[0]
    assert count == 0
    assert len(locks) == 0
