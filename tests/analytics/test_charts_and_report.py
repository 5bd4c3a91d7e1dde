"""Charts are well-formed SVG that escapes its labels; the report is one offline HTML page;
tables become formula-safe CSV."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from analytics.charts import bar_chart, line_chart, nice_ceiling, stacked_bar_chart
from analytics.report import ReportSection, render_report
from analytics.tables import Table

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def test_charts_are_well_formed_svg_with_escaped_labels() -> None:
    hostile = '<script>alert(1)</script> & "x"'
    line = line_chart(
        {hostile: [(T0 + timedelta(hours=h), float(h * h)) for h in range(5)], "rival": [(T0, 3.0)]},
        title="Volume",
    )
    bars = stacked_bar_chart(
        ["09:00", "10:00"], {"positive": [1, 2], "negative": [3, 0]}, title="Sentiment", as_share=True
    )
    top = bar_chart([(hostile, 5.0), ("#love", 2.0)], title="Top hashtags")
    for svg in (line, bars, top):
        root = ET.fromstring(svg)  # parses: nothing unescaped broke the markup
        assert root.tag == f"{SVG}svg"
        assert "<script>" not in svg and "href" not in svg
    polylines = ET.fromstring(line).findall(f"{SVG}polyline")
    assert len(polylines) == 2 and len(polylines[0].attrib["points"].split()) == 5
    rects = [r for r in ET.fromstring(bars).iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    heights = [float(r.attrib["height"]) for r in rects]
    # as shares, both bars are full height
    assert heights[0] + heights[1] == pytest.approx(heights[2])


def test_empty_charts_say_so_and_bad_data_is_refused() -> None:
    assert "no data" in line_chart({}, title="Nothing")
    assert "no data" in bar_chart([], title="Nothing")
    with pytest.raises(ValueError, match="values for"):
        stacked_bar_chart(["a"], {"x": [1, 2]}, title="Bad")


def test_nice_ceiling() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 7, 11, 240, 260)] == [
        1.0,
        0.5,
        1.0,
        10.0,
        20.0,
        250.0,
        500.0,
    ]


def test_the_report_is_one_offline_page() -> None:
    table = Table(name="t", columns=["hashtag", "messages"], rows=[["=HYPERLINK(1)", 3], ["<b>", 1]])
    page = render_report(
        "Tidepool <weekly>",
        [
            ReportSection(
                "Volume", "All mentions.", charts=[bar_chart([("a", 1.0)], title="x")], tables=[table]
            )
        ],
        generated_at=T0,
        period="last 7 days",
    )
    assert page.startswith("<!doctype html>") and "Tidepool &lt;weekly&gt;" in page
    assert "<td>&lt;b&gt;</td>" in page and "default-src 'none'" in page
    for fetching in ("<script", "<link", "src=", "@import", "url("):
        assert fetching not in page
    assert table.to_csv().splitlines() == ["hashtag,messages", "'=HYPERLINK(1),3", "<b>,1"]


def test_a_table_refuses_ragged_rows() -> None:
    with pytest.raises(ValueError, match="cells"):
        Table(name="t", columns=["a", "b"], rows=[[1]])
