"""Latency at scale: `python -m bench.scale --verifications N [--database-url URL] [--json]`.

Builds (or reuses) a database of N realistic verifications and one of 1,000 (bench/scale_data.py),
then measures p50 and p99 of each operation through VerificationService and the aiohttp app on
both, and prints the ratio of the p50s. Databases of more than REBUILD_BELOW verifications are
cached: SQLite files `scale-<N>.db` under --data-dir (default .bench-data in the checkout,
or $VERIFYBOT_BENCH_DATA), a PostgreSQL schema `bench_scale_<N>` in --database-url's database.
The measured writes add a few hundred rows to a cached database per run; smaller databases are
built afresh every run. --rebuild builds the big one afresh too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from aiohttp.test_utils import TestClient, TestServer

from bench.scale_data import BUILD_SECONDS, BUILT, KEY_SETTINGS, SECURITY_USER, build
from bot.config import Settings
from bot.keys import is_database_url
from bot.models import Actor, Platform
from bot.playbook import PlaybookRegistry
from bot.runtime import Core, build_core
from bot.store import Store
from handlers.api.frontend import ApiFrontend
from handlers.server import build_app

BASELINE = 1_000
REBUILD_BELOW = 10_000
DEFAULT_N = 100_000
DEFAULT_SAMPLES = 300
WARMUP = 20
ROUNDS = 3
DATA_DIR = Path(
    os.environ.get("VERIFYBOT_BENCH_DATA", Path(__file__).resolve().parent.parent / ".bench-data")
)
API_TOKEN = "bench-scale-api-token-0123456789"
SCALE_PLAYBOOK = "pre-offer-checks-first"
PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
LIST_GROUPS = ("nothing open", "one open", "two or more")
OPERATIONS = (
    "status_by_id",
    "status_by_name",
    "manager_list",
    "start",
    "answer",
    "clearance",
    "healthz",
    "metrics",
)


@dataclass
class Figures:
    """One operation's latencies at one size, in milliseconds."""

    p50: float
    p99: float
    samples: int


@dataclass
class Database:
    """A built database: where, how many verifications, its build time and its size."""

    location: str
    n: int
    build_seconds: float
    bytes: int

    @property
    def bytes_per_verification(self) -> float:
        return self.bytes / self.n


# databases


def location_of(n: int, data_dir: Path, database_url: str | None) -> str:
    if database_url is None:
        return str(data_dir / f"scale-{n}.db")
    separator = "&" if "?" in database_url else "?"
    options = quote(f"-csearch_path=bench_scale_{n}")
    return f"{database_url}{separator}options={options}"


def _drop(n: int, location: str, database_url: str | None) -> None:
    if database_url is None:
        for suffix in ("", "-wal", "-shm", ".key"):
            Path(location + suffix).unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS bench_scale_{n} CASCADE")
        admin.execute(f"CREATE SCHEMA bench_scale_{n}")


def settings_for(location: str, playbooks_dir: Path) -> Settings:
    where: dict[str, Any] = (
        {"database_url": location} if is_database_url(location) else {"db": location}
    )
    keys = {f"{name}_key": secret for name, secret in KEY_SETTINGS.items()}
    return Settings(
        **where,
        **keys,
        playbooks_dir=str(playbooks_dir),
        slack_security_users=frozenset({SECURITY_USER}),
        api_tokens={"bench": API_TOKEN},
    )


def _open(location: str) -> Store:
    return Store(location, key_settings=dict(KEY_SETTINGS))


def _size(store: Store, location: str) -> int:
    if not is_database_url(location):
        return sum(
            Path(location + suffix).stat().st_size
            for suffix in ("", "-wal")
            if Path(location + suffix).exists()
        )
    row = store._row(
        "SELECT sum(pg_total_relation_size(c.oid)) AS n FROM pg_class c "
        "JOIN pg_namespace s ON s.oid = c.relnamespace "
        "WHERE s.nspname = current_schema() AND c.relkind = 'r'"
    )
    return int(row["n"]) if row and row["n"] else 0


def prepare(
    n: int,
    data_dir: Path,
    database_url: str | None,
    rebuild: bool = False,
    progress: bool = False,
) -> Database:
    """The database of n verifications: reused when built before, else built now."""
    location = location_of(n, data_dir, database_url)
    if database_url is None:
        data_dir.mkdir(parents=True, exist_ok=True)
    fresh = rebuild or n < REBUILD_BELOW or not _built(location, n)
    if fresh:
        _drop(n, location, database_url)
    store = _open(location)
    try:
        if fresh:
            if progress:
                print(f"building {n:,} verifications in {store.shown_path}", flush=True)
            build(store, PlaybookRegistry.from_directory(PLAYBOOKS), n, progress)
            if not is_database_url(location):
                store.scrub()
        seconds = float(store.meta_value(BUILD_SECONDS) or 0)
        return Database(store.shown_path, n, seconds, _size(store, location))
    finally:
        store.close()


