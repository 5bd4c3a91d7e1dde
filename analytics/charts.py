"""Charts as self-contained SVG text: no script, no fonts or images fetched, so a report opens
offline and the web console can inline the same markup.

Pure functions of their data; every label is XML-escaped (labels are hashtags and names from
outside). Output is deterministic, so a chart can be compared in tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

__all__ = ["PALETTE", "SENTIMENT_COLOURS", "bar_chart", "line_chart", "nice_ceiling", "stacked_bar_chart"]

#: colour-blind-safe (Okabe–Ito) series colours
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
SENTIMENT_COLOURS = {"positive": "#009E73", "neutral": "#999999", "negative": "#D55E00", "unknown": "#DDDDDD"}
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 48, 12, 28, 40


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``value`` (1 for nothing to show)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label={quoteattr(title)}>'
        f"<title>{escape(title)}</title>"
        f'<text x="{_MARGIN_LEFT}" y="16" {_FONT} font-weight="bold">{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _y_axis(top: float, plot_top: int, plot_bottom: int, left: int, right: int) -> list[str]:
    parts = []
    for tick in range(5):
        value = top * tick / 4
        y = plot_bottom - (plot_bottom - plot_top) * tick / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>{_number(value)}</text>'
        )
    return parts


def _legend(names: Sequence[str], colours: Sequence[str], x: int, y: int) -> list[str]:
    parts, offset = [], 0
    for name, colour in zip(names, colours, strict=False):
        parts.append(f'<rect x="{x + offset}" y="{y - 8}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + offset + 14}" y="{y + 1}" {_FONT}>{escape(name)}</text>')
        offset += 24 + 7 * len(name)
    return parts


def _time_label(moment: datetime, span_seconds: float) -> str:
    return moment.strftime("%H:%M" if span_seconds <= 36 * 3600 else "%d %b")


def line_chart(
    series: Mapping[str, Sequence[tuple[datetime, float]]],
    *,
    title: str,
    width: int = 720,
    height: int = 260,
) -> str:
    """One line per named series of (time, value) points, on a shared time axis."""
    left, right = _MARGIN_LEFT, width - _MARGIN_RIGHT
    top_px, bottom_px = _MARGIN_TOP + 14, height - _MARGIN_BOTTOM
    points = [point for values in series.values() for point in values]
    body: list[str] = []
    if not points:
        body.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {_FONT}>no data</text>')
        return _svg(width, height, title, body)
    start = min(moment for moment, _ in points).timestamp()
    end = max(moment for moment, _ in points).timestamp()
    span = max(end - start, 1.0)
    top = nice_ceiling(max(value for _, value in points))
    body += _y_axis(top, top_px, bottom_px, left, right)

    def x(moment: datetime) -> float:
        return left + (right - left) * (moment.timestamp() - start) / span

    def y(value: float) -> float:
        return bottom_px - (bottom_px - top_px) * value / top

    for tick in range(5):
        moment = datetime.fromtimestamp(start + span * tick / 4, tz=points[0][0].tzinfo)
        body.append(
            f'<text x="{x(moment):.1f}" y="{bottom_px + 16}" text-anchor="middle" {_FONT}>'
            f"{escape(_time_label(moment, span))}</text>"
        )
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(series))]
    for colour, values in zip(colours, series.values(), strict=True):
        ordered = sorted(values)
        path = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in ordered)
        body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        if len(ordered) == 1:
            body.append(
                f'<circle cx="{x(ordered[0][0]):.1f}" cy="{y(ordered[0][1]):.1f}" r="3" fill="{colour}"/>'
            )
    body += _legend(list(series), colours, left, height - 8)
    return _svg(width, height, title, body)


def stacked_bar_chart(
    labels: Sequence[str],
    stacks: Mapping[str, Sequence[float]],
    *,
    title: str,
    colours: Mapping[str, str] | None = None,
    width: int = 720,
    height: int = 260,
    as_share: bool = False,
) -> str:
    """One bar per label, stacked by the named parts (each a value per label); with
    ``as_share`` every bar is scaled to 100%."""
    for name, values in stacks.items():
        if len(values) != len(labels):
            raise ValueError(f"stack {name!r} has {len(values)} values for {len(labels)} bars")
    left, right = _MARGIN_LEFT, width - _MARGIN_RIGHT
    top_px, bottom_px = _MARGIN_TOP + 14, height - _MARGIN_BOTTOM
    totals = [sum(values[i] for values in stacks.values()) for i in range(len(labels))]
    top = 1.0 if as_share else nice_ceiling(max(totals, default=0))
    body = _y_axis(top, top_px, bottom_px, left, right)
    slot = (right - left) / max(len(labels), 1)
    bar = max(1.0, slot * 0.8)
    names = list(stacks)
    chosen = [(colours or {}).get(name) or PALETTE[i % len(PALETTE)] for i, name in enumerate(names)]
    every = max(1, math.ceil(len(labels) / 8))
    for i, label in enumerate(labels):
        base = float(bottom_px)
        scale = (1 / totals[i]) if as_share and totals[i] else 1.0
        x = left + slot * i + (slot - bar) / 2
        for name, colour in zip(names, chosen, strict=True):
            value = stacks[name][i] * scale
            h = (bottom_px - top_px) * value / top
            if h > 0:
                body.append(
                    f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                    f'fill="{colour}">'
                    f"<title>{escape(f'{label} {name}: {_number(stacks[name][i])}')}</title></rect>"
                )
            base -= h
        if i % every == 0:
            body.append(
                f'<text x="{x + bar / 2:.1f}" y="{bottom_px + 16}" text-anchor="middle" {_FONT}>'
                f"{escape(label)}</text>"
            )
    body += _legend(names, chosen, left, height - 8)
    return _svg(width, height, title, body)


def bar_chart(
    items: Sequence[tuple[str, float]], *, title: str, width: int = 480, bar_height: int = 18
) -> str:
    """Horizontal bars, one per (label, value), in the order given (top hashtags, share of voice)."""
    label_px = min(200, 12 + 7 * max((len(label) for label, _ in items), default=4))
    height = _MARGIN_TOP + 8 + (bar_height + 6) * max(len(items), 1)
    top = nice_ceiling(max((value for _, value in items), default=0))
    body: list[str] = []
    if not items:
        body.append(f'<text x="{width / 2}" y="{height / 2 + 6}" text-anchor="middle" {_FONT}>no data</text>')
    for i, (label, value) in enumerate(items):
        y = _MARGIN_TOP + 4 + i * (bar_height + 6)
        length = (width - label_px - 60) * value / top
        short = label if len(label) <= 28 else label[:27] + "…"
        body.append(
            f'<text x="{label_px - 6}" y="{y + bar_height - 5}" text-anchor="end" {_FONT}>'
            f"{escape(short)}</text>"
        )
        body.append(
            f'<rect x="{label_px}" y="{y}" width="{max(length, 0):.1f}" height="{bar_height}" '
            f'fill="{PALETTE[0]}"><title>{escape(f"{label}: {_number(value)}")}</title></rect>'
        )
        body.append(
            f'<text x="{label_px + length + 4:.1f}" y="{y + bar_height - 5}" {_FONT}>{_number(value)}</text>'
        )
    return _svg(width, height, title, body)
