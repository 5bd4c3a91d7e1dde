"""Helpers every backend shares: opaque cursors, facet names and sizes, page limits, histograms,
reading stored documents."""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from hub.errors import InvalidInput
from kb.base import DateHistogramBucket, OnUnreadable, UnreadableDocument

__all__ = [
    "CONVERSATION_FACETS",
    "FACET_SIZE",
    "MAX_LIMIT",
    "MESSAGE_FACETS",
    "CursorError",
    "bucket_start",
    "check_facets",
    "decode_cursor",
    "encode_cursor",
    "fill_histogram",
    "log_unreadable",
    "page_limit",
    "read_document",
]

logger = logging.getLogger("kb")

ModelT = TypeVar("ModelT", bound=BaseModel)

#: buckets a facet returns at most
FACET_SIZE = 20
#: hits a page returns at most, whatever the request asks
MAX_LIMIT = 1000

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


def check_facets(names: Iterable[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The facets to compute for ``names``: each once, in the order first asked.

    ``InvalidInput`` names the first of ``names`` that is not ``allowed``. Each facet is one
    aggregation over every match, so asking for one twice is never worth doing twice: a
    search computes at most ``len(allowed)`` facets however many names it is given.
    """
    unique = tuple(dict.fromkeys(names))
    unknown = [n for n in unique if n not in allowed]
    if unknown:
        raise InvalidInput(
            f"unknown facet {unknown[0]!r}; choose from {', '.join(allowed)}", expected=list(allowed)
        )
    return unique


def page_limit(limit: int) -> int:
    """The page size to serve for a requested ``limit`` (0 to :data:`MAX_LIMIT`)."""
    return max(0, min(limit, MAX_LIMIT))


class CursorError(InvalidInput):
    """A cursor that this search did not produce (tampered, or from another sort).

    Invalid input (answered 400), not a ``ValueError``, for the reason ``QuerySyntaxError`` gives.
    """


#: a cursor's key values travel as bound SQL parameters and ``search_after`` values: only
#: scalars that both accept (SQLite's INTEGER is 64-bit signed) may come back in one
_INT_RANGE = range(-(2**63), 2**63)


def _reject_constant(name: str) -> Any:
    raise CursorError(f"invalid cursor value {name}")


def _is_key_value(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    if isinstance(value, bool):  # a bool is an int to Python, but no sort key is ever one
        return False
    if isinstance(value, int):
        return value in _INT_RANGE
    # NaN and Infinity literals are refused while parsing; 1e999 parses as an infinite float
    return isinstance(value, float) and math.isfinite(value)


def encode_cursor(sort: str, key: list[Any]) -> str:
    raw = json.dumps([sort, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, *, length: int | None = None) -> list[Any]:
    """The sort key ``encode_cursor`` packed into ``cursor`` for ``sort``.

    Raises :class:`CursorError` (``InvalidInput``: the API answers 400) unless the cursor is
    a ``[sort, key]`` pair whose key is a list of ``length`` (when given) strings, 64-bit
    integers, finite floats or nulls: a crafted cursor never reaches a query as anything else.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()), parse_constant=_reject_constant)
    except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise CursorError("invalid cursor") from exc
    if not isinstance(decoded, list) or len(decoded) != 2:
        raise CursorError("invalid cursor")
    kind, key = decoded
    if kind != sort:
        raise CursorError(f"cursor was made for another sort, not {sort!r}")
    if not isinstance(key, list) or not all(_is_key_value(v) for v in key):
        raise CursorError("invalid cursor")
    if length is not None and len(key) != length:
        raise CursorError("invalid cursor")
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


def _why(exc: Exception) -> str:
    """What is wrong with a stored document, naming fields but never the stored values."""
    if isinstance(exc, ValidationError):
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def log_unreadable(document: UnreadableDocument) -> None:
    """The default report of a document a read left out: a warning naming it."""
    logger.warning(
        "skipped the stored %s %s, which no longer validates: %s", document.kind, document.id, document.reason
    )


def read_document(
    model: type[ModelT],
    kind: Literal["message", "conversation"],
    doc_id: str,
    stored: str | bytes | dict[str, Any] | None,
    on_unreadable: OnUnreadable | None = None,
) -> ModelT | None:
    """``stored`` (JSON text or a decoded object) as a ``model``, or None after reporting it.

    A document that does not validate (an older shape, a damaged row, nesting past the
    parser's limits) is reported to ``on_unreadable`` (default :func:`log_unreadable`) so that
    a read over many documents leaves it out instead of failing on it.
    """
    try:
        if isinstance(stored, str | bytes):
            return model.model_validate_json(stored)
        return model.model_validate(stored)
    except (ValueError, RecursionError) as exc:  # ValidationError is a ValueError
        (on_unreadable or log_unreadable)(UnreadableDocument(kind, doc_id, _why(exc)))
        return None