def _built(location: str, n: int) -> bool:
    if not is_database_url(location) and not Path(location).exists():
        return False
    try:
        store = _open(location)
    except Exception:
        return False
    try:
        return store.meta_value(BUILT) == str(n)
    finally:
        store.close()


@contextlib.contextmanager
def playbook_dir() -> Iterator[Path]:
    """The shipped playbooks and one more: pre-offer with its computed checks first, so that
    starting a verification runs every cross-candidate look-up (the laptop farm included)."""
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        for path in PLAYBOOKS.glob("*.yml"):
            (directory / path.name).write_text(path.read_text())
        content = yaml.safe_load((PLAYBOOKS / "pre_offer.yml").read_text())
        steps = content["steps"]
        content["id"] = SCALE_PLAYBOOK
        content["steps"] = [s for s in steps if s.get("check")] + [
            s for s in steps if not s.get("check")
        ]
        (directory / "pre_offer_checks_first.yml").write_text(yaml.safe_dump(content))
        yield directory


# targets


@dataclass(frozen=True)
class Target:
    """A verification picked at random, with what the operations need of it."""

    id: str
    owner: Actor
    name: str
    email: str
    status: str


class Targets:
    """Random verifications across the whole table (never one hot row)."""

    def __init__(self, core: Core, seed: int = 11) -> None:
        self.store = core.store
        self.rng = random.Random(seed)

    def pick(self, playbook: str | None = None) -> Target:
        """The first verification (of `playbook`) from a random id on.

        `playbook_id || ''` keeps the planner on the primary key: through an index on the
        playbook it read every verification of it (167 ms at a million, untimed, but it left
        the caches cold for the timed operation after it)."""
        where, params = ("AND playbook_id || '' = ?", [playbook]) if playbook else ("", [])
        for _ in range(50):
            start = f"VB-{self.rng.getrandbits(32):08X}"
            row = self.store._row(
                f"SELECT * FROM verifications WHERE id >= ? {where} ORDER BY id LIMIT 1",
                [start, *params],
            )
            if row is not None:
                candidate = self.store.candidate(row["candidate_id"])
                assert candidate is not None
                owner = Actor(user_id=row["requested_by"], platform=Platform(row["platform"]))
                return Target(
                    row["id"], owner, candidate["name"], candidate["email"], row["status"]
                )
        raise LookupError(f"no verification of {playbook or 'any playbook'}")


# operations


Operation = Callable[[], Awaitable[object]]


