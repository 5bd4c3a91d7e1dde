"""Monitor windows: matched messages (hits) and the 5-minute counts recounted from them.

A window's counts are a pure function of the set of hits in it (:func:`aggregate`), and the
store keeps the hits themselves (``monitor_hits``, one row per monitor and message), so every
write path is the same idempotent operation, :func:`record_hits`: insert the hits that are new
(a replay or a message already counted inserts nothing), then recount each window that gained
one from its stored hits. The flow calls it when a window closes, the correction path for a
message later than the lateness, the backfill for history. Counting twice is impossible by
construction; losing a hit would need a lost write, which the flow's recovery replays.

Hits carry the monitor ``revision`` they were matched under: hits from before the monitor's
last edit are refused (the edit replaced its history with a backfill of the new query).

Hits are kept for ``monitors.hit_retention_days`` after their window was last updated; then
:func:`prune_hits` deletes them and *seals* the window: its counts are final, and a hit of it
that comes later (a replay, a very late message) is refused, since recounting the window from
that hit alone would lose the pruned ones. Editing the monitor clears its history, sealed
windows too, and the backfill counts it again from the knowledge base.

Windows are tumbling, :data:`WINDOW` long, aligned to the Unix epoch, by message time (UTC).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crm.ids import clean_text
from crm.schema import monitor_hits, monitor_windows, monitors
from hub.models import utcnow

__all__ = [
    "EPOCH",
    "SENTIMENTS",
    "TOP_N",
    "WINDOW",
    "Hit",
    "WindowCounts",
    "aggregate",
    "prune_hits",
    "record_hits",
    "window_start_of",
]

T = TypeVar("T")

log = logging.getLogger("parley.crm")

#: the window length: tumbling, by message time
WINDOW = timedelta(minutes=5)
#: windows are aligned to this instant (a multiple of WINDOW)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: how many hashtags, entities and authors a window keeps, most frequent first
TOP_N = 20
SENTIMENTS = ("negative", "neutral", "positive")


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _starts_by_monitor(keys: Iterable[tuple[str, datetime]]) -> Iterable[tuple[str, Sequence[datetime]]]:
    """(monitor id, up to 400 window starts) for ``keys`` (monitor id, window start), each
    once, sorted: statements over one monitor's windows use its (monitor_id, window_start)
    indexes and stay a few a monitor however many windows there are."""
    by_monitor: dict[str, list[datetime]] = {}
    for monitor_id, start in sorted(set(keys)):
        by_monitor.setdefault(monitor_id, []).append(start)
    for monitor_id, starts in by_monitor.items():
        for part in _chunks(starts, 400):
            yield monitor_id, part


def window_start_of(moment: datetime) -> datetime:
    """The start of the window holding ``moment`` (naive means UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment - ((moment - EPOCH) % WINDOW)


@dataclass(frozen=True)
class Hit:
    """One message matched by one monitor: what its windows count."""

    monitor_id: str
    revision: int
    message_id: str
    sent_at: datetime
    channel: str
    language: str
    #: negative | neutral | positive, or None (unknown: counted apart, never as neutral)
    sentiment: str | None
    author: str | None
    hashtags: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()

    @property
    def window_start(self) -> datetime:
        return window_start_of(self.sent_at)


@dataclass(frozen=True)
class WindowCounts:
    """What one monitor's window counts."""

    monitor_id: str
    window_start: datetime
    volume: int = 0
    sentiment: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    hashtags: list[tuple[str, int]] = field(default_factory=list)
    entities: list[tuple[str, int]] = field(default_factory=list)
    authors: list[tuple[str, int]] = field(default_factory=list)
    corrections: int = 0

    @property
    def window_end(self) -> datetime:
        return self.window_start + WINDOW

    @property
    def negative_share(self) -> float | None:
        """Negative over messages whose sentiment is known (None when none is)."""
        known = sum(self.sentiment.get(s, 0) for s in SENTIMENTS)
        return self.sentiment.get("negative", 0) / known if known else None


def _top(counter: Counter[str]) -> list[tuple[str, int]]:
    # ties by value, so the same hits always give the same list
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:TOP_N]


