"""Listening analytics over monitors' window counts: volume over time per monitor and channel,
sentiment share, share of voice between monitors, top hashtags, entities and authors, and the
language mix.

Pure: the caller reads :class:`ListeningWindow` (what the monitor step stored per 5-minute window,
or a backfill) and hands them here. Sentiment shares are over messages whose sentiment is known;
unknown (a language without a model) is counted apart, never as neutral.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from analytics.charts import SENTIMENT_COLOURS, bar_chart, line_chart, stacked_bar_chart
from analytics.report import ReportSection
from analytics.tables import Table
from crm.monitor_windows import WindowCounts as StoredWindow

__all__ = [
    "CHARTS",
    "SENTIMENTS",
    "ListeningWindow",
    "buckets",
    "from_monitor_window",
    "language_mix_table",
    "listening_sections",
    "sentiment_share_table",
    "share_of_voice_table",
    "top_table",
    "volume_table",
]

SENTIMENTS = ("positive", "neutral", "negative", "unknown")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ListeningWindow:
    """One monitor's counts over one window ``[start, end)`` of message time, named by the
    monitor's display name: what the tables and charts read. The flow stores the same counts
    keyed by monitor id (``crm.monitor_windows.WindowCounts``); :func:`from_monitor_window`
    makes one of these from a stored one."""

    monitor: str
    start: datetime
    end: datetime
    volume: int
    sentiment: Mapping[str, int] = field(default_factory=dict)
    channels: Mapping[str, int] = field(default_factory=dict)
    languages: Mapping[str, int] = field(default_factory=dict)
    hashtags: Mapping[str, int] = field(default_factory=dict)
    entities: Mapping[str, int] = field(default_factory=dict)
    authors: Mapping[str, int] = field(default_factory=dict)


def _floor(moment: datetime, step: timedelta) -> datetime:
    seconds = step.total_seconds()
    offset = (moment - _EPOCH).total_seconds()
    return _EPOCH + timedelta(seconds=offset - offset % seconds)


def buckets(since: datetime, until: datetime, step: timedelta) -> list[datetime]:
    """The starts of the ``step``-long buckets covering ``[since, until)``, aligned to the epoch."""
    if step <= timedelta(0):
        raise ValueError("the step must be positive")
    if (until - since) / step > 10_000:
        raise ValueError("too many buckets: widen the interval or shorten the period")
    starts, moment = [], _floor(since, step)
    while moment < until:
        starts.append(moment)
        moment += step
    return starts


def _within(windows: Iterable[ListeningWindow], since: datetime, until: datetime) -> list[ListeningWindow]:
    return [w for w in windows if since <= w.start < until]


def volume_table(
    windows: Iterable[ListeningWindow],
    *,
    since: datetime,
    until: datetime,
    step: timedelta,
    by_channel: bool = False,
) -> Table:
    """Messages per bucket and monitor (and channel), every bucket listed, zeros included."""
    starts = buckets(since, until, step)
    counts: dict[tuple[datetime, str, str], int] = defaultdict(int)
    keys: set[tuple[str, str]] = set()
    for window in _within(windows, since, until):
        start = _floor(window.start, step)
        parts = window.channels.items() if by_channel else [("", window.volume)]
        for channel, count in parts:
            counts[(start, window.monitor, channel)] += count
            keys.add((window.monitor, channel))
    rows: list[list[datetime | str | int | None]] = []
    for start in starts:
        for monitor, channel in sorted(keys):
            row: list[datetime | str | int | None] = [start, monitor]
            if by_channel:
                row.append(channel)
            rows.append([*row, counts[(start, monitor, channel)]])
    columns = ["start", "monitor", *(["channel"] if by_channel else []), "messages"]
    return Table(name="volume", columns=columns, rows=rows, note=f"messages per {step} by message time")


def sentiment_share_table(windows: Iterable[ListeningWindow], *, since: datetime, until: datetime) -> Table:
    """Per monitor: messages by sentiment and the share of each among those with a known one."""
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for window in _within(windows, since, until):
        totals[window.monitor].update({k: v for k, v in window.sentiment.items() if k in SENTIMENTS})
    rows = []
    for monitor in sorted(totals):
        counts = totals[monitor]
        known = sum(counts[label] for label in SENTIMENTS[:3])
        shares = [counts[label] / known if known else None for label in SENTIMENTS[:3]]
        rows.append([monitor, *(counts[label] for label in SENTIMENTS), *shares])
    return Table(
        name="sentiment_share",
        columns=["monitor", *SENTIMENTS, "positive_share", "neutral_share", "negative_share"],
        rows=rows,
        note="shares are over messages with a known sentiment; unknown is counted apart",
    )


def share_of_voice_table(windows: Iterable[ListeningWindow], *, since: datetime, until: datetime) -> Table:
    """Each monitor's volume and its share of the monitors' total (a message matched by two
    monitors counts for both, as share-of-voice tools count it)."""
    volume: Counter[str] = Counter()
    for window in _within(windows, since, until):
        volume[window.monitor] += window.volume
    total = sum(volume.values())
    rows = [
        [m, n, n / total if total else None]
        for m, n in sorted(volume.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return Table(name="share_of_voice", columns=["monitor", "messages", "share"], rows=rows)


def top_table(
    windows: Iterable[ListeningWindow],
    *,
    kind: str,
    since: datetime,
    until: datetime,
    limit: int = 10,
    reach: Mapping[str, int] | None = None,
) -> Table:
    """The ``limit`` most frequent hashtags, entities or authors per monitor; authors ranked by
    ``reach`` (followers) instead of volume when it is given."""
    if kind not in {"hashtags", "entities", "authors"}:
        raise ValueError(f"unknown kind {kind!r}: hashtags, entities or authors")
    per_monitor: dict[str, Counter[str]] = defaultdict(Counter)
    for window in _within(windows, since, until):
        per_monitor[window.monitor].update(getattr(window, kind))
    rows: list[list[str | int | None]] = []
    for monitor in sorted(per_monitor):
        counts = per_monitor[monitor]
        if reach is not None:
            ranked = sorted(counts, key=lambda a: (-(reach.get(a) or 0), -counts[a], a))[:limit]
        else:
            ranked = sorted(counts, key=lambda a: (-counts[a], a))[:limit]
        for rank, term in enumerate(ranked, start=1):
            rows.append(
                [monitor, rank, term, counts[term], *([reach.get(term)] if reach is not None else [])]
            )
    name = kind[:-1]
    columns = ["monitor", "rank", name, "messages", *(["followers"] if reach is not None else [])]
    return Table(name=f"top_{kind}{'_by_reach' if reach is not None else ''}", columns=columns, rows=rows)


def language_mix_table(windows: Iterable[ListeningWindow], *, since: datetime, until: datetime) -> Table:
    """Per monitor: messages per language and the share of each."""
    per_monitor: dict[str, Counter[str]] = defaultdict(Counter)
    for window in _within(windows, since, until):
        per_monitor[window.monitor].update(window.languages)
    rows: list[Sequence[str | int | float | None]] = []
    for monitor in sorted(per_monitor):
        counts = per_monitor[monitor]
        total = sum(counts.values())
        for language, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append([monitor, language, count, count / total if total else None])
    return Table(name="language_mix", columns=["monitor", "language", "messages", "share"], rows=rows)


def from_monitor_window(window: StoredWindow, monitor: str) -> ListeningWindow:
    """A monitor's stored window (``crm.monitor_windows``) as these tables read it, named
    ``monitor``. Stored windows keep their top 20 hashtags, entities and authors, so tops over
    many windows rank what was ever in a window's top 20."""
    return ListeningWindow(
        monitor=monitor,
        start=window.window_start,
        end=window.window_end,
        volume=window.volume,
        sentiment=dict(window.sentiment),
        channels=dict(window.channels),
        languages=dict(window.languages),
        hashtags=dict(window.hashtags),
        entities=dict(window.entities),
        authors=dict(window.authors),
    )


