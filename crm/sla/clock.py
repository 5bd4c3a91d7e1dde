"""Business time: how much working time lies between two instants, and when a target falls due.

Pure functions over aware datetimes (any zone in, UTC out); no I/O.

A :class:`BusinessCalendar` names an IANA time zone, the working hours of each week day (local
wall-clock intervals, e.g. ``09:00-17:00``, several per day allowed) and holidays (local dates
with no working time). ``calendar=None`` means calendar time: every instant counts.

Working intervals are built from local wall-clock times and converted to UTC one day at a time
with :mod:`zoneinfo`, which is what makes the clocks right across DST changes: a working day
of 09:00-17:00 is 8 hours whether the night before was 23 or 25 hours long; an interval that
spans a change (e.g. 00:00-24:00 on the day clocks go forward) is as long as it really is (23
hours). A local time that does not exist (in the spring gap) is read with the offset in force
before the gap, i.e. it lands just after the gap; an ambiguous one (autumn) is its first
occurrence.

*Pauses* are UTC intervals (waiting on the customer, snoozed, resolved) that do not count,
whatever the calendar says. A pause with no end (``None``) is still running.

Contract, for any calendar and closed pauses, ``t >= 0`` (tested as properties):

* ``elapsed(start, due_at(start, t)) == t`` exactly (microseconds);
* ``elapsed`` grows with ``end`` and ``due_at`` grows with ``t``;
* ``due_at(start, t) >= start``; it is ``None`` when an open pause stops the clock before the
  target is reached.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "WEEKDAYS",
    "BusinessCalendar",
    "Interval",
    "Pause",
    "due_at",
    "elapsed",
    "merge_pauses",
    "working_intervals",
]

#: week day names as they are written in a calendar, Monday first (``date.weekday()`` order)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: how far ahead ``due_at`` looks for working time before deciding a calendar has none
SEARCH_LIMIT = timedelta(days=366 * 5)
DAY_MINUTES = 24 * 60
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")

Interval = tuple[datetime, datetime]
Pause = tuple[datetime, datetime | None]


def parse_hours(text: str) -> tuple[int, int]:
    """``"09:00-17:30"`` -> minutes since local midnight ``(540, 1050)``; ``24:00`` ends a day."""
    match = _HOURS.match(text.strip())
    if match is None:
        raise ValueError(f"working hours must look like 09:00-17:00, not {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or start > DAY_MINUTES or end > DAY_MINUTES or start >= end:
        raise ValueError(f"working hours {text!r} must be a range within one day, start before end")
    return start, end


@dataclass(frozen=True)
class BusinessCalendar:
    """Working time in one time zone: hours per week day (minutes since local midnight) and
    holidays. Build it with :meth:`from_spec` from the JSON a policy stores."""

    timezone: str
    #: per week day (0 = Monday), sorted non-overlapping ``(start, end)`` minute ranges
    hours: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {self.timezone!r} (use an IANA name such as Europe/Berlin)"
            ) from exc
        if len(self.hours) != 7:
            raise ValueError("hours must list the seven week days")
        if not any(self.hours):
            raise ValueError("a business calendar needs working hours on at least one week day")
        for ranges in self.hours:
            for (_, end), (start, _) in pairwise(ranges):
                if start < end:
                    raise ValueError("working hours of one day must not overlap")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_spec(
        cls, timezone: str, hours: Mapping[str, Sequence[str]], holidays: Iterable[date | str] = ()
    ) -> BusinessCalendar:
        """``hours`` maps week day names (``mon`` ... ``sun``) to ranges like ``"09:00-17:00"``;
        days left out have no working time. ``holidays`` are ISO dates."""
        unknown = sorted(set(hours) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown week day(s) {', '.join(unknown)}: use {', '.join(WEEKDAYS)}")
        per_day = tuple(tuple(sorted(parse_hours(text) for text in hours.get(day, ()))) for day in WEEKDAYS)
        days = frozenset(d if isinstance(d, date) else date.fromisoformat(d) for d in holidays)
        return cls(timezone=timezone, hours=per_day, holidays=days)

    def day_intervals(self, day: date) -> list[Interval]:
        """The working intervals of local date ``day``, in UTC, in order (none on a holiday)."""
        if day in self.holidays:
            return []
        zone = self.zone
        result: list[Interval] = []
        for start, end in self.hours[day.weekday()]:
            a = _local_to_utc(day, start, zone)
            b = _local_to_utc(day, end, zone)
            if b > a:  # a range entirely inside a spring gap has no length
                result.append((a, b))
        return result


def _local_to_utc(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    if minutes == DAY_MINUTES:
        day, minutes = day + timedelta(days=1), 0
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.astimezone(UTC)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("business time needs timezone-aware datetimes")
    return moment.astimezone(UTC)


def working_intervals(start: datetime, calendar: BusinessCalendar | None) -> Iterator[Interval]:
    """Working intervals from ``start`` on (the first one clipped to start at ``start``), in UTC;
    endless. Calendar time is one endless interval."""
    start = _utc(start)
    if calendar is None:
        yield start, datetime.max.replace(tzinfo=UTC)
        return
    # the local date of start, less one: a day's intervals can begin before its UTC midnight
    day = start.astimezone(calendar.zone).date() - timedelta(days=1)
    while True:
        for a, b in calendar.day_intervals(day):
            if b > start:
                yield max(a, start), b
        day += timedelta(days=1)


def merge_pauses(pauses: Iterable[Pause]) -> list[Pause]:
    """Pauses sorted and merged into disjoint intervals (an open pause swallows what follows)."""
    ordered = sorted(((_utc(a), None if b is None else _utc(b)) for a, b in pauses), key=lambda p: p[0])
    merged: list[Pause] = []
    for a, b in ordered:
        if b is not None and b <= a:
            continue
        if merged:
            last_a, last_b = merged[-1]
            if last_b is None:
                break
            if a <= last_b:
                merged[-1] = (last_a, None if b is None else max(last_b, b))
                continue
        merged.append((a, b))
    return merged


def _counted(interval: Interval, pauses: list[Pause]) -> Iterator[Interval]:
    """The parts of ``interval`` outside every pause, in order."""
    a, b = interval
    for p_start, p_end in pauses:
        if p_end is not None and p_end <= a:
            continue
        if p_start >= b:
            break
        if p_start > a:
            yield a, p_start
        if p_end is None:
            return
        a = max(a, p_end)
        if a >= b:
            return
    if a < b:
        yield a, b


def elapsed(
    start: datetime, end: datetime, calendar: BusinessCalendar | None, pauses: Iterable[Pause] = ()
) -> timedelta:
    """Working time between ``start`` and ``end`` outside ``pauses`` (zero when end <= start)."""
    start, end = _utc(start), _utc(end)
    total = timedelta(0)
    if end <= start:
        return total
    merged = merge_pauses(pauses)
    for a, b in working_intervals(start, calendar):
        if a >= end:
            break
        for x, y in _counted((a, min(b, end)), merged):
            total += y - x
    return total


def due_at(
    start: datetime, target: timedelta, calendar: BusinessCalendar | None, pauses: Iterable[Pause] = ()
) -> datetime | None:
    """The instant at which ``target`` of working time outside ``pauses`` has passed since
    ``start``; ``None`` when an open pause stops the clock first. Raises ``ValueError`` for a
    negative target or a calendar with no working time in the next five years."""
    if target < timedelta(0):
        raise ValueError("an SLA target cannot be negative")
    start = _utc(start)
    if target == timedelta(0):
        return start
    merged = merge_pauses(pauses)
    left = target
    for a, b in working_intervals(start, calendar):
        if a - start > SEARCH_LIMIT:
            raise ValueError("the calendar has no working time in the next five years (holidays?)")
        for x, y in _counted((a, b), merged):
            if y - x >= left:
                return x + left
            left -= y - x
        if merged and merged[-1][1] is None and merged[-1][0] <= b:
            return None  # the clock stopped for good inside this interval
    raise AssertionError("unreachable: working_intervals is endless")
