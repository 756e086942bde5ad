"""A database of N realistic verifications for bench/scale.py, written in bulk.

Every row is made by the functions the store itself uses (candidate_row, blind_indexes,
seal_columns, Vault.wrap, Store.event_mac, the evaluator) and written in chunks, one
transaction each: executemany on SQLite, COPY on PostgreSQL. Secondary indexes are dropped
for the load and created again from their own definitions afterwards.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.candidates import InvalidCandidate, candidate_row
from bot.models import Actor, CandidateIn, Platform, Result
from bot.outcomes import derived_outcome
from bot.playbook import Check, Playbook, PlaybookRegistry
from bot.playbook_versions import PlaybookVersions
from bot.sealing import (
    ANSWER_COLUMNS,
    CANDIDATE_COLUMNS,
    ESCALATION_COLUMNS,
    blind_indexes,
    seal_columns,
)
from bot.signals import waiting_for
from bot.store import Row, Store
from bot.store.domain import _answer_key
from bot.store.sqlite import SqliteBackend


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


KEY_SETTINGS = {
    "audit": "bench-scale-audit-key-0123456789abcdefghij",
    "data": "bench-scale-data-key-0123456789abcdefghijk",
    "index": "bench-scale-index-key-0123456789abcdefghij",
}
BUILT = "bench_scale_built"
BUILD_SECONDS = "bench_scale_build_seconds"
CHUNK = 5_000
SECURITY_USER = "U0SECURITY"
BUSY_MANAGERS = 5
BUSY_SHARE = 0.3
SPAN = timedelta(days=730)
RECENT = timedelta(days=30)
BULK_TABLES = ("candidates", "candidate_keys", "verifications", "answers", "escalations", "events")

FIRST = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew "
    "Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Dorothy George Melissa Timothy "
    "Deborah Wei Mei Hiroshi Yuki Aarav Priya Mohammed Fatima Olga Ivan Sven Ingrid Pierre "
    "Amelie Giulia Marco Chidi Ngozi Kwame Ama Diego Lucia Mateo Sofia Jae Min Thanh Linh "
    "Oluwaseun Anika Rahul Sanjay Lakshmi Omar Layla Tomasz Agnieszka Lars Freya"
)
LAST = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Kim Park Chen "
    "Wang Li Zhang Liu Tanaka Suzuki Sato Patel Shah Singh Kumar Gupta Okafor Mensah Adeyemi "
    "Kowalski Nowak Novak Muller Schmidt Schneider Fischer Weber Rossi Russo Ferrari Dubois "
    "Moreau Laurent Silva Santos Oliveira Pereira Ivanov Petrov Hansen Johansson Nielsen Murphy "
    "OBrien Kelly Walsh Byrne Cohen Levi Haddad Khan Ali Hassan Yilmaz Demir Tran Pham"
)
STREETS = _words(
    "Main Oak Pine Maple Cedar Elm Washington Lake Hill Park Sunset Lincoln Jackson Franklin "
    "Highland Madison Meadow Forest River Church Spring Ridge Valley Willow Walnut Cherry "
    "Chestnut Adams Jefferson Center Mill Union Prospect Broad Market Water Court Spruce Birch "
    "Dogwood Magnolia Laurel Hickory Sycamore Poplar Aspen Juniper Cypress Holly Orchard Lee "
    "Grant Monroe Harrison Wilson Taylor Clay Bay Harbor Summit Fairview Grove Glen Heather"
)
SUFFIXES = ("St", "Ave", "Rd", "Blvd", "Dr", "Ln", "Ct", "Way", "Pl", "Ter")
CITIES = (
    ("Springfield", "IL", "62701"),
    ("Portland", "OR", "97201"),
    ("Austin", "TX", "78701"),
    ("Denver", "CO", "80202"),
    ("Seattle", "WA", "98101"),
    ("Boston", "MA", "02108"),
    ("Atlanta", "GA", "30303"),
    ("Phoenix", "AZ", "85004"),
    ("Columbus", "OH", "43215"),
    ("Nashville", "TN", "37203"),
    ("Raleigh", "NC", "27601"),
    ("Madison", "WI", "53703"),
    ("Omaha", "NE", "68102"),
    ("Tucson", "AZ", "85701"),
    ("Fresno", "CA", "93721"),
    ("Sacramento", "CA", "95814"),
    ("Oakland", "CA", "94612"),
    ("Miami", "FL", "33130"),
    ("Tampa", "FL", "33602"),
    ("Orlando", "FL", "32801"),
    ("Richmond", "VA", "23219"),
    ("Pittsburgh", "PA", "15222"),
    ("Cleveland", "OH", "44113"),
    ("Detroit", "MI", "48226"),
    ("Minneapolis", "MN", "55401"),
    ("Kansas City", "MO", "64105"),
    ("St Louis", "MO", "63101"),
    ("Salt Lake City", "UT", "84101"),
    ("Albuquerque", "NM", "87102"),
    ("Boise", "ID", "83702"),
    ("Des Moines", "IA", "50309"),
    ("Louisville", "KY", "40202"),
    ("Newark", "NJ", "07102"),
    ("Hartford", "CT", "06103"),
    ("Providence", "RI", "02903"),
    ("Baltimore", "MD", "21202"),
    ("Charlotte", "NC", "28202"),
    ("Dallas", "TX", "75201"),
    ("Houston", "TX", "77002"),
    ("San Antonio", "TX", "78205"),
)
AREA_CODES = _words(
    "201 202 206 212 213 214 215 216 217 303 305 312 313 314 317 404 408 412 415 469 470 480 "
    "502 503 512 513 515 602 612 614 615 617 619 626 646 702 704 713 714 718 720 727 801 813 "
    "816 818 832 857 901 904 916 919 925 949 954 971 972"
)
DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com", "fastmail.com")
ROLES = ("Backend Engineer", "Frontend Engineer", "Data Engineer", "SRE", "Mobile Engineer")


@dataclass
class Chunk:
    """Rows of every bulk table, in column order, for one transaction."""

    rows: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {table: [] for table in BULK_TABLES}
    )
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, table: str, row: Row) -> None:
        self.columns.setdefault(table, tuple(row))
        self.rows[table].append(tuple(row[name] for name in self.columns[table]))


@dataclass
class Counters:
    """The next ids of the tables whose ids the builder assigns, and the audit chain's head."""

    candidate: int
    answer: int
    escalation: int
    event: int
    head: str