class Bench:
    """The operations of the issue; each sample is prepared (untimed) on a fresh random target."""

    def __init__(self, core: Core, client: TestClient) -> None:
        self.core = core
        self.service = core.service
        self.client = client
        self.targets: Targets
        self.rng: random.Random
        self.counter = 0
        self._draws: dict[str, tuple[Targets, random.Random]] = {}
        self.listed: dict[str, list[int]] = {}

    async def sample(self, name: str, count: int, warmup: int = 0) -> list[float]:
        """`count` timings (ms) of the operation after `warmup` untimed runs. Each operation
        draws its own targets, going on where its last samples left off: the same whichever
        others run (`--operation` measures what a full run does), and no two operations
        share (warm) rows."""
        if name not in self._draws:
            seed = OPERATIONS.index(name)
            self._draws[name] = (Targets(self.core, seed=11 + seed), random.Random(5 + seed))
        self.targets, self.rng = self._draws[name]
        prepare = getattr(self, f"prepare_{name}")
        timings = []
        for index in range(count + warmup):
            op = await prepare()
            began = time.perf_counter()
            result = await op()
            if index >= warmup:
                timings.append((time.perf_counter() - began) * 1000)
                if isinstance(result, list):
                    self.listed.setdefault(name, []).append(len(result))
        return timings

    async def prepare_status_by_id(self) -> Operation:
        target = self.targets.pick()
        return _bind(self.service.status, target.owner, target.id)

    async def prepare_status_by_name(self) -> Operation:
        target = self.targets.pick()
        return _bind(self.service.status, target.owner, target.name)

    async def prepare_manager_list(self) -> Operation:
        return _bind(self.service.verifications, self.targets.pick().owner)

    async def prepare_start(self) -> Operation:
        """A new candidate; one in ten ships to another candidate's home (a laptop farm)."""
        target = self.targets.pick()
        shipping = None
        if self.rng.random() < 0.1:
            shipping = (await self.service.view(target.owner, target.id)).candidate.home_address
        details = self._candidate(shipping)
        return _bind(self.service.start, target.owner, details, SCALE_PLAYBOOK)

    def _candidate(self, shipping: str | None = None) -> dict[str, str]:
        self.counter += 1
        rng = self.rng
        home = f"{rng.randrange(1, 9999)} Quarry Rd, Boise, ID 83702"
        return {
            "name": f"Scale Candidate {self.counter}",
            "email": f"scale.{self.counter}.{rng.getrandbits(24)}@example.org",
            "phone": f"+1415{rng.randrange(200, 999)}{rng.randrange(10**4):04d}",
            "home_address": home,
            "shipping_address": shipping or home,
            "payout_account": f"GB{rng.randrange(10, 99)}BANK{rng.getrandbits(40)}",
        }

    async def prepare_answer(self) -> Operation:
        """The first step of a pre-offer verification started (untimed) for a random hiring
        manager, answered with a passing option: the same work at every size (answering a
        built one would run the computed checks more often at one size than the other)."""
        owner = self.targets.pick().owner
        started = await self.service.start(owner, self._candidate(), "pre-offer")
        prompt = started.next_prompt
        assert prompt is not None
        option = next((o for o in prompt.options if o.result == "pass"), prompt.options[0])
        note = "Checked by the bench" if option.note_required else None
        verification_id = started.verification.id
        return _bind(
            self.service.answer, owner, verification_id, prompt.step_id, option.value, note
        )

    async def prepare_clearance(self) -> Operation:
        email = self.targets.pick("pre-offer").email
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        return _bind(self._get, "/api/v1/clearance", {"email": email}, headers)

    async def prepare_healthz(self) -> Operation:
        return _bind(self._get, "/healthz", {}, {})

    async def prepare_metrics(self) -> Operation:
        return _bind(self._get, "/metrics", {}, {})

    async def _get(self, path: str, params: dict[str, str], headers: dict[str, str]) -> bytes:
        async with self.client.get(path, params=params, headers=headers) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
            return body


def _bind(function: Callable[..., Awaitable[object]], *args: Any) -> Operation:
    return lambda: function(*args)


def _figures(timings: list[float]) -> Figures:
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return Figures(p50=statistics.median(timings), p99=cuts[98], samples=len(timings))


Grouped = dict[str, dict[str, Figures]]


def _by_what_was_listed(timings: list[float], listed: list[int]) -> dict[str, Figures]:
    """A list's timings by how much it held: about half the hiring managers have nothing
    open, so the p50 of all of them sits on the step to those with one; and the busy ones'
    open verifications grow with the table (2 or 3 at 1,000, a page of 50 at a million), so
    only lists of one compare like with like."""
    groups: dict[str, list[float]] = {group: [] for group in LIST_GROUPS}
    for timing, count in zip(timings, listed, strict=True):
        groups[LIST_GROUPS[min(count, 2)]].append(timing)
    return {group: _figures(found) for group, found in groups.items() if len(found) >= 2}


async def measure(
    locations: tuple[str, str],
    samples: int,
    playbooks: Path,
    operations: tuple[str, ...] = OPERATIONS,
) -> tuple[dict[str, Figures], dict[str, Figures], tuple[Grouped, Grouped]]:
    """The operations on both databases, through the service and the HTTP app, side by side:
    each operation's samples in ROUNDS rounds that alternate between the two, so that the
    machine's drift during a run (a shared VM's) falls on both sizes alike; and the lists'
    timings by whether they held anything."""
    async with contextlib.AsyncExitStack() as stack:
        benches = [
            await stack.enter_async_context(_bench_on(where, playbooks)) for where in locations
        ]
        timings: dict[str, tuple[list[float], list[float]]] = {}
        for name in operations:
            timings[name] = ([], [])
            for number, count in enumerate(_rounds(samples)):
                warmup = min(WARMUP, samples) if number == 0 else 0
                for side in (0, 1) if number % 2 == 0 else (1, 0):
                    timings[name][side].extend(await benches[side].sample(name, count, warmup))
        grouped = tuple(
            {
                name: _by_what_was_listed(timings[name][side], listed)
                for name, listed in bench.listed.items()
            }
            for side, bench in enumerate(benches)
        )
    return (
        {name: _figures(both[0]) for name, both in timings.items()},
        {name: _figures(both[1]) for name, both in timings.items()},
        (grouped[0], grouped[1]),
    )


