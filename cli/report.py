"""``parley report``: a self-contained HTML report of monitors over a period.

``parley report --monitor Tidepool --monitor Rival --since 7d --out report.html`` writes one
page with charts (inline SVG) and tables: volume over time, sentiment share, share of voice,
top hashtags, entities and authors (by volume and by reach), the language mix and the alerts
that fired. It opens offline. Figures come from the windows the flow counted per monitor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from hub.settings import Settings

__all__ = ["parse_since", "register"]

console = Console(stderr=True)
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
STEPS = {"5m": timedelta(minutes=5), "hour": timedelta(hours=1), "day": timedelta(days=1)}


def parse_since(text: str, now: datetime) -> datetime:
    """``7d``, ``24h``, ``90m``, ``2w`` before ``now``, or an ISO 8601 time (UTC if no zone)."""
    match = _RELATIVE.match(text.strip().lower())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{text!r}: give a duration such as 7d, 24h or 90m, or an ISO 8601 time"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(app: typer.Typer, load_settings: Callable[[], Settings]) -> None:
    """Add ``parley report`` to ``app``."""

    @app.command()
    def report(
        out: Annotated[Path, typer.Option(help="the HTML file to write")] = Path("report.html"),
        monitor: Annotated[
            list[str] | None, typer.Option(help="a monitor's name or id (repeat); default: all")
        ] = None,
        since: Annotated[str, typer.Option(help="start: 7d, 24h, or an ISO 8601 time")] = "7d",
        until: Annotated[str | None, typer.Option(help="end (default: now)")] = None,
        interval: Annotated[str, typer.Option(help="volume chart buckets: 5m, hour or day")] = "day",
    ) -> None:
        """Write a self-contained HTML report of monitors (charts and tables)."""
        from analytics.listening import listening_sections
        from analytics.report import ReportSection, render_report
        from analytics.sources import author_reach, find_monitors, stored_windows
        from analytics.tables import Table
        from crm import NotFound, open_crm
        from kb import open_kb

        if interval not in STEPS:
            raise typer.BadParameter(f"interval {interval!r}: use 5m, hour or day")
        now = datetime.now(UTC)
        start = parse_since(since, now)
        end = parse_since(until, now) if until else now
        if start >= end:
            raise typer.BadParameter("--since must be before --until")
        settings = load_settings()
        crm, kb = open_crm(settings), open_kb(settings)
        try:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("reading monitors", total=4)
                try:
                    monitors = find_monitors(crm, monitor or [])
                except NotFound as exc:
                    console.print(f"[bold red]error:[/] {exc}; create one with POST /monitors")
                    raise typer.Exit(code=1) from exc
                if not monitors:
                    console.print("[bold red]error:[/] no monitors yet: create one with POST /monitors first")
                    raise typer.Exit(code=1)
                progress.update(task, advance=1, description="reading windows")
                windows = stored_windows(crm, monitors, start, end)
                progress.update(task, advance=1, description="reading authors' reach")
                reach = author_reach(kb, monitors, start, end)
                progress.update(task, advance=1, description="drawing")
                sections = listening_sections(
                    windows, since=start, until=end, step=STEPS[interval], reach=reach
                )
                alerts = [
                    [m.name, a.kind, a.window_start, a.value, a.threshold, a.term, len(a.message_ids)]
                    for m in monitors
                    for a in crm.monitors.alerts(m.id, limit=200)
                    if start <= a.window_start < end
                ]
                columns = ["monitor", "kind", "window", "value", "threshold", "term", "messages"]
                sections.append(
                    ReportSection("Alerts", tables=[Table(name="alerts", columns=columns, rows=alerts)])
                )
                names = ", ".join(m.name for m in monitors)
                period = f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"
                page = render_report(f"Listening report: {names}", sections, generated_at=now, period=period)
                progress.update(task, advance=1)
        finally:
            crm.close()
            kb.close()
        out.write_text(page, encoding="utf-8")
        volume = sum(window.volume for window in windows)
        console.print(
            f"wrote {out} ({len(page):,} bytes): {len(monitors)} monitors, {volume:,} messages, "
            f"{len(alerts)} alerts"
        )
