"""Cursor bookkeeping, backoff and Retry-After: pure functions, no clock, no network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.feeds.cursor import FeedCursor
from channels.feeds.fetch import parse_retry_after
from hub.backoff import backoff_delay


def test_new_ids_keep_feed_order_and_drop_repeats() -> None:
    cursor = FeedCursor(url="u", seen=dict.fromkeys(["b"]))
    assert cursor.new_ids(["a", "b", "c", "a"]) == ["a", "c"]


def test_remember_is_bounded_but_keeps_ids_still_in_the_feed() -> None:
    cursor = FeedCursor(url="u")
    cursor.remember([f"old{i}" for i in range(8)], capacity=10)
    current = ["old0", "old1", "n1", "n2", "n3", "n4"]
    cursor.remember(["n1", "n2", "n3", "n4"], capacity=10, current=current)
    assert len(cursor.seen) == 10
    # the oldest ids that the feed no longer carries went first; old0/old1 are still current
    assert {"old0", "old1", "n1", "n4"} <= set(cursor.seen)
    assert "old2" not in cursor.seen and "old3" not in cursor.seen


def test_remember_when_the_feed_is_longer_than_the_capacity() -> None:
    cursor = FeedCursor(url="u")
    ids = [str(i) for i in range(30)]
    cursor.remember(ids, capacity=10, current=ids)
    assert list(cursor.seen) == ids[-10:]


def test_state_round_trip() -> None:
    cursor = FeedCursor(url="u", etag='"x"', last_modified="Mon, 23 Nov 2026 10:00:00 GMT")
    cursor.remember(["a", "b"], capacity=10)
    cursor.failed(100.0, "boom", interval_s=900, base_s=60, max_s=3600, status=503)
    again = FeedCursor.from_state(cursor.to_state())
    assert again == cursor


@pytest.mark.parametrize(
    ("failures", "interval", "expected"),
    [(1, 60, 60), (2, 60, 120), (3, 60, 240), (10, 60, 3600), (1, 900, 900), (5, 900, 960), (40, 900, 3600)],
)
def test_backoff_doubles_from_base_never_below_interval_capped(
    failures: int, interval: float, expected: float
) -> None:
    # the feed's interval is the floor of the shared backoff rule (hub.backoff)
    assert backoff_delay(failures, base_s=60, max_s=3600, floor_s=interval) == expected
    cursor = FeedCursor(url="u", failures=failures - 1)
    assert cursor.failed(0.0, "503", interval_s=interval, base_s=60, max_s=3600) == expected


def test_failed_honours_retry_after_over_backoff() -> None:
    cursor = FeedCursor(url="u")
    assert cursor.failed(1000.0, "429", interval_s=900, base_s=60, max_s=3600, retry_after=30) == 30
    assert cursor.next_poll_at == 1030.0 and cursor.failures == 1
    # an absurd Retry-After is capped at the maximum backoff
    assert cursor.failed(1000.0, "429", interval_s=900, base_s=60, max_s=3600, retry_after=10**9) == 3600
    cursor.succeeded(2000.0, 900, 200)
    assert cursor.failures == 0 and cursor.last_error is None and cursor.next_poll_at == 2900.0


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Mon, 23 Nov 2026 12:02:00 GMT", now=now) == 120.0
    assert parse_retry_after("Mon, 23 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retry_after_never_exceeds_the_backoff_cap_even_for_slow_feeds() -> None:
    cursor = FeedCursor(url="u")
    weekly = 7 * 24 * 3600.0
    assert cursor.failed(0.0, "429", interval_s=weekly, base_s=60, max_s=3600, retry_after=10**9) == 3600
    assert cursor.next_poll_at == 3600.0


@pytest.mark.parametrize("bad", [-5.0, float("nan")])
def test_negative_or_nan_retry_after_falls_back_to_backoff(bad: float) -> None:
    cursor = FeedCursor(url="u")
    expected = backoff_delay(1, base_s=60, max_s=3600, floor_s=900)
    assert cursor.failed(0.0, "503", interval_s=900, base_s=60, max_s=3600, retry_after=bad) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("999999999", 3600.0),  # 31 years
        ("1" + "0" * 400, 3600.0),  # a float infinity
        ("Thu, 01 Jan 2099 00:00:00 GMT", 3600.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),
        ("  90 ", 90.0),
        ("Mon, 23 Nov 2026 12:02:00 GMT", 120.0),
        ("-5", None),
        ("1.5", None),
        ("²", None),  # a unicode digit: str.isdigit says yes, float() says no
        ("Mon, 99 Foo 2026 25:61:00 GMT", None),
        ("", None),
    ],
)
def test_parse_retry_after_is_capped_and_ignores_garbage(header: str, expected: float | None) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_retry_after(header, max_s=3600.0, now=now) == expected
