"""CRM test fixtures: every store test runs on SQLite and, when PARLEY_TEST_POSTGRES_URL is set,
on PostgreSQL too (``crm_settings``, in the root conftest: the API tests use it as well)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm import CRMStore, open_crm
from hub.settings import Settings


@pytest.fixture
def store(crm_settings: Settings) -> Iterator[CRMStore]:
    crm = open_crm(crm_settings)
    try:
        yield crm
    finally:
        crm.close()
