"""The verifybot database: `Store` (bot/store/domain.py) on SQLite or PostgreSQL."""

from bot.store.domain import (
    GENESIS_HASH,
    ClaimedJobs,
    Clock,
    Person,
    Row,
    Store,
    iso,
    utc_now,
)

__all__ = ["GENESIS_HASH", "ClaimedJobs", "Clock", "Person", "Row", "Store", "iso", "utc_now"]
