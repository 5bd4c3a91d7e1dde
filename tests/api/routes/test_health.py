"""GET /health over data ingested by the real flow."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.usefixtures("threads")
async def test_health_reports_the_stores(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["kb"]["messages"] == 9 and body["crm"]["dead_letters"] == 5
