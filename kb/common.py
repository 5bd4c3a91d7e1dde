"""Helpers every backend shares: opaque cursors, facet names, date-histogram buckets."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from kb.base import DateHistogramBucket

__all__ = [
    "CONVERSATION_FACETS",
    "MESSAGE_FACETS",
    "bucket_start",
    "decode_cursor",
    "encode_cursor",
    "fill_histogram",
]

#: facet names a message search accepts
MESSAGE_FACETS = (
    "channel",
    "account",
    "language",
    "sentiment_label",
    "intent",
    "direction",
    "entities",
    "hashtags",
    "mentions",
    "sites",
    "authors",
    "status",
    "assignee",
    "queue",
    "tags",
)
#: facet names a conversation search accepts
CONVERSATION_FACETS = ("channel", "account", "status", "assignee", "queue", "priority", "tags", "languages")


class CursorError(ValueError):
    """A cursor that this search did not produce (tampered, or from another sort)."""


def encode_cursor(sort: str, key: list[Any]) -> str:
    raw = json.dumps([sort, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise CursorError("invalid cursor") from exc
    if kind != sort or not isinstance(key, list):
        raise CursorError(f"cursor was made for sort {kind!r}, not {sort!r}")
    return key


def bucket_start(moment: datetime, interval: str) -> datetime:
    """The start of the histogram bucket holding ``moment`` (weeks start on Monday, UTC)."""
    moment = moment.astimezone(UTC)
    if interval == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_bucket(start: datetime, interval: str) -> datetime:
    if interval == "hour":
        return start + timedelta(hours=1)
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(weeks=1)
    return (start + timedelta(days=32)).replace(day=1)


def fill_histogram(
    counts: dict[datetime, int], interval: str, max_buckets: int = 5000
) -> list[DateHistogramBucket]:
    """Buckets from the first to the last non-empty one, empty ones included (as ES returns)."""
    if not counts:
        return []
    start, end = min(counts), max(counts)
    out: list[DateHistogramBucket] = []
    current = start
    while current <= end and len(out) < max_buckets:
        out.append(DateHistogramBucket(current, counts.get(current, 0)))
        current = _next_bucket(current, interval)
    return out
