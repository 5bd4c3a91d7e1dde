"""CRM test fixtures: every store test runs on SQLite and, when PARLEY_TEST_POSTGRES_URL is set,
on PostgreSQL too, each PostgreSQL test in a schema of its own (so parallel runs never collide)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from crm import CRMStore, open_crm
from crm.engine import normalise_url
from hub.settings import Settings
from tests.conftest import postgres_url


def _postgres_settings(settings: Settings) -> Iterator[Settings]:
    base = postgres_url()
    if base is None:
        pytest.skip("PARLEY_TEST_POSTGRES_URL is not set")
    base = normalise_url(base)
    schema = f"crm_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield Settings(
            data_dir=settings.data_dir, demo=False, database_url=url.render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def crm_settings(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """Settings pointing the CRM at a fresh SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield settings
    else:
        yield from _postgres_settings(settings)


@pytest.fixture
def store(crm_settings: Settings) -> Iterator[CRMStore]:
    crm = open_crm(crm_settings)
    try:
        yield crm
    finally:
        crm.close()
