"""bench.slack_ack's machine floor: the do-nothing server answers as the apps are driven, the
floor is measured with the bench's own client, and PostgreSQL's round trip is timed on a real
server when the suite runs on one."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bench.floor import Floor, floor_app, postgres_medians
from bench.slack_ack import command_body, machine_floor, signed
from tests.database import TEST_DATABASE_URL


async def test_the_do_nothing_server_answers_a_signed_request_with_an_empty_200() -> None:
    body, headers = signed(command_body("help"))
    async with TestClient(TestServer(floor_app())) as client:
        answered = await client.post("/slack/events", data=body, headers=headers)
        assert answered.status == 200
        assert await answered.read() == b""
        assert (await client.get("/healthz")).status == 200


async def test_the_floor_is_measured_paced_and_back_to_back_with_the_bench_client() -> None:
    requests = [signed(command_body("help")) for _ in range(60)]
    async with TestServer(floor_app()) as server:
        floor = await machine_floor(str(server.make_url("/slack/events")), requests, 5, None)
    assert floor.server_paced > 0
    assert floor.server_back_to_back > 0
    assert floor.postgres_paced is None
    printed = "\n".join(floor.lines())
    assert "does nothing: paced" in printed
    assert "PostgreSQL" not in printed


def test_the_printed_floor_names_postgresql_when_it_was_measured() -> None:
    printed = "\n".join(Floor(1.25, 0.4, 0.41, 0.07).lines())
    assert "paced 1.25 ms, back to back 0.40 ms" in printed
    assert "one PostgreSQL round trip (SELECT 1): paced 0.41 ms, back to back 0.07 ms" in printed


@pytest.mark.skipif(TEST_DATABASE_URL is None, reason="a PostgreSQL server (CI's second run)")
def test_a_postgresql_round_trip_is_timed_on_the_server() -> None:
    assert TEST_DATABASE_URL is not None
    paced, back_to_back = postgres_medians(TEST_DATABASE_URL, 5, 0.001)
    assert 0 < back_to_back < 1000
    assert 0 < paced < 1000