def aggregate(monitor_id: str, window_start: datetime, hits: Iterable[Hit]) -> WindowCounts:
    """The counts of ``hits`` (all in one window; each message once)."""
    unique = {hit.message_id: hit for hit in hits}.values()
    sentiment: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    hashtags: Counter[str] = Counter()
    entities: Counter[str] = Counter()
    authors: Counter[str] = Counter()
    for hit in unique:
        sentiment[hit.sentiment or "unknown"] += 1
        channels[hit.channel] += 1
        languages[hit.language] += 1
        hashtags.update(set(hit.hashtags))
        entities.update(set(hit.entities))
        if hit.author:
            authors[hit.author] += 1
    return WindowCounts(
        monitor_id=monitor_id,
        window_start=window_start,
        volume=len(unique),
        sentiment={s: sentiment.get(s, 0) for s in (*SENTIMENTS, "unknown")},
        channels=dict(sorted(channels.items())),
        languages=dict(sorted(languages.items())),
        hashtags=_top(hashtags),
        entities=_top(entities),
        authors=_top(authors),
    )


def _hit_row(hit: Hit) -> dict[str, Any]:
    return {
        "monitor_id": hit.monitor_id,
        "message_id": hit.message_id,
        "revision": hit.revision,
        "window_start": hit.window_start,
        "sent_at": hit.sent_at,
        "channel": clean_text(hit.channel[:128]),
        "language": clean_text(hit.language[:32]),
        "sentiment": hit.sentiment,
        "author": clean_text(hit.author),
        "hashtags": [clean_text(h) for h in hit.hashtags[:50]],
        "entities": [clean_text(e) for e in hit.entities[:50]],
    }


def hit_from_row(row: Any) -> Hit:
    return Hit(
        monitor_id=row["monitor_id"],
        revision=row["revision"],
        message_id=row["message_id"],
        sent_at=row["sent_at"],
        channel=row["channel"],
        language=row["language"],
        sentiment=row["sentiment"],
        author=row["author"],
        hashtags=tuple(row["hashtags"] or ()),
        entities=tuple(row["entities"] or ()),
    )


