"""Listening tables over monitors' window counts, checked against hand counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.listening import (
    ListeningWindow,
    buckets,
    language_mix_table,
    sentiment_share_table,
    share_of_voice_table,
    top_table,
    volume_table,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)


def window(monitor: str, minutes: int, volume: int, **counts: dict[str, int]) -> ListeningWindow:
    start = T0 + timedelta(minutes=minutes)
    return ListeningWindow(monitor=monitor, start=start, end=start + FIVE, volume=volume, **counts)


WINDOWS = [
    window(
        "tidepool",
        0,
        4,
        sentiment={"positive": 1, "negative": 2, "unknown": 1},
        channels={"twitter": 3, "email": 1},
        languages={"en": 3, "fr": 1},
        hashtags={"#leak": 2, "#love": 1},
        authors={"tw:ann": 3, "tw:bob": 1},
    ),
    window("tidepool", 65, 2, sentiment={"neutral": 2}, channels={"twitter": 2}, languages={"en": 2}),
    window("rival", 5, 6, sentiment={"positive": 6}, channels={"twitter": 6}, hashtags={"#rival": 6}),
    window("rival", 24 * 60, 100),  # outside the period
]
UNTIL = T0 + timedelta(hours=2)


def test_volume_per_hour_lists_every_bucket_with_zeros() -> None:
    table = volume_table(WINDOWS, since=T0, until=UNTIL, step=timedelta(hours=1))
    assert table.records() == [
        {"start": T0, "monitor": "rival", "messages": 6},
        {"start": T0, "monitor": "tidepool", "messages": 4},
        {"start": T0 + timedelta(hours=1), "monitor": "rival", "messages": 0},
        {"start": T0 + timedelta(hours=1), "monitor": "tidepool", "messages": 2},
    ]
    by_channel = volume_table(WINDOWS, since=T0, until=UNTIL, step=timedelta(hours=2), by_channel=True)
    totals: dict[tuple[str, str], int] = {}
    for r in by_channel.records():
        key = (str(r["monitor"]), str(r["channel"]))
        totals[key] = totals.get(key, 0) + int(r["messages"] or 0)
    assert totals == {
        ("rival", "twitter"): 6,
        ("tidepool", "email"): 1,
        ("tidepool", "twitter"): 5,
    }


def test_sentiment_share_leaves_unknown_out_of_the_shares() -> None:
    rows = {r["monitor"]: r for r in sentiment_share_table(WINDOWS, since=T0, until=UNTIL).records()}
    tide = rows["tidepool"]
    assert (tide["positive"], tide["neutral"], tide["negative"], tide["unknown"]) == (1, 2, 2, 1)
    assert tide["negative_share"] == pytest.approx(0.4)
    assert rows["rival"]["positive_share"] == 1.0


def test_share_of_voice_top_terms_by_volume_and_reach_and_language_mix() -> None:
    voice = share_of_voice_table(WINDOWS, since=T0, until=UNTIL).records()
    assert [(r["monitor"], r["messages"]) for r in voice] == [("rival", 6), ("tidepool", 6)]
    assert sum(r["share"] for r in voice) == pytest.approx(1.0)
    tags = top_table(WINDOWS, kind="hashtags", since=T0, until=UNTIL, limit=1).records()
    assert [(r["monitor"], r["hashtag"], r["messages"]) for r in tags] == [
        ("rival", "#rival", 6),
        ("tidepool", "#leak", 2),
    ]
    reach = top_table(WINDOWS, kind="authors", since=T0, until=UNTIL, reach={"tw:bob": 50_000, "tw:ann": 10})
    assert [r["author"] for r in reach.records()] == ["tw:bob", "tw:ann"]
    mix = language_mix_table(WINDOWS, since=T0, until=UNTIL).records()
    assert [(r["language"], r["messages"]) for r in mix if r["monitor"] == "tidepool"] == [
        ("en", 5),
        ("fr", 1),
    ]
    with pytest.raises(ValueError, match="unknown kind"):
        top_table(WINDOWS, kind="cats", since=T0, until=UNTIL)


def test_buckets_align_to_the_step_and_refuse_absurd_requests() -> None:
    assert buckets(T0 + timedelta(minutes=7), T0 + timedelta(minutes=20), FIVE) == [
        T0 + timedelta(minutes=m) for m in (5, 10, 15)
    ]
    with pytest.raises(ValueError):
        buckets(T0, UNTIL, timedelta(0))
    with pytest.raises(ValueError):
        buckets(T0, T0 + timedelta(days=3650), timedelta(minutes=1))
