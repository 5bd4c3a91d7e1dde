"""Business time (``crm.sla.clock``): business hours, weekends, holidays, pauses and DST changes
in Europe/Berlin and America/New_York, and the properties every calendar keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.sla.clock import BusinessCalendar, due_at, elapsed, merge_pauses, parse_hours

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_17 = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.fixture
def office() -> BusinessCalendar:
    """Berlin office hours with Christmas off."""
    return BusinessCalendar.from_spec("Europe/Berlin", WEEKDAYS_9_17, holidays=["2026-12-25", "2026-12-24"])


def test_calendar_time_counts_every_instant_and_only_pauses_stop_it() -> None:
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert due_at(start, hours(4), None) == start + hours(4)
    pause = (start + hours(1), start + hours(2))
    assert due_at(start, hours(4), None, [pause]) == start + hours(5)
    assert elapsed(start, start + hours(5), None, [pause]) == hours(4)


def test_within_one_working_day(office: BusinessCalendar) -> None:
    assert due_at(berlin(2026, 11, 24, 10, 0), hours(2), office) == berlin(2026, 11, 24, 12, 0)
    assert elapsed(berlin(2026, 11, 24, 10, 0), berlin(2026, 11, 24, 12, 0), office) == hours(2)


def test_a_message_after_closing_waits_for_the_next_morning(office: BusinessCalendar) -> None:
    # Tuesday 18:30: nothing counts until Wednesday 09:00
    assert due_at(berlin(2026, 11, 24, 18, 30), hours(1), office) == berlin(2026, 11, 25, 10, 0)
    assert elapsed(berlin(2026, 11, 24, 18, 30), berlin(2026, 11, 25, 9, 0), office) == timedelta(0)


def test_targets_carry_over_closing_time_and_the_weekend(office: BusinessCalendar) -> None:
    # Friday 16:00 + 4 working hours: 1 h on Friday, 3 h on Monday
    assert due_at(berlin(2026, 11, 27, 16, 0), hours(4), office) == berlin(2026, 11, 30, 12, 0)
    # a message on Saturday: the clock starts on Monday morning
    assert due_at(berlin(2026, 11, 28, 11, 0), hours(1), office) == berlin(2026, 11, 30, 10, 0)
    assert elapsed(berlin(2026, 11, 27, 16, 0), berlin(2026, 11, 30, 12, 0), office) == hours(4)


def test_holidays_do_not_count(office: BusinessCalendar) -> None:
    # Wednesday 23 Dec 16:00 + 2 h: 1 h that day, 24 and 25 are holidays, 26-27 the weekend
    assert due_at(berlin(2026, 12, 23, 16, 0), hours(2), office) == berlin(2026, 12, 28, 10, 0)


def test_several_ranges_a_day_skip_the_lunch_break() -> None:
    split = BusinessCalendar.from_spec("Europe/Berlin", {"mon": ["09:00-12:00", "13:00-17:00"]})
    assert due_at(berlin(2026, 11, 23, 11, 0), hours(2), split) == berlin(2026, 11, 23, 14, 0)


def test_berlin_spring_forward_day_of_round_the_clock_work_is_23_hours() -> None:
    always = BusinessCalendar.from_spec("Europe/Berlin", {d: ["00:00-24:00"] for d in ("sat", "sun", "mon")})
    # 29 March 2026: clocks go from 02:00 to 03:00 in Berlin
    day_start, day_end = berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0)
    assert elapsed(day_start, day_end, always) == hours(23)
    # 01:30 + 1 h of working time is 03:30 local (02:30 never happens)
    assert due_at(berlin(2026, 3, 29, 1, 30), hours(1), always) == berlin(2026, 3, 29, 3, 30)


def test_berlin_fall_back_day_of_round_the_clock_work_is_25_hours() -> None:
    always = BusinessCalendar.from_spec("Europe/Berlin", {d: ["00:00-24:00"] for d in ("sat", "sun", "mon")})
    # 25 October 2026: clocks go from 03:00 back to 02:00
    assert elapsed(berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0), always) == hours(25)


def test_office_hours_stay_eight_hours_across_a_dst_weekend(office: BusinessCalendar) -> None:
    # Friday 27 March 15:00 (UTC+1) + 4 h: 2 h Friday, 2 h Monday 30 March (UTC+2): 11:00 local
    due = due_at(berlin(2026, 3, 27, 15, 0), hours(4), office)
    assert due == berlin(2026, 3, 30, 11, 0)
    assert due is not None and due.astimezone(UTC) == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
    # calendar time over the same span is one hour shorter than the wall clocks say
    wall = datetime(2026, 3, 30, 11, 0) - datetime(2026, 3, 27, 15, 0)
    assert elapsed(berlin(2026, 3, 27, 15, 0), berlin(2026, 3, 30, 11, 0), None) == wall - hours(1)


def test_new_york_dst_changes_move_working_hours_in_utc() -> None:
    nyc = BusinessCalendar.from_spec("America/New_York", WEEKDAYS_9_17)
    # 8 March 2026 (Sunday): New York springs forward. Friday 9:00 is 14:00 UTC, Monday 13:00 UTC
    due = due_at(new_york(2026, 3, 6, 16, 0), hours(2), nyc)
    assert due == new_york(2026, 3, 9, 10, 0)
    assert due is not None and due.astimezone(UTC) == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    # 1 November 2026 (Sunday): falls back; Friday 30 Oct 16:00 EDT + 2 h = Monday 10:00 EST
    due = due_at(new_york(2026, 10, 30, 16, 0), hours(2), nyc)
    assert due is not None and due.astimezone(UTC) == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def test_new_york_round_the_clock_sunday_of_the_change() -> None:
    sundays = BusinessCalendar.from_spec("America/New_York", {"sun": ["00:00-24:00"]})
    assert elapsed(new_york(2026, 3, 8, 0, 0), new_york(2026, 3, 9, 0, 0), sundays) == hours(23)
    assert elapsed(new_york(2026, 11, 1, 0, 0), new_york(2026, 11, 2, 0, 0), sundays) == hours(25)


def test_a_pause_spanning_closing_time_only_removes_working_time(office: BusinessCalendar) -> None:
    start = berlin(2026, 11, 24, 15, 0)  # Tuesday
    # pending from 16:00 Tuesday to 10:00 Wednesday: 1 h of working time lost (09:00-10:00)
    # plus 16:00-17:00 on Tuesday
    pause = (berlin(2026, 11, 24, 16, 0), berlin(2026, 11, 25, 10, 0))
    assert due_at(start, hours(3), office, [pause]) == berlin(2026, 11, 25, 12, 0)
    assert elapsed(start, berlin(2026, 11, 25, 12, 0), office, [pause]) == hours(3)
    # the same pause in calendar time removes all of its 18 hours
    assert elapsed(start, berlin(2026, 11, 25, 12, 0), None, [pause]) == hours(3)


def test_an_open_pause_stops_the_clock(office: BusinessCalendar) -> None:
    start = berlin(2026, 11, 24, 10, 0)
    assert due_at(start, hours(3), office, [(berlin(2026, 11, 24, 11, 0), None)]) is None
    # a target met before the pause began still has its due time
    assert due_at(start, hours(1), office, [(berlin(2026, 11, 24, 11, 0), None)]) == berlin(
        2026, 11, 24, 11, 0
    )
    assert elapsed(
        start, berlin(2026, 11, 25, 10, 0), office, [(berlin(2026, 11, 24, 11, 0), None)]
    ) == hours(1)


def test_merge_pauses_joins_overlaps_and_drops_empty_ones() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    merged = merge_pauses(
        [(t + hours(3), t + hours(5)), (t, t + hours(1)), (t + hours(4), t + hours(6)), (t, t)]
    )
    assert merged == [(t, t + hours(1)), (t + hours(3), t + hours(6))]
    assert merge_pauses([(t, None), (t + hours(1), t + hours(2))]) == [(t, None)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"mon": ["9-17"]}, "must look like"),
        ({"mon": ["17:00-09:00"]}, "start before end"),
        ({"funday": ["09:00-17:00"]}, "unknown week day"),
        ({}, "at least one week day"),
        ({"mon": ["09:00-13:00", "12:00-17:00"]}, "overlap"),
    ],
)
def test_bad_calendars_are_refused_with_a_reason(spec: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar.from_spec("Europe/Berlin", spec)


def test_unknown_zone_negative_target_and_naive_times_are_refused(office: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        BusinessCalendar.from_spec("Mars/Olympus", WEEKDAYS_9_17)
    with pytest.raises(ValueError, match="negative"):
        due_at(berlin(2026, 1, 5, 9, 0), hours(-1), office)
    with pytest.raises(ValueError, match="timezone-aware"):
        elapsed(datetime(2026, 1, 5, 9), datetime(2026, 1, 5, 10), office)
    assert parse_hours("00:00-24:00") == (0, 1440)


def test_a_calendar_whose_only_day_is_always_a_holiday_has_no_due_time() -> None:
    mondays = [f"{2026 + y}-01-05" for y in range(1)]  # one Monday off only: still has time
    cal = BusinessCalendar.from_spec("Europe/Berlin", {"mon": ["09:00-10:00"]}, holidays=mondays)
    assert due_at(berlin(2026, 1, 5, 9, 0), hours(1), cal) == berlin(2026, 1, 12, 10, 0)


# --- properties -----------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe", "Asia/Kolkata"]
RANGES = ["00:00-24:00", "09:00-17:00", "01:30-03:30", "22:00-24:00", "00:00-02:30"]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar | None:
    if draw(st.booleans()):
        return None
    days = draw(
        st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1, unique=True)
    )
    ranges = {day: [draw(st.sampled_from(RANGES))] for day in days}
    holidays = draw(
        st.lists(
            st.dates(min_value=datetime(2026, 1, 1).date(), max_value=datetime(2027, 1, 1).date()), max_size=5
        )
    )
    return BusinessCalendar.from_spec(draw(st.sampled_from(ZONES)), ranges, holidays)


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=6))


@st.composite
def pause_lists(draw: st.DrawFn, start: datetime) -> list[tuple[datetime, datetime | None]]:
    result: list[tuple[datetime, datetime | None]] = []
    for _ in range(draw(st.integers(0, 3))):
        a = start + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=4)))
        result.append((a, a + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)))))
    return result


@settings(max_examples=300, deadline=None)
@given(data=st.data(), calendar=calendars(), start=instants, target=durations)
def test_elapsed_until_the_due_time_is_the_target(
    data: st.DataObject, calendar: BusinessCalendar | None, start: datetime, target: timedelta
) -> None:
    pauses = data.draw(pause_lists(start))
    due = due_at(start, target, calendar, pauses)
    assert due is not None and due >= start
    assert elapsed(start, due, calendar, pauses) == target


@settings(max_examples=200, deadline=None)
@given(data=st.data(), calendar=calendars(), start=instants, a=durations, b=durations)
def test_due_times_and_elapsed_time_only_grow(
    data: st.DataObject, calendar: BusinessCalendar | None, start: datetime, a: timedelta, b: timedelta
) -> None:
    pauses = data.draw(pause_lists(start))
    small, large = sorted((a, b))
    due_small, due_large = due_at(start, small, calendar, pauses), due_at(start, large, calendar, pauses)
    assert due_small is not None and due_large is not None and due_small <= due_large
    end_small, end_large = start + small, start + large
    assert elapsed(start, end_small, calendar, pauses) <= elapsed(start, end_large, calendar, pauses)
    # elapsed is additive over a split point
    assert elapsed(start, end_large, calendar, pauses) == elapsed(
        start, end_small, calendar, pauses
    ) + elapsed(end_small, end_large, calendar, pauses)
