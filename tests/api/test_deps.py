"""The query parameters every router shares (``api.deps``): bounded offsets, times written as
times, cursors holding only what a search could have put in them, and no NUL character in a
path or query parameter; on SQLite and (when ``PARLEY_TEST_POSTGRES_URL`` is set) PostgreSQL."""

from __future__ import annotations

import base64

import httpx
import pytest

from api.deps import MAX_CRM_OFFSET, MAX_KB_OFFSET
from hub.settings import Settings

pytestmark = pytest.mark.usefixtures("kb_documents")

#: every list with an offset, and its maximum
OFFSET_ROUTES = [
    ("/search", MAX_KB_OFFSET),
    ("/conversations", MAX_KB_OFFSET),
    ("/contacts", MAX_CRM_OFFSET),
    ("/dead-letters", MAX_CRM_OFFSET),
    ("/segments/{segment}/contacts", MAX_CRM_OFFSET),
]


async def _url(client: httpx.AsyncClient, route: str) -> str:
    if "{segment}" not in route:
        return route
    segment = (await client.post("/segments", json={"name": "All", "kind": "static"})).json()
    return route.format(segment=segment["id"])


@pytest.mark.parametrize(("route", "maximum"), OFFSET_ROUTES)
async def test_offsets_are_bounded(client: httpx.AsyncClient, route: str, maximum: int) -> None:
    url = await _url(client, route)
    assert (await client.get(url, params={"offset": maximum})).status_code == 200
    for beyond in (maximum + 1, 2**63, 2**64 + 1):  # 2**63 was an OverflowError, a 500
        response = await client.get(url, params={"offset": beyond})
        assert response.status_code == 422, (beyond, response.text)
        (error,) = response.json()["detail"]
        assert error["loc"] == ["query", "offset"] and error["type"] == "less_than_equal"


@pytest.mark.parametrize("route", ["/search", "/conversations"])
async def test_times_must_be_written_as_iso_8601(client: httpx.AsyncClient, route: str) -> None:
    for number in ("0.5", "1700000000", "-1", "1e3"):  # "until=0.5" was 1970-01-01T00:00:00.5
        response = await client.get(route, params={"until": number})
        assert response.status_code == 422, number
        (error,) = response.json()["detail"]
        assert error["loc"] == ["query", "until"] and "ISO 8601" in error["msg"]
    out_of_range = await client.get(route, params={"since": "9999-12-31T23:59:59-05:00"})
    assert out_of_range.status_code == 422
    totals = set()
    for written in ("2020-01-01", "2020-01-01T00:00:00", "2020-01-01T00:00:00Z", "2020-01-01T01:00:00+01:00"):
        response = await client.get(route, params={"since": written})
        assert response.status_code == 200, written
        totals.add(response.json()["total"])
    assert len(totals) == 1, "a date, a naive time and a time with an offset all mean UTC"


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("route", ["/search", "/conversations"])
async def test_a_cursor_holding_an_infinity_is_refused(client: httpx.AsyncClient, route: str) -> None:
    for raw in (b'["newest",[1e999,"msg_x"]]', b'["newest",[-1e999,"msg_x"]]', b'["newest",[NaN,"x"]]'):
        response = await client.get(route, params={"sort": "newest", "cursor": _cursor(raw)})
        assert response.status_code == 400, raw
        assert "invalid cursor" in response.json()["detail"]["message"]


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    """The CRM on SQLite and, when ``PARLEY_TEST_POSTGRES_URL`` is set, on PostgreSQL."""
    return crm_settings


async def test_a_nul_character_in_a_crm_url_is_422_on_every_backend(client: httpx.AsyncClient) -> None:
    # PostgreSQL refuses NUL in text: these were 500s there.
    for url, params, where in [
        ("/contacts", {"q": "a\x00b"}, ["query", "q"]),
        ("/dead-letters", {"stage": "\x00"}, ["query", "stage"]),
        ("/contacts/con_a%00b", {}, ["path", "contact_id"]),
        ("/contacts/con_a%00b/history", {}, ["path", "contact_id"]),
        ("/segments/seg_a%00b/export.csv", {}, ["path", "segment_id"]),
    ]:
        response = await client.get(url, params=params)
        assert response.status_code == 422, url
        (error,) = response.json()["detail"]
        assert error == {"loc": where, "msg": "must not contain NUL characters", "type": "value_error"}
    assert (await client.get("/contacts", params={"q": "ann"})).status_code == 200
    # The knowledge base searches NUL as text.
    assert (await client.get("/search", params={"q": "\x00"})).status_code == 200
