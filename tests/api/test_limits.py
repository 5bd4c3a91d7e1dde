"""The request body cap (``api.limits``) and the field caps of request bodies (``api.fields``).

The app under test has small caps (1 KiB for JSON bodies, 4 KiB for CSV imports), so every
case is a few kilobytes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from api.fields import MAX_ID_CHARS, MAX_TAG_CHARS
from hub.settings import Settings
from tests.api.people import add_people

JSON_CAP = 1024
IMPORT_CAP = 4096


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "api": settings.api.model_copy(
                update={"max_body_bytes": JSON_CAP, "max_import_bytes": IMPORT_CAP}
            )
        }
    )


def _chunks(sent: list[int], count: int, chunk: bytes) -> AsyncIterator[bytes]:
    async def generate() -> AsyncIterator[bytes]:
        for i in range(count):
            sent.append(i)
            yield chunk

    return generate()


async def test_a_body_declared_over_the_cap_is_413_unread_and_nothing_is_stored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann = add_people(app)["ann"]
    sent: list[int] = []
    body = json.dumps({"tags": ["x" * 90] * 20}).encode()
    assert len(body) > JSON_CAP
    response = await client.patch(
        f"/contacts/{ann}",
        content=_chunks(sent, 1, body),
        headers={"content-type": "application/json", "content-length": str(len(body))},
    )
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body larger than {JSON_CAP} bytes"}
    assert sent == [], "refused from the header: the body was never pulled"
    assert app.state.crm.get_contact(ann).tags == []


async def test_a_streamed_body_is_stopped_as_soon_as_it_passes_the_cap(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann = add_people(app)["ann"]
    sent: list[int] = []
    # No Content-Length (chunked): 100 chunks of 100 bytes, refused within the 11th.
    chunked = await client.patch(
        f"/contacts/{ann}",
        content=_chunks(sent, 100, b" " * 100),
        headers={"content-type": "application/json"},
    )
    assert chunked.status_code == 413 and chunked.json()["detail"].endswith(f"{JSON_CAP} bytes"), chunked.text
    assert len(sent) <= JSON_CAP // 100 + 1
    # A Content-Length that lies gets no further than the cap either.
    sent.clear()
    lying = await client.patch(
        f"/contacts/{ann}",
        content=_chunks(sent, 100, b" " * 100),
        headers={"content-type": "application/json", "content-length": "10"},
    )
    assert lying.status_code == 413 and len(sent) <= JSON_CAP // 100 + 1


async def test_a_content_length_that_is_not_a_length_is_400(app: FastAPI, client: httpx.AsyncClient) -> None:
    ann = add_people(app)["ann"]
    response = await client.patch(
        f"/contacts/{ann}",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": "ten"},
    )
    assert response.status_code == 400 and response.json() == {"detail": "invalid Content-Length"}


async def test_the_csv_import_has_its_own_larger_cap(app: FastAPI, client: httpx.AsyncClient) -> None:
    add_people(app)
    segment = (await client.post("/segments", json={"name": "Imported", "kind": "static"})).json()
    url = f"/segments/{segment['id']}/import"
    rows = "email\n" + "nobody@example.org\n" * 150  # 2.8 KiB: over the JSON cap, under the import cap
    assert JSON_CAP < len(rows) < IMPORT_CAP
    accepted = await client.post(url, content=rows, headers={"content-type": "text/csv"})
    assert accepted.status_code == 200, accepted.text
    too_large = "email\n" + "nobody@example.org\n" * 250
    declared = await client.post(url, content=too_large, headers={"content-type": "text/csv"})
    assert declared.status_code == 413 and declared.json()["detail"].endswith(f"{IMPORT_CAP} bytes")
    sent: list[int] = []
    chunked = await client.post(url, content=_chunks(sent, 100, b"x" * 100))
    assert chunked.status_code == 413 and len(sent) <= IMPORT_CAP // 100 + 1


async def test_tags_and_ids_are_capped_before_anything_is_written(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann = add_people(app)["ann"]
    longest = "t" * MAX_TAG_CHARS
    accepted = await client.patch(f"/contacts/{ann}", json={"tags": [longest]})
    assert accepted.status_code == 200 and accepted.json()["tags"] == [longest]
    too_long = await client.patch(f"/contacts/{ann}", json={"tags": [longest + "t"]})
    assert too_long.status_code == 422
    (error,) = too_long.json()["detail"]
    assert error["loc"] == ["body", "tags", 0] and error["type"] == "string_too_long"
    too_many = await client.patch(f"/contacts/{ann}", json={"tags": [str(i) for i in range(101)]})
    assert too_many.status_code == 422
    assert app.state.crm.get_contact(ann).tags == [longest]

    long_id = "c" * (MAX_ID_CHARS + 1)
    merge = await client.post(f"/contacts/{ann}/merge", json={"other_id": long_id})
    assert merge.status_code == 422 and merge.json()["detail"][0]["loc"] == ["body", "other_id"]
    segment = (await client.post("/segments", json={"name": "S", "kind": "static"})).json()
    members = await client.post(f"/segments/{segment['id']}/members", json={"contact_ids": [long_id]})
    assert members.status_code == 422


@pytest.mark.usefixtures("kb_documents")
async def test_conversation_triage_fields_are_capped(app: FastAPI, client: httpx.AsyncClient) -> None:
    conversation = (await client.get("/conversations", params={"limit": 1})).json()["items"][0]
    url = f"/conversations/{conversation['id']}"
    for change in (
        {"tags": ["t" * (MAX_TAG_CHARS + 1)]},
        {"tags": [str(i) for i in range(51)]},
        {"assignee": "a" * 257},
        {"queue": "q" * 257},
    ):
        response = await client.patch(url, json=change)
        assert response.status_code == 422, change
    stored = (await client.get(url)).json()["conversation"]
    assert stored["tags"] == conversation["tags"] and stored["assignee"] == conversation["assignee"]
