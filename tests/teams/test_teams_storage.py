"""SqliteStorage: the botbuilder Storage contract (e_tag semantics) over the verifybot store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botbuilder.core import StoreItem

from bot.store import Store
from handlers.teams.storage import EtagConflict, SqliteStorage
from tests.database import open_store


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    opened = open_store(database)
    yield opened
    opened.close()


@pytest.fixture
def storage(store: Store) -> SqliteStorage:
    return SqliteStorage(store)


async def test_what_is_written_is_read_back_with_an_etag(storage: SqliteStorage) -> None:
    item = {"verification_id": "VB-1A2B3C4D", "started": ["VB-1A2B3C4D"]}
    await storage.write({"a": item})
    read = await storage.read(["a", "missing"])
    assert set(read) == {"a"}
    assert read["a"]["verification_id"] == "VB-1A2B3C4D"
    assert read["a"]["started"] == ["VB-1A2B3C4D"]
    assert read["a"]["e_tag"] == item["e_tag"], "the writer's item learns its new e_tag"
    assert await storage.read([]) == {}


async def test_a_matching_etag_writes_and_a_stale_one_is_a_conflict(
    storage: SqliteStorage,
) -> None:
    await storage.write({"a": {"n": 1}})
    first = (await storage.read(["a"]))["a"]
    second = (await storage.read(["a"]))["a"]
    first["n"] = 2
    await storage.write({"a": first})
    second["n"] = 3
    with pytest.raises(EtagConflict):
        await storage.write({"a": second})
    assert (await storage.read(["a"]))["a"]["n"] == 2
    assert isinstance(EtagConflict("x"), KeyError), "like MemoryStorage's conflict"


async def test_a_star_or_missing_etag_overwrites(storage: SqliteStorage) -> None:
    await storage.write({"a": {"n": 1}})
    await storage.write({"a": {"n": 2, "e_tag": "*"}})
    assert (await storage.read(["a"]))["a"]["n"] == 2
    await storage.write({"a": {"n": 3}})
    assert (await storage.read(["a"]))["a"]["n"] == 3


async def test_a_conflict_writes_nothing_of_the_batch(storage: SqliteStorage) -> None:
    await storage.write({"a": {"n": 1}})
    with pytest.raises(EtagConflict):
        await storage.write({"b": {"n": 1}, "a": {"n": 2, "e_tag": "stale"}})
    assert await storage.read(["b"]) == {}
    assert (await storage.read(["a"]))["a"]["n"] == 1


async def test_store_items_are_stored_and_delete_removes(storage: SqliteStorage) -> None:
    item = StoreItem(counter=1, name="x")
    await storage.write({"item": item, "other": {"n": 1}})
    assert item.e_tag
    read = await storage.read(["item"])
    assert read["item"]["counter"] == 1 and read["item"]["name"] == "x"
    await storage.delete(["item", "never-written"])
    assert await storage.read(["item", "other"]) == {
        "other": (await storage.read(["other"]))["other"]
    }
    with pytest.raises(TypeError):
        await storage.write({"bad": 42})


async def test_state_survives_a_new_store_on_the_same_database(store: Store, database: str) -> None:
    await SqliteStorage(store).write({"a": {"step": "camera_interview"}})
    store.close()
    reopened = open_store(database)
    try:
        read = await SqliteStorage(reopened).read(["a"])
        assert read["a"]["step"] == "camera_interview"
    finally:
        reopened.close()
