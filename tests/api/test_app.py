"""The app factory: stores created on first use, every router's paths documented."""

from __future__ import annotations

from pathlib import Path

import httpx

from api.app import create_app
from hub.settings import Settings


async def test_openapi_docs_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/health", "/conversations", "/conversations/{conversation_id}", "/search", "/dead-letters"):
        assert path in paths


def test_app_factory_creates_stores_on_first_use(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "fresh", demo=False)
    create_app(settings)
    assert settings.kb_path.exists()


async def test_the_schema_documents_every_error_answer(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    patch_contact = paths["/contacts/{contact_id}"]["patch"]["responses"]
    # the router's own errors, plus the guards every signed-in route and every body has
    assert set(patch_contact) == {"200", "400", "401", "403", "404", "409", "413", "415", "422", "503"}
    bad_request = patch_contact["400"]["content"]["application/json"]["schema"]
    assert bad_request == {"$ref": "#/components/schemas/BadRequest"}
    unauthorized = patch_contact["401"]["content"]["application/json"]["schema"]
    assert unauthorized == {"$ref": "#/components/schemas/ErrorMessage"}
    assert set(paths["/search"]["get"]["responses"]) == {"200", "400", "401", "403", "422", "503"}
    assert set(paths["/health"]["get"]["responses"]) == {"200"}
