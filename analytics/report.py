"""A self-contained HTML report: inline CSS, charts as inline SVG, tables as HTML; nothing is
fetched when it opens (no script, no font, no image), so it can be mailed or opened offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from analytics.tables import Table

__all__ = ["ReportSection", "render_report"]

_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.meta { color: #666; margin-top: 0; } .chart { margin: 1rem 0; overflow-x: auto; }
table.figures { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; }
table.figures th, table.figures td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: left; }
table.figures caption { caption-side: bottom; color: #666; font-size: .8rem; text-align: left; }
"""


@dataclass(frozen=True)
class ReportSection:
    """A heading, a sentence or two, charts (SVG markup from :mod:`analytics.charts`) and tables."""

    heading: str
    text: str = ""
    charts: Sequence[str] = field(default_factory=tuple)
    tables: Sequence[Table] = field(default_factory=tuple)


def render_report(
    title: str, sections: Sequence[ReportSection], *, generated_at: datetime, period: str
) -> str:
    """The whole HTML page. Charts are trusted markup made by :mod:`analytics.charts` (which
    escapes every label); every other text is escaped here."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # nothing may be loaded from anywhere: the report is read offline
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{escape(period)} · generated {generated_at.strftime("%Y-%m-%d %H:%M UTC")}</p>',
    ]
    for section in sections:
        parts.append(f"<section><h2>{escape(section.heading)}</h2>")
        if section.text:
            parts.append(f"<p>{escape(section.text)}</p>")
        parts.extend(f'<div class="chart">{chart}</div>' for chart in section.charts)
        parts.extend(table.to_html() for table in section.tables)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
