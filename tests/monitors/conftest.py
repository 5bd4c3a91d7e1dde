"""Monitor test fixtures: the CRM store on SQLite and, with PARLEY_TEST_POSTGRES_URL, PostgreSQL."""

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
