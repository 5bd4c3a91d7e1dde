"""Listening analytics end to end: monitors' windows recorded in the store (as the flow and the
backfill record them) → ``/analytics/listening/*`` tables, CSV and SVG charts → ``parley report``
writing one offline HTML page."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from cli.main import app as cli_app
from cli.report import parse_since
from crm import CRMStore, open_crm
from crm.monitor_windows import Hit
from crm.monitors import MonitorView
from hub.settings import Settings
from kb.monitor_match import hit_fields
from tests.monitors.helpers import QUIET, message

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=2)


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    """The CRM on SQLite and, when ``PARLEY_TEST_POSTGRES_URL`` is set, on PostgreSQL."""
    return crm_settings


def _record(crm: CRMStore, monitor: MonitorView, messages: list) -> None:  # type: ignore[type-arg]
    crm.monitors.record_hits(
        [Hit(monitor_id=monitor.id, revision=monitor.match_revision, **hit_fields(m)) for m in messages]
    )


def _brand_and_rival(crm: CRMStore) -> tuple[MonitorView, MonitorView]:
    acme = crm.monitors.create("Acme", "acme", alerts=QUIET)
    rival = crm.monitors.create("Globex", "globex", alerts=QUIET)
    _record(
        crm,
        acme,
        [
            message(1, ["acme", "broken"], T0, sentiment="negative", hashtags=["acmefail"], author="ann"),
            message(2, ["acme", "love"], T0 + timedelta(hours=1), sentiment="positive", author="bob"),
            message(3, ["acme"], T0 + timedelta(days=1), sentiment=None, language="fr", author="ann"),
        ],
    )
    _record(crm, rival, [message(4, ["globex"], T0, sentiment="positive", hashtags=["win"], author="cy")])
    return acme, rival


async def test_listening_tables_csv_and_charts(app: FastAPI, client: httpx.AsyncClient) -> None:
    _brand_and_rival(app.state.crm)
    voice = await client.get("/analytics/listening/share-of-voice")
    assert voice.status_code == 200, voice.text
    assert [(r["monitor"], r["messages"]) for r in voice.json()["rows"]] == [("Acme", 3), ("Globex", 1)]
    sentiment = (await client.get("/analytics/listening/sentiment", params={"monitor": "Acme"})).json()
    assert sentiment["rows"] == [
        {
            "monitor": "Acme",
            "positive": 1,
            "neutral": 0,
            "negative": 1,
            "unknown": 1,
            "positive_share": 0.5,
            "neutral_share": 0.0,
            "negative_share": 0.5,
        }
    ]
    volume = await client.get("/analytics/listening/volume", params={"interval": "day", "format": "csv"})
    lines = volume.text.splitlines()
    assert (
        lines[0] == "start,monitor,messages" and len(lines) == 1 + 2 * 8
    )  # 8 days touched by a 7-day period
    assert sum(int(line.rsplit(",", 1)[1]) for line in lines[1:]) == 4
    tags = (await client.get("/analytics/listening/top-hashtags")).json()["rows"]
    assert [(r["monitor"], r["hashtag"]) for r in tags] == [("Acme", "acmefail"), ("Globex", "win")]
    languages = (await client.get("/analytics/listening/languages", params={"monitor": "Acme"})).json()[
        "rows"
    ]
    assert [(r["language"], r["messages"]) for r in languages] == [("en", 2), ("fr", 1)]
    for chart in ("volume", "sentiment", "share-of-voice", "top-hashtags"):
        svg = await client.get(f"/analytics/listening/charts/{chart}.svg")
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
        ET.fromstring(svg.text)


async def test_unknown_monitor_and_bad_table_are_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    _brand_and_rival(app.state.crm)
    missing = await client.get("/analytics/listening/volume", params={"monitor": "Nope"})
    assert missing.status_code == 404 and "Acme" in missing.json()["detail"]
    assert (await client.get("/analytics/listening/cats")).status_code == 422
    assert (await client.get("/analytics/listening/volume", params={"interval": "1s"})).status_code == 422


def test_parse_since() -> None:
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("90m", NOW) == NOW - timedelta(minutes=90)
    assert parse_since("2026-11-01T00:00:00", NOW) == datetime(2026, 11, 1, tzinfo=UTC)


def test_parley_report_writes_one_offline_page(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", demo=False)
    crm = open_crm(settings)
    try:
        _brand_and_rival(crm)
    finally:
        crm.close()
    env = {"PARLEY_DATA_DIR": str(tmp_path / "data"), "PARLEY_DEMO": "false", "PARLEY_LOG_LEVEL": "ERROR"}
    out = tmp_path / "report.html"
    runner = CliRunner()
    result = runner.invoke(
        cli_app,
        ["report", "--monitor", "Acme", "--monitor", "Globex", "--since", "7d", "--out", str(out)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "Listening report: Acme, Globex" in page and page.count("<svg") >= 4
    assert "<script" not in page and "src=" not in page
    assert "acmefail" in page and "<td>Globex</td>" in page
    refused = runner.invoke(cli_app, ["report", "--monitor", "Nope", "--out", str(out)], env=env)
    assert refused.exit_code == 1 and "no monitor 'Nope'" in refused.output
    bad = runner.invoke(cli_app, ["report", "--since", "yesterday-ish", "--out", str(out)], env=env)
    assert bad.exit_code != 0 and "duration" in bad.output