def _number(cell: object) -> float:
    return float(cell) if isinstance(cell, int | float) else 0.0


def volume_chart(
    windows: Sequence[ListeningWindow], *, since: datetime, until: datetime, step: timedelta
) -> str:
    """Messages over time, one line per monitor."""
    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for start, monitor, count in volume_table(windows, since=since, until=until, step=step).rows:
        if isinstance(start, datetime):
            series[str(monitor)].append((start, _number(count)))
    return line_chart(series, title="Messages over time")


def sentiment_chart(windows: Sequence[ListeningWindow], *, since: datetime, until: datetime) -> str:
    """Each monitor's sentiment shares, stacked to 100%."""
    rows = sentiment_share_table(windows, since=since, until=until).rows
    stacks = {label: [_number(row[1 + i]) for row in rows] for i, label in enumerate(SENTIMENTS[:3])}
    labels = [str(row[0]) for row in rows]
    return stacked_bar_chart(
        labels, stacks, title="Sentiment share", colours=SENTIMENT_COLOURS, as_share=True
    )


def share_of_voice_chart(windows: Sequence[ListeningWindow], *, since: datetime, until: datetime) -> str:
    """Messages per monitor, as bars."""
    rows = share_of_voice_table(windows, since=since, until=until).rows
    return bar_chart([(str(row[0]), _number(row[1])) for row in rows], title="Share of voice")


def hashtags_chart(windows: Sequence[ListeningWindow], *, since: datetime, until: datetime) -> str:
    """The top hashtags of each monitor, as bars."""
    rows = top_table(windows, kind="hashtags", since=since, until=until).rows
    return bar_chart([(f"{row[0]} {row[2]}", _number(row[3])) for row in rows], title="Top hashtags")


#: the charts served apart (the volume chart also takes ``step``)
CHARTS: dict[str, Callable[..., str]] = {
    "volume": volume_chart,
    "sentiment": sentiment_chart,
    "share-of-voice": share_of_voice_chart,
    "top-hashtags": hashtags_chart,
}


def listening_sections(
    windows: Sequence[ListeningWindow],
    *,
    since: datetime,
    until: datetime,
    step: timedelta,
    reach: Mapping[str, int] | None = None,
) -> list[ReportSection]:
    """The report's listening sections (charts and tables) over ``windows``."""
    authors = [top_table(windows, kind="authors", since=since, until=until)]
    if reach:
        authors.append(top_table(windows, kind="authors", reach=reach, since=since, until=until))
    return [
        ReportSection(
            "Volume",
            f"Messages per {step} by message time.",
            charts=[volume_chart(windows, step=step, since=since, until=until)],
            tables=[share_of_voice_table(windows, since=since, until=until)],
        ),
        ReportSection(
            "Sentiment",
            "Shares among messages with a known sentiment; languages without a model count as unknown.",
            charts=[sentiment_chart(windows, since=since, until=until)],
            tables=[sentiment_share_table(windows, since=since, until=until)],
        ),
        ReportSection("Share of voice", charts=[share_of_voice_chart(windows, since=since, until=until)]),
        ReportSection(
            "Top hashtags",
            charts=[hashtags_chart(windows, since=since, until=until)],
            tables=[top_table(windows, kind="hashtags", since=since, until=until)],
        ),
        ReportSection("Top entities", tables=[top_table(windows, kind="entities", since=since, until=until)]),
        ReportSection("Top authors", tables=authors),
        ReportSection("Languages", tables=[language_mix_table(windows, since=since, until=until)]),
    ]
