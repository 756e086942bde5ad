"""Durations written like `90s`, `24h`, `3d`, and working time (`Mon-Fri 09:00-17:00 Zone`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$", re.IGNORECASE)
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS = re.compile(
    r"^\s*(?P<days>[A-Za-z]{3}(?:\s*[-,]\s*[A-Za-z]{3})*)\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s+(?P<zone>\S+)\s*$"
)
MAX_DAYS_SEARCHED = 3660


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `24h`, `3d`, `2w`; ValueError saying how to write one otherwise."""
    match = DURATION.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a duration; write a number and s, m, h, d or w: 24h")
    amount = int(match.group(1))
    if amount == 0:
        raise ValueError("must be longer than 0")
    return timedelta(**{UNITS[match.group(2).lower()]: amount})


def format_duration(span: timedelta) -> str:
    """A duration the short way round: `3d 4h`, `2h 5m`, `40s`."""
    seconds = max(int(span.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value][:2]
    return " ".join(shown) or "0s"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError if there is none of that name."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone; use an IANA name like Europe/Berlin"
        ) from None


def _day_set(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in re.split(r"\s*,\s*", text.strip().lower()):
        first, _, last = (piece.strip() for piece in part.partition("-"))
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"{part!r}: days are Mon, Tue, Wed, Thu, Fri, Sat, Sun")
        start, end = DAYS.index(first), DAYS.index(last or first)
        span = range(start, end + 1) if start <= end else [*range(start, 7), *range(0, end + 1)]
        days.update(span)
    return frozenset(days)


def _clock_time(text: str) -> time:
    hours, minutes = (int(piece) for piece in text.split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text!r} is not a time of day")
    return time(hours, minutes)


@dataclass(frozen=True)
class BusinessHours:
    """The working week: the days, the hours of each, and the time zone they are in."""

    days: frozenset[int]
    opens: time
    closes: time
    tz: ZoneInfo

    @classmethod
    def parse(cls, text: str) -> BusinessHours:
        """`Mon-Fri 09:00-17:00 America/New_York`; ValueError naming the bad part."""
        match = HOURS.match(text or "")
        if not match:
            raise ValueError(
                f"{text!r}: write days, hours and a time zone: Mon-Fri 09:00-17:00 Europe/Berlin"
            )
        opens, closes = _clock_time(match["start"]), _clock_time(match["end"])
        if closes <= opens:
            raise ValueError(f"{text!r}: the day must end after it starts")
        return cls(_day_set(match["days"]), opens, closes, zone(match["zone"]))

    def _window(self, day: date) -> tuple[datetime, datetime]:
        opens = datetime.combine(day, self.opens, self.tz).astimezone(UTC)
        closes = datetime.combine(day, self.closes, self.tz).astimezone(UTC)
        return opens, closes

    def add(self, start: datetime, span: timedelta) -> datetime:
        """The moment `span` of working time after `start` has passed."""
        remaining = span
        cursor = start.astimezone(UTC)
        day = cursor.astimezone(self.tz).date()
        for _ in range(MAX_DAYS_SEARCHED):
            if day.weekday() in self.days:
                opens, closes = self._window(day)
                cursor = max(cursor, opens)
                if cursor < closes:
                    available = closes - cursor
                    if remaining <= available:
                        return cursor + remaining
                    remaining -= available
            day += timedelta(days=1)
        raise ValueError("no working time in ten years")


@dataclass(frozen=True)
class WorkClock:
    """Adds durations in wall time, or in working time when business hours are set."""

    hours: BusinessHours | None = None

    def add(self, start: datetime, span: timedelta) -> datetime:
        return self.hours.add(start, span) if self.hours else start + span