class Builder:
    """Writes N verifications of the pre-offer playbook into an open store."""

    def __init__(self, store: Store, playbook: Playbook, n: int, seed: int = 7) -> None:
        self.store = store
        self.playbook = playbook
        self.n = n
        self.rng = random.Random(seed)
        self.ids: set[str] = set()
        self.emails: list[str] = []
        self.managers = [f"U0HM{i:05d}" for i in range(max(n // 25, 1))]
        self.started = datetime.now(UTC) - SPAN
        self.step = SPAN / max(n, 1)

    # people

    def candidate(self, index: int, recent: bool) -> CandidateIn:
        """A varied candidate: most ship to home; some recent ones gave no shipping address yet."""
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        middle = f" {rng.choice('ABCDEFGHJKLMNPRSTW')}." if rng.random() < 0.6 else ""
        separator = rng.choice((".", "_", ""))
        email = f"{first}{separator}{last}{index}@{rng.choice(DOMAINS)}".lower()
        home = self.address()
        roll = rng.random()
        shipping = home if roll < 0.85 else self.address() if roll < 0.95 or not recent else None
        referred_by = rng.choice(self.emails) if self.emails and rng.random() < 0.03 else None
        payout = f"GB{rng.randrange(10, 99)} BANK {rng.randrange(10**13, 10**14)}"
        return CandidateIn.model_construct(
            name=f"{first}{middle} {last}",
            email=email,
            phone=f"+1{rng.choice(AREA_CODES)}{rng.randrange(200, 999)}{rng.randrange(10**4):04d}",
            role=rng.choice(ROLES),
            home_address=home,
            shipping_address=shipping,
            payout_account=payout if rng.random() < 0.6 else None,
            referred_by=referred_by,
            start_date=None,
        )

    def address(self) -> str:
        rng = self.rng
        city, state, zip_code = rng.choice(CITIES)
        unit = f" Apt {rng.randrange(1, 40)}" if rng.random() < 0.3 else ""
        street = f"{rng.randrange(1, 9999)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
        return f"{street}{unit}, {city}, {state} {zip_code}"

    def candidate_fields(self, index: int, recent: bool) -> Row:
        """candidate_row of a new candidate (an address that does not parse is drawn again);
        a shipping address equal to the home one is parsed once."""
        while True:
            details = self.candidate(index, recent)
            same = details.shipping_address == details.home_address
            try:
                row = candidate_row(
                    details.model_copy(update={"shipping_address": None}) if same else details
                )
            except InvalidCandidate:
                continue
            if same:
                row |= {
                    name.replace("home_", "shipping_"): value
                    for name, value in row.items()
                    if name.startswith("home_")
                }
                row["shipping_address"] = details.shipping_address
            self.emails.append(details.email)
            return row

    def owner(self) -> Actor:
        rng = self.rng
        if rng.random() < BUSY_SHARE:
            return Actor(user_id=f"U0BUSY{rng.randrange(BUSY_MANAGERS)}", platform=Platform.SLACK)
        platform = Platform.SLACK if rng.random() < 0.8 else Platform.TEAMS
        return Actor(user_id=rng.choice(self.managers), platform=platform)

    def verification_id(self) -> str:
        while True:
            found = f"VB-{self.rng.getrandbits(32):08X}"
            if found not in self.ids:
                self.ids.add(found)
                return found

    # one verification

    def add(self, chunk: Chunk, counters: Counters, index: int) -> None:
        """A candidate, their verification, its answers, an escalation for findings, events.

        Verifications of the last RECENT days are in any state; older ones are finished, a
        few of them cancelled half way.
        """
        vault = self.store.vault
        created = self.started + self.step * index
        recent = created > datetime.now(UTC) - RECENT
        cancelled = not recent and self.rng.random() < 0.03
        at = _clock(created)
        fields = self.candidate_fields(index, recent)
        candidate_id = counters.candidate
        counters.candidate += 1
        data_key = vault.new_data_key()
        personal = {name: fields.get(name) for name in CANDIDATE_COLUMNS}
        sealed = seal_columns(data_key, "candidates", candidate_id, personal, CANDIDATE_COLUMNS)
        chunk.add(
            "candidates",
            {
                "id": candidate_id,
                **sealed,
                **blind_indexes(vault, fields),
                "erased_at": None,
                "created_at": next(at),
            },
        )
        chunk.add(
            "candidate_keys",
            {"candidate_id": candidate_id, "wrapped": vault.wrap(data_key, candidate_id)},
        )
        owner = self.owner()
        verification_id = self.verification_id()
        event = EventWriter(self.store, chunk, counters, verification_id, owner)
        event.add(
            next(at),
            owner.user_id,
            "verification.started",
            {
                "playbook": self.playbook.id,
                "version": self.playbook.version,
                "candidate": candidate_id,
                "requested_by": owner.user_id,
                "platform": owner.platform.value,
            },
        )
        finished = not recent and not cancelled
        answers = self.answers(
            chunk, counters, verification_id, owner, fields, data_key, at, finished
        )
        for answer in answers:
            action = (
                "answer.computed" if answer["answered_by"] == "verifybot" else "answer.recorded"
            )
            event.add(
                answer["answered_at"],
                answer["answered_by"],
                action,
                {
                    "answer_id": answer["id"],
                    "step": answer["step_id"],
                    "answer": answer["value"],
                    "result": answer["result"],
                },
            )
        escalation = self.escalation(
            chunk, counters, verification_id, answers, data_key, at, recent
        )
        cancelled_at = next(at) if cancelled else None
        if cancelled_at is not None:
            event.add(cancelled_at, owner.user_id, "verification.cancelled", {})
        status = self.status(answers, escalation, cancelled)
        if escalation is not None:
            event.add(
                escalation["created_at"],
                "verifybot",
                "escalation.raised",
                {"escalation": escalation["id"], "outcome": status},
            )
        if status != "in_progress":
            event.add(next(at), "verifybot", "verification.outcome", {"to": status})
        chunk.add(
            "verifications",
            {
                "id": verification_id,
                "candidate_id": candidate_id,
                "playbook_id": self.playbook.id,
                "playbook_version": self.playbook.version,
                "requested_by": owner.user_id,
                "platform": owner.platform.value,
                "status": status,
                "start_key": None,
                "cancelled_at": cancelled_at,
                "created_at": _iso(created),
                "updated_at": _iso(created + timedelta(hours=1)),
            },
        )

    def answers(
        self,
        chunk: Chunk,
        counters: Counters,
        verification_id: str,
        owner: Actor,
        fields: Row,
        data_key: bytes,
        at: Iterator[str],
        finished: bool,
    ) -> list[Row]:
        """The first k steps the flow reaches answered (all when `finished`); mostly passes."""
        rng = self.rng
        reachable = [
            step
            for step in self.playbook.steps
            if step.check is None or waiting_for(step.check, fields) is None
        ]
        every = finished or rng.random() < 0.2
        count = len(reachable) if every else rng.randrange(len(reachable))
        while count < len(reachable) and reachable[count].computed and count > 0:
            count += 1
        rows = []
        for step in reachable[:count]:
            if step.computed:
                same = fields.get("shipping_normalized") == fields["home_normalized"]
                value = "match" if same else "mismatch"
                option = step.option("none" if step.check == Check.IDENTITY_SIGNALS else value)
            else:
                roll = rng.random()
                wanted = Result.BLOCK if roll < 0.007 else Result.REVIEW if roll < 0.022 else None
                options = [o for o in step.options if o.result == (wanted or Result.PASS)]
                option = rng.choice(options or list(step.options))
            assert option is not None
            note = (
                f"Checked, reference {rng.randrange(10**6):06d}" if option.note_required else None
            )
            row: Row = {
                "id": counters.answer,
                "verification_id": verification_id,
                "step_id": step.id,
                "value": option.value,
                "result": option.result.value,
                "note": note,
                "reason": option.label + (f": {note}" if note else ""),
                "answered_by": "verifybot" if step.computed else owner.user_id,
                "platform": owner.platform.value,
                "answered_at": next(at),
                "dedupe_key": None,
                "security_detail": None,
            }
            counters.answer += 1
            sealed = seal_columns(data_key, "answers", _answer_key(row), row, ANSWER_COLUMNS)
            chunk.add("answers", sealed)
            rows.append(row)
        return rows

    def escalation(
        self,
        chunk: Chunk,
        counters: Counters,
        verification_id: str,
        answers: list[Row],
        data_key: bytes,
        at: Iterator[str],
        recent: bool,
    ) -> Row | None:
        """An escalation when a finding was raised: open, acknowledged, cleared or confirmed
        (security decided the older ones)."""
        if all(answer["result"] == Result.PASS for answer in answers):
            return None
        weights = (40, 20, 30, 10) if recent else (0, 0, 75, 25)
        status = self.rng.choices(("open", "acknowledged", "cleared", "confirmed"), weights)[0]
        decided = status in ("cleared", "confirmed")
        escalation_id = counters.escalation
        counters.escalation += 1
        reason = "Checked with the candidate's references" if decided else None
        row: Row = {
            "id": escalation_id,
            "verification_id": verification_id,
            "status": status,
            "created_at": next(at),
            "decided_by": SECURITY_USER if decided else None,
            "decided_platform": "slack" if decided else None,
            "decided_at": next(at) if decided else None,
            "decision_reason": reason,
            "resolved_through": answers[-1]["id"] if status == "cleared" else 0,
            "reopened_at": None,
        }
        chunk.add(
            "escalations",
            seal_columns(data_key, "escalations", escalation_id, row, ESCALATION_COLUMNS),
        )
        return row

    def status(self, answers: list[Row], escalation: Row | None, cancelled: bool) -> str:
        """The stored outcome, as the service derives it."""
        steps = [step.id for step in self.playbook.steps]
        return derived_outcome(steps, answers, escalation, cancelled).value


class EventWriter:
    """Audit events of one verification, chained with the keyed MAC after the store's head."""

    def __init__(
        self, store: Store, chunk: Chunk, counters: Counters, verification_id: str, owner: Actor
    ) -> None:
        self.store = store
        self.chunk = chunk
        self.counters = counters
        self.verification_id = verification_id
        self.platform = owner.platform.value

    def add(self, at: str, actor: str, action: str, detail: Row) -> None:
        counters = self.counters
        row: Row = {
            "id": counters.event,
            "at": at,
            "actor": actor,
            "platform": self.platform,
            "action": action,
            "verification_id": self.verification_id,
            "detail": json.dumps(detail, sort_keys=True, default=str),
            "prev_hash": counters.head,
        }
        row["hash"] = self.store.event_mac(row)
        counters.event += 1
        counters.head = row["hash"]
        self.chunk.add("events", row)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _clock(start: datetime) -> Iterator[str]:
    """Moments a few seconds apart from `start`, as the store writes them."""
    moment = start
    while True:
        yield _iso(moment)
        moment += timedelta(seconds=7)


# writing


def _next_ids(store: Store) -> Counters:
    def after(table: str) -> int:
        row = store._row(f"SELECT coalesce(max(id), 0) AS n FROM {table}")
        return int(row["n"]) + 1 if row else 1

    _, head = store.audit_head()
    return Counters(
        after("candidates"), after("answers"), after("escalations"), after("events"), head
    )


def _secondary_indexes(store: Store) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the bulk tables' indexes that no constraint owns."""
    tables = ", ".join(f"'{table}'" for table in BULK_TABLES)
    if isinstance(store.db, SqliteBackend):
        rows = store._rows(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({tables})"
        )
        return [(row["name"], row["sql"]) for row in rows]
    rows = store._rows(
        "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = current_schema() "
        f"AND tablename IN ({tables}) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
    )
    return [(row["indexname"], row["indexdef"]) for row in rows]


def _write(store: Store, chunk: Chunk) -> None:
    """One transaction: executemany on SQLite, COPY on PostgreSQL."""
    if isinstance(store.db, SqliteBackend):
        with store.transaction():
            for table, rows in chunk.rows.items():
                if rows:
                    columns = chunk.columns[table]
                    marks = ", ".join("?" for _ in columns)
                    store.db.conn.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
                    )
        return
    pool = store.db.pool  # type: ignore[attr-defined]
    with pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
        for table, rows in chunk.rows.items():
            if rows:
                columns = ", ".join(chunk.columns[table])
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)


def _finish(store: Store) -> None:
    """PostgreSQL: identity sequences past the ids written, and fresh planner statistics."""
    if isinstance(store.db, SqliteBackend):
        return
    for table in ("candidates", "answers", "escalations", "events"):
        store.db.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 1) FROM {table}))"
        )
    for table in BULK_TABLES:
        store.db.execute(f"ANALYZE {table}")