@contextlib.asynccontextmanager
async def _bench_on(location: str, playbooks: Path) -> AsyncIterator[Bench]:
    core = build_core(settings_for(location, playbooks))
    try:
        app = build_app(core, frontends=[ApiFrontend(core)])
        async with TestClient(TestServer(app)) as client:
            yield Bench(core, client)
    finally:
        core.close()


def _rounds(samples: int) -> list[int]:
    """`samples` split into at most ROUNDS near-equal rounds."""
    return [
        samples // ROUNDS + (1 if number < samples % ROUNDS else 0)
        for number in range(min(ROUNDS, samples))
    ]


# report


def report(
    base: Database,
    big: Database,
    small: dict[str, Figures],
    large: dict[str, Figures],
    grouped: tuple[Grouped, Grouped] = ({}, {}),
) -> dict[str, Any]:
    return {
        "backend": "postgresql" if is_database_url(big.location) else "sqlite",
        "databases": {
            str(db.n): {**asdict(db), "bytes_per_verification": round(db.bytes_per_verification)}
            for db in (base, big)
        },
        "operations": {
            name: {
                str(base.n): asdict(small[name]),
                str(big.n): asdict(large[name]),
                "ratio": round(large[name].p50 / small[name].p50, 2),
            }
            for name in small
        },
        "lists_by_what_they_held": {
            name: {
                group: {
                    str(db.n): {**asdict(figures), "share": round(figures.samples / total, 2)}
                    for db, figures, total in (
                        (base, groups[group], small[name].samples),
                        (big, grouped[1][name][group], large[name].samples),
                    )
                }
                | {"ratio": round(grouped[1][name][group].p50 / groups[group].p50, 2)}
                for group in groups
                if group in grouped[1][name]
            }
            for name, groups in grouped[0].items()
        },
    }


def print_table(result: dict[str, Any]) -> None:
    dbs = list(result["databases"].values())
    low, high = (f"{db['n']:,}" for db in dbs)
    print(f"backend: {result['backend']}")
    for db in dbs:
        print(
            f"  {db['n']:>9,} verifications: built in {db['build_seconds']:.0f} s, "
            f"{db['bytes'] / 1e6:,.1f} MB, {db['bytes_per_verification']:,} bytes/verification"
        )
    print(f"{'operation':<16}{low + ' p50':>12}{'p99':>9}{high + ' p50':>15}{'p99':>9}{'ratio':>8}")
    for name, row in result["operations"].items():
        small, large = row[low.replace(",", "")], row[high.replace(",", "")]
        print(
            f"{name:<16}{small['p50']:>10.2f}ms{small['p99']:>7.2f}ms"
            f"{large['p50']:>13.2f}ms{large['p99']:>7.2f}ms{row['ratio']:>7.2f}x"
        )
    for name, groups in result["lists_by_what_they_held"].items():
        print(f"{name}, by what the list held (p50, share of the samples):")
        for group, row in groups.items():
            small, large = row[low.replace(",", "")], row[high.replace(",", "")]
            print(
                f"  {group:<14}{small['p50']:>10.2f}ms{small['share']:>6.0%}"
                f"{large['p50']:>13.2f}ms{large['share']:>6.0%}{row['ratio']:>10.2f}x"
            )


def run(
    n: int,
    database_url: str | None,
    data_dir: Path,
    samples: int,
    rebuild: bool = False,
    progress: bool = False,
    baseline: int = BASELINE,
    operations: tuple[str, ...] = OPERATIONS,
) -> dict[str, Any]:
    """Build (or reuse) the databases of `baseline` and n verifications and measure both."""
    base = prepare(baseline, data_dir, database_url, progress=progress)
    big = prepare(n, data_dir, database_url, rebuild, progress)
    with playbook_dir() as playbooks:
        locations = (
            location_of(baseline, data_dir, database_url),
            location_of(n, data_dir, database_url),
        )
        small, large, grouped = asyncio.run(measure(locations, samples, playbooks, operations))
    return report(base, big, small, large, grouped)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--verifications", type=int, default=DEFAULT_N, metavar="N")
    parser.add_argument("--database-url", help="postgresql://... (default: SQLite files)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where SQLite files live")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    parser.add_argument("--baseline", type=int, default=BASELINE, help="the size to compare with")
    parser.add_argument("--rebuild", action="store_true", help="build the N database afresh")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--operation",
        action="append",
        choices=OPERATIONS,
        help="measure only this operation (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    result = run(
        args.verifications,
        args.database_url,
        args.data_dir,
        args.samples,
        args.rebuild,
        progress=not args.json,
        baseline=args.baseline,
        operations=tuple(args.operation or OPERATIONS),
    )
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)


if __name__ == "__main__":
    main()
