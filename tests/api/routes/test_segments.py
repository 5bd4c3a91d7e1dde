"""The /segments API over a real CRM store: static and dynamic segments, members, CSV import
(capped, off the event loop) and export, on SQLite and (when ``PARLEY_TEST_POSTGRES_URL`` is
set) PostgreSQL."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from api.routes import segments as segments_routes
from hub.settings import Settings
from tests.api.people import add_people


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    """The CRM on SQLite and, when ``PARLEY_TEST_POSTGRES_URL`` is set, on PostgreSQL."""
    return crm_settings


async def test_segments_dynamic_static_csv(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = add_people(app)
    created = await client.post(
        "/segments", json={"name": "Unhappy", "kind": "dynamic", "criteria": "sentiment_avg < -0.3"}
    )
    assert created.status_code == 201
    dynamic = created.json()
    members = (await client.get(f"/segments/{dynamic['id']}/contacts")).json()
    assert members["total"] == 1 and members["items"][0]["id"] == ids["ann"]
    refreshed = (await client.post(f"/segments/{dynamic['id']}/refresh")).json()
    assert refreshed["member_count"] == 1 and refreshed["refreshed_at"]
    bad = await client.post("/segments", json={"name": "Bad", "kind": "dynamic", "criteria": "colour:red"})
    assert bad.status_code == 400 and "colour" in bad.json()["detail"]
    dup = await client.post("/segments", json={"name": "Unhappy", "kind": "static"})
    assert dup.status_code == 409

    static = (await client.post("/segments", json={"name": "Imported", "kind": "static"})).json()
    imported = await client.post(
        f"/segments/{static['id']}/import",
        content="email,phone\nann@example.org,\n,+44 7911 555666\nzed@example.org,\n",
        headers={"content-type": "text/csv"},
    )
    assert imported.status_code == 200
    report = imported.json()
    assert report["added"] == 2 and report["segment"]["member_count"] == 2
    assert [u["line"] for u in report["unmatched"]] == [4]
    removed = await client.post(
        f"/segments/{static['id']}/members/remove", json={"contact_ids": [ids["bob"]]}
    )
    assert removed.json()["changed"] == 1
    added = await client.post(f"/segments/{static['id']}/members", json={"contact_ids": [ids["bob"]]})
    assert added.json()["changed"] == 1
    assert (
        await client.post(f"/segments/{dynamic['id']}/members", json={"contact_ids": [ids["bob"]]})
    ).status_code == 400
    exported = await client.get(f"/segments/{static['id']}/export.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert 'filename="Imported.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["contact_id"] for r in rows} == {ids["ann"], ids["bob"]}
    not_utf8 = await client.post(f"/segments/{static['id']}/import", content=b"\xff\xfe\x00bad")
    assert not_utf8.status_code == 400

    listed = (await client.get("/segments")).json()
    assert [s["name"] for s in listed] == ["Imported", "Unhappy"]
    renamed = await client.patch(f"/segments/{dynamic['id']}", json={"name": "Sad", "criteria": "tag:x"})
    assert renamed.status_code == 200 and renamed.json()["criteria"] == "tag:x"
    assert (await client.delete(f"/segments/{dynamic['id']}")).status_code == 204
    assert (await client.get(f"/segments/{dynamic['id']}")).status_code == 404
    assert (await client.get(f"/segments/{dynamic['id']}/contacts")).status_code == 404
    assert (await client.get("/segments/seg_nope/export.csv")).status_code == 404


async def test_csv_import_runs_off_the_event_loop(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = add_people(app)
    static = (await client.post("/segments", json={"name": "Imported", "kind": "static"})).json()
    real_import = app.state.crm.segments.import_csv
    threads: list[str] = []

    def spy(segment_id: str, text: str) -> object:
        threads.append(threading.current_thread().name)
        return real_import(segment_id, text)

    app.state.crm.segments.import_csv = spy
    imported = await client.post(
        f"/segments/{static['id']}/import",
        content=f"contact_id\n{ids['ann']}\n{ids['bob']}\nc_nobody\n",
        headers={"content-type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    report = imported.json()
    assert report["added"] == 2 and report["segment"]["member_count"] == 2
    assert [u["line"] for u in report["unmatched"]] == [4]
    # The database work ran in the threadpool, not on the thread running the event loop.
    assert threads and threads[0] != threading.current_thread().name


async def test_csv_import_over_the_cap_is_413_before_the_body_is_read(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segments_routes, "MAX_IMPORT_BYTES", 100)
    static = (await client.post("/segments", json={"name": "Imported", "kind": "static"})).json()
    url = f"/segments/{static['id']}/import"
    sent: list[int] = []

    async def body(chunks: int) -> AsyncIterator[bytes]:
        for i in range(chunks):
            sent.append(i)
            yield b"email\n" + b"a" * 40 + b"@example.org\n"

    # Declared too large: refused from the header, the body is never pulled.
    declared = await client.post(url, content=body(50), headers={"content-length": str(50 * 59)})
    assert declared.status_code == 413 and "100 bytes" in declared.json()["detail"]
    assert sent == []
    # No Content-Length (chunked): refused as soon as the stream passes the cap.
    chunked = await client.post(url, content=body(50))
    assert chunked.status_code == 413
    assert len(sent) < 5
    # A lying Content-Length does not get past the cap either.
    sent.clear()
    lying = await client.post(url, content=body(50), headers={"content-length": "10"})
    assert lying.status_code in {400, 413}
    bad = await client.post(url, content=b"email\n", headers={"content-length": "ten"})
    assert bad.status_code == 400
    at_cap = await client.post(url, content=b"email\n" + b"x" * 94)
    assert at_cap.status_code == 200 and at_cap.json()["unmatched"][0]["line"] == 2
