"""GET /dead-letters over the dead letters the real flow wrote."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.usefixtures("threads")
async def test_dead_letters_page_with_reason_and_raw(client: httpx.AsyncClient) -> None:
    letters = (await client.get("/dead-letters", params={"limit": 2})).json()
    assert letters["total"] == 5 and len(letters["items"]) == 2
    assert all(item["reason"] and item["raw"] for item in letters["items"])
