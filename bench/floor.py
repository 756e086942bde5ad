"""The machine's floor under bench.slack_ack's figures: what a request costs when the server
does nothing, and what one PostgreSQL round trip costs, each paced as people click and back to
back.

On a shared VM an idle process wakes slowly: a request every 20 ms pays that wake-up once on
each side, which a back-to-back run never does. These figures, measured with the same client
in the same run, say how much of a paced median is the machine's and how much verifybot's.

`python -m bench.floor PORT` serves the do-nothing app; bench.slack_ack starts it and drives it
with its own client.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

ROUND_TRIP = "SELECT 1"


@dataclass
class Floor:
    """Medians in ms: a do-nothing aiohttp server's, and a PostgreSQL `SELECT 1`'s (None on
    SQLite)."""

    server_paced: float
    server_back_to_back: float
    postgres_paced: float | None = None
    postgres_back_to_back: float | None = None

    def lines(self) -> list[str]:
        lines = [
            "  machine floor (the same client; medians):",
            f"    an aiohttp server that does nothing: paced {self.server_paced:.2f} ms,"
            f" back to back {self.server_back_to_back:.2f} ms",
        ]
        if self.postgres_paced is not None and self.postgres_back_to_back is not None:
            lines.append(
                f"    one PostgreSQL round trip ({ROUND_TRIP}): paced"
                f" {self.postgres_paced:.2f} ms, back to back {self.postgres_back_to_back:.2f} ms"
            )
        return lines


def floor_app() -> web.Application:
    """Answers every POST to /slack/events with an empty 200, after reading the body."""

    async def nothing(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200, content_type="text/plain")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/slack/events", nothing)
    app.router.add_get("/healthz", healthz)
    return app


def postgres_medians(url: str, count: int, pause: float) -> tuple[float, float]:
    """(paced, back to back) medians of `SELECT 1` on one connection, in ms."""
    import psycopg

    def timed(connection: psycopg.Connection[Any], gap: float) -> float:
        timings = []
        for _ in range(count):
            if gap:
                time.sleep(gap)
            started = time.perf_counter()
            connection.execute(ROUND_TRIP).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings)

    with psycopg.connect(url, autocommit=True) as connection:
        timed(connection, 0.0)
        return timed(connection, pause), timed(connection, 0.0)


if __name__ == "__main__":
    web.run_app(floor_app(), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
