"""The /segments API over a real CRM store: static and dynamic segments, members, CSV import
(off the event loop) and export, on SQLite and (when ``PARLEY_TEST_POSTGRES_URL`` is set)
PostgreSQL. The import's body cap is tested with the others in ``tests/api/test_limits.py``."""

from __future__ import annotations

import csv
import io
import threading

import httpx
import pytest
from fastapi import FastAPI

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


async def test_csv_import_reads_any_line_ending_and_refuses_unreadable_records(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = add_people(app)
    static = (await client.post("/segments", json={"name": "Imported", "kind": "static"})).json()
    url = f"/segments/{static['id']}/import"
    headers = {"content-type": "text/csv"}
    # A lone CR (an old Mac file) and a field over 131,072 characters were both 500s.
    too_long = await client.post(url, content=f"contact_id\n{ids['ann']}\n{'x' * 131_073}\n", headers=headers)
    assert too_long.status_code == 422
    assert too_long.json()["detail"] == [
        {"loc": ["body", 3], "msg": "field larger than field limit (131072)", "type": "csv_record"}
    ]
    assert (await client.get(f"/segments/{static['id']}")).json()["member_count"] == 0
    mac = await client.post(url, content=f"contact_id\r{ids['ann']}\r{ids['bob']}\r", headers=headers)
    assert mac.status_code == 200, mac.text
    assert (mac.json()["added"], mac.json()["unmatched_count"]) == (2, 0)


async def test_csv_import_answers_counts_and_the_first_unmatched_rows_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    add_people(app)
    static = (await client.post("/segments", json={"name": "Imported", "kind": "static"})).json()
    rows = "".join(f"nobody{n}@example.org,{'n' * 500}\n" for n in range(2000))
    response = await client.post(
        f"/segments/{static['id']}/import",
        content="email,notes\n" + rows,
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 200
    report = response.json()
    assert (report["added"], report["unmatched_count"], len(report["unmatched"])) == (0, 2000, 20)
    assert report["unmatched"][0]["row"] == {"email": "nobody0@example.org"}
    assert len(response.content) < 5000, "not an echo of the 1 MB file"


async def test_an_export_is_safe_to_open_in_a_spreadsheet_and_named_in_any_script(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = add_people(app)
    await client.patch(f"/contacts/{ids['ann']}", json={"display_name": "=cmd|' /C calc'!A0", "tags": ["+1"]})
    for name, ascii_name, encoded in [
        ("東京", None, "%E6%9D%B1%E4%BA%AC.csv"),  # was UnicodeEncodeError: 'latin-1', a 500
        ("Café Paris", "Caf__Paris.csv", "Caf%C3%A9%20Paris.csv"),
        ('a"b\r\nX-Injected: 1', "a_b__X-Injected__1.csv", "a%22b%0D%0AX-Injected%3A%201.csv"),
    ]:
        segment = (await client.post("/segments", json={"name": name, "kind": "static"})).json()
        await client.post(f"/segments/{segment['id']}/members", json={"contact_ids": [ids["ann"]]})
        exported = await client.get(f"/segments/{segment['id']}/export.csv")
        assert exported.status_code == 200
        fallback = ascii_name or f"{segment['id']}.csv"
        assert exported.headers["content-disposition"] == (
            f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
        )
        (row,) = list(csv.DictReader(io.StringIO(exported.text)))[:1]
        assert row["display_name"] == "'=cmd|' /C calc'!A0" and row["tags"] == "+1"