def build(store: Store, playbooks: PlaybookRegistry, n: int, progress: bool = False) -> float:
    """Write n verifications of the default playbook into `store`; the seconds it took."""
    began = time.perf_counter()
    playbook = playbooks.get("pre-offer")
    with store.transaction():
        PlaybookVersions(store, playbooks).record(
            playbook, Actor(user_id="U0BENCH", platform=Platform.SLACK)
        )
    if isinstance(store.db, SqliteBackend):
        store.db.execute("PRAGMA cache_size = -400000")
    indexes = _secondary_indexes(store)
    for name, _ in indexes:
        store.db.execute(f"DROP INDEX {name}")
    builder = Builder(store, playbook, n)
    counters = _next_ids(store)
    for first in range(0, n, CHUNK):
        chunk = Chunk()
        for index in range(first, min(first + CHUNK, n)):
            builder.add(chunk, counters, index)
        _write(store, chunk)
        if progress and (first // CHUNK) % 20 == 0:
            rate = (first + CHUNK) / (time.perf_counter() - began)
            print(f"  built {first + CHUNK:>9,} ({rate:,.0f}/s)", flush=True)
    for _, statement in indexes:
        store.db.execute(statement)
    _finish(store)
    seconds = time.perf_counter() - began
    store.set_meta(BUILD_SECONDS, f"{seconds:.1f}")
    store.set_meta(BUILT, str(n))
    return seconds
