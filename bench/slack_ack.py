"""Slack ack latency and throughput: `verifybot serve` against a bare bolt app.

Both servers run in their own subprocess on localhost: verifybot through its real command
line (`python -m handlers.cli serve`), the bare app as an AsyncApp with the default listener
runner whose listeners only ack. This process runs the fake Slack Web API
(tests/fakes/slack_api.py, which the verifybot server calls after its acks) and the load:
signed requests at concurrency 1 and 50, for three workloads:

- `/verify help`: a slash command answered in the ack.
- repeat click: block_actions on an option button of a step that is already answered (a
  double click or a retry; each request has its own action_ts).
- answer click: block_actions that each record a new answer (passing answers to three steps
  of verifications written to the database beforehand): after the ack the server records
  it in SQLite, updates the message and posts the next step.

`python -m bench.slack_ack [--quick] [--database-url URL [--split]] [--workload NAME ...]`; the
bare app answers each workload with an ack only. With `--database-url` verifybot runs on
PostgreSQL, in a schema of its own dropped at the end; with `--split` too, as `serve --web-only`
beside a `verifybot work` process (CPU time counted for both). The server's CPU time over the
answer-click runs (and the work after their acks) divided by the answers they recorded is
printed as CPU ms per answer. Under the table, the machine's floor (bench/floor.py): a
do-nothing server driven by the same client, and on PostgreSQL one round trip, paced and back
to back.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.floor import Floor, postgres_medians

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
MANAGER = "UBENCHHM01"
SECURITY_CHANNEL = "CBENCHSEC1"
CANDIDATE = {
    "name": "Bench Candidate",
    "email": "bench@example.com",
    "home_address": "123 Main St, Springfield, IL 62701",
    "shipping_address": "123 Main St, Springfield, IL 62701",
}
TARGET_MEDIAN_MS = 2.0
WARM_UP = 50
PAUSE = 0.02
TARGET_RSS_MB = 150.0
ROUNDS = 3
APPS = ("verifybot", "bare bolt")
FLOOR = "do nothing"
WORKLOADS = ("/verify help", "repeat click", "answer click")
KEY_NAMES = ("AUDIT", "DATA", "INDEX")

Request = tuple[bytes, dict[str, str]]


@dataclass
class Run:
    app: str
    workload: str
    concurrency: int
    requests: int
    seconds: float
    latencies: list[float]
    failures: int
    paced: bool = False
    cpu_seconds: float = 0.0
    settle_seconds: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000


# the bare app (a subprocess: --serve-bare PORT API_URL)


def serve_bare(port: int, api_url: str) -> None:
    """A bolt AsyncApp with the default listener runner whose listeners only ack."""
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(
        name="bare", client=AsyncWebClient(token=TOKEN, base_url=api_url), signing_secret=SECRET
    )

    async def acked(ack: AsyncAck) -> None:
        await ack()

    app.command("/verify")(acked)
    app.action(re.compile(r".+"))(acked)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app = web.Application()
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz)
    web.run_app(web_app, host="127.0.0.1", port=port, access_log=None, print=None)


# requests


def signed(body: str, content_type: str = "application/x-www-form-urlencoded") -> Request:
    from slack_sdk.signature import SignatureVerifier

    stamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
    return body.encode(), headers


def command_body(text: str) -> str:
    fields = {
        "command": "/verify",
        "text": text,
        "user_id": MANAGER,
        "channel_id": "CBENCH0001",
        "team_id": "T0BENCH",
        "trigger_id": "1.2.3",
    }
    return urlencode(fields)


def interaction(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def click_payload(message: Any, value: str, action_ts: str) -> dict[str, Any]:
    """block_actions for a button of a message the server posted (a fake Message)."""
    return {
        "type": "block_actions",
        "user": {"id": MANAGER},
        "trigger_id": "1.2.3",
        "channel": {"id": message.channel},
        "message": {"ts": message.ts},
        "container": {"type": "message", "channel_id": message.channel, "message_ts": message.ts},
        "actions": [{"action_id": "vb_answer:0", "value": value, "action_ts": action_ts}],
    }


def clicks(message: Any, values: list[str], count: int) -> list[Request]:
    """`count` signed clicks cycling through `values`, each with its own action_ts."""
    cycle = itertools.cycle(values)
    return [
        signed(interaction(click_payload(message, next(cycle), f"{time.time():.6f}{n}")))
        for n in range(count)
    ]


# the servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes] | None]:
    """The command running for the block (None for no command)."""
    if not command:
        yield None
        return
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{base}: the server exited with {process.returncode}")
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} did not start")


async def wait_for(found: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := found()):
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not call the fake Web API in time")
        await asyncio.sleep(0.02)
    return result


async def send(url: str, request: Request) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=request[0], headers=request[1]) as response,
    ):
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"set-up request answered {response.status}")


ANSWERS = (
    ("camera_interview", "matched"),
    ("education_history", "consistent"),
    ("profile_photo", "genuine"),
)


async def seed(db: str, count: int, env: dict[str, str] | None = None) -> list[str]:
    """`count` verifications of the manager, written before the server starts (with the
    server's `env`: its database URL and keys)."""
    from bot.config import Settings
    from bot.models import Actor, Platform
    from bot.runtime import build_core

    saved = dict(os.environ)
    os.environ.update({k: v for k, v in (env or {}).items() if k.startswith("VERIFYBOT_")})
    try:
        core = build_core(Settings(db=db, teams_enabled=False))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    actor = Actor(user_id=MANAGER, platform=Platform.SLACK)
    try:
        return [(await core.service.start(actor, CANDIDATE)).verification.id for _ in range(count)]
    finally:
        core.close()


async def set_up(url: str, fake: Any, count: int, seeded: list[str]) -> dict[str, list[Request]]:
    """A verification started and answered through Slack; `count` requests per workload."""
    await send(url, signed(command_body("start Bench Candidate")))
    [opened] = await wait_for(lambda: fake.state.views)
    values: dict[str, Any] = {
        block["block_id"]: {"value": {"value": CANDIDATE.get(block["block_id"])}}
        for block in opened.view["blocks"]
        if block["element"]["type"] == "plain_text_input"
    }
    values["playbook"] = {"value": {"selected_option": {"value": "pre-offer"}}}
    view = {
        "id": opened.id,
        "type": "modal",
        "callback_id": opened.view["callback_id"],
        "state": {"values": values},
    }
    submission = {"type": "view_submission", "user": {"id": MANAGER}, "view": view}
    await send(url, signed(interaction(submission)))
    dm = fake.dm_channel(MANAGER)
    [first] = await wait_for(lambda: fake.messages_in(dm))
    answered = (
        f"{first.blocks[-1]['elements'][0]['value'].split('|')[0]}|notarized_id|not_provided|"
    )
    await send(url, clicks(first, [answered], 1)[0])
    second = (await wait_for(lambda: fake.messages_in(dm)[1:]))[0]
    fresh = [f"{vid}|{step}|{option}|" for vid in seeded for step, option in ANSWERS]
    return {
        "/verify help": [signed(command_body("help"))] * count,
        "repeat click": clicks(first, [answered], count),
        "answer click": clicks(second, fresh[:count], count),
    }


async def load(url: str, requests: list[Request], concurrency: int, pause: float = 0.0) -> Run:
    """Send the requests, `concurrency` at a time, each sender pausing `pause` s in between."""
    latencies: list[float] = []
    failures = 0
    queue = iter(requests)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failures
            for data, headers in queue:
                started = time.perf_counter()
                async with session.post(url, data=data, headers=headers) as response:
                    await response.read()
                    failures += response.status != 200
                latencies.append(time.perf_counter() - started)
                if pause:
                    await asyncio.sleep(pause)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Run("", "", concurrency, len(requests), seconds, latencies, failures)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema on the server at `url`, dropped afterwards; the URL that uses it."""
    import secrets
    from urllib.parse import quote

    import psycopg

    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def postgres_env(url: str) -> dict[str, str]:
    """What selects PostgreSQL: the URL and the three keys it needs (new ones, for the run)."""
    import secrets

    keys = {f"VERIFYBOT_{name}_KEY": secrets.token_urlsafe(32) for name in KEY_NAMES}
    return {"VERIFYBOT_DATABASE_URL": url, **keys}


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def environment(api_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("VERIFYBOT_", "SLACK_", "MICROSOFT"))
    }
    env.update(
        {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": api_url,
            "VERIFYBOT_SLACK_SECURITY_CHANNEL": SECURITY_CHANNEL,
            "VERIFYBOT_TEAMS_ENABLED": "false",
            "VERIFYBOT_LOG_LEVEL": "ERROR",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


async def quiet(
    fake: Any, unfinished: Callable[[], int], still: float = 0.3, timeout: float = 60.0
) -> float:
    """Wait until the server's work after its acks is done: no job left unfinished and no Web
    API call for `still` s; about how long that work went on."""
    started = time.monotonic()
    deadline = started + timeout
    seen = -1
    while (len(fake.calls) != seen or unfinished()) and time.monotonic() < deadline:
        seen = len(fake.calls)
        await asyncio.sleep(still)
    return max(0.0, time.monotonic() - started - 2 * still)


def unfinished_jobs(db: str) -> Callable[[], int]:
    """How many jobs the server has not finished yet, read from its database."""
    query = "SELECT count(*) FROM jobs WHERE status IN ('pending', 'running')"
    if db.startswith("postgresql://"):
        import psycopg

        def on_postgres() -> int:
            with psycopg.connect(db, autocommit=True) as connection:
                row = connection.execute(query).fetchone()
            return int(row[0]) if row else 0

        return on_postgres

    import sqlite3

    def on_sqlite() -> int:
        connection = sqlite3.connect(db)
        try:
            return int(connection.execute(query).fetchone()[0])
        finally:
            connection.close()

    return on_sqlite


def median_run(runs: list[Run]) -> Run:
    """The round whose throughput is the median, so one noisy round does not decide."""
    return sorted(runs, key=lambda run: run.rps)[len(runs) // 2]


def pooled_run(runs: list[Run]) -> Run:
    """The rounds as one run: paced rounds' throughput is the pause's, so their latencies are
    pooled (three rounds of 50: a median of 150) rather than one round picked."""
    return replace(
        runs[0],
        requests=sum(run.requests for run in runs),
        seconds=sum(run.seconds for run in runs),
        latencies=[latency for run in runs for latency in run.latencies],
        failures=sum(run.failures for run in runs),
        cpu_seconds=sum(run.cpu_seconds for run in runs),
        settle_seconds=sum(run.settle_seconds for run in runs),
    )


async def bench(
    quick: bool, database_url: str | None, only: list[str] | None, split: bool = False
) -> None:
    if database_url is None:
        with tempfile.TemporaryDirectory() as scratch:
            await bench_on(quick, str(Path(scratch) / "bench.db"), {}, only, False)
        return
    with postgres_schema(database_url) as url:
        await bench_on(quick, url, postgres_env(url), only, split)


async def bench_on(
    quick: bool, db: str, db_env: dict[str, str], only: list[str] | None, split: bool
) -> None:
    """The bench on the SQLite file `db`, or on PostgreSQL (`db` a URL, `db_env` its settings);
    with `split`, verifybot is `serve --web-only` beside `work`."""
    from tests.fakes.slack_api import FakeSlackAPI

    sizes = ((1, 100, 0.0), (50, 500, 0.0)) if quick else ((1, 300, 0.0), (50, 2000, 0.0))
    sizes += ((1, 50, PAUSE),)
    rounds = 1 if quick else ROUNDS
    fake = FakeSlackAPI()
    await fake.start()
    per_app = WARM_UP + rounds * sum(total for _, total, _ in sizes)
    ports = {app: free_port() for app in (*APPS, FLOOR)}
    urls = {app: f"http://127.0.0.1:{port}" for app, port in ports.items()}
    runs: list[Run] = []
    env = environment(fake.url)
    unfinished = unfinished_jobs(db)
    try:
        seeded = await seed(db, -(-per_app // len(ANSWERS)), db_env)
        real_command = [sys.executable, "-m", "handlers.cli", "serve"]
        real_command += ["--db", db] if not db_env else []
        real_command += ["--host", "127.0.0.1", "--port", str(ports["verifybot"])]
        bare_command = [sys.executable, "-m", "bench.slack_ack", "--serve-bare"]
        bare_command += [str(ports["bare bolt"]), fake.url]
        work_command = [sys.executable, "-m", "handlers.cli", "work"] if split else []
        real_command += ["--web-only"] if split else []
        floor_command = [sys.executable, "-m", "bench.floor", str(ports[FLOOR])]
        with (
            server(real_command, {**env, **db_env}) as real,
            server(work_command, {**env, **db_env}) as worker,
            server(bare_command, env) as bare,
            server(floor_command, env) as do_nothing,
        ):
            pids = {"verifybot": real.pid, "bare bolt": bare.pid}
            workers = [worker.pid] if worker is not None else []
            await wait_ready(urls["verifybot"], real)
            await wait_ready(urls["bare bolt"], bare)
            await wait_ready(urls[FLOOR], do_nothing)
            events = f"{urls['verifybot']}/slack/events"
            workloads = await set_up(events, fake, per_app, seeded)
            for workload, requests in workloads.items():
                if only and workload not in only:
                    continue
                offsets = dict.fromkeys(APPS, WARM_UP)
                for app in APPS:
                    await load(f"{urls[app]}/slack/events", requests[:WARM_UP], 10)
                    await quiet(fake, unfinished)
                for _ in range(rounds):
                    for app in APPS:
                        url = f"{urls[app]}/slack/events"
                        for concurrency, total, pause in sizes:
                            batch = requests[offsets[app] : offsets[app] + total]
                            offsets[app] += total
                            used = [pids[app], *(workers if app == "verifybot" else [])]
                            cpu = sum(map(cpu_seconds, used))
                            run = await load(url, batch, concurrency, pause)
                            run.settle_seconds = await quiet(fake, unfinished)
                            run.cpu_seconds = sum(map(cpu_seconds, used)) - cpu
                            run.app, run.workload, run.paced = app, workload, bool(pause)
                            runs.append(run)
            paced_count = rounds * next(total for _, total, pause in sizes if pause)
            floor = await machine_floor(
                f"{urls[FLOOR]}/slack/events",
                workloads["/verify help"],
                paced_count,
                db if db_env else None,
            )
            rss = {"verifybot": memory(real.pid), "bare bolt": memory(bare.pid)}
            if worker is not None:
                rss["verifybot work"] = memory(worker.pid)
    finally:
        await fake.stop()
    shape = " (serve --web-only beside verifybot work)" if split else ""
    print(f"database: {'PostgreSQL' if db_env else 'SQLite'}{shape}")
    report(runs, rss, len(fake.calls), floor)


async def machine_floor(
    url: str, requests: list[Request], count: int, database_url: str | None
) -> Floor:
    """The do-nothing server at `url` driven by `load` as the apps are, `count` requests
    paced and as many back to back; on PostgreSQL, as many `SELECT 1` round trips."""
    await load(url, requests[:WARM_UP], 1)
    paced = await load(url, requests[:count], 1, PAUSE)
    back_to_back = await load(url, requests[:count], 1)
    floor = Floor(paced.p50, back_to_back.p50)
    if database_url is not None:
        floor.postgres_paced, floor.postgres_back_to_back = await asyncio.to_thread(
            postgres_medians, database_url, count, PAUSE
        )
    return floor


def report(
    runs: list[Run], rss: dict[str, dict[str, float]], web_api_calls: int, floor: Floor
) -> None:
    print(f"slack ack: {os.cpu_count()} cores; each server a subprocess; load + fake Web API here")
    print(
        "  (each figure: the median-throughput round of several; every run starts once the"
        " previous one's work after its acks is done)"
    )
    print(
        f"  ('1 paced': a request every {PAUSE * 1000:.0f} ms as people click, its rounds pooled;"
        " the other runs send back to back)"
    )
    print("  (cpu ms: the server's CPU time per request, its work after the acks included)")
    runs_all = runs
    grouped: dict[tuple[str, str, int, bool], list[Run]] = {}
    for run in runs:
        grouped.setdefault((run.app, run.workload, run.concurrency, run.paced), []).append(run)
    runs = [
        pooled_run(rounds) if paced else median_run(rounds)
        for (_, _, _, paced), rounds in grouped.items()
    ]
    columns = ("conc", 6), ("reqs", 6), ("req/s", 8), ("p50 ms", 8), ("p99 ms", 8), ("fail", 5)
    columns += (("cpu ms", 8),)
    print(f"  {'workload':<14}{'app':<11}" + "".join(f"{name:>{width}}" for name, width in columns))
    for run in runs:
        concurrency = f"{run.concurrency}{' paced' if run.paced else ''}"
        print(
            f"  {run.workload:<14}{run.app:<11}{concurrency:>6}{run.requests:>6}"
            f"{run.rps:>8.0f}{run.p50:>8.2f}{run.p99:>8.2f}{run.failures:>5}"
            f"{run.cpu_seconds * 1000 / run.requests:>8.2f}"
        )
    by = {(run.app, run.workload, run.concurrency, run.paced): run for run in runs}
    print("  verifybot / bare bolt")
    checks: list[tuple[str, bool]] = []
    for workload in dict.fromkeys(run.workload for run in runs):
        ours, bare = (by["verifybot", workload, 1, False], by["bare bolt", workload, 1, False])
        busy, bare_busy = by["verifybot", workload, 50, False], by["bare bolt", workload, 50, False]
        print(
            f"    {workload:<14} p50 at c=1 {ours.p50 / bare.p50:5.2f}x"
            f"   throughput at c=50 {busy.rps / bare_busy.rps:5.2f}x"
        )
        paced = by["verifybot", workload, 1, True]
        checks.append(
            (f"{workload}: p50 at c=1 < {TARGET_MEDIAN_MS} ms", ours.p50 < TARGET_MEDIAN_MS)
        )
        checks.append(
            (f"{workload}: p50 at c=1 paced < {TARGET_MEDIAN_MS} ms", paced.p50 < TARGET_MEDIAN_MS)
        )
        checks.append((f"{workload}: throughput at c=50 >= bare", busy.rps >= bare_busy.rps))
    answering = [r for r in runs_all if r.app == "verifybot" and r.workload == "answer click"]
    if answering:
        cpu = sum(r.cpu_seconds for r in answering) * 1000 / sum(r.requests for r in answering)
        busy = median_run([r for r in answering if r.concurrency == 50])
        done = busy.requests / (busy.seconds + busy.settle_seconds)
        print(
            f"  answer click: server CPU {cpu:.2f} ms per recorded answer (its ack, the answer,"
            f" chat.update and chat.postMessage); at c=50 {done:.0f} answers/s acked and"
            " followed up"
        )
    print("\n".join(floor.lines()))
    for app, fields in rss.items():
        print(f"  {app:<15} VmRSS {fields['VmRSS']:6.1f} MB   VmHWM {fields['VmHWM']:6.1f} MB")
    for app in (app for app in rss if app.startswith("verifybot")):
        peak = rss[app]["VmHWM"]
        checks.append((f"{app} VmHWM < {TARGET_RSS_MB:.0f} MB", peak < TARGET_RSS_MB))
    checks.append(("no failed requests", all(run.failures == 0 for run in runs)))
    print(f"  Web API calls the verifybot server made to the fake: {web_api_calls}")
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Slack ack latency and throughput")
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    parser.add_argument("--database-url", help="run verifybot on this PostgreSQL server")
    parser.add_argument(
        "--workload", action="append", choices=WORKLOADS, help="only this workload (repeatable)"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="on PostgreSQL, verifybot as `serve --web-only` beside `work` (default: one serve)",
    )
    parser.add_argument(
        "--serve-bare", nargs=2, metavar=("PORT", "API_URL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.split and not args.database_url:
        parser.error("--split needs --database-url: a work process runs on PostgreSQL only")
    if args.serve_bare:
        serve_bare(int(args.serve_bare[0]), args.serve_bare[1])
    else:
        asyncio.run(bench(args.quick, args.database_url, args.workload, args.split))


if __name__ == "__main__":
    main()