def _insert_ignoring_existing(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows`` into monitor_hits, skipping (monitor, message) pairs already there."""
    if not rows:
        return 0
    maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    # executemany of one compiled statement: a multi-row VALUES compiles a bind per cell
    statement = maker(monitor_hits).on_conflict_do_nothing()
    return conn.execute(statement, rows).rowcount or 0


def _current_revisions(conn: Connection, monitor_ids: Sequence[str]) -> dict[str, int]:
    query = select(monitors.c.id, monitors.c.match_revision).where(
        monitors.c.id.in_(list(monitor_ids)), monitors.c.deleted.is_(False)
    )
    return {row.id: row.match_revision for row in conn.execute(query)}


def recount(conn: Connection, keys: Iterable[tuple[str, datetime]], *, correction: bool = False) -> None:
    """Recompute and store the windows ``keys`` (monitor id, window start) from their hits.

    A few statements per 400 windows, whatever their number (a backfill touches thousands)."""
    now = utcnow()
    for monitor_id, part in _starts_by_monitor(keys):
        hits: dict[datetime, list[Hit]] = {start: [] for start in part}
        query = select(monitor_hits).where(
            monitor_hits.c.monitor_id == monitor_id, monitor_hits.c.window_start.in_(list(part))
        )
        for row in conn.execute(query).mappings():
            hit = hit_from_row(row)
            hits[hit.window_start].append(hit)
        where = (monitor_windows.c.monitor_id == monitor_id) & monitor_windows.c.window_start.in_(list(part))
        previous = {
            row.window_start: row.corrections
            for row in conn.execute(
                select(monitor_windows.c.window_start, monitor_windows.c.corrections).where(where)
            )
        }
        conn.execute(delete(monitor_windows).where(where))
        rows = []
        for start, window_hits in hits.items():
            counts = aggregate(monitor_id, start, window_hits)
            if counts.volume == 0:
                continue
            before = previous.get(start)
            corrections = (before or 0) + (1 if correction and before is not None else 0)
            rows.append(_window_row(counts, corrections, now))
        if rows:
            conn.execute(insert(monitor_windows), rows)


def _window_row(counts: WindowCounts, corrections: int, now: datetime) -> dict[str, Any]:
    return {
        "monitor_id": counts.monitor_id,
        "window_start": counts.window_start,
        "window_end": counts.window_end,
        "volume": counts.volume,
        **{s: counts.sentiment.get(s, 0) for s in (*SENTIMENTS, "unknown")},
        "channels": counts.channels,
        "languages": counts.languages,
        "hashtags": [list(item) for item in counts.hashtags],
        "entities": [list(item) for item in counts.entities],
        "authors": [list(item) for item in counts.authors],
        "corrections": corrections,
        "updated_at": now,
    }


def window_from_row(row: Any) -> WindowCounts:
    return WindowCounts(
        monitor_id=row["monitor_id"],
        window_start=row["window_start"],
        volume=row["volume"],
        sentiment={s: row[s] for s in (*SENTIMENTS, "unknown")},
        channels=dict(row["channels"]),
        languages=dict(row["languages"]),
        hashtags=[(v, c) for v, c in row["hashtags"]],
        entities=[(v, c) for v, c in row["entities"]],
        authors=[(v, c) for v, c in row["authors"]],
        corrections=row["corrections"],
    )


def record_hits(
    conn: Connection, hits: Sequence[Hit], *, correction: bool = False
) -> set[tuple[str, datetime]]:
    """Store the new ``hits`` and recount the windows that gained one; returns those windows.

    Hits of a deleted monitor, matched under an older revision than the monitor's current
    one, or of a sealed window (see :func:`prune_hits`), are dropped. ``correction`` marks the
    recount as one after late messages.
    """
    if not hits:
        return set()
    current = _current_revisions(conn, sorted({h.monitor_id for h in hits}))
    fresh = [h for h in hits if current.get(h.monitor_id) == h.revision]
    by_key = {(h.monitor_id, h.message_id): h for h in fresh}
    if not by_key:
        return set()
    existing: set[tuple[str, str]] = set()
    for part in _chunks(list(by_key), 400):
        query = select(monitor_hits.c.monitor_id, monitor_hits.c.message_id).where(
            tuple_(monitor_hits.c.monitor_id, monitor_hits.c.message_id).in_(part)
        )
        existing.update((r.monitor_id, r.message_id) for r in conn.execute(query))
    new = [h for key, h in by_key.items() if key not in existing]
    sealed = sealed_windows(conn, {(h.monitor_id, h.window_start) for h in new})
    if sealed:
        # their other hits are gone: recounting a window from these alone would lose them
        kept = [h for h in new if (h.monitor_id, h.window_start) not in sealed]
        log.info("%d hits of windows sealed by the hit retention not counted", len(new) - len(kept))
        new = kept
    _insert_ignoring_existing(conn, [_hit_row(h) for h in new])
    changed = {(h.monitor_id, h.window_start) for h in new}
    recount(conn, changed, correction=correction)
    return changed


def sealed_windows(conn: Connection, keys: set[tuple[str, datetime]]) -> set[tuple[str, datetime]]:
    """Those of ``keys`` (monitor id, window start) whose window is sealed."""
    found: set[tuple[str, datetime]] = set()
    for monitor_id, part in _starts_by_monitor(keys):
        query = select(monitor_windows.c.window_start).where(
            monitor_windows.c.monitor_id == monitor_id,
            monitor_windows.c.window_start.in_(list(part)),
            monitor_windows.c.sealed_at.is_not(None),
        )
        found.update((monitor_id, start) for start in conn.execute(query).scalars())
    return found


def prune_hits(conn: Connection, updated_before: datetime) -> int:
    """Delete the hits of every window last updated before ``updated_before`` and seal those
    windows (their counts stay, final); returns the hits deleted. Idempotent: several flow
    processes may prune at once."""
    now = utcnow()
    query = select(monitor_windows.c.monitor_id, monitor_windows.c.window_start).where(
        monitor_windows.c.sealed_at.is_(None), monitor_windows.c.updated_at < updated_before
    )
    deleted = 0
    # by monitor: a range on window_start alone would scan every monitor's hits
    for monitor_id, part in _starts_by_monitor(
        (row.monitor_id, row.window_start) for row in conn.execute(query)
    ):
        in_part = list(part)
        hits = delete(monitor_hits).where(
            monitor_hits.c.monitor_id == monitor_id, monitor_hits.c.window_start.in_(in_part)
        )
        deleted += conn.execute(hits).rowcount or 0
        conn.execute(
            update(monitor_windows)
            .where(monitor_windows.c.monitor_id == monitor_id, monitor_windows.c.window_start.in_(in_part))
            .values(sealed_at=now)
        )
    return deleted


def clear_history(conn: Connection, monitor_id: str) -> None:
    """Forget a monitor's hits and windows (its query changed, or it was deleted)."""
    conn.execute(delete(monitor_hits).where(monitor_hits.c.monitor_id == monitor_id))
    conn.execute(delete(monitor_windows).where(monitor_windows.c.monitor_id == monitor_id))


def count_hits(conn: Connection, monitor_id: str) -> int:
    query = select(func.count()).select_from(monitor_hits).where(monitor_hits.c.monitor_id == monitor_id)
    return int(conn.execute(query).scalar_one())
