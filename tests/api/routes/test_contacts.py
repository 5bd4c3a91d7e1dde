"""The /contacts and /segments API over a real CRM store and knowledge base (httpx ASGITransport)."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.routes import segments as segments_routes
from hub.models import Conversation, conversation_id_for
from hub.settings import Settings
from tests.crm.helpers import author, message

ANN = author("twitter", "ann1", handle="ann", name="Ann Example", email="ann@example.org")
ANN_MAIL = author("email", "ann@example.org", email="ann@example.org")
BOB = author("sms", "+447911555666", phone="+447911555666", name="Bob")


@pytest.fixture
async def app(crm_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(crm_settings)
    try:
        yield application
    finally:
        application.state.kb.close()
        application.state.crm.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


def _ingest(app: FastAPI) -> dict[str, str]:
    """Messages in the KB (two conversations for Ann, one for Bob) and their authors in the CRM."""
    msgs = [
        message(ANN, "t1", sentiment=-0.6, language="en"),
        message(ANN_MAIL, "e1", minutes=5, sentiment=-0.2, language="en"),
        message(BOB, "s1", minutes=9, sentiment=0.4, language="en"),
    ]
    conversations = []
    for msg in msgs:
        msg.conversation_id = conversation_id_for(msg.channel, msg.account, msg.native_id)
        conversations.append(
            Conversation(
                id=msg.conversation_id,
                channel=msg.channel,
                participants=[msg.author.id] if msg.author else [],
                first_message_at=msg.created_at,
                last_message_at=msg.created_at,
                message_count=1,
            )
        )
    app.state.kb.upsert_messages(msgs)
    app.state.kb.upsert_conversations(conversations)
    mapping: dict[str, str] = app.state.crm.upsert_from_messages(msgs)
    return {"ann": mapping[ANN.id], "bob": mapping[BOB.id]}


async def test_list_and_search_contacts_with_paging(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = _ingest(app)
    page = (await client.get("/contacts", params={"limit": 1})).json()
    assert page["total"] == 2 and [c["id"] for c in page["items"]] == [ids["bob"]]
    rest = (await client.get("/contacts", params={"limit": 1, "offset": 1})).json()
    assert [c["id"] for c in rest["items"]] == [ids["ann"]]
    for q in ("ann", "@ann", "ANN@example.org", "Example"):
        found = (await client.get("/contacts", params={"q": q})).json()
        assert [c["id"] for c in found["items"]] == [ids["ann"]], q
    found = (await client.get("/contacts", params={"q": "07911 555666"})).json()
    assert found["total"] == 1 and found["items"][0]["phones"] == ["+447911555666"]
    assert (await client.get("/contacts", params={"limit": 0})).status_code == 422


async def test_a_contact_shows_identities_and_conversations(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = _ingest(app)
    response = await client.get(f"/contacts/{ids['ann']}")
    assert response.status_code == 200
    body = response.json()
    contact = body["contact"]
    assert contact["display_name"] == "Ann Example"
    assert {i["id"] for i in contact["identities"]} == {ANN.id, ANN_MAIL.id}
    assert contact["message_counts"] == {"email": 1, "twitter": 1}
    assert contact["sentiment_avg"] == -0.4
    assert body["conversations_total"] == 2
    assert {c["channel"] for c in body["conversations"]} == {"twitter", "email"}
    missing = await client.get("/contacts/con_nope")
    assert missing.status_code == 404 and "con_nope" in missing.json()["detail"]


async def test_merge_history_and_unmerge_through_the_api(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = _ingest(app)
    before = (await client.get(f"/contacts/{ids['bob']}")).json()["contact"]
    merged = await client.post(
        f"/contacts/{ids['ann']}/merge",
        json={"other_id": ids["bob"], "reason": "same person", "actor": "kim"},
    )
    assert merged.status_code == 200
    result = merged.json()
    assert result["event"]["action"] == "merge" and result["other"]["merged_into"] == ids["ann"]
    assert result["survivor"]["message_count"] == 3
    detail = (await client.get(f"/contacts/{ids['ann']}")).json()
    assert detail["conversations_total"] == 3
    assert (await client.get("/contacts")).json()["total"] == 1
    history = (await client.get(f"/contacts/{ids['ann']}/history")).json()
    assert [(e["action"], e["reason"], e["actor"]) for e in history] == [("merge", "same person", "kim")]
    undone = await client.post(f"/contacts/{ids['ann']}/unmerge")
    assert undone.status_code == 200 and undone.json()["event"]["action"] == "unmerge"
    after = (await client.get(f"/contacts/{ids['bob']}")).json()["contact"]
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    again = await client.post(f"/contacts/{ids['ann']}/unmerge", json={})
    assert again.status_code == 404


async def test_bad_merges_are_clear_4xx(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = _ingest(app)
    self_merge = await client.post(f"/contacts/{ids['ann']}/merge", json={"other_id": ids["ann"]})
    assert self_merge.status_code == 400 and "itself" in self_merge.json()["detail"]
    into_missing = await client.post("/contacts/con_nope/merge", json={"other_id": ids["ann"]})
    assert into_missing.status_code == 404
    of_missing = await client.post(f"/contacts/{ids['ann']}/merge", json={"other_id": "con_nope"})
    assert of_missing.status_code == 404
    assert (await client.post(f"/contacts/{ids['ann']}/merge", json={})).status_code == 422
    await client.post(f"/contacts/{ids['ann']}/merge", json={"other_id": ids["bob"]})
    twice = await client.post(f"/contacts/{ids['ann']}/merge", json={"other_id": ids["bob"]})
    assert twice.status_code == 409 and "merged into" in twice.json()["detail"]
    assert (await client.post("/contacts/con_nope/unmerge")).status_code == 404
    assert (await client.get("/contacts/con_nope/history")).status_code == 404


async def test_split_and_update_through_the_api(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = _ingest(app)
    split = await client.post(f"/contacts/{ids['ann']}/split", json={"identity_ids": [ANN_MAIL.id]})
    assert split.status_code == 200
    new_id = split.json()["other"]["id"]
    assert app.state.crm.contact_for_identity(ANN_MAIL.id) == new_id
    bad = await client.post(f"/contacts/{ids['ann']}/split", json={"identity_ids": ["idn_not_hers"]})
    assert bad.status_code == 400
    patched = await client.patch(
        f"/contacts/{ids['ann']}",
        json={"tags": ["vip"], "attributes": {"plan": "gold"}, "display_name": "Ann E."},
    )
    assert patched.status_code == 200
    assert (patched.json()["tags"], patched.json()["attributes"], patched.json()["display_name"]) == (
        ["vip"],
        {"plan": "gold"},
        "Ann E.",
    )
    assert (await client.patch(f"/contacts/{ids['ann']}", json={})).status_code == 422
    assert (await client.patch("/contacts/con_nope", json={"tags": []})).status_code == 404


async def test_segments_dynamic_static_csv(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = _ingest(app)
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
    ids = _ingest(app)
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
