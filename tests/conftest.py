"""Fixtures of the core suite: a real SQLite file per test, the wired core, actors,
candidate details and a notifier that records what the outbox delivers to it."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from bot.config import Settings
from bot.models import Actor, AnswerOutcome, Platform
from bot.notices import Notice
from bot.outbox import Backoff, DeliveryError
from bot.runtime import Core, build_core
from tests.database import database_settings, fresh_database

REPO_ROOT = Path(__file__).resolve().parents[1]
PLAYBOOK_DIR = REPO_ROOT / "playbooks"
SECURITY_USER = "sec-1"
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RecordingNotifier:
    """Records every notice it delivers; can fail (DeliveryError) or crash the next N times."""

    def __init__(
        self,
        target: str = "console",
        fail: int = 0,
        retry_after: float | None = None,
        crash: int = 0,
    ) -> None:
        self.target = target
        self.fail = fail
        self.retry_after = retry_after
        self.crash = crash
        self.attempts = 0
        self.delivered: list[tuple[Notice, str | None]] = []

    async def deliver(self, notice: Notice, thread_ref: str | None) -> str | None:
        self.attempts += 1
        if self.crash > 0:
            self.crash -= 1
            raise RuntimeError("notifier bug")
        if self.fail > 0:
            self.fail -= 1
            raise DeliveryError("platform unavailable", retry_after=self.retry_after)
        self.delivered.append((notice, thread_ref))
        return thread_ref or f"{self.target}-msg-{len(self.delivered)}"

    @property
    def notices(self) -> list[Notice]:
        return [notice for notice, _ in self.delivered]

    @property
    def thread_refs(self) -> list[str | None]:
        return [thread_ref for _, thread_ref in self.delivered]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "verifybot.db"


@pytest.fixture
def database(db_path: Path) -> Iterator[str]:
    """The test's database: `db_path`, or a fresh PostgreSQL schema (tests/database.py)."""
    with fresh_database(db_path) as location:
        yield location


@pytest.fixture
def settings(database: str) -> Settings:
    return Settings(
        playbooks_dir=str(PLAYBOOK_DIR),
        slack_security_users=frozenset({SECURITY_USER}),
        **database_settings(database),
    )


@pytest.fixture
def make_core(settings: Settings, clock: FakeClock) -> Iterator[Callable[..., Core]]:
    """build_core on the test's database; keyword arguments override settings."""
    built: list[Core] = []

    def make(notifiers: tuple = (), **overrides: Any) -> Core:
        core = build_core(
            settings.model_copy(update=overrides),
            notifiers=notifiers,
            clock=clock,
            backoff=Backoff(base=0.01, cap=0.02, seed=7),
        )
        built.append(core)
        return core

    yield make
    for core in built:
        core.close()


@pytest.fixture
def core(make_core: Callable[..., Core]) -> Core:
    return make_core()


@pytest.fixture
def service(core: Core):
    return core.service


@pytest.fixture
def store(core: Core):
    return core.store


@pytest.fixture
def notifier_class() -> type[RecordingNotifier]:
    return RecordingNotifier


@pytest.fixture
def security_notifier(core: Core) -> RecordingNotifier:
    """A recording notifier for the "slack" target, the security channel and direct messages."""
    notifier = RecordingNotifier("slack")
    core.add_notifier(notifier)
    return notifier


@pytest.fixture
def actor() -> Callable[..., Actor]:
    def make(
        user_id: str = "hm-1", platform: Platform | str = Platform.SLACK, **extra: Any
    ) -> Actor:
        return Actor(user_id=user_id, platform=Platform(platform), **extra)

    return make


@pytest.fixture
def candidate() -> Callable[..., dict[str, Any]]:
    """Valid candidate details; each call gets its own email and US address unless given."""
    numbers = itertools.count(1)

    def make(**overrides: Any) -> dict[str, Any]:
        n = next(numbers)
        address = f"{100 + n} Elm Street, Springfield, IL 62701"
        details = {
            "name": f"Candidate {n}",
            "email": f"candidate{n}@example.com",
            "phone": f"+1 312 555 {100 + n % 100:04d}",
            "role": "Backend Engineer",
            "home_address": address,
            "shipping_address": address,
        }
        details.update(overrides)
        return details

    return make


PASS_ANSWERS: dict[str, dict[str, tuple[str, str | None]]] = {
    "pre-offer": {
        "notarized_id": ("verified", "Commission 12345, Cook County, IL"),
        "background_check": ("clear", None),
        "camera_interview": ("matched", None),
        "liveness_probes": ("natural", None),
        "education_history": ("consistent", None),
        "profile_photo": ("genuine", None),
    },
    "device-handover": {
        "edr_reporting": ("reporting", None),
        "remote_access_tools": ("none", None),
        "ip_kvm": ("none", None),
        "first_logins": ("consistent", None),
        "screen_sharing": ("none", None),
        "mfa_devices": ("own_only", None),
    },
}


@pytest.fixture
def pass_answers() -> dict[str, dict[str, tuple[str, str | None]]]:
    """The passing answer (and its note) of every answered step, by playbook."""
    return PASS_ANSWERS


@pytest.fixture
def answer_steps(service) -> Callable[..., Awaitable[AnswerOutcome | None]]:
    """Record answers given as {step: value} or {step: (value, note)}, in the given order."""

    async def record(
        who: Actor, verification_id: str, answers: Mapping[str, str | tuple[str, str | None]]
    ) -> AnswerOutcome | None:
        outcome = None
        for step_id, given in answers.items():
            value, note = given if isinstance(given, tuple) else (given, None)
            outcome = await service.answer(who, verification_id, step_id, value, note)
        return outcome

    return record


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment for running the real entry point: no verifybot settings leak in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("VERIFYBOT_", "SLACK_", "MICROSOFT"))
    }
    env["VERIFYBOT_LOG_LEVEL"] = "WARNING"
    env["HOME"] = str(tmp_path_factory.mktemp("home"))
    return env


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI configures logging and structlog globally; put both back afterwards."""
    saved_structlog = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    yield
    structlog.configure(**saved_structlog)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture
def cli_runner(
    restore_logging: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """`verifybot ARGS` in-process (click's CliRunner), in an empty working directory."""
    from click.testing import CliRunner

    from handlers.cli import main

    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("VERIFYBOT_"):
            monkeypatch.delenv(name)
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
        return runner.invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)

    return invoke


SQLITE_FILE_FIXTURES = frozenset({"db_path", "db", "cli_runner", "cli_env"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for a database file (or runs the CLI on one with --db) is about
    SQLite: marked sqlite_only, left out of the PostgreSQL run. The others ask for `database`."""
    for item in items:
        arguments = getattr(item, "_fixtureinfo", None)
        if arguments and SQLITE_FILE_FIXTURES & set(arguments.argnames):
            item.add_marker(pytest.mark.sqlite_only)
